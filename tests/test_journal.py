"""The journal: what it records, what it answers, and that it survives kills and concurrent writers."""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from greenapi_excel import journal as journal_module
from greenapi_excel.errors import ConfigError
from greenapi_excel import paths
from greenapi_excel.journal import Journal, default_journal_path

ARCHIVE, UNARCHIVE = "archiveChat", "unarchiveChat"
CHAT = "79001234567@c.us"
INSTANCE = "1101000001"


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "journal.sqlite3")
    yield j
    j.close()


def _call(j: Journal, chat=CHAT, method=ARCHIVE, status="Archived", instance=INSTANCE, **kw) -> int:
    call_id = j.begin(instance=instance, method=method, chat_id=chat, source="test")
    j.finish(call_id, status=status, **kw)
    return call_id


# --- where it lives ---------------------------------------------------------------------

def test_env_var_chooses_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("GREENAPI_JOURNAL", str(tmp_path / "x" / "j.db"))
    assert default_journal_path() == tmp_path / "x" / "j.db"
    with Journal() as j:  # no path: the env var's, folder made on the way
        assert j.path == tmp_path / "x" / "j.db"
        _call(j)
    assert (tmp_path / "x" / "j.db").is_file()


def test_default_folder_per_os(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    home = Path.home()
    folder = paths.user_folder
    assert folder("state", "win32", {"LOCALAPPDATA": r"C:\Users\a\AppData\Local"}) / "journal.sqlite3" == \
        Path(r"C:\Users\a\AppData\Local") / "GreenApiExcel" / "journal.sqlite3"
    assert folder("state", "darwin", {}) == home / "Library" / "Application Support" / "GreenApiExcel"
    assert folder("state", "linux", {}) == home / ".local" / "state" / "greenapi-excel"
    assert folder("state", "linux", {"XDG_STATE_HOME": "/s"}) == Path("/s/greenapi-excel")
    monkeypatch.delenv("GREENAPI_JOURNAL", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "s"))
    assert default_journal_path() == tmp_path / "s" / "greenapi-excel" / "journal.sqlite3"


# --- what it records --------------------------------------------------------------------

def test_begin_is_on_disk_before_the_answer(journal):
    call_id = journal.begin(instance=INSTANCE, method=ARCHIVE, chat_id=CHAT, source="cli", run_id="r1")
    # Another connection (another process, in real life) sees the "sent" record at once.
    other = sqlite3.connect(journal.path)
    assert other.execute("SELECT state, chat_id, run_id FROM calls WHERE id = ?", (call_id,)).fetchone() == \
        ("sent", CHAT, "r1")
    journal.finish(call_id, status="Archived", details="done", http_status=200)
    assert other.execute("SELECT state, status, http_status FROM calls WHERE id = ?", (call_id,)).fetchone() == \
        ("answered", "Archived", 200)
    other.close()


def test_uncertain_counts_until_a_later_answer(journal):
    assert not journal.had_uncertain(INSTANCE, ARCHIVE, CHAT)
    call_id = journal.begin(instance=INSTANCE, method=ARCHIVE, chat_id=CHAT, source="cli")
    journal.mark_uncertain(call_id, "timeout")
    assert journal.had_uncertain(INSTANCE, ARCHIVE, CHAT)
    assert not journal.had_uncertain(INSTANCE, UNARCHIVE, CHAT)
    assert not journal.had_uncertain(INSTANCE, ARCHIVE, CHAT, since=datetime.now() + timedelta(seconds=5))
    assert journal.entries()[0].state == "uncertain"
    time.sleep(0.01)
    _call(journal, status="Archived")  # a later answer settles it
    assert not journal.had_uncertain(INSTANCE, ARCHIVE, CHAT)
    time.sleep(0.01)
    journal.begin(instance=INSTANCE, method=ARCHIVE, chat_id=CHAT, source="cli")  # sent, then a crash
    assert journal.had_uncertain(INSTANCE, ARCHIVE, CHAT)


def test_done_before_skips_chats_with_any_later_call(journal):
    since = datetime.now() - timedelta(hours=24)
    _call(journal, chat="1@c.us", status="Archived")
    _call(journal, chat="2@c.us", status="Already archived")
    _call(journal, chat="3@c.us", status="Failed")
    _call(journal, chat="4@c.us", status="Archived")
    _call(journal, chat="4@c.us", method=UNARCHIVE, status="Unarchived")  # moved back: send again
    _call(journal, chat="5@c.us", method=UNARCHIVE, status="Unarchived")
    _call(journal, chat="5@c.us", status="Archived")  # archived after the unarchive: done
    _call(journal, chat="6@c.us", status="Archived")
    journal.begin(instance=INSTANCE, method=UNARCHIVE, chat_id="6@c.us", source="udf")  # unknown: send again
    _call(journal, chat="7@c.us", status="Archived", instance="999")
    _call(journal, chat="8@c.us", status="Archived")
    _call(journal, chat="8@c.us", method=UNARCHIVE, status="Failed")      # failed unarchive: send again
    _call(journal, chat="9@c.us", status="Archived")
    _call(journal, chat="9@c.us", status="Quota exceeded")                # a later try of the same: again
    _call(journal, chat="10@c.us", status="Archived")
    journal.mark_uncertain(journal.begin(instance=INSTANCE, method=UNARCHIVE, chat_id="10@c.us"), "lost reply")

    done = journal.done_before(INSTANCE, ARCHIVE, since=since)
    assert sorted(done) == ["1@c.us", "2@c.us", "5@c.us"]
    assert done["2@c.us"].status == "Already archived"
    assert journal.done_before(INSTANCE, ARCHIVE, since=datetime.now() + timedelta(seconds=5)) == {}
    assert sorted(journal.done_before(INSTANCE, ARCHIVE, ["2@c.us", "4@c.us", "5@c.us", "x@c.us"])) == \
        ["2@c.us", "5@c.us"]
    assert sorted(journal.done_before(INSTANCE, UNARCHIVE)) == ["4@c.us"]


def test_done_before_gives_the_newest_record_and_the_resume_only_undelivered_ones(journal):
    _call(journal, status="Already archived")
    newest = _call(journal, status="Archived")
    assert journal.done_before(INSTANCE, ARCHIVE)[CHAT].id == newest
    assert journal.done_before(INSTANCE, ARCHIVE, undelivered_only=True)[CHAT].id == newest
    journal.mark_delivered([newest, None])
    assert journal.done_before(INSTANCE, ARCHIVE, undelivered_only=True) == {}
    assert journal.done_before(INSTANCE, ARCHIVE)[CHAT].id == newest   # the UDFs still answer from it


def test_only_an_answer_that_tells_the_state_settles_an_uncertain_call(journal):
    journal.mark_uncertain(journal.begin(instance=INSTANCE, method=ARCHIVE, chat_id=CHAT), "lost reply")
    for refusal in ("Quota exceeded", "Not run", "Failed"):
        _call(journal, status=refusal)
        assert journal.had_uncertain(INSTANCE, ARCHIVE, CHAT), refusal
        assert journal.uncertain_chats(INSTANCE, ARCHIVE) == {CHAT}, refusal
    _call(journal, status="Failed", settled=True)      # getContactInfo said: not archived
    assert not journal.had_uncertain(INSTANCE, ARCHIVE, CHAT)
    journal.mark_uncertain(journal.begin(instance=INSTANCE, method=ARCHIVE, chat_id=CHAT), "lost reply")
    _call(journal, method=UNARCHIVE, status="Unarchived")   # a settling answer of the other method
    assert journal.uncertain_chats(INSTANCE, ARCHIVE) == set()


def test_an_older_journal_gains_the_new_columns(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(journal_module._SCHEMA)
    conn.execute("INSERT INTO calls (sent_at, updated_at, instance, method, chat_id, state, status) "
                 "VALUES (1, 1, '1', 'archiveChat', 'a@c.us', 'answered', 'Archived')")
    conn.commit()
    conn.close()
    with Journal(path) as j:
        assert sorted(j.done_before("1", ARCHIVE, undelivered_only=True)) == ["a@c.us"]


def test_entries_newest_first_with_filters(journal):
    ids = [_call(journal, chat=f"{n}@c.us") for n in range(5)]
    _call(journal, chat="0@c.us", instance="42")
    assert [e.id for e in journal.entries(instance=INSTANCE)] == ids[::-1]
    assert [e.chat_id for e in journal.entries(limit=2)] == ["0@c.us", "4@c.us"]
    assert {e.instance for e in journal.entries(chat_id="0@c.us")} == {INSTANCE, "42"}
    assert journal.entries(chat_id="nobody@c.us") == []


def test_token_shaped_text_never_stored(journal):
    token = "d75b3a66374942c5b3c019c698abc2067e151558acbd412345"
    _call(journal, status="Failed", details=f"HTTP 500 from https://x/waInstance1/archiveChat/{token}")
    assert token not in journal.path.read_bytes().decode("latin-1")
    assert token not in journal.entries()[0].details
    assert "archiveChat/***" in journal.entries()[0].details


# --- bad files ----------------------------------------------------------------------------

def test_corrupt_file_is_a_clear_config_error(tmp_path):
    bad = tmp_path / "journal.sqlite3"
    bad.write_bytes(b"this is not sqlite at all, just some text " * 200)
    with pytest.raises(ConfigError) as caught:
        Journal(bad)
    text = str(caught.value)
    assert str(bad) in text and "GREENAPI_JOURNAL" in text and "Traceback" not in text


def test_unwritable_place_is_a_clear_config_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for path in (blocker / "journal.sqlite3", tmp_path):  # a folder under a file; a folder itself
        with pytest.raises(ConfigError) as caught:
            Journal(path)
        assert str(path) in str(caught.value) and "GREENAPI_JOURNAL" in str(caught.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_file_is_a_clear_config_error(tmp_path):
    path = tmp_path / "journal.sqlite3"
    Journal(path).close()
    os.chmod(tmp_path, 0o500)
    os.chmod(path, 0o400)
    try:
        with pytest.raises(ConfigError) as caught:
            Journal(path)
        assert str(path) in str(caught.value)
    finally:
        os.chmod(tmp_path, 0o700)
        os.chmod(path, 0o600)


def test_closed_journal_says_so(tmp_path):
    j = Journal(tmp_path / "j.sqlite3")
    j.close()
    with pytest.raises(ConfigError, match="closed"):
        j.begin(instance=INSTANCE, method=ARCHIVE, chat_id=CHAT, source="t")


# --- kills and concurrency ------------------------------------------------------------------

_WRITER = textwrap.dedent("""
    import sys
    from greenapi_excel.journal import Journal
    path, tag, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    j = Journal(path)
    for n in range(count):
        call_id = j.begin(instance="1101000001", method="archiveChat", chat_id=f"{tag}-{n}@c.us", source=tag)
        j.finish(call_id, status="Archived", http_status=200)
    j.begin(instance="1101000001", method="archiveChat", chat_id=f"{tag}-last@c.us", source=tag)
    print("written", flush=True)
    sys.stdin.read()  # wait to be killed
""")


def _writer(path, tag, count) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _WRITER, str(path), tag, str(count)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_right_after_writing_loses_nothing(tmp_path):
    path = tmp_path / "journal.sqlite3"
    proc = _writer(path, "k", 20)
    assert proc.stdout.readline().strip() == "written", proc.stderr.read()
    proc.send_signal(signal.SIGKILL)  # no close(), no checkpoint: only what was committed survives
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    with Journal(path) as j:
        trail = j.entries()
        assert len(trail) == 21
        assert sum(e.state == "answered" and e.status == "Archived" for e in trail) == 20
        assert j.had_uncertain("1101000001", ARCHIVE, "k-last@c.us")  # sent, then killed: flagged


def test_several_processes_write_at_once_without_locking_errors(tmp_path):
    path = tmp_path / "journal.sqlite3"
    procs = [_writer(path, f"p{n}", 150) for n in range(4)]
    for proc in procs:
        line = proc.stdout.readline().strip()
        assert line == "written", proc.stderr.read()
        proc.stdin.close()
        proc.wait(30)
        assert proc.returncode == 0, proc.stderr.read()
    with Journal(path) as j:
        trail = j.entries()
    assert len(trail) == 4 * 151
    assert len({e.id for e in trail}) == len(trail)
    assert sum(e.state == "answered" for e in trail) == 4 * 150


def test_one_journal_shared_by_32_threads(journal):
    errors: list[BaseException] = []
    per_thread = 10

    def work(t: int) -> None:
        try:
            for n in range(per_thread):
                call_id = journal.begin(instance=INSTANCE, method=ARCHIVE, chat_id=f"{t}-{n}@c.us", source="t")
                journal.finish(call_id, status="Archived")
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(t,)) for t in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    assert errors == []
    done = journal.done_before(INSTANCE, ARCHIVE, since=datetime.now() - timedelta(hours=1))
    assert len(done) == 32 * per_thread
    print(f"\n32 threads: {2 * 32 * per_thread / seconds:.0f} journal writes/s")

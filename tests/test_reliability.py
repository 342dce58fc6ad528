"""Faults, lost replies, stops, kills, concurrent runs, full disks and locked books: the statuses stay
true and the book stays whole. Real CLI processes against the sandbox over loopback, real books."""

from __future__ import annotations

import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
from cli_helpers import cli_command, run_cli, sandbox_env
import pytest
import requests

QUOTA_EXPLANATION = "Monthly quota has been exceeded"


def make_book(path: Path, values, filler_columns: int = 0) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Chats"
    ws.append(["Chat ID"] + [None] * 3 + [f"Note {i}" for i in range(filler_columns)])
    for i, value in enumerate(values):
        ws.append([value] + [None] * 3 + [f"row {i} note {c} " * 4 for c in range(filler_columns)])
    wb.save(path)
    return path


def statuses(path: Path) -> dict[int, tuple]:
    ws = openpyxl.load_workbook(path).active
    return {r: (ws.cell(r, 1).value, ws.cell(r, 2).value, ws.cell(r, 3).value) for r in range(2, ws.max_row + 1)}


env_for = sandbox_env
cli = cli_command


def chats_numbered(prefix: str, n: int, **fields) -> tuple[list[str], list[dict]]:
    ids = [f"{prefix}{i:04d}" for i in range(n)]
    return ids, [{"id": f"{i}@c.us", "incoming": 2, **fields} for i in ids]


def server_get_chats(sandbox) -> list[dict]:
    """The server's own answer, over HTTP (retried: the sandbox's faults strike reads too)."""
    for _ in range(50):
        try:
            reply = requests.get(sandbox.method_url("getChats"), timeout=5)
        except requests.RequestException:
            continue
        if reply.status_code == 200:
            return reply.json()
    raise AssertionError("getChats never answered 200")


def journal_rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT chat_id, method, state, status, details FROM calls ORDER BY id").fetchall()
    finally:
        conn.close()


# --- faults and truth ------------------------------------------------------------------------

def test_faults_leave_every_status_true_against_the_servers_getchats(make_sandbox, tmp_path):
    ids, chats = chats_numbered("7900300", 120)
    before = {f"{i}@c.us" for i in ids[:8]}           # archived before the run
    for chat in chats:
        chat["archive"] = chat["id"] in before
    sandbox = make_sandbox(chats=chats, rps=1000, read_rps=1000, faults=0.2, slow_reply_s=2, seed=7)
    book = make_book(tmp_path / "faults.xlsx", ids)
    proc = run_cli("archive", book, "--no-progress", "--timeout", 1, "--rate", 200, env=env_for(sandbox, tmp_path))
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr

    on_server = {c["id"] for c in server_get_chats(sandbox) if c.get("archive")}
    got = statuses(book)
    assert len(got) == 120 and all(status for _, status, _ in got.values()), got
    faults_struck = sum(1 for c in sandbox.calls("archiveChat") if c["fault"])
    assert faults_struck >= 10  # the faults really happened
    for row, (value, status, details) in got.items():
        chat_id = f"{value}@c.us"
        if chat_id in before:
            # "Archived" only when an earlier attempt's reply was lost: the rule for "already".
            assert status == "Already archived" or (status == "Archived" and "lost" in details), (row, details)
        elif status == "Archived":
            assert chat_id in on_server, (row, details)
        else:  # not Archived: then the server must not have it archived by us
            assert status == "Failed" and chat_id not in on_server, (row, status, details)
    archived_by_run = on_server - before
    marked = {f"{v}@c.us" for v, s, _ in got.values() if s == "Archived"} - before
    assert archived_by_run == marked


def test_lost_replies_are_journaled_uncertain_and_a_later_already_means_archived(make_sandbox, tmp_path):
    ids, chats = chats_numbered("7900400", 2)
    sandbox = make_sandbox(chats=chats, rps=1000, read_rps=1000)
    book = make_book(tmp_path / "lost.xlsx", ids[:1])
    env = env_for(sandbox, tmp_path)
    # Every attempt is carried out but its reply is lost, and the server cannot be asked either.
    sandbox.inject(*["applied_drop"] * 5, method="archiveChat")
    sandbox.inject(*["500"] * 5, method="getContactInfo")
    proc = run_cli("archive", book, "--no-progress", "--timeout", 2, env=env)
    assert "Traceback" not in proc.stderr
    (_, status, details), = statuses(book).values()
    assert status == "Failed" and "unknown" in details.lower(), details
    assert f"{ids[0]}@c.us" in sandbox.archived_ids()   # it did happen: the row must not claim otherwise
    states = [state for chat, method, state, _, _ in journal_rows(tmp_path / "journal.sqlite3")
              if chat == f"{ids[0]}@c.us"]
    assert states == ["uncertain"], states

    # The re-run hears "already archive=true": this tool did it, so the row says Archived.
    run_cli("archive", book, "--no-progress", "--timeout", 2, env=env)
    (_, status, details), = statuses(book).values()
    assert status == "Archived", details


def test_retries_running_out_ask_the_server_before_writing(make_sandbox, tmp_path):
    ids, chats = chats_numbered("7900500", 2)
    sandbox = make_sandbox(chats=chats, rps=1000, read_rps=1000)
    book = make_book(tmp_path / "ask.xlsx", ids)
    sandbox.inject(*["applied_502"] * 20, method="archiveChat")   # every reply is lost until retries run out
    proc = run_cli("archive", book, "--no-progress", "--timeout", 2, env=env_for(sandbox, tmp_path))
    assert proc.returncode == 0, proc.stderr
    got = statuses(book)
    assert [s for _, s, _ in got.values()] == ["Archived", "Archived"], got
    assert sandbox.calls("getContactInfo") or sandbox.calls("getChats")
    assert sandbox.archived_ids() == {f"{i}@c.us" for i in ids}


@pytest.mark.parametrize("wrong", ["token", "instance"])
def test_401_and_403_stop_at_the_first_answer(make_sandbox, tmp_path, wrong):
    ids, chats = chats_numbered("7900600", 40)
    sandbox = make_sandbox(chats=chats, rps=1000, read_rps=1000)
    book = make_book(tmp_path / "auth.xlsx", ids)
    env = env_for(sandbox, tmp_path)
    env["GREENAPI_API_TOKEN_INSTANCE" if wrong == "token" else "GREENAPI_ID_INSTANCE"] = \
        "0" * 50 if wrong == "token" else "1101999999"
    proc = run_cli("archive", book, "--no-progress", env=env)
    assert proc.returncode == 2, proc.stderr
    refused = [c for c in sandbox.calls() if c["status"] in (401, 403)]
    assert len(refused) == 1, refused             # one answer, no hammering
    assert sandbox.calls("archiveChat") == []
    assert {s for _, s, _ in statuses(book).values()} == {"Not run"}
    assert ("401" in proc.stderr or "token" in proc.stderr.lower()) if wrong == "token" else \
        ("403" in proc.stderr or "instance" in proc.stderr.lower())


def test_466_stops_with_the_quotas_own_explanation(make_sandbox, tmp_path):
    ids, chats = chats_numbered("7900700", 60)
    sandbox = make_sandbox(chats=chats, rps=1000, read_rps=1000, quota=5)
    book = make_book(tmp_path / "quota.xlsx", ids)
    proc = run_cli("archive", book, "--no-progress", "--rate", 50, env=env_for(sandbox, tmp_path))
    assert proc.returncode == 1, proc.stderr
    got = statuses(book)
    words = [s for _, s, _ in got.values()]
    assert words.count("Archived") == 5 == len(sandbox.archived_ids())
    assert set(words) == {"Archived", "Quota exceeded", "Not run"}, words
    assert all(QUOTA_EXPLANATION in d for _, s, d in got.values() if s == "Quota exceeded")
    assert QUOTA_EXPLANATION in proc.stdout + proc.stderr
    refused = [c for c in sandbox.calls("archiveChat") if c["status"] == 466]
    assert len(refused) <= 32   # at most the calls already in flight when the first 466 came back


# --- crashes and concurrency ---------------------------------------------------------------------

def _temp_files_beside(book: Path) -> list[Path]:
    """Files a save is writing next to the book (not the journal, not a lock file)."""
    return [p for p in book.parent.iterdir() if p.name != book.name and not p.name.startswith("journal")
            and p.suffix not in (".ini", ".lock")]


def test_kill_9_at_any_moment_leaves_a_whole_book_and_repeats_only_calls_in_flight(make_sandbox, tmp_path):
    ids, chats = chats_numbered("7900800", 1500)
    sandbox = make_sandbox(chats=chats, rps=1000, read_rps=1000, latency_ms=20)
    book = make_book(tmp_path / "big.xlsx", ids, filler_columns=6)  # saves take a while
    env = env_for(sandbox, tmp_path)
    rng = random.Random(11)
    kills = 0
    for moment in ("during a save", "random", "random", "random"):
        proc = subprocess.Popen(cli("archive", book, "--no-progress", "--rate", 150), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + (20 if moment == "during a save" else rng.uniform(0.8, 4.0))
        while time.monotonic() < deadline and proc.poll() is None:
            if moment == "during a save" and _temp_files_beside(book) and sandbox.calls("archiveChat"):
                break
            time.sleep(0.005)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        openpyxl.load_workbook(book)    # opens: never half written
    time.sleep(0.5)                     # let the in-flight requests land
    final = run_cli("archive", book, "--no-progress", "--rate", 1000, env=env)
    assert final.returncode == 0, final.stderr
    per_chat: dict[str, int] = {}
    for entry in sandbox.calls("archiveChat"):
        per_chat[entry["chatId"]] = per_chat.get(entry["chatId"], 0) + 1
    repeated = sum(n - 1 for n in per_chat.values())
    assert kills >= 2
    assert repeated <= 32 * kills, repeated    # at most the calls in flight at each kill
    assert sandbox.archived_ids() == {f"{i}@c.us" for i in ids}
    got = statuses(book)
    assert all(s == "Archived" for _, s, _ in got.values()), [v for v in got.values() if v[1] != "Archived"][:5]


def test_a_second_run_on_the_same_book_is_refused(make_sandbox, tmp_path):
    ids, chats = chats_numbered("7900900", 60)
    sandbox = make_sandbox(chats=chats, rps=1000, read_rps=1000, latency_ms=200)
    book = make_book(tmp_path / "busy.xlsx", ids)
    env = env_for(sandbox, tmp_path)
    first = subprocess.Popen(cli("archive", book, "--no-progress", "--rate", 20), env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not sandbox.calls("archiveChat") and time.monotonic() < deadline:
            time.sleep(0.02)
        second = run_cli("archive", book, "--no-progress", env=env)
        assert second.returncode == 2, (second.stdout, second.stderr)
        assert "Traceback" not in second.stderr
        message = second.stderr.lower()
        assert "busy.xlsx" in message and any(w in message for w in ("running", "busy", "in use", "another"))
        _, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    assert {s for _, s, _ in statuses(book).values()} == {"Archived"}


_JOURNAL_WRITER = """
import sys
from greenapi_excel.journal import Journal
j = Journal(sys.argv[1])
for i in range(150):
    call = j.begin(instance="1101000001", method="archiveChat", chat_id=f"{sys.argv[2]}{i:04d}@c.us", source="udf")
    j.finish(call, status="Archived", details="done")
j.close()
"""


def test_the_journal_stays_sound_with_several_processes(make_sandbox, tmp_path):
    ids_a, chats_a = chats_numbered("7901000", 150)
    ids_b, chats_b = chats_numbered("7901100", 150)
    sandbox = make_sandbox(chats=chats_a + chats_b, rps=1000, read_rps=1000)
    env = env_for(sandbox, tmp_path)
    journal = tmp_path / "journal.sqlite3"
    books = [make_book(tmp_path / "a.xlsx", ids_a), make_book(tmp_path / "b.xlsx", ids_b)]
    procs = [subprocess.Popen(cli("archive", b, "--no-progress", "--rate", 300), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for b in books]
    procs += [subprocess.Popen([sys.executable, "-c", _JOURNAL_WRITER, str(journal), prefix], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for prefix in ("79012", "79013")]     # two UDF-like writers at the same time
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outs
    conn = sqlite3.connect(journal)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT state, status FROM calls").fetchall()
    finally:
        conn.close()
    assert len(rows) == 600
    assert all(state == "answered" and status == "Archived" for state, status in rows)
    for book in books:
        assert {s for _, s, _ in statuses(book).values()} == {"Archived"}


# --- full disks and books that cannot be written ---------------------------------------------------

def test_a_full_disk_gives_a_clear_error_and_keeps_the_original(make_sandbox, tmp_path):
    ids, chats = chats_numbered("7901200", 5)
    sandbox = make_sandbox(chats=chats, rps=1000, read_rps=1000)
    book = make_book(tmp_path / "full.xlsx", ids)
    wb = openpyxl.load_workbook(book)
    data = wb.create_sheet("Data")          # incompressible data: the book is big, the journal stays small
    rng = random.Random(5)
    for _ in range(10000):
        data.append([rng.randbytes(24).hex() for _ in range(6)])
    wb.save(book)
    before = book.read_bytes()
    limit = len(before) // 2   # the journal fits, a new copy of the book does not: EFBIG, as on a full disk
    assert limit > 400_000   # room for the journal

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = run_cli("archive", book, "--no-progress", env=env_for(sandbox, tmp_path), preexec_fn=small_disk)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "full.xlsx" in errors[0], proc.stderr
    assert book.read_bytes() == before
    assert not [p for p in _temp_files_beside(book) if ".xlsx" in p.name or p.suffix == ".tmp"]


def _make_unwritable(path: Path) -> bool:
    """Make ``path`` impossible to replace; False when this machine cannot (root on a fs without chattr)."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        path.parent.chmod(0o555)
        return True
    # Root ignores permission bits; the immutable attribute stops even root (when the file system has it).
    chattr = shutil.which("chattr")
    if chattr is None:
        return False
    return subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode == 0


def _make_writable(path: Path) -> None:
    if os.geteuid() != 0:
        path.parent.chmod(0o755)
        path.chmod(0o644)
    elif shutil.which("chattr"):
        subprocess.run([shutil.which("chattr"), "-i", str(path)], capture_output=True)


def test_a_read_only_book_gives_a_clear_error_and_stays_intact(make_sandbox, tmp_path):
    ids, chats = chats_numbered("7901300", 5)
    sandbox = make_sandbox(chats=chats, rps=1000, read_rps=1000)
    folder = tmp_path / "ro"
    folder.mkdir()
    book = make_book(folder / "locked.xlsx", ids)
    before = book.read_bytes()
    if not _make_unwritable(book):
        pytest.skip("running as root on a file system without the immutable attribute: nothing is read-only")
    try:
        proc = run_cli("archive", book, "--no-progress", env=env_for(sandbox, tmp_path))
        assert book.read_bytes() == before
    finally:
        _make_writable(book)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert "locked.xlsx" in proc.stderr


def test_a_book_open_in_excel_is_refused_and_stays_intact(make_sandbox, tmp_path):
    ids, chats = chats_numbered("7901400", 5)
    sandbox = make_sandbox(chats=chats, rps=1000, read_rps=1000)
    book = make_book(tmp_path / "open.xlsx", ids)
    # Excel marks an open book with an owner file beside it: "~$" and the name (the user name inside).
    (tmp_path / "~$open.xlsx").write_bytes(b"\x05analyst" + b" " * 100)
    before = book.read_bytes()
    proc = run_cli("archive", book, "--no-progress", env=env_for(sandbox, tmp_path))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert "open.xlsx" in proc.stderr and ("open" in proc.stderr.lower() or "excel" in proc.stderr.lower())
    assert book.read_bytes() == before
    assert sandbox.calls("archiveChat") == []

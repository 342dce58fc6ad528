"""One core behind every edge: the same run through the command line (a file) and the ribbon (the xlwings
stand-in) writes the same thing, and the promises the README makes hold on every path. Each test here
failed on the code before the core (each edge then ran its own copy of the job)."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest

import addin
from cli_helpers import cli_command, run_cli, sandbox_env
from greenapi_excel import pacing, statuses as st
from greenapi_excel.journal import Journal
from hostile_server import HostileServer, playing
from test_addin import env, keychain, make_book as make_stand_in_book, sandbox_env as stand_in_env  # noqa: F401

pytestmark = pytest.mark.usefixtures("inline_worker")

PEOPLE = [f"7900770{i:04d}@c.us" for i in range(8)]


def file_book(path: Path, rows) -> Path:
    wb = openpyxl.Workbook()
    wb.active.title = "Chats"
    for row in rows:
        wb.active.append(row)
    wb.save(path)
    return path


def file_results(path: Path) -> dict[int, tuple]:
    ws = openpyxl.load_workbook(path)["Chats"]
    return {r: (ws.cell(r, 2).value, ws.cell(r, 3).value, ws.cell(r, 4).number_format)
            for r in range(2, ws.max_row + 1) if ws.cell(r, 2).value is not None}


# --- the edges write the same thing ------------------------------------------------------------------

def test_the_command_line_and_the_ribbon_write_the_same_cells(env, tmp_path, keychain):
    """A server answer that starts like a formula is kept whole on both edges (a file holds it as text, a
    live cell behind an apostrophe), and the Updated cells carry the one format."""
    rejected = "-1 chats left: the server's own words"
    answer = playing(archiveChat=(400, rejected), getSettings=(200, '{"incomingWebhook": "yes"}',
                                                               "application/json"))
    with HostileServer(answer) as server:
        env.setenv("GREENAPI_API_URL", server.url)
        env.setenv("GREENAPI_ID_INSTANCE", "1101000001")
        env.setenv("GREENAPI_API_TOKEN_INSTANCE", "tok3n0f0ur0wn")
        book = file_book(tmp_path / "cli.xlsx", [["Chat ID"], [PEOPLE[0]], ["not a chat"]])
        proc = run_cli("archive", book, "--no-progress", env=dict(os.environ))
        assert proc.returncode == 1, proc.stderr
        on_file = file_results(book)

        stand_in, chats = make_stand_in_book([["Chat ID"], [PEOPLE[0]], ["not a chat"]])
        addin.archive_chats(stand_in)
        live = {r: (chats.stored(f"B{r}"), chats.stored(f"C{r}")) for r in (2, 3)}

    assert on_file[2][:2] == live[2] == (st.FAILED, rejected)
    assert on_file[3][:2] == live[3]
    assert on_file[2][2] == "yyyy-mm-dd hh:mm:ss"
    assert [fmt for _where, fmt in stand_in.format_writes if not fmt.startswith("width")] == ["yyyy-mm-dd hh:mm:ss"]


def test_undo_on_the_ribbon_finds_the_chat_column_as_archive_did(stand_in_env):
    """Archive read the chats from the selected column C (a Phone column stands in B); Undo, pressed with
    another cell selected, finds them in column C again and writes its statuses beside them."""
    sandbox = stand_in_env
    people = [c.id for c in _unarchived_people(sandbox)][:3]
    rows = [["Name", "Phone", "Chat", "Notes"]] + [[f"N{i}", "+44 20 7946 0000", chat, ""]
                                                   for i, chat in enumerate(people)]
    book, chats = make_stand_in_book(rows)
    book.select(chats, "C2:C4")
    addin.archive_chats(book)
    status = next(letter for letter in "DEFGH" if chats.stored(f"{letter}1") == "Status")
    assert [chats.stored(f"{status}{r}") for r in (2, 3, 4)] == [st.ARCHIVED] * 3
    book.select(chats, "A1")
    book.app.answers = ["yes"]
    addin.undo_last_run(book)
    assert {c["chatId"] for c in sandbox.calls("unarchiveChat")} == set(people)
    assert [chats.stored(f"{status}{r}") for r in (2, 3, 4)] == [st.UNARCHIVED] * 3


def _unarchived_people(sandbox):
    return [c for c in sandbox.chats.values() if not c.archive and c.incoming > 0 and c.id.endswith("@c.us")]


def test_ribbon_undo_in_a_same_named_book_elsewhere_writes_nothing_there(stand_in_env, tmp_path):
    sandbox = stand_in_env
    people = [c.id for c in _unarchived_people(sandbox)][:2]
    client_a, chats_a = make_stand_in_book([["Chat ID"]] + [[p] for p in people], folder=tmp_path / "ClientA")
    addin.archive_chats(client_a)
    client_b, chats_b = make_stand_in_book([["Chat ID"]] + [[p] for p in people], folder=tmp_path / "ClientB")
    client_b.app.answers = ["yes"]
    addin.undo_last_run(client_b)
    assert {c["chatId"] for c in sandbox.calls("unarchiveChat")} == set(people)
    assert chats_b.stored("B2") is None and chats_b.stored("B3") is None   # ClientB's rows untouched
    assert "printed here" in client_b.app.alerts[-1]["prompt"]


def test_a_token_typed_in_settings_is_found_by_the_next_run(env, sandbox, tmp_path):
    """The environment names the instance; the Settings sheet names another. The typed token is stored
    under the one the run will use (flags > environment > sheet > config), so the next run finds it."""
    env.setenv("GREENAPI_API_URL", sandbox.api_url)
    env.setenv("GREENAPI_ID_INSTANCE", sandbox.id_instance)
    people = [c.id for c in _unarchived_people(sandbox)][:1]
    book, chats = make_stand_in_book([["Chat ID"], [people[0]]],
                                     settings={"idInstance": "7107000002", "Token": sandbox.token})
    addin.archive_chats(book)
    assert chats.stored("B2") == st.ARCHIVED, book.app.alerts


# --- the command line keeps the README's promises -----------------------------------------------------

@pytest.fixture
def cli(tmp_path):
    def make(sandbox, **extra):
        return sandbox_env(sandbox, tmp_path, **extra)
    return make


def test_ctrl_c_leaves_every_row_with_a_status(make_sandbox, cli, tmp_path):
    ids = [f"7900300{i:04d}@c.us" for i in range(120)]
    sandbox = make_sandbox([{"id": i} for i in ids], rps=20, read_rps=1000)
    book = file_book(tmp_path / "c.xlsx", [["Chat ID"]] + [[i] for i in ids])
    proc = subprocess.Popen(cli_command("archive", book, "--no-progress", "--rate", "20"), env=cli(sandbox),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 30
    while len(sandbox.calls("archiveChat")) < 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in err, err
    got = file_results(book)
    assert set(got) == set(range(2, len(ids) + 2))                      # every row has a status
    words = {value[0] for value in got.values()}
    assert words <= {st.ARCHIVED, st.NOT_RUN} and st.NOT_RUN in words
    archived = {ids[r - 2] for r, value in got.items() if value[0] == st.ARCHIVED}
    assert archived == sandbox.archived_ids() & set(ids)                # and every status is true


def test_undo_refuses_a_book_open_in_excel_before_any_call(make_sandbox, cli, tmp_path):
    sandbox = make_sandbox(rps=1000, read_rps=1000)
    people = [c.id for c in _unarchived_people(sandbox)][:3]
    book = file_book(tmp_path / "open.xlsx", [["Chat ID"]] + [[p] for p in people])
    assert run_cli("archive", book, "--no-progress", env=cli(sandbox)).returncode == 0
    (tmp_path / "~$open.xlsx").write_bytes(b"Excel holds this book open")
    proc = run_cli("undo", "--yes", "--no-progress", env=cli(sandbox))
    assert proc.returncode == 2, proc.stderr
    assert sandbox.calls("unarchiveChat") == []                          # nothing sent
    assert {v[0] for v in file_results(book).values()} == {st.ARCHIVED}  # and the book still tells the truth


def test_undo_covers_every_chat_a_resumed_run_reports(make_sandbox, cli, tmp_path):
    ids = [f"7900310{i:04d}@c.us" for i in range(60)]
    sandbox = make_sandbox([{"id": i} for i in ids], rps=30, read_rps=1000)
    book = file_book(tmp_path / "k.xlsx", [["Chat ID"]] + [[i] for i in ids])
    proc = subprocess.Popen(cli_command("archive", book, "--no-progress", "--rate", "30"), env=cli(sandbox),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while len(sandbox.calls("archiveChat")) < 30 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill()                                                         # killed: no save of what it did
    proc.wait()
    resumed = run_cli("archive", book, "--no-progress", "--rate", "30", env=cli(sandbox))
    assert resumed.returncode == 0, resumed.stderr
    assert {v[0] for v in file_results(book).values()} == {st.ARCHIVED}
    with Journal(tmp_path / "journal.sqlite3") as journal:
        newest = journal.runs(limit=1)[0]
    assert newest.counts == {st.ARCHIVED: len(ids)}
    undo = run_cli("undo", "--last", "--yes", "--no-progress", env=cli(sandbox))
    assert undo.returncode == 0, undo.stderr
    assert f"those {len(ids)} chats" in undo.stderr
    assert sandbox.archived_ids() & set(ids) == set()


def test_journal_finds_a_chat_as_the_analyst_types_it_and_a_closed_pipe_is_quiet(make_sandbox, cli, tmp_path):
    sandbox = make_sandbox([{"id": "79262345678@c.us"}], rps=1000, read_rps=1000)
    book = file_book(tmp_path / "j.xlsx", [["Chat ID"], ["79262345678@c.us"]])
    assert run_cli("archive", book, "--no-progress", env=cli(sandbox)).returncode == 0
    found = run_cli("journal", "--chat", "+7 926 234-56-78", env=cli(sandbox))
    assert found.returncode == 0 and "79262345678@c.us" in found.stdout and "Archived" in found.stdout
    with Journal(tmp_path / "journal.sqlite3") as journal:   # more lines than a pipe holds
        for number in range(3000):
            call = journal.begin(instance=sandbox.id_instance, method="archiveChat", chat_id=f"7900{number:07d}@c.us")
            journal.finish(call, status=st.ARCHIVED, details="done")
    piped = subprocess.run(f"{subprocess.list2cmdline(cli_command('journal', '--limit', '5000'))} | head -n 2",
                           shell=True, capture_output=True, text=True, env=cli(sandbox))
    assert len(piped.stdout.splitlines()) == 2
    assert "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr, piped.stderr


def test_a_servers_escape_sequences_never_reach_the_terminal(tmp_path):
    """A chat ID and a name from getChats, printed by --all-chats, lose their control characters."""
    chats = ('[{"id": "7900\\u001b]0;owned\\u0007\\u001b[2J1@c.us", "name": "x", "archive": false}, '
             '{"id": "79001234567@c.us", "name": "\\u001b[31mMallory\\u202e", "archive": false}]')
    answer = playing(getChats=(200, chats, "application/json"),
                     getSettings=(200, '{"incomingWebhook": "yes"}', "application/json"),
                     lastIncomingMessages=(200, "[]", "application/json"),
                     lastOutgoingMessages=(200, "[]", "application/json"))
    with HostileServer(answer) as server:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("GREENAPI_")}
        environment.update(GREENAPI_API_URL=server.url, GREENAPI_ID_INSTANCE="1101000001",
                           GREENAPI_API_TOKEN_INSTANCE="tok3n0f0ur0wn", GREENAPI_LANG="en",
                           GREENAPI_JOURNAL=str(tmp_path / "j.sqlite3"), GREENAPI_CONFIG=str(tmp_path / "c.ini"))
        proc = run_cli("archive", "--all-chats", "--dry-run", "--no-progress", env=environment)
    shown = proc.stdout + proc.stderr
    assert "Mallory" in shown and "owned" in shown, shown
    # Cleaned, not folded: the summary's table keeps its columns.
    assert re.search(r"^Would archive {2,}1$", proc.stdout, re.M) and re.search(r"^-{13,} {2}-{4}$", proc.stdout, re.M)
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown


def test_per_user_files_are_private(make_sandbox, tmp_path):
    sandbox = make_sandbox(rps=1000, read_rps=1000)
    home = tmp_path / "home"
    environment = {k: v for k, v in sandbox_env(sandbox, tmp_path).items()
                   if k not in ("GREENAPI_JOURNAL", "GREENAPI_LOCK_DIR", "GREENAPI_RUNS_DIR")}
    environment.update(HOME=str(home), XDG_STATE_HOME=str(home / "state"), XDG_CONFIG_HOME=str(home / "config"))
    book = file_book(tmp_path / "p.xlsx", [["Chat ID"], [_unarchived_people(sandbox)[0].id]])
    old = os.umask(0o022)
    try:
        assert run_cli("archive", book, "--no-progress", env=environment).returncode == 0
    finally:
        os.umask(old)
    state = home / "state" / "greenapi-excel"
    made = [state, *state.rglob("*")]
    assert (state / "journal.sqlite3").exists() and (state / "locks").is_dir()
    for path in made:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, (path, oct(mode))


def test_a_clock_set_back_does_not_stall_the_shared_pacing(tmp_path):
    slots = pacing.SharedSlots(tmp_path / "pacing.sqlite3")
    key = "127.0.0.1:1|1101|archiveChat"
    future = time.time() + 3600                      # runs made while the clock was an hour ahead
    with sqlite3.connect(tmp_path / "pacing.sqlite3") as conn:
        conn.executemany("INSERT INTO starts (key, at) VALUES (?, ?)", [(key, future + i / 100) for i in range(20)])
    assert slots.admit(key, 10, 1.03) == 0.0         # a start may go now, not in an hour
    slots.close()


def test_a_rate_above_green_apis_limit_is_refused(make_sandbox, cli, tmp_path):
    sandbox = make_sandbox(rps=10, read_rps=1000)
    book = file_book(tmp_path / "r.xlsx", [["Chat ID"], [_unarchived_people(sandbox)[0].id]])
    environment = {k: v for k, v in cli(sandbox).items() if k != "GREENAPI_MAX_RATE"}
    proc = run_cli("archive", book, "--rate", "50", env=environment)
    assert proc.returncode == 2 and "at most 10" in proc.stderr
    assert sandbox.calls("archiveChat") == []


def test_out_never_replaces_an_unrelated_book_without_force(make_sandbox, cli, tmp_path):
    sandbox = make_sandbox(rps=1000, read_rps=1000)
    book = file_book(tmp_path / "in.xlsx", [["Chat ID"], [_unarchived_people(sandbox)[0].id]])
    other = file_book(tmp_path / "theirs.xlsx", [["Their own data"], [42]])
    before = other.read_bytes()
    proc = run_cli("archive", book, "--out", other, "--no-progress", env=cli(sandbox))
    assert proc.returncode == 2 and "--force" in proc.stderr
    assert other.read_bytes() == before and sandbox.calls("archiveChat") == []
    forced = run_cli("archive", book, "--out", other, "--force", "--no-progress", env=cli(sandbox))
    assert forced.returncode == 0, forced.stderr


def test_the_demo_runs_the_archive_job_not_the_command_line(tmp_path):
    """The demo imports no part of the command line: it calls the job archive calls."""
    code = ("import sys, pathlib, greenapi_excel.demo as d; d.run_demo(pathlib.Path(sys.argv[1]), progress=False); "
            "sys.exit(3 if any(m.split('.')[:2] == ['greenapi_excel', 'cli'] for m in sys.modules) else 0)")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GREENAPI_")}
    environment.update(GREENAPI_LANG="en", XDG_STATE_HOME=str(tmp_path / "state"))
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "demo.xlsx")], capture_output=True, text=True,
                          env=environment, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Archived" in proc.stdout

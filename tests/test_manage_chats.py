"""Issue 13: check the instance first, load the chats, choose by rule (filters, --all-chats), act, undo.

Real CLI processes against the sandbox over loopback, real books (openpyxl, LibreOffice), the sandbox's
own state read back after each step.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from cli_helpers import run_cli, sandbox_env

from greenapi_excel import statuses as st

DAY = 86_400


def iso(days_ago: float) -> str:
    return datetime.utcfromtimestamp(time.time() - days_ago * DAY).strftime("%Y-%m-%dT%H:%M:%SZ")


# A small account: people and groups, active and idle, one archived, one never written to. Its times are
# fixed when this module is imported: a long suite must not make "0.2 days ago" drift.
IMPORTED = datetime.now()
CHATS = [
    {"id": "79001234567@c.us", "name": "Anna", "incoming": 3, "last_incoming": iso(0.2), "last_outgoing": iso(0.1)},
    {"id": "79001234568@c.us", "name": "Boris", "incoming": 1, "last_incoming": iso(45), "last_outgoing": iso(50)},
    {"id": "79001234569@c.us", "name": "Vera", "incoming": 2, "last_incoming": iso(3)},
    {"id": "4917012345670@c.us", "name": "Jonas", "incoming": 5, "last_outgoing": iso(70)},
    {"id": "77011234567@c.us", "name": "Aigerim", "incoming": 1},
    {"id": "12025550123@c.us", "name": "Emily", "incoming": 1, "archive": True, "last_incoming": iso(100)},
    {"id": "120363043968066561@g.us", "name": "Team", "incoming": 9, "last_incoming": iso(1)},
    {"id": "120363025948372615@g.us", "name": "Old project", "incoming": 4, "last_incoming": iso(90)},
]
IDLE_30 = {"79001234568@c.us", "4917012345670@c.us", "77011234567@c.us", "12025550123@c.us",
           "120363025948372615@g.us"}
LOADED_HEADERS = ["Chat ID", "Name", "Type", "Archived", "Last incoming", "Last outgoing", "Idle days"]


def cli(*args, env, code=None, **kwargs):
    proc = run_cli(*args, env=env, **kwargs)
    if code is not None:
        assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    return proc


@pytest.fixture
def account(make_sandbox):
    return make_sandbox(CHATS, rps=1000, read_rps=1000)


@pytest.fixture
def env(account, tmp_path):
    return sandbox_env(account, tmp_path)


def column_values(path: Path, sheet: str, header: str) -> dict[str, object]:
    """chat ID -> the value under ``header``, read back with openpyxl."""
    ws = openpyxl.load_workbook(path)[sheet]
    headers = [c.value for c in ws[1]]
    col = headers.index(header) + 1
    return {ws.cell(r, 1).value: ws.cell(r, col).value for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value}


# --- 1. the instance is checked first -------------------------------------------------------


def test_webhook_off_stops_the_run_then_check_fix_then_the_run_works(make_sandbox, tmp_path):
    sandbox = make_sandbox(CHATS, rps=1000, read_rps=1000, incoming_webhook="no")
    env = sandbox_env(sandbox, tmp_path)
    book = tmp_path / "book.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["Chat ID"])
    for chat in ("79001234567@c.us", "79001234568@c.us"):
        wb.active.append([chat])
    wb.save(book)

    proc = cli("archive", book, "--no-progress", env=env, code=2)
    assert "Receive webhooks on incoming messages and files" in proc.stderr
    assert "5 minutes" in proc.stderr and "GREEN-API console" in proc.stderr
    assert sandbox.calls("archiveChat") == []          # stopped before the first change
    ws = openpyxl.load_workbook(book).active
    assert [ws.cell(r, 2).value for r in (2, 3)] == [st.NOT_RUN, st.NOT_RUN]

    proc = cli("check", env=env, code=2)
    assert "incomingWebhook" in proc.stdout + proc.stderr and "--fix" in proc.stderr
    assert sandbox.incoming_webhook == "no" and sandbox.calls("setSettings") == []

    proc = cli("check", "--fix", env=env, code=0)     # waits until the instance shows the setting on
    assert "shows them on now" in proc.stdout and "never reach the journals" in proc.stdout
    assert sandbox.incoming_webhook == "yes"
    assert len(sandbox.calls("setSettings")) == 1

    cli("archive", book, "--no-progress", env=env, code=0)
    assert sandbox.archived_ids() >= {"79001234567@c.us", "79001234568@c.us"}
    ws = openpyxl.load_workbook(book).active
    assert [ws.cell(r, 2).value for r in (2, 3)] == [st.ARCHIVED, st.ARCHIVED]


# --- 2. Load chats, a filter, archive on the visible rows only -------------------------------


def test_load_chats_writes_one_row_per_chat_with_times_from_two_journal_reads(account, env, tmp_path):
    book = tmp_path / "account.xlsx"
    proc = cli("chats", book, env=env, code=0)
    assert "8 chats" in proc.stdout
    assert len(account.calls("getChats")) == 1
    assert [c["method"] for c in account.log if c["method"].startswith("last")] == [
        "lastIncomingMessages", "lastOutgoingMessages"]          # two journal reads for the whole list
    wb = openpyxl.load_workbook(book)
    ws = wb["Chats"]
    assert [c.value for c in ws[1]] == LOADED_HEADERS
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref.startswith("A1:G")
    rows = {ws.cell(r, 1).value: [ws.cell(r, c).value for c in range(1, 8)] for r in range(2, ws.max_row + 1)}
    assert set(rows) == {c["id"] for c in CHATS}
    anna = rows["79001234567@c.us"]
    assert anna[1:4] == ["Anna", "person", "no"]
    assert isinstance(anna[4], datetime) and abs((IMPORTED - anna[4]) - timedelta(days=0.2)) < timedelta(minutes=5)
    assert ws.cell(2, 5).number_format == "yyyy-mm-dd hh:mm"
    assert anna[6] == 0
    assert rows["79001234569@c.us"][5] == "none in 30 days"   # Vera: no outgoing message in the window
    assert rows["77011234567@c.us"][4:] == ["none in 30 days", "none in 30 days", 30]
    assert rows["12025550123@c.us"][3] == "yes" and rows["120363043968066561@g.us"][2] == "group"
    assert rows["79001234568@c.us"][6] == 30                  # Boris: last message 45 days ago, shown "over 30"
    assert ws.cell(2, 7).number_format == '[<30]0;"over "0'
    assert {str(cf.sqref) for cf in ws.conditional_formatting} >= {"D2:D9", "G2:G9"}


def test_reload_refreshes_in_place_keeps_analyst_columns_and_marks_gone_chats(account, env, tmp_path):
    book = tmp_path / "account.xlsx"
    cli("chats", book, env=env, code=0)
    wb = openpyxl.load_workbook(book)
    ws = wb["Chats"]
    ws.cell(1, 8).value = "My note"
    row_of = {ws.cell(r, 1).value: r for r in range(2, ws.max_row + 1)}
    for chat_id, row in row_of.items():
        ws.cell(row, 8).value = f"note for {chat_id}"
    wb.save(book)

    del account.chats["79001234569@c.us"]                     # Vera's chat is gone
    account.chats["79001234567@c.us"].archive = True           # Anna archived elsewhere
    from greenapi_excel.sandbox import chats_from_dicts
    account.chats.update(chats_from_dicts([{"id": "79005550000@c.us", "name": "New"}]))
    proc = cli("chats", book, env=env, code=0)
    assert "1 new" in proc.stdout and "1 gone" in proc.stdout

    ws = openpyxl.load_workbook(book)["Chats"]
    assert ws.cell(1, 8).value == "My note"
    after = {ws.cell(r, 1).value: r for r in range(2, ws.max_row + 1)}
    for chat_id, row in row_of.items():
        assert after[chat_id] == row and ws.cell(row, 8).value == f"note for {chat_id}"
    assert ws.cell(row_of["79001234567@c.us"], 4).value == "yes"
    assert ws.cell(row_of["79001234569@c.us"], 4).value == "gone"
    assert ws.cell(row_of["79001234569@c.us"], 2).value == "Vera"      # marked, not deleted
    assert after["79005550000@c.us"] == max(row_of.values()) + 1
    assert len(list(ws.conditional_formatting)) == 3                      # replaced, not piled up


def libreoffice_round_trip(book: Path, out_dir: Path) -> Path:
    """Have LibreOffice Calc open and save the book: a book saved with a filter by another program."""
    import shutil
    import subprocess

    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice is not installed")
    out_dir.mkdir()
    subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{out_dir}/profile", "--convert-to",
                    "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out_dir), str(book)],
                   check=True, capture_output=True, timeout=120)
    return out_dir / book.name


def test_filtered_book_acts_on_visible_rows_only(account, env, tmp_path):
    book = tmp_path / "account.xlsx"
    cli("chats", book, env=env, code=0)
    # The analyst filters Type = person and hides one more row by hand; groups are hidden by the filter.
    wb = openpyxl.load_workbook(book)
    ws = wb["Chats"]
    hidden, visible = set(), set()
    for r in range(2, ws.max_row + 1):
        chat_id = ws.cell(r, 1).value
        if ws.cell(r, 3).value == "group" or chat_id == "79001234568@c.us":
            ws.row_dimensions[r].hidden = True
            hidden.add(chat_id)
        else:
            visible.add(chat_id)
    ws.auto_filter.add_filter_column(2, ["person"])
    wb.save(book)
    saved = libreoffice_round_trip(book, tmp_path / "lo")
    assert {openpyxl.load_workbook(saved)["Chats"].cell(r, 1).value
            for r, d in openpyxl.load_workbook(saved)["Chats"].row_dimensions.items() if d.hidden} == hidden

    proc = cli("archive", saved, "--sheet", "Chats", "--no-progress", env=env, code=0)
    assert "Skipped 3 hidden rows" in proc.stdout
    archived = {c["chatId"] for c in account.calls("archiveChat")}
    assert archived == visible                                   # Emily too: she answers "already archived"
    assert not archived & hidden
    statuses = column_values(saved, "Chats", "Status")
    assert all(statuses[chat] is None for chat in hidden)         # hidden rows get no status
    assert statuses["79001234567@c.us"] == st.ARCHIVED and statuses["12025550123@c.us"] == st.ALREADY_ARCHIVED

    proc = cli("unarchive", saved, "--sheet", "Chats", "--include-hidden", "--dry-run", "--no-progress",
               env=env, code=0)
    statuses = column_values(saved, "Chats", "Status")
    assert statuses["120363043968066561@g.us"] == st.ALREADY_UNARCHIVED and "hidden" not in proc.stdout


# --- 3. --all-chats --idle-days ----------------------------------------------------------------


def test_all_chats_idle_days_acts_on_the_idle_people_and_writes_a_report(account, env, tmp_path):
    report = tmp_path / "report.xlsx"
    proc = cli("archive", "--all-chats", "--type", "person", "--idle-days", "30", "--report", report,
               "--no-progress", env=env, code=0)
    idle_people = {c for c in IDLE_30 if c.endswith("@c.us")}
    assert {c["chatId"] for c in account.calls("archiveChat")} == idle_people
    assert account.archived_ids() == idle_people
    assert len(account.calls("lastIncomingMessages")) == 1 and len(account.calls("lastOutgoingMessages")) == 1
    ws = openpyxl.load_workbook(report)["Report"]
    headers = [c.value for c in ws[1]]
    assert headers[:7] == LOADED_HEADERS and headers[7:10] == ["Status", "Details", "Updated"]
    statuses = column_values(report, "Report", "Status")
    assert set(statuses) == idle_people
    assert statuses["12025550123@c.us"] == st.ALREADY_ARCHIVED and statuses["79001234568@c.us"] == st.ARCHIVED
    assert "4917012345670@c.us" in proc.stdout


# --- 4. undo, and undo of the undo ------------------------------------------------------------


def test_undo_a_run_then_undo_the_undo(account, env, tmp_path):
    book = tmp_path / "account.xlsx"
    cli("chats", book, env=env, code=0)
    before = account.archived_ids()
    cli("archive", book, "--sheet", "Chats", "--no-progress", env=env, code=0)
    changed = {c["chatId"] for c in account.calls("archiveChat") if c["status"] == 200}
    assert changed and account.archived_ids() == before | changed

    runs = cli("journal", "--runs", env=env, code=0).stdout
    assert "archive" in runs and "account.xlsx [Chats]" in runs and "Archived" in runs

    # Without a terminal and without --yes it refuses, changing nothing.
    proc = cli("undo", "--last", env=env, code=2)
    assert "--yes" in proc.stderr and account.calls("unarchiveChat") == []

    proc = cli("undo", "--last", "--dry-run", env=env, code=0)
    assert account.calls("unarchiveChat") == [] and st.WOULD_UNARCHIVE in proc.stdout

    proc = cli("undo", "--last", "--yes", "--no-progress", env=env, code=0)
    assert f"unarchive those {len(changed)} chats" in proc.stderr
    assert {c["chatId"] for c in account.calls("unarchiveChat")} == changed   # exactly the chats it changed
    assert account.archived_ids() == before                                   # Emily stays archived
    statuses = column_values(book, "Chats", "Status")
    assert {c for c, s in statuses.items() if s == st.UNARCHIVED} == changed
    assert statuses["12025550123@c.us"] == st.ALREADY_ARCHIVED                 # untouched by the undo

    # Undo walks back like Ctrl+Z: --last never takes the undo itself back, and nothing older is left.
    proc = cli("undo", "--last", "--yes", "--no-progress", env=env, code=2)
    assert "left to undo" in proc.stderr and len(account.calls("unarchiveChat")) == len(changed)

    # The undo is a run too: --run reaches it, and the chats are archived again.
    undo_run = cli("journal", "--runs", env=env).stdout.splitlines()[1].split()[0]
    first_run_calls = len(account.calls("archiveChat"))
    proc = cli("undo", "--run", undo_run, "--yes", "--no-progress", env=env, code=0)
    assert account.archived_ids() == before | changed
    assert {c["chatId"] for c in account.calls("archiveChat")[first_run_calls:]} == changed
    assert len(account.calls("archiveChat")) == first_run_calls + len(changed)
    statuses = column_values(book, "Chats", "Status")
    assert {c for c, s in statuses.items() if s == st.ARCHIVED} == changed

    # The first run was undone already: undoing it again is refused with what to do.
    first = [line.split()[0] for line in cli("journal", "--runs", env=env).stdout.splitlines()[1:]][-1]
    proc = cli("undo", "--run", first, "--yes", env=env, code=2)
    assert "undone already" in proc.stderr


# --- 5. the sandbox's new methods, the client's paced reads, the journal's runs ------------------------

import requests  # noqa: E402

from greenapi_excel.client import Credentials, GreenApiClient  # noqa: E402
from greenapi_excel.errors import ConfigError  # noqa: E402
from greenapi_excel.sandbox import DEFAULT_CHATS, builtin_chats, chats_from_dicts  # noqa: E402


def test_get_and_set_settings_answer_with_the_docs_fields(account):
    settings = requests.get(account.method_url("getSettings"), timeout=10).json()
    assert {"wid", "webhookUrl", "outgoingWebhook", "incomingWebhook", "stateWebhook"} <= set(settings)
    assert settings["incomingWebhook"] == "yes"
    answer = requests.post(account.method_url("setSettings"), json={"incomingWebhook": "no"}, timeout=10)
    assert (answer.status_code, answer.json()) == (200, {"saveSettings": True})
    assert account.incoming_webhook == "no"
    assert requests.post(account.method_url("setSettings"), json={}, timeout=10).status_code == 400
    assert requests.post(account.method_url("setSettings"), json={"incomingWebhook": "on"}, timeout=10).status_code == 400
    # While it is off: archiveChat fails (the assumed answer), and the incoming journal is empty.
    answer = requests.post(account.method_url("archiveChat"), json={"chatId": "79001234567@c.us"}, timeout=10)
    assert (answer.status_code, answer.text) == (
        400, "ArchiveChatError: cannot archive chat cause last message not found in chat")
    assert requests.get(account.method_url("lastIncomingMessages"), timeout=10).json() == []


def test_journals_have_the_docs_fields_and_honour_minutes(account):
    url = account.method_url("lastIncomingMessages")
    day = requests.get(url, timeout=10).json()                     # default: 1440 minutes
    assert {m["chatId"] for m in day} == {"79001234567@c.us"}
    month = requests.get(url + "?minutes=43200", timeout=10).json()
    assert {m["chatId"] for m in month} == {"79001234567@c.us", "79001234569@c.us", "120363043968066561@g.us"}
    message = month[0]
    assert {"type", "idMessage", "timestamp", "typeMessage", "chatId", "senderName"} <= set(message)
    assert message["type"] == "incoming" and isinstance(message["timestamp"], int)
    assert [m["timestamp"] for m in month] == sorted((m["timestamp"] for m in month), reverse=True)
    out = requests.get(account.method_url("lastOutgoingMessages") + "?minutes=144000", timeout=10).json()
    assert {m["type"] for m in out} == {"outgoing"} and {"statusMessage", "sendByApi"} <= set(out[0])
    assert requests.get(url + "?minutes=soon", timeout=10).status_code == 400


def test_journal_reads_are_limited_to_one_a_second_and_the_client_keeps_that_pace(make_sandbox):
    sandbox = make_sandbox(CHATS)                                   # default limits: 1 a second for reads
    burst = [requests.get(sandbox.method_url("lastOutgoingMessages"), timeout=10).status_code for _ in range(3)]
    assert burst.count(200) == 1 and burst.count(429) == 2
    client = GreenApiClient(Credentials(sandbox.api_url, sandbox.id_instance, sandbox.token))
    started = time.monotonic()
    for _ in range(3):
        client.last_incoming_messages(60)
    assert time.monotonic() - started >= 1.9
    assert [c["status"] for c in sandbox.calls("lastIncomingMessages")] == [200, 200, 200]
    assert client.get_settings()["incomingWebhook"] == "yes"
    client.close()


def test_state_file_times_and_the_builtin_book(tmp_path):
    book = chats_from_dicts([{"id": "79001234567@c.us", "last_incoming": "2026-10-01T12:00:00Z"}])
    assert book["79001234567@c.us"].last_incoming == datetime(2026, 10, 1, 12).replace(
        tzinfo=__import__("datetime").timezone.utc).timestamp()
    for bad in ({"id": "79001234567@c.us", "last_incoming": "yesterday"},
                {"id": "79001234567@c.us", "incoming": 0, "last_incoming": "2026-10-01T12:00:00Z"}):
        with pytest.raises(ConfigError):
            chats_from_dicts([bad])
    now = time.time()
    builtin = chats_from_dicts(builtin_chats(now))
    assert len(builtin) == len(DEFAULT_CHATS)
    idle = {c.id: (now - max(t for t in (c.last_incoming, c.last_outgoing) if t is not None)) / DAY
            for c in builtin.values() if c.last_incoming or c.last_outgoing}
    assert sum(days < 1 for days in idle.values()) >= 8            # some active today
    assert sum(days > 90 for days in idle.values()) >= 8           # some idle for months
    assert all(c.last_incoming is None for c in builtin.values() if c.incoming == 0)


def test_sandbox_command_takes_incoming_webhook_no(tmp_path):
    import subprocess
    import sys

    state = tmp_path / "state.json"
    state.write_text(json.dumps({"chats": CHATS}), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "greenapi_excel", "sandbox", "--port", "0", "--api-token",
                             "tok123", "--state", str(state), "--incoming-webhook", "no"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        api_url = line.split("apiUrl=")[1].split()[0]
        settings = requests.get(f"{api_url}/waInstance1101000001/getSettings/tok123", timeout=10).json()
        assert settings["incomingWebhook"] == "no"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_an_old_journal_without_runs_keeps_working(tmp_path):
    import sqlite3

    from greenapi_excel.journal import Journal

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE calls (id INTEGER PRIMARY KEY AUTOINCREMENT, sent_at REAL NOT NULL, updated_at REAL NOT NULL,
            instance TEXT NOT NULL, method TEXT NOT NULL, chat_id TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('sent', 'answered', 'uncertain')), status TEXT,
            details TEXT NOT NULL DEFAULT '', http_status INTEGER, source TEXT NOT NULL DEFAULT '', run_id TEXT);
        INSERT INTO calls (sent_at, updated_at, instance, method, chat_id, state, status)
            VALUES (1, 2, '1101000001', 'archiveChat', '79001234567@c.us', 'answered', 'Archived');
    """)
    conn.commit()
    conn.close()
    with Journal(path) as journal:
        assert journal.runs() == [] and len(journal.entries()) == 1
        run_id = journal.start_run(instance="1101000001", method="archiveChat", source="test")
        journal.finish_run(run_id, {"Archived": 1})
        assert journal.get_run(run_id).counts == {"Archived": 1}
    with Journal(path) as journal:                                   # and it opens again, schema and all
        assert [r.id for r in journal.runs()] == [run_id] and len(journal.entries()) == 1


def test_undo_asks_in_a_terminal_with_the_count(account, env, tmp_path):
    """A terminal: the question names the count; "n" changes nothing, "y" goes ahead."""
    import os
    import pty
    import subprocess

    from cli_helpers import cli_command

    cli("archive", "--all-chats", "--type", "group", "--no-progress", env=env, code=0)
    groups = {c["id"] for c in CHATS if c["id"].endswith("@g.us")}
    assert groups <= account.archived_ids()

    def undo_answering(answer: str) -> str:
        master, slave = pty.openpty()
        proc = subprocess.Popen(cli_command("undo", "--no-progress"), stdin=slave, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, text=True)
        os.close(slave)
        os.write(master, answer.encode() + b"\n")
        out, err = proc.communicate(timeout=60)
        os.close(master)
        assert proc.returncode == 0, (out, err)
        return out + err

    text = undo_answering("n")
    assert "Unarchive 2 chats? [y/N]" in text and "Nothing was changed" in text
    assert account.calls("unarchiveChat") == []
    undo_answering("y")
    assert {c["chatId"] for c in account.calls("unarchiveChat")} == groups
    assert not groups & account.archived_ids()

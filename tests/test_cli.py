"""greenapi-excel archive/unarchive/check as real processes, against the sandbox over loopback,
on real workbook files read back with openpyxl."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from pathlib import Path

import openpyxl
from cli_helpers import cli_command, run_cli as run_process, sandbox_env
import pytest

CHATS = [
    {"id": "79001234567@c.us", "name": "Anna", "incoming": 3},
    {"id": "79001234568@c.us", "name": "Boris", "incoming": 1},
    {"id": "79001234569@c.us", "name": "Vera", "incoming": 2},
    {"id": "4917012345670@c.us", "name": "Jonas", "incoming": 5},
    {"id": "77011234567@c.us", "name": "Aigerim", "incoming": 1},
    {"id": "447911123456@c.us", "name": "Oliver", "incoming": 0},
    {"id": "12025550123@c.us", "name": "Emily", "incoming": 1, "archive": True},
    {"id": "120363043968066561@g.us", "name": "Team", "incoming": 9},
    {"id": "79001234567-1581234048@g.us", "name": "Old group", "incoming": 4},
]


def run_cli(*args, env=None, timeout=120, check_code=None):
    proc = run_process(*args, env=env, timeout=timeout)
    if check_code is not None:
        assert proc.returncode == check_code, (proc.returncode, proc.stdout, proc.stderr)
    return proc


@pytest.fixture
def env_for(tmp_path):
    def make(sandbox, **extra):
        return sandbox_env(sandbox, tmp_path, **extra)
    return make


def make_book(path: Path, values, header="Chat ID", extra_columns=None) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Chats"
    ws.append([header] + list((extra_columns or {}).keys()))
    for i, value in enumerate(values):
        row = [value] + [col[i] if i < len(col) else None for col in (extra_columns or {}).values()]
        ws.append(row)
        if isinstance(value, str) and value.startswith("="):
            ws.cell(ws.max_row, 1).data_type = "s"  # pasted text that looks like a formula, not a formula
    wb.save(path)
    return path


def results(path: Path, first_col=2):
    ws = openpyxl.load_workbook(path).active
    out = {}
    for r in range(2, ws.max_row + 1):
        out[r] = tuple(ws.cell(r, c).value for c in range(first_col, first_col + 3))
    return out, [ws.cell(1, c).value for c in range(1, ws.max_column + 1)]


def test_messy_column_gets_honest_statuses(make_sandbox, env_for, tmp_path):
    values = [
        79001234567,                     # int
        79001234568.0,                   # float, as Excel gives numbers
        " +7 (900) 123-45-69 ",          # text with brackets, dashes, spaces
        "00 49 170 1234567 0",           # leading 00
        "77011234567@c.us",              # ready chat ID
        "120363043968066561@g.us",       # group
        "79001234567-1581234048@g.us",   # old group
        "+7 900 123-45-67",              # duplicate of row 2
        None,                            # empty: skipped
        "8 (900) 123-45-67",             # local number without --region
        "hello",                         # text
        True,                            # boolean
        dt.datetime(2026, 1, 2),         # date
        1.2036304396806656e17,           # a group ID that lost digits
        "+44 7911 123456",               # no incoming messages
        "+1 202-555-0123",               # already archived
        "+49 30 12345678",               # valid number, no such chat
    ]
    with make_sandbox(chats=CHATS, rps=1000, read_rps=1000) as sandbox:
        book = make_book(tmp_path / "messy.xlsx", values)
        proc = run_cli("archive", book, "--no-progress", env=env_for(sandbox), check_code=1)
        got, header = results(book)
        archived = sandbox.archived_ids()
    assert header[:4] == ["Chat ID", "Status", "Details", "Updated"]
    status = {r: v[0] for r, v in got.items()}
    for row in (2, 3, 4, 5, 6, 7, 8):
        assert status[row] == "Archived", (row, got[row])
    assert status[9] == "Duplicate" and "row 2" in got[9][1]
    assert got[10] == (None, None, None)
    for row in (11, 12, 13, 14, 15):
        assert status[row] == "Invalid chat ID", (row, got[row])
    assert "region" in got[11][1].lower()
    assert "text" in got[15][1].lower()          # "format the column as Text"
    assert status[16] == "No incoming messages"
    assert status[17] == "Already archived"
    assert status[18] == "Chat not found"
    assert all(isinstance(v[2], dt.datetime) for r, v in got.items() if v[0])
    assert {"79001234567@c.us", "4917012345670@c.us", "120363043968066561@g.us"} <= archived
    assert sandbox.token not in proc.stdout + proc.stderr
    assert "Archived" in proc.stdout and "Total" in proc.stdout


def test_rerun_calls_nothing_finished(make_sandbox, env_for, tmp_path):
    with make_sandbox(chats=CHATS, rps=1000, read_rps=1000) as sandbox:
        book = make_book(tmp_path / "b.xlsx", ["79001234567", "79001234568", "+1 202 555 0123", "447911123456"])
        env = env_for(sandbox)
        run_cli("archive", book, "--no-progress", env=env, check_code=1)
        first = len(sandbox.calls("archiveChat"))
        proc = run_cli("archive", book, "--no-progress", env=env, check_code=1)
        second = len(sandbox.calls("archiveChat")) - first
    assert first == 4
    assert second == 1  # only the "No incoming messages" row is tried again
    got, _ = results(book)
    assert [v[0] for v in got.values()] == ["Archived", "Archived", "Already archived", "No incoming messages"]
    assert "done earlier" in proc.stderr


def test_dry_run_changes_nothing(make_sandbox, env_for, tmp_path):
    with make_sandbox(chats=CHATS, rps=1000, read_rps=1000) as sandbox:
        book = make_book(tmp_path / "d.xlsx", ["79001234567", "+1 202 555 0123", "+49 30 12345678", "bad"])
        run_cli("archive", book, "--dry-run", "--no-progress", env=env_for(sandbox), check_code=1)
        assert sandbox.calls("archiveChat") == []
        assert len(sandbox.calls("getChats")) == 1
        assert sandbox.archived_ids() == {"12025550123@c.us"}
    got, _ = results(book)
    assert [v[0] for v in got.values()] == ["Would archive", "Already archived", "Chat not found", "Invalid chat ID"]


@pytest.mark.parametrize("what", ["token", "instance"])
def test_wrong_credentials_stop_before_any_change(make_sandbox, env_for, tmp_path, what):
    with make_sandbox(chats=CHATS, rps=1000, read_rps=1000) as sandbox:
        book = make_book(tmp_path / "w.xlsx", ["79001234567", "79001234568", "x"])
        env = env_for(sandbox)
        if what == "token":
            env["GREENAPI_API_TOKEN_INSTANCE"] = "0" * 50
        else:
            env["GREENAPI_ID_INSTANCE"] = "1101999999"
        proc = run_cli("archive", book, "--no-progress", env=env, check_code=2)
        assert sandbox.calls("archiveChat") == []
    assert proc.stderr.count("\n") <= 4 and "Traceback" not in proc.stderr
    assert ("401" in proc.stderr or "token" in proc.stderr.lower()) if what == "token" else True
    got, _ = results(book)
    assert [v[0] for v in got.values()] == ["Not run", "Not run", "Invalid chat ID"]
    assert "0" * 50 not in proc.stdout + proc.stderr


def test_quota_exceeded_stops_the_run(make_sandbox, env_for, tmp_path):
    ids = [f"7900123{i:04d}" for i in range(12)]
    chats = [{"id": f"{i}@c.us"} for i in ids]
    with make_sandbox(chats=chats, rps=1000, read_rps=1000, quota=3) as sandbox:
        book = make_book(tmp_path / "q.xlsx", ids)
        run_cli("archive", book, "--no-progress", env=env_for(sandbox), check_code=1)
        archived = sandbox.archived_ids()
    got, _ = results(book)
    words = [v[0] for v in got.values()]
    assert words.count("Archived") == 3 == len(archived)
    assert words.count("Quota exceeded") >= 1
    assert set(words) <= {"Archived", "Quota exceeded", "Not run"}
    quota_details = [v[1] for v in got.values() if v[0] == "Quota exceeded"][0]
    assert quota_details  # GREEN-API's own explanation


def test_results_never_overwrite_the_analysts_columns(make_sandbox, env_for, tmp_path):
    with make_sandbox(chats=CHATS, rps=1000, read_rps=1000) as sandbox:
        book = make_book(tmp_path / "own.xlsx", ["79001234567", "79001234568"],
                         extra_columns={"Owner": ["Kate", "Max"], "Note": ["vip", ""]})
        proc = run_cli("archive", book, "--no-progress", env=env_for(sandbox), check_code=0)
    ws = openpyxl.load_workbook(book).active
    assert [ws.cell(1, c).value for c in range(1, 7)] == ["Chat ID", "Owner", "Note", "Status", "Details", "Updated"]
    assert ws["B2"].value == "Kate" and ws["C2"].value == "vip"
    assert ws["D2"].value == "Archived" and ws["D3"].value == "Archived"
    assert "columns D:F" in proc.stdout and "D:F" in proc.stderr  # the summary and the placement note say where


def test_out_leaves_the_original_untouched(make_sandbox, env_for, tmp_path):
    with make_sandbox(chats=CHATS, rps=1000, read_rps=1000) as sandbox:
        book = make_book(tmp_path / "in.xlsx", ["79001234567"])
        before = book.read_bytes()
        run_cli("archive", book, "--out", tmp_path / "out.xlsx", "--no-progress", env=env_for(sandbox), check_code=0)
    assert book.read_bytes() == before
    got, _ = results(tmp_path / "out.xlsx")
    assert got[2][0] == "Archived"


def test_unarchive_mirrors_archive(make_sandbox, env_for, tmp_path):
    with make_sandbox(chats=CHATS, rps=1000, read_rps=1000) as sandbox:
        book = make_book(tmp_path / "u.xlsx", ["12025550123", "79001234567"])
        run_cli("unarchive", book, "--no-progress", env=env_for(sandbox), check_code=0)
        assert sandbox.archived_ids() == set()
    got, _ = results(book)
    assert [v[0] for v in got.values()] == ["Unarchived", "Already unarchived"]


def test_formula_text_from_input_and_server_stays_text(make_sandbox, env_for, tmp_path):
    evil = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3"]
    with make_sandbox(chats=CHATS, rps=1000, read_rps=1000) as sandbox:
        book = make_book(tmp_path / "f.xlsx", ["79001234567"] + evil)
        run_cli("archive", book, "--no-progress", env=env_for(sandbox), check_code=1)
    import zipfile

    with zipfile.ZipFile(book) as z:
        sheet_xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml and "<f " not in sheet_xml
    got, _ = results(book)
    for row in range(3, 3 + len(evil)):
        assert got[row][0] == "Invalid chat ID"
        assert not str(got[row][1]).startswith(("=", "+", "-", "@"))


def test_missing_credentials_is_one_clear_line(tmp_path, env_for):
    book = make_book(tmp_path / "c.xlsx", ["79001234567"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENAPI_")}
    env["GREENAPI_CONFIG"] = str(tmp_path / "none.ini")
    env["GREENAPI_JOURNAL"] = str(tmp_path / "j.sqlite3")
    proc = run_cli("archive", book, "--no-progress", env=env, check_code=2)
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "GREENAPI_ID_INSTANCE" in proc.stderr or "idInstance" in proc.stderr


def test_refused_api_url_and_unreadable_book(tmp_path, env_for, make_sandbox):
    with make_sandbox(chats=CHATS) as sandbox:
        env = env_for(sandbox, GREENAPI_API_URL="http://example.com")
        book = make_book(tmp_path / "r.xlsx", ["79001234567"])
        proc = run_cli("archive", book, env=env, check_code=2)
        assert "https" in proc.stderr and "Traceback" not in proc.stderr
        (tmp_path / "x.csv").write_text("Chat ID\n79001234567\n")
        proc = run_cli("archive", tmp_path / "x.csv", env=env_for(sandbox), check_code=2)
        assert "Traceback" not in proc.stderr and proc.stderr.strip()
        proc = run_cli("archive", tmp_path / "nope.xlsx", env=env_for(sandbox), check_code=2)
        assert "Traceback" not in proc.stderr


def test_check_command(make_sandbox, env_for):
    with make_sandbox(chats=CHATS, read_rps=1000) as sandbox:
        proc = run_cli("check", env=env_for(sandbox), check_code=0)
        assert "authorized" in proc.stdout
        assert sandbox.token not in proc.stdout + proc.stderr
    with make_sandbox(chats=CHATS, read_rps=1000, state_instance="notAuthorized") as sandbox:
        proc = run_cli("check", env=env_for(sandbox), check_code=2)
        assert "notAuthorized" in proc.stdout + proc.stderr


def test_kill_mid_run_then_rerun_repeats_at_most_the_calls_in_flight(make_sandbox, env_for, tmp_path):
    ids = [f"7900200{i:04d}" for i in range(60)]
    chats = [{"id": f"{i}@c.us"} for i in ids]
    with make_sandbox(chats=chats, rps=20, read_rps=1000, latency_ms=100) as sandbox:
        book = make_book(tmp_path / "k.xlsx", ids)
        env = env_for(sandbox)
        proc = subprocess.Popen(cli_command("archive", book, "--no-progress"),
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while len(sandbox.calls("archiveChat")) < 25 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        sent_before_kill = len(sandbox.calls("archiveChat"))
        time.sleep(0.5)  # let the in-flight requests land
        openpyxl.load_workbook(book)  # never half written
        run_cli("archive", book, "--no-progress", env=env, check_code=0)
        per_chat = {}
        for entry in sandbox.calls("archiveChat"):
            per_chat[entry["chatId"]] = per_chat.get(entry["chatId"], 0) + 1
        assert sandbox.archived_ids() == {f"{i}@c.us" for i in ids}
    repeated = sum(n - 1 for n in per_chat.values())
    assert sent_before_kill >= 25
    assert repeated <= 32  # at most the calls that were in flight at the kill
    got, _ = results(book)
    assert all(v[0] == "Archived" for v in got.values()), got


def test_xlsm_updated_in_place_keeps_vba_and_ribbon(make_sandbox, env_for, tmp_path):
    import shutil
    import zipfile

    source = Path(__file__).resolve().parents[1] / "GreenApi.xlsm"
    if not source.exists():
        pytest.fail("GreenApi.xlsm is missing: build it with python -m greenapi_excel.workbook.build")
    book = tmp_path / "GreenApi.xlsm"
    shutil.copy(source, book)
    with zipfile.ZipFile(book) as z:
        before = {n: z.read(n) for n in z.namelist() if "vbaProject" in n or n.startswith("customUI")}
    with make_sandbox(chats=CHATS, rps=1000, read_rps=1000) as sandbox:
        run_cli("archive", book, "--sheet", "Chats", "--no-progress", env=env_for(sandbox))
    with zipfile.ZipFile(book) as z:
        after = {n: z.read(n) for n in z.namelist() if "vbaProject" in n or n.startswith("customUI")}
        rels = z.read("_rels/.rels").decode()
    assert before and after == before
    assert "ui/extensibility" in rels
    wb = openpyxl.load_workbook(book, keep_vba=True)
    ws = wb["Chats"]
    assert ws.cell(1, 2).value == "Status"
    assert any(ws.cell(r, 2).value for r in range(2, ws.max_row + 1))


def test_ctrl_c_stops_promptly_and_keeps_what_finished(make_sandbox, env_for, tmp_path):
    ids = [f"7900300{i:04d}" for i in range(80)]
    with make_sandbox(chats=[{"id": f"{i}@c.us"} for i in ids], rps=1000, read_rps=1000, latency_ms=100) as sandbox:
        book = make_book(tmp_path / "c.xlsx", ids)
        # A shell that runs us in the background ignores SIGINT for its children: give it back, as a terminal would.
        proc = subprocess.Popen(cli_command("archive", book, "--no-progress"), env=env_for(sandbox),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 30
        while len(sandbox.calls("archiveChat")) < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)  # not the 6 seconds the other 60 chats would take
        on_server = sandbox.archived_ids()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    got, _ = results(book)
    archived_rows = {ids[r - 2] + "@c.us" for r, v in got.items() if v[0] == "Archived"}
    assert len(archived_rows) >= 10
    assert archived_rows <= on_server            # nothing claimed that did not happen
    assert len(on_server) < len(ids)             # it really stopped


def test_results_are_saved_as_the_run_goes(make_sandbox, env_for, tmp_path):
    ids = [f"7900400{i:04d}" for i in range(40)]
    with make_sandbox(chats=[{"id": f"{i}@c.us"} for i in ids], rps=1000, read_rps=1000) as sandbox:
        book = make_book(tmp_path / "s.xlsx", ids)
        proc = subprocess.Popen(cli_command("archive", book, "--no-progress", "--rate", "4"), env=env_for(sandbox),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            saved = []
            while proc.poll() is None and time.monotonic() < deadline and not saved:
                time.sleep(0.25)
                got, _ = results(book)
                saved = [r for r, v in got.items() if v[0] == "Archived"]
            assert proc.poll() is None, "the run ended before any save could be seen"
            assert saved  # the book on disk already holds finished rows while the run goes on
        finally:
            proc.wait(timeout=60)
    assert proc.returncode == 0


# --- one rule for the region and the chat column, as the ribbon has them ------------------------

def book_with_settings(path: Path, chat_rows, settings: dict) -> Path:
    """A Chats sheet and a Settings sheet (labels in A, values in B), as GreenApi.xlsm has them."""
    wb = openpyxl.Workbook()
    wb.active.title = "Chats"
    for row in chat_rows:
        wb.active.append(row)
    sheet = wb.create_sheet("Settings")
    sheet.append(["Setting", "Value"])
    for label, value in settings.items():
        sheet.append([label, value])
    wb.save(path)
    return path


def test_region_on_the_books_settings_sheet_counts_on_the_command_line(make_sandbox, env_for, tmp_path):
    book = book_with_settings(tmp_path / "r.xlsx", [["Chat ID"], ["8 (900) 123-45-67"]],
                              {"apiUrl": None, "region": "RU", "chat column": None})
    with make_sandbox(chats=CHATS, rps=1000, read_rps=1000) as sandbox:
        run_cli("archive", book, "--no-progress", env=env_for(sandbox), check_code=0)
        assert "79001234567@c.us" in sandbox.archived_ids()
    got, _ = results(book)
    assert got[2][0] == "Archived"


def test_region_flag_then_environment_then_sheet(make_sandbox, env_for, tmp_path):
    rows = [["Chat ID"], ["8 (900) 123-45-67"]]
    with make_sandbox(chats=CHATS, rps=1000, read_rps=1000) as sandbox:
        book = book_with_settings(tmp_path / "e.xlsx", rows, {"region": "DE"})
        run_cli("archive", book, "--no-progress", env=env_for(sandbox, GREENAPI_REGION="RU"), check_code=0)
        assert results(book)[0][2][0] == "Archived"
        book = book_with_settings(tmp_path / "f.xlsx", rows, {"region": "RU"})
        run_cli("unarchive", book, "--no-progress", "--region", "DE", env=env_for(sandbox, GREENAPI_REGION="RU"))
        assert results(book)[0][2][0] != "Unarchived"   # the flag read it as a German number
        proc = run_cli("archive", book, "--no-progress", env=env_for(sandbox, GREENAPI_REGION="XX"), check_code=2)
        assert "GREENAPI_REGION" in proc.stderr and "Traceback" not in proc.stderr


def test_a_chat_column_on_the_books_settings_sheet_counts_on_the_command_line(make_sandbox, env_for, tmp_path):
    book = book_with_settings(tmp_path / "c.xlsx", [["Name", "Mobile"], ["Anna", "79001234567"]],
                              {"chat column": "Mobile"})
    with make_sandbox(chats=CHATS, rps=1000, read_rps=1000) as sandbox:
        run_cli("archive", book, "--no-progress", env=env_for(sandbox), check_code=0)
    got, header = results(book, first_col=3)
    assert header == ["Name", "Mobile", "Status", "Details", "Updated"] and got[2][0] == "Archived"


@pytest.mark.parametrize("value", ["0", "-5", "nan", "soon"])
def test_a_timeout_that_is_not_positive_is_a_usage_error(tmp_path, env_for, sandbox, value):
    book = make_book(tmp_path / "t.xlsx", ["79001234567"])
    proc = run_cli("archive", book, "--no-progress", "--timeout", value, env=env_for(sandbox))
    assert proc.returncode == 2, proc.stderr
    assert "--timeout" in proc.stderr and "above 0" in proc.stderr, proc.stderr
    assert "apiUrl" not in proc.stderr
    assert sandbox.calls() == []

"""Hostile cells, hostile sheets and hostile servers: nothing crashes, every non-empty row gets a status,
and every cell written stays short plain text without control characters or the token."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import tempfile
import zipfile
from pathlib import Path

import openpyxl
from cli_helpers import run_cli as run_process, sandbox_env
import pytest
from hypothesis import HealthCheck, given, settings, strategies as hs

from greenapi_excel import statuses as st
from hostile_server import HostileServer

TOKEN = "9f3c2b1a0d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071"
ID_INSTANCE = "1101000001"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
EXCEL_ERRORS = ("#N/A", "#VALUE!", "#REF!", "#DIV/0!", "#NUM!", "#NAME?", "#NULL!", "#SPILL!", "#CALC!",
                "#GETTING_DATA")


def cell_values():
    return hs.deferred(_cell_values)   # chat_ids is imported when the test runs, not at collection


def _cell_values():
    from greenapi_excel import chat_ids

    text = hs.text(alphabet=hs.characters(codec="utf-8"), max_size=60)
    phoneish = hs.from_regex(r"\A[+0 ]{0,3}[0-9 ()\-]{5,22}(@[cg]\.us)?\Z")
    rtl_and_emoji = hs.sampled_from(["\u202e79001234567", "مرحبا 79001234567", "📱+7 900 123-45-67", "\u200f"])
    return hs.one_of(
        hs.none(), text, phoneish, rtl_and_emoji,
        hs.integers(min_value=-(10 ** 30), max_value=10 ** 30),
        hs.floats(allow_nan=True, allow_infinity=True),
        hs.booleans(), hs.datetimes(), hs.dates(), hs.times(),
        hs.sampled_from([chat_ids.CellError(code) for code in EXCEL_ERRORS] + [chat_ids.FORMULA_WITHOUT_VALUE]),
        hs.just("7" * 32767), hs.just("\x00\x07\x1b[31m\r\n\t"),
        hs.sampled_from(['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3"]),
    )


def assert_plain_cell_text(text: object) -> None:
    if text is None or isinstance(text, (dt.datetime, dt.date)):
        return
    assert isinstance(text, str), repr(text)
    assert len(text) <= 500, len(text)
    assert not CONTROL.search(text), repr(text)
    # Formula-like text stays whole (never cut to avoid a formula): a file's cells hold it as a string, never
    # in <f> (the callers check the XML), and a live cell gets an apostrophe (results.formula_safe).
    assert TOKEN not in text


# --- cells -------------------------------------------------------------------------------------

@settings(max_examples=400, deadline=None)
@given(cell_values())
def test_parse_cell_never_crashes_and_explains_itself(value):
    from greenapi_excel import chat_ids

    parsed = chat_ids.parse_cell(value)
    if value is None:
        assert parsed.empty
    if parsed.empty:
        return
    if parsed.chat_id is not None:
        assert re.fullmatch(r"\d{5,20}@c\.us|\d{5,20}(-\d{5,20})?@g\.us", parsed.chat_id), parsed
    else:
        assert parsed.reason
        assert_plain_cell_text(parsed.reason)


@settings(max_examples=300, deadline=None)
@given(cell_values(), hs.sampled_from([None, "RU", "DE", "KZ", "US"]))
def test_parse_cell_with_a_region_never_crashes(value, region):
    from greenapi_excel import chat_ids

    parsed = chat_ids.parse_cell(value, region)
    assert parsed.empty or parsed.chat_id or parsed.reason


@pytest.fixture(scope="module")
def shared_sandbox():
    from greenapi_excel.sandbox import Sandbox

    # 7900123xxxx for the hypothesis runs, 7900124xxxx for the sheet tests: neither sees the other's work.
    chats = [{"id": f"790012{p}{i:04d}@c.us", "incoming": 1} for p in (3, 4) for i in range(40)]
    with Sandbox(chats, rps=5000, read_rps=5000, api_token=TOKEN, id_instance=ID_INSTANCE) as sandbox:
        yield sandbox


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hs.lists(hs.one_of(cell_values(), hs.sampled_from([f"7900123{i:04d}" for i in range(40)])),
                min_size=1, max_size=12))
def test_a_whole_run_over_any_cells_gives_every_non_empty_row_a_status(shared_sandbox, values):
    from greenapi_excel import chat_ids, methods, run as running
    from greenapi_excel.client import Credentials, GreenApiClient
    from greenapi_excel.journal import Journal

    cells = [(row, value) for row, value in enumerate(values, start=2)]
    non_empty = {row for row, value in cells if not chat_ids.parse_cell(value).empty}
    planned = running.plan(cells, method=methods.ARCHIVE)
    got = []
    with tempfile.TemporaryDirectory() as folder:
        journal = Journal(Path(folder) / "j.sqlite3")
        credentials = Credentials(shared_sandbox.api_url, ID_INSTANCE, TOKEN)
        with GreenApiClient(credentials, rate=5000, read_rate=5000, timeout=(2.0, 5.0)) as client:
            summary = running.run(planned, client, journal, on_results=got.extend, workers=4, block_seconds=0.05)
        journal.close()
    rows = [r.row for r in got]
    assert sorted(rows) == sorted(non_empty), (rows, non_empty)
    for result in got:
        assert result.status in st.ALL
        assert result.status != st.FAILED, result
        assert_plain_cell_text(result.details)
    assert summary.stopped is None


# --- sheets -------------------------------------------------------------------------------------

env_for = sandbox_env


def run_cli(*args, env, timeout=90) -> subprocess.CompletedProcess:
    proc = run_process(*args, env=env, timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


IDS = [f"7900124{i:04d}" for i in range(40)]


def fresh_book(path: Path, values=IDS[:4], header="Chat ID"):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Chats"
    if header is not None:
        ws.append([header])
    for value in values:
        ws.append([value])
    return wb, ws


def one_clear_error(proc) -> str:
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def test_a_book_without_a_header_row_loses_no_chat(shared_sandbox, tmp_path):
    wb, ws = fresh_book(tmp_path / "nohead.xlsx", IDS[:4], header=None)
    wb.save(tmp_path / "nohead.xlsx")
    before = (tmp_path / "nohead.xlsx").read_bytes()
    proc = run_cli("archive", tmp_path / "nohead.xlsx", "--no-progress", env=env_for(shared_sandbox, tmp_path))
    ws = openpyxl.load_workbook(tmp_path / "nohead.xlsx").active
    if proc.returncode == 2:      # refused: say so, change nothing
        assert "header" in one_clear_error(proc).lower()
        assert (tmp_path / "nohead.xlsx").read_bytes() == before
    else:                         # ran: the first row's chat was not swallowed as a header
        assert ws["A1"].value == IDS[0]
        assert f"{IDS[0]}@c.us" in shared_sandbox.archived_ids() or "header" in (proc.stdout + proc.stderr).lower()
        assert all(ws.cell(r, 2).value for r in range(2, 5))


def test_an_empty_chat_column_says_so(shared_sandbox, tmp_path):
    wb, _ = fresh_book(tmp_path / "empty.xlsx", [])
    wb.save(tmp_path / "empty.xlsx")
    proc = run_cli("archive", tmp_path / "empty.xlsx", "--no-progress", env=env_for(shared_sandbox, tmp_path))
    assert proc.returncode in (0, 2), proc.stderr
    said = (proc.stdout + proc.stderr).lower()
    assert "0 rows" in said or "no chat" in said or "empty" in said, said
    openpyxl.load_workbook(tmp_path / "empty.xlsx")


def test_a_stray_cell_on_the_last_row_of_excel(shared_sandbox, tmp_path):
    wb, ws = fresh_book(tmp_path / "stray.xlsx", IDS[4:8])
    ws.cell(1_048_576, 1, "stray")      # the used range now reaches Excel's last row
    wb.save(tmp_path / "stray.xlsx")
    proc = run_cli("archive", tmp_path / "stray.xlsx", "--no-progress", env=env_for(shared_sandbox, tmp_path),
                   timeout=60)
    assert proc.returncode == 1, proc.stderr   # "stray" is an invalid chat ID
    wb = openpyxl.load_workbook(tmp_path / "stray.xlsx", read_only=True)
    ws = wb.active
    got = {r[0].row: (r[0].value, r[1].value) for r in ws.iter_rows(min_row=2, max_col=2) if r[0].value is not None}
    assert [s for _, s in got.values()][:4] == ["Archived"] * 4
    assert got[1_048_576] == ("stray", "Invalid chat ID")
    wb.close()


def test_merged_cells_in_the_chat_and_result_columns(shared_sandbox, tmp_path):
    wb, ws = fresh_book(tmp_path / "merged.xlsx", IDS[8:13])
    ws.merge_cells("A3:A4")           # a chat merged over two rows
    ws.merge_cells("B5:D5")           # the result cells of one row merged (someone's banner)
    wb.save(tmp_path / "merged.xlsx")
    before = (tmp_path / "merged.xlsx").read_bytes()
    proc = run_cli("archive", tmp_path / "merged.xlsx", "--no-progress", env=env_for(shared_sandbox, tmp_path))
    if proc.returncode == 2:
        assert "merged" in one_clear_error(proc).lower()
        assert (tmp_path / "merged.xlsx").read_bytes() == before
        return
    ws = openpyxl.load_workbook(tmp_path / "merged.xlsx").active
    status_column = [c for c in range(2, ws.max_column + 1) if ws.cell(1, c).value == "Status"][0]
    for row, chat in ((2, IDS[8]), (3, IDS[9]), (5, IDS[11]), (6, IDS[12])):
        assert ws.cell(row, 1).value == chat
        assert ws.cell(row, status_column).value == "Archived" or f"{chat}@c.us" in shared_sandbox.archived_ids()
        assert ws.cell(row, status_column).value, (row, proc.stdout, proc.stderr)


@pytest.mark.parametrize("how", ["hidden", "protected"])
def test_hidden_or_protected_sheet(shared_sandbox, tmp_path, how):
    wb, ws = fresh_book(tmp_path / f"{how}.xlsx", IDS[14:17] if how == "hidden" else IDS[17:20])
    wb.create_sheet("Visible", 0)
    if how == "hidden":
        ws.sheet_state = "hidden"
    else:
        ws.protection.sheet = True
        ws.protection.password = "secret"
    path = tmp_path / f"{how}.xlsx"
    wb.save(path)
    before = path.read_bytes()
    proc = run_cli("archive", path, "--sheet", "Chats", "--no-progress", env=env_for(shared_sandbox, tmp_path))
    if proc.returncode == 2:
        assert how in one_clear_error(proc).lower()
        assert path.read_bytes() == before
        return
    assert proc.returncode == 0, proc.stderr
    wb = openpyxl.load_workbook(path)
    ws = wb["Chats"]
    assert [ws.cell(r, 2).value for r in range(2, 5)] == ["Archived"] * 3
    assert wb["Visible"].title == "Visible" and wb.sheetnames == ["Visible", "Chats"]
    if how == "hidden":
        assert ws.sheet_state == "hidden"           # the book keeps its shape
    else:
        assert ws.protection.sheet                  # and its protection


@pytest.mark.parametrize("name,content", [
    ("old.xls", bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 504),   # an OLE2 (Excel 97-2003) header
    ("list.csv", "Chat ID\n79001234567\n".encode()),
    ("fake.xlsx", b"this is not a zip"),
])
def test_a_file_that_is_not_an_xlsx_is_refused_clearly(shared_sandbox, tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    proc = run_cli("archive", path, "--no-progress", env=env_for(shared_sandbox, tmp_path))
    assert proc.returncode == 2
    line = one_clear_error(proc)
    assert name in line or ".xlsx" in line, line
    assert path.read_bytes() == content


# --- hostile servers ------------------------------------------------------------------------------

HOSTILE_BODIES = {
    "formula": (400, '=HYPERLINK("http://evil.invalid","click me")'),
    "pipe": (400, "+cmd|' /C calc'!A0"),
    "at": (400, "@SUM(1+1)*cmd|' /C calc'!A0"),
    "minus": (400, "-2+3"),
    "huge": (400, "A" * 40_000),
    "html": (500, "<html><head><title>502</title></head><body><h1>Bad\tGateway</h1>\n<script>x</script></body></html>"),
    "control": (400, "bad\x00chat\x07\x1b[31mred\r\nline\u2028sep\x7f"),
    "json": (400, '{"error": [1, 2, {"nested": "\u0000"}'),
    "echo": None,   # the request URL, token and all
}


def _by_chat(verb, path, body, *, url=""):
    """archiveChat answers from HOSTILE_BODIES by chat; getContactInfo answers invalid JSON."""
    method = path.split("/")[2] if path.count("/") >= 3 else ""
    if method == "getStateInstance":
        return 200, {"Content-Type": "application/json"}, b'{"stateInstance": "authorized"}'
    if method == "getContactInfo":
        return 200, {"Content-Type": "application/json"}, b'{"isArchive": tru'
    if method == "getChats":
        return 200, {"Content-Type": "application/json"}, b"[=cmd|"
    try:
        chat = json.loads(body)["chatId"]
    except (ValueError, KeyError, TypeError):
        return 400, {}, b"?"
    name = list(HOSTILE_BODIES)[int(chat.split("@")[0][-2:]) % len(HOSTILE_BODIES)]
    reply = HOSTILE_BODIES[name]
    if reply is None:
        reply = (400, f"Error at {url}: =cmd")
    status, text = reply
    return status, {"Content-Type": "text/html" if "html" in text else "text/plain"}, text.encode("utf-8")


_by_chat.wants_url = True  # type: ignore[attr-defined]


def test_a_hostile_server_cannot_put_formulas_junk_or_the_token_in_cells(tmp_path):
    ids = [f"790012300{i:02d}" for i in range(len(HOSTILE_BODIES))]
    book = tmp_path / "hostile.xlsx"
    wb, _ = fresh_book(book, ids)
    wb.save(book)
    with HostileServer(_by_chat) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GREENAPI_")}
        env.update({"GREENAPI_API_URL": server.url, "GREENAPI_ID_INSTANCE": ID_INSTANCE,
                    "GREENAPI_API_TOKEN_INSTANCE": TOKEN, "GREENAPI_JOURNAL": str(tmp_path / "j.sqlite3"),
                    "GREENAPI_CONFIG": str(tmp_path / "c.ini"), "PYTHONIOENCODING": "utf-8"})
        proc = run_cli("archive", book, "--no-progress", "--timeout", 1, env=env, timeout=120)
        assert any(TOKEN in path for _, path in server.requests)
    assert proc.returncode == 1, proc.stderr
    assert TOKEN not in proc.stdout + proc.stderr
    with zipfile.ZipFile(book) as z:
        for name in z.namelist():
            xml = z.read(name).decode("utf-8", "replace")
            assert TOKEN not in xml, name
            if name.startswith("xl/worksheets/"):
                assert "<f>" not in xml and "<f " not in xml, name
    ws = openpyxl.load_workbook(book).active
    for row in range(2, 2 + len(ids)):
        status, details = ws.cell(row, 2).value, ws.cell(row, 3).value
        assert status in (st.FAILED, st.CHAT_NOT_FOUND, st.NO_INCOMING), (row, status, details)
        assert ws.cell(row, 2).data_type == "s" and ws.cell(row, 3).data_type == "s"
        assert_plain_cell_text(status)
        assert_plain_cell_text(details)

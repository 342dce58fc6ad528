"""Load chats into a book file (``greenapi-excel chats BOOK``) through the streaming writer: a new sheet is
added, or the chat list refreshed in place, and every other part of the book stays byte for byte.

Real CLI processes against the sandbox; books written by XlsxWriter (with a picture, a chart, a comment,
sparklines, data validation, a dynamic array, a VBA project) and read back with zipfile, openpyxl and
LibreOffice. The choice of sheet and the look are chatlist's pure rules, tested here too.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from book_helpers import SOFFICE, libreoffice_csv, well_formed
from cli_helpers import run_cli, sandbox_env
from test_books import xlsxwriter_book

from greenapi_excel import chatlist, i18n
from greenapi_excel.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CHATS = [{"id": f"7900126{i:04d}@c.us", "name": f"Client {i}", "incoming": 1} for i in range(6)] + [
    {"id": "120363000000000001@g.us", "name": "Team", "incoming": 2, "archive": True}]
LISTED = {"[Content_Types].xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/styles.xml"}


def parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {info.filename: z.read(info.filename) for info in z.infolist()}


@pytest.fixture
def account(make_sandbox, tmp_path):
    sandbox = make_sandbox(CHATS, rps=1000, read_rps=1000)
    return sandbox, sandbox_env(sandbox, tmp_path)


def _vba(tmp_path: Path) -> Path:
    vba = tmp_path / "vbaProject.bin"
    with zipfile.ZipFile(ROOT / "GreenApi.xlsm") as z:
        vba.write_bytes(z.read("xl/vbaProject.bin"))
    return vba


@pytest.mark.parametrize("name", ["rich.xlsx", "macro.xlsm"])
def test_a_new_chat_list_sheet_joins_the_book_and_every_other_part_stays(account, tmp_path, name):
    sandbox, env = account
    book = xlsxwriter_book(tmp_path / name, vba=_vba(tmp_path) if name.endswith(".xlsm") else None)
    before = parts(book)
    proc = run_cli("chats", book, env=env)
    assert proc.returncode == 0, proc.stderr
    after = parts(book)
    added = [part for part in after if part not in before]
    assert added == ["xl/worksheets/sheet4.xml"] and list(after)[:len(before)] == list(before)
    changed = {part for part in before if before[part] != after[part]}
    assert changed <= LISTED and {"xl/workbook.xml", "xl/_rels/workbook.xml.rels", "[Content_Types].xml"} <= changed
    assert b"/xl/worksheets/sheet4.xml" in after["[Content_Types].xml"]
    assert b'Target="worksheets/sheet4.xml"' in after["xl/_rels/workbook.xml.rels"]
    assert re.search(rb'<sheet name="Chat list" sheetId="4" r:id="rId\d+"/></sheets>', after["xl/workbook.xml"])
    assert well_formed(book) == []
    wb = openpyxl.load_workbook(book, keep_vba=name.endswith(".xlsm"))
    assert wb.sheetnames == ["Chats", "Data", "Lists", "Chat list"]


def test_the_first_load_chooses_the_chat_list_sheet_by_the_rule(account, tmp_path):
    """XlsxWriter's book has its own Chats sheet (the analyst's list): the load goes to Chat list."""
    sandbox, env = account
    book = xlsxwriter_book(tmp_path / "own.xlsx")
    before = parts(book)
    proc = run_cli("chats", book, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "sheet Chat list" in proc.stdout
    wb = openpyxl.load_workbook(book)
    assert wb.sheetnames == ["Chats", "Data", "Lists", "Chat list"]
    ws = wb["Chat list"]
    assert [c.value for c in ws[1]] == list(chatlist.HEADERS)
    assert {ws.cell(r, 1).value for r in range(2, 9)} == {c["id"] for c in CHATS}
    after = parts(book)
    assert {p for p in before if before[p] != after[p]} <= LISTED
    # The look, as chatlist.look describes it.
    look = chatlist.look(chatlist.DEFAULT_DAYS)
    assert all(c.font.bold for c in ws[1])
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:G8"
    assert [ws.column_dimensions[chr(64 + c)].width for c in range(1, 8)] == list(look.widths)
    assert ws.cell(2, 7).number_format == look.idle_format
    rules = {str(cf.sqref): cf.rules for cf in ws.conditional_formatting}
    assert set(rules) == {"A2:G8", "D2:D8", "G2:G8"}
    gone = rules["A2:G8"][0]
    assert gone.formula == ['$D2="gone"'] and gone.stopIfTrue and gone.dxf.font.strike and gone.dxf.font.i
    assert rules["D2:D8"][0].operator == "equal" and rules["G2:G8"][0].colorScale is not None
    assert b"""<definedName name="_xlnm._FilterDatabase" localSheetId="3" hidden="1">'Chat list'!$A$1:$G$8<""" \
        in after["xl/workbook.xml"]


def test_a_reload_refreshes_in_place_keeping_the_analysts_columns_filter_and_formats(account, tmp_path):
    sandbox, env = account
    book = tmp_path / "list.xlsx"
    assert run_cli("chats", book, env=env).returncode == 0
    wb = openpyxl.load_workbook(book)
    ws = wb["Chats"]
    ws.cell(1, 8).value = "My note"
    for r in range(2, ws.max_row + 1):
        ws.cell(r, 8).value = f"note {r}"
    ws.auto_filter.add_filter_column(2, ["person"])
    wb.create_sheet("Mine").append(["kept"])
    wb.save(book)
    before = parts(book)
    rows_before = {ws.cell(r, 1).value: r for r in range(2, ws.max_row + 1)}

    del sandbox.chats["79001260002@c.us"]
    from greenapi_excel.sandbox import chats_from_dicts
    sandbox.chats.update(chats_from_dicts([{"id": "79001269999@c.us", "name": "New"}]))
    proc = run_cli("chats", book, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "1 new" in proc.stdout and "1 gone" in proc.stdout
    after = parts(book)
    sheet_part = "xl/worksheets/sheet1.xml"
    assert list(after) == list(before)
    assert {p for p in before if before[p] != after[p]} <= {sheet_part, "xl/styles.xml", "xl/workbook.xml"}
    ws = openpyxl.load_workbook(book)["Chats"]
    assert ws.cell(1, 8).value == "My note"
    for chat_id, row in rows_before.items():
        assert ws.cell(row, 1).value == chat_id and ws.cell(row, 8).value == f"note {row}"
    assert ws.cell(rows_before["79001260002@c.us"], 4).value == "gone"
    assert ws.cell(rows_before["79001260002@c.us"], 2).value == "Client 2"      # marked, not deleted
    assert ws.cell(ws.max_row, 1).value == "79001269999@c.us"
    assert ws.auto_filter.ref == f"A1:G{ws.max_row}" and ws.auto_filter.filterColumn[0].colId == 2
    assert len(list(ws.conditional_formatting)) == 3                             # replaced, not piled up
    again = parts(book)
    assert run_cli("chats", book, env=env).returncode == 0
    assert parts(book)["xl/styles.xml"] == again["xl/styles.xml"]                 # nothing more appended


def test_a_russian_book_gets_its_chaty_sheet_refreshed_not_a_second_one(account, tmp_path):
    sandbox, env = account
    book = tmp_path / "ru.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "Чаты"
    wb.save(book)
    assert run_cli("chats", book, env=env).returncode == 0                # an English run, a Russian book
    wb = openpyxl.load_workbook(book)
    assert wb.sheetnames == ["Чаты"] and wb["Чаты"].cell(1, 1).value == "Chat ID"


def test_the_all_chats_report_goes_into_an_existing_book_of_the_analyst(account, tmp_path):
    sandbox, env = account
    report = xlsxwriter_book(tmp_path / "report.xlsx")
    before = parts(report)
    proc = run_cli("archive", "--all-chats", "--type", "person", "--report", report, "--no-progress", env=env)
    assert proc.returncode == 0, proc.stderr
    after = parts(report)
    assert {p for p in before if before[p] != after[p]} <= LISTED
    ws = openpyxl.load_workbook(report)["Report"]
    assert [c.value for c in ws[1]][:10] == [*chatlist.HEADERS, "Status", "Details", "Updated"]
    assert {ws.cell(r, 8).value for r in range(2, ws.max_row + 1)} == {"Archived"}
    assert ws.column_dimensions["I"].width == 60                                  # results.RESULT_WIDTHS


def test_libreoffice_reads_the_chat_list_a_load_added(account, tmp_path):
    if SOFFICE is None:
        pytest.fail("LibreOffice (soffice) is missing: apt-get install libreoffice-calc-nogui")
    sandbox, env = account
    book = xlsxwriter_book(tmp_path / "lo.xlsx")
    assert run_cli("chats", book, "--sheet", "Loaded", env=env).returncode == 0
    rows = libreoffice_csv([book], tmp_path, sheet=4)[book]
    assert rows[0] == list(chatlist.HEADERS)
    assert {row[0] for row in rows[1:]} == {c["id"] for c in CHATS}
    assert all(re.fullmatch(r"none in 30 days|\d{4}-\d\d-\d\d \d\d:\d\d", row[4]) for row in rows[1:])


# --- the pure rules --------------------------------------------------------------------------------------

def test_the_sheet_choice_knows_both_languages_and_never_overwrites_a_list_of_the_analysts():
    loaded = (list(chatlist.HEADERS), True)
    mine = (["Phone", "Owner"], True)
    empty = ([None] * 7, False)
    assert chatlist.choose_sheet(["Data"], lambda n: mine) == chatlist.SheetChoice("Chats", True)
    assert chatlist.choose_sheet(["Чаты"], lambda n: loaded) == chatlist.SheetChoice("Чаты", False)
    assert chatlist.choose_sheet(["chats"], lambda n: empty) == chatlist.SheetChoice("chats", False)
    assert chatlist.choose_sheet(["Chats"], lambda n: mine) == chatlist.SheetChoice("Chat list", True)
    looks = {"Chats": mine, "Chat list": loaded}
    assert chatlist.choose_sheet(["Chats", "Chat list"], looks.get) == chatlist.SheetChoice("Chat list", False)
    with pytest.raises(ConfigError, match="both hold lists"):
        chatlist.choose_sheet(["Chats", "Chat list"], lambda n: mine)
    with pytest.raises(ConfigError, match="--sheet"):
        chatlist.choose_sheet(["Report"], lambda n: mine, wanted="Report")
    with i18n.using("ru"):
        assert chatlist.choose_sheet([], lambda n: empty) == chatlist.SheetChoice("Чаты", True)
        ru_loaded = ([i18n.pgettext(chatlist.HEADER_CONTEXT, h) for h in chatlist.HEADERS], True)
    assert chatlist.choose_sheet(["Chats"], lambda n: ru_loaded) == chatlist.SheetChoice("Chats", False)


def test_the_look_is_one_description_of_every_format():
    look = chatlist.look(7)
    assert look.idle_format == '[<7]0;"over "0' and look.date_format == chatlist.DATE_FORMAT
    assert [h.kind for h in look.highlights] == ["formula", "equals", "scale"]
    gone = look.highlights[0]
    assert gone.formula == '$D2="gone"' and gone.stop and gone.look.strike and gone.look.italic
    assert look.highlights[2].thresholds == chatlist.color_scale(7)

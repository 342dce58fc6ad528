"""sheets.py on real files: books built with openpyxl, read back with openpyxl and zipfile; locks and
full disks in real second processes."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import textwrap
import zipfile
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from greenapi_excel import chat_ids
from greenapi_excel.errors import BookBusy, WorkbookError
from greenapi_excel.results import RowResult
from greenapi_excel.paths import lock_file as lock_path_for
from greenapi_excel.sheets import SheetFile, book_lock

NOW = datetime(2024, 5, 6, 7, 8, 9)


def make_book(path: Path, rows, *, title="Chats") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = title
    for row in rows:
        ws.append(list(row))
    wb.save(path)
    return path


def sheet_of(path: Path, name=None):
    wb = openpyxl.load_workbook(path)
    return wb[name] if name else wb.worksheets[0]


def sheet_xml(path: Path, part="xl/worksheets/sheet1.xml") -> str:
    with zipfile.ZipFile(path) as z:
        return z.read(part).decode("utf-8")


def with_cached_values(path: Path, cached: dict[str, str]) -> None:
    """Give formula cells the saved value Excel would have stored (openpyxl never writes one)."""
    with zipfile.ZipFile(path) as z:
        parts = {info: z.read(info.filename) for info in z.infolist()}
    out = {}
    for info, data in parts.items():
        if info.filename == "xl/worksheets/sheet1.xml":
            xml = data.decode()
            for ref, value_xml in cached.items():
                start = xml.index(f'<c r="{ref}"')
                end = xml.index("</c>", start)
                cell = xml[start:end].replace("<v />", "").replace("<v></v>", "")
                cell = cell.replace(f'<c r="{ref}"', f'<c r="{ref}"' + value_xml[0], 1) + value_xml[1]
                xml = xml[:start] + cell + xml[end:]
            data = xml.encode()
        out[info] = data
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in out.items():
            z.writestr(info, data)


# --- where the chats are and where the results go -------------------------------------------------

def test_chat_column_is_found_by_its_header_and_results_go_beside_it(tmp_path):
    book = make_book(tmp_path / "b.xlsx", [["Name", "  PHONE "], ["Ann", "79001234567"], ["Bob", 79001234568]])
    sheet = SheetFile.open(book)
    assert (sheet.sheet_name, sheet.chat_column, sheet.result_column) == ("Chats", "B", "C")
    assert sheet.placement_note is None
    assert sheet.chat_cells == [(2, "79001234567"), (3, 79001234568)]
    assert sheet.previous == {}

    sheet.write([RowResult(2, "Archived", "", NOW), RowResult(3, "Chat not found", "no such chat", NOW)])
    assert sheet.save() == book
    ws = sheet_of(book)
    assert [c.value for c in ws[1]] == ["Name", "  PHONE ", "Status", "Details", "Updated"]
    assert [ws.cell(r, 3).value for r in (2, 3)] == ["Archived", "Chat not found"]
    assert ws["D3"].value == "no such chat"
    assert ws["E2"].value == NOW and ws["E2"].is_date
    assert ws["E2"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert [ws.cell(r, 2).value for r in (2, 3)] == ["79001234567", 79001234568]


@pytest.mark.parametrize("header", ["Chat ID", "chatId", "chat id ", "Phone"])
def test_each_known_header_names_the_chat_column(tmp_path, header):
    book = make_book(tmp_path / "h.xlsx", [["Notes", "x", header], [None, None, "79001234567"]])
    assert SheetFile.open(book).chat_column == "C"


def test_without_a_known_header_the_chats_are_in_column_a(tmp_path):
    book = make_book(tmp_path / "a.xlsx", [["Numbers"], ["79001234567"]])
    sheet = SheetFile.open(book)
    assert (sheet.chat_column, sheet.result_column, sheet.chat_cells) == ("A", "B", [(2, "79001234567")])


def test_the_column_setting_takes_a_letter_or_a_header(tmp_path):
    book = make_book(tmp_path / "c.xlsx", [["Chat ID", "Mobile", None, None, None, "Other"],
                                           ["1", "79001234567", None, None, None, "79001234569"]])
    assert SheetFile.open(book, column="mobile").chat_column == "B"
    assert SheetFile.open(book, column="f").chat_column == "F"
    with pytest.raises(WorkbookError, match="neither a header"):
        SheetFile.open(book, column="no such column!")


def test_the_named_sheet_is_read_and_a_missing_one_is_named_in_the_error(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "Intro"
    wb.active.append(["nothing here"])
    ws = wb.create_sheet("Chats")
    ws.append(["Chat ID"])
    ws.append(["79001234567"])
    wb.save(tmp_path / "two.xlsx")
    assert SheetFile.open(tmp_path / "two.xlsx").sheet_name == "Intro"
    sheet = SheetFile.open(tmp_path / "two.xlsx", sheet=" chats ")
    assert sheet.sheet_name == "Chats" and sheet.chat_cells == [(2, "79001234567")]
    with pytest.raises(WorkbookError, match=r"no worksheet named 'Missing'.*'Intro', 'Chats'"):
        SheetFile.open(tmp_path / "two.xlsx", sheet="Missing")


def test_the_analysts_own_columns_are_never_overwritten(tmp_path):
    book = make_book(tmp_path / "own.xlsx", [["Chat ID", "Owner", "Region"],
                                             ["79001234567", "Ann", "=UPPER(\"north\")"],
                                             ["79001234568", "Bob", "south"]])
    sheet = SheetFile.open(book)
    assert sheet.result_column == "D" and "D:F" in sheet.placement_note   # B and C hold the analyst's data
    wb = openpyxl.load_workbook(book)
    wb.active["D1"] = "Budget"        # the analyst's column right where the results would go
    wb.active["D2"] = 120
    wb.save(book)

    sheet = SheetFile.open(book)
    assert sheet.result_column == "E"
    assert "E:G" in sheet.placement_note and "B:D" in sheet.placement_note
    sheet.write([RowResult(2, "Archived", "", NOW), RowResult(3, "Failed", "HTTP 500", NOW)])
    sheet.save()
    ws = sheet_of(book)
    assert [c.value for c in ws[1]] == ["Chat ID", "Owner", "Region", "Budget", "Status", "Details", "Updated"]
    assert [c.value for c in ws[2]][:5] == ["79001234567", "Ann", "=UPPER(\"north\")", 120, "Archived"]
    assert ws["F3"].value == "HTTP 500"

    # A re-run finds that block again: no second block, and it knows what was done.
    again = SheetFile.open(book)
    assert again.result_column == "E"
    assert again.previous == {2: "Archived", 3: "Failed"}


def test_a_rerun_reuses_the_results_beside_the_chats_and_reports_them(tmp_path):
    book = make_book(tmp_path / "re.xlsx", [["Chat ID", "Status", "Details", "Updated"],
                                            ["79001234567", "Archived", "", None],
                                            ["79001234568", "Failed: HTTP 500", "x", None],
                                            ["79001234569", None, None, None]])
    sheet = SheetFile.open(book)
    assert sheet.result_column == "B" and sheet.placement_note is None
    assert sheet.previous == {2: "Archived", 3: "Failed: HTTP 500"}


def test_error_values_and_formulas_are_read_as_excel_shows_them(tmp_path):
    book = make_book(tmp_path / "f.xlsx", [["Chat ID"], ["=\"7900\"&\"1234567\""], ["=A9*1"], ["=NA()"],
                                           ["=1+1"], ["plain"]])
    wb = openpyxl.load_workbook(book)
    wb.active["A7"] = "#DIV/0!"
    wb.active["A7"].data_type = "e"
    wb.save(book)
    with_cached_values(book, {"A2": (' t="str"', "<v>79001234567</v>"), "A3": ("", "<v>79001234568</v>"),
                              "A4": (' t="e"', "<v>#N/A</v>")})
    sheet = SheetFile.open(book)
    assert sheet.chat_cells == [
        (2, "79001234567"),
        (3, 79001234568),
        (4, chat_ids.CellError("#N/A")),
        (5, chat_ids.FORMULA_WITHOUT_VALUE),   # never calculated: no saved value
        (6, "plain"),
        (7, chat_ids.CellError("#DIV/0!")),
    ]
    sheet.write([RowResult(r, "Invalid chat ID", "x", NOW) for r in range(2, 8)])
    sheet.save()
    xml = sheet_xml(book)
    # The analyst's formulas are still formulas after our save.
    assert xml.count("<f>") == 4 and "<f>NA()</f>" in xml


# --- what goes into the cells -----------------------------------------------------------------------

@pytest.mark.parametrize("text", ['=HYPERLINK("http://evil.invalid","x")', "+cmd|' /C calc'!A0", "-2+3",
                                  "@SUM(1+1)", "=1+1"])
def test_text_written_into_cells_never_becomes_a_formula(tmp_path, text):
    book = make_book(tmp_path / "evil.xlsx", [["Chat ID"], ["79001234567"]])
    sheet = SheetFile.open(book)
    sheet.write([RowResult(2, "Failed", text, NOW)])
    sheet.save()
    xml = sheet_xml(book)
    assert "<f>" not in xml and "<f " not in xml
    ws = sheet_of(book)
    assert ws["C2"].value == text and ws["C2"].data_type == "s"


def test_cells_get_no_control_characters_and_a_capped_length(tmp_path):
    book = make_book(tmp_path / "junk.xlsx", [["Chat ID"], ["79001234567"], ["79001234568"]])
    sheet = SheetFile.open(book)
    sheet.write([RowResult(2, "Failed\x07", "bad\x00chat\x1b[31m\r\nline\u2028sep\x7f\ud800end", NOW),
                 RowResult(3, "Failed", "A" * 40_000, None)])
    sheet.save()
    ws = sheet_of(book)
    assert ws["B2"].value == "Failed"
    assert ws["C2"].value == "bad chat [31m line sep end"
    assert len(ws["C3"].value) <= 300 and ws["C3"].value.startswith("AAAA")
    assert ws["D3"].value is None


# --- .xlsm: VBA and ribbon --------------------------------------------------------------------------

RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
UI_2007 = "http://schemas.microsoft.com/office/2007/relationships/ui/extensibility"
UI_2006 = "http://schemas.microsoft.com/office/2006/relationships/ui/extensibility"
RIBBON14 = (b'<customUI xmlns="http://schemas.microsoft.com/office/2009/07/customui"><ribbon><tabs>'
            b'<tab id="gae" label="GreenApi"><group id="g" label="Chats"><button id="a" label="Archive" '
            b'image="icon" onAction="Archive"/></group></tab></tabs></ribbon></customUI>\r\n')
RIBBON12 = b'<customUI xmlns="http://schemas.microsoft.com/office/2006/01/customui"><ribbon/></customUI>'
ICON = bytes.fromhex("89504E470D0A1A0A") + bytes(range(256))
VBA_BIN = bytes.fromhex("D0CF11E0A1B11AE1") + bytes(random.Random(3).randbytes(3000))


def make_xlsm(path: Path) -> Path:
    plain = make_book(path.with_suffix(".xlsx"), [["Chat ID"], ["79001234567"], ["79001234568"]])
    with zipfile.ZipFile(plain) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    types = parts["[Content_Types].xml"].decode()
    types = types.replace("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                          "application/vnd.ms-excel.sheet.macroEnabled.main+xml")
    types = types.replace("</Types>", '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
                                      '<Default Extension="png" ContentType="image/png"/></Types>')
    parts["[Content_Types].xml"] = types.encode()
    rels = parts["_rels/.rels"].decode().replace(
        "</Relationships>",
        f'<Relationship Id="rIdUi14" Type="{UI_2007}" Target="customUI/customUI14.xml"/>'
        f'<Relationship Id="rIdUi12" Type="{UI_2006}" Target="customUI/customUI.xml"/></Relationships>')
    parts["_rels/.rels"] = rels.encode()
    wb_rels = parts["xl/_rels/workbook.xml.rels"].decode().replace(
        "</Relationships>",
        '<Relationship Id="rIdVba" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" '
        'Target="vbaProject.bin"/></Relationships>')
    parts["xl/_rels/workbook.xml.rels"] = wb_rels.encode()
    parts["xl/vbaProject.bin"] = VBA_BIN
    parts["customUI/customUI14.xml"] = RIBBON14
    parts["customUI/customUI.xml"] = RIBBON12
    parts["customUI/_rels/customUI14.xml.rels"] = (
        f'<Relationships xmlns="{RELS_NS}"><Relationship Id="icon" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image" '
        'Target="images/icon.png"/></Relationships>').encode()
    parts["customUI/images/icon.png"] = ICON
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    plain.unlink()
    return path


def test_an_xlsm_keeps_its_vba_project_and_ribbon_byte_for_byte(tmp_path):
    book = make_xlsm(tmp_path / "macro.xlsm")
    with zipfile.ZipFile(book) as z:
        before = {name: z.read(name) for name in z.namelist() if name.startswith("customUI/")}
    for round_trip in range(2):   # a second save of a saved book keeps them too
        sheet = SheetFile.open(book)
        sheet.write([RowResult(2, "Archived", f"round {round_trip}", NOW)])
        sheet.save()
    with zipfile.ZipFile(book) as z:
        assert z.testzip() is None
        assert z.read("xl/vbaProject.bin") == VBA_BIN
        for name, data in before.items():
            assert z.read(name) == data, name
        rels = z.read("_rels/.rels").decode()
        types = z.read("[Content_Types].xml").decode()
    assert f'Type="{UI_2007}"' in rels and 'Target="customUI/customUI14.xml"' in rels
    assert f'Type="{UI_2006}"' in rels and 'Target="customUI/customUI.xml"' in rels
    assert rels.count("customUI14.xml") == 1
    assert "macroEnabled" in types and 'Extension="png"' in types
    ws = sheet_of(book)
    assert (ws["B1"].value, ws["B2"].value, ws["C2"].value) == ("Status", "Archived", "round 1")


def test_a_macro_book_cannot_be_saved_under_a_plain_name(tmp_path):
    book = make_xlsm(tmp_path / "macro.xlsm")
    with pytest.raises(WorkbookError, match="stays .xlsm"):
        SheetFile.open(book).save(tmp_path / "copy.xlsx")


# --- refusals ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,content,words", [
    ("old.xls", bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 504, "save it as .xlsx"),
    ("list.csv", b"Chat ID\n79001234567\n", "CSV"),
    ("fake.xlsx", b"this is not a zip", "not a valid .xlsx"),
    ("ole.xlsx", bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 504, "97-2003"),
    ("notes.txt", b"hello", "not an Excel workbook"),
])
def test_files_that_are_not_books_are_refused_clearly(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(WorkbookError, match=words) as caught:
        SheetFile.open(path)
    assert name in str(caught.value)
    assert path.read_bytes() == content


def test_a_zip_that_is_not_a_workbook_is_refused_clearly(tmp_path):
    path = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(WorkbookError, match="cannot read broken.xlsx"):
        SheetFile.open(path)


def test_a_missing_file_is_refused_clearly(tmp_path):
    with pytest.raises(WorkbookError, match="no such file"):
        SheetFile.open(tmp_path / "nope.xlsx")


def test_a_read_only_book_is_refused_before_anything_happens(tmp_path):
    book = make_book(tmp_path / "ro.xlsx", [["Chat ID"], ["79001234567"]])
    book.chmod(0o444)
    try:
        with pytest.raises(WorkbookError, match="cannot write ro.xlsx: the file is read-only"):
            SheetFile.open(book)
        # Saving elsewhere is fine: the read-only book is only read.
        sheet = SheetFile.open(book, out=tmp_path / "copy.xlsx")
        sheet.write([RowResult(2, "Archived", "", NOW)])
        sheet.save(tmp_path / "copy.xlsx")
        assert sheet_of(tmp_path / "copy.xlsx")["B2"].value == "Archived"
    finally:
        book.chmod(0o644)


@pytest.mark.parametrize("owner_name", ["~$open.xlsx", "~$en.xlsx"])   # long names lose two characters
def test_a_book_open_in_excel_is_busy(tmp_path, owner_name):
    book = make_book(tmp_path / "open.xlsx", [["Chat ID"], ["79001234567"]])
    before = book.read_bytes()
    (tmp_path / owner_name).write_bytes(b"\x05analyst" + b" " * 100)
    with pytest.raises(BookBusy, match="close it in Excel first") as caught:
        SheetFile.open(book)
    assert "open.xlsx" in str(caught.value)
    sheet = SheetFile.open(book, out=tmp_path / "copy.xlsx")
    sheet.write([RowResult(2, "Archived", "", NOW)])
    with pytest.raises(BookBusy):
        sheet.save()                   # its own place is still held by Excel
    assert sheet.save(tmp_path / "copy.xlsx") == tmp_path / "copy.xlsx"
    assert book.read_bytes() == before


def test_a_full_disk_keeps_the_original_and_leaves_no_temp_file(tmp_path):
    book = make_book(tmp_path / "full.xlsx", [["Chat ID"]] + [[f"7900{i:07d}"] for i in range(50)])
    wb = openpyxl.load_workbook(book)
    data = wb.create_sheet("Data")      # incompressible, so a new copy needs real space
    rng = random.Random(5)
    for _ in range(1500):
        data.append([rng.randbytes(24).hex() for _ in range(6)])
    wb.save(book)
    before = book.read_bytes()
    script = textwrap.dedent(f"""
        import resource, signal
        from datetime import datetime
        from greenapi_excel.errors import WorkbookError
        from greenapi_excel.results import RowResult
        from greenapi_excel.sheets import SheetFile
        sheet = SheetFile.open({str(book)!r})
        sheet.write([RowResult(r, "Archived", "", datetime.now()) for r in range(2, 52)])
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({len(before) // 2}, {len(before) // 2}))
        try:
            sheet.save()
        except WorkbookError as error:
            print("refused:", error)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.stdout.startswith("refused: cannot write full.xlsx: the disk is full"), (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert book.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full.xlsx"]


# --- awkward sheets ---------------------------------------------------------------------------------

def test_a_stray_cell_on_the_last_row_of_excel_is_read_and_written(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Chat ID"])
    ws.append(["79001234567"])
    ws.cell(1_048_576, 1, "stray")
    wb.save(tmp_path / "stray.xlsx")
    sheet = SheetFile.open(tmp_path / "stray.xlsx")
    assert sheet.chat_cells == [(2, "79001234567"), (1_048_576, "stray")]
    sheet.write([RowResult(2, "Archived", "", NOW), RowResult(1_048_576, "Invalid chat ID", "not a number", NOW)])
    sheet.save()
    rows = sheet_xml(tmp_path / "stray.xlsx").count("<row ")
    assert rows == 3                    # no million empty rows were made
    ws = sheet_of(tmp_path / "stray.xlsx")
    assert ws.cell(1_048_576, 2).value == "Invalid chat ID"


def test_merged_cells_in_the_chat_and_result_columns(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in [["Chat ID"], ["79001234567"], ["79001234568"], [None], ["79001234569"]]:
        ws.append(row)
    ws.merge_cells("A3:A4")
    ws.merge_cells("B5:D5")
    wb.save(tmp_path / "merged.xlsx")
    sheet = SheetFile.open(tmp_path / "merged.xlsx")
    assert sheet.chat_cells == [(2, "79001234567"), (3, "79001234568"), (5, "79001234569")]
    sheet.write([RowResult(r, "Archived", "ok", NOW) for r in (2, 3, 5)])
    sheet.save()
    ws = sheet_of(tmp_path / "merged.xlsx")
    assert [ws.cell(r, 2).value for r in (2, 3, 5)] == ["Archived"] * 3
    assert ws["C5"].value == "ok"
    assert "A3:A4" in {str(r) for r in ws.merged_cells.ranges}     # the chat column keeps its merge


@pytest.mark.parametrize("how", ["hidden", "protected"])
def test_hidden_or_protected_sheets_are_written_and_keep_their_state(tmp_path, how):
    wb = openpyxl.Workbook()
    wb.active.title = "Visible"
    ws = wb.create_sheet("Chats")
    ws.append(["Chat ID"])
    ws.append(["79001234567"])
    if how == "hidden":
        ws.sheet_state = "hidden"
    else:
        ws.protection.sheet = True
        ws.protection.password = "secret"
    wb.save(tmp_path / "s.xlsx")
    sheet = SheetFile.open(tmp_path / "s.xlsx", sheet="Chats")
    sheet.write([RowResult(2, "Archived", "", NOW)])
    sheet.save()
    wb = openpyxl.load_workbook(tmp_path / "s.xlsx")
    assert wb.sheetnames == ["Visible", "Chats"] and wb["Chats"]["B2"].value == "Archived"
    if how == "hidden":
        assert wb["Chats"].sheet_state == "hidden"
    else:
        assert wb["Chats"].protection.sheet


def test_a_missing_header_row_is_refused_instead_of_skipping_a_chat(tmp_path):
    book = make_book(tmp_path / "nohead.xlsx", [["79001234567"], ["79001234568"]])
    with pytest.raises(WorkbookError, match="header"):
        SheetFile.open(book)


def test_an_empty_chat_column_gives_no_cells(tmp_path):
    book = make_book(tmp_path / "empty.xlsx", [["Chat ID"]])
    sheet = SheetFile.open(book)
    assert sheet.chat_cells == [] and sheet.previous == {}
    sheet.save()
    assert sheet_of(book)["A1"].value == "Chat ID"
    wb = openpyxl.Workbook()
    wb.save(tmp_path / "blank.xlsx")
    assert SheetFile.open(tmp_path / "blank.xlsx").chat_cells == []


def test_the_settings_sheet_gives_url_and_instance_but_never_the_token(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "Chats"
    wb.active.append(["Chat ID"])
    settings = wb.create_sheet("Settings")
    for row in [["apiUrl", "https://api.green-api.com"], ["idInstance", 1101000001],
                ["apiTokenInstance", "secret-token"]]:
        settings.append(row)
    wb.save(tmp_path / "set.xlsx")
    sheet = SheetFile.open(tmp_path / "set.xlsx")
    assert sheet.settings == {"apiurl": "https://api.green-api.com", "idinstance": 1101000001}


# --- one run per book -------------------------------------------------------------------------------

_HOLDER = """
import sys, time
from greenapi_excel.sheets import book_lock
with book_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_a_second_run_on_the_same_book_is_busy(tmp_path, monkeypatch):
    monkeypatch.setenv("GREENAPI_LOCK_DIR", str(tmp_path / "locks"))
    book = make_book(tmp_path / "busy.xlsx", [["Chat ID"]])
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(book)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(BookBusy, match="another greenapi-excel run is already working on busy.xlsx"):
            with book_lock(tmp_path / "." / "busy.xlsx"):   # the same book by another spelling
                pass
        with book_lock(tmp_path / "other.xlsx"):             # another book is free
            pass
    finally:
        holder.communicate("done\n", timeout=30)
    assert holder.returncode == 0
    with book_lock(book) as lock_file:                       # free again once the first run ends
        assert lock_file.parent == tmp_path / "locks"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy.xlsx", "locks"]   # nothing beside the book
    assert lock_path_for(book) == lock_path_for(tmp_path / "." / "busy.xlsx")


def test_the_settings_token_row_is_never_read_whatever_its_label_says(tmp_path):
    """The built workbook labels it "Token (moved to the keychain by the Settings button)"."""
    wb = openpyxl.Workbook()
    wb.active.title = "Chats"
    wb.active.append(["Chat ID"])
    wb.active.append(["79001234567"])
    settings = wb.create_sheet("Settings")
    for row in (["Setting", "Value"], ["apiUrl", "http://127.0.0.1:7700"], ["idInstance", "1101000001"],
                ["Token (moved to the keychain by the Settings button)", "secret-token-typed-by-hand"]):
        settings.append(row)
    path = tmp_path / "s.xlsx"
    wb.save(path)
    found = SheetFile.open(path).settings
    assert found["apiurl"] == "http://127.0.0.1:7700" and found["idinstance"] == "1101000001"
    assert "secret-token-typed-by-hand" not in found.values()


# --- the writer: only the result cells change -------------------------------------------------------

def test_a_book_reached_through_a_symbolic_link_is_written_through_and_the_link_stays(tmp_path):
    real = make_book(tmp_path / "real.xlsx", [["Chat ID"], ["79001234567"]])
    link = tmp_path / "link.xlsx"
    link.symlink_to(real)
    sheet = SheetFile.open(link)
    sheet.write([RowResult(2, "Archived", "", NOW)])
    assert sheet.save() == link
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert sheet_of(real)["B2"].value == "Archived"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.xlsx", "real.xlsx"]


def _with_parts(path: Path, extra: dict[str, bytes], edit=None) -> None:
    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    if edit:
        edit(parts)
    parts.update(extra)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)


def test_a_formula_cell_that_becomes_a_result_leaves_the_calc_chain(tmp_path):
    """An earlier block whose Status cell holds a formula (showing a status): the cell becomes a value,
    so its calcChain entry must go (Excel repairs a book whose chain names a cell without a formula)."""
    book = make_book(tmp_path / "calc.xlsx", [["Chat ID", "Status", "Details", "Updated", "Sum"],
                                              ["79001234567", '="Archived"', None, None, "=1+1"],
                                              ["79001234568", None, None, None, "=2+2"]])
    with_cached_values(book, {"B2": (' t="str"', "<v>Archived</v>"), "E2": ("", "<v>2</v>"),
                              "E3": ("", "<v>4</v>")})

    def add_chain(parts):
        parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
            b"</Types>", b'<Override PartName="/xl/calcChain.xml" ContentType="application/vnd.openxmlformats-'
                         b'officedocument.spreadsheetml.calcChain+xml"/></Types>')
        parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
            b"</Relationships>", b'<Relationship Id="rIdCalc" Type="http://schemas.openxmlformats.org/'
                                 b'officeDocument/2006/relationships/calcChain" Target="calcChain.xml"/>'
                                 b"</Relationships>")

    chain = (b'<calcChain xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             b'<c r="B2" i="1"/><c r="E2"/><c r="E3"/></calcChain>')
    _with_parts(book, {"xl/calcChain.xml": chain}, add_chain)
    sheet = SheetFile.open(book)
    assert sheet.result_column == "B" and sheet.previous == {}   # a formula is no earlier result
    sheet.write([RowResult(2, "Archived", "again", NOW), RowResult(3, "Archived", "", NOW)])
    sheet.save()
    with zipfile.ZipFile(book) as z:
        assert z.read("xl/calcChain.xml") == (b'<calcChain xmlns="http://schemas.openxmlformats.org/'
                                              b'spreadsheetml/2006/main"><c r="E2" i="1"/><c r="E3"/></calcChain>')
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>1+1</f>" in xml and '"Archived"' not in xml
    assert sheet_of(book)["B2"].value == "Archived"


def test_a_shared_or_array_formula_master_is_never_overwritten(tmp_path):
    """Overwriting the anchor of a shared formula would leave the cells below pointing at nothing."""
    book = make_book(tmp_path / "shared.xlsx", [["Chat ID"], ["79001234567"], ["79001234568"]])

    with zipfile.ZipFile(book) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    row2 = re.search(r'<row r="2"[^>]*>(.*?)</row>', xml).group(1)
    row3 = re.search(r'<row r="3"[^>]*>(.*?)</row>', xml).group(1)
    xml = xml.replace(row2, row2 + '<c r="B2"><f t="shared" ref="B2:B3" si="0">1+1</f><v>2</v></c>')
    xml = xml.replace(row3, row3 + '<c r="B3"><f t="shared" si="0"/><v>2</v></c>')
    _with_parts(book, {"xl/worksheets/sheet1.xml": xml.encode()})
    sheet = SheetFile.open(book)
    assert sheet.result_column == "C"            # the formula column is the analyst's
    sheet.write([RowResult(2, "Archived", "", NOW), RowResult(3, "Archived", "", NOW)])
    sheet.save()
    xml = sheet_xml(book)
    assert '<f t="shared" ref="B2:B3" si="0">1+1</f>' in xml and '<f t="shared" si="0"/>' in xml


def test_hidden_rows_are_reported(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in [["Chat ID"], ["79001234567"], ["79001234568"], ["79001234569"]]:
        ws.append(row)
    ws.row_dimensions[3].hidden = True
    wb.save(tmp_path / "hidden.xlsx")
    assert SheetFile.open(tmp_path / "hidden.xlsx").hidden_rows == {3}


def test_periodic_saves_start_from_the_original_bytes(tmp_path):
    """Each save is the original book plus all results so far, never our own output read again."""
    book = make_book(tmp_path / "periodic.xlsx", [["Chat ID"], ["79001234567"], ["79001234568"]])
    sheet = SheetFile.open(book)
    sheet.write([RowResult(2, "Failed", "first try", NOW)])
    sheet.save()
    first = book.read_bytes()
    sheet.write([RowResult(2, "Archived", "", NOW), RowResult(3, "Archived", "", NOW)])
    sheet.save()
    ws = sheet_of(book)
    assert [ws.cell(r, 2).value for r in (2, 3)] == ["Archived", "Archived"] and ws["C2"].value is None
    again = SheetFile.open(book)
    again.write([RowResult(2, "Archived", "", NOW), RowResult(3, "Archived", "", NOW)])
    again.save()
    assert first != book.read_bytes()
    assert sheet_xml(book).count('r="B2"') == 1     # one cell, not one per save


def test_new_result_cells_take_the_row_or_column_style_and_updated_one_date_format(tmp_path):
    """Status and Details take the row's style (customFormat), else the column's; every Updated cell takes
    the one format styles.xml gains: the Updated column's own style with the date-time format."""
    from openpyxl.styles import Font, PatternFill

    wb = openpyxl.Workbook()
    ws = wb.active
    for row in [["Chat ID"], ["79001234567"], ["79001234568"]]:
        ws.append(row)
    ws.row_dimensions[2].font = Font(bold=True)                 # <row s=".." customFormat="1">
    ws.column_dimensions["C"].fill = PatternFill("solid", fgColor="FFFF00")   # <col min="3" style="..">
    ws.column_dimensions["D"].font = Font(italic=True)
    wb.save(tmp_path / "styled.xlsx")
    formats = lambda: int(re.search(r'<cellXfs count="(\d+)"', sheet_xml(tmp_path / "styled.xlsx",   # noqa: E731
                                                                          "xl/styles.xml")).group(1))
    before = formats()
    sheet = SheetFile.open(tmp_path / "styled.xlsx")
    sheet.write([RowResult(2, "Archived", "x", NOW), RowResult(3, "Archived", "y", NOW)])
    sheet.save()
    assert formats() == before + 1
    ws = sheet_of(tmp_path / "styled.xlsx")
    assert ws["B2"].font.bold and ws["C2"].font.bold                              # the row's style
    assert ws["C3"].fill.fgColor.rgb.endswith("FFFF00") and not ws["B3"].font.bold   # the column's style
    for cell in (ws["D2"], ws["D3"]):                                             # the one Updated format
        assert cell.font.italic and cell.is_date and cell.number_format == "yyyy-mm-dd hh:mm:ss"
        assert cell.value == NOW


@pytest.mark.parametrize("notes", [False, True])
def test_a_sheet_of_many_chunks_gets_every_result_in_its_row(tmp_path, monkeypatch, notes):
    """Rows spliced by their positions (results right of every cell) or cell by cell (notes in F, right of
    the results): across the parser's chunks (97 bytes here, so that they end everywhere), every row gets
    its own results and keeps its cells."""
    from greenapi_excel import bookxml

    monkeypatch.setattr(bookxml, "CHUNK", 97)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Chat ID"])
    rng = random.Random(7)
    expected = {}
    for row in range(2, 6002):   # rows of every length: row ends fall on every byte of a chunk
        expected[row] = f"7900{row:07d}" if row % 2 else "client " + "x" * rng.randint(1, 120)
        ws.cell(row, 1, expected[row])
        if notes and row % 3 == 0:
            ws.cell(row, 6, f"note {row}")
    wb.save(tmp_path / "long.xlsx")
    sheet = SheetFile.open(tmp_path / "long.xlsx")
    assert sheet.result_column == "B"
    sheet.write([RowResult(row, "Archived", f"row {row}", NOW) for row, _ in sheet.chat_cells])
    sheet.save()
    ws = openpyxl.load_workbook(tmp_path / "long.xlsx", read_only=True).active
    for number, row in enumerate(ws.iter_rows(values_only=True), start=1):
        if number == 1:
            assert row[:4] == ("Chat ID", "Status", "Details", "Updated")
            continue
        assert row[0] == expected[number] and row[1:4] == ("Archived", f"row {number}", NOW), number
        assert len(row) < 6 or row[5] == (f"note {number}" if notes and number % 3 == 0 else None)

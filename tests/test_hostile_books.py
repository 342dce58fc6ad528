"""Hostile books, each of which the regular-expression reader misread, corrupted or let run without bound.

A name holding a noncharacter, rows hidden in a comment, a CDATA section or another namespace, valid XML
spelled another way (UTF-16, a line break inside a tag, a prefixed sheetData), zip bombs, bad row numbers,
a merged footnote, a run with nothing to write, a book open in LibreOffice: each is run through the real
command line against the sandbox, and the book is read back by expat, openpyxl or LibreOffice.
"""

from __future__ import annotations

import re
import zipfile

import openpyxl
import pytest
from book_helpers import (MAIN, SOFFICE, STYLES, Bomb, chat_rows, libreoffice_csv, peak_rss, sheet_book, sheet_xml,
                          text_cell, well_formed)
from cli_helpers import cli_command, run_cli, sandbox_env

from greenapi_excel.sandbox import Sandbox
from greenapi_excel.sheets import SheetFile

IDS = [f"7900125{i:04d}" for i in range(3000)]


def chats(ids, **extra) -> list[dict]:
    return [{"id": f"{chat}@c.us", "incoming": 1, **extra} for chat in ids]


def one_error(proc) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "error" in lines[0], proc.stderr
    return lines[0]


def archived(sandbox) -> set[str]:
    return {entry.get("chatId") for entry in sandbox.calls("archiveChat")}


# --- one text rule -------------------------------------------------------------------------------------

def test_a_contact_name_with_a_noncharacter_leaves_every_part_well_formed(tmp_path):
    """A name holding U+FFFF or U+FFFE reaches Details (a dry run) and the chat list: both books stay
    well-formed XML, and LibreOffice reads every one of the 2,000 rows."""
    if SOFFICE is None:
        pytest.fail("LibreOffice (soffice) is missing: apt-get install libreoffice-calc-nogui")
    ids = IDS[:2000]
    named = [dict(chat, name=f"Client \uffff{i}\ufffe") for i, chat in enumerate(chats(ids))]
    with Sandbox(named, rps=5000, read_rps=5000) as sandbox:
        env = sandbox_env(sandbox, tmp_path)
        book = sheet_book(tmp_path / "names.xlsx", sheet_xml(chat_rows(ids)))
        proc = run_cli("archive", book, "--dry-run", "--no-progress", env=env)
        assert proc.returncode == 0, proc.stderr
        listed = tmp_path / "list.xlsx"
        proc = run_cli("chats", listed, env=env)
        assert proc.returncode == 0, proc.stderr
    assert well_formed(book) == [] and well_formed(listed) == []
    read = libreoffice_csv([book, listed], tmp_path)
    rows = read[book]
    assert len(rows) == 2001 and all(row[1] == "Would archive" for row in rows[1:])
    assert rows[5][2].endswith("Client 4")
    assert len(read[listed]) == 2001 and read[listed][5][1] == "Client 4"


# --- what is a row --------------------------------------------------------------------------------------

def test_rows_in_a_comment_a_cdata_section_or_another_namespace_are_not_chats(tmp_path):
    real = IDS[2000:2003]
    hidden = IDS[2003:2006]
    rows = (
        f'<row r="1">{text_cell("A1", "Chat ID")}</row>'
        f'<row r="2">{text_cell("A2", real[0])}</row>'
        f'<!-- <row r="3">{text_cell("A3", hidden[0])}</row> -->'
        f'<row r="4">{text_cell("A4", real[1])}'
        f'<c r="E4" t="inlineStr"><is><t><![CDATA[note <row r="5">{text_cell("A5", hidden[1])}</row>]]></t></is></c>'
        f'</row>'
        f'<row xmlns="urn:example:other" r="6">{text_cell("A6", hidden[2])}</row>'
        f'<row r="7">{text_cell("A7", real[2])}</row>')
    book = sheet_book(tmp_path / "hidden.xlsx", sheet_xml(rows))
    sheet = SheetFile.open(book)
    assert [value for _row, value in sheet.chat_cells] == real
    with Sandbox(chats(real + hidden), rps=5000, read_rps=5000) as sandbox:
        proc = run_cli("archive", book, "--no-progress", env=sandbox_env(sandbox, tmp_path))
        assert proc.returncode == 0, proc.stderr
        assert archived(sandbox) == {f"{chat}@c.us" for chat in real}
    with zipfile.ZipFile(book) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert f'<!-- <row r="3">{text_cell("A3", hidden[0])}</row> -->' in xml    # the comment as it was
    assert xml.count("Archived") == 3 and well_formed(book) == []
    ws = openpyxl.load_workbook(book).active
    assert [ws.cell(r, 2).value for r in (2, 4, 7)] == ["Archived"] * 3


def _utf16(xml: str) -> bytes:
    return xml.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")


SPELLINGS = {
    "utf16": lambda ids: _utf16(sheet_xml(chat_rows(ids))),
    "line breaks in tags": lambda ids: sheet_xml(chat_rows(ids).replace("<row r=", "<row\n r=").replace(
        "<c r=", "<c\n r=")),
    # sheetData with a prefix, its rows in the default namespace: the same namespace either way.
    "prefixed sheetData": lambda ids: sheet_xml(chat_rows(ids), root=f'xmlns="{MAIN}" xmlns:x="{MAIN}"').replace(
        "<sheetData>", "<x:sheetData>").replace("</sheetData>", "</x:sheetData>"),
}


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_valid_xml_spelled_another_way_is_read_as_excel_reads_it(tmp_path, spelling):
    ids = IDS[2010:2013]
    book = sheet_book(tmp_path / "spelled.xlsx", SPELLINGS[spelling](ids))
    read = openpyxl.load_workbook(book).active
    assert [read.cell(r, 1).value for r in (2, 3, 4)] == ids          # what another reader sees
    with Sandbox(chats(ids), rps=5000, read_rps=5000) as sandbox:
        proc = run_cli("archive", book, "--no-progress", env=sandbox_env(sandbox, tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^Archived\s+3$", proc.stdout, re.M), proc.stdout
    assert well_formed(book) == []
    ws = openpyxl.load_workbook(book).active
    assert [(ws.cell(r, 1).value, ws.cell(r, 2).value) for r in (2, 3, 4)] == [(chat, "Archived") for chat in ids]


# --- bounded memory -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("part", ["xl/workbook.xml", "xl/styles.xml"])
def test_a_zip_bomb_is_refused_before_any_request_in_flat_memory(tmp_path, part):
    """A 2 MB book whose one part inflates to 2 GB: one clear line, no request, a few dozen MB at most."""
    head, tail = {"xl/workbook.xml": (f'<workbook xmlns="{MAIN}">', "</workbook>"),
                  "xl/styles.xml": (f'<styleSheet xmlns="{MAIN}">', "</styleSheet>")}[part]
    book = sheet_book(tmp_path / "bomb.xlsx", sheet_xml(chat_rows(IDS[2020:2022])),
                      extra={part: Bomb(head, tail, 2 << 30)})
    assert book.stat().st_size < 3_000_000
    before = book.read_bytes()
    with Sandbox(chats(IDS[2020:2022]), rps=5000, read_rps=5000) as sandbox:
        proc, peak = peak_rss(cli_command("archive", book, "--no-progress"), env=sandbox_env(sandbox, tmp_path))
        assert sandbox.log == []
    assert proc.returncode == 2
    assert part in one_error(proc) and "zip bomb" in proc.stderr
    assert book.read_bytes() == before
    assert peak < 150, peak


def test_a_part_padded_with_a_hundred_megabytes_is_read_in_flat_memory(tmp_path):
    """Below the bomb limit, a padded part is simply read: as a stream, so memory stays flat."""
    ids = IDS[2030:2033]
    head = sheet_xml(chat_rows(ids)).split("<sheetData>")[0]
    tail = "<sheetData>" + sheet_xml(chat_rows(ids)).split("<sheetData>")[1]
    book = sheet_book(tmp_path / "padded.xlsx", "", extra={"xl/worksheets/sheet1.xml": Bomb(head, tail, 100 << 20)})
    with Sandbox(chats(ids), rps=5000, read_rps=5000) as sandbox:
        proc, peak = peak_rss(cli_command("archive", book, "--no-progress"), env=sandbox_env(sandbox, tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^Archived\s+3$", proc.stdout, re.M), proc.stdout
    assert peak < 150, peak
    assert [openpyxl.load_workbook(book).active.cell(r, 2).value for r in (2, 3, 4)] == ["Archived"] * 3


# --- bad row numbers ------------------------------------------------------------------------------------------

BAD_ROWS = {
    "row 0": ('<row r="0">', "0"),
    "past the last row": ('<row r="1048577">', "1048577"),
    "twice": ('<row r="4">', "4"),
    "out of order": ('<row r="1">', "1"),
}


@pytest.mark.parametrize("case", BAD_ROWS)
def test_bad_row_numbers_are_refused_before_any_archive_call(tmp_path, case):
    tag, number = BAD_ROWS[case]
    ids = IDS[2040:2043]
    rows = chat_rows(ids) + f'{tag}{text_cell("A9", IDS[2043]).replace("A9", "A" + number)}</row>'
    book = sheet_book(tmp_path / "rows.xlsx", sheet_xml(rows))
    before = book.read_bytes()
    with Sandbox(chats(IDS[2040:2044]), rps=5000, read_rps=5000) as sandbox:
        proc = run_cli("archive", book, "--no-progress", env=sandbox_env(sandbox, tmp_path))
        assert sandbox.calls("archiveChat") == []
    assert proc.returncode == 2
    line = one_error(proc)
    assert f"row {int(number):,}".replace(",", "") in line.replace(",", "") and "rows.xlsx" in line, line
    assert book.read_bytes() == before


# --- what the analyst sees ---------------------------------------------------------------------------------

def test_a_merged_footnote_under_the_chats_is_a_label_and_keeps_its_merge(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Chat ID", None, None, None, "Owner"])
    ids = IDS[2050:2054]
    for chat in ids:
        ws.append([chat, None, None, None, "Maria"])
    ws.append([])
    ws.append([])
    ws["A8"] = "Source: CRM export"
    ws.merge_cells("A8:E8")
    book = tmp_path / "footnote.xlsx"
    wb.save(book)
    with Sandbox(chats(ids), rps=5000, read_rps=5000) as sandbox:
        proc = run_cli("archive", book, "--no-progress", env=sandbox_env(sandbox, tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "Invalid" not in proc.stdout and "Skipped 1 merged label" in proc.stdout, proc.stdout
    ws = openpyxl.load_workbook(book).active
    assert [ws.cell(r, 2).value for r in range(2, 6)] == ["Archived"] * 4
    assert ws["A8"].value == "Source: CRM export" and ws["B8"].value is None
    assert "A8:E8" in {str(r) for r in ws.merged_cells.ranges}


def test_a_run_with_nothing_to_write_leaves_the_file_byte_for_byte(tmp_path):
    ids = IDS[2060:2063]
    book = sheet_book(tmp_path / "done.xlsx", sheet_xml(chat_rows(ids)))
    with Sandbox(chats(ids), rps=5000, read_rps=5000) as sandbox:
        env = sandbox_env(sandbox, tmp_path)
        assert run_cli("archive", book, "--no-progress", env=env).returncode == 0
        after_first = book.read_bytes()
        stamp = book.stat().st_mtime_ns
        proc = run_cli("archive", book, "--no-progress", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Nothing was written" in proc.stdout and "Results written" not in proc.stdout, proc.stdout
    assert book.read_bytes() == after_first and book.stat().st_mtime_ns == stamp


def test_a_book_open_in_libreoffice_is_refused_and_left_alone(tmp_path):
    ids = IDS[2070:2072]
    book = sheet_book(tmp_path / "calc.xlsx", sheet_xml(chat_rows(ids)))
    (tmp_path / ".~lock.calc.xlsx#").write_text(",analyst,host,07.05.2024 10:00,file:///home/analyst/.config;")
    before = book.read_bytes()
    with Sandbox(chats(ids), rps=5000, read_rps=5000) as sandbox:
        proc = run_cli("archive", book, "--no-progress", env=sandbox_env(sandbox, tmp_path))
        assert sandbox.log == []
    assert proc.returncode == 2
    assert "LibreOffice" in one_error(proc)
    assert book.read_bytes() == before


# --- placement as the analyst sees the sheet --------------------------------------------------------------

def test_empty_formatted_cells_are_not_data_and_hidden_columns_get_no_results(tmp_path):
    """Data in A:B, cells formatted (a style, no value) out to AMK, and column C hidden: the results go to
    D:F, beside the data, never into the hidden column and never out at AMN."""
    ids = IDS[2080:2083]
    rows = [f'<row r="1">{text_cell("A1", "Chat ID")}{text_cell("B1", "Name")}<c r="AMK1" s="1"/></row>']
    for number, chat in enumerate(ids, start=2):
        rows.append(f'<row r="{number}">{text_cell(f"A{number}", chat)}{text_cell(f"B{number}", "Anna")}'
                    f'<c r="C{number}" s="1"/><c r="AMK{number}" s="1"/></row>')
    cols = '<cols><col min="3" max="3" width="9" hidden="1" customWidth="1"/></cols>'
    book = sheet_book(tmp_path / "formatted.xlsx", sheet_xml("".join(rows), before=cols))
    assert SheetFile.open(book).result_column == "D"
    with Sandbox(chats(ids), rps=5000, read_rps=5000) as sandbox:
        proc = run_cli("archive", book, "--no-progress", env=sandbox_env(sandbox, tmp_path))
    assert proc.returncode == 0, proc.stderr
    ws = openpyxl.load_workbook(book).active
    assert [ws.cell(1, c).value for c in range(1, 7)] == ["Chat ID", "Name", None, "Status", "Details", "Updated"]
    assert ws.column_dimensions["C"].hidden


def test_styles_gain_one_format_and_no_other_list_changes(tmp_path):
    """Rows styled differently (customFormat) and cells styled in the Updated column: one new cell format."""
    ids = IDS[2090:2093]
    rows = [f'<row r="1">{text_cell("A1", "Chat ID")}</row>']
    for number, chat in enumerate(ids, start=2):
        rows.append(f'<row r="{number}" s="1" customFormat="1">{text_cell(f"A{number}", chat)}'
                    f'<c r="D{number}" s="{number % 2}"/></row>')
    book = sheet_book(tmp_path / "styled.xlsx", sheet_xml("".join(rows)))
    with Sandbox(chats(ids), rps=5000, read_rps=5000) as sandbox:
        assert run_cli("archive", book, "--no-progress", env=sandbox_env(sandbox, tmp_path)).returncode == 0
    with zipfile.ZipFile(book) as z:
        styles = z.read("xl/styles.xml").decode()
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert '<cellXfs count="3">' in styles and styles.count("<xf ") == STYLES.count("<xf ") + 1
    for kept in ("fonts", "fills", "borders", "cellStyleXfs", "cellStyles"):
        assert re.search(f"<{kept}.*?</{kept}>", styles).group(0) == re.search(f"<{kept}.*?</{kept}>", STYLES).group(0)
    assert set(re.findall(r'<c r="D\d" s="(\d+)"', sheet)) == {"2"}                 # every Updated cell uses it

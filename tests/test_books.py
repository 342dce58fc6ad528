"""Books written by other programs (XlsxWriter, LibreOffice Calc), run in place, then checked part by part
and read back by an independent reader (LibreOffice's CSV export).

Afterwards every part but the target sheet and styles.xml is byte for byte what it was, the target sheet
with the result cells taken out is the same XML, and LibreOffice shows each sheet as before plus the
result cells. LibreOffice starts slowly, so all books go through it in two batched calls.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import xlsxwriter
from book_helpers import canonical_sheet, parts, sheet_book, target_part
from cli_helpers import run_cli, sandbox_env

from greenapi_excel import methods, run as running
from greenapi_excel.results import RowResult
from greenapi_excel.sandbox import Sandbox
from greenapi_excel.sheets import SheetFile

ROOT = Path(__file__).resolve().parents[1]
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
IDS = ["79001234567", "79001234568", "4917012345670", "77011234567"]
CHATS = [{"id": f"{chat}@c.us", "name": f"Client {i}", "incoming": 1} for i, chat in enumerate(IDS)]
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


# --- the books --------------------------------------------------------------------------------------

def xlsxwriter_book(path: Path, *, date_1904=False, formulas=False, vba: Path | None = None) -> Path:
    """One Chats sheet with nearly everything an analyst's book has, and sheets around it."""
    wb = xlsxwriter.Workbook(str(path), {"date_1904": date_1904})
    if vba is not None:
        wb.add_vba_project(str(vba))
    wb.set_properties({"title": "Clients", "company": "Acme", "manager": "Maria"})
    bold = wb.add_format({"bold": True})
    chats = wb.add_worksheet("Chats")
    data = wb.add_worksheet("Data")
    lists = wb.add_worksheet("Lists")
    chats.write_row(0, 0, ["Chat ID"], bold)
    chats.write_row(0, 5, ["Region", "Score", "Sorted"], bold)
    for i, chat in enumerate(IDS, start=1):
        if formulas:   # the chat ID built from the number in J, with the value Excel saved
            chats.write_formula(i, 0, f'=J{i + 1}&"@c.us"', None, f"{chat}@c.us")
            chats.write_string(i, 9, chat)
        else:
            chats.write_string(i, 0, chat)
        chats.write_string(i, 5, ["north", "south"][i % 2])
        chats.write_number(i, 6, 10 * i)
    chats.write_rich_string(2, 5, bold, "so", "uth")
    chats.write_comment("F2", "Ask Maria first", {"x_scale": 2, "y_scale": 1.5, "color": "#FFCC00",
                                                  "font_size": 12})
    chats.conditional_format("G2:G5", {"type": "data_bar", "data_bar_2010": True})
    chats.conditional_format("G2:G5", {"type": "icon_set", "icon_style": "3_arrows"})
    chats.data_validation("F2:F5", {"validate": "list", "source": "=Lists!$A$1:$A$2"})
    chats.write_dynamic_array_formula("H2:H5", "=SORT(G2:G5)", None, 10)
    chats.add_sparkline("I2", {"range": "Chats!G2:G5", "type": "column"})
    chats.set_column("G:G", 12, None, {"level": 1})
    chats.ignore_errors({"number_stored_as_text": "A2:A100"})
    chats.insert_image("K2", "picture.png", {"image_data": io.BytesIO(PNG)})
    chats.freeze_panes(1, 0)
    lists.write_column(0, 0, ["north", "south"])
    data.write_row(0, 0, [1, 2, 3])
    chart = wb.add_chart({"type": "column"})
    chart.add_series({"values": "=Data!$A$1:$C$1"})
    chart.set_style(37)
    data.insert_chart("E2", chart)
    data.protect("secret")
    wb.define_name("ChatList", "=Chats!$A$2:$A$5")
    wb.close()
    return path


def table_book(path: Path) -> Path:
    """The chat column inside an Excel table with a totals row."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Chats")
    ws.add_table("A1:C6", {"name": "Clients", "total_row": True, "columns": [
        {"header": "Chat ID", "total_string": "Total"}, {"header": "Name"},
        {"header": "Score", "total_function": "sum"}],
        "data": [[chat, f"Client {i}", i] for i, chat in enumerate(IDS)]})
    wb.close()
    return path


def awkward_book(path: Path) -> Path:
    """Merges over result cells, a hidden row, shared strings, an array formula in the way."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Chats")
    ws.write_row(0, 0, ["Chat ID", None, None, None, "Notes"])
    for i, chat in enumerate(IDS, start=1):
        ws.write_string(i, 0, chat)
        ws.write_string(i, 4, f"note {i}")
    ws.merge_range("B3:C3", "", None)        # an empty merged block where the results go
    ws.merge_range("E6:F6", "left alone", None)
    ws.set_row(3, None, None, {"hidden": True})
    wb.close()
    return path


def prefixed_book(path: Path) -> Path:
    """A sheet written by hand the way some generators do: x: prefixes, cells and a row without r,
    a self-closing row, no <dimension>."""
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<x:worksheet xmlns:x="{MAIN}"><x:sheetData>'
        '<x:row r="1"><x:c t="inlineStr"><x:is><x:t>Chat ID</x:t></x:is></x:c>'
        '<x:c t="inlineStr"><x:is><x:t>Name</x:t></x:is></x:c></x:row>'
        '<x:row r="2"><x:c t="inlineStr"><x:is><x:t>79001234567</x:t></x:is></x:c></x:row>'
        '<x:row r="3"/>'
        '<x:row><x:c><x:v>4917012345670</x:v></x:c></x:row>'
        '</x:sheetData></x:worksheet>')
    workbook = (
        f'<?xml version="1.0" encoding="UTF-8"?><x:workbook xmlns:x="{MAIN}" xmlns:r="http://schemas.'
        'openxmlformats.org/officeDocument/2006/relationships"><x:sheets><x:sheet name="Chats" sheetId="1" '
        'r:id="rId1"/></x:sheets></x:workbook>')
    styles = (
        f'<?xml version="1.0" encoding="UTF-8"?><x:styleSheet xmlns:x="{MAIN}"><x:fonts count="1"><x:font/>'
        '</x:fonts><x:fills count="1"><x:fill><x:patternFill patternType="none"/></x:fill></x:fills><x:borders count="1"><x:border/></x:borders>'
        '<x:cellStyleXfs count="1"><x:xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></x:cellStyleXfs>'
        '<x:cellXfs count="1"><x:xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></x:cellXfs>'
        '<x:cellStyles count="1"><x:cellStyle name="Normal" xfId="0" builtinId="0"/></x:cellStyles>'
        '</x:styleSheet>')
    return sheet_book(path, sheet, styles=styles, extra={"xl/workbook.xml": workbook})


def libreoffice(args: list, folder: Path) -> None:
    profile = folder / "lo-profile"
    subprocess.run([SOFFICE, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore", *args],
                   check=True, capture_output=True, timeout=240, cwd=folder)


# --- one run over all the books --------------------------------------------------------------------

def result_columns(sheet_file) -> set[int]:
    first = sheet_file.status_column_number
    return {first, first + 1, first + 2}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    if SOFFICE is None:
        pytest.fail("LibreOffice (soffice) is missing: apt-get install libreoffice-calc-nogui")
    folder = tmp_path_factory.mktemp("books")
    made = folder / "made"
    made.mkdir()
    vba = folder / "vbaProject.bin"
    with zipfile.ZipFile(ROOT / "GreenApi.xlsm") as z:
        vba.write_bytes(z.read("xl/vbaProject.bin"))
    books = {
        "everything.xlsx": xlsxwriter_book(made / "everything.xlsx"),
        "dates1904.xlsx": xlsxwriter_book(made / "dates1904.xlsx", date_1904=True),
        "formulas.xlsx": xlsxwriter_book(made / "formulas.xlsx", formulas=True),
        "macro.xlsm": xlsxwriter_book(made / "macro.xlsm", vba=vba),
        "table.xlsx": table_book(made / "table.xlsx"),
        "awkward.xlsx": awkward_book(made / "awkward.xlsx"),
        "prefixed.xlsx": prefixed_book(made / "prefixed.xlsx"),
    }
    # Books that LibreOffice wrote: one from a CSV, one re-saved from an XlsxWriter book.
    (made / "typed.csv").write_text("Chat ID,Name,Joined\n" + "".join(
        f"{chat},Client {i},2024-0{i + 1}-15\n" for i, chat in enumerate(IDS)))
    lo_source = made / "lo-source"
    lo_source.mkdir()
    awkward_book(lo_source / "resaved.xlsx")
    libreoffice(["--convert-to", "xlsx", "--outdir", str(made), str(made / "typed.csv"),
                 str(lo_source / "resaved.xlsx")], folder)
    books["typed.xlsx"] = made / "typed.xlsx"
    books["resaved.xlsx"] = made / "resaved.xlsx"

    inputs, outputs = folder / "in", folder / "out"
    inputs.mkdir()
    outputs.mkdir()
    for name, path in books.items():
        shutil.copyfile(path, inputs / name)
        shutil.copyfile(path, outputs / name)
    found = {}
    for name in books:
        with Sandbox(CHATS, rps=1000, read_rps=1000) as sandbox:   # each book its own instance and journal
            (folder / name).with_suffix(".run").mkdir()
            env = sandbox_env(sandbox, (folder / name).with_suffix(".run"))
            book = outputs / name
            before = SheetFile.open(book)
            found[name] = {"before": before}
            if name == "prefixed.xlsx":   # the point is the XML itself: through SheetFile directly
                planned = running.plan(before.chat_cells, method=methods.ARCHIVE)
                stamp = dt.datetime.now()
                before.write([RowResult(row, "Would archive", "", stamp) for row, _ in planned.todo]
                             + planned.decided)
                before.save()
                continue
            started = dt.datetime.now().replace(microsecond=0)
            proc = run_cli("archive", book, "--no-progress", env=env)
            assert proc.returncode in (0, 1), (name, proc.stdout, proc.stderr)
            assert "Traceback" not in proc.stderr
            found[name].update(started=started, finished=dt.datetime.now(), stdout=proc.stdout)
    csv_filter = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,-1"
    for side in (inputs, outputs):
        libreoffice(["--convert-to", csv_filter, "--outdir", str(side / "csv"),
                     *[str(side / name) for name in books]], folder)
    for name in books:
        found[name]["in"] = inputs / name
        found[name]["out"] = outputs / name
        found[name]["csv_in"] = inputs / "csv"
        found[name]["csv_out"] = outputs / "csv"
    return found


ALL = ["everything.xlsx", "dates1904.xlsx", "formulas.xlsx", "macro.xlsm", "table.xlsx", "awkward.xlsx",
       "prefixed.xlsx", "typed.xlsx", "resaved.xlsx"]


# --- checks ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_only_the_target_sheet_and_the_styles_change(runs, name):
    run = runs[name]
    before, after = parts(run["in"]), parts(run["out"])
    sheet = target_part(run["in"], run["before"].sheet_name)
    assert list(after) == list(before)            # the same parts, in the same order
    changed = {part for part in before if before[part] != after[part]}
    assert changed <= {sheet, "xl/styles.xml"}, changed
    assert sheet in changed
    columns = result_columns(run["before"])
    assert canonical_sheet(after[sheet], columns) == canonical_sheet(before[sheet], columns)
    with zipfile.ZipFile(run["out"]) as z:
        assert z.testzip() is None


def read_csv(folder: Path, book: str, sheet: str) -> list[list[str]]:
    stem = Path(book).stem
    path = folder / f"{stem}-{sheet}.csv"
    if not path.exists():
        path = folder / f"{stem}.csv"        # a book with one sheet
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def sheet_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        return re.findall(r'<(?:\w+:)?sheet [^>]*name="([^"]+)"', z.read("xl/workbook.xml").decode())


@pytest.mark.parametrize("name", ALL)
def test_libreoffice_shows_every_sheet_as_before_plus_the_results(runs, name):
    run = runs[name]
    columns = sorted(result_columns(run["before"]))
    # Rows the book hides (a filter, or by hand) are skipped by the run and get no status.
    chat_rows = {row for row, _ in run["before"].chat_cells} - run["before"].hidden_rows
    for sheet in sheet_names(run["in"]):
        before = read_csv(run["csv_in"], name, sheet)
        after = read_csv(run["csv_out"], name, sheet)
        if sheet != run["before"].sheet_name:
            assert after == before, sheet
            continue
        width = max(columns[-1], *(len(r) for r in before))
        pad = [row + [""] * (width - len(row)) for row in before]
        got = [row + [""] * (width - len(row)) for row in after]
        assert len(got) == max(len(pad), max(chat_rows, default=0))
        for number, (old, new) in enumerate(zip(pad, got), start=1):
            kept = [c for i, c in enumerate(new) if i + 1 not in columns]
            assert kept == [c for i, c in enumerate(old) if i + 1 not in columns], (sheet, number)
            status, details, updated = (new[c - 1] for c in columns)
            if number == 1:
                assert (status, details, updated) == ("Status", "Details", "Updated")
            elif number in chat_rows:
                assert status, (number, new)
                shown = dt.datetime.strptime(updated, "%Y-%m-%d %H:%M:%S")   # our format, right date system
                if "started" in run:
                    assert run["started"] <= shown <= run["finished"], (number, updated)
            else:
                assert (status, details, updated) == ("", "", ""), (number, new)


@pytest.mark.parametrize("name", [name for name in ALL if name != "prefixed.xlsx"])
def test_the_runs_found_and_archived_every_chat(runs, name):
    visible = 4 - len(runs[name]["before"].hidden_rows)   # a hidden row is skipped, and the summary says so
    assert re.search(rf"^Archived\s+{visible}$", runs[name]["stdout"], re.M), runs[name]["stdout"]


def test_formula_chat_ids_are_found_again_on_the_second_run(runs):
    run = runs["formulas.xlsx"]
    first = run["before"].chat_cells
    assert [value for _, value in first] == [f"{chat}@c.us" for chat in IDS]
    again = SheetFile.open(run["out"])
    assert list(again.chat_cells) == list(first)
    assert again.previous == {row: "Archived" for row, _ in first}


def test_a_table_keeps_its_range_and_the_results_go_beside_it(runs):
    run = runs["table.xlsx"]
    sheet = run["before"]
    assert sheet.result_column == "D"                 # right of the table A1:C6, never inside it
    assert [row for row, _ in sheet.chat_cells] == [2, 3, 4, 5]   # the totals row is not a chat
    after = parts(run["out"])
    before = parts(run["in"])
    assert after["xl/tables/table1.xml"] == before["xl/tables/table1.xml"]


def test_merges_over_result_cells_go_and_the_rest_stay(runs):
    run = runs["awkward.xlsx"]
    assert run["before"].result_column == "B"
    xml = parts(run["out"])["xl/worksheets/sheet1.xml"].decode()
    assert 'ref="E6:F6"' in xml and 'ref="B3:C3"' not in xml
    assert run["before"].hidden_rows == {4}
    assert SheetFile.open(runs["resaved.xlsx"]["in"]).hidden_rows == {4}   # as LibreOffice writes it


def test_the_updated_format_is_appended_once_and_reused_on_a_rerun(runs, tmp_path):
    run = runs["everything.xlsx"]
    before, after = parts(run["in"])["xl/styles.xml"], parts(run["out"])["xl/styles.xml"]
    count = lambda xml: int(re.search(rb'<cellXfs count="(\d+)"', xml).group(1))   # noqa: E731
    assert count(after) == count(before) + 1
    assert b'formatCode="yyyy-mm-dd hh:mm:ss"' in after
    again = tmp_path / "again.xlsx"
    shutil.copyfile(run["out"], again)
    sheet = SheetFile.open(again)
    sheet.write([RowResult(2, "Archived", "", dt.datetime(2024, 5, 6, 7, 8, 9))])
    sheet.save()
    assert parts(again)["xl/styles.xml"] == after


def test_the_vba_project_and_everything_else_of_an_xlsm_survive(runs):
    before, after = parts(runs["macro.xlsm"]["in"]), parts(runs["macro.xlsm"]["out"])
    assert after["xl/vbaProject.bin"] == before["xl/vbaProject.bin"]
    assert b"macroEnabled" in after["[Content_Types].xml"]


def test_the_dimension_and_row_spans_widen_over_the_results(runs):
    run = runs["awkward.xlsx"]                          # results in B:D between the chats and E's notes
    xml = parts(run["out"])["xl/worksheets/sheet1.xml"].decode()
    before = parts(run["in"])["xl/worksheets/sheet1.xml"].decode()
    assert re.search(r'<dimension ref="A1:F6"/>', before) and re.search(r'<dimension ref="A1:F6"/>', xml)
    run = runs["table.xlsx"]                            # results in D:F, right of everything
    xml = parts(run["out"])["xl/worksheets/sheet1.xml"].decode()
    assert '<dimension ref="A1:F6"/>' in xml
    assert re.search(r'<row r="2" spans="1:6"', xml)


# --- sheets in every shape the XML allows ---------------------------------------------------------

from hypothesis import HealthCheck, given, settings, strategies as hs  # noqa: E402

_ROW = hs.fixed_dictionaries({
    "chat": hs.one_of(hs.none(), hs.sampled_from(IDS)),
    "note": hs.one_of(hs.none(), hs.text("ab <&>\"'", min_size=1, max_size=6)),
    "row_ref": hs.booleans(), "cell_refs": hs.booleans(), "gap": hs.booleans(),
})


def _sheet_xml(rows, prefix: str) -> tuple[str, dict[int, tuple]]:
    """Rows with the chat in A and a note in F (columns B:D free), every optional spelling mixed."""
    p = prefix
    out, expected, number = [], {}, 1
    out.append(f'<{p}row r="1"><{p}c r="A1" t="inlineStr"><{p}is><{p}t>Chat ID</{p}t></{p}is></{p}c></{p}row>')
    for row in rows:
        number += 2 if row["gap"] else 1
        ref = f' r="{number}"' if row["row_ref"] or row["gap"] else ""   # after a gap a row must say where
        cells = []
        if row["chat"] is not None:
            r = f' r="A{number}"' if row["cell_refs"] else ""
            cells.append(f'<{p}c{r} t="inlineStr"><{p}is><{p}t>{row["chat"]}</{p}t></{p}is></{p}c>')
        if row["note"] is not None:
            if row["chat"] is None and not row["cell_refs"]:
                row = dict(row, cell_refs=True)
            filler = "" if row["cell_refs"] else "".join(f"<{p}c/>" for _ in range(4))
            r = f' r="F{number}"' if row["cell_refs"] else ""
            text = row["note"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            cells.append(f'{filler}<{p}c{r} t="inlineStr"><{p}is><{p}t xml:space="preserve">{text}</{p}t></{p}is>'
                         f'</{p}c>')
        body = "".join(cells)
        out.append(f"<{p}row{ref}>{body}</{p}row>" if body else f"<{p}row{ref}/>")
        expected[number] = (row["chat"], row["note"])
    return "".join(out), expected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=hs.lists(_ROW, min_size=1, max_size=8), prefix=hs.sampled_from(["", "x:"]))
def test_any_spelling_of_a_sheet_gets_its_results_and_keeps_its_cells(tmp_path_factory, rows, prefix):
    import openpyxl

    path = prefixed_book(tmp_path_factory.mktemp("shape") / "shape.xlsx")
    body, expected = _sheet_xml(rows, prefix)
    declaration = f'xmlns:x="{MAIN}"' if prefix else f'xmlns="{MAIN}"'
    xml = f'<?xml version="1.0" encoding="UTF-8"?><{prefix}worksheet {declaration}><{prefix}sheetData>{body}' \
          f'</{prefix}sheetData></{prefix}worksheet>'
    with zipfile.ZipFile(path) as z:
        old = {name: z.read(name) for name in z.namelist()}
    old["xl/worksheets/sheet1.xml"] = xml.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in old.items():
            z.writestr(name, data)
    sheet = SheetFile.open(path)
    chats = {number: chat for number, (chat, _) in expected.items() if chat is not None}
    assert list(sheet.chat_cells) == sorted(chats.items())
    assert sheet.result_column == "B"
    stamp = dt.datetime(2024, 5, 6, 7, 8, 9)
    sheet.write([RowResult(number, "Archived", f"row {number}", stamp) for number in chats])
    written = path.read_bytes()
    sheet.save()
    if not chats:   # nothing to write: the book stays byte for byte
        assert path.read_bytes() == written
        return
    ws = openpyxl.load_workbook(path).active
    assert [ws.cell(1, c).value for c in range(1, 5)] == ["Chat ID", "Status", "Details", "Updated"]
    for number, (chat, note) in expected.items():
        assert ws.cell(number, 1).value == chat
        assert ws.cell(number, 6).value == note
        want = ("Archived", f"row {number}", stamp) if chat is not None else (None, None, None)
        assert tuple(ws.cell(number, c).value for c in (2, 3, 4)) == want, (number, xml)

"""Workbook file I/O: the file side of a run against openpyxl's own load and save of the same book.

    python benchmarks/workbook_io.py [--books 100000x1,100000x10] [--repeat 3]

For each book (ROWSxCOLUMNS: a messy chat column in A, then COLUMNS-1 columns of the analyst's data, a
header row with Status/Details/Updated free beside the data) it measures, each in a fresh subprocess so
that its peak memory (ru_maxrss of that process) is its own, best of --repeat:
- ours: the whole file side of `archive --dry-run`: SheetFile.open, a result for every row written in
  blocks of 500 as bulk.run hands them over, SheetFile.save in place (atomic, fsync);
- openpyxl load + save: load_workbook of the same input book and save, nothing else (the bar);
- openpyxl doing our job: load_workbook, the three result cells per row through ws.cell, save;
- the read side alone: SheetFile.open, and python-calamine reading the same sheet (when installed),
  which is how the reader was chosen.
Also plan: bulk.plan over the chat cells (in this process).
Targets: ours at most 0.5x the time and a third of the peak memory of openpyxl's load + save.

Hostile sizes (--hostile 32,64,128, megabytes; 0 to leave them out): books whose one part is huge in one
place, each measured as "ours" above, with the time ratio of each doubling (linear time doubles, give or
take noise; the regular-expression reader this replaced took 3 to 4 times as long for each doubling):
- one shared string of N MB (referenced from the column beside the chats, so it is read);
- N MB of padding (whitespace) before <sheetData>;
- one long row of N MB (16,000 cells of text beside its chat).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

# A measured child process imports only what it measures: argparse, subprocess and the rest are the
# parent's (they would add the same megabyte or two to every figure).

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cell_value(i: int):
    number = 79000000000 + i * 7
    kind = i % 8
    if kind == 0:
        return float(number)
    if kind == 1:
        return f"+7 ({str(number)[1:4]}) {str(number)[4:7]}-{str(number)[7:9]}-{str(number)[9:]}"
    if kind == 2:
        return f"{number}@c.us"
    if kind == 3:
        return f"4915{i:09d}"
    if kind == 4:
        return f"1203630{i:011d}@g.us"
    if kind == 5:
        return "n/a" if i % 16 == 5 else f"00 44 7911 {i % 1000000:06d}"
    if kind == 6:
        return float(79000000000 + (i - 6) * 7)  # a duplicate of the row six above
    return f"  +{number}  "


def data_value(i: int, column: int):
    kind = column % 3
    if kind == 0:
        return f"client {i} note {column}"
    if kind == 1:
        return i * column + 0.25
    return dt.datetime(2024, 1, 1) + dt.timedelta(hours=i % 5000)


def make_book(path: Path, rows: int, columns: int) -> None:
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("Chats")
    ws.append(["Chat ID", *[f"Data {c}" for c in range(2, columns + 1)]])
    for i in range(rows):
        ws.append([cell_value(i), *[data_value(i, c) for c in range(2, columns + 1)]])
    wb.save(path)


# --- what each subprocess does -------------------------------------------------------------------

def child_ours(book: Path) -> None:
    from greenapi_excel.results import RowResult
    from greenapi_excel.sheets import SheetFile

    sheet = SheetFile.open(book)
    now = dt.datetime.now()
    cells = sheet.chat_cells
    for start in range(0, len(cells), 500):
        sheet.write([RowResult(row, "Would archive", "", now) for row, _ in cells[start:start + 500]])
    sheet.save()


def child_open(book: Path) -> None:
    from greenapi_excel.sheets import SheetFile

    SheetFile.open(book)


def child_calamine(book: Path) -> None:
    from python_calamine import CalamineWorkbook

    CalamineWorkbook.from_path(str(book)).get_sheet_by_index(0).to_python()


def child_openpyxl_load_save(book: Path) -> None:
    import openpyxl

    openpyxl.load_workbook(book).save(book)


def child_openpyxl_job(book: Path) -> None:
    import openpyxl

    wb = openpyxl.load_workbook(book)
    ws = wb.active
    column = ws.max_column + 1
    now = dt.datetime.now()
    for (cell,) in ws.iter_rows(min_row=2, max_col=1):
        if cell.value is not None:
            ws.cell(cell.row, column, "Would archive")
            ws.cell(cell.row, column + 1, "")
            ws.cell(cell.row, column + 2, now).number_format = "yyyy-mm-dd hh:mm:ss"
    wb.save(book)


# --- hostile sizes ------------------------------------------------------------------------------------

HOSTILE = ("shared string", "padding", "long row")


def make_hostile_book(path: Path, kind: str, megabytes: int) -> None:
    """A small book of chats made huge in one place (see the module's docstring)."""
    import random

    from book_helpers import STYLES, chat_rows, sheet_book, sheet_xml, text_cell

    size = megabytes * 1_000_000
    rng = random.Random(megabytes)

    def text(length: int, alphabet: bytes = b"abcdefghijklmnopqrstuvwxyz ") -> str:
        table = bytes(alphabet[i % len(alphabet)] for i in range(256))
        return rng.randbytes(length).translate(table).decode()

    chats = [f"7900127{i:04d}" for i in range(200)]
    rows = chat_rows(chats)
    first = text_cell("A2", chats[0]) + "</row>"
    extra = {}
    if kind == "shared string":
        strings = (f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN_NS}" count="1" uniqueCount="1">'
                   f"<si><t>{text(size)}</t></si></sst>")
        sheet = sheet_xml(rows.replace(first, first[:-6] + '<c r="B2" t="s"><v>0</v></c></row>', 1))
        extra = {"xl/sharedStrings.xml": strings, "xl/_rels/workbook.xml.rels": WORKBOOK_RELS_WITH_STRINGS}
    elif kind == "padding":
        sheet = sheet_xml(rows, before=f'<dimension ref="A1:A201"/>{text(size, b" " + chr(9).encode() + b" ")}')
    else:
        cell = max(1, size // 16_000 - 40)
        cells = "".join(text_cell(f"{column_name(c)}2", text(cell)) for c in range(5, 16_005))
        sheet = sheet_xml(rows.replace(first, first[:-6] + cells + "</row>", 1))
    sheet_book(path, sheet, styles=STYLES, extra=extra)


MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
WORKBOOK_RELS_WITH_STRINGS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
    'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship '
    'Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
    'Target="styles.xml"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/'
    '2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>')


def column_name(number: int) -> str:
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def measure_hostile(sizes: list[int], tmp: Path) -> list[dict]:
    figures = []
    for kind in HOSTILE:
        previous = None
        for megabytes in sizes:
            book = tmp / f"hostile_{kind.replace(' ', '_')}_{megabytes}.xlsx"
            make_hostile_book(book, kind, megabytes)
            figure = {"kind": kind, "megabytes": megabytes, "book_mb": book.stat().st_size / 1e6,
                      **run_child("ours", book, tmp)}
            figure["doubling_ratio"] = figure["seconds"] / previous if previous else None
            previous = figure["seconds"]
            book.unlink()
            print(f"  {kind} {megabytes} MB: {figure}", file=sys.stderr, flush=True)
            figures.append(figure)
    return figures


CHILDREN = {"ours": child_ours, "open": child_open, "calamine": child_calamine,
            "openpyxl_load_save": child_openpyxl_load_save, "openpyxl_job": child_openpyxl_job}


# Linux starts a process's peak RSS at its parent's when it is forked and exec'd, and this process holds
# the books it made: a small launcher in between makes each measured figure its own (tests/book_helpers).
sys.path.insert(0, str(ROOT / "tests"))
from book_helpers import LAUNCHER  # noqa: E402


def run_child(kind: str, book: Path, tmp: Path) -> dict:
    """One measurement in a fresh process on a fresh copy of the book (in-place saves change it)."""
    import shutil
    import subprocess

    copy = tmp / f"run_{kind}{book.suffix}"
    shutil.copyfile(book, copy)
    proc = subprocess.run([sys.executable, "-c", LAUNCHER, sys.executable, __file__, "--child", kind, str(copy)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} failed: {proc.stderr[-2000:]}")
    figure = proc.stderr.rstrip().rpartition("\n")[2]
    seconds = json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]
    return {"seconds": seconds, "peak_mb": int(figure.split("=")[1]) / 1024}  # Linux reports KiB


def best(kind: str, book: Path, tmp: Path, repeat: int) -> dict:
    runs = [run_child(kind, book, tmp) for _ in range(repeat)]
    return {"seconds": min(r["seconds"] for r in runs), "peak_mb": min(r["peak_mb"] for r in runs)}


def measure(rows: int, columns: int, repeat: int, tmp: Path, kinds: list[str]) -> dict:
    from greenapi_excel import methods, run as running
    from greenapi_excel.sheets import SheetFile

    book = tmp / f"book_{rows}x{columns}.xlsx"
    make_book(book, rows, columns)
    cells = SheetFile.open(book).chat_cells
    started = time.perf_counter()
    running.plan(cells, method=methods.ARCHIVE)
    figures = {"rows": rows, "columns": columns, "plan_s": time.perf_counter() - started,
               "book_mb": book.stat().st_size / 1e6}
    for kind in kinds:
        if kind == "calamine":
            try:
                import python_calamine  # noqa: F401
            except ImportError:
                continue
        figures[kind] = best(kind, book, tmp, 1 if kind == "openpyxl_job" else repeat)
        print(f"  {rows}x{columns} {kind}: {figures[kind]}", file=sys.stderr, flush=True)
    bar = figures["openpyxl_load_save"]
    figures["time_ratio"] = figures["ours"]["seconds"] / bar["seconds"]
    figures["memory_ratio"] = figures["ours"]["peak_mb"] / bar["peak_mb"]
    return figures


def main(argv=None) -> int:
    if argv is None and sys.argv[1:2] == ["--child"]:
        kind, book = sys.argv[2:4]
        started = time.perf_counter()
        CHILDREN[kind](Path(book))
        print(json.dumps({"seconds": time.perf_counter() - started}))
        return 0
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--books", default="100000x1,100000x10")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip", default="", help="comma-separated measurements to leave out (e.g. openpyxl_job)")
    parser.add_argument("--hostile", default="32,64,128", help="sizes in MB of the hostile books (0: none)")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "workbook_io.json"))
    args = parser.parse_args(argv)
    # pip compiles an installed package's bytecode (openpyxl's is); this environment may not write any
    # (PYTHONDONTWRITEBYTECODE), and compiling our modules in every child would be measured as ours.
    import compileall

    compileall.compile_dir(str(ROOT / "greenapi_excel"), quiet=1)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    kinds = [k for k in ("ours", "openpyxl_load_save", "openpyxl_job", "open", "calamine") if k not in skip]
    figures = []
    hostile_sizes = [int(x) for x in args.hostile.split(",") if x.strip() and int(x)]
    with tempfile.TemporaryDirectory() as tmp:
        for spec in [b for b in args.books.split(",") if b.strip()]:
            rows, columns = (int(x) for x in spec.lower().split("x"))
            figures.append(measure(rows, columns, args.repeat, Path(tmp), kinds))
        hostile = measure_hostile(hostile_sizes, Path(tmp)) if hostile_sizes else []
    print(f"{'book':>12} {'plan s':>7} | {'ours s':>7} {'MB':>5} | openpyxl load+save {'s':>6} {'MB':>5} | "
          f"{'time':>5} {'memory':>6} | openpyxl same job {'s':>6} | read: ours {'s':>5} {'MB':>4}, "
          f"calamine {'s':>5} {'MB':>4}")
    for f in figures:
        ours, bar = f["ours"], f["openpyxl_load_save"]
        job = f.get("openpyxl_job", {}).get("seconds", float("nan"))
        read = f.get("open", {"seconds": float("nan"), "peak_mb": float("nan")})
        cal = f.get("calamine", {"seconds": float("nan"), "peak_mb": float("nan")})
        print(f"{f['rows']:>8}x{f['columns']:<3} {f['plan_s']:>7.3f} | {ours['seconds']:>7.2f} {ours['peak_mb']:>5.0f} | "
              f"{'':>18} {bar['seconds']:>6.2f} {bar['peak_mb']:>5.0f} | {f['time_ratio']:>4.2f}x "
              f"{f['memory_ratio']:>5.2f}x | {'':>17} {job:>6.2f} | {'':>10} {read['seconds']:>5.2f} "
              f"{read['peak_mb']:>4.0f}, {'':>8} {cal['seconds']:>5.2f} {cal['peak_mb']:>4.0f}")
    if hostile:
        print(f"\n{'hostile book':>16} {'MB':>5} {'file MB':>8} | {'ours s':>7} {'MB':>5} | doubling")
        for f in hostile:
            ratio = f"{f['doubling_ratio']:.2f}x" if f["doubling_ratio"] else "-"
            print(f"{f['kind']:>16} {f['megabytes']:>5} {f['book_mb']:>8.2f} | {f['seconds']:>7.2f} "
                  f"{f['peak_mb']:>5.0f} | {ratio:>8}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"books": figures, "hostile": hostile}, indent=2) + "\n")
    print(f"\nfigures written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

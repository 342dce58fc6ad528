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


CHILDREN = {"ours": child_ours, "open": child_open, "calamine": child_calamine,
            "openpyxl_load_save": child_openpyxl_load_save, "openpyxl_job": child_openpyxl_job}


# Linux starts a process's peak RSS at its parent's when it is forked and exec'd, and this process holds
# the books it made: a small launcher in between makes each measured figure its own.
LAUNCHER = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[1:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "sys.stderr.write(f'\\nmaxrss_kb={usage.ru_maxrss}\\n')\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


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
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "workbook_io.json"))
    args = parser.parse_args(argv)
    # pip compiles an installed package's bytecode (openpyxl's is); this environment may not write any
    # (PYTHONDONTWRITEBYTECODE), and compiling our modules in every child would be measured as ours.
    import compileall

    compileall.compile_dir(str(ROOT / "greenapi_excel"), quiet=1)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    kinds = [k for k in ("ours", "openpyxl_load_save", "openpyxl_job", "open", "calamine") if k not in skip]
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.books.split(","):
            rows, columns = (int(x) for x in spec.lower().split("x"))
            figures.append(measure(rows, columns, args.repeat, Path(tmp), kinds))
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
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nfigures written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Planning and workbook file I/O at 1k, 10k and 100k rows, against openpyxl's own load and save.

    python benchmarks/workbook_io.py [--rows 1000,10000,100000] [--repeat 3]

For each size it writes a book with a messy chat column (numbers, floats, formatted text, ready IDs,
duplicates, junk) and measures, best of --repeat:
- plan: bulk.plan over every cell (parse, validate, de-duplicate);
- ours: SheetFile.open + write of a result for every row + SheetFile.save (atomic, in place);
- openpyxl doing the same job: load_workbook, the same three result cells per row through ws.cell, save;
- openpyxl's bare load + save of the finished book (the same file as it is after the run, results in);
- openpyxl's bare load + save of the input book (a quarter of the cells: no results yet), for scale.
Targets: plan of 100,000 rows under 3 s; ours within 1.5x of openpyxl doing the same job.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import openpyxl  # noqa: E402

from greenapi_excel import bulk  # noqa: E402
from greenapi_excel.results import RowResult  # noqa: E402
from greenapi_excel.sheets import SheetFile  # noqa: E402


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


def make_book(path: Path, rows: int) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Chats"
    ws.append(["Chat ID", "Status", "Details", "Updated"])
    for i in range(rows):
        ws.append([cell_value(i)])
    wb.save(path)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(rows: int, repeat: int, tmp: Path) -> dict:
    book = tmp / f"book_{rows}.xlsx"
    make_book(book, rows)

    def bare_load_save():
        wb = openpyxl.load_workbook(book)
        wb.save(tmp / "reference_copy.xlsx")

    sheet = SheetFile.open(book)
    cells = sheet.chat_cells
    plan_s = best(lambda: bulk.plan(cells, method=bulk.ARCHIVE), repeat)
    planned = bulk.plan(cells, method=bulk.ARCHIVE)
    now = dt.datetime.now()
    results = [RowResult(row, "Archived", "done", now) for row, _ in planned.todo] + planned.decided

    def ours():
        sf = SheetFile.open(book)
        sf.write(results)
        sf.save(tmp / "ours_copy.xlsx")

    def openpyxl_same_job():
        wb = openpyxl.load_workbook(book)
        ws = wb.active
        for r in results:
            ws.cell(r.row, 2, r.status)
            ws.cell(r.row, 3, r.details)
            ws.cell(r.row, 4, r.updated)
        wb.save(tmp / "openpyxl_copy.xlsx")

    def finished_load_save():
        wb = openpyxl.load_workbook(tmp / "ours_copy.xlsx")
        wb.save(tmp / "finished_copy.xlsx")

    bare_s = best(bare_load_save, repeat)
    reference_s = best(openpyxl_same_job, repeat)
    ours_s = best(ours, repeat)
    finished_s = best(finished_load_save, repeat)
    return {"rows": rows, "plan_s": plan_s, "bare_load_save_s": bare_s, "reference_s": reference_s,
            "finished_load_save_s": finished_s, "ratio_to_finished": ours_s / finished_s,
            "ours_s": ours_s, "ratio": ours_s / reference_s, "ratio_to_bare": ours_s / bare_s,
            "todo": len(planned.todo), "decided": len(planned.decided)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "workbook_io.json"))
    args = parser.parse_args(argv)
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        for rows in [int(x) for x in args.rows.split(",")]:
            figures.append(measure(rows, args.repeat, Path(tmp)))
            f = figures[-1]
            print(f"  {rows:>7} rows measured", file=sys.stderr, flush=True)
    print(f"{'rows':>8} {'plan s':>7} {'ours s':>7} | openpyxl: {'same job s':>10} {'ratio':>6} "
          f"{'load+save finished s':>21} {'ratio':>6} {'load+save input s':>18} {'ratio':>6}")
    for f in figures:
        print(f"{f['rows']:>8} {f['plan_s']:>7.3f} {f['ours_s']:>7.3f} | {'':>9} {f['reference_s']:>10.3f} "
              f"{f['ratio']:>5.2f}x {f['finished_load_save_s']:>21.3f} {f['ratio_to_finished']:>5.2f}x "
              f"{f['bare_load_save_s']:>18.3f} {f['ratio_to_bare']:>5.2f}x")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2))
    print(f"\nfigures written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

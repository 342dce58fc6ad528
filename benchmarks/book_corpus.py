"""Books others made, run in place by the file side and checked part by part: how many come back whole.

    python benchmarks/book_corpus.py FOLDER [FOLDER ...] [--json PATH]

Every .xlsx/.xlsm under the folders is copied and opened the way `greenapi-excel archive` opens it: its
first sheet, its chat column (or, when that column's row 1 holds no header or nothing lies below it, the
first column headed with text, as `--column` would give it). A result is written for every chat cell, the
copy is saved in place, and then checked against the original (tests/book_helpers.changes_outside_results):
the same parts in the same order, nothing changed but the target sheet's result cells, styles.xml with at
most one new cell format, every XML part well-formed, and openpyxl reads it back.

It prints how many books came back whole, how many had nothing to write (left byte for byte), how many were
refused with a clear line (and why), and every other outcome (a bug: each is listed). The test suite runs
a small corpus of such books through the real command line (tests/test_corpus.py); this script is for the
larger corpora the project holds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def pick_column(path: Path) -> str | None:
    """The first column of the first sheet headed with text that has a value below (openpyxl's reading)."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        ws = wb.worksheets[0]
        rows = list(ws.iter_rows(min_row=1, max_row=200, values_only=True))
        wb.close()
    except Exception:  # noqa: BLE001 - a book openpyxl cannot read gets no column of its choosing
        return None
    if not rows:
        return None
    from greenapi_excel.layout import column_letter

    for index, header in enumerate(rows[0]):
        if isinstance(header, str) and header.strip() and any(
                index < len(row) and row[index] is not None and str(row[index]).strip() for row in rows[1:]):
            return column_letter(index + 1)
    return None


def run_one(book: Path, work: Path) -> tuple[str, str]:
    """(outcome, detail): "whole", "nothing", "refused" (the line), or "BROKEN"/"CRASH" (what went wrong)."""
    import openpyxl

    from book_helpers import changes_outside_results, first_worksheet
    from greenapi_excel.errors import WorkbookError
    from greenapi_excel.results import RowResult
    from greenapi_excel.sheets import SheetFile

    copy = work / book.name
    shutil.copyfile(book, copy)
    try:
        try:
            sheet = SheetFile.open(copy)
            chosen = None if len(sheet.chat_cells) else pick_column(copy)
        except WorkbookError as error:
            chosen = pick_column(copy) if "header" in str(error) else None
            if chosen is None:
                raise
        if chosen:
            sheet = SheetFile.open(copy, column=chosen)
        stamp = dt.datetime(2024, 5, 6, 7, 8, 9)
        sheet.write([RowResult(row, "Would archive", "dry run: nothing changed", stamp) for row, _ in sheet.chat_cells])
        if sheet.save() is None:
            return ("nothing", "") if copy.read_bytes() == book.read_bytes() else ("BROKEN", "nothing written, yet changed")
        first = sheet.status_column_number
        problems = changes_outside_results(book, copy, first_worksheet(book) if sheet.sheet_name is None
                                           else sheet.sheet_name, {first, first + 1, first + 2})
        if problems:
            return "BROKEN", "; ".join(problems)[:300]
        try:
            openpyxl.load_workbook(copy).close()
        except Exception as error:  # noqa: BLE001 - did openpyxl read the original?
            try:
                openpyxl.load_workbook(book).close()
            except Exception:  # noqa: BLE001
                return "whole", ""
            return "BROKEN", f"openpyxl cannot read it now: {type(error).__name__}: {error}"[:300]
        return "whole", ""
    except WorkbookError as error:
        return "refused", str(error)
    except Exception:  # noqa: BLE001 - the point is to find them
        return "CRASH", traceback.format_exc()[-800:]
    finally:
        copy.unlink(missing_ok=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--json", type=Path, help="write every book's outcome here")
    args = parser.parse_args(argv)
    books = sorted(p for folder in args.folders for p in folder.rglob("*") if p.suffix.lower() in (".xlsx", ".xlsm"))
    outcomes: Counter = Counter()
    reasons: Counter = Counter()
    found = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        for book in books:
            outcome, detail = run_one(book, Path(work))
            outcomes[outcome] += 1
            found[str(book)] = [outcome, detail]
            if outcome == "refused":
                reasons[detail.split(": ", 1)[-1][:90]] += 1
            elif outcome in ("BROKEN", "CRASH"):
                print(f"{outcome} {book}: {detail}", file=sys.stderr)
    took = time.perf_counter() - started
    print(f"{len(books)} books in {took:.1f} s: {outcomes['whole']} came back whole, {outcomes['nothing']} had "
          f"nothing to write (left byte for byte), {outcomes['refused']} refused with a clear line, "
          f"{outcomes['BROKEN']} broken, {outcomes['CRASH']} crashed")
    for reason, count in reasons.most_common(15):
        print(f"  refused {count:>4}: {reason}")
    if args.json:
        args.json.write_text(json.dumps(found, indent=1, ensure_ascii=False) + "\n")
    return 1 if outcomes["BROKEN"] or outcomes["CRASH"] else 0


if __name__ == "__main__":
    raise SystemExit(main())

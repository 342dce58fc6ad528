"""How long Excel waits when Archive is pressed, now that the run goes to a worker process.

    python benchmarks/background_start.py [--rows 1000,10000]

The macro's own part, in Excel's Python: the Settings read, the one read of the sheet, bulk.plan and the
job file, against the xlwings stand-in (tests/xlwings_standin.py; real Excel adds a few ms of COM per read),
with the worker's start left out (``_spawn`` is replaced by a no-op here, never in the product). Beside it,
what Excel waited before, when the calls ran inside RunPython: rows / 10 a second (computed, not run).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import addin  # noqa: E402
import xlwings_standin as xls  # noqa: E402
from greenapi_excel import background  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="1000,10000")
    sizes = [int(n) for n in parser.parse_args().rows.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        os.environ.update({"GREENAPI_RUNS_DIR": f"{folder}/runs", "GREENAPI_LOCK_DIR": f"{folder}/locks",
                           "GREENAPI_CONFIG": f"{folder}/config.ini", "GREENAPI_JOURNAL": f"{folder}/j.sqlite",
                           "GREENAPI_API_URL": "http://127.0.0.1:9", "GREENAPI_ID_INSTANCE": "1101000001",
                           "GREENAPI_API_TOKEN_INSTANCE": "b" * 50})
        spawned = []
        addin._spawn = spawned.append   # the worker's start is not part of what Excel waits for
        print(f"{'rows':>7}  {'Excel waits now':>16}  {'job file':>9}  {'Excel waited before':>20}  ratio")
        for n in [10] + sizes:   # the first, unprinted, pays the imports (phonenumbers' tables, ...)
            book = xls.Book.from_file(ROOT / "GreenApi.xlsm")
            chats = book.sheets["Chats"]
            chats.cells = {(1, 1): "Chat ID", **{(r, 1): f"7900{r:07d}@c.us" for r in range(2, n + 2)}}
            started = time.perf_counter()
            addin.archive_chats(book)
            seconds = time.perf_counter() - started
            job = background.RunFiles.for_book(book.fullname).job
            size = job.stat().st_size
            assert spawned and not book.app.alerts, book.app.alerts
            before = n / 10
            job.unlink()
            if n == 10:
                continue
            print(f"{n:>7,}  {seconds * 1000:>13.0f} ms  {size / 1024:>6.0f} KB  "
                  f"{before:>18,.0f} s  {before / seconds:>5,.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

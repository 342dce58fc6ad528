"""Start-up: `greenapi-excel --help`, and process start to the first request of a run.

    python benchmarks/startup.py [--repeat 5]

The first request is timed by the sandbox (its log's receive time) against the moment the process was
started, for a small book; the target is 0.5 s for both figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from greenapi_excel.sandbox import Sandbox  # noqa: E402


def time_help() -> float:
    started = time.time()
    subprocess.run([sys.executable, "-m", "greenapi_excel", "--help"], check=True, capture_output=True)
    return time.time() - started


def time_first_request(book: Path, sandbox: Sandbox, journal: Path) -> float:
    env = dict(os.environ, GREENAPI_API_URL=sandbox.api_url, GREENAPI_ID_INSTANCE=str(sandbox.id_instance),
               GREENAPI_API_TOKEN_INSTANCE=sandbox.token, GREENAPI_JOURNAL=str(journal))
    seen = len(sandbox.log)
    started = time.time()
    subprocess.run([sys.executable, "-m", "greenapi_excel", "archive", str(book), "--no-progress"],
                   env=env, capture_output=True)
    first = sandbox.log[seen]["time"]
    return first - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    from openpyxl import Workbook

    helps = [time_help() for _ in range(args.repeat)]
    firsts = []
    with tempfile.TemporaryDirectory() as tmp, Sandbox(rps=1000, read_rps=1000) as sandbox:
        for i in range(args.repeat):
            book = Path(tmp) / f"b{i}.xlsx"
            wb = Workbook()
            wb.active.append(["Chat ID"])
            wb.active.append(["+7 900 123-45-67"])
            wb.save(book)
            firsts.append(time_first_request(book, sandbox, Path(tmp) / f"j{i}.sqlite3"))
    print(f"greenapi-excel --help        median {statistics.median(helps):.3f} s  (max {max(helps):.3f}, target 0.5)")
    print(f"start to first request      median {statistics.median(firsts):.3f} s  (max {max(firsts):.3f}, target 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

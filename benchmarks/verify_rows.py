"""What verify costs: one getChats read for the whole book, whatever its size, and the time to check and write.

    python benchmarks/verify_rows.py [--rows 1000,10000]

A sandbox with N chats (over loopback, no pacing in the way), a book of N rows that an archive run filled,
a tenth of the chats then brought back (so verify writes that many Not archived rows): the time of the one
read of the book and the plan (prepare_verify), of verify itself (getChats + checks + journal records + the
book's save), and the calls it made. Also how long the journal's links and contradicted-chats queries take
at that size, which every run now asks once.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import openpyxl  # noqa: E402

from greenapi_excel import filebook, jobs, methods, pacing, statuses as st  # noqa: E402
from greenapi_excel.client import Credentials, GreenApiClient  # noqa: E402
from greenapi_excel.journal import Journal  # noqa: E402
from greenapi_excel.sandbox import Sandbox  # noqa: E402


def one(n: int, folder: Path) -> tuple[float, float, float, int, int]:
    chats = [{"id": f"7900{i:07d}@c.us", "incoming": 1, "archive": True} for i in range(n)]
    book = folder / f"verify-{n}.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["Chat ID", "Status", "Details", "Updated"])
    for chat in chats:
        wb.active.append([chat["id"], st.ARCHIVED, "done", None])
    wb.save(book)
    with Sandbox(chats, rps=100_000, read_rps=100_000) as sandbox, Journal(folder / f"j-{n}.sqlite3") as journal:
        for chat in list(sandbox.chats.values())[::10]:
            chat.archive = False                      # brought back since
        pacing.forget_pacers()
        client = GreenApiClient(Credentials(sandbox.api_url, sandbox.id_instance, sandbox.token), rate=100_000,
                                read_rate=100_000)
        began = time.perf_counter()
        read, opened = filebook.read(book)
        checks = jobs.prepare_verify(read)
        planned = time.perf_counter() - began
        began = time.perf_counter()
        outcome = jobs.verify(read, checks, client, journal, filebook.FileTarget(opened))
        verified = time.perf_counter() - began
        began = time.perf_counter()
        journal.links(sandbox.id_instance)
        journal.contradicted_chats(sandbox.id_instance, methods.ARCHIVE)
        queries = time.perf_counter() - began
        client.close()
        return planned, verified, queries, len(sandbox.log), len(outcome.verified.contradicted)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="1000,10000")
    sizes = [int(n) for n in parser.parse_args().rows.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        os.environ["GREENAPI_LOCK_DIR"] = f"{folder}/locks"
        print(f"{'rows':>7}  {'read + plan':>11}  {'verify':>8}  {'journal queries':>15}  {'calls':>5}  not archived")
        for n in sizes:
            planned, verified, queries, calls, found = one(n, Path(folder))
            print(f"{n:>7,}  {planned:>10.2f}s  {verified:>7.2f}s  {queries * 1000:>13.1f}ms  {calls:>5}  {found:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

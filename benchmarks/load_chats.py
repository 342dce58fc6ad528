"""Load chats: the three reads and the sheet, at 1k and 10k chats, against the per-chat alternative.

    python benchmarks/load_chats.py [--chats 1000,10000]

For each size a sandbox holds that many chats with message times (limits as GREEN-API's: 1 read a second
per method). Measured:
- reads: getChats + lastIncomingMessages + lastOutgoingMessages through the client (chatlist.fetch);
- write: chatsheet.write of a new book, and a second write over it (the refresh in place, matched by Chat ID);
- the alternative a per-chat design would need: one getContactInfo per chat at 1 a second (computed, not run).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from greenapi_excel import chatlist, jobs, chatsheet  # noqa: E402
from greenapi_excel.client import Credentials, GreenApiClient  # noqa: E402
from greenapi_excel.sandbox import Sandbox, _iso  # noqa: E402


def account(n: int) -> list[dict]:
    now = time.time()
    chats = []
    for i in range(n):
        chat = {"id": f"7900{i:07d}@c.us", "name": f"Customer {i}", "incoming": 1 + i % 5}
        if i % 3:
            chat["last_incoming"] = _iso(now - (i % 90) * 86_400 - 3600)
        if i % 4:
            chat["last_outgoing"] = _iso(now - (i % 60) * 86_400 - 1800)
        chats.append(chat)
    return chats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chats", default="1000,10000")
    args = parser.parse_args()
    print(f"{'chats':>7}  {'3 reads':>8}  {'new sheet':>9}  {'refresh':>8}  {'per-chat reads (1/s)':>21}")
    for n in (int(x) for x in args.chats.split(",")):
        with Sandbox(account(n)) as sandbox, tempfile.TemporaryDirectory() as folder:
            client = GreenApiClient(Credentials(sandbox.api_url, sandbox.id_instance, sandbox.token))
            started = time.perf_counter()
            rows = jobs.read_chat_list(client, 30)
            reads = time.perf_counter() - started
            book = Path(folder) / "chats.xlsx"
            started = time.perf_counter()
            chatsheet.write(book, rows, 30)
            first = time.perf_counter() - started
            started = time.perf_counter()
            chatsheet.write(book, rows, 30)
            again = time.perf_counter() - started
            client.close()
            assert len(sandbox.calls()) == 3, sandbox.calls()
        print(f"{n:>7}  {reads:>7.2f}s  {first:>8.2f}s  {again:>7.2f}s  {n / 1.0 / 60:>17.0f} min")


if __name__ == "__main__":
    main()

"""Two CLI runs at once on two books, one instance: do they stay under GREEN-API's limit together?

Starts the sandbox at the real limit (10 archive calls a second per instance), then two
`greenapi-excel archive` processes at the same moment, each on its own book of N chats, and counts
what the sandbox saw: accepted calls a second (first to last accepted arrival) and 429 answers.

"in-process only" gives both runs a per-user state folder that cannot be written (a path under a
file): the shared pacing record cannot be made there, so each process paces on its own, which is
what every run did before the shared record existed. "shared" gives them a writable one. Also
prints what the shared record costs a call in one process (reserve + admit, no waiting).

    python benchmarks/cross_process_pacing.py               # 100 chats a book
    python benchmarks/cross_process_pacing.py --chats 50
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import openpyxl  # noqa: E402

from greenapi_excel import pacing  # noqa: E402
from greenapi_excel.sandbox import Sandbox  # noqa: E402

LIMIT = 10


def make_book(path: Path, ids: list[str]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Chat ID"])
    for chat_id in ids:
        ws.append([chat_id.split("@")[0]])
    wb.save(path)
    return path


def two_runs(chats: int, shared: bool) -> dict:
    ids = [[f"7902{book}{i:06d}@c.us" for i in range(chats)] for book in (1, 2)]
    with tempfile.TemporaryDirectory() as tmp, \
            Sandbox([{"id": c, "incoming": 1} for group in ids for c in group], rps=LIMIT, read_rps=100) as sandbox:
        folder = Path(tmp)
        blocker = folder / "not-a-folder"
        blocker.write_text("a file where the state folder would be")
        state_home = folder / "state" if shared else blocker / "state"
        procs = []
        for n, group in enumerate(ids):
            book = make_book(folder / f"book{n}.xlsx", group)
            env = {k: v for k, v in os.environ.items() if not k.startswith("GREENAPI_")}
            env.update(GREENAPI_API_URL=sandbox.api_url, GREENAPI_ID_INSTANCE=sandbox.id_instance,
                       GREENAPI_API_TOKEN_INSTANCE=sandbox.token, GREENAPI_JOURNAL=str(folder / f"j{n}.sqlite3"),
                       GREENAPI_CONFIG=str(folder / "config.ini"), GREENAPI_LOCK_DIR=str(folder / "locks"),
                       XDG_STATE_HOME=str(state_home))
            procs.append(subprocess.Popen([sys.executable, "-m", "greenapi_excel", "archive", str(book),
                                           "--no-progress"], env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, text=True))
        started = time.perf_counter()
        for proc in procs:
            _, err = proc.communicate(timeout=600)
            if proc.returncode not in (0, 1):
                raise SystemExit(f"a run failed ({proc.returncode}): {err}")
        wall = time.perf_counter() - started
        calls = sandbox.calls("archiveChat")
        accepted = sorted(e["time"] for e in calls if e["status"] == 200)
        rate = (len(accepted) - 1) / (accepted[-1] - accepted[0]) if len(accepted) > 1 else 0.0
        return {"pacing": "shared" if shared else "in-process only", "chats": 2 * chats,
                "accepted": len(accepted), "accepted_per_s": round(rate, 2),
                "answered_429": sum(e["status"] == 429 for e in calls), "wall_s": round(wall, 1)}


def cost_per_call(calls: int = 2000) -> float:
    """Microseconds the shared record adds to one call (reserve + admit), no waiting."""
    with tempfile.TemporaryDirectory() as tmp:
        store = pacing.SharedSlots(Path(tmp) / pacing.SHARED_FILE)
        started = time.perf_counter()
        for _ in range(calls):
            store.reserve("bench|1|archiveChat", 0.0)
            store.admit("bench|1|archiveChat", 10 ** 6, 1.0)
        seconds = time.perf_counter() - started
        store.close()
    return seconds / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=100, help="chats in each of the two books (default 100)")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "cross_process_pacing.json"))
    args = parser.parse_args()
    rows = [two_runs(args.chats, shared=False), two_runs(args.chats, shared=True)]
    cost = cost_per_call()
    print(f"two CLI runs at once, {args.chats} chats each, one sandbox instance limited to {LIMIT}/s:")
    print(f"{'pacing':<16} {'accepted/s':>10} {'429s':>6} {'accepted':>9} {'wall s':>7}")
    for r in rows:
        print(f"{r['pacing']:<16} {r['accepted_per_s']:>10.2f} {r['answered_429']:>6} {r['accepted']:>9} "
              f"{r['wall_s']:>7.1f}")
    print(f"shared record: {cost:.0f} us a call (reserve + admit, one process, no waiting)")
    Path(args.json).write_text(json.dumps({"limit": LIMIT, "runs": rows, "shared_cost_us": round(cost, 1)},
                                          indent=2) + "\n")


if __name__ == "__main__":
    main()

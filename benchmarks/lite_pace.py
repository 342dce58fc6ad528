"""The xlwings Lite edition's pace and Stop, measured in real Pyodide (npm's, under Node with JSPI).

    .venv/bin/python benchmarks/lite_pace.py [--chats 300] [--latency-ms 200]

GreenApi-Lite.xlsx is built, its main.py runs in the Lite stand-in (tests/lite/standin) with nothing installed
but what its requirements.txt names, and its Archive chats button archives ``--chats`` chats against the
sandbox, which answers after ``--latency-ms`` and accepts GREEN-API's 10 calls a second (a call over the limit
gets 429). Printed: accepted archive calls a second (by the sandbox's own clock, first to last accepted call),
429s, the whole run, how many block writes (flushes) reached the sheet; then a second run stopped with the
Stop button after 3 s: how long from the press to the script's end, and how many rows say Not run.
The issue asks for at least 9.5 accepted calls a second at 200 ms.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from lite_harness import start_host  # noqa: E402

from greenapi_excel.sandbox import Sandbox  # noqa: E402
from greenapi_excel.workbook import lite  # noqa: E402

OPEN = r'''
import json, os, sys, time, asyncio
from lite_addin import Excel
def open_book(cells, main_py, env):
    global excel
    for name in [n for n in sys.modules if n == "greenapi_excel" or n.startswith("greenapi_excel.")]:
        del sys.modules[name]
    for name in [n for n in os.environ if n.startswith("GREENAPI_")]:
        del os.environ[name]
    excel = Excel(cells, hidden_sheets=["GreenApi journal"], local_environment=env)
    excel.start(main_py)
'''


def _cells(sandbox: Sandbox, chats: list[str]) -> dict:
    cells = {"Chats": {"A1": "Chat ID", **{f"A{row}": chat for row, chat in enumerate(chats, start=2)}},
             "Settings": {"A2": "apiUrl", "B2": sandbox.api_url, "A3": "idInstance", "B3": sandbox.id_instance},
             "GreenApi journal": {"A2": "calls", "B2": "runs"}}
    return cells


def _open(host, sandbox, main_py, chats) -> None:
    env = {"GREENAPI_API_TOKEN_INSTANCE": sandbox.token}
    host.run(f"open_book(json.loads({json.dumps(json.dumps(_cells(sandbox, chats)))}), {json.dumps(main_py)}, "
             f"{env!r})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=300)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="lite-pace-"))
    main_py = lite.read_lite_properties(lite.build_lite(folder / "GreenApi-Lite.xlsx"))["main.py"]
    host = start_host(folder, only=("phonenumbers",), with_engine=False)
    try:
        host.run(OPEN)
        chats = [f"7900888{i:04d}@c.us" for i in range(args.chats)]
        with Sandbox([{"id": c, "incoming": 1} for c in chats], rps=10, read_rps=1,
                     latency_ms=args.latency_ms) as sandbox:
            _open(host, sandbox, main_py, chats)
            began = time.perf_counter()
            host.run('await excel.click("btnArchiveChats")', timeout=3600)
            took = time.perf_counter() - began
            accepted = [c["time"] for c in sandbox.calls("archiveChat") if c["status"] == 200]
            refused = sum(1 for c in sandbox.calls("archiveChat") if c["status"] == 429)
            flushes = host.run("len(excel.applied)")
            statuses = host.run(f"[row[0] for row in excel.values('Chats', 'B2:B{args.chats + 1}')]")
        pace = (len(accepted) - 1) / (accepted[-1] - accepted[0]) if len(accepted) > 1 else 0.0
        print(f"Archive chats, {args.chats} chats, sandbox at {args.latency_ms:g} ms and 10 calls/s (real Pyodide "
              f"{host.ready['pyodide']}, Python {host.ready['python']}):")
        print(f"  accepted archiveChat calls: {len(accepted)}, {pace:.2f} a second (first to last accepted); "
              f"429s: {refused}")
        print(f"  the button, press to the script's end: {took:.1f} s; writes applied to the sheet: {flushes}; "
              f"rows Archived: {statuses.count('Archived')} of {args.chats}")

        with Sandbox([{"id": c, "incoming": 1} for c in chats], rps=10, read_rps=1,
                     latency_ms=args.latency_ms) as sandbox:
            _open(host, sandbox, main_py, chats)
            stop = host.run('''
run = asyncio.ensure_future(excel.click("btnArchiveChats"))
await asyncio.sleep(3.0)
pressed = time.monotonic()
await excel.click("btnStopRun")
await run
ended = time.monotonic()
[ended - pressed, [row[0] for row in excel.values("Chats", "B2:B%d")]]
''' % (args.chats + 1), timeout=3600)
            reached = sandbox.calls("archiveChat")
        seconds, statuses = stop
        print(f"Stop pressed 3 s into a run of {args.chats}: the script ended {seconds:.2f} s later; rows Not run: "
              f"{statuses.count('Not run')}, Archived: {statuses.count('Archived')}, without a status: "
              f"{statuses.count(None)}; archive calls that reached the server: {len(reached)}")
    finally:
        host.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

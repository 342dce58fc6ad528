"""Archive pace, side by side: this engine, the official SDK in a loop, and a plain requests loop.

Each runs against the sandbox over real HTTP on loopback, at several reply latencies, with the sandbox
enforcing GREEN-API's limit (10 archive calls per second per instance). Prints a table and the ratios, and
writes the figures as JSON.

    python benchmarks/bulk_archive.py                      # 300 chats for the engine, 50 for each peer
    python benchmarks/bulk_archive.py --latencies 200 --chats 100 --peer-chats 20
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from greenapi_excel import methods, run as running  # noqa: E402
from greenapi_excel.client import Credentials, GreenApiClient  # noqa: E402
from greenapi_excel.journal import Journal  # noqa: E402
from greenapi_excel.sandbox import Sandbox  # noqa: E402

LIMIT = 10


def chat_book(n: int, offset: int) -> list[dict]:
    return [{"id": f"7901{offset:03d}{i:04d}@c.us", "name": f"Chat {i}", "incoming": 1} for i in range(n)]


def count_429(sandbox: Sandbox) -> int:
    return sum(1 for e in sandbox.calls("archiveChat") if e["status"] == 429)


def sustained_rate(sandbox: Sandbox) -> float:
    """Accepted calls per second between the first and the last accepted arrival, as the server saw them
    (wall time also counts the last reply's latency and the start-up)."""
    times = sorted(e["time"] for e in sandbox.calls("archiveChat") if e["status"] == 200)
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0


def run_engine(sandbox: Sandbox, ids: list[str]) -> dict:
    credentials = Credentials(sandbox.api_url, str(sandbox.id_instance), sandbox.token)
    cells = [(i + 2, chat_id) for i, chat_id in enumerate(ids)]
    plan = running.plan(cells, method=methods.ARCHIVE)
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp) / "journal.sqlite3")
        client = GreenApiClient(credentials, rate=LIMIT)
        started = time.perf_counter()
        summary = running.run(plan, client, journal, preflight=False)
        wall = time.perf_counter() - started
        client.close()
        journal.close()
    archived = summary.counts.get("Archived", 0)
    return {"chats": len(ids), "ok": archived, "wall_s": wall}


def run_sdk_loop(sandbox: Sandbox, ids: list[str]) -> dict:
    """What the official SDK's examples do: one call after another."""
    from whatsapp_api_client_python import API

    green = API.GreenAPI(str(sandbox.id_instance), sandbox.token, host=sandbox.api_url)
    ok = 0
    started = time.perf_counter()
    for chat_id in ids:
        response = green.serviceMethods.archiveChat(chat_id)
        ok += response.code == 200
    return {"chats": len(ids), "ok": ok, "wall_s": time.perf_counter() - started}


def run_requests_loop(sandbox: Sandbox, ids: list[str]) -> dict:
    """GREEN-API's docs' Python example, in a loop."""
    import requests

    url = f"{sandbox.api_url}/waInstance{sandbox.id_instance}/archiveChat/{sandbox.token}"
    ok = 0
    started = time.perf_counter()
    for chat_id in ids:
        response = requests.request("POST", url, headers={"Content-Type": "application/json"},
                                    data=json.dumps({"chatId": chat_id}))
        ok += response.status_code == 200
    return {"chats": len(ids), "ok": ok, "wall_s": time.perf_counter() - started}


RUNNERS = {"engine": run_engine, "sdk_loop": run_sdk_loop, "requests_loop": run_requests_loop}


def measure(name: str, latency_ms: int, n: int, offset: int) -> dict:
    chats = chat_book(n, offset)
    with Sandbox(chats=chats, latency_ms=latency_ms, rps=LIMIT, read_rps=1) as sandbox:
        result = RUNNERS[name](sandbox, [c["id"] for c in chats])
        result["http_429"] = count_429(sandbox)
        result["sustained_per_s"] = sustained_rate(sandbox)
        result["requests"] = len(sandbox.calls("archiveChat"))
    result["calls_per_s"] = result["ok"] / result["wall_s"] if result["wall_s"] else 0.0
    result.update(runner=name, latency_ms=latency_ms)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latencies", default="50,200,500,1000", help="sandbox reply latencies in ms")
    parser.add_argument("--chats", type=int, default=300, help="chats archived by the engine per latency")
    parser.add_argument("--peer-chats", type=int, default=50,
                        help="chats archived by each one-at-a-time peer per latency (they are slow)")
    parser.add_argument("--runners", default="engine,sdk_loop,requests_loop")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "bulk_archive.json"))
    args = parser.parse_args(argv)

    latencies = [int(x) for x in args.latencies.split(",")]
    runners = args.runners.split(",")
    rows = []
    offset = 0
    for latency in latencies:
        for name in runners:
            n = args.chats if name == "engine" else args.peer_chats
            offset += 1
            row = measure(name, latency, n, offset)
            rows.append(row)
            print(f"  {name:<14} {latency:>5} ms  {row['sustained_per_s']:6.2f} calls/s  "
                  f"{row['http_429']:4d} x 429  {row['wall_s']:7.1f} s", file=sys.stderr, flush=True)

    print()
    print("calls/s: accepted archiveChat calls per second as the sandbox received them (first to last);")
    print("ok/wall s: successful calls over the whole wall time, start-up and the last reply included.")
    print()
    print(f"{'latency':>8}  {'runner':<14} {'chats':>5} {'ok':>5} {'calls/s':>8} {'ok/wall s':>9} {'429s':>5} "
          f"{'429 %':>6} {'wall s':>7}")
    for r in rows:
        share = 100.0 * r["http_429"] / r["requests"] if r["requests"] else 0.0
        r["http_429_share"] = share
        print(f"{r['latency_ms']:>6} ms  {r['runner']:<14} {r['chats']:>5} {r['ok']:>5} {r['sustained_per_s']:>8.2f} "
              f"{r['calls_per_s']:>9.2f} {r['http_429']:>5} {share:>5.1f}% {r['wall_s']:>7.1f}")
    print()
    ratios = {}
    for latency in latencies:
        by = {r["runner"]: r for r in rows if r["latency_ms"] == latency}
        if "engine" not in by:
            continue
        for peer in ("sdk_loop", "requests_loop"):
            if peer in by and by[peer]["calls_per_s"]:
                # Successful calls over wall time: a peer's 429s do not count as progress.
                ratio = by["engine"]["calls_per_s"] / by[peer]["calls_per_s"]
                ratios[f"{latency}ms_engine_vs_{peer}"] = ratio
                print(f"{latency:>5} ms: engine / {peer:<14} = {ratio:5.2f}x")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                               "limit_per_s": LIMIT, "rows": rows, "ratios": ratios}, indent=2))
    print(f"\nfigures written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

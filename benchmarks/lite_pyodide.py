"""What the xlwings Lite test harness costs, and what of the desktop engine fails in npm's Pyodide.

    .venv/bin/python benchmarks/lite_pyodide.py

Prints: the start-up of one Pyodide host (Node + Pyodide + unzipping the wheels), the round trip of a trivial
request and of one pyfetch call to the sandbox, and, for each greenapi_excel module and each desktop
facility (sqlite3, threads, subprocess, keyring, time.sleep), whether it works there.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from lite_harness import start_host  # noqa: E402

from greenapi_excel.sandbox import Sandbox  # noqa: E402

PROBE = r'''
import importlib, json, pkgutil, time
found = {}
import greenapi_excel
for info in pkgutil.iter_modules(greenapi_excel.__path__, "greenapi_excel."):
    if info.name.endswith("__main__"):
        continue
    try:
        importlib.import_module(info.name)
        found[info.name] = "imports"
    except BaseException as exc:
        found[info.name] = f"{type(exc).__name__}: {exc}"

def attempt(name, action):
    try:
        result = action()
        found[name] = "works" if result is None else f"works: {result}"
    except BaseException as exc:
        found[name] = f"{type(exc).__name__}: {exc}"

import threading, subprocess, sys
attempt("sqlite3", lambda: importlib.import_module("sqlite3") and None)
attempt("threading.Thread().start()", lambda: threading.Thread(target=lambda: None).start())
attempt("subprocess.run(['true'])", lambda: subprocess.run(["true"]) and None)
def keyring_get():
    import keyring
    return keyring.get_password("greenapi-excel", "token")
attempt("keyring.get_password", keyring_get)
def sleep_blocks():
    started = time.monotonic()
    time.sleep(0.2)
    return f"time.sleep(0.2) took {time.monotonic() - started:.2f} s, blocking everything else"
attempt("time.sleep", sleep_blocks)
attempt("ssl", lambda: importlib.import_module("ssl") and None)
found
'''


def main() -> int:
    build = Path(tempfile.mkdtemp(prefix="lite-bench-"))
    began = time.perf_counter()
    host = start_host(build)
    print(f"Pyodide host start-up: {host.start_seconds:.2f} s (Pyodide load {host.ready['load_ms'] / 1000:.2f} s, "
          f"wheels unzipped {host.ready['setup_ms'] / 1000:.2f} s); with the engine's wheel build: "
          f"{time.perf_counter() - began:.2f} s")
    try:
        trips = []
        for _ in range(50):
            started = time.perf_counter()
            host.run("1 + 1")
            trips.append(time.perf_counter() - started)
        print(f"round trip of a trivial request: median {statistics.median(trips) * 1000:.1f} ms over 50")
        with Sandbox(rps=1000, read_rps=1000) as sandbox:
            host.run("from greenapi_excel.lite.transport import send\nfrom greenapi_excel.transport import HttpRequest")
            calls = []
            for _ in range(20):
                started = time.perf_counter()
                host.run(f"(await send(HttpRequest('GET', {sandbox.method_url('getStateInstance')!r}))).status")
                calls.append(time.perf_counter() - started)
            print(f"one pyfetch call to the sandbox, request included: median {statistics.median(calls) * 1000:.1f} ms")
        for name, verdict in host.run(PROBE, timeout=300).items():
            print(f"  {name:40} {verdict}")
    finally:
        host.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

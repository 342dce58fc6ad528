"""Real Pyodide (the Python inside xlwings Lite) for the tests: one Node process per test session.

npm's ``pyodide`` package runs under Node with JSPI (``--experimental-wasm-stack-switching``), offline:
pure-Python wheels from ``pip download`` (``lite/pyodide-wheels.txt``) and this checkout's own wheel are
unzipped into Pyodide's site-packages, as an offline micropip would install them. ``PyodideHost.run(code)``
sends Python source to it in a JSON line and returns the value of its last expression (top-level ``await``
works; every request shares one namespace).

What is missing is fetched here, never at import: ``npm ci`` in ``tests/lite`` (node_modules, .gitignored),
the wheels into ``tests/lite/.cache``. A test skips with the reason only when Node or npm is not installed,
or when the registries cannot be reached.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LITE = ROOT / "tests" / "lite"
NODE_MODULES = LITE / "node_modules"
CACHE = LITE / ".cache"
WHEEL_LIST = LITE / "pyodide-wheels.txt"
HOST_SCRIPT = LITE / "pyodide_host.mjs"
STANDIN = LITE / "standin"             # our stand-in of xlwings Lite's xlwings package
PYODIDE_PYTHON = "3.13"                # the Python of npm's pyodide 0.29
JSPI_FLAG = "--experimental-wasm-stack-switching"   # Node 20's name for JSPI


class PyodideError(Exception):
    """Python raised inside Pyodide: the message is its traceback."""


def _skip_or_fail(reason: str):
    # CI installs Node and npm (.ci/run): there a missing tool is a failure, not a skip.
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@contextlib.contextmanager
def fetching():
    """One test process at a time fetches into tests/lite or builds in the checkout (pytest-xdist runs more
    than one): the others wait, then find it there."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".fetching.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        yield


def node_executable() -> str:
    node = shutil.which("node")
    if node is None:
        _skip_or_fail("Node.js is not installed (apt-get install nodejs npm): the xlwings Lite tests run Pyodide in it")
    return node


def ensure_node_modules() -> Path:
    """tests/lite/node_modules from package-lock.json (npm ci), installed once."""
    marker = NODE_MODULES / ".package-lock.json"
    lock = LITE / "package-lock.json"
    with fetching():
        if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
            return NODE_MODULES
        return _npm_ci()


def _npm_ci() -> Path:
    npm = shutil.which("npm")
    if npm is None:
        _skip_or_fail("npm is not installed (apt-get install npm): it brings Pyodide for the xlwings Lite tests")
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=LITE,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        _skip_or_fail(f"npm ci in tests/lite failed (is the npm registry reachable?): {done.stderr[-500:]}")
    return NODE_MODULES


def pure_wheels() -> list[Path]:
    """The wheels of pyodide-wheels.txt, downloaded once into tests/lite/.cache/wheels-<hash of the list>."""
    listing = WHEEL_LIST.read_bytes()
    folder = CACHE / f"wheels-{hashlib.sha256(listing).hexdigest()[:12]}"
    done_marker = folder / ".complete"
    with fetching():
        if not done_marker.exists():
            _download_wheels(folder, done_marker)
    return sorted(folder.glob("*.whl"))


def _download_wheels(folder: Path, done_marker: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q", "--no-deps",
               "--only-binary=:all:", "--python-version", PYODIDE_PYTHON, "--implementation", "py",
               "--abi", "none", "--platform", "any", "-d", str(folder), "-r", str(WHEEL_LIST)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        _skip_or_fail(f"pip download of the Pyodide wheels failed (is PyPI reachable?): {done.stderr[-500:]}")
    done_marker.touch()


_built_wheels: dict[Path, Path] = {}


def engine_wheel(out_dir: Path) -> Path:
    """This checkout built as the pure-Python wheel a user would install (pip wheel, no dependencies); built
    once per test session."""
    if out_dir in _built_wheels:
        return _built_wheels[out_dir]
    with fetching():   # the build works in the checkout's build/: one test process at a time
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps",
                               "--disable-pip-version-check", "-q", "-w", str(out_dir)],
                              capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"building the engine's wheel failed:\n{done.stderr[-2000:]}")
    [wheel] = out_dir.glob("greenapi_excel-*.whl")
    _built_wheels[out_dir] = wheel
    return wheel


class PyodideHost:
    """A running ``pyodide_host.mjs``. ``run(code)`` -> the value of the code's last expression.

    ``mounts`` maps folders inside Pyodide to real folders (NODEFS); ``wheels`` (paths inside Pyodide) are
    unzipped into site-packages; ``path`` goes first on sys.path; ``env`` into os.environ."""

    def __init__(self, *, mounts: dict[str, str], wheels: list[str], path: list[str] = (), env: dict | None = None,
                 jspi: bool = True, start_timeout: float = 120.0):
        config = {"mounts": mounts, "wheels": wheels, "path": list(path), "env": env or {}}
        command = [node_executable(), *([JSPI_FLAG] if jspi else []), str(HOST_SCRIPT), json.dumps(config)]
        self.started = time.perf_counter()
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True, encoding="utf-8", bufsize=1)
        self._lines: queue.Queue = queue.Queue()
        self._stderr: list[str] = []
        threading.Thread(target=self._pump, args=(self._process.stdout, self._lines), daemon=True).start()
        threading.Thread(target=self._collect_stderr, daemon=True).start()
        self._next_id = 0
        self.ready = self._read(start_timeout)
        if not self.ready.get("ready"):
            raise RuntimeError(f"Pyodide did not start: {self.ready}")
        self.start_seconds = time.perf_counter() - self.started

    @staticmethod
    def _pump(stream, lines: queue.Queue) -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    def _collect_stderr(self) -> None:
        for line in self._process.stderr:
            self._stderr.append(line)

    def _read(self, timeout: float) -> dict:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise TimeoutError(f"Pyodide gave no answer in {timeout} s") from None
        if line is None:
            raise RuntimeError("the Pyodide host ended: " + "".join(self._stderr)[-3000:])
        return json.loads(line)

    def request(self, code: str, timeout: float = 120.0) -> dict:
        """The whole answer: value or error, the captured stdout, and ms spent inside Pyodide."""
        self._next_id += 1
        self._process.stdin.write(json.dumps({"id": self._next_id, "code": code}) + "\n")
        self._process.stdin.flush()
        answer = self._read(timeout)
        assert answer.get("id") == self._next_id, answer
        return answer

    def run(self, code: str, timeout: float = 120.0):
        answer = self.request(code, timeout)
        if "error" in answer:
            raise PyodideError(answer["error"])
        return answer["value"]

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def start_host(build_dir: Path, *, jspi: bool = True, with_standin: bool = True, only: tuple[str, ...] | None = None,
               with_engine: bool = True, env: dict | None = None) -> PyodideHost:
    """Pyodide with the pinned wheels (``only``: just the wheels whose names start so, e.g. what a Lite book's
    requirements.txt installs), this checkout's wheel (built into ``build_dir``, once; not ``with_engine``:
    the engine then comes from a book's main.py) and (``with_standin``) the xlwings stand-in."""
    ensure_node_modules()
    wheels = pure_wheels()
    folder = wheels[0].parent
    if only is not None:
        wheels = [w for w in wheels if w.name.lower().startswith(tuple(name.lower() for name in only))]
    mounts = {"/host/wheels": str(folder), "/host/standin": str(STANDIN)}
    inside = [f"/host/wheels/{w.name}" for w in wheels]
    if with_engine:
        built = build_dir / "engine-wheel"
        built.mkdir(exist_ok=True)
        engine = engine_wheel(built)
        mounts["/host/engine"] = str(built)
        inside.append(f"/host/engine/{engine.name}")
    return PyodideHost(mounts=mounts, wheels=inside, path=["/host/standin"] if with_standin else [], jspi=jspi,
                       env=env)

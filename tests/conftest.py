"""Shared fixtures: a real GREEN-API sandbox on a free loopback port."""

from __future__ import annotations

import os

import pytest

# The texts the tests read are English, whatever this machine's locale (tests of Russian ask for it).
os.environ["GREENAPI_LANG"] = "en"

from greenapi_excel.sandbox import Sandbox


@pytest.fixture
def make_sandbox():
    """Factory: ``make_sandbox(**kwargs)`` -> a started Sandbox, stopped at teardown."""
    started: list[Sandbox] = []

    def make(chats=None, **kwargs) -> Sandbox:
        sandbox = Sandbox(chats, **kwargs).start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(make_sandbox) -> Sandbox:
    """A started sandbox with the built-in address book, limits high enough not to get in the way."""
    return make_sandbox(rps=1000, read_rps=1000)


@pytest.fixture(autouse=True)
def english_again():
    """The language back to what it was after each test: an entry point called in this process (cli.main
    with --lang ru, a Lite script on a Russian book) sets it for the process, as it does in a real one, and
    the next test must not inherit it, in whatever order the tests run."""
    from greenapi_excel import i18n

    before = i18n.language()
    yield
    i18n.set_language(before)


@pytest.fixture(autouse=True)
def run_folders(tmp_path, monkeypatch):
    """Book locks and background-run files in tmp_path: tests never see each other's runs, nor the user's."""
    monkeypatch.setenv("GREENAPI_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.setenv("GREENAPI_RUNS_DIR", str(tmp_path / "runs"))


@pytest.fixture
def inline_worker(monkeypatch):
    """The ribbon's worker run in this process, at once, on the stand-in book it was started from: the job
    file, the lock and the block writes are the real ones; only the process start is left out (the tests in
    test_background.py start real worker processes)."""
    import addin
    import xlwings_standin as xls
    from greenapi_excel.excel import macros

    def attach(ident):
        found = [b for b in xls.OPEN_BOOKS if b.name == ident.name and not b.closed]
        return found[-1] if found else None

    monkeypatch.setattr(macros, "attach", attach)
    monkeypatch.setattr(macros, "spawn", lambda files: addin.work(str(files.job)))


@pytest.fixture(scope="session")
def lite_pyodide(lite_build_dir):
    """One real Pyodide (npm's, under Node with JSPI) for the session: the pinned wheels, this checkout's own
    wheel and the xlwings Lite stand-in installed (tests/lite_harness.py)."""
    from lite_harness import start_host

    host = start_host(lite_build_dir)
    yield host
    host.close()


@pytest.fixture(scope="session")
def lite_build_dir(tmp_path_factory):
    """Where the Lite tests build this checkout's wheel, once per session."""
    return tmp_path_factory.mktemp("lite")

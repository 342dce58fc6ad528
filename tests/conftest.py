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

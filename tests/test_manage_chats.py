"""Issue 13: check the instance first, load the chats, choose by rule (filters, --all-chats), act, undo.

Real CLI processes against the sandbox over loopback, real books (openpyxl, LibreOffice), the sandbox's
own state read back after each step.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from cli_helpers import run_cli, sandbox_env

from greenapi_excel import statuses as st

DAY = 86_400


def iso(days_ago: float) -> str:
    return datetime.utcfromtimestamp(time.time() - days_ago * DAY).strftime("%Y-%m-%dT%H:%M:%SZ")


# A small account: people and groups, active and idle, one archived, one never written to.
CHATS = [
    {"id": "79001234567@c.us", "name": "Anna", "incoming": 3, "last_incoming": iso(0.2), "last_outgoing": iso(0.1)},
    {"id": "79001234568@c.us", "name": "Boris", "incoming": 1, "last_incoming": iso(45), "last_outgoing": iso(50)},
    {"id": "79001234569@c.us", "name": "Vera", "incoming": 2, "last_incoming": iso(3)},
    {"id": "4917012345670@c.us", "name": "Jonas", "incoming": 5, "last_outgoing": iso(70)},
    {"id": "77011234567@c.us", "name": "Aigerim", "incoming": 1},
    {"id": "12025550123@c.us", "name": "Emily", "incoming": 1, "archive": True, "last_incoming": iso(100)},
    {"id": "120363043968066561@g.us", "name": "Team", "incoming": 9, "last_incoming": iso(1)},
    {"id": "120363025948372615@g.us", "name": "Old project", "incoming": 4, "last_incoming": iso(90)},
]
IDLE_30 = {"79001234568@c.us", "4917012345670@c.us", "77011234567@c.us", "12025550123@c.us",
           "120363025948372615@g.us"}
LOADED_HEADERS = ["Chat ID", "Name", "Type", "Archived", "Last incoming", "Last outgoing", "Idle days"]


def cli(*args, env, code=None, **kwargs):
    proc = run_cli(*args, env=env, **kwargs)
    if code is not None:
        assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    return proc


@pytest.fixture
def account(make_sandbox):
    return make_sandbox(CHATS, rps=1000, read_rps=1000)


@pytest.fixture
def env(account, tmp_path):
    return sandbox_env(account, tmp_path)


def column_values(path: Path, sheet: str, header: str) -> dict[str, object]:
    """chat ID -> the value under ``header``, read back with openpyxl."""
    ws = openpyxl.load_workbook(path)[sheet]
    headers = [c.value for c in ws[1]]
    col = headers.index(header) + 1
    return {ws.cell(r, 1).value: ws.cell(r, col).value for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value}


# --- 1. the instance is checked first -------------------------------------------------------


def test_webhook_off_stops_the_run_then_check_fix_then_the_run_works(make_sandbox, tmp_path):
    sandbox = make_sandbox(CHATS, rps=1000, read_rps=1000, incoming_webhook="no")
    env = sandbox_env(sandbox, tmp_path)
    book = tmp_path / "book.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["Chat ID"])
    for chat in ("79001234567@c.us", "79001234568@c.us"):
        wb.active.append([chat])
    wb.save(book)

    proc = cli("archive", book, "--no-progress", env=env, code=2)
    assert "Receive webhooks on incoming messages and files" in proc.stderr
    assert "5 minutes" in proc.stderr and "GREEN-API console" in proc.stderr
    assert sandbox.calls("archiveChat") == []          # stopped before the first change
    ws = openpyxl.load_workbook(book).active
    assert [ws.cell(r, 2).value for r in (2, 3)] == [st.NOT_RUN, st.NOT_RUN]

    proc = cli("check", env=env, code=2)
    assert "incomingWebhook" in proc.stdout + proc.stderr and "--fix" in proc.stderr
    assert sandbox.incoming_webhook == "no" and sandbox.calls("setSettings") == []

    proc = cli("check", "--fix", env=env, code=0)
    assert "5 minutes" in proc.stdout
    assert sandbox.incoming_webhook == "yes"
    assert len(sandbox.calls("setSettings")) == 1

    cli("archive", book, "--no-progress", env=env, code=0)
    assert sandbox.archived_ids() >= {"79001234567@c.us", "79001234568@c.us"}
    ws = openpyxl.load_workbook(book).active
    assert [ws.cell(r, 2).value for r in (2, 3)] == [st.ARCHIVED, st.ARCHIVED]

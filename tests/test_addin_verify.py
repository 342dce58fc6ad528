"""Issue 19 on the ribbon (the xlwings stand-in, the built GreenApi.xlsm's sheets): the Verify button, a run
that waits out a restart in the status bar, Check connection's states and both settings, Load chats on an
empty chat list. The worker runs in this process (conftest.inline_worker); everything else is real: the
sandbox over loopback, the journal, the jobs."""

from __future__ import annotations

import os
import sqlite3

import pytest

import addin
from greenapi_excel import statuses as st
from test_addin import env, keychain, make_book  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("inline_worker")


@pytest.fixture
def quick(monkeypatch):
    """The ribbon's client as the product makes it, but with GREEN-API's waits (a restart's poll, an empty
    list's pause) and the 1-a-second reads shortened for the sandbox: the behaviour is the same, sooner."""
    from greenapi_excel.calls import Waits
    from greenapi_excel.client import GreenApiClient
    from greenapi_excel.excel import macros

    monkeypatch.setattr(macros, "_client", lambda credentials: GreenApiClient(
        credentials, rate=1000, read_rate=1000, waits=Waits(restart_poll=0.1, empty_list_pause=0.05)))

ANNA, DMITRY = "79001234567@c.us", "79161234567@c.us"


def connect(env, sandbox) -> None:
    env.setenv("GREENAPI_API_URL", sandbox.api_url)
    env.setenv("GREENAPI_ID_INSTANCE", sandbox.id_instance)
    env.setenv("GREENAPI_API_TOKEN_INSTANCE", sandbox.token)


def age_journal(seconds: float = 120) -> None:
    with sqlite3.connect(os.environ["GREENAPI_JOURNAL"]) as conn:
        conn.execute("UPDATE calls SET sent_at = sent_at - ?, updated_at = updated_at - ?", (seconds, seconds))


def test_verify_marks_what_does_not_hold_and_sends_it_again_after_yes(env, make_sandbox, quick):
    sandbox = make_sandbox(silent_failure_chats=[ANNA], rps=1000, read_rps=1000)
    connect(env, sandbox)
    book, chats = make_book([["Chat ID"], [ANNA], [DMITRY]])
    addin.archive_chats(book)
    assert [chats.stored("B2"), chats.stored("B3")] == [st.ARCHIVED, st.ARCHIVED]
    assert ANNA not in sandbox.archived_ids()                # answered 200, never applied

    addin.verify(book)                                       # right after the run: the list may not show it yet
    assert "press Verify again" in book.app.alerts[-1]["prompt"] and sandbox.calls("getChats") == []

    age_journal()
    book.app.answers = ["no"]
    addin.verify(book)
    question = next(a for a in book.app.alerts[::-1] if a["buttons"] == "yes_no")["prompt"]
    assert "1 hold as" not in question and "does not" in question and "Send that 1 chat again" in question
    assert chats.stored("B2") == st.NOT_ARCHIVED and chats.stored("B3") == st.ARCHIVED
    assert chats.stored("C2").startswith("checked ") and sandbox.calls("unarchiveChat") == []
    assert len(sandbox.calls("getChats")) == 1

    book.app.answers = ["yes"]
    addin.verify(book)                                       # the same chat found again; Yes sends it
    assert chats.stored("B2") == st.ARCHIVED and ANNA in sandbox.archived_ids()
    assert [c["chatId"] for c in sandbox.calls("unarchiveChat")] == [ANNA]   # GREEN-API's workaround
    assert "unarchived and archived again" in chats.stored("C2")


def test_verify_on_a_sheet_with_nothing_to_check_says_so(env, make_sandbox):
    sandbox = make_sandbox(rps=1000, read_rps=1000)
    connect(env, sandbox)
    book, _chats = make_book([["Chat ID"], [ANNA]])
    addin.verify(book)
    assert "nothing to verify" in book.app.alerts[-1]["prompt"] and sandbox.calls("getChats") == []


def test_a_run_waits_out_a_restart_in_the_status_bar(env, make_sandbox, quick):
    sandbox = make_sandbox(rps=1000, read_rps=1000)
    connect(env, sandbox)
    book, chats = make_book([["Chat ID"], [ANNA], [DMITRY]])
    sandbox.begin_restart(1.0)
    addin.archive_chats(book)
    assert [chats.stored("B2"), chats.stored("B3")] == [st.ARCHIVED, st.ARCHIVED]
    shown = [text for text in book.app.status_bar_history if isinstance(text, str)]
    assert any("the instance is restarting: waiting" in text for text in shown), shown


@pytest.mark.parametrize("state, words, critical", [
    ("blocked", "WhatsApp has banned this number", True),
    ("sleepMode", "Switch the phone on", False),
    ("starting", "still restarting", True),
])
def test_check_connection_says_what_the_state_means(env, make_sandbox, state, words, critical):
    sandbox = make_sandbox(rps=1000, read_rps=1000, state_instance=state)
    connect(env, sandbox)
    book, _chats = make_book([["Chat ID"], [ANNA]])
    addin.check_connection(book)                             # never waits in Excel's process
    alert = book.app.alerts[-1]
    assert words in alert["prompt"] and (alert["mode"] == "critical") == critical


def test_check_connection_switches_both_journal_settings_on(env, make_sandbox):
    sandbox = make_sandbox(rps=1000, read_rps=1000, fresh_instance=True, restart_s=60)
    connect(env, sandbox)
    book, _chats = make_book([["Chat ID"], [ANNA]])
    book.app.answers = ["yes"]
    addin.check_connection(book)
    question = next(a for a in book.app.alerts if a["buttons"] == "yes_no")["prompt"]
    assert "incomingWebhook" in question and "outgoingMessageWebhook" in question
    assert "never reach the journals" in question
    (asked,) = sandbox.calls("setSettings")
    last = book.app.alerts[-1]["prompt"]
    assert "still restarting" in last and "try again after" in last   # said plainly, with when


def test_load_chats_leaves_the_sheet_alone_when_the_list_comes_back_empty(env, make_sandbox, quick):
    sandbox = make_sandbox(rps=1000, read_rps=1000)
    connect(env, sandbox)
    book, _chats = make_book([["Chat ID"]])
    addin.load_chats(book)
    loaded = {sheet.name: dict(sheet.cells) for sheet in book.sheets}
    assert max(len(cells) for cells in loaded.values()) > 40 * 7   # the list is loaded
    sandbox.empty_chat_lists = 10 ** 6                       # every answer from now on is []
    addin.load_chats(book)
    assert {sheet.name: dict(sheet.cells) for sheet in book.sheets} == loaded   # no chat marked gone
    assert "came back empty" in book.app.alerts[-1]["prompt"]

"""Ribbon runs in a worker process (issue 14): progress text, block rules, and real worker processes.

The process tests start the real worker (``python -c "import addin; addin.work(JOB)"``) exactly as the
ribbon does; it attaches through a fake ``xlwings`` (tests/fake_xlwings) whose books, sheets and ranges are
proxies over multiprocessing.managers to the xlwings stand-in this test holds (tests/excel_service.py),
and calls the real sandbox over loopback.
"""

from __future__ import annotations

import re
import threading
import time

import pytest

import addin
from greenapi_excel import texts
from greenapi_excel.excel import live
import xlwings_standin as xls
from excel_service import serve
from greenapi_excel import background, statuses as st
from greenapi_excel.journal import Journal
from test_addin import env, keychain, make_book  # noqa: F401 - fixtures


# --- the status bar text and the block rule ------------------------------------------------------------

@pytest.mark.parametrize("seconds,text", [
    (0, "0 s"), (44.6, "45 s"), (59.4, "59 s"), (60, "1 min"), (71, "1 min 11 s"), (599, "9 min 59 s"),
    (600, "10 min"), (1019, "17 min"), (3599, "1 h"), (3660, "1 h 1 min"), (7500, "2 h 5 min"),
])
def test_duration_text(seconds, text):
    assert texts.duration(seconds) == text


def test_progress_text_as_the_issue_shows_it():
    assert texts.progress_line(312, 1000, 688 / 71) == "GreenApi: 312 of 1,000 \u00b7 9.7/s \u00b7 about 1 min 11 s left"
    assert texts.progress_line(0, 10000, None) == "GreenApi: 0 of 10,000"
    assert texts.progress_line(10000, 10000, 9.96) == "GreenApi: 10,000 of 10,000 \u00b7 10.0/s"


def test_pace_is_over_the_last_seconds_only():
    now = [0.0]
    pace = background.Pace(clock=lambda: now[0])
    assert pace.add(50) is None          # the rows answered at once (invalid, duplicates) set no pace
    for second in range(1, 31):
        now[0] = float(second)
        shown = pace.add(50 + 10 * second)
    assert shown == pytest.approx(10.0)
    now[0] = 31.0
    assert pace.add(50 + 300 + 2) == pytest.approx((302 - 210) / 10, rel=0.01)


def test_a_block_covers_the_batch_and_rows_still_to_come_only():
    # Rows 3 and 7 are still to come: a block may run over them; row 5 is written already (or the analyst's).
    assert background.write_runs([2, 4], pending={3, 7}) == [(2, 4)]
    assert background.write_runs([4, 6], pending={3, 7}) == [(4, 4), (6, 6)]
    assert background.write_runs([8, 2, 6, 7], pending={3, 4, 5}) == [(2, 8)]
    assert background.write_runs([], pending={1}) == []


def test_a_rejected_call_is_known_by_its_hresult_on_windows_and_its_timeout_on_a_mac():
    assert live.call_rejected(xls.CallRejected())
    assert live.call_rejected(Exception(-2147417846, "Retry later", None, None))   # RPC_E_SERVERCALL_RETRYLATER
    clicked = Exception(-2147352567, "Exception occurred.", (0, None, None, None, 0, -2146777998), None)
    assert live.call_rejected(clicked)   # DISP_E_EXCEPTION with VBA_E_IGNORE: a click into a cell
    assert not live.call_rejected(Exception(-2147352567, "Exception occurred.", (0, "Excel", "x", None, 0, -2146827284), None))
    assert not live.call_rejected(xls.BookClosed())
    assert not live.call_rejected(ValueError("x"))
    assert live.call_rejected(xls.CommandError(-1712))
    assert not live.call_rejected(xls.CommandError(-50))


# --- real worker processes ----------------------------------------------------------------------------

def chats(n: int, prefix: str = "7900500") -> tuple[list[str], list[dict]]:
    ids = [f"{prefix}{i:04d}@c.us" for i in range(n)]
    return ids, [{"id": chat, "incoming": 2} for chat in ids]


@pytest.fixture
def excel(env, monkeypatch):
    """The stand-in's books served to worker processes; the worker's environment set for the spawn."""
    with serve(xls.OPEN_BOOKS) as (service, environment):
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        yield service


@pytest.fixture
def account(env, make_sandbox):
    def make(n: int, **kwargs):
        ids, book_chats = chats(n)
        sandbox = make_sandbox(chats=book_chats, read_rps=1000, **kwargs)
        env.setenv("GREENAPI_API_URL", sandbox.api_url)
        env.setenv("GREENAPI_ID_INSTANCE", sandbox.id_instance)
        env.setenv("GREENAPI_API_TOKEN_INSTANCE", sandbox.token)
        return sandbox, ids
    return make


def wait_for(service, condition, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with service.lock:
            if condition():
                return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def finished(book) -> bool:
    return not background.RunFiles.for_book(book.fullname).job.exists() and bool(book.app.alerts)


def column(sheet, letter: str, rows) -> list:
    return [sheet.stored(f"{letter}{r}") for r in rows]


def test_stop_ends_the_run_within_a_second_and_a_second_start_is_refused(excel, account):
    sandbox, ids = account(80, rps=10)
    book, sheet = make_book([["Chat ID"]] + [[chat] for chat in ids])
    rows = range(2, 2 + len(ids))

    addin.archive_chats(book)
    with excel.lock:   # the macro returned before the worker made a single call
        assert book.writes == [] and book.app.alerts == [] and sandbox.calls("archiveChat") == []
    wait_for(excel, lambda: len(book.writes) >= 2, "two blocks")
    with excel.lock:
        shown = column(sheet, "B", rows)
    assert 0 < shown.count(st.ARCHIVED) < len(ids) and shown.count(None) > 0   # blocks arrive as results come

    addin.archive_chats(book)   # a second Archive on the same book while the run goes
    [refused] = book.app.alerts
    assert "already going" in refused["prompt"] and refused["mode"] == "critical"

    stopped_at = time.time()
    addin.stop_run(book)
    wait_for(excel, lambda: len(book.app.alerts) == 2 and finished(book), "the summary", timeout=10)
    ended = time.time() - stopped_at
    late = [call for call in sandbox.calls("archiveChat") if call["time"] > stopped_at + 1.0]
    assert late == [], f"{len(late)} calls sent more than a second after Stop"
    assert ended < 3.0, f"the run took {ended:.1f} s to end after Stop"

    statuses = column(sheet, "B", rows)
    sent = {call["chatId"] for call in sandbox.calls("archiveChat")}
    assert {ids[i] for i, s in enumerate(statuses) if s == st.ARCHIVED} == sent == sandbox.archived_ids()
    assert set(statuses) == {st.ARCHIVED, st.NOT_RUN}      # finished rows keep theirs, the rest say Not run
    summary = book.app.alerts[-1]["prompt"]
    assert "Stopped early: Stopped on request" in summary and f"Not run {statuses.count(st.NOT_RUN)}" in summary
    assert book.app.status_bar is False


def test_a_write_excel_rejects_while_the_analyst_edits_is_tried_again(excel, account):
    sandbox, ids = account(20, rps=10)
    book, sheet = make_book([["Chat ID"]] + [[chat] for chat in ids])
    seen = {"writes": 0, "rejected": 0}

    def analyst_in_a_cell(target):
        seen["writes"] += 1
        if 2 <= seen["writes"] <= 4:   # the second block finds Excel in edit mode three times
            seen["rejected"] += 1
            raise xls.CallRejected()

    book.before_write = analyst_in_a_cell
    addin.archive_chats(book)
    wait_for(excel, lambda: finished(book), "the summary")
    assert seen["rejected"] == 3
    assert column(sheet, "B", range(2, 22)) == [st.ARCHIVED] * 20
    assert len(book.writes) >= 2 and seen["writes"] == len(book.writes) + 3
    assert "Archived 20" in book.app.alerts[-1]["prompt"] and book.app.alerts[-1]["mode"] == "info"


def test_a_book_closed_mid_run_stops_it_and_the_next_run_fills_in_from_the_journal(excel, account):
    sandbox, ids = account(40, rps=10)
    book, sheet = make_book([["Chat ID"]] + [[chat] for chat in ids])
    addin.archive_chats(book)
    wait_for(excel, lambda: len(book.writes) >= 1, "a first block")
    with excel.lock:
        book.closed = True   # the analyst closes the book
    wait_for(excel, lambda: not background.RunFiles.for_book(book.fullname).job.exists(), "the worker to end")
    sent = [call["chatId"] for call in sandbox.calls("archiveChat")]
    assert 0 < len(sent) < len(ids)   # the run stopped
    with Journal() as journal:
        done = journal.done_before(sandbox.id_instance, "archiveChat")
        undelivered = journal.done_before(sandbox.id_instance, "archiveChat", undelivered_only=True)
    assert set(sent) <= set(done)     # nothing finished was lost
    assert undelivered                # finished after the book closed: in the journal, not in the book
    with excel.lock:
        assert not {ids[r - 2] for r in range(2, 2 + len(ids)) if sheet.stored(f"B{r}")} & set(undelivered)

    book.closed = False                # opened again; the press of Archive fills in the rest
    book.app.alerts.clear()
    addin.archive_chats(book)
    wait_for(excel, lambda: finished(book), "the second run")
    assert column(sheet, "B", range(2, 2 + len(ids))) == [st.ARCHIVED] * len(ids)
    again = [call["chatId"] for call in sandbox.calls("archiveChat")][len(sent):]
    assert not set(again) & set(sent)  # finished chats were answered from the journal, not sent again


def test_a_thousand_chats_keep_the_analysts_edit(excel, account, monkeypatch):
    """1,000 chats, the logic of a 100-second run at 10/s, at the sandbox's 50/s (GREENAPI_MAX_RATE: the worker
    paces at what the instance allows); the analyst types between two blocks."""
    monkeypatch.setenv("GREENAPI_MAX_RATE", "50")
    sandbox, ids = account(1000, rps=50)
    book, sheet = make_book([["Chat ID"]] + [[chat] for chat in ids])
    typed = threading.Event()

    def analyst_types(target):
        if len(book.writes) == 3 and not typed.is_set():   # between the third and the fourth block
            sheet.cells[(2, 3)] = "called, keep archived"    # Details of a row the first block wrote
            sheet.cells[(2, 5)] = "VIP"                      # the analyst's own column
            typed.set()

    book.before_write = analyst_types
    addin.archive_chats(book)
    wait_for(excel, lambda: finished(book), "the run", timeout=400)
    assert typed.is_set()
    assert sheet.stored("C2") == "called, keep archived" and sheet.stored("E2") == "VIP"
    assert column(sheet, "B", range(2, 1002)) == [st.ARCHIVED] * 1000
    assert 20 < len(book.writes) < 400, len(book.writes)   # a block per batch, never a cell per row
    assert all(re.fullmatch(r"Chats!\$B\$\d+:\$D\$\d+", w) for w in book.writes)
    shown = [s for s in book.app.status_bar_history if isinstance(s, str)]
    pattern = re.compile(r"GreenApi: [\d,]+ of 1,000 \u00b7 \d+\.\d/s \u00b7 about (\d+ min )?\d+ s left")
    assert any(pattern.fullmatch(s) for s in shown), shown[:5]
    assert "Archived 1000" in book.app.alerts[-1]["prompt"]


# --- the engine's Stop, without Excel ----------------------------------------------------------------

def test_bulk_run_told_to_stop_sends_nothing_more_and_every_row_gets_a_status(env, make_sandbox):
    from greenapi_excel import methods, run as running
    from greenapi_excel.client import Credentials, GreenApiClient

    ids, book_chats = chats(60, prefix="7900700")
    sandbox = make_sandbox(chats=book_chats, rps=10, read_rps=1000)
    plan = running.plan(list(enumerate(ids, start=2)), method=methods.ARCHIVE)
    cancel, told = threading.Event(), []
    threading.Timer(1.0, lambda: (told.append(time.monotonic()), cancel.set())).start()
    credentials = Credentials(sandbox.api_url, sandbox.id_instance, sandbox.token)
    results = []
    with GreenApiClient(credentials) as client, Journal() as journal:
        summary = running.run(plan, client, journal, on_results=results.extend, cancel=cancel)
        assert client.cancel is None   # the client is the caller's again
    stopped_at = time.monotonic()
    assert summary.stopped == running.STOPPED_ON_REQUEST
    assert len(results) == len(ids) and {r.status for r in results} == {st.ARCHIVED, st.NOT_RUN}
    sent = {call["chatId"] for call in sandbox.calls("archiveChat")}
    assert {ids[r.row - 2] for r in results if r.status == st.ARCHIVED} == sent
    assert 0 < len(sent) < 30 and summary.calls == len(sent) + 1   # and the preflight
    assert stopped_at - told[0] < 1.0

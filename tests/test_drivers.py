"""One scenario table through both drivers of the run: threads over ``requests`` (desktop, CLI) and asyncio
over an async transport (Lite). Same server behaviour in, the same statuses, journal records and server
state out. The decisions are written once (``run.decisions``); this holds the two drivers to them."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

import pytest

from aiohttp_transport import AiohttpTransport
import requests

from greenapi_excel import methods, pacing, statuses as st
from greenapi_excel.calls import Waits
from greenapi_excel.client import Credentials, GreenApiClient
from greenapi_excel.errors import ConnectionFailed
from greenapi_excel.client_async import AsyncGreenApiClient
from greenapi_excel.journal import Journal
from greenapi_excel.run import aio, plan, threads

# GREEN-API's documented waits (a restart's 5 minutes, getChats' minute) shortened for the sandbox's.
WAITS = Waits(restart=1.0, restart_poll=0.05, empty_list_tries=3, empty_list_pause=0.02, list_refresh=0.3)
FAST = dict(rate=1000, read_rate=1000, backoff_base=0.002, backoff_cap=0.01, timeout=(2.0, 2.0), max_attempts=3,
            waits=WAITS)
A, B, C, D, E = ("79001110001@c.us", "79001110002@c.us", "79001110003@c.us", "79001110004@c.us",
                 "79001110005@c.us")
A_LID = "120650379300001@lid"
G = "120363000000000001@g.us"
CHATS = [{"id": A, "incoming": 3, "lid": A_LID}, {"id": B, "incoming": 1, "archive": True},
         {"id": D, "incoming": 0}, {"id": E, "incoming": 2}, {"id": G, "incoming": 4}]


@dataclass
class Scenario:
    name: str
    cells: list                       # (row, value)
    expected: dict                    # row -> status word
    inject: tuple = ()                # faults for the next archiveChat calls, in order
    sandbox: dict = field(default_factory=dict)
    dry_run: bool = False
    workers: int = 1                  # one worker: injected faults meet the same chat in both drivers
    cancelled: bool = False
    before: callable = None           # (sandbox, journal) -> None: what an earlier run left
    stopped_by: Exception = None      # found before the run (Lite: GREEN-API unreachable from the browser)
    preflight: bool = True
    stopped: str | None = None        # words the run's stop must say (None: it must not stop)
    waited: bool = False              # the run waited for the instance (its wait reached the edge)
    settled_by: tuple = ()            # reads that must have settled a lost reply (and the ones that must not)


def _killed_earlier_run(sandbox, journal):
    """A run archived A, was killed before its save: its result is in the journal, undelivered."""
    call = journal.begin(instance=sandbox.id_instance, method=methods.ARCHIVE, chat_id=A, source="cli")
    sandbox.chats[A].archive = True
    journal.finish(call, status=st.ARCHIVED, details="done")


def _restart_now(sandbox, journal):
    sandbox.begin_restart(0.3)


def _silently_failed_and_verified(sandbox, journal):
    """An earlier archiveChat of A was answered 200 and never applied (green-api #488, #744); verify saw it."""
    requests.post(sandbox.method_url("archiveChat"), json={"chatId": A}, timeout=5)
    assert A not in sandbox.archived_ids()
    journal.record_check(instance=sandbox.id_instance, method=methods.ARCHIVE, chat_id=A, status=st.NOT_ARCHIVED,
                         details="checked: not archived")


SCENARIOS = [
    Scenario("every kind of answer", [(2, A), (3, B), (4, C), (5, D), (6, "not a number"), (7, A)],
             {2: st.ARCHIVED, 3: st.ALREADY_ARCHIVED, 4: st.CHAT_NOT_FOUND, 5: st.NO_INCOMING, 6: st.INVALID,
              7: st.DUPLICATE}),
    Scenario("a lost reply settled by getContactInfo", [(2, A)], {2: st.ARCHIVED},
             inject=("applied_drop", "applied_drop", "applied_drop")),
    Scenario("a 502 then the answer", [(2, A), (3, E)], {2: st.ARCHIVED, 3: st.ARCHIVED}, inject=("502",)),
    Scenario("a 429 honoured", [(2, A), (3, E)], {2: st.ARCHIVED, 3: st.ARCHIVED}, inject=("429",)),
    Scenario("the quota runs out", [(2, A), (3, E)], {2: st.ARCHIVED, 3: st.QUOTA_EXCEEDED},
             sandbox={"quota": 1}),
    Scenario("incomingWebhook off stops before any change", [(2, A), (3, E)], {2: st.NOT_RUN, 3: st.NOT_RUN},
             sandbox={"incoming_webhook": "no"}),
    Scenario("an unlinked instance", [(2, A)], {2: st.NOT_RUN}, sandbox={"state_instance": "notAuthorized"}),
    Scenario("a dry run", [(2, A), (3, B), (4, C)], {2: st.WOULD_ARCHIVE, 3: st.ALREADY_ARCHIVED,
                                                     4: st.CHAT_NOT_FOUND}, dry_run=True),
    Scenario("stopped before it began", [(2, A), (3, E)], {2: st.NOT_RUN, 3: st.NOT_RUN}, cancelled=True),
    Scenario("stopped by what an edge found first", [(2, A), (3, "not a number")], {2: st.NOT_RUN, 3: st.INVALID},
             stopped_by=ConnectionFailed("GREEN-API could not be reached from here")),
    Scenario("a killed run's result answered from the journal", [(2, A), (3, E)],
             {2: st.ARCHIVED, 3: st.ARCHIVED}, before=_killed_earlier_run),
    Scenario("many rows at once", [(r, f"7900222{r:04d}@c.us") for r in range(2, 42)],
             {r: st.ARCHIVED for r in range(2, 42)}, workers=8),
    # Restarts: getStateInstance "starting" at the preflight, "400 instance in starting process" at a call.
    Scenario("a restart waited out before the first call", [(2, A), (3, E)], {2: st.ARCHIVED, 3: st.ARCHIVED},
             before=_restart_now, waited=True),
    Scenario("a restart waited out at a call", [(2, A), (3, E)], {2: st.ARCHIVED, 3: st.ARCHIVED},
             before=_restart_now, preflight=False, waited=True),
    Scenario("a restart that outlasts the wait stops the run", [(2, A), (3, E)], {2: st.NOT_RUN, 3: st.NOT_RUN},
             sandbox={"state_instance": "starting"}, stopped="still restarting", waited=True),
    Scenario("a restart that outlasts the wait at a call", [(2, A), (3, E)], {2: st.NOT_RUN, 3: st.NOT_RUN},
             sandbox={"state_instance": "starting"}, preflight=False, stopped="still restarting", waited=True),
    # States: archiving goes ahead where it can work, and stops before its first change where it cannot.
    Scenario("sleepMode goes ahead", [(2, A)], {2: st.ARCHIVED}, sandbox={"state_instance": "sleepMode"}),
    Scenario("yellowCard goes ahead", [(2, A)], {2: st.ARCHIVED}, sandbox={"state_instance": "yellowCard"}),
    Scenario("suspended goes ahead", [(2, A)], {2: st.ARCHIVED}, sandbox={"state_instance": "suspended"}),
    Scenario("a blocked number stops the run", [(2, A)], {2: st.NOT_RUN}, sandbox={"state_instance": "blocked"},
             stopped="banned"),
    Scenario("unlinked during the run stops it", [(2, A), (3, E)], {2: st.NOT_RUN, 3: st.NOT_RUN},
             sandbox={"state_instance": "notAuthorized"}, preflight=False, stopped="not authorized"),
    # getChats answering [] is asked again; still empty, the dry run says so instead of Chat not found.
    Scenario("an empty chat list asked again", [(2, A), (3, B), (4, C)],
             {2: st.WOULD_ARCHIVE, 3: st.ALREADY_ARCHIVED, 4: st.CHAT_NOT_FOUND}, dry_run=True,
             sandbox={"empty_chat_lists": 2}),
    Scenario("a chat list that stays empty", [(2, A), (3, B)], {2: st.NOT_RUN, 3: st.NOT_RUN}, dry_run=True,
             sandbox={"empty_chat_lists": 100}, stopped="came back empty"),
    # One person by number and by @lid: one call, the second row a Duplicate (checkWhatsapp links them).
    Scenario("one chat by its number and its @lid", [(2, A), (3, A_LID), (4, E)],
             {2: st.ARCHIVED, 3: st.DUPLICATE, 4: st.ARCHIVED}),
    Scenario("a dry run finds a number getChats lists by @lid", [(2, A), (3, A_LID)],
             {2: st.WOULD_ARCHIVE, 3: st.DUPLICATE}, dry_run=True, sandbox={"chat_list_ids": "lid"}),
    # A group's lost reply: getChats' archive flag (once refreshed), not getContactInfo (refused for groups).
    Scenario("a lost reply for a group settled by getChats", [(2, G)], {2: st.ARCHIVED},
             inject=("applied_drop", "applied_drop", "applied_drop"),
             sandbox={"group_contact_info": "refuse", "chats_refresh_s": 0.2},
             settled_by=("getChats", "getContactInfo")),
    # Verify found A not archived though archiveChat said 200: "already" is not believed, the workaround runs.
    Scenario("a chat verify found not archived", [(2, A)], {2: st.ARCHIVED}, before=_silently_failed_and_verified,
             sandbox={"silent_failure_chats": [A]}),
]


def _run_threads(sandbox, journal, planned, scenario, cancel, waits):
    client = GreenApiClient(Credentials(sandbox.api_url, sandbox.id_instance, sandbox.token), **FAST)
    got = []
    with client:
        summary = threads.run(planned, client, journal, dry_run=scenario.dry_run, on_results=got.extend,
                              workers=scenario.workers, block_seconds=0.05, cancel=cancel,
                              stopped_by=scenario.stopped_by,
                              preflight=scenario.preflight, on_wait=lambda *wait: waits.append(wait))
    return summary, got


def _run_asyncio(sandbox, journal, planned, scenario, cancel, waits):
    async def go():
        transport = AiohttpTransport()
        client = AsyncGreenApiClient(Credentials(sandbox.api_url, sandbox.id_instance, sandbox.token), transport,
                                     **FAST)
        got = []
        try:
            summary = await aio.run(planned, client, journal, dry_run=scenario.dry_run, on_results=got.extend,
                                    workers=scenario.workers, block_seconds=0.05, cancel=cancel,
                                    stopped_by=scenario.stopped_by,
                                    preflight=scenario.preflight, on_wait=lambda *wait: waits.append(wait))
        finally:
            await transport.close()
        return summary, got

    # The asyncio driver starts no thread (Lite cannot): any attempt from the loop's thread fails the run
    # here (the in-process sandbox starts its own, on its own threads).
    original_start = threading.Thread.start
    loop_thread = threading.get_ident()

    def refuse(thread):
        if threading.get_ident() == loop_thread:
            raise AssertionError(f"the asyncio driver started a thread: {thread.name}")
        return original_start(thread)

    threading.Thread.start = refuse
    try:
        return asyncio.run(go())
    finally:
        threading.Thread.start = original_start


DRIVERS = {"threads": _run_threads, "asyncio": _run_asyncio}


def _one(driver, scenario, make_sandbox, tmp_path):
    pacing.forget_pacers()
    chats = CHATS + [{"id": chat, "incoming": 1} for _row, chat in scenario.cells
                     if isinstance(chat, str) and chat.startswith("7900222")]
    sandbox = make_sandbox(chats, rps=1000, read_rps=1000, **scenario.sandbox)
    sandbox.inject(*scenario.inject, method="archiveChat")
    journal = Journal(tmp_path / f"{driver}.sqlite3")
    if scenario.before:
        scenario.before(sandbox, journal)
    cancel = threading.Event() if driver == "threads" else asyncio.Event()
    if scenario.cancelled:
        cancel.set()
    planned = plan(scenario.cells, method=methods.ARCHIVE)
    waits = []
    summary, got = DRIVERS[driver](sandbox, journal, planned, scenario, cancel, waits)
    records = sorted((e.chat_id, e.method, e.state, e.status) for e in journal.entries())
    calls = sorted((c["method"], c["chatId"]) for c in sandbox.log
                   if c["method"] in ("archiveChat", "unarchiveChat", "checkWhatsapp"))
    if scenario.waited:   # how often a call is asked again while the instance restarts depends on the clock
        calls = sorted(set(calls))
    reads = {c["method"] for c in sandbox.log}
    journal.close()
    return summary, got, records, calls, sandbox.archived_ids(), waits, reads


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_both_drivers_give_the_same_statuses_records_and_server_state(scenario, make_sandbox, tmp_path):
    outcomes = {driver: _one(driver, scenario, make_sandbox, tmp_path) for driver in DRIVERS}
    for driver, (summary, got, records, calls, archived, waits, reads) in outcomes.items():
        statuses = {r.row: r.status for r in got}
        assert statuses == scenario.expected, driver
        assert len(got) == len(statuses)            # every row exactly once
        assert summary.rows == len(scenario.expected)
        if scenario.stopped is not None:
            assert scenario.stopped in (summary.stopped or ""), (driver, summary.stopped)
            assert all(scenario.stopped in r.details for r in got if r.status == st.NOT_RUN), driver
        elif not scenario.cancelled and not {st.NOT_RUN, st.QUOTA_EXCEEDED} & set(scenario.expected.values()):
            assert summary.stopped is None, (driver, summary.stopped)
        # A wait for the instance reaches the edge (the progress line, the status bar), growing as it goes.
        restart_waits = [wait for wait in waits if wait[0] == "restart"]
        assert bool(restart_waits) == scenario.waited, (driver, waits)
        if scenario.waited:
            assert restart_waits[0][1] == 0 and restart_waits[-1][1] > 0 and restart_waits[-1][2] == WAITS.restart
        if scenario.settled_by:
            used, refused = scenario.settled_by
            assert used in reads and refused not in reads, (driver, reads)
    if scenario.stopped_by is not None:
        assert all(out[3] == [] and out[0].stopped == str(scenario.stopped_by) for out in outcomes.values())
    threads_out, asyncio_out = outcomes["threads"], outcomes["asyncio"]
    assert [(r.row, r.status) for r in sorted(threads_out[1], key=lambda r: r.row)] == \
        [(r.row, r.status) for r in sorted(asyncio_out[1], key=lambda r: r.row)]
    assert threads_out[2] == asyncio_out[2]          # the same journal records
    assert threads_out[3] == asyncio_out[3]          # the same calls reached the server
    assert threads_out[4] == asyncio_out[4]          # and left it in the same state
    assert threads_out[0].counts == asyncio_out[0].counts
    assert threads_out[0].stopped == asyncio_out[0].stopped


@pytest.mark.parametrize("driver", DRIVERS)
def test_both_drivers_keep_under_the_servers_limit(driver, make_sandbox, tmp_path):
    """At GREEN-API's 10 calls a second the server never has to refuse one (no 429), on either driver."""
    pacing.forget_pacers()
    chats = [{"id": f"7900333{r:04d}@c.us", "incoming": 1} for r in range(25)]
    sandbox = make_sandbox(chats, rps=10, read_rps=1000)
    journal = Journal(tmp_path / "j.sqlite3")
    planned = plan([(r + 2, c["id"]) for r, c in enumerate(chats)], method=methods.ARCHIVE)
    scenario = Scenario("pace", [], {}, workers=8)
    fast = dict(FAST, rate=10)
    if driver == "threads":
        with GreenApiClient(Credentials(sandbox.api_url, sandbox.id_instance, sandbox.token), **fast) as client:
            summary = threads.run(planned, client, journal, workers=scenario.workers)
    else:
        async def go():
            transport = AiohttpTransport()
            client = AsyncGreenApiClient(Credentials(sandbox.api_url, sandbox.id_instance, sandbox.token),
                                         transport, **fast)
            try:
                return await aio.run(planned, client, journal, workers=scenario.workers)
            finally:
                await transport.close()
        summary = asyncio.run(go())
    journal.close()
    assert summary.counts == {st.ARCHIVED: 25}
    assert [c for c in sandbox.log if c["status"] == 429] == []

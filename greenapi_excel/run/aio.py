"""The asyncio driver: a run's decisions carried out by tasks in one event loop, no thread started.

For the edges that cannot start threads (xlwings Lite, in the browser). Same flows, same journal
records, same statuses and the same pace as ``run.threads``; only the way effects are carried out
differs: ``await client.carry_out(effect)`` (``client_async.AsyncGreenApiClient``), the journal's
records called in the loop, ``workers`` tasks taking rows from one queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Awaitable, Callable

from greenapi_excel.errors import GreenApiExcelError, Stopped
from greenapi_excel.results import RowResult, RunSummary
from greenapi_excel.run import decisions
from greenapi_excel.run.decisions import STOPPED_ON_REQUEST
from greenapi_excel.run.records import NOT_A_RECORD, Records
from greenapi_excel.run.planning import Plan
from greenapi_excel.run.threads import RESUME_WINDOW

log = logging.getLogger(__name__)

ResultsCallback = Callable[[list[RowResult]], "Awaitable[None] | None"]


class Effects(Records):
    """Carries out one run's effects in the event loop: requests and pacing through the async client,
    records through the journal (``run.records``: every call it begins carries the run's id)."""

    def __init__(self, client, journal, *, instance: str, source: str, run_id: str | None):
        super().__init__(journal, instance=instance, source=source, run_id=run_id)
        self.client = client

    async def drive(self, flow):
        answer = None
        while True:
            try:
                effect = flow.send(answer)
            except StopIteration as finished:
                return finished.value
            answer = await self.carry_out(effect)

    async def carry_out(self, effect):
        answer = self.record(effect)
        return await self.client.carry_out(effect) if answer is NOT_A_RECORD else answer


async def _maybe(value) -> None:
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        await value


async def run(
    plan: Plan,
    client,
    journal,
    *,
    dry_run: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    on_results: ResultsCallback | None = None,
    source: str = "lite",
    workers: int = 32,
    block_seconds: float = 0.5,
    preflight: bool = True,
    stopped_by: GreenApiExcelError | None = None,
    book: str | None = None,
    sheet: str | None = None,
    undo_of: str | None = None,
    chat_column: str | None = None,
    resume: bool = True,
    cancel=None,
    on_wait=None,
) -> RunSummary:
    """``run.threads.run`` in an event loop: the same arguments, the same promises. ``on_results`` may be
    a coroutine function (Lite writes the block and awaits ``book.flush()``); ``cancel`` is anything with
    ``is_set()`` (an ``asyncio.Event``, or a flag a Stop button sets), checked between rows and while a
    call waits for its pacing slot."""
    if cancel is not None and stopped_by is None and cancel.is_set():
        stopped_by = Stopped(STOPPED_ON_REQUEST)
    started = time.monotonic()
    instance = client.endpoint.id_instance
    book_keeper = decisions.RunBook(plan, block_seconds=block_seconds, started=started)
    summary = book_keeper.summary
    summary.run_id = journal.start_run(instance=instance, method=plan.method, source=source, book=book,
                                       sheet=sheet, dry_run=dry_run, undo_of=undo_of, chat_column=chat_column)
    effects = Effects(client, journal, instance=instance, source=source, run_id=summary.run_id)
    stop = book_keeper.stop
    previous_cancel, client.cancel = client.cancel, cancel
    previous_on_wait = client.on_wait
    if on_wait is not None:
        client.on_wait = on_wait

    async def deliver(results, *, force: bool = False) -> None:
        block = book_keeper.add(results, time.monotonic(), force=force)
        if on_progress:
            on_progress(book_keeper.done, book_keeper.total)
        if block and on_results:
            await _maybe(on_results(block))

    todo = list(plan.todo)
    interrupted: BaseException | None = None
    try:
        await deliver(plan.decided)
        if stopped_by is not None:
            stop.set(stopped_by)
        elif todo and dry_run:
            summary.calls += 2
            outcome = await effects.drive(decisions.dry_run(client.endpoint, todo, plan.method))
            if isinstance(outcome, BaseException):
                stop.set(outcome if isinstance(outcome, GreenApiExcelError) else GreenApiExcelError(str(outcome)))
            else:
                await deliver(outcome)
                todo = []
        elif todo:
            if preflight:
                summary.calls += 1
                problem = await effects.drive(decisions.check_instance(client.endpoint))
                if problem is not None:
                    stop.set(problem)
            if not stop.is_set:
                linked = await effects.drive(decisions.link_rows(client.endpoint, todo))
                todo = linked.todo
                await deliver(linked.duplicates)
            if resume and not stop.is_set:
                done = journal.done_before(instance, plan.method, since=datetime.now() - RESUME_WINDOW,
                                           undelivered_only=True)
                todo, answered = decisions.resumed(todo, done)
                if answered:
                    journal.adopt(summary.run_id, (r.call_id for r in answered))
                    await deliver(answered)
        if todo and not stop.is_set:
            todo = await _call_rows(todo, plan, client, journal, effects, stop, deliver, cancel,
                                    block_seconds, workers)
    except (asyncio.CancelledError, Exception) as error:   # the script was cancelled, or a bug
        interrupted = error
        stop.set(GreenApiExcelError(str(error) or type(error).__name__))
    finally:
        client.cancel, client.on_wait = previous_cancel, previous_on_wait
    await deliver(book_keeper.not_reached(todo), force=True)
    summary = book_keeper.close(time.monotonic() - started)
    journal.finish_run(summary.run_id, summary.counts)
    if interrupted is not None:
        raise interrupted
    return summary


async def _call_rows(todo, plan, client, journal, effects, stop, deliver, cancel, block_seconds, workers):
    """Call every row from ``workers`` tasks; returns the rows never reached (none unless stopped)."""
    instance, method = client.endpoint.id_instance, plan.method
    uncertain = journal.uncertain_chats(instance, method) | journal.unreported_changes(instance, method)
    recheck = plan.recheck | journal.contradicted_chats(instance, method)
    waiting: asyncio.Queue = asyncio.Queue()
    for item in todo:
        waiting.put_nowait(item)
    finished: asyncio.Queue = asyncio.Queue()

    async def worker() -> None:
        while True:
            try:
                row, chat_id = waiting.get_nowait()
            except asyncio.QueueEmpty:
                return
            if cancel is not None and cancel.is_set():
                stop.set(Stopped(STOPPED_ON_REQUEST))
            try:
                result = await effects.drive(decisions.row(client.endpoint, stop, method, row, chat_id,
                                                           chat_id in uncertain, chat_id in recheck))
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a bug must not cost the row its status, nor the run its other rows
                log.exception("unexpected error for row %d", row)
                result = decisions.internal_error(row, error)
            finished.put_nowait(result)

    tasks = [asyncio.ensure_future(worker()) for _ in range(max(1, min(workers, len(todo))))]
    remaining = len(todo)
    try:
        while remaining:
            if cancel is not None and cancel.is_set():
                stop.set(Stopped(STOPPED_ON_REQUEST))
            block = await _drain(finished, block_seconds, remaining)
            remaining -= len(block)
            await deliver(block)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return []


async def _drain(finished: asyncio.Queue, seconds: float, expected: int) -> list[RowResult]:
    """What finished within ``seconds`` (at least one result); returns as soon as all ``expected`` are in."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    block: list[RowResult] = []
    try:
        block.append(await asyncio.wait_for(finished.get(), timeout=seconds))
        while len(block) < expected:
            left = deadline - loop.time()
            if left <= 0:
                break
            block.append(await asyncio.wait_for(finished.get(), timeout=left))
    except asyncio.TimeoutError:
        pass
    while True:
        try:
            block.append(finished.get_nowait())
        except asyncio.QueueEmpty:
            return block

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
from greenapi_excel.run import decisions, records as records_module
from greenapi_excel.run.decisions import STOPPED_ON_REQUEST, Deliver
from greenapi_excel.run.planning import Plan

log = logging.getLogger(__name__)

ResultsCallback = Callable[[list[RowResult]], "Awaitable[None] | None"]


class Effects:
    """Carries out one run's effects in the event loop: the journal's records (``records``), the rows for
    the edge (``deliver``, awaited), and requests and pacing through the async client."""

    def __init__(self, client, records: records_module.Records, deliver):
        self.client, self.records, self.deliver = client, records, deliver

    async def drive(self, flow):
        answer = None
        while True:
            try:
                effect = flow.send(answer)
            except StopIteration as finished:
                return finished.value
            answer = await self.carry_out(effect)

    async def carry_out(self, effect):
        done = self.records.carry_out(effect)
        if done is not records_module.NOT_A_RECORD:
            return done
        if isinstance(effect, Deliver):
            await self.deliver(effect.results)
            return None
        return await self.client.carry_out(effect)


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
    book_keeper, records = records_module.open_run(
        plan, client, journal, block_seconds=block_seconds, started=started, source=source, dry_run=dry_run,
        book=book, sheet=sheet, undo_of=undo_of, chat_column=chat_column)
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

    effects = Effects(client, records, deliver)
    todo = list(plan.todo)
    interrupted: BaseException | None = None
    try:
        todo = await effects.drive(decisions.before_calls(client.endpoint, book_keeper, todo, dry_run=dry_run,
                                                          preflight=preflight, resume=resume, stopped_by=stopped_by,
                                                          now=datetime.now()))
        if todo and not stop.is_set:
            await _call_rows(todo, plan, client, journal, effects, stop, deliver, cancel, block_seconds,
                             workers)
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
    uncertain = records_module.uncertain_chats(journal, instance, method)
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
    return None


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

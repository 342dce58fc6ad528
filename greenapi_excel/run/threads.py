"""The threads driver: a run's decisions carried out by a pool of threads over ``requests``.

``run.decisions`` decides; this module only carries effects out (the client's for requests and pacing,
the journal's for records) and moves finished rows from the workers to the edge in blocks. The pool
covers rate x latency; the client's pacer, not the pool, sets the pace.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from typing import Callable

from greenapi_excel.errors import GreenApiExcelError, Stopped
from greenapi_excel.results import RowResult, RunSummary
from greenapi_excel.run import decisions, records as records_module
from greenapi_excel.run.decisions import STOPPED_ON_REQUEST, Deliver
from greenapi_excel.run.planning import Plan

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
ResultsCallback = Callable[[list[RowResult]], None]


class Effects:
    """Carries out one run's effects on the calling thread: the journal's records (``records``), the rows
    for the edge (``deliver``), and requests and pacing through the client."""

    def __init__(self, client, records: records_module.Records, deliver):
        self.client, self.records, self.deliver = client, records, deliver

    def drive(self, flow):
        """Carry out ``flow``'s effects until it returns; what it returns (errors included, not raised)."""
        answer = None
        while True:
            try:
                effect = flow.send(answer)
            except StopIteration as finished:
                return finished.value
            answer = self.carry_out(effect)

    def carry_out(self, effect):
        done = self.records.carry_out(effect)
        if done is not records_module.NOT_A_RECORD:
            return done
        if isinstance(effect, Deliver):
            self.deliver(effect.results)
            return None
        return self.client.carry_out(effect)


class _CtrlC:
    """While a run goes on the main thread, Ctrl+C only raises a flag (the loop then stops the run within
    half a second, delivering every finished row): a KeyboardInterrupt raised mid-block would lose the
    result it was carrying. The flag becomes a KeyboardInterrupt once every row has its status."""

    def __init__(self) -> None:
        self.pressed = False
        self._previous = None

    def __enter__(self) -> "_CtrlC":
        if threading.current_thread() is threading.main_thread():
            import signal

            self._previous = signal.signal(signal.SIGINT, self._press)
        return self

    def _press(self, signum, frame) -> None:
        self.pressed = True

    def __exit__(self, *exc_info) -> None:
        if self._previous is not None:
            import signal

            signal.signal(signal.SIGINT, self._previous)


@contextmanager
def _stoppable(client, cancel: threading.Event | None, on_wait=None):
    """While a run goes, ``cancel`` makes the client's first tries leave their pacing slot unsent, and
    ``on_wait`` hears of every wait for GREEN-API (an instance restarting)."""
    previous = getattr(client, "cancel", None), getattr(client, "on_wait", None)
    if cancel is not None:
        client.cancel = cancel
    if on_wait is not None:
        client.on_wait = on_wait
    try:
        yield
    finally:
        client.cancel, client.on_wait = previous   # the client is the caller's again


def run(
    plan: Plan,
    client,
    journal,
    *,
    dry_run: bool = False,
    on_progress: ProgressCallback | None = None,
    on_results: ResultsCallback | None = None,
    source: str = "cli",
    workers: int = 32,
    block_seconds: float = 0.5,
    preflight: bool = True,
    stopped_by: GreenApiExcelError | None = None,
    book: str | None = None,
    sheet: str | None = None,
    undo_of: str | None = None,
    chat_column: str | None = None,
    resume: bool = True,
    cancel: threading.Event | None = None,
    on_wait=None,
) -> RunSummary:
    """Carry out ``plan`` and return the summary; every planned row gets exactly one RowResult.

    Stopping errors (401, 403, 466, an instance that is not authorized) do not raise: the rows not
    reached get ``Not run`` and ``summary.stopped`` says why; ``summary.stop_error`` holds the error.
    ``preflight`` checks getStateInstance and getSettings first; a caller that already checked passes
    False (the UDF skips it too: one cell is one call, and a 401 then comes from the call itself), and
    ``stopped_by`` the error its own check met: every row then gets ``Not run`` without a call.

    Every run is recorded in the journal's runs table with ``book``, ``sheet`` and, for an undo, the run
    it undoes (``undo_of``); its calls carry its id, ``summary.run_id``. ``resume`` answers results the
    book lost from the journal (``Journal.done_before``, undelivered calls only), and the run adopts
    them (undo takes them back with it); ``--resend`` turns it off. Each RowResult of a call carries its
    ``call_id``: the edge marks it delivered (``Journal.mark_delivered``) once the result is written.

    ``cancel`` (the Stop button, the book closing) and Ctrl+C end the run within a fraction of a second:
    calls already sent finish and keep their status, calls waiting for their pacing slot are never sent,
    and every row not reached gets ``Not run`` (Ctrl+C then raises KeyboardInterrupt, after the edge has
    had every row).

    While GREEN-API asks the run to wait (an instance restarting: "instance in starting process"), the run
    re-asks, paced, for up to ``Waits.restart``; ``on_wait(reason, waited, limit)`` hears of it, for the
    progress line. Rows naming one chat by both its number and its @lid are called once (the others say
    ``Duplicate``) once the journal or checkWhatsapp links them (``decisions.link_rows``).
    """
    if cancel is not None and stopped_by is None and cancel.is_set():
        stopped_by = Stopped(STOPPED_ON_REQUEST)
    # Ctrl+C sets it too: calls waiting for their pacing slot then leave unsent.
    cancel = cancel if cancel is not None else threading.Event()
    started = time.monotonic()
    book_keeper, records = records_module.open_run(
        plan, client, journal, block_seconds=block_seconds, started=started, source=source, dry_run=dry_run,
        book=book, sheet=sheet, undo_of=undo_of, chat_column=chat_column)
    stop = book_keeper.stop

    def deliver(results, *, force: bool = False) -> None:
        block = book_keeper.add(results, time.monotonic(), force=force)
        if on_progress:
            on_progress(book_keeper.done, book_keeper.total)
        if block and on_results:
            on_results(block)

    effects = Effects(client, records, deliver)
    todo = list(plan.todo)
    interrupted: BaseException | None = None
    with _stoppable(client, cancel, on_wait), _CtrlC() as ctrl_c:
        try:
            todo = effects.drive(decisions.before_calls(client.endpoint, book_keeper, todo, dry_run=dry_run,
                                                        preflight=preflight, resume=resume, stopped_by=stopped_by,
                                                        now=datetime.now()))
            if ctrl_c.pressed:
                stop.set(GreenApiExcelError(_interrupted_text()))
            if todo and not stop.is_set:
                _call_rows(todo, plan, client, journal, effects, stop, deliver, cancel, block_seconds,
                           workers, ctrl_c)
        except BaseException as error:  # a bug, or Ctrl+C off the main thread: the rest say Not run
            interrupted = error
            stop.set(GreenApiExcelError(_interrupted_text()))
        deliver(book_keeper.not_reached(todo), force=True)
        if ctrl_c.pressed and interrupted is None:
            interrupted = KeyboardInterrupt()
    summary = book_keeper.close(time.monotonic() - started)
    journal.finish_run(summary.run_id, summary.counts)
    if interrupted is not None:
        raise interrupted
    return summary


def _call_rows(todo, plan, client, journal, effects, stop, deliver, cancel, block_seconds, workers, ctrl_c):
    """Call every row from a pool of workers, handing finished rows on in blocks until all are in."""
    instance, method = client.endpoint.id_instance, plan.method
    uncertain = records_module.uncertain_chats(journal, instance, method)
    # Chats verify found otherwise than done: "already" is not believed there.
    recheck = plan.recheck | journal.contradicted_chats(instance, method)
    finished: queue.SimpleQueue[RowResult] = queue.SimpleQueue()

    def work(item: tuple[int, str]) -> None:
        row, chat_id = item
        try:
            result = effects.drive(decisions.row(client.endpoint, stop, method, row, chat_id, chat_id in uncertain,
                                                 chat_id in recheck))
        except Exception as error:  # a bug must not cost the row its status, nor the run its other rows
            log.exception("unexpected error for row %d", row)
            result = decisions.internal_error(row, error)
        finished.put(result)

    # Results come back through a queue: waiting on thousands of futures at once costs O(n) a wait.
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(todo))), thread_name_prefix="greenapi")
    futures = []
    try:
        futures.extend(pool.submit(work, item) for item in todo)
        remaining = len(todo)
        while remaining:
            if ctrl_c.pressed and not cancel.is_set():
                stop.set(GreenApiExcelError(_interrupted_text()))
                cancel.set()   # calls waiting for their pacing slot leave unsent
            if cancel.is_set():
                stop.set(Stopped(STOPPED_ON_REQUEST))   # calls not yet started answer Not run at once
            block = _drain(finished, block_seconds, remaining)
            remaining -= len(block)
            deliver(block)
    except BaseException:
        # Ctrl+C: calls not yet started never start; those under way finish and are delivered.
        stop.set(GreenApiExcelError(_interrupted_text()))
        cancel.set()
        for future in futures:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        deliver(_drain(finished, 0))
        raise
    pool.shutdown(wait=True)


def _stopping(error: BaseException) -> GreenApiExcelError:
    return error if isinstance(error, GreenApiExcelError) else GreenApiExcelError(str(error))


def _interrupted_text() -> str:
    from greenapi_excel.i18n import _

    return _("interrupted (Ctrl+C)")


def _drain(finished: "queue.SimpleQueue[RowResult]", seconds: float, expected: int | None = None) -> list[RowResult]:
    """What finished within ``seconds`` (at least one result unless ``seconds`` is 0); returns as soon as
    the ``expected`` results still to come are all in (the last block need not wait out the time)."""
    block: list[RowResult] = []
    deadline = time.monotonic() + seconds
    try:
        block.append(finished.get(timeout=seconds) if seconds > 0 else finished.get_nowait())
        while time.monotonic() < deadline and (expected is None or len(block) < expected):
            block.append(finished.get(timeout=max(0.0, deadline - time.monotonic())))
    except queue.Empty:
        pass
    while True:
        try:
            block.append(finished.get_nowait())
        except queue.Empty:
            return block

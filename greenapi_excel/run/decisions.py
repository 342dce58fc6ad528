"""The run's decisions, without I/O: which call next, how to read its answer, when to settle or stop,
which status a row gets, and when finished rows go out in a block.

Flows are generators, like ``calls``' (whose effects they pass on): besides the request effects they
yield the journal's (``Begin``, ``Finish``, ``MarkUncertain``). They read no clock, start no thread and
touch no socket or file; a driver carries the effects out (``run.threads``: a pool of threads and
``requests``; ``run.aio``: asyncio tasks and an async transport) and hands back what each gave.
``RunBook`` keeps the run's tally (counts, the stop, the rows not reached, the blocks to hand over),
fed by the driver with the time where time matters.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Sequence

from greenapi_excel import calls, methods, statuses as st
from greenapi_excel.errors import (
    ApiError,
    AuthError,
    ConnectionFailed,
    GreenApiExcelError,
    IncomingWebhookOff,
    InstanceError,
    NotAuthorized,
    OutcomeUnknown,
    QuotaExceeded,
    RetriesExhausted,
    Stopped,
)
from greenapi_excel.i18n import _, ngettext
from greenapi_excel.results import RowResult, RunSummary, cell_text
from greenapi_excel.run.planning import Plan

# After this many chats in a row could not reach the server, the rest would fail the same way.
UNREACHABLE_STREAK = 10
STOPPED_ON_REQUEST = "stopped on request"


# A result the book lost (a run killed before its save) is answered from the journal within this
# window; older records may be stale: someone may have unarchived since.
RESUME_WINDOW = timedelta(hours=24)


# --- the journal's effects, and the edge's ---------------------------------------------------------------

@dataclass(frozen=True)
class Begin:
    """Record a call about to be sent (the driver answers with its id)."""

    method: str
    chat_id: str


@dataclass(frozen=True)
class Finish:
    """Record the call's answer."""

    call_id: int
    status: str
    details: str = ""
    http_status: int | None = None
    settled: bool | None = None


@dataclass(frozen=True)
class MarkUncertain:
    """The call may or may not have been carried out."""

    call_id: int
    details: str


@dataclass(frozen=True)
class DoneBefore:
    """What the journal counts as done before (``Journal.done_before``, undelivered calls since ``since``)."""

    method: str
    since: datetime


@dataclass(frozen=True)
class Adopt:
    """This run reports these calls' results (a resume): for undo they are its changes now."""

    call_ids: tuple


@dataclass(frozen=True)
class Deliver:
    """Finished rows for the edge (counted, then handed over in blocks)."""

    results: list


# --- the run's tally ------------------------------------------------------------------------------------

class Stop:
    """The first answer that ends the run (401, 403, 466, unreachable, a stop request), shared by the workers.

    A lock keeps its counts whole when the threads driver's workers report at once; it never waits.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.error: GreenApiExcelError | None = None
        self._unreachable = 0
        self.calls = 0  # state-changing calls sent (each may take several attempts)

    @property
    def is_set(self) -> bool:
        return self.error is not None

    def sent(self, count: int = 1) -> None:
        with self._lock:
            self.calls += count

    def set(self, error: GreenApiExcelError) -> None:
        with self._lock:
            if self.error is None:
                self.error = error

    def reached(self, ok: bool, error: ConnectionFailed | None = None) -> None:
        with self._lock:
            self._unreachable = 0 if ok else self._unreachable + 1
            streak = self._unreachable
        if error is not None and streak >= UNREACHABLE_STREAK:
            self.set(error)


class RunBook:
    """The run's tally: counts per status, progress, and when the rows finished so far go out as a block.

    ``add`` takes finished rows and the driver's clock (monotonic seconds); it returns the block to hand
    to the edge now, if one is due (every ``block_seconds``, and whatever is left at the end).
    """

    def __init__(self, plan: Plan, *, block_seconds: float, started: float):
        self.plan = plan
        self.summary = RunSummary()
        self.summary.hidden = plan.hidden
        self.stop = Stop()
        self.block_seconds = block_seconds
        self.total = len(plan.todo) + len(plan.decided)
        self.done = 0
        self.rows_done: set[int] = set()
        self._pending: list[RowResult] = []
        self._last_block = started
        for status in plan.kept.values():
            word = st.canonical(status) or status   # counted by its word, whichever language wrote it
            self.summary.counts[word] = self.summary.counts.get(word, 0) + 1

    def add(self, results: Sequence[RowResult], now: float, *, force: bool = False) -> list[RowResult] | None:
        for result in results:
            self.summary.counts[result.status] = self.summary.counts.get(result.status, 0) + 1
            self.rows_done.add(result.row)
        self._pending.extend(results)
        self.done += len(results)
        if self._pending and (force or now - self._last_block >= self.block_seconds):
            block, self._pending = self._pending, []
            self._last_block = now
            return block
        return None

    def not_reached(self, todo: Sequence[tuple[int, str]]) -> list[RowResult]:
        """Rows of ``todo`` the run never finished, once it stopped: each says ``Not run`` and why."""
        if self.stop.error is None:
            return []
        return [RowResult(row, st.NOT_RUN, not_run_reason(self.stop.error), datetime.now())
                for row, _chat in todo if row not in self.rows_done]

    def close(self, seconds: float) -> RunSummary:
        summary = self.summary
        if self.stop.error is not None:
            summary.stopped = str(self.stop.error)
            summary.stop_error = self.stop.error
        summary.calls += self.stop.calls
        summary.seconds = seconds
        return summary


def not_run_reason(error: GreenApiExcelError) -> str:
    return _("the run stopped before this row: {error}").format(error=error)


# --- before the first change ------------------------------------------------------------------------

def check_instance(endpoint) -> calls.Flow:
    """Cheap reads before any change: wrong credentials, an unlinked instance or the incomingWebhook setting
    switched off stop here, before a single row is touched. Returns None, or the ApiError that stops."""
    state = yield from calls.get_state_instance(endpoint)
    if isinstance(state, BaseException):
        return state
    if state != "authorized":
        return NotAuthorized(_("the instance is not ready (stateInstance is {state!r}): link WhatsApp to it in the "
                               "GREEN-API console").format(state=state))
    return (yield from check_incoming_webhook(endpoint))


def incoming_webhook(endpoint) -> calls.Flow:
    """getSettings' incomingWebhook: "yes" / "no", None when the answer does not say, or the stopping error.

    401/403/466 and an unreachable server come back as errors, as from any call; any other failure of
    getSettings (a gateway that does not know the method, an answer without the field) gives None, so a
    run goes ahead as it would without the check: the archive calls' own answers then speak for themselves.
    """
    settings = yield from calls.get_settings(endpoint)
    if isinstance(settings, (AuthError, InstanceError, QuotaExceeded, ConnectionFailed, Stopped)):
        return settings
    if isinstance(settings, BaseException):
        return None
    value = settings.get("incomingWebhook")
    return value if value in ("yes", "no") else None


def check_incoming_webhook(endpoint) -> calls.Flow:
    """IncomingWebhookOff (returned) when getSettings says incomingWebhook is "no"."""
    from greenapi_excel import texts

    value = yield from incoming_webhook(endpoint)
    if isinstance(value, BaseException):
        return value
    if value == "no":
        return IncomingWebhookOff(texts.webhook_off())
    return None


# --- before the first call of a row -----------------------------------------------------------------------

def before_calls(endpoint, book: RunBook, todo: list, *, dry_run: bool, preflight: bool, resume: bool,
                 stopped_by: GreenApiExcelError | None, now: datetime) -> calls.Flow:
    """Everything a run decides before it calls row by row: the rows already decided go out; a stop the
    caller met stops it; a dry run reads getChats once and is done; a real run checks the instance
    (``preflight``) and answers from the journal what a killed run left (``resume``). Returns the rows
    still to call."""
    yield Deliver(book.plan.decided)
    if stopped_by is not None:
        book.stop.set(stopped_by)
        return todo
    if todo and dry_run:
        book.summary.calls += 2
        outcome = yield from dry_run_flow(endpoint, todo, book.plan.method)
        if isinstance(outcome, BaseException):
            book.stop.set(outcome if isinstance(outcome, GreenApiExcelError) else GreenApiExcelError(str(outcome)))
            return todo
        yield Deliver(outcome)
        return []
    if todo and preflight:
        book.summary.calls += 1
        problem = yield from check_instance(endpoint)
        if problem is not None:
            book.stop.set(problem)
            return todo
    if todo and resume:
        done = yield DoneBefore(book.plan.method, now - RESUME_WINDOW)
        todo, answered = resumed(todo, done)
        if answered:
            yield Adopt(tuple(r.call_id for r in answered))
            yield Deliver(answered)
    return todo


# --- answers the journal already holds ------------------------------------------------------------------

def resumed(todo: Sequence[tuple[int, str]], done: dict) -> tuple[list[tuple[int, str]], list[RowResult]]:
    """Rows whose result a book lost (answered, never delivered: a run killed before its save) are answered
    from the journal's ``done`` (``Journal.done_before``); the rest still need a call."""
    remaining, answered = [], []
    for row, chat_id in todo:
        entry = done.get(chat_id)
        if entry is None:
            remaining.append((row, chat_id))
        else:
            answered.append(RowResult(row, entry.status, _("done at {when} (from the journal); not sent again").format(
                when=entry.time.strftime("%Y-%m-%d %H:%M")), entry.time, call_id=entry.id))
    return remaining, answered


# --- a dry run ----------------------------------------------------------------------------------------

def dry_run_flow(endpoint, todo: Sequence[tuple[int, str]], method: str) -> calls.Flow:
    """Check the instance, read getChats once and say what a real run would do; changes nothing.
    Returns the rows' results, or the error that stops the run."""
    problem = yield from check_incoming_webhook(endpoint)
    if problem is not None:
        return problem
    chats = yield from calls.get_chats(endpoint)
    if isinstance(chats, BaseException):
        return chats
    return dry_run_results(todo, chats, method)


def dry_run_results(todo: Sequence[tuple[int, str]], chats: Sequence, method: str) -> list[RowResult]:
    words = methods.of(method)
    book = {chat.get("id"): chat for chat in chats if isinstance(chat, dict)}
    now = datetime.now()
    out = []
    for row, chat_id in todo:
        chat = book.get(chat_id)
        if chat is None:
            out.append(RowResult(row, st.CHAT_NOT_FOUND, _("not in the instance's chat list (getChats)"), now))
        elif bool(chat.get("archive")) == words.wants_archived:
            out.append(RowResult(row, words.already, _("getChats shows it so already; nothing to do"), now))
        else:
            # A contact name is the server's text (anyone's choice of name): the cell rule cleans it.
            name = cell_text(chat.get("name") or "", 80)
            out.append(RowResult(row, words.would, _("dry run: nothing changed") + (f"; {name}" if name else ""), now))
    return out


# --- one row ----------------------------------------------------------------------------------------

def row(endpoint, stop: Stop, method: str, row_number: int, chat_id: str, uncertain_before: bool) -> calls.Flow:
    """One row's call: journaled before it is sent and after it is answered; its RowResult."""
    if stop.is_set:
        return RowResult(row_number, st.NOT_RUN, not_run_reason(stop.error), datetime.now())
    call_id = yield Begin(method, chat_id)
    result = yield from _answer(endpoint, stop, method, row_number, chat_id, call_id, uncertain_before)
    return replace(result, call_id=call_id)


def _answer(endpoint, stop: Stop, method: str, row_number: int, chat_id: str, call_id: int,
            uncertain_before: bool) -> calls.Flow:
    words = methods.of(method)
    stop.sent()
    answer = yield from calls.change(endpoint, method, chat_id)
    if isinstance(answer, Stopped):   # told to stop while it waited for its slot: never sent
        stop.sent(-1)
        stop.set(Stopped(STOPPED_ON_REQUEST))
        yield Finish(call_id, st.NOT_RUN, "stopped on request before it was sent")
        return RowResult(row_number, st.NOT_RUN, not_run_reason(stop.error), datetime.now())
    if isinstance(answer, (AuthError, InstanceError, QuotaExceeded)):
        stop.set(answer)
        if isinstance(answer, QuotaExceeded):
            word, reason = st.QUOTA_EXCEEDED, str(answer)
        else:
            word, reason = st.NOT_RUN, not_run_reason(answer)
        if answer.uncertain_attempts:
            # An earlier attempt of this call may have worked: the 466/401/403 says nothing about it.
            yield MarkUncertain(call_id, str(answer))
            return (yield from _settle(endpoint, words, row_number, chat_id, call_id, answer, if_not_done=(word, reason)))
        yield Finish(call_id, word, str(answer), answer.status)
        return RowResult(row_number, word, reason, datetime.now())
    if isinstance(answer, OutcomeUnknown):
        yield MarkUncertain(call_id, str(answer))
        stop.reached(True)
        return (yield from _settle(endpoint, words, row_number, chat_id, call_id, answer))
    if isinstance(answer, ConnectionFailed):
        yield Finish(call_id, st.FAILED, str(answer))
        stop.reached(False, answer)
        return RowResult(row_number, st.FAILED, _("could not reach GREEN-API: {error}").format(error=answer),
                         datetime.now())
    if isinstance(answer, RetriesExhausted):
        yield Finish(call_id, st.FAILED, str(answer), answer.status)
        stop.reached(True)
        return RowResult(row_number, st.FAILED, _("GREEN-API kept refusing, nothing changed: {error}").format(
            error=answer), datetime.now())
    if isinstance(answer, ApiError):
        yield Finish(call_id, st.FAILED, str(answer), answer.status)
        stop.reached(True)
        return RowResult(row_number, st.FAILED, str(answer), datetime.now())
    if isinstance(answer, BaseException):   # ConfigError: the address cannot be formed
        yield Finish(call_id, st.FAILED, str(answer))
        stop.set(answer)
        return RowResult(row_number, st.FAILED, str(answer), datetime.now())
    stop.reached(True)
    status, details = status_for(answer, words, uncertain_before)
    yield Finish(call_id, status, details, answer.http_status)
    return RowResult(row_number, status, details, datetime.now())


def status_for(answer: calls.ChatCallResult, words: methods.Method, uncertain_before: bool) -> tuple[str, str]:
    """The status word and details an answered call gives its row."""
    if answer.outcome == "done":
        if answer.attempts > 1:
            return words.done, ngettext("done after {n} attempt", "done after {n} attempts",
                                        answer.attempts).format(n=answer.attempts)
        return words.done, _("done")
    if answer.outcome == "already":
        if answer.uncertain_attempts or uncertain_before:
            # The earlier attempt went through but its reply was lost: this run did it.
            return words.done, _("done; an earlier attempt's reply (or its result) was lost, the server confirms it")
        return words.already, _("nothing to do")
    if answer.outcome == "not_found":
        return st.CHAT_NOT_FOUND, _("this WhatsApp account has no chat with this number")
    if answer.outcome == "no_messages":
        return st.NO_INCOMING, _("WhatsApp archives only chats with at least one incoming message")
    return st.FAILED, answer.text or _("GREEN-API answered HTTP {status}").format(status=answer.http_status)


def _settle(endpoint, words: methods.Method, row_number: int, chat_id: str, call_id: int, error,
            if_not_done: tuple[str, str] | None = None) -> calls.Flow:
    """Nobody knows whether the change happened (retries ran out, or a 466/401/403 followed an ambiguous
    attempt): ask the server before writing. ``if_not_done`` is the row's word and details when the
    server says nothing changed (default: Failed)."""
    info = yield from calls.get_contact_info(endpoint, chat_id)
    archived = info.get("isArchive") if isinstance(info, dict) else None
    now = datetime.now()
    if not isinstance(archived, bool):
        details = _("outcome unknown ({error}); check the chat in WhatsApp, a re-run is safe").format(error=error)
        return RowResult(row_number, st.FAILED, details, now)
    if archived == words.wants_archived:
        details = _("done; the reply was lost, getContactInfo confirms it")
        yield Finish(call_id, words.done, details)
        return RowResult(row_number, words.done, details, now)
    if if_not_done is not None:
        word, details = if_not_done
        details = _("{details}; getContactInfo confirms nothing changed").format(details=details)
    else:
        word, details = st.FAILED, _("not done ({error}); getContactInfo confirms nothing changed").format(error=error)
    yield Finish(call_id, word, details, settled=True)
    return RowResult(row_number, word, details, now)


def internal_error(row_number: int, error: BaseException) -> RowResult:
    """A bug must not cost the row its status, nor the run its other rows. The call may have been sent
    before the error: its outcome is not known."""
    return RowResult(row_number, st.FAILED, _("internal error ({error}); the outcome is unknown, a re-run is "
                                              "safe").format(error=type(error).__name__), datetime.now())

"""Rows in, one honest status per row out.

``plan`` parses, de-duplicates and sets aside rows an earlier run finished, without any network.
``run`` calls GREEN-API for the rest through the client (which paces and retries), records every
state-changing call in the journal before and after it is sent, and hands finished rows back in blocks.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Callable, Collection, Iterable, Mapping, Sequence

from greenapi_excel import chat_ids, statuses as st
from greenapi_excel.i18n import N_, _, ngettext
from greenapi_excel.errors import (
    ApiError,
    AuthError,
    ConnectionFailed,
    GreenApiExcelError,
    InstanceError,
    NotAuthorized,
    OutcomeUnknown,
    QuotaExceeded,
    RetriesExhausted,
    Stopped,
)
from greenapi_excel.results import RowResult, RunSummary, cell_text

log = logging.getLogger(__name__)

ARCHIVE = "archiveChat"
UNARCHIVE = "unarchiveChat"
METHODS = {"archive": ARCHIVE, "unarchive": UNARCHIVE}

# A result the book lost (a run killed before its save) is answered from the journal within this
# window; older records may be stale: someone may have unarchived since.
RESUME_WINDOW = timedelta(hours=24)

# After this many chats in a row could not reach the server, the rest would fail the same way.
UNREACHABLE_STREAK = 10


@dataclass(frozen=True)
class _Words:
    done: str
    already: str
    would: str
    want_archived: bool


WORDS = {
    ARCHIVE: _Words(st.ARCHIVED, st.ALREADY_ARCHIVED, st.WOULD_ARCHIVE, True),
    UNARCHIVE: _Words(st.UNARCHIVED, st.ALREADY_UNARCHIVED, st.WOULD_UNARCHIVE, False),
}


@dataclass
class Plan:
    """What a run will do, decided without any network call."""

    method: str
    todo: list[tuple[int, str]] = field(default_factory=list)  # (row, chat ID): one row per distinct chat
    decided: list[RowResult] = field(default_factory=list)  # invalid and duplicate rows
    kept: dict[int, str] = field(default_factory=dict)  # row -> status an earlier run wrote (left as is)
    hidden: int = 0  # non-empty rows skipped because the sheet hides them

    @property
    def rows(self) -> int:
        return len(self.todo) + len(self.decided) + len(self.kept)

    def describe(self) -> str:
        invalid = sum(r.status == st.INVALID for r in self.decided)
        dupes = sum(r.status == st.DUPLICATE for r in self.decided)
        todo = len(self.todo)
        parts = [ngettext("{n} row", "{n} rows", self.rows).format(n=self.rows),
                 (_("{n} to archive") if self.method == ARCHIVE else _("{n} to unarchive")).format(n=todo)]
        if self.kept:
            parts.append(_("{n} done earlier").format(n=len(self.kept)))
        if invalid:
            parts.append(_("{n} invalid").format(n=invalid))
        if dupes:
            parts.append(ngettext("{n} duplicate", "{n} duplicates", dupes).format(n=dupes))
        if self.hidden:
            parts.append(ngettext("{n} hidden row skipped", "{n} hidden rows skipped", self.hidden).format(n=self.hidden))
        return ", ".join(parts)


def plan(
    cells: Iterable[tuple[int, object]],
    *,
    method: str,
    region: str | None = None,
    previous: Mapping[int, str] | None = None,
    hidden: Collection[int] = (),
) -> Plan:
    """Parse every cell, keep the first row of each chat, and set aside rows already done in the book.

    ``previous`` maps a row to the Status text an earlier run left there; a row whose status says the
    job is done for this method is kept as it is and makes no call. Rows in ``hidden`` (hidden by a
    filter or by hand: in Excel the filter is the rule) are skipped without a status and counted in
    ``Plan.hidden``.
    """
    if method not in WORDS:
        raise ValueError(f"unknown method {method!r}")
    previous = previous or {}
    result = Plan(method)
    first_row: dict[str, int] = {}
    now = datetime.now()
    for row, value in cells:
        parsed = chat_ids.parse_cell(value, region)
        if parsed.empty:
            continue
        if row in hidden:
            result.hidden += 1
            continue
        if parsed.chat_id is None:
            result.decided.append(RowResult(row, st.INVALID, parsed.reason or _("not a chat ID"), now))
            continue
        seen = first_row.get(parsed.chat_id)
        if seen is not None:
            result.decided.append(RowResult(row, st.DUPLICATE, _("same chat as row {row}").format(row=seen), now))
            continue
        first_row[parsed.chat_id] = row
        earlier = previous.get(row)
        if st.is_done(earlier, method):   # in either language: an English book re-run in Russian, ...
            result.kept[row] = earlier
        else:
            result.todo.append((row, parsed.chat_id))
    return result


ProgressCallback = Callable[[int, int], None]
ResultsCallback = Callable[[list[RowResult]], None]


class _Stop:
    """The first answer that ends the run (401, 403, 466, unreachable), shared by the workers."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.error: GreenApiExcelError | None = None
        self._lock = threading.Lock()
        self._unreachable = 0
        self.calls = 0  # state-changing calls sent (each may take several attempts)

    def sent(self, count: int = 1) -> None:
        with self._lock:
            self.calls += count

    def set(self, error: GreenApiExcelError) -> None:
        with self._lock:
            if self.error is None:
                self.error = error
            self.event.set()

    def reached(self, ok: bool, error: ConnectionFailed | None = None) -> None:
        with self._lock:
            self._unreachable = 0 if ok else self._unreachable + 1
            streak = self._unreachable
        if error is not None and streak >= UNREACHABLE_STREAK:
            self.set(error)


STOPPED_ON_REQUEST = "stopped on request"


@contextmanager
def _stoppable(client, cancel: threading.Event | None):
    """While a run goes, ``cancel`` makes the client's first tries leave their pacing slot unsent."""
    if cancel is None:
        yield
        return
    previous_cancel, client.cancel = getattr(client, "cancel", None), cancel
    try:
        yield
    finally:
        client.cancel = previous_cancel   # the client is the caller's again


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
    record_run: bool = True,
    resume: bool = True,
    cancel: threading.Event | None = None,
) -> RunSummary:
    """Carry out ``plan`` and return the summary; every planned row gets exactly one RowResult.

    Stopping errors (401, 403, 466, an instance that is not authorized) do not raise: the rows not
    reached get ``Not run`` and ``summary.stopped`` says why; ``summary.stop_error`` holds the error.
    ``preflight`` checks getStateInstance first (``check_instance``); a caller that already checked
    passes False (the UDF skips it too: one cell is one call, and a 401 then comes from the call itself),
    and ``stopped_by`` the error its own check met: every row then gets ``Not run`` without a call.

    Every run is recorded in the journal's runs table (``record_run``) with ``book``, ``sheet`` and, for
    an undo, the run it undoes (``undo_of``); its calls carry its id, ``summary.run_id``.
    ``resume`` answers results the book lost from the journal (``Journal.done_before``, undelivered
    calls only); ``--resend`` turns it off. Each RowResult of a call carries its ``call_id``: the
    edge marks it delivered (``Journal.mark_delivered``) once the result is written.

    ``cancel``, when set by someone else (the add-in's Stop button, the book closing), ends the run as
    Ctrl+C does, within a fraction of a second: calls already sent finish and keep their status, calls
    waiting for their pacing slot are never sent, and every row not reached gets ``Not run``.
    """
    if cancel is not None and stopped_by is None and cancel.is_set():
        stopped_by = Stopped(STOPPED_ON_REQUEST)
    with _stoppable(client, cancel):
        started = time.monotonic()
        instance = client.credentials.id_instance
        words = WORDS[plan.method]
        summary = RunSummary()
        summary.hidden = plan.hidden
        if record_run:
            summary.run_id = journal.start_run(instance=instance, method=plan.method, source=source, book=book,
                                               sheet=sheet, dry_run=dry_run, undo_of=undo_of)
            journal = RunJournal(journal, summary.run_id)
        for status in plan.kept.values():
            word = st.canonical(status) or status   # counted by its word, whichever language wrote it
            summary.counts[word] = summary.counts.get(word, 0) + 1

        pending: list[RowResult] = []
        total = len(plan.todo) + len(plan.decided)
        done = 0
        last_flush = time.monotonic()

        def deliver(results: Sequence[RowResult], *, force: bool = False) -> None:
            nonlocal done, last_flush
            for r in results:
                summary.counts[r.status] = summary.counts.get(r.status, 0) + 1
            pending.extend(results)
            done += len(results)
            if on_progress:
                on_progress(done, total)
            if pending and (force or time.monotonic() - last_flush >= block_seconds):
                if on_results:
                    on_results(list(pending))
                pending.clear()
                last_flush = time.monotonic()

        deliver(plan.decided)
        todo = list(plan.todo)
        stop = _Stop()
        if stopped_by is not None:
            stop.set(stopped_by)
        elif todo:
            try:
                if dry_run:
                    summary.calls += 1
                    check_incoming_webhook(client)
                    deliver(_dry_run(todo, client, words))
                    summary.calls += 1
                    todo = []
                else:
                    if preflight:
                        summary.calls += 1
                        check_instance(client)
                    if resume:
                        todo = _resume_from_journal(todo, journal, instance, plan.method, deliver)
            except ApiError as error:  # 401, 403, not authorized, unreachable: nothing was changed
                stop.set(error)

        if todo and not stop.event.is_set():
            # Calls an earlier run sent but never heard back from: if the server now says "already", that
            # run did it. One query for the whole run, not one per chat.
            uncertain = journal.uncertain_chats(instance, plan.method)
            # Chats this tool changed in a run whose result never reached a book (killed before its save;
            # sent again by --resend, or after a later call that settled nothing): an "already" now was
            # that call's doing, as after a lost reply.
            uncertain |= journal.unreported_changes(instance, plan.method)

            finished: queue.SimpleQueue[RowResult] = queue.SimpleQueue()

            def work(item: tuple[int, str]) -> None:
                row, chat_id = item
                try:
                    result = _call_one(row, chat_id, client, journal, instance, plan.method, words, stop, source,
                                       chat_id in uncertain)
                except Exception as error:  # a bug must not cost the row its status, nor the run its other rows
                    log.exception("unexpected error for row %d", row)
                    # The call may have been sent before the error: its outcome is not known.
                    result = RowResult(row, st.FAILED, _("internal error ({error}); the outcome is unknown, "
                                                         "a re-run is safe").format(error=type(error).__name__),
                                       datetime.now())
                finished.put(result)

            # Results come back through a queue: waiting on thousands of futures at once costs O(n) a wait.
            pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(todo))), thread_name_prefix="greenapi")
            try:
                for item in todo:
                    pool.submit(work, item)
                remaining = len(todo)
                while remaining:
                    block = _drain(finished, block_seconds, remaining)
                    remaining -= len(block)
                    if cancel is not None and cancel.is_set():
                        stop.set(Stopped(STOPPED_ON_REQUEST))   # calls not yet started answer Not run at once
                    deliver(block)
            except BaseException:  # Ctrl+C: calls not yet started stay unsent; what finished is delivered
                stop.set(GreenApiExcelError("interrupted"))
                pool.shutdown(wait=True, cancel_futures=True)
                deliver(_drain(finished, 0), force=True)
                raise
            pool.shutdown(wait=True)
            todo = []

        if stop.error is not None:
            summary.stopped = str(stop.error)
            summary.stop_error = stop.error
            # Rows the run never reached (a stop during the preflight or the resume step).
            deliver([RowResult(row, st.NOT_RUN, _not_run_reason(stop.error), datetime.now()) for row, _chat in todo])
        deliver([], force=True)
        summary.calls += stop.calls
        summary.seconds = time.monotonic() - started
        if summary.run_id is not None:
            journal.finish_run(summary.run_id, summary.counts)
        return summary


class RunJournal:
    """The journal as one run sees it: every call the run begins carries the run's id."""

    def __init__(self, journal, run_id: str):
        self._journal = journal
        self.run_id = run_id

    def begin(self, **kwargs) -> int:
        kwargs.setdefault("run_id", self.run_id)
        return self._journal.begin(**kwargs)

    def __getattr__(self, name):
        return getattr(self._journal, name)


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


def _not_run_reason(error: GreenApiExcelError) -> str:
    return _("the run stopped before this row: {error}").format(error=error)


def check_instance(client) -> None:
    """Cheap calls before any change: wrong credentials, an unlinked instance or the incomingWebhook
    setting switched off stop here, before a single row is touched.

    Raises AuthError (401), InstanceError (403), NotAuthorized, IncomingWebhookOff, ConnectionFailed or
    another ApiError.
    """
    state = client.get_state_instance()
    if state != "authorized":
        raise NotAuthorized(
            _("the instance is not ready (stateInstance is {state!r}): link WhatsApp to it in the GREEN-API "
              "console").format(state=state)
        )
    check_incoming_webhook(client)


# The setting archiveChat needs, as the GREEN-API console names it.
WEBHOOK_SETTING = N_("Receive webhooks on incoming messages and files")
WEBHOOK_OFF_TEXT = N_("the instance's setting \"{setting}\" (incomingWebhook) is off, and archiveChat works only "
                      "when it is on: switch it on in the instance's settings in the GREEN-API console "
                      "(console.green-api.com), or run greenapi-excel check --fix; it takes up to 5 minutes to "
                      "apply. Nothing was changed")
WEBHOOK_OFF = WEBHOOK_OFF_TEXT.format(setting=WEBHOOK_SETTING)   # in English; webhook_off() in the run's language


def webhook_off() -> str:
    """WEBHOOK_OFF in the language in force."""
    return _(WEBHOOK_OFF_TEXT).format(setting=_(WEBHOOK_SETTING))


def incoming_webhook(client) -> str | None:
    """getSettings' incomingWebhook ("yes" / "no"), or None when the answer does not say.

    401/403/466 and an unreachable server raise as any call does; any other failure of getSettings (a
    gateway that does not know the method, an answer without the field) returns None, so that a run goes
    ahead as it would without the check: the archive calls' own answers then speak for themselves.
    """
    from greenapi_excel.errors import QuotaExceeded

    try:
        settings = client.get_settings()
    except (AuthError, InstanceError, QuotaExceeded, ConnectionFailed):
        raise
    except ApiError as error:
        log.info("getSettings gave no answer to go by (%s); incomingWebhook not checked", error)
        return None
    value = settings.get("incomingWebhook")
    return value if value in ("yes", "no") else None


def check_incoming_webhook(client) -> None:
    """IncomingWebhookOff when getSettings says incomingWebhook is "no" (one paced read, 1 a second)."""
    from greenapi_excel.errors import IncomingWebhookOff

    if incoming_webhook(client) == "no":
        raise IncomingWebhookOff(webhook_off())


def switch_incoming_webhook_on(client) -> None:
    """setSettings {"incomingWebhook": "yes"}; GREEN-API applies it within 5 minutes."""
    client.set_settings({"incomingWebhook": "yes"})


def _resume_from_journal(todo, journal, instance, method, deliver):
    """Results the book lost (answered, never delivered: a run killed before its save) come from the
    journal, by the one rule of what counts as done (``Journal.done_before``)."""
    done = journal.done_before(instance, method, since=datetime.now() - RESUME_WINDOW, undelivered_only=True)
    remaining, resumed = [], []
    for row, chat_id in todo:
        entry = done.get(chat_id)
        if entry is None:
            remaining.append((row, chat_id))
        else:
            when = entry.time.strftime("%Y-%m-%d %H:%M")
            resumed.append(RowResult(row, entry.status, _("done at {when} (from the journal); not sent again").format(
                when=when), entry.time, call_id=entry.id))
    if resumed:
        deliver(resumed)
    return remaining


def _dry_run(todo, client, words: _Words) -> list[RowResult]:
    """Read getChats once and say what a real run would do, changing nothing."""
    book = {chat.get("id"): chat for chat in client.get_chats() if isinstance(chat, dict)}
    now = datetime.now()
    out = []
    for row, chat_id in todo:
        chat = book.get(chat_id)
        if chat is None:
            out.append(RowResult(row, st.CHAT_NOT_FOUND, _("not in the instance's chat list (getChats)"), now))
        elif bool(chat.get("archive")) == words.want_archived:
            out.append(RowResult(row, words.already, _("getChats shows it so already; nothing to do"), now))
        else:
            # A contact name is the server's text (anyone's choice of name): the cell rule cleans it.
            name = cell_text(chat.get("name") or "", 80)
            out.append(RowResult(row, words.would, _("dry run: nothing changed") + (f"; {name}" if name else ""), now))
    return out


def _call_one(row, chat_id, client, journal, instance, method, words: _Words, stop: _Stop, source,
              uncertain_before: bool) -> RowResult:
    if stop.event.is_set():
        return RowResult(row, st.NOT_RUN, _not_run_reason(stop.error), datetime.now())
    call_id = journal.begin(instance=instance, method=method, chat_id=chat_id, source=source)
    result = _answer_call(row, chat_id, client, journal, call_id, method, words, stop, uncertain_before)
    return replace(result, call_id=call_id)


def _answer_call(row, chat_id, client, journal, call_id, method, words: _Words, stop: _Stop,
                 uncertain_before: bool) -> RowResult:
    call = client.archive_chat if method == ARCHIVE else client.unarchive_chat
    stop.sent()
    try:
        answer = call(chat_id)
    except Stopped:  # told to stop while it waited for its slot: never sent
        stop.sent(-1)
        stop.set(Stopped(STOPPED_ON_REQUEST))
        journal.finish(call_id, status=st.NOT_RUN, details="stopped on request before it was sent")
        return RowResult(row, st.NOT_RUN, _not_run_reason(stop.error), datetime.now())
    except (AuthError, InstanceError, QuotaExceeded) as error:
        stop.set(error)
        if isinstance(error, QuotaExceeded):
            word, reason = st.QUOTA_EXCEEDED, str(error)
        else:
            word, reason = st.NOT_RUN, _not_run_reason(error)
        if error.uncertain_attempts:
            # An earlier attempt of this call may have worked: the 466/401/403 says nothing about it.
            journal.mark_uncertain(call_id, str(error))
            return _settle_unknown(row, chat_id, client, journal, call_id, words, error,
                                   if_not_done=(word, reason))
        journal.finish(call_id, status=word, details=str(error), http_status=error.status)
        return RowResult(row, word, reason, datetime.now())
    except OutcomeUnknown as error:
        journal.mark_uncertain(call_id, str(error))
        stop.reached(True)
        return _settle_unknown(row, chat_id, client, journal, call_id, words, error)
    except ConnectionFailed as error:
        journal.finish(call_id, status=st.FAILED, details=str(error))
        stop.reached(False, error)
        return RowResult(row, st.FAILED, _("could not reach GREEN-API: {error}").format(error=error), datetime.now())
    except RetriesExhausted as error:
        journal.finish(call_id, status=st.FAILED, details=str(error), http_status=error.status)
        stop.reached(True)
        return RowResult(row, st.FAILED, _("GREEN-API kept refusing, nothing changed: {error}").format(error=error),
                         datetime.now())
    except ApiError as error:
        journal.finish(call_id, status=st.FAILED, details=str(error), http_status=error.status)
        stop.reached(True)
        return RowResult(row, st.FAILED, str(error), datetime.now())
    stop.reached(True)
    status, details = _status_for(answer, words, uncertain_before)
    journal.finish(call_id, status=status, details=details, http_status=answer.http_status)
    return RowResult(row, status, details, datetime.now())


def _status_for(answer, words: _Words, uncertain_before: bool) -> tuple[str, str]:
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


def _settle_unknown(row, chat_id, client, journal, call_id, words: _Words, error,
                    if_not_done: tuple[str, str] | None = None) -> RowResult:
    """Nobody knows whether the change happened (retries ran out, or a 466/401/403 followed an ambiguous
    attempt): ask the server before writing. ``if_not_done`` is the row's word and details when the
    server says nothing changed (default: Failed)."""
    now = datetime.now()
    try:
        info = client.get_contact_info(chat_id)
        archived = info.get("isArchive") if isinstance(info, dict) else None
    except GreenApiExcelError:
        archived = None
    if not isinstance(archived, bool):
        details = _("outcome unknown ({error}); check the chat in WhatsApp, a re-run is safe").format(error=error)
        return RowResult(row, st.FAILED, details, now)
    if archived == words.want_archived:
        details = _("done; the reply was lost, getContactInfo confirms it")
        journal.finish(call_id, status=words.done, details=details)
        return RowResult(row, words.done, details, now)
    if if_not_done is not None:
        word, details = if_not_done
        details = _("{details}; getContactInfo confirms nothing changed").format(details=details)
    else:
        word, details = st.FAILED, _("not done ({error}); getContactInfo confirms nothing changed").format(error=error)
    journal.finish(call_id, status=word, details=details, settled=True)
    return RowResult(row, word, details, now)

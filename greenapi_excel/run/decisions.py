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
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Collection, Sequence

from greenapi_excel import calls, methods, statuses as st
from greenapi_excel.chat_identity import Identities, Link, from_check_whatsapp
from greenapi_excel.chat_ids import GROUP, LID, PHONE, kind
from greenapi_excel.errors import (
    ApiError,
    AuthError,
    ConnectionFailed,
    EmptyChatList,
    GreenApiExcelError,
    IncomingWebhookOff,
    InstanceError,
    InstanceStarting,
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


@dataclass(frozen=True)
class KnownLinks:
    """Which phone-number and @lid IDs the journal knows to be one chat on this instance: the driver answers
    a ``chat_identity.Known`` (``Journal.links``)."""


@dataclass(frozen=True)
class Learnt:
    """What checkWhatsapp told, for the journal to keep (``Journal.add_links``): the links, and every number
    asked (also those it gave no @lid for), so no later run asks again."""

    links: tuple[Link, ...]
    asked: tuple[str, ...]


@dataclass(frozen=True)
class Checked:
    """Verify found a chat otherwise than its row said: the journal records it as a settling answer of
    ``method`` (``Journal.record_check``), so nothing counts it as done any more."""

    method: str
    chat_id: str
    status: str
    details: str


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

# States in which archiving can work (docs: account/GetStateInstance): a stale state while the phone is off,
# and a ban on sending, are not a ban on archiving (assumptions, docs/GREEN-API.md). Any other state, one this
# tool does not know included, stops a run before its first change; "starting" is waited out first.
ARCHIVING_WORKS_IN = ("authorized", "sleepMode", "yellowCard", "suspended")


def archiving_can_work(state: str) -> bool:
    return state in ARCHIVING_WORKS_IN


def check_instance(endpoint) -> calls.Flow:
    """Cheap reads before any change: wrong credentials, a state in which archiving cannot work (an unlinked
    or banned number, an instance still restarting after the documented 5 minutes) or the incomingWebhook
    setting switched off stop here, before a single row is touched. Returns None, or the ApiError that stops."""
    problem = yield from check_state(endpoint)
    if problem is not None:
        return problem
    return (yield from check_incoming_webhook(endpoint))


def check_state(endpoint) -> calls.Flow:
    """getStateInstance (a restart waited out): None when archiving can work in the state, else the error
    that says what the state means and what to do (``texts.instance_state``)."""
    from greenapi_excel import texts

    state = yield from calls.settled_state(endpoint)
    if isinstance(state, BaseException):
        return state
    if not archiving_can_work(state):
        return NotAuthorized(texts.instance_state(state), text=state)
    return None


# The settings that feed the journals (docs: journals/LastIncomingMessages, LastOutgoingMessages): the idle
# rule needs both; archiveChat needs the first.
INCOMING_WEBHOOK, OUTGOING_MESSAGE_WEBHOOK = "incomingWebhook", "outgoingMessageWebhook"
JOURNAL_SETTINGS = (INCOMING_WEBHOOK, OUTGOING_MESSAGE_WEBHOOK)


def journal_settings(endpoint) -> calls.Flow:
    """getSettings' incomingWebhook and outgoingMessageWebhook: setting -> "yes" / "no" / None (the answer
    does not say), or the stopping error.

    401/403/466 and an unreachable server come back as errors, as from any call; any other failure of
    getSettings (a gateway that does not know the method, an answer without the field) gives None for both,
    so a run goes ahead as it would without the check: the archive calls' own answers then speak for themselves.
    """
    settings = yield from calls.get_settings(endpoint)
    if isinstance(settings, (AuthError, InstanceError, QuotaExceeded, ConnectionFailed, Stopped, NotAuthorized)):
        return settings
    if isinstance(settings, BaseException):
        return dict.fromkeys(JOURNAL_SETTINGS)
    return {key: settings.get(key) if settings.get(key) in ("yes", "no") else None for key in JOURNAL_SETTINGS}


def incoming_webhook(endpoint) -> calls.Flow:
    """getSettings' incomingWebhook: "yes" / "no", None when the answer does not say, or the stopping error
    (``journal_settings``)."""
    settings = yield from journal_settings(endpoint)
    return settings if isinstance(settings, BaseException) else settings[INCOMING_WEBHOOK]


def switch_on(endpoint, wanted: Sequence[str]) -> calls.Flow:
    """setSettings with each of ``wanted`` "yes" (docs: the instance restarts and applies them within 5
    minutes), then wait until it is back and getSettings shows them on, for at most ``Waits.restart``.
    Returns None once they are on, ``InstanceStarting`` when the wait ran out first, or another error."""
    answer = yield from calls.set_settings(endpoint, dict.fromkeys(wanted, "yes"))
    if isinstance(answer, BaseException):
        return answer
    began: float | None = None
    while True:
        state = yield from calls.settled_state(endpoint)
        if isinstance(state, BaseException):
            return state
        settings = yield from journal_settings(endpoint)
        if isinstance(settings, BaseException):
            return settings
        if all(settings.get(key) != "no" for key in wanted):
            return None
        # Not applied yet (the restart may not have begun): the same wait as a restart.
        now = yield calls.Waiting(calls.RESTART, began, endpoint.waits.restart)
        began = now if began is None else began
        if now - began >= endpoint.waits.restart:
            from greenapi_excel import texts

            return InstanceStarting(texts.still_restarting(now - began))
        if (yield calls.Sleep(endpoint.waits.restart_poll, cancellable=True)):
            return Stopped("stopped while waiting for the settings to apply")


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
    (``preflight``), links rows that name one chat by both its IDs (``link_rows``) and answers from the
    journal what a killed run left (``resume``). Returns the rows still to call."""
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
    if todo:   # one chat named by its number on one row and by its @lid on another is called once
        linked = yield from link_rows(endpoint, todo)
        todo = linked.todo
        if linked.duplicates:
            yield Deliver(linked.duplicates)
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


# --- one chat, two IDs (@lid and phone number) ----------------------------------------------------------

def learn_links(endpoint, phones: Sequence[str], identities: Identities, *, asked: Collection[str] = frozenset(),
                wanted: Collection[str] = (), budget: int | None = None) -> calls.Flow:
    """checkWhatsapp (the one documented mapping: a number's @lid) for each phone-number ID not linked yet and
    never asked before, paced as a read, at most ``Waits.link_lookups`` a run; done once every ID of
    ``wanted`` (@lid IDs) is linked. Links go into ``identities``. A failed ask ends the asking: links are a
    help, never a must. Returns ``Learnt`` (what to keep in the journal)."""
    budget = endpoint.waits.link_lookups if budget is None else budget
    learnt: list[Link] = []
    sent: list[str] = []
    for phone in dict.fromkeys(phones):
        if wanted and all(identities.other(lid) is not None for lid in wanted):
            break
        if budget <= 0:
            break
        if kind(phone) != PHONE or phone in asked or identities.other(phone) is not None:
            continue
        budget -= 1
        answer = yield from calls.check_whatsapp(endpoint, phone)
        if isinstance(answer, BaseException):
            break
        sent.append(phone)
        item = from_check_whatsapp(phone, answer)
        if item is not None and identities.add(item):
            learnt.append(item)
    return Learnt(tuple(learnt), tuple(sent))


def known_identities(phones: Sequence[str], lids_elsewhere: bool, endpoint) -> calls.Flow:
    """The journal's links, and more from checkWhatsapp for ``phones`` when some chat is named by @lid
    (``lids_elsewhere``): an ``Identities``. Records what it learnt."""
    known = yield KnownLinks()
    identities = Identities.from_known(known)
    if phones and lids_elsewhere:
        learnt = yield from learn_links(endpoint, phones, identities, asked=known.asked)
        identities.note_asked(learnt.asked)
        if learnt.asked:
            yield learnt
    return identities


@dataclass
class Linked:
    """The rows to call once rows naming one chat by both IDs are known, and the rows found to be duplicates."""

    todo: list[tuple[int, str]]
    duplicates: list[RowResult]


def link_rows(endpoint, todo: Sequence[tuple[int, str]]) -> calls.Flow:
    """A chat on two rows, by its number on one and its @lid on the other, is called once: the later row is
    a ``Duplicate`` once the journal or checkWhatsapp (asked about the rows' numbers, paced, within the run's
    budget) links the two IDs. Where no link is known they stay two rows (docs/GREEN-API.md, "@lid")."""
    phones = [chat for _row, chat in todo if kind(chat) == PHONE]
    lids = {chat for _row, chat in todo if kind(chat) == LID}
    if not phones or not lids:
        return Linked(list(todo), [])
    known = yield KnownLinks()
    identities = Identities.from_known(known)
    learnt = yield from learn_links(endpoint, phones, identities, asked=known.asked, wanted=lids)
    if learnt.asked:
        yield learnt
    return dedupe(todo, identities)


def dedupe(todo: Sequence[tuple[int, str]], identities: Identities) -> Linked:
    """The first row of each chat (``identities.key``) is kept; a later one is a ``Duplicate`` naming it."""
    first: dict[str, tuple[int, str]] = {}
    kept, duplicates = [], []
    now = datetime.now()
    for row, chat_id in todo:
        earlier = first.get(identities.key(chat_id))
        if earlier is None:
            first[identities.key(chat_id)] = (row, chat_id)
            kept.append((row, chat_id))
        else:
            duplicates.append(RowResult(row, st.DUPLICATE, _("same chat as row {row} ({chat}: one person's number and "
                                                             "WhatsApp ID)").format(row=earlier[0], chat=earlier[1]),
                                        now))
    return Linked(kept, duplicates)


def lookup(chats: Sequence, identities: Identities) -> dict[str, dict]:
    """getChats' list by chat key (``identities.key``): a row finds its chat under either of its IDs."""
    return {identities.key(chat["id"]): chat for chat in chats
            if isinstance(chat, dict) and isinstance(chat.get("id"), str)}


def unmatched_forms(chats: Sequence, identities: Identities) -> set[str]:
    """The forms (PHONE, LID) of person chats getChats lists by an ID no link ties to the other form: a row
    of the other form that is not in the list may be one of them."""
    forms = set()
    for chat in chats:
        chat_id = chat.get("id") if isinstance(chat, dict) else None
        if kind(chat_id) in (PHONE, LID) and identities.other(chat_id) is None:
            forms.add(kind(chat_id))
    return forms


def may_be_listed_otherwise(chat_id: str, unmatched: set[str], identities: Identities) -> bool:
    """True when ``chat_id`` is not in getChats' list under its own ID but may be, under its other one (a
    number checkWhatsapp gave no @lid for has none)."""
    return chat_id not in identities.alone and {PHONE: LID, LID: PHONE}.get(kind(chat_id)) in unmatched


# --- a dry run ----------------------------------------------------------------------------------------

def dry_run_flow(endpoint, todo: Sequence[tuple[int, str]], method: str) -> calls.Flow:
    """Check the instance, read getChats (asked again while it is empty) and say what a real run would do;
    changes nothing. Rows naming one chat by both IDs are found as a real run finds them. Returns the rows'
    results, or the error that stops the run (an empty list: every row would otherwise say Chat not found)."""
    from greenapi_excel import texts

    problem = yield from check_incoming_webhook(endpoint)
    if problem is not None:
        return problem
    chats = yield from calls.chat_list(endpoint)
    if isinstance(chats, BaseException):
        return chats
    if not chats:
        return EmptyChatList(texts.empty_chat_list_dry_run())
    listed = {chat.get("id") for chat in chats if isinstance(chat, dict)}
    # Numbers to ask checkWhatsapp about: those not listed as they are, then the rest when a row names a @lid.
    phones = [chat for _row, chat in todo if kind(chat) == PHONE and chat not in listed]
    lid_rows = any(kind(chat) == LID for _row, chat in todo)
    if lid_rows:
        phones += [chat for _row, chat in todo if kind(chat) == PHONE and chat in listed]
    lids_listed = any(kind(chat_id) == LID for chat_id in listed)
    identities = yield from known_identities(phones, lids_listed or lid_rows, endpoint)
    linked = dedupe(todo, identities)
    return linked.duplicates + dry_run_results(linked.todo, chats, method, identities)


def dry_run_results(todo: Sequence[tuple[int, str]], chats: Sequence, method: str,
                    identities: Identities | None = None) -> list[RowResult]:
    from greenapi_excel import texts

    words = methods.of(method)
    identities = identities if identities is not None else Identities()
    book = lookup(chats, identities)
    unmatched = unmatched_forms(chats, identities)
    now = datetime.now()
    out = []
    for row, chat_id in todo:
        chat = book.get(identities.key(chat_id))
        if chat is None and may_be_listed_otherwise(chat_id, unmatched, identities):
            out.append(RowResult(row, words.would, texts.dry_run_other_id(), now))
        elif chat is None:
            out.append(RowResult(row, st.CHAT_NOT_FOUND, _("not in the instance's chat list (getChats)"), now))
        elif bool(chat.get("archive")) == words.wants_archived:
            out.append(RowResult(row, words.already, _("getChats shows it so already; nothing to do"), now))
        else:
            # A contact name is the server's text (anyone's choice of name): the cell rule cleans it.
            name = cell_text(chat.get("name") or "", 80)
            out.append(RowResult(row, words.would, _("dry run: nothing changed") + (f"; {name}" if name else ""), now))
    return out


# --- verify: do the statuses still hold? ------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    """A row verify looks at: its chat, and the method its done status (or verify's earlier word) is about."""

    row: int
    chat_id: str
    method: str
    found_before: bool = False    # the row says verify found it otherwise before (Not archived / Not unarchived)


@dataclass
class Verified:
    """What one getChats read said of the rows checked."""

    contradicted: list[RowResult] = field(default_factory=list)   # rows that now say Not archived / Not unarchived
    resolved: list[RowResult] = field(default_factory=list)       # rows found otherwise before, as wanted now
    checks: dict[int, Check] = field(default_factory=dict)        # row -> its check, for the contradicted rows
    confirmed: int = 0                                            # rows the list agrees with
    unlisted: int = 0                                             # chats not in the list under any known ID
    unmatched: int = 0                                            # chats the list may name by their other ID
    checked_at: datetime | None = None

    def chats(self, method: str) -> list[tuple[int, str]]:
        """(row, chat ID) of the contradicted rows about ``method``, in row order: what --fix sends again."""
        return sorted((row, check.chat_id) for row, check in self.checks.items() if check.method == method)


def verify(endpoint, checks: Sequence[Check], changed_ago: float | None) -> calls.Flow:
    """One getChats read (once it can show a change made ``changed_ago`` seconds ago: refreshed at most once a
    minute), and every check against its archive flag: a row the list contradicts gets ``Not archived`` /
    ``Not unarchived`` with when it was checked and the likely causes, and the journal records it (so that
    nothing counts the chat as done any more). Returns a ``Verified``, or the error (an empty list too)."""
    from greenapi_excel import texts

    chats = yield from calls.fresh_chat_list(endpoint, changed_ago)
    if isinstance(chats, BaseException):
        return chats
    if not chats:
        return EmptyChatList(texts.empty_chat_list_verify())
    listed = {chat.get("id") for chat in chats if isinstance(chat, dict)}
    missing = [check.chat_id for check in checks if check.chat_id not in listed and kind(check.chat_id) == PHONE]
    identities = yield from known_identities(missing, any(kind(chat_id) == LID for chat_id in listed), endpoint)
    book = lookup(chats, identities)
    unmatched = unmatched_forms(chats, identities)
    outcome = Verified(checked_at=datetime.now())
    for check in checks:
        chat = book.get(identities.key(check.chat_id))
        if chat is None:
            if may_be_listed_otherwise(check.chat_id, unmatched, identities):
                outcome.unmatched += 1
            else:
                outcome.unlisted += 1
            continue
        words = methods.of(check.method)
        if bool(chat.get("archive")) == words.wants_archived and check.found_before:
            # Archived since (by hand, or WhatsApp at last): so already, and this tool did nothing.
            details = texts.as_wanted_now(check.method, outcome.checked_at)
            yield Checked(check.method, check.chat_id, words.already, details)
            outcome.resolved.append(RowResult(check.row, words.already, details, outcome.checked_at))
            continue
        if bool(chat.get("archive")) == words.wants_archived:
            outcome.confirmed += 1
            continue
        details = texts.not_as_said(check.method, outcome.checked_at)
        yield Checked(check.method, check.chat_id, words.not_done, details)
        outcome.contradicted.append(RowResult(check.row, words.not_done, details, outcome.checked_at))
        outcome.checks[check.row] = check
    return outcome


# --- one row ----------------------------------------------------------------------------------------

def row(endpoint, stop: Stop, method: str, row_number: int, chat_id: str, uncertain_before: bool,
        recheck: bool = False) -> calls.Flow:
    """One row's call: journaled before it is sent and after it is answered; its RowResult.

    ``recheck``: getChats showed the chat otherwise than done (verify's ``Not archived``): an answer that it
    is so already is not believed, and GREEN-API's own workaround follows (``workaround``)."""
    if stop.is_set:
        return RowResult(row_number, st.NOT_RUN, not_run_reason(stop.error), datetime.now())
    call_id = yield Begin(method, chat_id)
    result = yield from _answer(endpoint, stop, method, row_number, chat_id, call_id, uncertain_before)
    result = replace(result, call_id=call_id)
    if recheck and result.status == methods.of(method).already:
        result = yield from workaround(endpoint, stop, method, row_number, chat_id)
    return result


def workaround(endpoint, stop: Stop, method: str, row_number: int, chat_id: str) -> calls.Flow:
    """The server says the chat is archived already while getChats shows it is not (green-api issues #488,
    #744: archiveChat answered but WhatsApp never applied it): the maintainers' workaround, the opposite call
    and then the call again, each journaled. (For unarchive the same, mirrored: an assumption.)"""
    from greenapi_excel import texts

    words = methods.of(method)
    back = yield from row(endpoint, stop, words.opposite, row_number, chat_id, False)
    if back.status in (st.NOT_RUN, st.QUOTA_EXCEEDED):
        return back
    if back.status not in methods.of(words.opposite).done_words:
        return replace(back, status=st.FAILED, details=texts.workaround_failed(method, back.details))
    again = yield from row(endpoint, stop, method, row_number, chat_id, False)
    if again.status == words.done:
        return replace(again, details=texts.workaround_done(method))
    if again.status == words.already:
        return replace(again, status=st.FAILED, details=texts.workaround_refused(method))
    return again


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
    if isinstance(answer, (AuthError, InstanceError, QuotaExceeded, NotAuthorized)):
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
        # GREEN-API's words since release 5.44.23.14 (issue #284): "chatID is false or there is no message in the chat".
        return st.NO_INCOMING, _("GREEN-API found no message in this chat to archive it by (its words: the chat ID "
                                 "is wrong, or there is no message in the chat)")
    return st.FAILED, answer.text or _("GREEN-API answered HTTP {status}").format(status=answer.http_status)


def archive_flag(endpoint, chat_id: str) -> calls.Flow:
    """Whether the chat is archived now, as the server tells it (True / False), or None when it cannot tell.

    A person: getContactInfo's ``isArchive``. A group: getChats' ``archive`` flag (getContactInfo is
    documented for correspondents only, and other GREEN-API pages answer groups "Validation failed"), read
    once the list can show a change made just now: it is refreshed at most once a minute, so the flow waits
    that out (a ``Waiting`` the edges show). Returns (flag, the method that told it)."""
    if kind(chat_id) == GROUP:
        chats = yield from calls.fresh_chat_list(endpoint, changed_ago=0.0)
        listed = chats if isinstance(chats, list) else []
        flags = [chat.get("archive") for chat in listed if isinstance(chat, dict) and chat.get("id") == chat_id]
        return (flags[0] if flags and isinstance(flags[0], bool) else None), calls.GET_CHATS
    info = yield from calls.get_contact_info(endpoint, chat_id)
    archived = info.get("isArchive") if isinstance(info, dict) else None
    return (archived if isinstance(archived, bool) else None), calls.GET_CONTACT_INFO


def _settle(endpoint, words: methods.Method, row_number: int, chat_id: str, call_id: int, error,
            if_not_done: tuple[str, str] | None = None) -> calls.Flow:
    """Nobody knows whether the change happened (retries ran out, or a 466/401/403 followed an ambiguous
    attempt): ask the server before writing (``archive_flag``). ``if_not_done`` is the row's word and details
    when the server says nothing changed (default: Failed)."""
    from greenapi_excel import texts

    archived, source = yield from archive_flag(endpoint, chat_id)
    now = datetime.now()
    if archived is None:
        details = _("outcome unknown ({error}); check the chat in WhatsApp, a re-run is safe").format(error=error)
        return RowResult(row_number, st.FAILED, details, now)
    if archived == words.wants_archived:
        details = texts.settled_done(source)
        yield Finish(call_id, words.done, details)
        return RowResult(row_number, words.done, details, now)
    if if_not_done is not None:
        word, details = if_not_done
        details = texts.settled_unchanged(details, source)
    else:
        word, details = st.FAILED, texts.settled_not_done(error, source)
    yield Finish(call_id, word, details, settled=True)
    return RowResult(row_number, word, details, now)


def internal_error(row_number: int, error: BaseException) -> RowResult:
    """A bug must not cost the row its status, nor the run its other rows. The call may have been sent
    before the error: its outcome is not known."""
    return RowResult(row_number, st.FAILED, _("internal error ({error}); the outcome is unknown, a re-run is "
                                              "safe").format(error=type(error).__name__), datetime.now())

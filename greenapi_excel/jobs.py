"""What each button and command does, once, for every edge.

A job takes where the chats are (a ``SheetRead``: one read of a sheet on disk, of a live Excel sheet or
of a Lite book), the settings, a client and a journal, a target for results (``ResultTarget``), a
progress callback and a cancel signal; it returns what happened. The ribbon, the worksheet functions,
the command line, the demo and Lite only gather those inputs, call a job and show what it returns
(through ``texts``).

A run on a sheet is two steps, ``prepare`` (the read and the plan: no network) and ``execute`` (the
calls), because the ribbon plans in Excel's process and calls in a worker process: ``Prepared`` is the
typed record that travels between them (``to_record`` / ``from_record``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Protocol, Sequence

from greenapi_excel import layout, paths, texts
from greenapi_excel.errors import ConfigError, GreenApiExcelError
from greenapi_excel.results import RowResult, RunSummary, call_ids
from greenapi_excel.run import Plan, plan as make_plan

# --- what a job is given ---------------------------------------------------------------------------------


@dataclass
class SheetRead:
    """One read of a sheet: where its chats are and what an earlier run wrote, by ``layout``'s rules
    (the chat column, the header row, where results go), whichever edge read it."""

    book: str                       # paths.book_identity: a full path, or a URL (OneDrive, Lite)
    sheet: str
    chat_column: int
    status_column: int
    chat_cells: Sequence[tuple[int, object]]   # (row, value) below the header
    previous: dict[int, str]        # row -> the Status an earlier run wrote
    hidden: set[int]                # rows the sheet hides (skipped, counted)
    settings: dict                  # the book's Settings sheet (lower-case label -> value; never the token)
    note: str | None = None         # where results went, when not right of the chats

    @property
    def where(self) -> str:
        return texts.where(layout.column_letter(self.chat_column), self.sheet)


class ResultTarget(Protocol):
    """Where a run's results go. ``write`` takes a block and returns the results that are in the book now
    (the job then marks them delivered); ``finish`` is the end of the run (a last save)."""

    gone: bool   # the book went away during the run (closed, Excel quit): the run stops

    def write(self, results: list[RowResult]) -> list[RowResult]: ...

    def finish(self) -> list[RowResult]: ...


class NoTarget:
    """Results that go nowhere but the outcome (printed by the edge): delivered once the run returns."""

    gone = False

    def write(self, results):
        return []

    def finish(self):
        return []


# --- a run on a sheet ---------------------------------------------------------------------------------


@dataclass
class Prepared:
    """A run decided and ready to go: the typed record the ribbon's worker receives."""

    method: str
    dry_run: bool
    plan: Plan
    book: str | None                 # the book's identity (None: no book, e.g. --all-chats without --report)
    sheet: str | None
    where: str                       # "column A of sheet Chats", for the summary
    note: str | None = None
    resend: bool = False
    undo_of: str | None = None
    token_moved: str | None = None   # the idInstance a typed token was stored under (the summary says so)
    chat_column: str | None = None   # the letter the chats were read from (an undo reads them there again)
    nothing_to_do: str | None = None  # why the sheet offers no row to act on (the edge says it; no run is made)

    def to_record(self) -> dict:
        """JSON-ready (the worker's job file): never the token."""
        return {"method": self.method, "dry_run": self.dry_run, "book": self.book, "sheet": self.sheet,
                "where": self.where, "note": self.note, "resend": self.resend, "undo_of": self.undo_of,
                "token_moved": self.token_moved, "chat_column": self.chat_column,
                "plan": {"todo": self.plan.todo, "hidden": self.plan.hidden, "recheck": sorted(self.plan.recheck),
                         "decided": [[r.row, r.status, r.details, _stamp(r.updated)] for r in self.plan.decided],
                         "kept": [[row, status] for row, status in self.plan.kept.items()]}}

    @classmethod
    def from_record(cls, record: dict) -> "Prepared":
        saved = record["plan"]
        plan = Plan(record["method"])
        plan.todo = [(int(row), str(chat)) for row, chat in saved["todo"]]
        plan.decided = [RowResult(int(row), status, details, _unstamp(updated))
                        for row, status, details, updated in saved["decided"]]
        plan.kept = {int(row): status for row, status in saved["kept"]}
        plan.hidden = int(saved["hidden"])
        plan.recheck = {str(chat) for chat in saved.get("recheck", ())}
        return cls(method=record["method"], dry_run=bool(record["dry_run"]), plan=plan, book=record["book"],
                   sheet=record["sheet"], where=record["where"], note=record["note"], resend=bool(record["resend"]),
                   undo_of=record["undo_of"], token_moved=record["token_moved"], chat_column=record["chat_column"])


def _stamp(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def _unstamp(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass
class RunOutcome:
    """What a run did: the summary, and what its edge shows beside it."""

    summary: RunSummary
    plan: Plan
    where: str
    dry_run: bool = False
    note: str | None = None
    undo_of: str | None = None
    token_moved: str | None = None
    book_gone: bool = False
    results: list[RowResult] = field(default_factory=list)   # every row's result (the CLI prints some)
    chats: dict[int, str] = field(default_factory=dict)      # row -> chat ID, for results printed by chat

    @property
    def elsewhere(self) -> list[RowResult]:
        """Results with no row in the book (an undo's chats no row holds any more): printed, never written."""
        return [r for r in self.results if r.row < 2]


def prepare(read: SheetRead, *, method: str, dry_run: bool = False, resend: bool = False,
            region: str | None = None) -> Prepared:
    """The plan of a run on a sheet (no network). When the sheet holds no chat to act on,
    ``nothing_to_do`` says so in words the analyst can act on, and the edge makes no run."""
    planned = make_plan(read.chat_cells, method=method, region=region,
                        previous={} if resend else read.previous, hidden=read.hidden)
    nothing = None
    if planned.rows == 0:
        nothing = texts.every_row_hidden(read.where, planned.hidden) if planned.hidden else texts.no_chats(read.where)
    return Prepared(method=method, dry_run=dry_run, plan=planned, book=read.book, sheet=read.sheet,
                    where=read.where, note=read.note, resend=resend,
                    chat_column=layout.column_letter(read.chat_column), nothing_to_do=nothing)


class _Delivery:
    """Hands each block to the target and marks in the journal what the book now holds."""

    def __init__(self, journal, target: ResultTarget, cancel: threading.Event | None):
        self.journal, self.target, self.cancel = journal, target, cancel
        self.results: list[RowResult] = []

    def __call__(self, block: list[RowResult]) -> None:
        self.results.extend(block)
        self.journal.mark_delivered(call_ids(self.target.write(block)))
        if self.target.gone and self.cancel is not None:
            self.cancel.set()   # the book went away: stop, the journal keeps every finished result

    def finish(self) -> None:
        self.journal.mark_delivered(call_ids(self.target.finish()))


def execute(prepared: Prepared, client, journal, target: ResultTarget | None = None, *,
            progress: Callable[[int, int], None] | None = None, cancel: threading.Event | None = None,
            source: str = "cli", preflight: bool = True, stopped_by: GreenApiExcelError | None = None,
            on_wait=None) -> RunOutcome:
    """Carry a prepared run out on threads (``run.threads``): results go to ``target`` block by block,
    and are marked delivered as the target holds them; the target's last save happens even after Ctrl+C.
    ``on_wait(reason, waited, limit)`` hears of each wait for GREEN-API (an instance restarting)."""
    from greenapi_excel.run import threads

    target = target if target is not None else NoTarget()
    cancel = cancel if cancel is not None else threading.Event()
    delivery = _Delivery(journal, target, cancel)
    summary = None
    try:
        summary = threads.run(prepared.plan, client, journal, dry_run=prepared.dry_run, on_progress=progress,
                              on_results=delivery, source=source, preflight=preflight, stopped_by=stopped_by,
                              book=prepared.book, sheet=prepared.sheet, undo_of=prepared.undo_of,
                              chat_column=prepared.chat_column, resume=not prepared.resend, cancel=cancel,
                              on_wait=on_wait)
    finally:
        delivery.finish()
    return _outcome(prepared, summary, delivery, target)


async def execute_async(prepared: Prepared, client, journal, target: ResultTarget | None = None, *,
                        progress: Callable[[int, int], None] | None = None, cancel=None, source: str = "lite",
                        preflight: bool = True, stopped_by: GreenApiExcelError | None = None,
                        after_block=None, on_wait=None) -> RunOutcome:
    """``execute`` on asyncio (``run.aio``), for edges that cannot start threads. ``after_block`` (a
    coroutine function) runs after each block is written, e.g. Lite's ``book.flush()``; ``stopped_by``, as
    for ``execute``, stops the run before its first call (every row not decided says Not run and why)."""
    from greenapi_excel.run import aio

    target = target if target is not None else NoTarget()
    delivery = _Delivery(journal, target, cancel)

    async def on_results(block):
        delivery(block)
        if after_block is not None:
            await after_block()

    summary = None
    try:
        summary = await aio.run(prepared.plan, client, journal, dry_run=prepared.dry_run, on_progress=progress,
                                on_results=on_results, source=source, preflight=preflight,
                                stopped_by=stopped_by, book=prepared.book,
                                sheet=prepared.sheet, undo_of=prepared.undo_of, chat_column=prepared.chat_column,
                                resume=not prepared.resend, cancel=cancel, on_wait=on_wait)
    finally:
        delivery.finish()
    return _outcome(prepared, summary, delivery, target)


def _outcome(prepared: Prepared, summary: RunSummary, delivery: _Delivery, target) -> RunOutcome:
    # Results with no row in the book reach the analyst as the edge prints them: delivered now.
    delivery.journal.mark_delivered(call_ids(r for r in delivery.results if r.row < 2))
    return RunOutcome(summary=summary, plan=prepared.plan, where=prepared.where, dry_run=prepared.dry_run,
                      note=prepared.note, undo_of=prepared.undo_of, token_moved=prepared.token_moved,
                      book_gone=bool(target.gone), results=delivery.results, chats=dict(prepared.plan.todo))


# --- the instance's own chat list (--all-chats) -------------------------------------------------------------

def prepare_all_chats(rows, *, method: str, dry_run: bool, chat_type: str | None, idle_days: int | None,
                      report: str | None = None, report_sheet: str | None = None,
                      include_unknown: bool = False) -> tuple[Prepared, list]:
    """The chats ``--all-chats`` acts on (``chatlist.choose``: a chat the journals cannot call idle is left
    alone unless ``include_unknown``), as a plan over rows 2.. of the report. The second value is the
    ``chatlist.Choice`` (its ``unknown`` and ``describe_unknown()`` for the summary)."""
    from greenapi_excel import chatlist

    chosen = chatlist.choose(rows, chat_type=chat_type, idle_days=idle_days, include_unknown=include_unknown)
    cells = [(number, row.chat_id) for number, row in enumerate(chosen, start=2)]
    planned = make_plan(cells, method=method)
    where = texts.all_chats_where(len(chosen))
    return Prepared(method=method, dry_run=dry_run, plan=planned, book=report, sheet=report_sheet,
                    where=where), chosen


def unknown_rows(rows, chosen, *, chat_type: str | None, idle_days: int | None) -> list:
    """The rows ``--idle-days`` left alone because the journals cannot tell (listed in the report below the
    chosen ones, without a status: their Idle days cell says why)."""
    from greenapi_excel import chatlist

    if idle_days is None or getattr(chosen, "included", False):
        return []
    return [row for row in rows if (chat_type is None or row.type == chat_type)
            and row.activity(idle_days) == chatlist.UNKNOWN]


def prepare_keep_archived(client, journal, *, dry_run: bool, days: int = 30):
    """``--all-chats --keep-archived``: the chats this tool archived (the journal: no later call settled them
    otherwise) that getChats now shows unarchived (a new message brought them back while "Keep chats
    archived" is off on the phone, or a hand, or a call GREEN-API never applied), as a plan that archives
    them again, with GREEN-API's unarchive-then-archive where the server claims they are archived already.
    The list is read once it can show this tool's last change (refreshed at most once a minute: waited out).
    Returns (Prepared, KeepArchived, the rows of the chats to archive again, as Load chats lays them out)."""
    from greenapi_excel import methods
    from greenapi_excel.chat_ids import LID, PHONE, kind
    from greenapi_excel.errors import EmptyChatList
    from greenapi_excel.run import decisions

    instance = client.endpoint.id_instance
    ours = journal.changed_by_tool(instance, methods.ARCHIVE)
    found = KeepArchived(archived=len(ours))
    rows = []
    if ours:
        last = journal.last_change(instance, ours)
        changed_ago = (datetime.now() - last).total_seconds() if last is not None else None
        listed = read_chat_list(client, days, journal, changed_ago=changed_ago)
        if not listed:
            raise EmptyChatList(texts.empty_chat_list_verify())
        known = journal.links(instance)
        identities = known_identities(journal, instance)
        missing = [chat for chat in ours if identities.key(chat) not in {identities.key(r.chat_id) for r in listed}]
        if any(kind(chat) == PHONE for chat in missing) and any(kind(r.chat_id) == LID for r in listed):
            learnt = client.drive(decisions.learn_links(client.endpoint, missing, identities, asked=known.asked))
            journal.add_links(instance, learnt.links, learnt.asked)
        by_key = {identities.key(row.chat_id): row for row in listed}
        for chat_id in ours:
            row = by_key.get(identities.key(chat_id))
            if row is None:
                found.unlisted += 1
            elif not row.archived:
                rows.append(row)
    found.back = len(rows)
    planned = make_plan([(number, row.chat_id) for number, row in enumerate(rows, start=2)], method=methods.ARCHIVE)
    planned.recheck = {row.chat_id for row in rows}
    return Prepared(methods.ARCHIVE, dry_run, planned, None, None, texts.all_chats_where(len(rows))), found, rows


@dataclass
class KeepArchived:
    archived: int = 0       # chats this tool archived, as the journal knows them
    back: int = 0           # of those, getChats shows unarchived: archived again
    unlisted: int = 0       # not in getChats' list under any ID known (gone, or named otherwise)


# --- undo ----------------------------------------------------------------------------------------------


def find_undo(journal, instance: str, run_id: str | None = None):
    """The run an undo takes back: ``run_id``, or (Ctrl+Z) the newest run not yet taken back."""
    from greenapi_excel import undo

    return undo.find(journal, instance, run_id)


def undo_reads_book(found, book: str | None) -> bool:
    """Whether the undo's statuses go into ``book`` (a book identity): only the very book the run was on."""
    return bool(found.run.book and found.run.sheet and book) and paths.book_identity(found.run.book) == \
        paths.book_identity(book)


def prepare_undo(found, read: SheetRead | None, *, region: str | None = None, journal=None) -> Prepared:
    """The undo as a run: each chat on the row of ``read`` (the run's book) that holds it, under either of
    its IDs where the journal links a number and its @lid, else on rows -1, -2, ... (printed, never written)."""
    from greenapi_excel import undo

    planned = undo.plan(found, read.chat_cells if read is not None else (), region=region,
                        identities=known_identities(journal, found.run.instance) if journal is not None else None)
    where = texts.undo_where_sheet(read.sheet) if read is not None else texts.undo_where_printed()
    return Prepared(method=planned.method, dry_run=False, plan=planned,
                    book=read.book if read is not None else None, sheet=read.sheet if read is not None else None,
                    where=where, undo_of=found.run.id,
                    chat_column=layout.column_letter(read.chat_column) if read is not None else None)


def known_identities(journal, instance: str):
    """Which phone-number and @lid IDs the journal knows to be one chat on ``instance`` (chat_identity)."""
    from greenapi_excel.chat_identity import Identities

    return Identities.from_known(journal.links(instance))


# --- verify: do the statuses still hold? -------------------------------------------------------------------


def prepare_verify(read: SheetRead, *, region: str | None = None) -> list:
    """The rows verify checks (``run.decisions.Check``): every visible row whose Status says a chat was
    archived or unarchived (``Archived`` / ``Already archived``, the unarchive pair) or that verify found
    otherwise before (``Not archived`` / ``Not unarchived``). No network. ConfigError when there is none."""
    from greenapi_excel import chat_ids, methods, statuses as st
    from greenapi_excel.run.decisions import Check

    about = {word: m.name for m in methods.TABLE.values() for word in (*m.done_words, m.not_done)}
    checks = []
    for row, value in read.chat_cells:
        said = st.canonical(read.previous.get(row))
        method = about.get(said)
        if method is None or row in read.hidden:
            continue
        parsed = chat_ids.parse_cell(value, region)
        if parsed.chat_id is not None:
            checks.append(Check(row, parsed.chat_id, method, found_before=said == methods.of(method).not_done))
    if not checks:
        raise ConfigError(texts.nothing_to_verify(read.where))
    return checks


@dataclass
class VerifyOutcome:
    """What verify found: ``verified`` (a ``run.decisions.Verified``), or, when it may not read the list yet
    (``wait`` False right after a run), ``too_soon`` seconds to wait."""

    where: str
    checked: int
    verified: object = None
    too_soon: float | None = None

    def fix(self, read: SheetRead) -> list[Prepared]:
        """The runs ``--fix`` makes: per method, the contradicted rows sent again (an "already" answer not
        believed: GREEN-API's unarchive-then-archive)."""
        from greenapi_excel import methods

        runs = []
        for method in methods.TABLE:
            chats = self.verified.chats(method) if self.verified is not None else []
            if chats:
                planned = Plan(method, todo=list(chats), recheck={chat for _row, chat in chats})
                runs.append(Prepared(method=method, dry_run=False, plan=planned, book=read.book, sheet=read.sheet,
                                     where=read.where, chat_column=layout.column_letter(read.chat_column)))
        return runs


def verify(read: SheetRead, checks: list, client, journal, target: ResultTarget | None = None, *,
           wait: bool = True, source: str = "cli verify") -> VerifyOutcome:
    """Check ``checks`` against one getChats read (``run.decisions.verify``) and write the rows it contradicts
    (``Not archived`` / ``Not unarchived``) into ``target``. getChats is refreshed at most once a minute: right
    after this tool changed one of these chats, with ``wait`` the read waits that out (``client.on_wait`` hears
    of it), without it nothing is read and ``too_soon`` says how long to wait."""
    from greenapi_excel.run import decisions, records, threads

    problem = check_before_changes(client, webhook=False)
    if problem is not None:
        raise problem
    changed_ago, too_soon = _since_last_change(client, journal, checks)
    outcome = VerifyOutcome(read.where, len(checks))
    if too_soon is not None and not wait:
        outcome.too_soon = too_soon
        return outcome
    effects = threads.Effects(client, records.Records(journal, instance=client.endpoint.id_instance, source=source,
                                                      run_id=None), deliver=None)
    verified = effects.drive(decisions.verify(client.endpoint, checks, changed_ago))
    if isinstance(verified, BaseException):
        raise verified
    outcome.verified = verified
    _write_found(journal, target, verified)
    return outcome


async def verify_async(read: SheetRead, checks: list, client, journal, target: ResultTarget | None = None, *,
                       source: str = "lite verify", after_block=None) -> VerifyOutcome:
    """``verify`` on asyncio (``run.aio``'s effects), for edges that cannot start threads; it always waits."""
    from greenapi_excel.run import aio, decisions, records

    effects = aio.Effects(client, records.Records(journal, instance=client.endpoint.id_instance, source=source,
                                                  run_id=None), deliver=None)
    problem = await effects.drive(decisions.check_state(client.endpoint))
    if problem is not None:
        raise problem
    changed_ago, _too_soon = _since_last_change(client, journal, checks)
    verified = await effects.drive(decisions.verify(client.endpoint, checks, changed_ago))
    if isinstance(verified, BaseException):
        raise verified
    _write_found(journal, target, verified)
    if after_block is not None:
        await after_block()
    return VerifyOutcome(read.where, len(checks), verified)


def _since_last_change(client, journal, checks) -> tuple[float | None, float | None]:
    """(seconds since this tool last changed one of the checked chats, seconds getChats may still hide it)."""
    last = journal.last_change(client.endpoint.id_instance, [check.chat_id for check in checks])
    if last is None:
        return None, None
    ago = max(0.0, (datetime.now() - last).total_seconds())
    left = client.endpoint.waits.list_refresh - ago
    return ago, (left if left > 0 else None)


def _write_found(journal, target: ResultTarget | None, verified) -> None:
    target = target if target is not None else NoTarget()
    target.write([*verified.contradicted, *verified.resolved])
    target.finish()


# --- the instance ------------------------------------------------------------------------------------


@dataclass
class CheckOutcome:
    state: str
    webhook: str | None = None      # incomingWebhook: "yes" / "no" / None (getSettings did not say)
    outgoing: str | None = None     # outgoingMessageWebhook, likewise
    since: dict = field(default_factory=dict)   # setting -> when this tool switched it on (the journal), if known
    switched_on: bool = False       # this check switched a setting on
    switched: tuple = ()            # which
    restarting: bool = False        # the instance was still restarting when the check stopped waiting
    retry_at: datetime | None = None   # when to try again (restarting)

    @property
    def state_works(self) -> bool:
        """Archiving can work in the instance's state (``run.decisions.archiving_can_work``)."""
        from greenapi_excel.run import decisions

        return decisions.archiving_can_work(self.state)

    @property
    def ready(self) -> bool:
        return self.state_works and self.webhook != "no" and not self.restarting

    def settings(self) -> dict:
        return {"incomingWebhook": self.webhook, "outgoingMessageWebhook": self.outgoing}

    def idle_rule_reach(self, now: datetime | None = None):
        """How far back the journals can tell idle chats (``chatlist.journal_reach`` from the settings and
        since when this tool knows them on; the journals' 10,000 cap is not read here)."""
        from greenapi_excel import chatlist

        return chatlist.journal_reach(chatlist.MAX_DAYS, now=now, incoming_webhook=self.webhook,
                                      outgoing_message_webhook=self.outgoing,
                                      incoming_since=self.since.get("incomingWebhook"),
                                      outgoing_since=self.since.get("outgoingMessageWebhook"))


def check(client, *, fix: bool = False, ask: Callable[[str], bool] | None = None, journal=None,
          wait: bool = True) -> CheckOutcome:
    """getStateInstance (a restart waited out), then getSettings' incomingWebhook (archiveChat needs it) and
    outgoingMessageWebhook (the idle rule needs both), and since when this tool knows them on (``journal``).
    With ``fix`` (or when ``ask`` says yes to the question it is shown) the ones that are off are switched on
    (setSettings, which restarts the instance); with ``wait`` the check waits until the instance is back and
    shows them on (docs: up to 5 minutes), else, or when that runs out, ``restarting`` says so and
    ``retry_at`` when to try again. The switch-on time is kept in the journal (the journals hold nothing
    older)."""
    return client.drive(check_flow(client.endpoint, fix=fix, ask=ask, journal=journal, wait=wait))


async def check_async(client, *, fix: bool = False, ask: Callable[[str], bool] | None = None, journal=None,
                      wait: bool = True) -> CheckOutcome:
    """``check`` on asyncio (Lite's Check connection)."""
    return await client.drive(check_flow(client.endpoint, fix=fix, ask=ask, journal=journal, wait=wait))


def check_flow(endpoint, *, fix: bool = False, ask: Callable[[str], bool] | None = None, journal=None,
               wait: bool = True):
    """``check``'s calls as a flow of effects (either driver); returns the CheckOutcome or the error."""
    from greenapi_excel import calls
    from greenapi_excel.errors import InstanceStarting
    from greenapi_excel.run import decisions

    instance = endpoint.id_instance
    state = yield from calls.settled_state(endpoint)
    if isinstance(state, InstanceStarting):
        return CheckOutcome("starting", restarting=True, retry_at=datetime.now() + _RETRY_AFTER)
    if isinstance(state, BaseException):
        return state
    since = journal.switched_on(instance) if journal is not None else {}
    if not decisions.archiving_can_work(state):
        return CheckOutcome(state, since=since)
    settings = yield from decisions.journal_settings(endpoint)
    if isinstance(settings, InstanceStarting):   # it began restarting between the two reads
        return CheckOutcome("starting", since=since, restarting=True, retry_at=datetime.now() + _RETRY_AFTER)
    if isinstance(settings, BaseException):
        return settings
    outcome = CheckOutcome(state, settings[decisions.INCOMING_WEBHOOK], settings[decisions.OUTGOING_MESSAGE_WEBHOOK],
                           since=since)
    off = tuple(key for key in decisions.JOURNAL_SETTINGS if settings[key] == "no")
    if not off or not (fix or (ask is not None and ask(texts.switch_on_question(instance, off)))):
        return outcome
    sent = datetime.now()
    applied = False
    if wait:
        result = yield from decisions.switch_on(endpoint, off)
        if isinstance(result, BaseException) and not isinstance(result, InstanceStarting):
            return result
        applied = result is None
    else:
        saved = yield from calls.set_settings(endpoint, dict.fromkeys(off, "yes"))
        if isinstance(saved, BaseException):
            return saved
    now = datetime.now()
    outcome.switched_on, outcome.switched = True, off
    if applied:
        since_then = now   # shown on now: the journals hold what arrives from now on
        for key in off:
            setattr(outcome, "webhook" if key == decisions.INCOMING_WEBHOOK else "outgoing", "yes")
    else:
        # Applied within 5 minutes of setSettings (docs): the journals hold nothing older than that.
        since_then = sent + _RETRY_AFTER
        outcome.restarting, outcome.retry_at = True, (now if wait else sent) + _RETRY_AFTER
    for key in off:
        if journal is not None:
            journal.record_switched_on(instance, key, since_then)
        outcome.since[key] = since_then
    return outcome


_RETRY_AFTER = timedelta(minutes=5)   # docs: a restart, and settings, take up to 5 minutes


def check_before_changes(client, *, webhook: bool = True) -> GreenApiExcelError | None:
    """The preflight a run makes, on its own (a command that checks before reading a big book): the state
    (a restart waited out) and, with ``webhook``, the incomingWebhook setting archiveChat needs."""
    return client.drive(preflight_flow(client.endpoint, webhook=webhook)).problem


@dataclass(frozen=True)
class Preflight:
    problem: GreenApiExcelError | None   # what stops a run before its first change, or None


def preflight_flow(endpoint, *, webhook: bool = True):
    """The run's preflight as a flow whose answer no driver raises."""
    from greenapi_excel.run import decisions

    flow = decisions.check_instance if webhook else decisions.check_state
    return Preflight((yield from flow(endpoint)))


# --- the chat list (Load chats) ----------------------------------------------------------------------------


def fetch_chat_list(client, days: int, journal=None):
    """The instance's chats as rows (``chatlist.ChatRow``), after the instance's state is checked (a restart
    waited out; a state in which nothing works stops here). The rows know how far back the journals reach
    (``chatlist.journal_reach``: the days asked, the 10,000 cap, both settings and since when this tool knows
    them on) and which @lid is which number (the journal's links, the journals' own entries, checkWhatsapp
    within the run's budget). getChats answering ``[]`` is asked again; still empty, the rows are [] (and
    ``chatlist.refresh`` leaves a loaded sheet alone)."""
    return client.drive(chat_list_flow(client.endpoint, days, journal))


async def fetch_chat_list_async(client, days: int, journal=None):
    """``fetch_chat_list`` on asyncio (Lite's Load chats)."""
    return await client.drive(chat_list_flow(client.endpoint, days, journal))


def read_chat_list(client, days: int, journal=None, *, changed_ago: float | None = None):
    """``fetch_chat_list`` without the state check (the caller made it). ``changed_ago``: this tool changed a
    chat that long ago (seconds), and getChats is read once it can show it (refreshed once a minute)."""
    return client.drive(chat_list_flow(client.endpoint, days, journal, changed_ago=changed_ago, check=False))


def chat_list_flow(endpoint, days: int, journal=None, *, changed_ago: float | None = None, check: bool = True):
    """Load chats' reads as a flow of effects (either driver): the rows, or the error."""
    from greenapi_excel import calls, chatlist, chat_identity
    from greenapi_excel.chat_ids import LID, PHONE, kind
    from greenapi_excel.run import decisions

    if check:
        problem = yield from decisions.check_state(endpoint)
        if problem is not None:
            return problem
    days = chatlist.check_days(days)
    instance = endpoint.id_instance
    chats = yield from calls.fresh_chat_list(endpoint, changed_ago)
    if isinstance(chats, BaseException):
        return chats
    minutes = days * 1440
    incoming = yield from calls.journal(endpoint, calls.LAST_INCOMING, minutes)
    if isinstance(incoming, BaseException):
        return incoming
    outgoing = yield from calls.journal(endpoint, calls.LAST_OUTGOING, minutes)
    if isinstance(outgoing, BaseException):
        return outgoing
    settings = yield from decisions.journal_settings(endpoint)
    if isinstance(settings, BaseException):
        return settings
    since = journal.switched_on(instance) if journal is not None else {}
    reach = chatlist.journal_reach(days, incoming, outgoing, incoming_webhook=settings[decisions.INCOMING_WEBHOOK],
                                   outgoing_message_webhook=settings[decisions.OUTGOING_MESSAGE_WEBHOOK],
                                   incoming_since=since.get(decisions.INCOMING_WEBHOOK),
                                   outgoing_since=since.get(decisions.OUTGOING_MESSAGE_WEBHOOK))
    known = journal.links(instance) if journal is not None else chat_identity.Known()
    identities = chat_identity.Identities.from_known(known)
    journal_links = chat_identity.from_journal(incoming)
    for item in journal_links:
        identities.add(item)
    listed = [chat["id"] for chat in chats if isinstance(chat, dict) and isinstance(chat.get("id"), str)]
    named = {m.get("chatId") for m in (*incoming, *outgoing) if isinstance(m, dict)}
    keys = {identities.key(chat_id) for chat_id in listed}
    strays = [chat_id for chat_id in named if isinstance(chat_id, str) and identities.key(chat_id) not in keys]
    # Who to ask checkWhatsapp about: a number the journals name that the list names by @lid is asked
    # directly; a @lid the journals name that the list does not may be any listed number's.
    direct = yield from decisions.learn_links(endpoint, [c for c in strays if kind(c) == PHONE], identities,
                                              asked=known.asked)
    stray_lids = [chat_id for chat_id in strays if kind(chat_id) == LID]
    listed_phones = [chat_id for chat_id in listed if kind(chat_id) == PHONE] if stray_lids else []
    among = yield from decisions.learn_links(endpoint, listed_phones, identities, asked={*known.asked, *direct.asked},
                                             wanted=stray_lids, budget=endpoint.waits.link_lookups - len(direct.asked))
    identities.note_asked((*direct.asked, *among.asked))
    if journal is not None:
        journal.add_links(instance, (*journal_links, *direct.links, *among.links), (*direct.asked, *among.asked))
    return chatlist.build_rows(chats, incoming, outgoing, days=days, reach=reach, identities=identities)

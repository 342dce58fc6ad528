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
from datetime import datetime
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
    """The plan of a run on a sheet (no network). ConfigError, in words the analyst can act on, when the
    sheet holds no chat to act on."""
    planned = make_plan(read.chat_cells, method=method, region=region,
                        previous={} if resend else read.previous, hidden=read.hidden)
    if planned.rows == 0 and planned.hidden:
        raise ConfigError(texts.every_row_hidden(read.where, planned.hidden))
    if planned.rows == 0:
        raise ConfigError(texts.no_chats(read.where))
    return Prepared(method=method, dry_run=dry_run, plan=planned, book=read.book, sheet=read.sheet,
                    where=read.where, note=read.note, resend=resend,
                    chat_column=layout.column_letter(read.chat_column))


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
            source: str = "cli", preflight: bool = True, stopped_by: GreenApiExcelError | None = None) -> RunOutcome:
    """Carry a prepared run out on threads (``run.threads``): results go to ``target`` block by block,
    and are marked delivered as the target holds them; the target's last save happens even after Ctrl+C."""
    from greenapi_excel.run import threads

    target = target if target is not None else NoTarget()
    cancel = cancel if cancel is not None else threading.Event()
    delivery = _Delivery(journal, target, cancel)
    summary = None
    try:
        summary = threads.run(prepared.plan, client, journal, dry_run=prepared.dry_run, on_progress=progress,
                              on_results=delivery, source=source, preflight=preflight, stopped_by=stopped_by,
                              book=prepared.book, sheet=prepared.sheet, undo_of=prepared.undo_of,
                              chat_column=prepared.chat_column, resume=not prepared.resend, cancel=cancel)
    finally:
        delivery.finish()
    return _outcome(prepared, summary, delivery, target)


async def execute_async(prepared: Prepared, client, journal, target: ResultTarget | None = None, *,
                        progress: Callable[[int, int], None] | None = None, cancel=None, source: str = "lite",
                        preflight: bool = True, after_block=None) -> RunOutcome:
    """``execute`` on asyncio (``run.aio``), for edges that cannot start threads. ``after_block`` (a
    coroutine function) runs after each block is written, e.g. Lite's ``book.flush()``."""
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
                                on_results=on_results, source=source, preflight=preflight, book=prepared.book,
                                sheet=prepared.sheet, undo_of=prepared.undo_of, chat_column=prepared.chat_column,
                                resume=not prepared.resend, cancel=cancel)
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
                      report: str | None = None, report_sheet: str | None = None) -> tuple[Prepared, list]:
    """The chats ``--all-chats`` acts on (``chatlist.choose``), as a plan over rows 2.. of the report."""
    from greenapi_excel import chatlist

    chosen = chatlist.choose(rows, chat_type=chat_type, idle_days=idle_days)
    cells = [(number, row.chat_id) for number, row in enumerate(chosen, start=2)]
    planned = make_plan(cells, method=method)
    where = texts.all_chats_where(len(chosen))
    return Prepared(method=method, dry_run=dry_run, plan=planned, book=report, sheet=report_sheet,
                    where=where), chosen


# --- undo ----------------------------------------------------------------------------------------------


def find_undo(journal, instance: str, run_id: str | None = None):
    """The run an undo takes back: ``run_id``, or (Ctrl+Z) the newest run not yet taken back."""
    from greenapi_excel import undo

    return undo.find(journal, instance, run_id)


def undo_reads_book(found, book: str | None) -> bool:
    """Whether the undo's statuses go into ``book`` (a book identity): only the very book the run was on."""
    return bool(found.run.book and found.run.sheet and book) and paths.book_identity(found.run.book) == \
        paths.book_identity(book)


def prepare_undo(found, read: SheetRead | None, *, region: str | None = None) -> Prepared:
    """The undo as a run: each chat on the row of ``read`` (the run's book) that holds it, else on rows
    -1, -2, ... (printed, never written)."""
    from greenapi_excel import undo

    planned = undo.plan(found, read.chat_cells if read is not None else (), region=region)
    where = texts.undo_where_sheet(read.sheet) if read is not None else texts.undo_where_printed()
    return Prepared(method=planned.method, dry_run=False, plan=planned,
                    book=read.book if read is not None else None, sheet=read.sheet if read is not None else None,
                    where=where, undo_of=found.run.id,
                    chat_column=layout.column_letter(read.chat_column) if read is not None else None)


# --- the instance ------------------------------------------------------------------------------------


@dataclass
class CheckOutcome:
    state: str
    webhook: str | None = None      # "yes" / "no" / None (getSettings did not say)
    switched_on: bool = False

    @property
    def ready(self) -> bool:
        return self.state == "authorized" and self.webhook != "no"


def check(client, *, fix: bool = False, ask: Callable[[str], bool] | None = None) -> CheckOutcome:
    """getStateInstance, then getSettings' incomingWebhook; with ``fix`` (or when ``ask`` says yes to the
    question it is shown), switch incomingWebhook on (setSettings)."""
    from greenapi_excel.run import decisions

    state = client.get_state_instance()
    if state != "authorized":
        return CheckOutcome(state)
    webhook = client.drive(decisions.incoming_webhook(client.endpoint))
    outcome = CheckOutcome(state, webhook)
    if webhook == "no" and (fix or (ask is not None and ask(texts.webhook_question(client.endpoint.id_instance)))):
        client.set_settings({"incomingWebhook": "yes"})
        outcome.switched_on = True
    return outcome


def check_before_changes(client) -> GreenApiExcelError | None:
    """The preflight a run makes, on its own (a command that checks before reading a big book)."""
    from greenapi_excel.errors import ApiError
    from greenapi_excel.run import decisions

    try:
        return client.drive(decisions.check_instance(client.endpoint))
    except ApiError as error:   # the client raises what the check returned: here it is the answer
        return error


# --- the chat list (Load chats) ----------------------------------------------------------------------------


def fetch_chat_list(client, days: int):
    """The instance's chats as rows (getChats and the two journals), after the same checks as a run."""
    from greenapi_excel import chatlist

    problem = check_before_changes(client)
    if problem is not None:
        raise problem
    return chatlist.fetch(client, days)

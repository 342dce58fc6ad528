"""The xlwings Lite edition's journal: ``journal.Journal``'s records and rules, kept in the book itself.

In Lite the file system is in memory and Python forgets everything at a reload, so the calls and runs live
where the results live: a hidden sheet of the workbook (``SHEET``), one JSON record per cell (column A the
calls, column B the runs, from row 3). JSON text never becomes a formula or a number in a cell, and reads
back exactly. ``BookJournal`` holds them in memory with every method a run, an undo and the worksheet
functions need of ``journal.Journal`` (the same names, arguments and answers: tests/test_lite_journal.py
runs one random history through both and compares); ``queue_writes`` puts what changed into the book's
queue of writes, which ``await book.flush()`` carries to Excel after the result cells of the same block.

What it promises, within the one book that holds it:
- the done-before rule, resume and undo work as on the desktop, from the records the book holds;
- a result counts as delivered once the flush that wrote its cells succeeded (the mark reaches the book
  with the next flush);
- a book closed without saving forgets the calls it made since its last save, results and records alike;
  so does a copy of the book made before them. Calls begun in the last half second before Python stopped
  (a reload of the add-in) may be missing: their rows have no status and a re-run asks GREEN-API again.

The token is never given to it; as on the desktop, a token-shaped run of letters and digits in a details
text is replaced by ``***`` (``journal._scrub``).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Mapping

from greenapi_excel import i18n
from greenapi_excel.i18n import N_, _
from greenapi_excel.journal import ANSWERED, SENT, SETTLING, UNCERTAIN, JournalEntry, RunRecord, _scrub
from greenapi_excel.methods import TABLE

SHEET = N_("GreenApi journal")
TITLE = N_("GreenApi's journal of this book: every call the buttons and functions made, and every run. Kept "
           "hidden; do not edit it.")
FIRST_ROW = 3            # row 1: TITLE; row 2: the columns' names; the records from row 3
CALLS_COLUMN, RUNS_COLUMN = 1, 2
HEADERS = ("calls", "runs")


@dataclass
class _Call:
    id: int
    sent_at: float
    updated_at: float
    instance: str
    method: str
    chat_id: str
    state: str
    status: str | None = None
    details: str = ""
    http_status: int | None = None
    source: str = ""
    run_id: str | None = None
    delivered_at: float | None = None
    settled: bool | None = None
    adopted_by: str | None = None

    def entry(self) -> JournalEntry:
        return JournalEntry(id=self.id, time=datetime.fromtimestamp(self.updated_at), instance=self.instance,
                            method=self.method, chat_id=self.chat_id, state=self.state, status=self.status,
                            details=self.details, http_status=self.http_status, source=self.source,
                            run_id=self.run_id, sent_time=datetime.fromtimestamp(self.sent_at))

    @property
    def settles(self) -> bool:
        # None: a record written before the answer said (never by this module); it counts, as in journal.py.
        return self.state == ANSWERED and self.settled is not False


@dataclass
class _Run:
    id: str
    started: float
    instance: str
    method: str
    source: str = ""
    book: str | None = None
    sheet: str | None = None
    dry_run: bool = False
    undo_of: str | None = None
    chat_column: str | None = None
    finished: float | None = None
    counts: dict = field(default_factory=dict)

    def record(self) -> RunRecord:
        return RunRecord(id=self.id, started=datetime.fromtimestamp(self.started),
                         finished=None if self.finished is None else datetime.fromtimestamp(self.finished),
                         instance=self.instance, source=self.source, book=self.book, sheet=self.sheet,
                         method=self.method, dry_run=self.dry_run, counts=dict(self.counts), undo_of=self.undo_of,
                         chat_column=self.chat_column)


_CALL_FIELDS = tuple(_Call.__dataclass_fields__)
_RUN_FIELDS = tuple(_Run.__dataclass_fields__)


def _pair(method: str) -> tuple[str, ...]:
    row = TABLE.get(method)
    return (method, row.opposite) if row else (method,)


def _done_words(method: str) -> tuple[str, ...]:
    row = TABLE.get(method)
    return row.done_words if row else ()


def _epoch(when: datetime | None) -> float:
    return float("-inf") if when is None else when.timestamp()


class BookJournal:
    """``journal.Journal`` in memory, for a book to keep (see the module's docstring). Not thread-safe: Lite
    has one thread, and the event loop runs one step at a time."""

    def __init__(self) -> None:
        self._calls: dict[int, _Call] = {}
        self._runs: dict[str, _Run] = {}       # in the order they started (rowid order)
        self._changed_calls: set[int] = set()
        self._changed_runs: set[str] = set()
        self._run_rows: dict[str, int] = {}    # run id -> its row in the sheet

    # --- writing (journal.Journal's signatures) ----------------------------------------------------

    def begin(self, *, instance, method: str, chat_id: str, source: str = "", run_id: str | None = None) -> int:
        now = time.time()
        call_id = max(self._calls, default=0) + 1
        self._calls[call_id] = _Call(call_id, now, now, str(instance), method, chat_id, SENT, source=source or "",
                                     run_id=run_id)
        self._changed_calls.add(call_id)
        return call_id

    def finish(self, call_id: int, *, status: str, details: str = "", http_status: int | None = None,
               settled: bool | None = None) -> None:
        call = self._call(call_id)
        if call is None:
            return
        call.state, call.status, call.details, call.http_status = ANSWERED, status, _scrub(details), http_status
        call.updated_at = time.time()
        call.settled = status in SETTLING if settled is None else bool(settled)

    def mark_uncertain(self, call_id: int, details: str) -> None:
        call = self._call(call_id)
        if call is not None:
            call.state, call.details, call.updated_at = UNCERTAIN, _scrub(details), time.time()

    def mark_delivered(self, call_ids: Iterable[int | None]) -> None:
        now = time.time()
        for call_id in {int(i) for i in call_ids if i is not None}:
            call = self._calls.get(call_id)
            if call is not None and call.delivered_at is None:
                call.delivered_at = now
                self._changed_calls.add(call_id)

    def adopt(self, run_id: str, call_ids: Iterable[int | None]) -> None:
        for call_id in {int(i) for i in call_ids if i is not None}:
            call = self._call(call_id)
            if call is not None:
                call.adopted_by = str(run_id)

    def start_run(self, *, instance, method: str, source: str = "", book: str | None = None,
                  sheet: str | None = None, dry_run: bool = False, undo_of: str | None = None,
                  chat_column: str | None = None) -> str:
        now = time.time()
        run_id = f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{secrets.token_hex(2)}"
        self._runs[run_id] = _Run(run_id, now, str(instance), method, source or "", book, sheet, bool(dry_run),
                                  undo_of, chat_column)
        self._changed_runs.add(run_id)
        return run_id

    def finish_run(self, run_id: str, counts: Mapping[str, int]) -> None:
        run = self._runs.get(run_id)
        if run is not None:
            run.finished, run.counts = time.time(), dict(counts)
            self._changed_runs.add(run_id)

    def _call(self, call_id: int) -> _Call | None:
        call = self._calls.get(int(call_id))
        if call is not None:
            self._changed_calls.add(call.id)
        return call

    # --- reading: the rules of journal.Journal, over the records in memory ----------------------------

    def _of(self, instance, methods: tuple[str, ...], chat_ids: set[str] | None = None) -> dict[str, list[_Call]]:
        """The calls of ``methods`` on ``instance`` by chat, oldest first."""
        found: dict[str, list[_Call]] = {}
        instance = str(instance)
        for call in self._calls.values():
            if call.instance == instance and call.method in methods and (chat_ids is None or call.chat_id in chat_ids):
                found.setdefault(call.chat_id, []).append(call)
        return found

    @staticmethod
    def _unsettled(calls: list[_Call], method: str, since: float) -> bool:
        last_settling = max((c.id for c in calls if c.settles), default=0)
        return any(c.method == method and c.state in (SENT, UNCERTAIN) and c.sent_at >= since and c.id > last_settling
                   for c in calls)

    def had_uncertain(self, instance, method: str, chat_id: str, since: datetime | None = None) -> bool:
        calls = self._of(instance, _pair(method), {chat_id}).get(chat_id, [])
        return self._unsettled(calls, method, _epoch(since))

    def uncertain_chats(self, instance, method: str) -> set[str]:
        return {chat for chat, calls in self._of(instance, _pair(method)).items()
                if self._unsettled(calls, method, float("-inf"))}

    def unreported_changes(self, instance, method: str, since: datetime | None = None) -> set[str]:
        done = _done_words(method)
        if not done:
            return set()
        found = set()
        for chat, calls in self._of(instance, _pair(method)).items():
            newest = max((c for c in calls if c.settles), key=lambda c: c.id, default=None)
            if newest is not None and newest.method == method and newest.status in done \
                    and newest.delivered_at is None and newest.updated_at >= _epoch(since):
                found.add(chat)
        return found

    def done_before(self, instance, method: str, chat_ids: Iterable[str] | None = None, *,
                    since: datetime | None = None, undelivered_only: bool = False) -> dict[str, JournalEntry]:
        done = _done_words(method)
        if not done:
            return {}
        wanted = None if chat_ids is None else set(chat_ids)
        result = {}
        for chat, calls in self._of(instance, _pair(method), wanted).items():
            newest = max(calls, key=lambda c: c.id)
            if newest.method == method and newest.state == ANSWERED and newest.status in done \
                    and newest.updated_at >= _epoch(since) and not (undelivered_only and newest.delivered_at is not None):
                result[chat] = newest.entry()
        return result

    def entries(self, *, instance=None, chat_id: str | None = None, limit: int | None = None) -> list[JournalEntry]:
        calls = [c for c in sorted(self._calls.values(), key=lambda c: -c.id)
                 if (instance is None or c.instance == str(instance)) and (chat_id is None or c.chat_id == chat_id)]
        return [c.entry() for c in (calls if limit is None else calls[:max(0, int(limit))])]

    def runs(self, *, instance=None, limit: int | None = None) -> list[RunRecord]:
        runs = [r for r in self._newest_runs() if instance is None or r.instance == str(instance)]
        return [r.record() for r in (runs if limit is None else runs[:max(0, int(limit))])]

    def _newest_runs(self) -> list[_Run]:
        order = {run_id: position for position, run_id in enumerate(self._runs)}
        return sorted(self._runs.values(), key=lambda r: (r.started, order[r.id]), reverse=True)

    def get_run(self, run_id: str) -> RunRecord | None:
        run = self._runs.get(str(run_id))
        return run.record() if run is not None else None

    def changed_chats(self, run_id: str, done_status: str) -> list[str]:
        run_id = str(run_id)
        first: dict[str, int] = {}
        for call in self._calls.values():
            mine = (call.run_id == run_id and call.adopted_by is None) or call.adopted_by == run_id
            if mine and call.state == ANSWERED and call.status == done_status:
                first[call.chat_id] = min(first.get(call.chat_id, call.id), call.id)
        return sorted(first, key=first.get)

    def undo_candidates(self, instance, limit: int) -> list[RunRecord]:
        undone = {r.undo_of for r in self._runs.values() if r.undo_of and not r.dry_run}
        runs = [r for r in self._newest_runs() if r.instance == str(instance) and not r.dry_run and r.undo_of is None
                and r.id not in undone]
        return [r.record() for r in runs[:max(0, int(limit))]]

    def undone_by(self, run_id: str) -> RunRecord | None:
        later = [r for r in self._runs.values() if r.undo_of == str(run_id) and not r.dry_run]
        return max(later, key=lambda r: r.started).record() if later else None

    def close(self) -> None:
        """Nothing to close: what changed goes to the book with ``queue_writes``."""

    # --- the book ---------------------------------------------------------------------------------

    @property
    def changed(self) -> bool:
        return bool(self._changed_calls or self._changed_runs)

    @classmethod
    def from_values(cls, rows: Iterable[Iterable[object]]) -> "BookJournal":
        """The journal the sheet holds: ``rows`` are its cells from row ``FIRST_ROW`` on, columns A:B. A cell
        that is not one of our records (edited by hand, damaged) is left out; so is a second record with
        the same id."""
        journal = cls()
        for row_number, row in enumerate(rows, start=FIRST_ROW):
            cells = list(row) + [None, None]
            call = _decode(cells[0], _Call, _CALL_FIELDS)
            if call is not None and call.id not in journal._calls:
                journal._calls[call.id] = call
            run = _decode(cells[1], _Run, _RUN_FIELDS)
            if run is not None and run.id not in journal._runs:
                journal._runs[run.id] = run
                journal._run_rows[run.id] = row_number
        return journal

    def take_unsaved(self, other: "BookJournal") -> None:
        """Add the records ``other`` holds that were never written to the book (the worksheet functions' calls
        since the last script): calls get ids after this journal's, runs keep theirs."""
        renumbered: dict[int, int] = {}
        for old_id in sorted(other._changed_calls):
            call = other._calls[old_id]
            if old_id in self._calls and self._calls[old_id].sent_at == call.sent_at:
                continue   # the book has it already (written by an earlier flush of the same session)
            new_id = max(self._calls, default=0) + 1
            renumbered[old_id] = new_id
            self._calls[new_id] = _Call(**{**vars(call), "id": new_id})
            self._changed_calls.add(new_id)
        for run_id in other._changed_runs:
            if run_id not in self._runs:
                self._runs[run_id] = _Run(**vars(other._runs[run_id]))
                self._changed_runs.add(run_id)

    def queue_writes(self, sheet) -> int:
        """Queue every record changed since the last call as cell writes on ``sheet`` (the hidden journal
        sheet of a Lite book: xlwings' ``Sheet``): a block per run of neighbouring rows. Returns the number
        of blocks."""
        rows: dict[tuple[int, int], str] = {}
        for call_id in self._changed_calls:
            call = self._calls[call_id]
            rows[(FIRST_ROW + call.id - 1, CALLS_COLUMN)] = _encode(call, _CALL_FIELDS)
        next_row = max(self._run_rows.values(), default=FIRST_ROW - 1) + 1
        for run_id in self._runs:
            if run_id in self._changed_runs:
                if run_id not in self._run_rows:
                    self._run_rows[run_id], next_row = next_row, next_row + 1
                rows[(self._run_rows[run_id], RUNS_COLUMN)] = _encode(self._runs[run_id], _RUN_FIELDS)
        blocks = 0
        for column in (CALLS_COLUMN, RUNS_COLUMN):
            numbers = sorted(r for r, c in rows if c == column)
            start = 0
            while start < len(numbers):
                end = start
                while end + 1 < len(numbers) and numbers[end + 1] == numbers[end] + 1:
                    end += 1
                top, bottom = numbers[start], numbers[end]
                sheet.range((top, column), (bottom, column)).value = [[rows[(r, column)]] for r in range(top, bottom + 1)]
                blocks += 1
                start = end + 1
        self._changed_calls.clear()
        self._changed_runs.clear()
        return blocks


def _encode(record, fields: tuple[str, ...]) -> str:
    values = vars(record)
    return json.dumps([values[name] for name in fields], ensure_ascii=False, separators=(",", ":"))


def _decode(cell: object, kind, fields: tuple[str, ...]):
    if not isinstance(cell, str) or not cell.startswith("["):
        return None
    try:
        values = json.loads(cell)
    except ValueError:
        return None
    if not isinstance(values, list) or len(values) != len(fields):
        return None
    try:
        record = kind(**dict(zip(fields, values)))
    except TypeError:
        return None
    if kind is _Call and not (isinstance(record.id, int) and record.id > 0 and isinstance(record.sent_at, (int, float))
                              and isinstance(record.updated_at, (int, float))):
        return None
    if kind is _Run and not (isinstance(record.id, str) and isinstance(record.started, (int, float))):
        return None
    if kind is _Run and not isinstance(record.counts, dict):
        record.counts = {}
    return record


def sheet_names() -> tuple[str, ...]:
    """The journal sheet's name in every language we ship (a Russian book's is translated)."""
    return i18n.spellings(SHEET)


def header_rows() -> list[list[str]]:
    """Rows 1 and 2 of a new journal sheet, in the language in force."""
    return [[_(TITLE), None], list(HEADERS)]

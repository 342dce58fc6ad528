"""The xlwings Lite edition's journal: ``journal.Journal``'s records and rules, kept in the book itself.

In Lite the file system is in memory and Python forgets everything at a reload, so the records live where
the results live: a hidden sheet of the workbook (``SHEET``), one JSON record per cell from row 3: column A
the calls, B the runs, C the @lid links learnt (``chat_links``), D when this tool switched a journal
setting on (``settings_switched``). JSON text never becomes a formula or a number in a cell, and reads back
exactly. ``BookJournal`` holds them in memory with every method a run, a check, Load chats, an undo, verify
and the worksheet functions need of ``journal.Journal`` (the same names, arguments and answers:
tests/test_lite_journal.py runs one random history through both and compares); ``queue_writes`` puts what
changed into the book's queue of writes, which ``await book.flush()`` carries to Excel after the result
cells of the same block.

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
CALLS_COLUMN, RUNS_COLUMN, LINKS_COLUMN, SWITCHED_COLUMN = 1, 2, 3, 4
HEADERS = ("calls", "runs", "links", "settings")


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

    @property
    def key(self) -> str:
        return self.id

    def record(self) -> RunRecord:
        return RunRecord(id=self.id, started=datetime.fromtimestamp(self.started),
                         finished=None if self.finished is None else datetime.fromtimestamp(self.finished),
                         instance=self.instance, source=self.source, book=self.book, sheet=self.sheet,
                         method=self.method, dry_run=self.dry_run, counts=dict(self.counts), undo_of=self.undo_of,
                         chat_column=self.chat_column)


@dataclass
class _Link:
    """A row of ``journal.Journal``'s chat_links: a phone-number ID and its @lid ('' when asked, none given)."""

    instance: str
    phone: str
    lid: str
    source: str
    learnt_at: float

    @property
    def key(self) -> tuple[str, str]:
        return (self.instance, self.phone)


@dataclass
class _Switched:
    """A row of ``journal.Journal``'s settings_switched: when this tool switched ``setting`` on."""

    instance: str
    setting: str
    switched_at: float

    @property
    def key(self) -> tuple[str, str]:
        return (self.instance, self.setting)


_CALL_FIELDS = tuple(_Call.__dataclass_fields__)
_RUN_FIELDS = tuple(_Run.__dataclass_fields__)
_LINK_FIELDS = tuple(_Link.__dataclass_fields__)
_SWITCHED_FIELDS = tuple(_Switched.__dataclass_fields__)


def _pair(method: str) -> tuple[str, ...]:
    row = TABLE.get(method)
    return (method, row.opposite) if row else (method,)


def _done_words(method: str) -> tuple[str, ...]:
    row = TABLE.get(method)
    return row.done_words if row else ()


def _epoch(when: datetime | None) -> float:
    return float("-inf") if when is None else when.timestamp()


class _Keyed:
    """Records kept by a key, each on its own row of one column (``INSERT OR REPLACE`` rewrites the row in place):
    the runs by id, the links by (instance, phone), the settings switched on by (instance, setting)."""

    def __init__(self, column: int) -> None:
        self.column = column
        self.records: dict = {}      # key -> record, in the order first added (rowid order)
        self.rows: dict = {}         # key -> its row in the sheet, once written or read
        self.changed: set = set()

    def put(self, key, record) -> None:
        self.records[key] = record
        self.changed.add(key)

    def read(self, key, record, row: int) -> None:
        if key not in self.records:
            self.records[key] = record
            self.rows[key] = row

    def cells(self, fields: tuple[str, ...]) -> dict[int, str]:
        """row -> the JSON of each changed record (a new one gets the row after the last); then unchanged."""
        next_row = max(self.rows.values(), default=FIRST_ROW - 1) + 1
        found = {}
        for key, record in self.records.items():
            if key in self.changed:
                if key not in self.rows:
                    self.rows[key], next_row = next_row, next_row + 1
                found[self.rows[key]] = _encode(record, fields)
        self.changed.clear()
        return found


class BookJournal:
    """``journal.Journal`` in memory, for a book to keep (see the module's docstring). Not thread-safe: Lite
    has one thread, and the event loop runs one step at a time."""

    def __init__(self) -> None:
        self._calls: dict[int, _Call] = {}
        self._changed_calls: set[int] = set()
        self._runs = _Keyed(RUNS_COLUMN)              # run id -> _Run, in the order they started (rowid order)
        self._links = _Keyed(LINKS_COLUMN)            # (instance, phone) -> _Link
        self._switched = _Keyed(SWITCHED_COLUMN)      # (instance, setting) -> _Switched

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

    def record_check(self, *, instance, method: str, chat_id: str, status: str, details: str,
                     source: str = "verify") -> int:
        """Verify's finding, as ``journal.Journal.record_check``: a settling answer no request carried."""
        now = time.time()
        call_id = max(self._calls, default=0) + 1
        self._calls[call_id] = _Call(call_id, now, now, str(instance), method, chat_id, ANSWERED, status=status,
                                     details=_scrub(details), source=source or "verify", delivered_at=now,
                                     settled=True)
        self._changed_calls.add(call_id)
        return call_id

    def add_links(self, instance, links: Iterable, asked: Iterable[str] = ()) -> None:
        """What checkWhatsapp told, as ``journal.Journal.add_links``: each link, and each number asked that gave
        none (lid '')."""
        now = time.time()
        linked = {item.phone: item for item in links}
        for phone in dict.fromkeys([*linked, *asked]):
            item = linked.get(phone)
            record = _Link(str(instance), phone, item.lid if item else "", item.source if item else "checkWhatsapp",
                           now)
            self._links.put(record.key, record)

    def record_switched_on(self, instance, setting: str, when: datetime | None = None) -> None:
        record = _Switched(str(instance), setting, (when or datetime.now()).timestamp())
        self._switched.put(record.key, record)

    def start_run(self, *, instance, method: str, source: str = "", book: str | None = None,
                  sheet: str | None = None, dry_run: bool = False, undo_of: str | None = None,
                  chat_column: str | None = None) -> str:
        now = time.time()
        run_id = f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{secrets.token_hex(2)}"
        self._runs.put(run_id, _Run(run_id, now, str(instance), method, source or "", book, sheet, bool(dry_run),
                                    undo_of, chat_column))
        return run_id

    def finish_run(self, run_id: str, counts: Mapping[str, int]) -> None:
        run = self._runs.records.get(run_id)
        if run is not None:
            run.finished, run.counts = time.time(), dict(counts)
            self._runs.changed.add(run_id)

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

    def _newest_settling(self, instance, method: str, leave_out: tuple[str, ...] = ()) -> dict[str, _Call]:
        """chat -> its newest settling call of ``method`` or its opposite (statuses in ``leave_out`` not counted)."""
        newest: dict[str, _Call] = {}
        for chat, calls in self._of(instance, _pair(method)).items():
            found = max((c for c in calls if c.settles and c.status not in leave_out), key=lambda c: c.id, default=None)
            if found is not None:
                newest[chat] = found
        return newest

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
        return {chat for chat, newest in self._newest_settling(instance, method).items()
                if newest.method == method and newest.status in done and newest.delivered_at is None
                and newest.updated_at >= _epoch(since)}

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

    def contradicted_chats(self, instance, method: str) -> set[str]:
        """Chats whose newest settling record is verify's word against ``method`` (``journal.Journal``'s rule)."""
        row = TABLE.get(method)
        if row is None:
            return set()
        return {chat for chat, newest in self._newest_settling(instance, method).items()
                if newest.method == method and newest.status == row.not_done}

    def changed_by_tool(self, instance, method: str) -> list[str]:
        """Chats this tool last left so with ``method``, verify's records not counted; oldest change first."""
        row = TABLE.get(method)
        if row is None:
            return []
        checks = tuple(TABLE[m].not_done for m in _pair(method) if m in TABLE)
        found = [newest for newest in self._newest_settling(instance, method, leave_out=checks).values()
                 if newest.method == method and newest.status == row.done]
        return [call.chat_id for call in sorted(found, key=lambda c: c.id)]

    def last_change(self, instance, chat_ids: Iterable[str] | None = None) -> datetime | None:
        """When this tool last changed one of ``chat_ids`` (any chat of the instance when None)."""
        done = {m.done for m in TABLE.values()}
        wanted = None if chat_ids is None else set(chat_ids)
        times = [c.updated_at for c in self._calls.values()
                 if c.instance == str(instance) and c.state == ANSWERED and c.status in done
                 and (wanted is None or c.chat_id in wanted)]
        return datetime.fromtimestamp(max(times)) if times else None

    def links(self, instance):
        """The links learnt on ``instance`` and every number asked (a ``chat_identity.Known``), as
        ``journal.Journal.links`` gives them."""
        from greenapi_excel.chat_identity import Known, Link

        mine = sorted((r for r in self._links.records.values() if r.instance == str(instance)), key=lambda r: r.phone)
        return Known(tuple(Link(r.phone, r.lid, r.source) for r in mine if r.lid), frozenset(r.phone for r in mine))

    def switched_on(self, instance) -> dict[str, datetime]:
        return {r.setting: datetime.fromtimestamp(r.switched_at) for r in self._switched.records.values()
                if r.instance == str(instance)}

    def entries(self, *, instance=None, chat_id: str | None = None, limit: int | None = None) -> list[JournalEntry]:
        calls = [c for c in sorted(self._calls.values(), key=lambda c: -c.id)
                 if (instance is None or c.instance == str(instance)) and (chat_id is None or c.chat_id == chat_id)]
        return [c.entry() for c in (calls if limit is None else calls[:max(0, int(limit))])]

    def runs(self, *, instance=None, limit: int | None = None) -> list[RunRecord]:
        runs = [r for r in self._newest_runs() if instance is None or r.instance == str(instance)]
        return [r.record() for r in (runs if limit is None else runs[:max(0, int(limit))])]

    def _newest_runs(self) -> list[_Run]:
        order = {run_id: position for position, run_id in enumerate(self._runs.records)}
        return sorted(self._runs.records.values(), key=lambda r: (r.started, order[r.id]), reverse=True)

    def get_run(self, run_id: str) -> RunRecord | None:
        run = self._runs.records.get(str(run_id))
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
        undone = {r.undo_of for r in self._runs.records.values() if r.undo_of and not r.dry_run}
        runs = [r for r in self._newest_runs() if r.instance == str(instance) and not r.dry_run and r.undo_of is None
                and r.id not in undone]
        return [r.record() for r in runs[:max(0, int(limit))]]

    def undone_by(self, run_id: str) -> RunRecord | None:
        later = [r for r in self._runs.records.values() if r.undo_of == str(run_id) and not r.dry_run]
        return max(later, key=lambda r: r.started).record() if later else None

    def close(self) -> None:
        """Nothing to close: what changed goes to the book with ``queue_writes``."""

    # --- the book ---------------------------------------------------------------------------------

    def _keyed(self) -> tuple[tuple[_Keyed, type, tuple[str, ...]], ...]:
        return ((self._runs, _Run, _RUN_FIELDS), (self._links, _Link, _LINK_FIELDS),
                (self._switched, _Switched, _SWITCHED_FIELDS))

    @property
    def changed(self) -> bool:
        return bool(self._changed_calls) or any(keyed.changed for keyed, _kind, _fields in self._keyed())

    @classmethod
    def from_values(cls, rows: Iterable[Iterable[object]]) -> "BookJournal":
        """The journal the sheet holds: ``rows`` are its cells from row ``FIRST_ROW`` on, columns A:D (a sheet
        written before the links and settings columns has A:B). A cell that is not one of our records (edited
        by hand, damaged) is left out; so is a second record with the same id or key."""
        journal = cls()
        for row_number, row in enumerate(rows, start=FIRST_ROW):
            cells = list(row) + [None] * len(HEADERS)
            call = _decode(cells[CALLS_COLUMN - 1], _Call, _CALL_FIELDS)
            if call is not None and call.id not in journal._calls:
                journal._calls[call.id] = call
            for keyed, kind, fields in journal._keyed():
                record = _decode(cells[keyed.column - 1], kind, fields)
                if record is not None:
                    keyed.read(record.key, record, row_number)
        return journal

    def take_unsaved(self, other: "BookJournal") -> None:
        """Add the records ``other`` holds that were never written to the book (the worksheet functions' calls
        since the last script): calls get ids after this journal's, runs, links and settings keep their keys."""
        for old_id in sorted(other._changed_calls):
            call = other._calls[old_id]
            if old_id in self._calls and self._calls[old_id].sent_at == call.sent_at:
                continue   # the book has it already (written by an earlier flush of the same session)
            new_id = max(self._calls, default=0) + 1
            self._calls[new_id] = _Call(**{**vars(call), "id": new_id})
            self._changed_calls.add(new_id)
        for (mine, kind, _fields), (theirs, _kind, _fields2) in zip(self._keyed(), other._keyed()):
            for key in theirs.changed:
                if kind is not _Run or key not in mine.records:
                    mine.put(key, kind(**vars(theirs.records[key])))

    def queue_writes(self, sheet) -> int:
        """Queue every record changed since the last call as cell writes on ``sheet`` (the hidden journal
        sheet of a Lite book: xlwings' ``Sheet``): a block per run of neighbouring rows of a column. Returns
        the number of blocks."""
        columns = {CALLS_COLUMN: {FIRST_ROW + call_id - 1: _encode(self._calls[call_id], _CALL_FIELDS)
                                  for call_id in self._changed_calls}}
        self._changed_calls.clear()
        for keyed, _kind, fields in self._keyed():
            columns[keyed.column] = keyed.cells(fields)
        blocks = 0
        for column, rows in columns.items():
            numbers = sorted(rows)
            start = 0
            while start < len(numbers):
                end = start
                while end + 1 < len(numbers) and numbers[end + 1] == numbers[end] + 1:
                    end += 1
                top, bottom = numbers[start], numbers[end]
                sheet.range((top, column), (bottom, column)).value = [[rows[r]] for r in range(top, bottom + 1)]
                blocks += 1
                start = end + 1
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
    if kind is _Link and not (all(isinstance(v, str) for v in (record.instance, record.phone, record.lid, record.source))
                              and isinstance(record.learnt_at, (int, float))):
        return None
    if kind is _Switched and not (isinstance(record.instance, str) and isinstance(record.setting, str)
                                  and isinstance(record.switched_at, (int, float))):
        return None
    return record


def sheet_names() -> tuple[str, ...]:
    """The journal sheet's name in every language we ship (a Russian book's is translated)."""
    return i18n.spellings(SHEET)


def header_rows() -> list[list[str]]:
    """Rows 1 and 2 of a new journal sheet, in the language in force."""
    return [[_(TITLE)] + [None] * (len(HEADERS) - 1), list(HEADERS)]

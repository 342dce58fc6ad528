"""A SQLite record of every state-changing call, written before it is sent and after it is answered.

It powers three things: resuming a bulk run whose workbook lost its results (a call answered but never
delivered to a book is not sent again), the UDFs' repeats (a recalculation answers from here), and the
audit trail (`greenapi-excel journal`). ``done_before`` is the one rule of what counts as done before,
for both.

Delivery
    Each call records whether its result reached the analyst: ``mark_delivered`` is called by the CLI
    after a save that holds the result, by the add-in after the block write into live Excel, and by the
    UDF once it returns the answer. Resuming answers only calls never delivered (the book lost them);
    once delivered, the book's Status cell decides, and a cleared cell sends the chat again.
Settling
    An answer "settles" a chat when it tells its state (archived or not, not found, no messages); a
    466, a 401/403 (Not run) or a refusal (Failed, nothing changed) does not. An unanswered call
    stays uncertain until a settling answer of either method comes after it.

Where it lives
    The environment variable ``GREENAPI_JOURNAL`` (a file path) wins; ``--journal PATH`` on the CLI
    wins over both. Otherwise a per-user data folder:

    * Windows: ``%LOCALAPPDATA%\\GreenApiExcel\\journal.sqlite3``
    * macOS:   ``~/Library/Application Support/GreenApiExcel/journal.sqlite3``
    * Linux:   ``${XDG_STATE_HOME:-~/.local/state}/greenapi-excel/journal.sqlite3``

    The folder is made when missing. Deleting the file forgets the history (and resume) but is safe.

Guarantees
    ``begin`` and ``finish`` commit before they return, so a process killed right after loses nothing.
    Several processes may write at once (WAL, a 10 s busy timeout); one ``Journal`` may be shared by
    many threads. The token is never stored: the journal is never given it, and as a second line of
    defence any long run of letters and digits in a details text (the shape of an apiTokenInstance)
    is replaced by ``***``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable, Mapping

from greenapi_excel import methods, paths
from greenapi_excel.errors import ConfigError
from greenapi_excel.i18n import _
from greenapi_excel.results import cell_text

try:
    import sqlite3
except ImportError:   # Pyodide without its sqlite3 (xlwings Lite): the records and rules below still import
    sqlite3 = None

ENV_VAR = paths.ENV_JOURNAL

SENT, ANSWERED, UNCERTAIN = "sent", "answered", "uncertain"

BUSY_TIMEOUT_MS = 10_000
DETAILS_LIMIT = 2000

# apiTokenInstance values are long hex/alphanumeric strings; chat IDs are at most ~20 digits.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9]{32,}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    sent_at     REAL    NOT NULL,   -- epoch seconds when begin() ran
    updated_at  REAL    NOT NULL,   -- epoch seconds of the last change (answer or uncertainty)
    instance    TEXT    NOT NULL,
    method      TEXT    NOT NULL,
    chat_id     TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('sent', 'answered', 'uncertain')),
    status      TEXT,
    details     TEXT    NOT NULL DEFAULT '',
    http_status INTEGER,
    source      TEXT    NOT NULL DEFAULT '',
    run_id      TEXT
);
CREATE INDEX IF NOT EXISTS calls_by_chat ON calls (instance, method, chat_id, updated_at);
CREATE INDEX IF NOT EXISTS calls_by_time ON calls (instance, method, updated_at);
CREATE TABLE IF NOT EXISTS runs (
    id          TEXT    PRIMARY KEY,  -- e.g. 20261202-070512-3fa1
    started     REAL    NOT NULL,     -- epoch seconds
    finished    REAL,                 -- NULL: still running, or stopped by a kill
    instance    TEXT    NOT NULL DEFAULT '',
    source      TEXT    NOT NULL DEFAULT '',   -- "cli", "addin", "udf", "undo", ...
    book        TEXT,                 -- the book's full path, when the run had one
    sheet       TEXT,
    method      TEXT    NOT NULL,
    dry_run     INTEGER NOT NULL DEFAULT 0,
    counts      TEXT    NOT NULL DEFAULT '{}', -- JSON: status word -> rows
    undo_of     TEXT                  -- the run this one undid
);
CREATE INDEX IF NOT EXISTS calls_by_run ON calls (run_id);
CREATE INDEX IF NOT EXISTS runs_by_undo ON runs (undo_of);
CREATE TABLE IF NOT EXISTS chat_links (      -- which @lid is which phone number (chat_identity), per instance
    instance    TEXT    NOT NULL,
    phone       TEXT    NOT NULL,             -- 79001234567@c.us
    lid         TEXT    NOT NULL DEFAULT '',  -- 120650379300963@lid; '': asked, no @lid given
    source      TEXT    NOT NULL,             -- checkWhatsapp, ...
    learnt_at   REAL    NOT NULL,
    PRIMARY KEY (instance, phone)
);
CREATE TABLE IF NOT EXISTS settings_switched (  -- when this tool switched an instance setting on (setSettings)
    instance    TEXT    NOT NULL,
    setting     TEXT    NOT NULL,             -- incomingWebhook, outgoingMessageWebhook
    switched_at REAL    NOT NULL,             -- epoch seconds: the journals hold nothing older
    PRIMARY KEY (instance, setting)
);
"""

# Added after the first release: older journals get them on open (``_migrate``). NULL in ``settled``
# (a row written before) counts as settling, as every answer did then.
_ADDED_COLUMNS = {
    "delivered_at": "REAL",     # epoch seconds when the result reached a book or a cell; NULL: never
    "settled": "INTEGER",       # 1 when the answer tells the chat's state, 0 when it does not
    # The run that reported this call's result instead of the run that sent it (a run killed before its
    # save; the next run answered the row from the journal): undoing that run takes the chat back too.
    "adopted_by": "TEXT",
}

# Answers that tell the chat's state: they settle every earlier unanswered call of either method.
SETTLING = methods.SETTLING

_COLUMNS = "id, sent_at, updated_at, instance, method, chat_id, state, status, details, http_status, source, run_id"


def default_journal_path() -> Path:
    """``GREENAPI_JOURNAL`` if set, else the per-user state folder of this OS (``paths.journal_file``)."""
    return paths.journal_file()


@dataclass(frozen=True)
class JournalEntry:
    """One state-changing call. ``time`` is local time of the answer (or of sending, if unanswered)."""

    id: int
    time: datetime
    instance: str
    method: str
    chat_id: str
    state: str               # "sent" | "answered" | "uncertain"
    status: str | None       # a status word once answered
    details: str
    http_status: int | None
    source: str              # "cli", "addin", "udf", ...
    run_id: str | None
    sent_time: datetime | None = None


@dataclass(frozen=True)
class RunRecord:
    """One run (archive, unarchive, dry run, undo) as the runs table keeps it. Times are local."""

    id: str
    started: datetime
    finished: datetime | None
    instance: str
    source: str
    book: str | None
    sheet: str | None
    method: str
    dry_run: bool
    counts: dict
    undo_of: str | None
    chat_column: str | None = None   # where the run read its chats (an undo finds them there again)


_RUN_COLUMNS = "id, started, finished, instance, source, book, sheet, method, dry_run, counts, undo_of, chat_column"
# Added to the runs table after its first release (``_migrate``).
_ADDED_RUN_COLUMNS = {"chat_column": "TEXT"}   # the column letter the run read its chats from


def _run_record(row: tuple) -> RunRecord:
    (id_, started, finished, instance, source, book, sheet, method, dry_run, counts, undo_of, chat_column) = row
    try:
        parsed = json.loads(counts or "{}")
    except ValueError:
        parsed = {}
    return RunRecord(id=id_, started=datetime.fromtimestamp(started),
                     finished=None if finished is None else datetime.fromtimestamp(finished),
                     instance=instance or "", source=source or "", book=book, sheet=sheet, method=method,
                     dry_run=bool(dry_run), counts=parsed if isinstance(parsed, dict) else {}, undo_of=undo_of,
                     chat_column=chat_column)


def _entry(row: tuple) -> JournalEntry:
    (id_, sent_at, updated_at, instance, method, chat_id, state, status, details,
     http_status, source, run_id) = row
    return JournalEntry(
        id=id_, time=datetime.fromtimestamp(updated_at), instance=instance, method=method,
        chat_id=chat_id, state=state, status=status, details=details or "", http_status=http_status,
        source=source or "", run_id=run_id, sent_time=datetime.fromtimestamp(sent_at),
    )


def _scrub(text: object) -> str:
    # The cell rule (results.cell_text): what the journal shows is what a cell would show.
    return cell_text(_TOKEN_SHAPE.sub("***", str(text or "")), DETAILS_LIMIT)


def _settles(alias: str = "") -> str:
    """SQL: an answered call that settles the chat's state (NULL: written before the column existed)."""
    return f"{alias}state = 'answered' AND COALESCE({alias}settled, 1) = 1"


def _pair(method: str) -> tuple[str, ...]:
    """The methods that undo each other: a later unarchive makes an earlier archive stale for resume."""
    row = methods.TABLE.get(method)
    return (method, row.opposite) if row else (method,)


def _done_words(method: str) -> tuple[str, ...]:
    row = methods.TABLE.get(method)
    return row.done_words if row else ()


def _marks(values) -> str:
    return ", ".join("?" for _value in values)


def _epoch(when: datetime | None) -> float:
    # A naive datetime is local time, as everywhere else in this package.
    return float("-inf") if when is None else when.timestamp()


class Journal:
    """The journal file, opened once; safe to share between threads and with other processes."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path).expanduser() if path not in (None, "") else default_journal_path()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        try:
            if self.path.is_dir():
                raise ConfigError(self._problem("is a folder, not a file"))
            # Phone numbers and book paths: a private file in a private folder (SQLite gives its -wal
            # and -shm files the main file's mode).
            paths.make_private_file(self.path)
            conn = sqlite3.connect(
                str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False,
            )
            try:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                    raise ConfigError(self._problem("cannot use write-ahead logging there (a network drive?)"))
                # NORMAL in WAL mode: a commit survives a killed or crashed process (the promise); only a
                # power cut of the whole machine may lose the last commits. FULL would fsync every call
                # and serialise the run's workers behind the disk (measured: 145 calls/s instead of 1,000+).
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.executescript(_SCHEMA)
                _migrate(conn)
                # Fail now, not at the first call, when the file is read-only.
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        except ConfigError:
            raise
        except (sqlite3.Error, OSError) as error:
            raise ConfigError(self._problem(_describe(error))) from None

    def _problem(self, what: str) -> str:
        return _("the journal file {path} {what}; set {variable} (or --journal) to another file, or move this "
                 "one aside").format(path=self.path, what=what, variable=ENV_VAR)

    # --- writing -------------------------------------------------------------------------------

    def _write(self, sql: str, params: tuple) -> sqlite3.Cursor:
        with self._lock:
            conn = self._connection()
            try:
                # Autocommit: the statement is committed (and synced) before execute returns.
                return conn.execute(sql, params)
            except sqlite3.Error as error:
                raise ConfigError(self._problem(f"could not be written ({_describe(error)})")) from None

    def _read(self, sql: str, params: tuple) -> list[tuple]:
        with self._lock:
            conn = self._connection()
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as error:
                raise ConfigError(self._problem(f"could not be read ({_describe(error)})")) from None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ConfigError(f"the journal {self.path} is closed")
        return self._conn

    def begin(self, *, instance, method: str, chat_id: str, source: str = "", run_id: str | None = None) -> int:
        """Record a call about to be sent (state "sent"); committed before this returns. Returns its id."""
        now = time.time()
        cursor = self._write(
            "INSERT INTO calls (sent_at, updated_at, instance, method, chat_id, state, source, run_id) "
            "VALUES (?, ?, ?, ?, ?, 'sent', ?, ?)",
            (now, now, str(instance), method, chat_id, source or "", run_id),
        )
        return int(cursor.lastrowid)

    def finish(self, call_id: int, *, status: str, details: str = "", http_status: int | None = None,
               settled: bool | None = None) -> None:
        """Record the answer (state "answered") with its status word; committed before this returns.

        ``settled``: whether the answer tells the chat's state (default: the status is in ``SETTLING``);
        a caller that learnt the state otherwise (getContactInfo) says so.
        """
        settles = status in SETTLING if settled is None else bool(settled)
        self._write(
            "UPDATE calls SET state = 'answered', status = ?, details = ?, http_status = ?, updated_at = ?, "
            "settled = ? WHERE id = ?",
            (status, _scrub(details), http_status, time.time(), int(settles), call_id),
        )

    def mark_delivered(self, call_ids: Iterable[int | None]) -> None:
        """The results of these calls reached a book (saved) or live cells; None entries are skipped."""
        ids = sorted({int(i) for i in call_ids if i is not None})
        now = time.time()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            self._write(f"UPDATE calls SET delivered_at = ? WHERE delivered_at IS NULL AND id IN "
                        f"({', '.join('?' for _item in chunk)})", (now, *chunk))

    def mark_uncertain(self, call_id: int, details: str) -> None:
        """The call may or may not have been carried out (state "uncertain")."""
        self._write(
            "UPDATE calls SET state = 'uncertain', details = ?, updated_at = ? WHERE id = ?",
            (_scrub(details), time.time(), call_id),
        )

    # --- reading -------------------------------------------------------------------------------

    def had_uncertain(self, instance, method: str, chat_id: str, since: datetime | None = None) -> bool:
        """True when a call of ``method`` on this chat was sent (since ``since``) and never answered, and
        no answer that settles the chat's state (of either method) came after it."""
        methods = _pair(method)
        rows = self._read(
            "SELECT 1 FROM calls WHERE instance = ? AND method = ? AND chat_id = ? "
            "AND state IN ('sent', 'uncertain') AND sent_at >= ? "
            f"AND id > COALESCE((SELECT MAX(id) FROM calls WHERE instance = ? AND method IN ({_marks(methods)}) "
            f"AND chat_id = ? AND {_settles()}), 0) LIMIT 1",
            (str(instance), method, chat_id, _epoch(since), str(instance), *methods, chat_id),
        )
        return bool(rows)

    def uncertain_chats(self, instance, method: str) -> set[str]:
        """``had_uncertain`` for every chat at once, so a run asks once instead of once per chat."""
        methods = _pair(method)
        rows = self._read(
            "SELECT DISTINCT c.chat_id FROM calls c WHERE c.instance = ? AND c.method = ? "
            "AND c.state IN ('sent', 'uncertain') "
            f"AND c.id > COALESCE((SELECT MAX(a.id) FROM calls a WHERE a.instance = c.instance "
            f"AND a.method IN ({_marks(methods)}) AND a.chat_id = c.chat_id AND {_settles('a.')}), 0)",
            (str(instance), method, *methods),
        )
        return {row[0] for row in rows}

    def unreported_changes(self, instance, method: str, since: datetime | None = None) -> set[str]:
        """Chats whose state, as the journal last learnt it, this tool made so with ``method`` and never
        delivered (a run killed before its save): the newest settling answer on the chat (of either
        method) is a done status of ``method`` whose result reached no book or cell. A later "already"
        from the server was then this tool's doing, like the "already" after a lost reply."""
        done = _done_words(method)
        if not done:
            return set()
        methods = _pair(method)
        rows = self._read(
            f"SELECT chat_id FROM calls WHERE id IN (SELECT MAX(id) FROM calls WHERE instance = ? "
            f"AND method IN ({_marks(methods)}) AND {_settles()} GROUP BY chat_id) "
            f"AND method = ? AND status IN ({_marks(done)}) AND delivered_at IS NULL AND updated_at >= ?",
            (str(instance), *methods, method, *done, _epoch(since)),
        )
        return {row[0] for row in rows}

    def done_before(self, instance, method: str, chat_ids: Iterable[str] | None = None, *,
                    since: datetime | None = None, undelivered_only: bool = False) -> dict[str, JournalEntry]:
        """What counts as done before, the one rule for a bulk run's resume and for the UDFs' repeats:
        chat ID -> the call of ``method`` that did it.

        A chat counts when the newest call this journal holds on it, of either ``method`` or its
        opposite (archiveChat <-> unarchiveChat), from any edge, is a call of ``method`` answered with
        a done status (``methods.Method.done_words``), since ``since``. Any later call (an unarchive after the
        archive, or the same method again) whatever its outcome (failed, unknown, still in flight)
        makes the chat not done: what the journal records after the success may have moved it.
        ``undelivered_only`` (the resume) also leaves out calls whose result reached a book or a cell.
        ``chat_ids`` limits the answer to those chats (all chats of the instance when None).
        """
        done = _done_words(method)
        if not done:
            return {}
        methods = _pair(method)
        wanted = None if chat_ids is None else sorted(set(chat_ids))
        result: dict[str, JournalEntry] = {}
        chunks = [None] if wanted is None else [wanted[i:i + 400] for i in range(0, len(wanted), 400)]
        for chunk in chunks:
            if chunk == []:
                continue
            only = "" if chunk is None else f"AND chat_id IN ({_marks(chunk)}) "
            rows = self._read(
                f"SELECT {_COLUMNS} FROM calls WHERE id IN (SELECT MAX(id) FROM calls WHERE instance = ? "
                f"AND method IN ({_marks(methods)}) {only}GROUP BY chat_id) "
                f"AND method = ? AND state = 'answered' AND status IN ({_marks(done)}) AND updated_at >= ?"
                + (" AND delivered_at IS NULL" if undelivered_only else ""),
                (str(instance), *methods, *(chunk or ()), method, *done, _epoch(since)),
            )
            for row in rows:
                result[row[5]] = _entry(row)
        return result

    def entries(self, *, instance=None, chat_id: str | None = None, limit: int | None = None) -> list[JournalEntry]:
        """The audit trail, newest call first, optionally for one instance and/or one chat."""
        where, params = [], []
        if instance is not None:
            where.append("instance = ?")
            params.append(str(instance))
        if chat_id is not None:
            where.append("chat_id = ?")
            params.append(chat_id)
        sql = f"SELECT {_COLUMNS} FROM calls"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(max(0, int(limit)))
        return [_entry(row) for row in self._read(sql, tuple(params))]

    def record_check(self, *, instance, method: str, chat_id: str, status: str, details: str,
                     source: str = "verify") -> int:
        """What verify found (``Not archived`` / ``Not unarchived``: getChats shows the chat otherwise than an
        earlier call left it), recorded as a settling answer of ``method`` that no request carried: from then
        on nothing counts the chat as done (``done_before``), until a later call does. Returns its id."""
        now = time.time()
        cursor = self._write(
            "INSERT INTO calls (sent_at, updated_at, instance, method, chat_id, state, status, details, source, "
            "settled, delivered_at) VALUES (?, ?, ?, ?, ?, 'answered', ?, ?, ?, 1, ?)",
            (now, now, str(instance), method, chat_id, status, _scrub(details), source or "verify", now),
        )
        return int(cursor.lastrowid)

    def contradicted_chats(self, instance, method: str) -> set[str]:
        """Chats whose newest settling record (either method) is verify's word against ``method``
        (``Not archived`` for archiveChat): an "already" answer from the server is not believed there."""
        row = methods.TABLE.get(method)
        if row is None:
            return set()
        pair = _pair(method)
        rows = self._read(
            f"SELECT chat_id FROM calls WHERE id IN (SELECT MAX(id) FROM calls WHERE instance = ? "
            f"AND method IN ({_marks(pair)}) AND {_settles()} GROUP BY chat_id) AND method = ? AND status = ?",
            (str(instance), *pair, method, row.not_done),
        )
        return {r[0] for r in rows}

    def changed_by_tool(self, instance, method: str) -> list[str]:
        """Chats this tool last left so with ``method`` (answered ``Archived`` for archiveChat), no later call
        of either method settling them otherwise; verify's records do not count (the chat may have come back
        since: that is what ``--keep-archived`` looks for). Oldest change first."""
        row = methods.TABLE.get(method)
        if row is None:
            return []
        pair = _pair(method)
        checks = tuple(methods.of(m).not_done for m in pair)
        rows = self._read(
            f"SELECT chat_id FROM calls WHERE id IN (SELECT MAX(id) FROM calls WHERE instance = ? "
            f"AND method IN ({_marks(pair)}) AND {_settles()} AND status NOT IN ({_marks(checks)}) GROUP BY chat_id) "
            f"AND method = ? AND status = ? ORDER BY id",
            (str(instance), *pair, *checks, method, row.done),
        )
        return [r[0] for r in rows]

    def last_change(self, instance, chat_ids: Iterable[str] | None = None) -> datetime | None:
        """When this tool last changed one of ``chat_ids`` (any chat of the instance when None): its newest
        call answered ``Archived`` or ``Unarchived``. getChats shows a change at most a minute later."""
        done = tuple(m.done for m in methods.TABLE.values())
        wanted = None if chat_ids is None else sorted(set(chat_ids))
        newest = None
        for start in ([0] if wanted is None else range(0, len(wanted), 400)):
            chunk = None if wanted is None else wanted[start:start + 400]
            if chunk == []:
                continue
            only = "" if chunk is None else f" AND chat_id IN ({_marks(chunk)})"
            found = self._read(f"SELECT MAX(updated_at) FROM calls WHERE instance = ? AND state = 'answered' "
                               f"AND status IN ({_marks(done)}){only}", (str(instance), *done, *(chunk or ())))
            if found and found[0][0] is not None:
                newest = max(newest or 0.0, found[0][0])
        return None if newest is None else datetime.fromtimestamp(newest)

    # --- what the journal keeps besides calls -------------------------------------------------------

    def links(self, instance):
        """The links between phone-number and @lid IDs learnt on ``instance``, and every number asked about
        (a ``chat_identity.Known``)."""
        from greenapi_excel.chat_identity import Known, Link

        rows = self._read("SELECT phone, lid, source FROM chat_links WHERE instance = ?", (str(instance),))
        return Known(tuple(Link(phone, lid, source) for phone, lid, source in rows if lid),
                        frozenset(phone for phone, _lid, _source in rows))

    def add_links(self, instance, links: Iterable, asked: Iterable[str] = ()) -> None:
        """Keep what checkWhatsapp told: each link, and each number asked that gave none (lid '')."""
        now = time.time()
        linked = {item.phone: item for item in links}
        for phone in dict.fromkeys([*linked, *asked]):
            item = linked.get(phone)
            self._write("INSERT OR REPLACE INTO chat_links (instance, phone, lid, source, learnt_at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (str(instance), phone, item.lid if item else "", item.source if item else "checkWhatsapp",
                         now))

    def record_switched_on(self, instance, setting: str, when: datetime | None = None) -> None:
        """This tool switched ``setting`` on at ``when`` (now): the journals hold nothing older (docs)."""
        stamp = (when or datetime.now()).timestamp()
        self._write("INSERT OR REPLACE INTO settings_switched (instance, setting, switched_at) VALUES (?, ?, ?)",
                    (str(instance), setting, stamp))

    def switched_on(self, instance) -> dict[str, datetime]:
        """setting -> when this tool last switched it on for ``instance`` (settings it never switched: absent)."""
        rows = self._read("SELECT setting, switched_at FROM settings_switched WHERE instance = ?", (str(instance),))
        return {setting: datetime.fromtimestamp(when) for setting, when in rows}

    def start_run(self, *, instance, method: str, source: str = "", book: str | None = None,
                  sheet: str | None = None, dry_run: bool = False, undo_of: str | None = None,
                  chat_column: str | None = None) -> str:
        """Record a run as it starts; returns its id (time-ordered and readable, e.g. 20261202-070512-3fa1)."""
        now = time.time()
        run_id = f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{secrets.token_hex(2)}"
        self._write(
            "INSERT INTO runs (id, started, instance, source, book, sheet, method, dry_run, undo_of, chat_column) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, now, str(instance), source or "", book, sheet, method, int(bool(dry_run)), undo_of, chat_column),
        )
        return run_id

    def finish_run(self, run_id: str, counts: Mapping[str, int]) -> None:
        """Record the run's end and its count of rows per status word."""
        self._write("UPDATE runs SET finished = ?, counts = ? WHERE id = ?",
                    (time.time(), json.dumps(dict(counts), ensure_ascii=False), run_id))

    def runs(self, *, instance=None, limit: int | None = None) -> list[RunRecord]:
        """Runs, newest first."""
        sql, params = f"SELECT {_RUN_COLUMNS} FROM runs", []
        if instance is not None:
            sql += " WHERE instance = ?"
            params.append(str(instance))
        sql += " ORDER BY started DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(max(0, int(limit)))
        return [_run_record(row) for row in self._read(sql, tuple(params))]

    def get_run(self, run_id: str) -> RunRecord | None:
        rows = self._read(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (str(run_id),))
        return _run_record(rows[0]) if rows else None

    def changed_chats(self, run_id: str, done_status: str) -> list[str]:
        """The chats a run changed, as it reported them: its calls answered with ``done_status``
        ("Archived" / "Unarchived") and the calls of a killed run whose results it reported instead
        (``adopt``), in the order they were sent. Rows that were already so ("Already ...") are not among
        them, nor calls another run adopted."""
        rows = self._read(
            "SELECT chat_id, MIN(id) FROM calls WHERE ((run_id = ? AND adopted_by IS NULL) OR adopted_by = ?) "
            "AND state = 'answered' AND status = ? GROUP BY chat_id ORDER BY MIN(id)",
            (str(run_id), str(run_id), done_status),
        )
        return [row[0] for row in rows]

    def adopt(self, run_id: str, call_ids: Iterable[int | None]) -> None:
        """``run_id`` reports these calls' results (a resume answered them from the journal): for undo
        they are its changes now, no longer the changes of the run that sent them."""
        ids = sorted({int(i) for i in call_ids if i is not None})
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            self._write(f"UPDATE calls SET adopted_by = ? WHERE id IN ({_marks(chunk)})", (str(run_id), *chunk))

    def undo_candidates(self, instance, limit: int) -> list[RunRecord]:
        """Runs an undo may take back, newest first: real runs (not dry runs, not undos themselves) on
        ``instance`` that no later run undid. Ctrl+Z order: each undo takes the first of these."""
        rows = self._read(
            f"SELECT {_RUN_COLUMNS} FROM runs r WHERE instance = ? AND dry_run = 0 AND undo_of IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM runs u WHERE u.undo_of = r.id AND u.dry_run = 0) "
            "ORDER BY started DESC, rowid DESC LIMIT ?",
            (str(instance), max(0, int(limit))),
        )
        return [_run_record(row) for row in rows]

    def undone_by(self, run_id: str) -> RunRecord | None:
        """The newest real (not dry) run that undid ``run_id``, if any."""
        rows = self._read(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE undo_of = ? AND dry_run = 0 ORDER BY started DESC LIMIT 1",
            (str(run_id),),
        )
        return _run_record(rows[0]) if rows else None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _migrate(conn: sqlite3.Connection) -> None:
    """Add the columns a journal written by an older version lacks."""
    for table, added in (("calls", _ADDED_COLUMNS), ("runs", _ADDED_RUN_COLUMNS)):
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for name, kind in added.items():
            if name not in present:
                try:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
                except sqlite3.OperationalError as error:   # another process added it first
                    if "duplicate column" not in str(error):
                        raise


def _describe(error: BaseException) -> str:
    if isinstance(error, sqlite3.DatabaseError) and "not a database" in str(error):
        return "is not an SQLite journal (damaged, or another kind of file)"
    if isinstance(error, OSError):
        return f"cannot be created ({error.strerror or error})"
    text = str(error)
    if "readonly" in text or "unable to open" in text:
        return f"cannot be opened for writing ({text})"
    return text

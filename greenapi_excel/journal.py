"""A SQLite record of every state-changing call, written before it is sent and after it is answered.

It powers three things: resuming a bulk run whose workbook lost its results (a chat archived a few
minutes ago is not sent again), the UDFs' repeats (a recalculation answers from here), and the audit
trail (`greenapi-excel journal`).

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

import csv
import os
import re
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable, Mapping

from greenapi_excel.errors import ConfigError
from greenapi_excel.paths import user_folder
from greenapi_excel.results import cell_text

ENV_VAR = "GREENAPI_JOURNAL"
FILE_NAME = "journal.sqlite3"

SENT, ANSWERED, UNCERTAIN = "sent", "answered", "uncertain"

# The methods that undo each other: a later unarchive makes an earlier archive stale for resume.
OPPOSITE = {"archiveChat": "unarchiveChat", "unarchiveChat": "archiveChat"}

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
"""

_COLUMNS = "id, sent_at, updated_at, instance, method, chat_id, state, status, details, http_status, source, run_id"


def default_journal_path() -> Path:
    """``GREENAPI_JOURNAL`` if set, else the per-user data folder of this OS (see the module docstring)."""
    return _default_path(sys.platform, os.environ)


def _default_path(platform: str, environ: Mapping[str, str]) -> Path:
    configured = environ.get(ENV_VAR, "").strip()
    if configured:
        return Path(configured).expanduser()
    return user_folder("state", platform, environ) / FILE_NAME


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
            self.path.parent.mkdir(parents=True, exist_ok=True)
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
        return (f"the journal file {self.path} {what}; set {ENV_VAR} (or --journal) to another file, "
                f"or move this one aside")

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

    def finish(self, call_id: int, *, status: str, details: str = "", http_status: int | None = None) -> None:
        """Record the answer (state "answered") with its status word; committed before this returns."""
        self._write(
            "UPDATE calls SET state = 'answered', status = ?, details = ?, http_status = ?, updated_at = ? "
            "WHERE id = ?",
            (status, _scrub(details), http_status, time.time(), call_id),
        )

    def mark_uncertain(self, call_id: int, details: str) -> None:
        """The call may or may not have been carried out (state "uncertain")."""
        self._write(
            "UPDATE calls SET state = 'uncertain', details = ?, updated_at = ? WHERE id = ?",
            (_scrub(details), time.time(), call_id),
        )

    # --- reading -------------------------------------------------------------------------------

    def last_outcome(self, instance, method: str, chat_id: str) -> JournalEntry | None:
        """The newest answered call of ``method`` on this chat, or None."""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM calls WHERE instance = ? AND method = ? AND chat_id = ? "
            "AND state = 'answered' ORDER BY updated_at DESC, id DESC LIMIT 1",
            (str(instance), method, chat_id),
        )
        return _entry(rows[0]) if rows else None

    def had_uncertain(self, instance, method: str, chat_id: str, since: datetime | None = None) -> bool:
        """True when a call of ``method`` on this chat was sent (since ``since``) and never answered.

        Only calls sent after the newest answered one count: an answer settles what came before it.
        """
        rows = self._read(
            "SELECT 1 FROM calls WHERE instance = ? AND method = ? AND chat_id = ? "
            "AND state IN ('sent', 'uncertain') AND sent_at >= ? "
            "AND sent_at > COALESCE((SELECT MAX(sent_at) FROM calls WHERE instance = ? AND method = ? "
            "AND chat_id = ? AND state = 'answered'), -1e300) LIMIT 1",
            (str(instance), method, chat_id, _epoch(since), str(instance), method, chat_id),
        )
        return bool(rows)

    def uncertain_chats(self, instance, method: str) -> set[str]:
        """Every chat with a call of ``method`` that was sent and never answered since its newest answer:
        ``had_uncertain`` for all chats at once, so a run asks once instead of once per chat."""
        rows = self._read(
            "SELECT DISTINCT c.chat_id FROM calls c WHERE c.instance = ? AND c.method = ? "
            "AND c.state IN ('sent', 'uncertain') "
            "AND c.sent_at > COALESCE((SELECT MAX(a.sent_at) FROM calls a WHERE a.instance = c.instance "
            "AND a.method = c.method AND a.chat_id = c.chat_id AND a.state = 'answered'), -1e300)",
            (str(instance), method),
        )
        return {row[0] for row in rows}

    def done_since(self, instance, method: str, statuses: Iterable[str], since: datetime | None) -> dict[str, JournalEntry]:
        """chat ID -> the newest call of ``method`` answered since ``since`` with a status in ``statuses``.

        A chat is left out when a call of the opposite method (archiveChat <-> unarchiveChat) on it was
        begun or settled after that record was sent, whatever its answer: the chat may have moved back.
        """
        wanted = tuple(statuses)
        if not wanted:
            return {}
        marks = ", ".join("?" for _ in wanted)
        after = _epoch(since)
        done_rows = self._read(
            f"SELECT {_COLUMNS} FROM calls WHERE instance = ? AND method = ? AND state = 'answered' "
            f"AND status IN ({marks}) AND updated_at >= ? ORDER BY updated_at, id",
            (str(instance), method, *wanted, after),
        )
        newest: dict[str, tuple] = {}
        for row in done_rows:
            newest[row[5]] = row  # ascending order: the last one wins
        if not newest:
            return {}
        opposite = OPPOSITE.get(method)
        undone: dict[str, float] = {}
        if opposite is not None:
            for chat_id, latest in self._read(
                "SELECT chat_id, MAX(updated_at) FROM calls WHERE instance = ? AND method = ? AND updated_at >= ? "
                "GROUP BY chat_id",
                (str(instance), opposite, after),
            ):
                undone[chat_id] = latest
        result = {}
        for chat_id, row in newest.items():
            reversed_at = undone.get(chat_id)
            if reversed_at is not None and reversed_at >= row[1]:
                continue
            result[chat_id] = _entry(row)
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

    def export_csv(self, path: str | os.PathLike, *, instance=None, chat_id: str | None = None) -> int:
        """Write the audit trail (oldest first) to a UTF-8 CSV that Excel opens; returns the number of calls."""
        rows = list(reversed(self.entries(instance=instance, chat_id=chat_id)))
        target = Path(path)
        try:
            with open(target, "w", newline="", encoding="utf-8-sig") as out:
                writer = csv.writer(out)
                writer.writerow(["id", "sent", "updated", "instance", "method", "chat_id", "state", "status",
                                 "details", "http_status", "source", "run_id"])
                for e in rows:
                    writer.writerow([
                        e.id, f"{e.sent_time:%Y-%m-%d %H:%M:%S}" if e.sent_time else "", f"{e.time:%Y-%m-%d %H:%M:%S}",
                        e.instance, e.method, e.chat_id, e.state, e.status or "", e.details,
                        "" if e.http_status is None else e.http_status, e.source, e.run_id or "",
                    ])
        except OSError as error:
            raise ConfigError(f"cannot write {target}: {error.strerror or error}") from None
        return len(rows)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _describe(error: BaseException) -> str:
    if isinstance(error, sqlite3.DatabaseError) and "not a database" in str(error):
        return "is not an SQLite journal (damaged, or another kind of file)"
    if isinstance(error, OSError):
        return f"cannot be created ({error.strerror or error})"
    text = str(error)
    if "readonly" in text or "unable to open" in text:
        return f"cannot be opened for writing ({text})"
    return text

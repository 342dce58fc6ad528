"""The per-instance, per-method rate limiter, shared by every client in the process.

GREEN-API limits each instance per method (archiveChat/unarchiveChat 10 requests a second, the reads
1 a second) and answers 429 above that. Bursts are what trip a server that counts a sliding one-second
window, so calls get evenly spaced slots instead of tokens: each caller takes ``max(now, next_slot)`` and
moves ``next_slot`` one interval on. The interval is that of 97% of the rate, so that no window of one
second ever holds more than the limit even when replies and threads jitter a little.
On a 429 the pacer honours Retry-After (the next slot moves past it) and slows down (multiplicative
decrease); successes bring it back to the full rate gradually.

Across processes: GREEN-API counts calls per instance, whoever makes them (a ribbon run beside the UDF
server, two CLI runs on two books). ``SharedSlots`` keeps the next free slot and the recent starts per
(host, instance, method) in a small SQLite file in the per-user state folder (``pacing.sqlite3``), so
every process of this user takes its slots from one schedule and checks one sliding window. Two short
transactions a call (measured in benchmarks/cross_process_pacing.py). When the folder cannot be written
or the file fails, pacing falls back to this process alone, with a debug log line.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from pathlib import Path
from email.utils import parsedate_to_datetime
from typing import Callable
from urllib.parse import urlsplit

from greenapi_excel.methods import TABLE as _STATE_CHANGING

STATE_CHANGING = tuple(_STATE_CHANGING)

DEFAULT_RATE = 10.0        # archiveChat / unarchiveChat, requests a second per instance
DEFAULT_READ_RATE = 1.0    # getChats, getContactInfo, getStateInstance
SAFETY = 0.97              # pace at this share of the limit
SLOWDOWN = 0.7             # the pace after a 429, as a share of the pace before it
RECOVERY = 0.02            # share of the full rate won back per success
FLOOR = 0.1                # never slower than this share of the full rate
MAX_RETRY_AFTER = 60.0     # a hostile or confused server cannot park us for hours
WINDOW_GUARD = 0.03        # seconds beyond one second between a start and the limit-th start before it
SHARED_FILE = "pacing.sqlite3"
SHARED_BUSY_MS = 2000      # a process holds the file for microseconds; longer means something is wrong
SHARED_MAX_AHEAD = 2 * MAX_RETRY_AFTER  # a slot further ahead than this comes from a clock that jumped

log = logging.getLogger(__name__)
_pacers_lock = threading.Lock()


ENV_MAX_RATE = "GREENAPI_MAX_RATE"


def max_rate() -> float:
    """The highest archive/unarchive rate a run may ask for (``--rate``), and the pace of the ribbon's runs:
    GREEN-API's documented limit per instance, 10 a second. ``GREENAPI_MAX_RATE`` raises it for a local
    emulator that allows more (tests, benchmarks); GREEN-API itself answers 429 above its limit."""
    try:
        value = float(os.environ.get(ENV_MAX_RATE, "") or DEFAULT_RATE)
    except ValueError:
        value = DEFAULT_RATE
    return value if 0 < value < float("inf") else DEFAULT_RATE


def default_rate(method: str) -> float:
    return DEFAULT_RATE if method in STATE_CHANGING else DEFAULT_READ_RATE


class Pacer:
    """Evenly spaced slots at ``rate`` calls a second (times ``SAFETY``); thread-safe.

    ``clock`` and ``sleep`` are injectable so that tests can drive time by hand.
    """

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, safety: float = SAFETY,
                 shared: "SharedSlots | None" = None, key: str = ""):
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        self._shared = shared
        self._key = key
        self._clock = clock
        self._sleep = sleep
        self._safety = safety
        self._lock = threading.Lock()
        self._full_rate = float(rate)
        self._rate = float(rate)
        self._next_slot = float("-inf")
        self._last_slowdown = float("-inf")
        self._starts: collections.deque[float] = collections.deque(maxlen=128)

    @property
    def full_rate(self) -> float:
        """The configured limit, in calls a second."""
        return self._full_rate

    @property
    def rate(self) -> float:
        """The limit currently paced to (lower than ``full_rate`` after 429s)."""
        return self._rate

    @property
    def interval(self) -> float:
        """Seconds between two slots at the current pace."""
        return 1.0 / (self._rate * self._safety)

    def set_rate(self, rate: float) -> None:
        """A new limit for this (host, instance, method): the last client configured wins."""
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        with self._lock:
            self._full_rate = float(rate)
            self._rate = float(rate)

    def reserve(self) -> float:
        """Take the next slot and return its time on ``clock`` (the caller waits until then).

        With a shared record, the slot comes from the schedule every process of this user shares;
        this process's own schedule still moves on, so that a record that fails mid-run loses nothing.
        """
        with self._lock:
            slot = max(self._clock(), self._next_slot)
            self._next_slot = slot + self.interval
            if self._shared is None:
                return slot
            interval = self.interval
        shared = self._shared.reserve(self._key, interval)
        if shared is None:
            return slot
        return max(slot, self._clock() + (shared - time.time()))

    def delays(self):
        """The waits before this caller may send, without waiting: a slot, then the sliding-window check,
        each yielded as seconds (the caller sleeps them, on a thread or in an event loop).

        Slots alone assume every caller starts on time. A caller that wakes late bunches up with the
        ones after it, so starts are also checked against a sliding window: no more than the limit
        within any second (plus a small guard), as the server counts them.
        """
        slot = self.reserve()
        waited = max(0.0, slot - self._clock())
        if waited > 0:
            yield waited
        while (extra := self._window_delay()) > 0:
            yield extra

    def wait(self, cancel: threading.Event | None = None) -> float:
        """Block until this caller may send (or ``cancel`` is set); returns the seconds waited. Every try,
        first or retry, calls this."""
        waited = 0.0
        for delay in self.delays():
            if self._pause(delay, cancel):
                return waited
            waited += delay
        return waited

    def _pause(self, seconds: float, cancel: threading.Event | None) -> bool:
        """Sleep ``seconds``; True when ``cancel`` was set meanwhile (a stopped run leaves its slot at once)."""
        if cancel is None:
            self._sleep(seconds)
            return False
        return cancel.wait(seconds)

    def _window_delay(self) -> float:
        """0 and the start recorded if a call may start now, else how long to wait."""
        if self._shared is not None:
            delay = self._shared.admit(self._key, max(1, int(self._rate)), 1.0 + WINDOW_GUARD)
            if delay is not None:
                with self._lock:
                    if delay <= 0:
                        self._starts.append(self._clock())
                return delay
        with self._lock:
            now = self._clock()
            limit = max(1, int(self._rate))
            if limit <= len(self._starts):
                earliest = self._starts[-limit] + 1.0 + WINDOW_GUARD
                if now < earliest:
                    self._next_slot = max(self._next_slot, earliest + self.interval)
                    return earliest - now
            self._starts.append(now)
            return 0.0

    def throttled(self, retry_after: float | None = None) -> None:
        """A 429: no slot before ``retry_after`` seconds from now, and a slower pace.

        Several calls in flight see the same overload; the pace drops at most once a second,
        so one burst of 429s does not collapse it.
        """
        if retry_after is not None and retry_after > 0 and self._shared is not None:
            self._shared.push(self._key, time.time() + min(retry_after, MAX_RETRY_AFTER))
        with self._lock:
            now = self._clock()
            if retry_after is not None and retry_after > 0:
                self._next_slot = max(self._next_slot, now + min(retry_after, MAX_RETRY_AFTER))
            if now - self._last_slowdown >= 1.0:
                self._last_slowdown = now
                self._rate = max(self._full_rate * FLOOR, self._rate * SLOWDOWN)

    def succeeded(self) -> None:
        """A call went through: win back a little of the full rate."""
        if self._rate >= self._full_rate:
            return
        with self._lock:
            self._rate = min(self._full_rate, self._rate + self._full_rate * RECOVERY)


def parse_retry_after(value: object) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent or unreadable."""
    if value is None:
        return None
    text = str(value).strip()
    if not text or len(text) > 64:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - time.time()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, min(seconds, MAX_RETRY_AFTER))


# --- the record shared by the processes of this user ------------------------------------------------

_SHARED_SCHEMA = """
CREATE TABLE IF NOT EXISTS slots (key TEXT PRIMARY KEY, next_slot REAL NOT NULL);
CREATE TABLE IF NOT EXISTS starts (key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS starts_by_key ON starts (key, at);
"""


class SharedSlots:
    """The next free slot and the recent starts per pacing key, in an SQLite file that every process
    of this user opens. Times are wall-clock seconds (``time.time()``): the one clock that processes
    share. Every method returns None when the file fails; the pacer then falls back to this process.
    """

    def __init__(self, path: str | os.PathLike):
        import sqlite3   # not in every Python (Pyodide's lacks it): only the processes that share need it

        from greenapi_excel.paths import make_private_file

        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        make_private_file(self.path)
        conn = sqlite3.connect(str(self.path), timeout=SHARED_BUSY_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {SHARED_BUSY_MS}")
            conn.execute("PRAGMA journal_mode = WAL")   # falls back to a rollback journal where WAL cannot be
            conn.execute("PRAGMA synchronous = OFF")    # a schedule of the next second: nothing to keep
            conn.executescript(_SHARED_SCHEMA)
            conn.execute("BEGIN IMMEDIATE")             # fail now, not at the first call, when read-only
            conn.execute("ROLLBACK")
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _transaction(self, work):
        import sqlite3

        with self._lock:
            conn = self._conn
            if conn is None:
                return None
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = work(conn, time.time())
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                return result
            except sqlite3.Error as error:
                log.debug("pacing: the shared record %s failed (%s); pacing in this process only", self.path, error)
                self._conn = None
                conn.close()
                return None

    def reserve(self, key: str, interval: float) -> float | None:
        """The wall-clock time of the next free slot for ``key``; the one after it is ``interval`` later."""
        def work(conn, now):
            row = conn.execute("SELECT next_slot FROM slots WHERE key = ?", (key,)).fetchone()
            free = row[0] if row else now
            if free > now + SHARED_MAX_AHEAD:
                free = now
            slot = max(now, free)
            conn.execute("INSERT OR REPLACE INTO slots (key, next_slot) VALUES (?, ?)", (key, slot + interval))
            return slot
        return self._transaction(work)

    def admit(self, key: str, limit: int, window: float) -> float | None:
        """0 and the start recorded when at most ``limit - 1`` starts for ``key`` fall within the last
        ``window`` seconds, else the seconds to wait. Old starts are pruned on the way."""
        def work(conn, now):
            # Starts in the future come from a clock that was set back since: they never happened.
            conn.execute("DELETE FROM starts WHERE key = ? AND (at < ? OR at > ?)", (key, now - 2 * window, now + 1.0))
            count = conn.execute("SELECT COUNT(*) FROM starts WHERE key = ? AND at > ?",
                                 (key, now - window)).fetchone()[0]
            if count >= limit:
                oldest = conn.execute("SELECT at FROM starts WHERE key = ? ORDER BY at DESC LIMIT 1 OFFSET ?",
                                      (key, limit - 1)).fetchone()
                if oldest is not None and oldest[0] + window > now:
                    return oldest[0] + window - now
            conn.execute("INSERT INTO starts (key, at) VALUES (?, ?)", (key, now))
            return 0.0
        return self._transaction(work)

    def push(self, key: str, not_before: float) -> None:
        """No slot for ``key`` before ``not_before`` (a Retry-After, for every process)."""
        def work(conn, now):
            conn.execute("INSERT INTO slots (key, next_slot) VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                         "SET next_slot = MAX(next_slot, excluded.next_slot)", (key, not_before))
        self._transaction(work)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


_shared: SharedSlots | None = None
_shared_tried = False


def shared_slots() -> SharedSlots | None:
    """This process's handle on the shared record in the per-user state folder (opened once), or None
    when it cannot be opened there: pacing then stays within the process (logged at debug level)."""
    global _shared, _shared_tried
    with _pacers_lock:
        if not _shared_tried:
            _shared_tried = True
            from greenapi_excel import paths

            path = paths.pacing_file()
            try:
                paths.make_private_folder(path.parent)
                _shared = SharedSlots(path)
            except (OSError, ImportError, _sqlite_error()) as error:
                log.debug("pacing: cannot keep the shared record at %s (%s); pacing in this process only",
                          path, error)
                _shared = None
        return _shared


# --- the process-wide registry ---------------------------------------------------------------------

_pacers: dict[tuple[str, str, str], Pacer] = {}


def pacer_key(api_url: str, id_instance: str, method: str) -> tuple[str, str, str]:
    """(host[:port], idInstance, method): GREEN-API's limit is per instance and method."""
    return (urlsplit(api_url).netloc.lower(), str(id_instance), method)


def pacer_for(api_url: str, id_instance: str, method: str, rate: float | None = None) -> Pacer:
    """The one pacer for this instance and method in this process; ``rate`` (if given) becomes its limit."""
    key = pacer_key(api_url, id_instance, method)
    shared = shared_slots()
    with _pacers_lock:
        pacer = _pacers.get(key)
        if pacer is None:
            pacer = _pacers[key] = Pacer(rate if rate is not None else default_rate(method),
                                         shared=shared, key="|".join(key))
            return pacer
    if rate is not None and rate != pacer.full_rate:
        pacer.set_rate(rate)
    return pacer


def _sqlite_error():
    try:
        import sqlite3
    except ImportError:
        return OSError
    return sqlite3.Error


class Pacers:
    """One client's pacers: archive/unarchive at ``rate``, every read at ``read_rate``, each the shared
    pacer of its (host, instance, method). Rates are checked here, before any call."""

    def __init__(self, api_url: str, id_instance: str, *, rate: float = DEFAULT_RATE,
                 read_rate: float = DEFAULT_READ_RATE):
        for value in (rate, read_rate):
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < float("inf")):
                from greenapi_excel.errors import ConfigError

                raise ConfigError("a rate must be a positive number of calls a second")
        self._api_url, self._id_instance = api_url, id_instance
        self._rates = {method: rate for method in STATE_CHANGING}
        self._read_rate = read_rate
        for method in STATE_CHANGING:
            self.of(method)   # sets the shared pacers' limits now

    def of(self, method: str) -> Pacer:
        return pacer_for(self._api_url, self._id_instance, method, self._rates.get(method, self._read_rate))


def forget_pacers() -> None:
    """Drop every shared pacer (tests that reuse an address)."""
    with _pacers_lock:
        _pacers.clear()

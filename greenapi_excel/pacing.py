"""The per-instance, per-method rate limiter, shared by every client in the process.

GREEN-API limits each instance per method (archiveChat/unarchiveChat 10 requests a second, the reads
1 a second) and answers 429 above that. Bursts are what trip a server that counts a sliding one-second
window, so calls get evenly spaced slots instead of tokens: each caller takes ``max(now, next_slot)`` and
moves ``next_slot`` one interval on. The interval is that of 97% of the rate, so that no window of one
second ever holds more than the limit even when replies and threads jitter a little.
On a 429 the pacer honours Retry-After (the next slot moves past it) and slows down (multiplicative
decrease); successes bring it back to the full rate gradually.
"""

from __future__ import annotations

import collections
import threading
import time
from email.utils import parsedate_to_datetime
from typing import Callable
from urllib.parse import urlsplit

ARCHIVE = "archiveChat"
UNARCHIVE = "unarchiveChat"
STATE_CHANGING = (ARCHIVE, UNARCHIVE)

DEFAULT_RATE = 10.0        # archiveChat / unarchiveChat, requests a second per instance
DEFAULT_READ_RATE = 1.0    # getChats, getContactInfo, getStateInstance
SAFETY = 0.97              # pace at this share of the limit
SLOWDOWN = 0.7             # the pace after a 429, as a share of the pace before it
RECOVERY = 0.02            # share of the full rate won back per success
FLOOR = 0.1                # never slower than this share of the full rate
MAX_RETRY_AFTER = 60.0     # a hostile or confused server cannot park us for hours
WINDOW_GUARD = 0.03        # seconds beyond one second between a start and the limit-th start before it


def default_rate(method: str) -> float:
    return DEFAULT_RATE if method in STATE_CHANGING else DEFAULT_READ_RATE


class Pacer:
    """Evenly spaced slots at ``rate`` calls a second (times ``SAFETY``); thread-safe.

    ``clock`` and ``sleep`` are injectable so that tests can drive time by hand.
    """

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, safety: float = SAFETY):
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
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
        """Take the next slot and return its time on ``clock`` (the caller waits until then)."""
        with self._lock:
            slot = max(self._clock(), self._next_slot)
            self._next_slot = slot + self.interval
            return slot

    def wait(self, cancel: threading.Event | None = None) -> float:
        """Block until this caller may send; returns the seconds waited. Every try, first or retry, calls this.

        Slots alone assume every caller starts on time. A thread that wakes late bunches up with the
        ones after it, so starts are also checked against a sliding window: no more than the limit
        within any second (plus a small guard), as the server counts them.
        """
        slot = self.reserve()
        waited = max(0.0, slot - self._clock())
        if waited > 0 and self._pause(waited, cancel):
            return waited
        while (extra := self._window_delay()) > 0:
            if self._pause(extra, cancel):
                return waited
            waited += extra
        return waited

    def _pause(self, seconds: float, cancel: threading.Event | None) -> bool:
        """Sleep ``seconds``; True when ``cancel`` was set meanwhile (a stopped run leaves its slot at once)."""
        if cancel is None:
            self._sleep(seconds)
            return False
        return cancel.wait(seconds)

    def _window_delay(self) -> float:
        """0 and the start recorded if a call may start now, else how long to wait."""
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


# --- the process-wide registry ---------------------------------------------------------------------

_pacers: dict[tuple[str, str, str], Pacer] = {}
_pacers_lock = threading.Lock()


def pacer_key(api_url: str, id_instance: str, method: str) -> tuple[str, str, str]:
    """(host[:port], idInstance, method): GREEN-API's limit is per instance and method."""
    return (urlsplit(api_url).netloc.lower(), str(id_instance), method)


def pacer_for(api_url: str, id_instance: str, method: str, rate: float | None = None) -> Pacer:
    """The one pacer for this instance and method in this process; ``rate`` (if given) becomes its limit."""
    key = pacer_key(api_url, id_instance, method)
    with _pacers_lock:
        pacer = _pacers.get(key)
        if pacer is None:
            pacer = _pacers[key] = Pacer(rate if rate is not None else default_rate(method))
            return pacer
    if rate is not None and rate != pacer.full_rate:
        pacer.set_rate(rate)
    return pacer


def forget_pacers() -> None:
    """Drop every shared pacer (tests that reuse an address)."""
    with _pacers_lock:
        _pacers.clear()

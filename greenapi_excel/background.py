"""Runs the ribbon starts in a separate process: the files one run keeps, its progress line, its Stop.

The ribbon's macro (in Excel's Python) reads the sheet once, plans, writes a job file and starts a
second Python process, the worker (``addin.work``), and returns: Excel stays usable. The worker attaches
to the same Excel through xlwings, runs ``bulk.run`` as the CLI does and writes results back in blocks.
This module knows nothing of xlwings; it holds the rules both sides share:

- one run per book: the worker holds the book's lock (``sheets.book_lock``, the lock the CLI takes) for
  the whole run; between the macro's start and the worker taking the lock, the job file says "starting";
- Stop: the Stop button leaves a stop file beside the job; the worker watches for it (``StopWatcher``)
  and sets the ``cancel`` event bulk.run takes;
- the status bar text (``progress_text``) and which rows one block write may cover (``write_runs``).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Iterable

from greenapi_excel.paths import user_folder

# A job file younger than this whose worker holds no lock yet is a worker still starting up.
STARTING_SECONDS = 30.0
# How often the worker looks for a stop file: Stop must take effect within a second.
STOP_POLL_SECONDS = 0.1
# The pace shown is over the last this many seconds (a run's first rows, answered at once, do not count).
PACE_WINDOW_SECONDS = 10.0


# --- the files of one run -----------------------------------------------------------------------------

def runs_folder() -> Path:
    """Per-user folder holding the job, stop and log files of background runs."""
    configured = os.environ.get("GREENAPI_RUNS_DIR", "").strip()
    if configured:
        return Path(configured).expanduser()
    return user_folder("state") / "runs"


def book_key(book: str) -> str:
    """The same book, however it is named (case on Windows, a relative path): one key."""
    text = os.path.normcase(str(Path(book).expanduser().resolve())) if os.sep in book or "/" in book else book
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True)
class RunFiles:
    """Where one book's background run keeps its job, its stop request and its log."""

    folder: Path
    key: str

    @classmethod
    def for_book(cls, book: str) -> "RunFiles":
        return cls(runs_folder(), book_key(book))

    @property
    def job(self) -> Path:
        return self.folder / f"{self.key}.job.json"

    @property
    def stop(self) -> Path:
        return self.folder / f"{self.key}.stop"

    @property
    def log(self) -> Path:
        return self.folder / f"{self.key}.log"

    def write_job(self, job: dict) -> Path:
        """The job, whole or not at all (the worker reads it as soon as it starts); an old stop request goes."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.stop.unlink(missing_ok=True)
        temporary = self.job.with_suffix(".tmp")
        temporary.write_text(json.dumps(job, default=_json_default), encoding="utf-8")
        os.replace(temporary, self.job)
        return self.job

    def read_job(self) -> dict:
        return json.loads(self.job.read_text(encoding="utf-8"))

    def request_stop(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.stop.write_text(str(time.time()), encoding="utf-8")

    def finished(self) -> None:
        """The worker is done: its job and stop request go (the log stays for the next run to replace)."""
        self.job.unlink(missing_ok=True)
        self.stop.unlink(missing_ok=True)


def _json_default(value):
    from datetime import datetime

    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    raise TypeError(f"{type(value).__name__} is not JSON")


def revive(value):
    """Undo ``_json_default`` on what json.loads gave."""
    from datetime import datetime

    if isinstance(value, dict) and set(value) == {"datetime"}:
        return datetime.fromisoformat(value["datetime"])
    return value


def book_busy(book: str) -> bool:
    """True while a run works on ``book``: a worker (or a CLI run) holds its lock, or a worker is starting."""
    from greenapi_excel.errors import BookBusy
    from greenapi_excel.sheets import book_lock

    # A young job first: probing the lock then could make a worker that is just taking it find it taken.
    try:
        if time.time() - RunFiles.for_book(book).job.stat().st_mtime < STARTING_SECONDS:
            return True
    except OSError:
        pass
    try:
        with book_lock(book):
            pass
    except BookBusy:
        return True
    return False


class StopWatcher:
    """Sets ``event`` when the run's stop file appears; a daemon thread, polling every STOP_POLL_SECONDS."""

    def __init__(self, files: RunFiles, event: threading.Event | None = None) -> None:
        self.files = files
        self.event = event or threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="greenapi-stop", daemon=True)

    def __enter__(self) -> threading.Event:
        self._thread.start()
        return self.event

    def __exit__(self, *exc_info) -> None:
        self._done.set()
        self._thread.join(timeout=1)

    def _watch(self) -> None:
        while not self._done.wait(STOP_POLL_SECONDS):
            if self.files.stop.exists():
                self.event.set()
                return


# --- the status bar --------------------------------------------------------------------------------------

def duration_text(seconds: float) -> str:
    """45 s, 1 min 11 s, 17 min, 2 h 5 min: as precise as a time left can honestly be."""
    from greenapi_excel.i18n import _

    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return _("{s} s").format(s=seconds)
    minutes, rest = divmod(seconds, 60)
    if minutes < 10:
        return _("{m} min {s} s").format(m=minutes, s=rest) if rest else _("{m} min").format(m=minutes)
    minutes += rest >= 30
    if minutes < 60:
        return _("{m} min").format(m=minutes)
    hours, minutes = divmod(minutes, 60)
    return _("{h} h {m} min").format(h=hours, m=minutes) if minutes else _("{h} h").format(h=hours)


def progress_text(done: int, total: int, pace: float | None, title: str = "GreenApi") -> str:
    """``GreenApi: 312 of 1,000 · 9.7/s · about 1 min 11 s left``; the pace and time left once known."""
    from greenapi_excel.i18n import _

    parts = [f"{title}: " + _("{done} of {total}").format(done=f"{done:,}", total=f"{total:,}")]
    if pace and pace > 0:
        parts.append(_("{pace}/s").format(pace=f"{pace:.1f}"))
        if done < total:
            parts.append(_("about {time} left").format(time=duration_text((total - done) / pace)))
    return " \u00b7 ".join(parts)


class Pace:
    """Rows a second over the last PACE_WINDOW_SECONDS, from (time, done) samples."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, done: int) -> float | None:
        now = self._clock()
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > PACE_WINDOW_SECONDS:
            self._samples.popleft()
        first_time, first_done = self._samples[0]
        if now - first_time < 1.0 or done <= first_done:
            return None
        return (done - first_done) / (now - first_time)


# --- which rows one block write covers -------------------------------------------------------------------

def write_runs(rows: Iterable[int], pending: Collection[int]) -> list[tuple[int, int]]:
    """(top, bottom) blocks covering ``rows`` (the rows of one batch of results), one block per batch
    unless a row that must not be rewritten lies between: a block may also cover rows in ``pending``
    (rows of this run still to come, whose cells the run will overwrite anyway), never a row already
    written or one the run does not own, where the analyst may have typed since."""
    wanted = sorted(set(rows))
    runs: list[tuple[int, int]] = []
    for row in wanted:
        if runs:
            top, bottom = runs[-1]
            if all(r in pending for r in range(bottom + 1, row)):
                runs[-1] = (top, row)
                continue
        runs.append((row, row))
    return runs

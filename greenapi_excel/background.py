"""Runs the ribbon starts in a separate process: the job record, the files one run keeps, its Stop.

The ribbon's macro (in Excel's Python) reads the sheet once, plans (``jobs.prepare``), writes a job file
(``WorkerJob``) and starts a second Python process, the worker (``addin.work``), and returns: Excel stays
usable. The worker attaches to the same Excel through xlwings, carries the job out (``jobs.execute``) as
the CLI does and writes results back in blocks. This module knows nothing of xlwings; it holds the rules
both sides share:

- the job: a typed record (``WorkerJob``), never the token;
- one run per book: the worker holds the book's lock (``paths.book_lock``, the lock the CLI takes) for
  the whole run; between the macro's start and the worker taking the lock, the job file says "starting";
- Stop: the Stop button leaves a stop file beside the job; the worker watches for it (``StopWatcher``)
  and sets the ``cancel`` event the run takes;
- the pace shown in the status bar (``Pace``) and which rows one block write may cover (``write_runs``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Collection, Iterable

from greenapi_excel import paths

if TYPE_CHECKING:
    from greenapi_excel import jobs

# A job file younger than this whose worker holds no lock yet is a worker still starting up.
STARTING_SECONDS = 30.0
# How often the worker looks for a stop file: Stop must take effect within a second.
STOP_POLL_SECONDS = 0.1
# The pace shown is over the last this many seconds (a run's first rows, answered at once, do not count).
PACE_WINDOW_SECONDS = 10.0


# --- the job ------------------------------------------------------------------------------------------

@dataclass
class LiveBook:
    """The book a worker attaches to: by Excel's process id and the book's name; ``identity`` is its
    full path, or its URL when it lives on OneDrive/SharePoint with no local copy (``paths.book_identity``)."""

    name: str
    identity: str
    pid: int


@dataclass
class ResultCells:
    """What the worker's writer needs of the macro's one read: where the three result columns start, the
    last row, the headers to write (an earlier run's, in its language, else this run's), and the result
    cells as they were of the rows this run will write (a block never rewrites a row the run does not own)."""

    column: int
    bottom: int
    headers: list
    header_missing: bool
    cells: dict[int, list] = field(default_factory=dict)


@dataclass
class WorkerJob:
    """What the macro hands the worker (JSON in a private file): never the token."""

    prepared: "jobs.Prepared"
    book: LiveBook
    language: str
    settings: dict                      # apiUrl / idInstance from the Settings sheet (credentials' order)
    cells: ResultCells | None = None    # None: the statuses are not written into this book (an undo of elsewhere)

    def to_json(self) -> bytes:
        cells = None if self.cells is None else {
            "column": self.cells.column, "bottom": self.cells.bottom, "headers": self.cells.headers,
            "header_missing": self.cells.header_missing,
            "cells": [[row, values] for row, values in self.cells.cells.items()]}
        record = {"prepared": self.prepared.to_record(), "book": vars(self.book), "language": self.language,
                  "settings": self.settings, "cells": cells}
        return json.dumps(record, default=_json_default).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> "WorkerJob":
        from greenapi_excel import jobs

        record = json.loads(data)
        saved = record["cells"]
        cells = None if saved is None else ResultCells(
            int(saved["column"]), int(saved["bottom"]), list(saved["headers"]), bool(saved["header_missing"]),
            {int(row): [revive(v) for v in values] for row, values in saved["cells"]})
        book = record["book"]
        return cls(jobs.Prepared.from_record(record["prepared"]), LiveBook(book["name"], book["identity"],
                                                                          int(book["pid"])),
                   record["language"], dict(record["settings"]), cells)


# --- the files of one run -----------------------------------------------------------------------------

@dataclass(frozen=True)
class RunFiles:
    """Where one book's background run keeps its job, its stop request and its log."""

    folder: Path
    key: str

    @classmethod
    def for_book(cls, book: str) -> "RunFiles":
        return cls(paths.runs_folder(), paths.book_key(book))

    @property
    def job(self) -> Path:
        return self.folder / f"{self.key}.job.json"

    @property
    def stop(self) -> Path:
        return self.folder / f"{self.key}.stop"

    @property
    def log(self) -> Path:
        return self.folder / f"{self.key}.log"

    def write_job(self, job: WorkerJob) -> Path:
        """The job, whole or not at all (the worker reads it as soon as it starts); an old stop request goes."""
        self.stop.unlink(missing_ok=True)
        paths.write_private(self.job, job.to_json())
        return self.job

    def read_job(self) -> WorkerJob:
        return WorkerJob.from_json(self.job.read_bytes())

    @classmethod
    def of_job(cls, job_path) -> "RunFiles":
        path = Path(job_path)
        return cls(path.parent, path.name.split(".", 1)[0])

    def open_log(self):
        """The run's log (the worker's stdout and stderr), private to the user."""
        fd = os.open(self.log, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, paths.FILE_MODE)
        return os.fdopen(fd, "wb")

    def request_stop(self) -> None:
        paths.write_private(self.stop, str(time.time()).encode("ascii"))

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
    from greenapi_excel.paths import book_lock

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

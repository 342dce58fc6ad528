"""A book on disk as the jobs see it: the one read of a sheet (``read``) and the place results go
(``FileTarget``: in memory, saved every few seconds and at the end, each save marking what it holds as
delivered). The command line and the demo use it; the streaming reader and writer are ``sheets``'.
"""

from __future__ import annotations

import time
from pathlib import Path

from greenapi_excel import paths
from greenapi_excel.jobs import SheetRead
from greenapi_excel.results import RowResult
from greenapi_excel.sheets import SheetFile

SAVE_EVERY_SECONDS = 5.0


def read(book: Path, *, sheet: str | None = None, column: object = None, out: Path | None = None,
         include_hidden: bool = False, resend: bool = False) -> tuple[SheetRead, SheetFile]:
    """The one read of ``book``'s sheet (the chat column by ``layout``'s rule), and the sheet to write to."""
    opened = SheetFile.open(book, sheet=sheet, column=column, out=out)
    found = SheetRead(
        book=paths.book_identity(out or book), sheet=opened.sheet_name, chat_column=opened.chat_column_number,
        status_column=opened.status_column_number, chat_cells=opened.chat_cells,
        previous={} if resend else opened.previous, hidden=set() if include_hidden else set(opened.hidden_rows),
        settings=opened.settings, note=opened.placement_note)
    return found, opened


class FileTarget:
    """Results into a book on disk: kept in memory, saved atomically every ``SAVE_EVERY_SECONDS`` (or
    three times as long as a save takes, for a big book) and at the end. What a save holds is what
    ``write``/``finish`` return as delivered; a kill between two saves leaves the rest in the journal."""

    gone = False

    def __init__(self, sheet: SheetFile, out: Path | None = None, *, clock=time.monotonic):
        self.sheet, self.out, self._clock = sheet, out, clock
        self._last = clock()
        self.interval = SAVE_EVERY_SECONDS
        self._unsaved: list[RowResult] = []
        self.saved_to: Path | None = None

    def write(self, results: list[RowResult]) -> list[RowResult]:
        in_sheet = [r for r in results if r.row >= 2]
        self.sheet.write(in_sheet)
        self._unsaved.extend(in_sheet)
        if self._clock() - self._last >= self.interval:
            return self._save()
        return []

    def finish(self) -> list[RowResult]:
        """The last save (also after Ctrl+C: what finished is kept)."""
        return self._save()

    def _save(self) -> list[RowResult]:
        began = self._clock()
        self.saved_to = Path(self.sheet.save(self.out) or self.out or self.sheet.path)
        took = self._clock() - began
        # A big book takes a while to save: never spend more than about a quarter of the run saving.
        self.interval = max(SAVE_EVERY_SECONDS, 3 * took)
        self._last = self._clock()
        saved, self._unsaved = self._unsaved, []
        return saved

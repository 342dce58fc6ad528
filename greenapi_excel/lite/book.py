"""An xlwings Lite book as the jobs see it: the one read of a sheet (``read_sheet``: ``livebook``'s, with the
hidden rows asked of Lite), the result writer (``LiteTarget``: blocks that count as delivered once a flush
carried them to Excel), the journal kept in the book (``open_journal``, ``JournalSheet``), the progress cell
and the stop cell. The Lite xlwings objects (``xw.Book`` and its sheets) are passed in: only
``greenapi_excel/excel`` imports xlwings.

Writes in Lite are queued until ``await book.flush()`` (or the script's end); reads show the book as it was
when the script started, except ``await rng.get_value()``, which reads live (how the stop cell is polled).
"""

from __future__ import annotations

import asyncio

from greenapi_excel import i18n, livebook, texts
from greenapi_excel.errors import ConfigError
from greenapi_excel.jobs import SheetRead
from greenapi_excel.lite import journal as book_journal

# On the Chats sheet of GreenApi-Lite.xlsx, under the buttons (workbook/lite.py writes their labels).
PROGRESS_CELL = "F11"     # "GreenApi: 312 of 1,000 · 9.7/s · about 1 min 11 s left"
STOP_LABEL_CELL = "F12"
STOP_CELL = "F13"         # anything typed here stops the run (the Stop button writes it too)
STOP_POLL_SECONDS = 0.5   # Stop: rows not reached say Not run within a second or two


def identity(book) -> str:
    """The book's name as Lite gives it (Lite knows no path); the journal lives in the book, so every run it
    holds was on this book."""
    return str(book.name)


async def hidden_rows(sheet, column: int, bottom: int) -> set[int]:
    """Rows 2..bottom the sheet hides (a filter or by hand), from one read of the visible cells of rows
    1..bottom of the chat column (``get_special_cells("visible")``, xlwings' API in Lite). ConfigError when
    Lite cannot say: a run never acts on rows the analyst filtered out."""
    if bottom < 2:
        return set()
    try:
        areas = await sheet.range((1, column), (bottom, column)).get_special_cells("visible")
        visible: set[int] = set()
        for area in areas:
            visible.update(range(area.row, area.last_cell.row + 1))
    except asyncio.CancelledError:
        raise
    except Exception as error:  # noqa: BLE001 - an add-in without the call, or Excel refusing it
        raise ConfigError(texts.lite_hidden_rows_unknown(sheet.name, type(error).__name__)) from None
    return set(range(2, bottom + 1)) - visible


async def read_sheet(book, sheet, settings: livebook.SheetSettings, *, selection: int | None = None,
                     column: str | None = None, with_hidden: bool = True) -> tuple[SheetRead, livebook.UsedRange]:
    """The one read of ``sheet`` by ``layout``'s rules, as the desktop reads it (``livebook.lay_out``), and
    which rows it hides (``with_hidden``: an undo acts on its chats wherever they are)."""
    laid = livebook.lay_out(sheet, settings.values, selection=selection, column=column)
    hidden = await hidden_rows(sheet, laid.chat_column, laid.grid.bottom) if with_hidden else set()
    return laid.read(identity(book), sheet.name, settings.values, hidden), laid.grid


class LiteTarget(livebook.BlockTarget):
    """The block writer of ``livebook`` in Lite, where a write only joins the book's queue: a block counts
    as delivered once a flush carried it to Excel. ``write`` queues the block and returns the results of
    the blocks flushed since (the journal marks those delivered); ``flushed`` is told when a flush went
    through (``flushing`` first when another write may join the queue while it goes); ``finish`` returns the
    rest that did."""

    def __init__(self, sheet, cells) -> None:
        super().__init__(sheet, cells)
        self._queued: list = []
        self._flushed: list = []

    def write(self, results) -> list:
        self._queued.extend(super().write(results))
        return self._take_flushed()

    def flushing(self) -> int:
        """How many queued results the flush about to start carries (for ``flushed``)."""
        return len(self._queued)

    def flushed(self, carried: int | None = None) -> None:
        """A flush went through: the ``carried`` results queued before it started (all when None) are in Excel."""
        carried = len(self._queued) if carried is None else carried
        self._flushed.extend(self._queued[:carried])
        del self._queued[:carried]

    def finish(self) -> list:
        return self._take_flushed()

    def _take_flushed(self) -> list:
        delivered, self._flushed = self._flushed, []
        return delivered


# --- the journal in the book -------------------------------------------------------------------------

class JournalSheet:
    """The hidden sheet that holds the book's journal (``lite.journal``): found in either language, made
    (hidden, with its title) when missing."""

    def __init__(self, book) -> None:
        names = set(book_journal.sheet_names())
        found = next((s.name for s in book.sheets if s.name in names), None)
        self.made = found is None
        width = len(book_journal.HEADERS)
        if found is None:
            self.sheet = book.sheets.add(i18n._(book_journal.SHEET), after=book.sheets[len(book.sheets) - 1])
            self.sheet.range((1, 1), (2, width)).value = book_journal.header_rows()
            self.sheet.visible = False
            self.rows: list = []
        else:
            self.sheet = book.sheets[found]
            grid = livebook.UsedRange(self.sheet)
            self.rows = [[grid.cell(r, c) for c in range(1, width + 1)]
                         for r in range(book_journal.FIRST_ROW, grid.bottom + 1)]
            if [grid.cell(2, c) for c in range(1, width + 1)] != list(book_journal.HEADERS):
                # A book built before the links and settings columns: name them, as a new sheet does.
                self.sheet.range((2, 1), (2, width)).value = [list(book_journal.HEADERS)]

    def journal(self, unsaved: book_journal.BookJournal | None = None) -> book_journal.BookJournal:
        """The journal as the book holds it, with ``unsaved``'s records never written to it (the worksheet
        functions' calls since the last script) added."""
        journal = book_journal.BookJournal.from_values(self.rows)
        if unsaved is not None:
            journal.take_unsaved(unsaved)
        return journal

    def queue(self, journal: book_journal.BookJournal) -> None:
        journal.queue_writes(self.sheet)


# --- the progress and stop cells ---------------------------------------------------------------------

class ChatsCells:
    """The progress cell and the stop cell on the book's Chats sheet (none when the book has no Chats sheet:
    then a run shows no progress, and only the Stop button stops it)."""

    def __init__(self, book) -> None:
        name = livebook.chats_sheet_name(book)
        self.sheet = book.sheets[name] if name is not None else None

    def show(self, text: str) -> None:
        if self.sheet is not None:
            self.sheet.range(PROGRESS_CELL).value = livebook.live_value(text)

    def clear_stop(self) -> None:
        if self.sheet is not None:
            self.sheet.range(STOP_CELL).value = None

    def request_stop(self) -> None:
        if self.sheet is not None:
            self.sheet.range(STOP_CELL).value = livebook.live_value(texts.stop_word())

    async def stop_requested(self) -> bool:
        """What the stop cell holds now (a live read): anything but empty stops the run."""
        if self.sheet is None:
            return False
        value = await self.sheet.range(STOP_CELL).get_value()
        return not (value is None or (isinstance(value, str) and not value.strip()))


async def watch_stop(cells: ChatsCells, cancel: asyncio.Event) -> None:
    """Set ``cancel`` once the stop cell holds anything (polled every STOP_POLL_SECONDS) until cancelled."""
    while not cancel.is_set():
        await asyncio.sleep(STOP_POLL_SECONDS)
        try:
            if await cells.stop_requested():
                cancel.set()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a read Excel refused: the Stop button still works
            pass

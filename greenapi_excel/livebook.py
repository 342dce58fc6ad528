"""A live workbook through xlwings' object model, whichever xlwings gives it: the desktop's (COM on Windows,
AppleScript on a Mac: ``excel.live``) or xlwings Lite's in the browser (``lite.book``). Both edges read and
write a book the same way here; what differs (the book's identity, which rows the sheet hides, retries of
a busy Excel, the status bar) stays with each edge. Nothing here imports xlwings: the objects are passed in.

- the Settings sheet, read once (``read_settings``), and the one read of a sheet by ``layout``'s rules
  (``UsedRange``, ``lay_out``, ``Layout.read``): the same ``jobs.SheetRead`` on every edge;
- the results written in blocks (``BlockTarget``: one write per batch, never cell by cell, never over a row
  the run does not own), the progress line (``ProgressLine``);
- Load chats' sheet and cells (``write_chat_list``: the look is the edge's).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from greenapi_excel import background, i18n, layout, statuses as st, texts
from greenapi_excel.errors import ConfigError
from greenapi_excel.i18n import _
from greenapi_excel.jobs import SheetRead
from greenapi_excel.results import (DETAILS_LIMIT, RESULT_WIDTHS, STATUS_LIMIT, UPDATED_FORMAT, cell_text,
                                    formula_safe)

SETTINGS_BLOCK = f"A1:B{layout.SETTINGS_ROWS}"
CELL_LIMITS = (STATUS_LIMIT, DETAILS_LIMIT, DETAILS_LIMIT)  # Status, Details, Updated
DEFAULT_WIDTH = 8.43       # Excel's standard column width: a column at it (or narrower) was never widened
PROGRESS_SECONDS = 0.25    # each progress update is a round trip to Excel

# The strings xlwings gives for cell errors with err_to_str=True.
EXCEL_ERRORS = frozenset({
    "#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA", "#SPILL!",
    "#CONNECT!", "#BLOCKED!", "#UNKNOWN!", "#FIELD!", "#CALC!", "#BUSY!", "#PYTHON!",
})


# --- the Settings sheet ---------------------------------------------------------------------------------

class SheetSettings:
    """Settings!A1:B20 (Настройки in a Russian book), read once: labels in A (any case, either language),
    values in B, and where the token's cell is."""

    def __init__(self, values: dict, token_row: int | None, token: object, sheet_name: str | None):
        self.values, self.token_row, self.token, self.sheet_name = values, token_row, token, sheet_name

    def get(self, label: str):
        value = self.values.get(label)
        return value.strip() if isinstance(value, str) else value

    def for_engine(self) -> dict:
        """apiUrl and idInstance as the credentials' order takes them (never the token)."""
        url = self.get("apiurl")
        text = str(url).strip() if url is not None else ""
        return {"api_url": text or None, "id_instance": self.get("idinstance")}


def read_settings(book) -> SheetSettings:
    name = layout.settings_sheet_name([s.name for s in book.sheets])
    if name is None:
        return SheetSettings({}, None, None, None)
    rows = book.sheets[name].range(SETTINGS_BLOCK).options(ndim=2).value
    found = layout.read_settings_rows((row + [None, None])[:2] for row in rows)
    return SheetSettings(found.values, found.token_row, found.token, name)


# --- the one read ------------------------------------------------------------------------------------

class UsedRange:
    """The used range, read once; cells outside it are empty."""

    def __init__(self, sheet) -> None:
        used = sheet.used_range
        self.top, self.left = used.row, used.column
        rows, columns = used.shape
        self.bottom, self.right = self.top + rows - 1, self.left + columns - 1
        self.rows = used.options(ndim=2, err_to_str=True).value

    def cell(self, row: int, column: int):
        r, c = row - self.top, column - self.left
        if 0 <= r < len(self.rows) and 0 <= c < len(self.rows[r]):
            return self.rows[r][c]
        return None

    def headers(self) -> list:
        return [self.cell(1, c) for c in range(1, self.right + 1)]

    def column(self, column: int) -> list:
        """Values from row 2 down to the last used row."""
        return [self.cell(r, column) for r in range(2, self.bottom + 1)]


def chats_sheet_name(book) -> str | None:
    """The Chats sheet as the book spells it (Chats, or Чаты in a Russian book), or None."""
    from greenapi_excel import chatlist

    spellings = i18n.spellings(chatlist.DEFAULT_SHEET)
    return next((s.name for s in book.sheets if s.name in spellings), None)


def target_sheet(book):
    """The active sheet; the Chats sheet when the Settings sheet is active."""
    sheet = book.sheets.active
    chats = chats_sheet_name(book)
    if layout.is_settings_sheet(sheet.name) and chats is not None:
        return book.sheets[chats]
    return sheet


def selected_column(book, sheet) -> int | None:
    try:
        selection = book.selection
    except Exception:  # noqa: BLE001 - no selection (a chart is selected, ...)
        return None
    if selection is None or selection.sheet.name != sheet.name:
        return None
    last = selection.last_cell
    return layout.selected_column(selection.row, last.row, selection.column, last.column)


def _as_cell_value(value):
    """xlwings gives cell errors as "#N/A"-like strings (err_to_str): make them chat_ids.CellError."""
    from greenapi_excel import chat_ids

    if isinstance(value, str) and value in EXCEL_ERRORS:
        return chat_ids.CellError(value)
    return value


@dataclass
class Layout:
    """Where a sheet's chats are and where its results go, by ``layout``'s rules, before the edge asks which
    rows the sheet hides (one more query, each edge its own way)."""

    grid: UsedRange
    chat_column: int
    placement: layout.ResultPlacement

    def read(self, identity: str, sheet_name: str, settings: dict, hidden: set[int]) -> SheetRead:
        grid, status_column = self.grid, self.placement.status_column
        previous = {}
        if self.placement.reuses_earlier:
            previous = {r: v for r in range(2, grid.bottom + 1) if isinstance(v := grid.cell(r, status_column), str)}
        return SheetRead(book=identity, sheet=sheet_name, chat_column=self.chat_column, status_column=status_column,
                         chat_cells=[(r, _as_cell_value(grid.cell(r, self.chat_column))) for r in range(2, grid.bottom + 1)],
                         previous=previous, hidden=hidden, settings=settings, note=self.placement.note)


def lay_out(sheet, settings: dict, *, selection: int | None = None, column: str | None = None) -> Layout:
    """The one read of ``sheet`` by ``layout``'s rules, as every job and every edge reads a sheet: the chat
    column (Settings' "chat column" > a selection of two or more cells in one column > the header > A), the
    header row check and where results go. ``column`` (an undo: the column its run read) ranks first, as
    ``--column`` does on the command line."""
    grid = UsedRange(sheet)
    headers = grid.headers()
    chat_column = layout.find_chat_column(headers, setting=layout.explicit_chat_column(column, settings),
                                          selection=selection)
    layout.check_header_row(grid.cell(1, chat_column), chat_column)
    values = {c: grid.column(c) for c in range(chat_column + 1, grid.right + 1)}
    return Layout(grid, chat_column, layout.place_results(headers, chat_column, values, last_used_column=grid.right))


def result_cells(grid: UsedRange, status_column: int, rows) -> background.ResultCells:
    """What the writer needs of the one read: the result cells of the rows it will write."""
    rows = sorted(r for r in rows if r >= 2)
    header = [grid.cell(1, status_column + i) for i in range(3)]
    headers = st.result_headers(header)   # an earlier run's, in its language, else this run's
    return background.ResultCells(status_column, max(grid.bottom, 2), headers, header != headers,
                                  {row: [grid.cell(row, status_column + i) for i in range(3)] for row in rows})


# --- writing results ---------------------------------------------------------------------------------

def live_value(value, limit: int = DETAILS_LIMIT):
    """A value for a live cell: the cell rule (``results.cell_text``), then the formula guard."""
    return formula_safe(cell_text(value, limit)) if isinstance(value, str) else value


class BlockTarget:
    """Status / Details / Updated, one block per batch of results (never cell by cell). A block covers only
    rows of the batch and rows this run will still write (``background.write_runs``): a cell the analyst
    edits meanwhile, elsewhere, is never written back over. A book that is gone stops the run (``gone``).
    Once per run the three columns get widths that show their text (one call per column), unless the
    analyst widened them already, or the edge cannot say how wide they are. ``_call`` is where an edge
    retries what a busy Excel refuses."""

    def __init__(self, sheet, cells: background.ResultCells) -> None:
        self.sheet = sheet
        self.column, self.bottom = cells.column, cells.bottom
        self.rows = dict(cells.cells)
        self.pending = set(self.rows)
        self.header_missing = cells.header_missing
        self.headers = list(cells.headers or st.result_headers())
        self.formatted = False
        self.gone: BaseException | None = None
        self.writes = 0

    def _call(self, action):
        return action()

    def write(self, results) -> list:
        """The results now in the sheet (the journal marks them delivered); [] once the book is gone."""
        in_sheet = [r for r in results if r.row >= 2]
        if not in_sheet or self.gone is not None:
            return []
        for result in in_sheet:
            self.rows[result.row] = [st.localised(result.status), result.details, result.updated]
            self.pending.discard(result.row)
        wanted = [r.row for r in in_sheet]
        if self.header_missing:
            self.rows[1] = list(self.headers)
            wanted.append(1)
        try:
            if not self.formatted:
                self._format()
            for top, bottom in background.write_runs(wanted, self.pending):
                block = [[live_value(v, limit) for v, limit in zip(self.rows[r], CELL_LIMITS)]
                         for r in range(top, bottom + 1)]
                first, last = (top, self.column), (bottom, self.column + 2)
                self._call(lambda: setattr(self.sheet.range(first, last), "value", block))
                self.writes += 1
            self.header_missing = False
            return in_sheet
        except Exception as error:  # noqa: BLE001 - the book closed, Excel quit: stop, the journal keeps all
            self.gone = error
            return []

    def finish(self) -> list:
        return []

    def _format(self) -> None:
        updated = self.column + 2
        self._call(lambda: setattr(self.sheet.range((2, updated), (self.bottom, updated)), "number_format",
                                   UPDATED_FORMAT))
        for offset, width in enumerate(RESULT_WIDTHS):
            header = self.sheet.range((1, self.column + offset))
            try:
                current = self._call(lambda: header.column_width)
                if current is None or current <= DEFAULT_WIDTH:
                    self._call(lambda: setattr(header, "column_width", width))
            except Exception:  # noqa: BLE001 - a width is a courtesy (a protected sheet refuses it, Lite cannot read it)
                pass
        self.formatted = True


class ProgressLine:
    """``GreenApi: 312 of 1,000 · 9.7/s · about 1 min 11 s left`` handed to ``show`` (the status bar, a cell),
    at most every PROGRESS_SECONDS and at the end; while the run waits for GREEN-API (an instance
    restarting: ``wait``), what it waits for and how long, instead of the pace."""

    def __init__(self, show: Callable[[str], None]) -> None:
        self._show = show
        self.pace = background.Pace()
        self.last = 0.0
        self.done = self.total = 0
        self.waiting: str | None = None

    def show(self, done: int, total: int) -> None:
        if done > self.done:
            self.waiting = None   # the run goes on: the wait is over
        self.done, self.total = done, total
        pace = self.pace.add(done)
        now = time.monotonic()
        if now - self.last < PROGRESS_SECONDS and done < total:
            return
        self.last = now
        self._show(texts.progress_line(done, total, pace, self.waiting))

    def wait(self, reason: str, waited: float, limit: float) -> None:
        """The run waits for GREEN-API: the line says so, and for how long."""
        self.waiting = texts.waiting(reason, waited, limit)
        self._show(texts.progress_line(self.done, self.total, None, self.waiting))


# --- Load chats --------------------------------------------------------------------------------------

def write_chat_list(book, rows, days: int, *, look: Callable[[object, int, int], None]):
    """The chat list on its sheet (refreshed in place by Chat ID), in block writes; ``look(sheet, last row,
    days)`` is the edge's formatting (``chatlist``'s look, as far as its xlwings can show it). Returns
    (sheet, Refresh, window of days the journals reach)."""
    from greenapi_excel import chatlist

    sheet, grid = _chat_list_sheet(book)
    width = len(chatlist.HEADERS)
    existing = [(r, [grid.cell(r, c) for c in range(1, width + 1)]) for r in range(2, grid.bottom + 1)]
    laid = chatlist.refresh(existing, rows)
    window = chatlist.window_of(rows, days)
    last = max(laid.last_row, 2)
    rows_to_write = {1: chatlist.headers(), **laid.cells}   # in the run's language
    for top, bottom in background.write_runs(rows_to_write, ()):   # one write, unless rows without a chat lie between
        block = [[live_value(v) for v in rows_to_write[r]] for r in range(top, bottom + 1)]
        sheet.range((top, 1), (bottom, width)).value = block
    look(sheet, last, window)
    sheet.activate()
    return sheet, laid, window


def plain_look(sheet, last: int, days: int) -> None:
    """What every xlwings shows of the chat list's look (``chatlist.look``): a bold header, the dates and the
    idle days' number formats."""
    from greenapi_excel import chatlist

    look = chatlist.look(days)
    if look.header_bold:
        sheet.range((1, 1), (1, len(chatlist.HEADERS))).font.bold = True
    first_date, last_date = min(look.date_columns), max(look.date_columns)
    sheet.range((2, first_date), (last, last_date)).number_format = look.date_format
    sheet.range((2, look.idle_column), (last, look.idle_column)).number_format = look.idle_format


def _chat_list_sheet(book):
    """The sheet Load chats writes (``chatlist.choose_sheet``, the one rule of the file and live sides, in
    either language), and its used range (one read each sheet looked at)."""
    from greenapi_excel import chatlist

    grids: dict[str, UsedRange] = {}

    def look(name: str):
        grid = grids[name] = UsedRange(book.sheets[name])
        return [grid.cell(1, c) for c in range(1, len(chatlist.HEADERS) + 1)], grid.bottom > 1

    choice = chatlist.choose_sheet([s.name for s in book.sheets], look)
    if choice.new:
        sheet = book.sheets.add(choice.name, after=book.sheets[len(book.sheets) - 1])
        return sheet, UsedRange(sheet)
    return book.sheets[choice.name], grids.get(choice.name) or UsedRange(book.sheets[choice.name])

"""A live Excel sheet as the jobs see it, through open-source xlwings: the one read (``read_sheet``), the
result writer (``LiveTarget``: one block per batch, never cell by cell), the status bar, which rows are
hidden (one query), and Load chats' sheet.

Excel is touched in one read and block writes: over COM each touch costs milliseconds, and 50,000 cells
one by one take minutes. Open-source xlwings only: ``Range.value``/``options``, ``App.status_bar``/
``alert``, ``.api`` where xlwings has no call of its own (SpecialCells, AutoFilter).
"""

from __future__ import annotations

import re
import sys
import threading
import time

from greenapi_excel import background, i18n, layout, paths, statuses as st, texts
from greenapi_excel.errors import ConfigError
from greenapi_excel.i18n import _
from greenapi_excel.jobs import SheetRead
from greenapi_excel.results import (DETAILS_LIMIT, RESULT_WIDTHS, STATUS_LIMIT, UPDATED_FORMAT, cell_text,
                                    formula_safe)

SETTINGS_BLOCK = f"A1:B{layout.SETTINGS_ROWS}"
STATUS_BAR_SECONDS = 0.25  # each status bar update is a round trip to Excel
CELL_LIMITS = (STATUS_LIMIT, DETAILS_LIMIT, DETAILS_LIMIT)  # Status, Details, Updated
DEFAULT_WIDTH = 8.43       # Excel's standard column width: a column at it (or narrower) was never widened

# The strings xlwings gives for cell errors with err_to_str=True.
EXCEL_ERRORS = frozenset({
    "#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA", "#SPILL!",
    "#CONNECT!", "#BLOCKED!", "#UNKNOWN!", "#FIELD!", "#CALC!", "#BUSY!", "#PYTHON!",
})


def is_mac() -> bool:
    return sys.platform == "darwin"


# --- which book -----------------------------------------------------------------------------------------

def book_identity(book) -> str:
    """The book's one name (``paths.book_identity``): its full path, or, for a book on OneDrive or
    SharePoint that xlwings cannot map to a synced local file (it raises), the URL Excel knows it by."""
    try:
        fullname = book.fullname
    except Exception:  # noqa: BLE001 - xlwings' XlwingsError for an https:// FullName it cannot map
        fullname = _url_of(book)
    return paths.book_identity(fullname or book.name)


def _url_of(book) -> str | None:
    try:
        return str(book.api.full_name.get()) if is_mac() else str(book.api.FullName)
    except Exception:  # noqa: BLE001
        return None


def book_path(book) -> str | None:
    """The book's file on this computer, or None (a URL: the live book is written, no file)."""
    identity = book_identity(book)
    return None if paths.is_url(identity) else identity


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


CALLER_SETTINGS_SECONDS = 5.0   # a recalculation of a thousand cells reads the Settings sheet once
_caller_settings: dict = {}      # book identity -> (monotonic time, lower-case label -> value)
_caller_lock = threading.Lock()


def caller_settings(caller) -> dict | None:
    """A worksheet function's calling book's Settings (lower-case label -> value, never the token), read at
    most once per CALLER_SETTINGS_SECONDS per book; None without one (the environment and config count)."""
    if caller is None:
        return None
    try:
        book = caller.sheet.book
        key = book_identity(book)
        with _caller_lock:
            cached = _caller_settings.get(key)
            if cached is not None and time.monotonic() - cached[0] < CALLER_SETTINGS_SECONDS:
                return cached[1]
            values = read_settings(book).values
            _caller_settings[key] = (time.monotonic(), values)
            return values
    except Exception:  # noqa: BLE001 - a function never raises: without the sheet, the rest still counts
        return None


def clear_token_cell(book, settings: SheetSettings) -> None:
    book.sheets[settings.sheet_name].range((settings.token_row, 2)).value = None
    settings.token = None


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


def read_sheet(book, sheet, settings: SheetSettings, *, selection: int | None = None,
               column: str | None = None) -> tuple[SheetRead, UsedRange]:
    """The one read of ``sheet`` by ``layout``'s rules, as every job and every edge reads a sheet: the chat
    column (Settings' "chat column" > a selection of two or more cells in one column > the header > A), the
    header row check, where results go, and which rows the filter hides (one more query). ``column`` (an
    undo: the column its run read) ranks first, as ``--column`` does on the command line."""
    grid = UsedRange(sheet)
    headers = grid.headers()
    chat_column = layout.find_chat_column(headers, setting=layout.explicit_chat_column(column, settings.values),
                                          selection=selection)
    layout.check_header_row(grid.cell(1, chat_column), chat_column)
    values = {c: grid.column(c) for c in range(chat_column + 1, grid.right + 1)}
    placement = layout.place_results(headers, chat_column, values, last_used_column=grid.right)
    status_column = placement.status_column
    previous = {}
    if placement.reuses_earlier:
        previous = {r: v for r in range(2, grid.bottom + 1) if isinstance(v := grid.cell(r, status_column), str)}
    read = SheetRead(book=book_identity(book), sheet=sheet.name, chat_column=chat_column, status_column=status_column,
                     chat_cells=[(r, _as_cell_value(grid.cell(r, chat_column))) for r in range(2, grid.bottom + 1)],
                     previous=previous, hidden=hidden_rows(sheet, chat_column, grid.bottom),
                     settings=settings.values, note=placement.note)
    return read, grid


def result_cells(grid: UsedRange, status_column: int, rows) -> background.ResultCells:
    """What the worker's writer needs of the one read: the result cells of the rows it will write."""
    rows = sorted(r for r in rows if r >= 2)
    header = [grid.cell(1, status_column + i) for i in range(3)]
    headers = st.result_headers(header)   # an earlier run's, in its language, else this run's
    return background.ResultCells(status_column, max(grid.bottom, 2), headers, header != headers,
                                  {row: [grid.cell(row, status_column + i) for i in range(3)] for row in rows})


# --- writing results ---------------------------------------------------------------------------------

# Windows: COM answers RPC_E_CALL_REJECTED / RPC_E_SERVERCALL_RETRYLATER while the analyst edits a cell or a
# dialog is open, or DISP_E_EXCEPTION carrying VBA_E_IGNORE (0x800AC472) for a click into a cell. xlwings'
# COM wrapper already retries some of these on some paths; the rest reach us. Mac: an Apple event times out
# (-1712) while Excel is busy the same way.
CALL_REJECTED = frozenset({0x80010001, 0x8001010A})
VBA_E_IGNORE = 0x800AC472
MAC_BUSY = frozenset({-1712})
REJECTED_RETRY_SECONDS = 0.2
REJECTED_PATIENCE_SECONDS = 600.0   # an analyst may sit in a cell for minutes; the calls stop meanwhile


def call_rejected(error: BaseException) -> bool:
    """True for Excel's "busy, call again" answers (pywintypes.com_error's hresult, appscript's errornumber)."""
    code = getattr(error, "hresult", None)
    if code is None and error.args and isinstance(error.args[0], int):
        code = error.args[0]
    if isinstance(code, int) and (code & 0xFFFFFFFF) in CALL_REJECTED:
        return True
    detail = error.args[2] if len(error.args) > 2 else None   # com_error's excepinfo: scode is its last item
    if isinstance(detail, tuple) and len(detail) == 6 and isinstance(detail[5], int) \
            and (detail[5] & 0xFFFFFFFF) == VBA_E_IGNORE:
        return True
    return getattr(error, "errornumber", None) in MAC_BUSY


def patiently(action):
    """Call ``action``; a call Excel rejects while the analyst edits a cell is tried again."""
    deadline = time.monotonic() + REJECTED_PATIENCE_SECONDS
    while True:
        try:
            return action()
        except Exception as error:  # noqa: BLE001
            if not call_rejected(error) or time.monotonic() > deadline:
                raise
            time.sleep(REJECTED_RETRY_SECONDS)


def live_value(value, limit: int = DETAILS_LIMIT):
    """A value for a live cell: the cell rule (``results.cell_text``), then the formula guard."""
    return formula_safe(cell_text(value, limit)) if isinstance(value, str) else value


class LiveTarget:
    """Status / Details / Updated, one block per batch of results (never cell by cell). A block covers only
    rows of the batch and rows this run will still write (``background.write_runs``): a cell the analyst
    edits meanwhile, elsewhere, is never written back over. A write Excel rejects while the analyst edits
    a cell is tried again; a book that is gone stops the run (``gone``). Once per run the three columns get
    widths that show their text (one call per column), unless the analyst widened them already."""

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
                patiently(lambda: setattr(self.sheet.range(first, last), "value", block))
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
        patiently(lambda: setattr(self.sheet.range((2, updated), (self.bottom, updated)), "number_format",
                                  UPDATED_FORMAT))
        for offset, width in enumerate(RESULT_WIDTHS):
            header = self.sheet.range((1, self.column + offset))
            try:
                current = patiently(lambda: header.column_width)
                if current is None or current <= DEFAULT_WIDTH:
                    patiently(lambda: setattr(header, "column_width", width))
            except Exception:  # noqa: BLE001 - a width is a courtesy (a protected sheet refuses it): the run goes on
                pass
        self.formatted = True


class StatusBar:
    """``GreenApi: 312 of 1,000 · 9.7/s · about 1 min 11 s left``, at most every STATUS_BAR_SECONDS."""

    def __init__(self, book) -> None:
        self.book = book
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
        if now - self.last < STATUS_BAR_SECONDS and done < total:
            return
        self.last = now
        text = texts.progress_line(done, total, pace, self.waiting)
        quietly(lambda: setattr(self.book.app, "status_bar", text))

    def wait(self, reason: str, waited: float, limit: float) -> None:
        """The run waits for GREEN-API (an instance restarting): the status bar says so, and for how long."""
        self.waiting = texts.waiting(reason, waited, limit)
        text = texts.progress_line(self.done, self.total, None, self.waiting)
        quietly(lambda: setattr(self.book.app, "status_bar", text))


def quietly(action) -> None:
    """Status bar and alerts: when the book or Excel is gone, there is no one left to tell."""
    try:
        action()
    except Exception:  # noqa: BLE001
        pass


# --- which rows the sheet hides: one read ------------------------------------------------------------

XL_CELL_TYPE_VISIBLE = 12          # Excel's xlCellTypeVisible
ADDRESS_LIMIT = 250                # a multi-area Address may be cut near 255 characters: then ask the Areas
_AREA = re.compile(r"\$?[A-Za-z]{1,3}\$?(\d+)(?::\$?[A-Za-z]{1,3}\$?(\d+))?")


def hidden_rows(sheet, column: int, bottom: int) -> set[int]:
    """Rows 2..bottom the sheet hides (a filter or by hand), from one query of the visible cells.

    Windows: ``SpecialCells(xlCellTypeVisible)`` through ``.api`` and its ``Address``; Mac: AppleScript's
    ``special cells ... type cell type visible`` and ``get address``, as xlwings' own Mac code does. The
    query covers rows 1..bottom of the chat column: at least two cells, because SpecialCells sent to one
    cell searches the whole sheet. Never a call per row.
    """
    if bottom < 2:
        return set()
    cells = sheet.range((1, column), (bottom, column))
    address = _visible_address(cells)
    visible = visible_rows(address) if address else set()
    return set(range(2, bottom + 1)) - visible


def _visible_address(cells) -> str | None:
    """The visible cells' address ("$A$1:$A$4,$A$9"), or None when no cell is visible."""
    if is_mac():
        from appscript import k
        from appscript.reference import CommandError

        try:
            return cells.api.special_cells(type=k.cell_type_visible).get_address()
        except CommandError as error:
            if getattr(error, "errornumber", None) == -50:   # what Excel for Mac answers when none is visible
                return None
            raise
    try:
        visible = cells.api.SpecialCells(XL_CELL_TYPE_VISIBLE)
    except Exception as error:  # noqa: BLE001 - pywintypes.com_error: "No cells were found." when all are hidden
        if "no cells were found" in str(error).lower():
            return None
        raise
    address = visible.Address
    if len(address) >= ADDRESS_LIMIT:
        areas = visible.Areas
        count = areas.Count
        if count != address.count(",") + 1:   # cut short: one read per visible block, still never per row
            address = ",".join(areas.Item(i).Address for i in range(1, count + 1))
    return address


def visible_rows(address: str) -> set[int]:
    """Row numbers covered by an address such as "$A$1:$A$4,$A$9" or "Chats!$A$2:$A$3"."""
    rows: set[int] = set()
    for part in address.split(","):
        match = _AREA.fullmatch(part.strip().split("!")[-1])
        if not match:
            raise ValueError(f"Excel gave an address this add-in cannot read: {part!r}")
        top = int(match.group(1))
        rows.update(range(top, int(match.group(2) or top) + 1))
    return rows


# --- Load chats --------------------------------------------------------------------------------------

def write_chat_list(book, rows, days: int):
    """The chat list on its sheet (refreshed in place by Chat ID), in block writes, formatted as
    ``chatlist``'s look says; returns (sheet, Refresh, window of days the journals reach)."""
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
    _format_chat_list(sheet, last, window)
    sheet.activate()
    return sheet, laid, window


def _chat_list_sheet(book):
    """The sheet Load chats writes, and its used range (one read): Chats when it was loaded before or holds
    nothing below its header, else a "Chat list" sheet (made when missing)."""
    from greenapi_excel import chatlist

    for name in (chatlist.DEFAULT_SHEET, chatlist.FALLBACK_SHEET):
        spellings = i18n.spellings(name)   # Chats / Чаты: the book's, else a new one in this run's language
        found = next((s.name for s in book.sheets if s.name in spellings), None)
        if found is None:
            sheet = book.sheets.add(_(name), after=book.sheets[len(book.sheets) - 1])
            return sheet, UsedRange(sheet)
        sheet = book.sheets[found]
        grid = UsedRange(sheet)
        first = [grid.cell(1, c) for c in range(1, len(chatlist.HEADERS) + 1)]
        if chatlist.is_loaded_header(first) or grid.bottom <= 1:
            return sheet, grid
    raise ConfigError(_("the sheets {first} and {second} both hold lists Load chats did not make: rename one of "
                        "them and press Load chats again").format(first=_(chatlist.DEFAULT_SHEET),
                                                                   second=_(chatlist.FALLBACK_SHEET)))


def _format_chat_list(sheet, last: int, days: int) -> None:
    """Header, widths, dates, frozen first row, autofilter, conditional formats: a handful of calls."""
    from greenapi_excel import chatlist

    width = len(chatlist.HEADERS)
    sheet.range((1, 1), (1, width)).font.bold = True
    first_date, last_date = chatlist.DATE_COLUMNS[0], chatlist.DATE_COLUMNS[-1]
    sheet.range((2, first_date), (last, last_date)).number_format = chatlist.DATE_FORMAT
    idle = sheet.range((2, chatlist.IDLE_COLUMN), (last, chatlist.IDLE_COLUMN))
    idle.number_format = chatlist.idle_format(days)
    for column, characters in enumerate(chatlist.WIDTHS, start=1):
        sheet.range((1, column)).column_width = characters
    sheet.freeze_panes.freeze_at("1:1")
    table = sheet.range((1, 1), (last, width))
    table.conditional_formats.clear()
    table.conditional_formats.add_custom(f'=${layout.column_letter(chatlist.ARCHIVED_COLUMN)}2="{chatlist.GONE}"',
                                         fill_color="#f2f2f2", font_color="#808080", font_italic=True,
                                         stop_if_true=True)
    archived = sheet.range((2, chatlist.ARCHIVED_COLUMN), (last, chatlist.ARCHIVED_COLUMN))
    archived.conditional_formats.add_cell_value("equal_to", f'="{chatlist.YES}"', fill_color="#d9d9d9",
                                                font_color="#595959")
    idle.conditional_formats.add_color_scale(["#63be7b", "#ffeb84", "#f8696b"],
                                             thresholds=list(chatlist.color_scale(days)))
    _autofilter_on(sheet, table)


def _autofilter_on(sheet, table) -> None:
    """Show the filter buttons on the header, keeping a filter the analyst set."""
    if is_mac():
        try:
            if not sheet.api.autofilter_mode.get():   # never disturb a filter the analyst set
                table.api.autofilter_range(field=1)
        except Exception:  # noqa: BLE001 - the buttons are a convenience; Data > Filter does the same
            pass
        return
    if not sheet.api.AutoFilterMode:
        table.api.AutoFilter()

"""A live Excel sheet as the jobs see it, through open-source xlwings: the one read (``read_sheet``), the
result writer (``LiveTarget``: one block per batch, never cell by cell), the status bar, which rows are
hidden (one query), and Load chats' sheet.

Excel is touched in one read and block writes: over COM each touch costs milliseconds, and 50,000 cells
one by one take minutes. Open-source xlwings only: ``Range.value``/``options``, ``App.status_bar``/
``alert``, ``.api`` where xlwings has no call of its own (SpecialCells, AutoFilter). What xlwings Lite reads
and writes the same way is ``livebook``'s (the Settings sheet, the used range, the layout, the block
writer, Load chats' cells); what is the desktop's alone stays here.
"""

from __future__ import annotations

import re
import sys
import threading
import time

from greenapi_excel import layout, livebook, paths
from greenapi_excel.jobs import SheetRead
from greenapi_excel.livebook import (CELL_LIMITS, DEFAULT_WIDTH, EXCEL_ERRORS, SETTINGS_BLOCK,  # noqa: F401
                                     SheetSettings, UsedRange, chats_sheet_name, live_value, read_settings,
                                     result_cells, selected_column, target_sheet)


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

def read_sheet(book, sheet, settings: SheetSettings, *, selection: int | None = None,
               column: str | None = None) -> tuple[SheetRead, UsedRange]:
    """The one read of ``sheet`` by ``layout``'s rules (``livebook.lay_out``), and which rows the filter
    hides (one more query)."""
    laid = livebook.lay_out(sheet, settings.values, selection=selection, column=column)
    hidden = hidden_rows(sheet, laid.chat_column, laid.grid.bottom)
    return laid.read(book_identity(book), sheet.name, settings.values, hidden), laid.grid


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


class LiveTarget(livebook.BlockTarget):
    """``livebook.BlockTarget`` on the desktop: a write Excel rejects while the analyst edits a cell is tried
    again (``patiently``)."""

    def _call(self, action):
        return patiently(action)


class StatusBar(livebook.ProgressLine):
    """``GreenApi: 312 of 1,000 · 9.7/s · about 1 min 11 s left`` in Excel's status bar."""

    def __init__(self, book) -> None:
        self.book = book
        super().__init__(lambda text: quietly(lambda: setattr(book.app, "status_bar", text)))


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
    """The chat list on its sheet (``livebook.write_chat_list``) with the desktop's look; returns (sheet,
    Refresh, window of days the journals reach)."""
    return livebook.write_chat_list(book, rows, days, look=_format_chat_list)


def _format_chat_list(sheet, last: int, days: int) -> None:
    """``chatlist.look`` rendered through xlwings: the plain part (``livebook.plain_look``), widths, the frozen
    header, the highlights as conditional formats and the filter buttons: a handful of calls."""
    from greenapi_excel import chatlist

    look = chatlist.look(days)
    livebook.plain_look(sheet, last, days)
    for column, characters in enumerate(look.widths, start=1):
        sheet.range((1, column)).column_width = characters
    if look.freeze_header:
        sheet.freeze_panes.freeze_at("1:1")
    table = sheet.range((1, 1), (last, len(chatlist.HEADERS)))
    table.conditional_formats.clear()
    for highlight in look.highlights:
        cells = sheet.range((2, highlight.first), (last, highlight.last))
        style = {"fill_color": highlight.look.fill, "font_color": highlight.look.font}
        if highlight.kind == "formula":
            rule = cells.conditional_formats.add_custom("=" + highlight.formula, font_italic=highlight.look.italic,
                                                        stop_if_true=highlight.stop, **style)
        elif highlight.kind == "equals":
            rule = cells.conditional_formats.add_cell_value("equal_to", "=" + highlight.value,
                                                            font_italic=highlight.look.italic, **style)
        else:
            rule = cells.conditional_formats.add_color_scale(list(highlight.colours),
                                                             thresholds=list(highlight.thresholds))
        if highlight.look.strike:
            _strike_through(rule)
    if look.autofilter:
        _autofilter_on(sheet, table)


def _strike_through(rule) -> None:
    """Struck-through text for a rule's cells: xlwings' rule has no such style, Excel's FormatCondition has
    (Windows, through COM); on a Mac the gone rows are greyed and in italics only."""
    try:
        rule.impl.api.Font.Strikethrough = True
    except Exception:  # noqa: BLE001 - a courtesy: the grey and the italics already say "gone"
        pass


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

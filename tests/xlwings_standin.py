"""A small stand-in for xlwings' App / Book / Sheet / Range, for testing addin.py without Excel.

It follows xlwings' documented conversions on read (``Range.value``, ``Range.options``):
numbers come back as floats, empty cells as None, dates as datetime, cell errors as None (or as
"#N/A"-like strings with ``err_to_str=True``), a formula cell as its value; a single cell is a
scalar, one row or one column a flat list unless ``ndim=2``, anything else a list of rows.
``Sheet.used_range`` spans the cells that hold something, from the first of them (as Excel's
UsedRange does), not from A1. ``Book.from_file`` opens a real .xlsx/.xlsm as Excel would show it. On write it behaves like Excel does with
a value assigned through COM: a text starting with "=" (or "+", "-", "@") becomes a formula, a
leading apostrophe makes the rest plain text (the apostrophe is not part of the value), None
empties the cell, and a list of rows fills a block from the range's top-left cell.

Every value read and every value write is counted on the book, so tests can hold addin.py to
"one read, one write per block".

Two things real Excel and xlwings do that tests switch on:

- **How RunPython finds its book** (``Book.caller()``, from xlwings main.py): the VBA passes a workbook name
  (``--wb=NAME --from_xl=1`` in ``sys.argv``). On Windows xlwings asks COM for ``Workbooks(NAME)``, which also
  finds an add-in. On a Mac (``App(platform="mac")``) it looks among the open workbooks, where Excel never lists
  an add-in (``Book(..., addin=True)``, or a name ending in .xlam), and else tries to open a file of that name:
  FileNotFoundError. Which name the VBA passes is the workbook module's business: ``runpython_argv(book)``.
- **Books on OneDrive and SharePoint**: a Book's FullName may be a URL (``Book(name, fullname="https://...")``,
  as Excel gives it with AutoSave on). ``book.fullname`` then does what xlwings does (``_xlwindows`` /
  ``_xlmac`` ``Book.fullname``): xlwings' own ``utils.fullname_url_to_local_path`` with the
  ``ONEDRIVE_CONSUMER_*``, ``ONEDRIVE_COMMERCIAL_*`` and ``SHAREPOINT_*`` rows of the book's ``xlwings.conf``
  sheet (``*_WIN`` or ``*_MAC`` by the App's platform), the ``OneDrive*`` environment variables and the user's
  xlwings.conf: the synced local file when there is one, else xlwings' ``XlwingsError`` (or, for a SharePoint
  site URL with nothing configured, the UnboundLocalError xlwings 0.37.8 raises there). The raw URL stays
  readable as ``book.api.FullName`` (Windows) or ``book.api.properties()[k.full_name]`` (Mac), as in Excel.
  Each look-up is fresh, as in the new Python process every RunPython starts.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

MAX_ROWS = 1048576
OPEN_BOOKS: list = []   # every Book made in this process, newest last (what xw.apps[pid].books would find)
APPS: list = []         # every App made in this process, newest last (xlwings' apps: the active one is last)
MAX_COLUMNS = 16384


@dataclass(frozen=True)
class CellError:
    """An Excel error value in a cell, such as #N/A."""

    code: str


@dataclass(frozen=True)
class Formula:
    """What Excel makes of a text that starts like a formula; ``value`` is its result (None: never calculated
    here, the stand-in does not calculate)."""

    text: str
    value: object = None


def column_number(letters: str) -> int:
    number = 0
    for char in letters.upper():
        number = number * 26 + ord(char) - ord("A") + 1
    return number


def column_letters(number: int) -> str:
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


_CELL = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d+)$")
_COLUMN = re.compile(r"^\$?([A-Za-z]{1,3})$")


def _parse_address(text: str) -> tuple[int, int, int, int]:
    parts = text.split("!")[-1].split(":")
    if len(parts) == 2 and all(_COLUMN.match(p) for p in parts):  # "B:B"
        left, right = (column_number(_COLUMN.match(p).group(1)) for p in parts)
        return 1, left, MAX_ROWS, right
    corners = []
    for part in parts:
        match = _CELL.match(part)
        if not match:
            raise ValueError(f"not an address: {text!r}")
        corners.append((int(match.group(2)), column_number(match.group(1))))
    (top, left), (bottom, right) = corners[0], corners[-1]
    return top, left, bottom, right


class App:
    """``platform`` is "win" or "mac": which ``.api`` the ranges answer (COM or AppleScript).
    ``answers`` are what the analyst clicks in Yes/No alerts, in order ("no" when none is left)."""

    def __init__(self, platform: str = "win") -> None:
        self._status_bar: str | bool = False
        self.status_bar_history: list[str | bool] = []
        self.alerts: list[dict] = []
        self.screen_updating = True
        self.platform = platform
        self.answers: list[str] = []
        self.address_limit: int | None = None   # cut multi-area Address texts to this many characters
        self.pid = 4242                          # xw.apps[pid] finds this Excel from another process
        self.hwnd = 4242 + len(APPS)             # what --hwnd= names on Windows
        self.books = _AppBooks()                 # app.books.active: the workbook the analyst is in
        APPS.append(self)

    @property
    def status_bar(self) -> str | bool:
        return self._status_bar

    @status_bar.setter
    def status_bar(self, value: str | bool) -> None:
        self._status_bar = value
        self.status_bar_history.append(value)

    def alert(self, prompt, title=None, buttons="ok", mode=None, callback=None):
        # status_bar: what the analyst sees at the bottom while the alert waits for its button
        self.alerts.append({"prompt": prompt, "title": title, "buttons": buttons, "mode": mode,
                            "status_bar": self._status_bar})
        if buttons == "yes_no":
            return self.answers.pop(0) if self.answers else "no"
        return "ok"


class _AppBooks:
    """app.books: the workbooks open in this Excel, as xlwings lists them (Excel leaves add-ins out), and the
    active one (the newest opened, or the one a test makes active; never an add-in)."""

    def __init__(self) -> None:
        self.active = None
        self._all: list = []

    def _open(self, book: "Book") -> None:
        self._all.append(book)
        if not book.addin:
            self.active = book

    def __iter__(self):
        return iter([book for book in self._all if not book.addin and not book.closed])

    def __len__(self) -> int:
        return len(list(iter(self)))

    def __getitem__(self, key):
        """By position among the listed books, or by name as COM's Workbooks(name) finds it: an add-in too."""
        if isinstance(key, int):
            return list(self)[key]
        for book in self._all:
            if book.name.lower() == str(key).lower() and not book.closed:
                return book
        raise KeyError(key)   # pywintypes.com_error in xlwings


def runpython_argv(book: "Book") -> list[str]:
    """The arguments xlwings' VBA puts after RunPython's command for ``book``, the workbook it names."""
    return ["-c", f"--wb={book.name}", "--from_xl=1", "--app=Microsoft Excel", f"--hwnd={book.app.hwnd}"]


class Book:
    def __init__(self, name: str = "GreenApi.xlsm", app: App | None = None, *, fullname: str | None = None,
                 addin: bool | None = None) -> None:
        self.name = name
        self.fullname = name if fullname is None else fullname
        self.addin = name.lower().endswith(".xlam") if addin is None else addin
        self.app = app or App()
        self.sheets = Sheets(self)
        self.reads: list[str] = []    # address of every value read
        self.writes: list[str] = []   # address of every value write
        self.format_writes: list[tuple[str, str]] = []
        self.structure_changes: list[str] = []   # sheets added, panes frozen, filters switched on, ...
        self._selection: tuple[str, tuple[int, int, int, int]] | None = None
        # Called with each Range before a value write: the analyst's doing meanwhile (typing into cells,
        # sitting in edit mode: raise CallRejected, as COM does then). None: Excel just takes the write.
        self.before_write = None
        self.closed = False
        OPEN_BOOKS.append(self)
        self.app.books._open(self)

    @classmethod
    def caller(cls) -> "Book":
        """xlwings' Book.caller() for RunPython (main.py): the ``--wb=`` name in sys.argv, found on Windows by
        COM (an add-in too), on a Mac among the open workbooks of every Excel, else opened as a file."""
        name = from_xl = hwnd = None
        for arg in sys.argv:
            if arg.startswith("--wb="):
                name = arg.split("=", 1)[1].strip()
            elif arg.startswith("--from_xl"):
                from_xl = arg.split("=", 1)[1].strip()
            elif arg.startswith("--hwnd"):
                hwnd = arg.split("=", 1)[1].strip()
        if from_xl != "1" or name is None:
            raise Exception("Book.caller() must not be called directly. Call through Excel "
                            "or set a mock caller first with Book.set_mock_caller().")
        name = name.lower()
        windows = [app for app in APPS if app.platform == "win" and str(app.hwnd) == hwnd]
        if windows:
            return windows[-1].books[name]
        candidates = [book for app in APPS if app.platform == "mac" for book in app.books
                      if book.name.lower() == Path(name).name.lower()]
        if len(candidates) > 1:
            raise Exception(f"Workbook '{name}' is open in more than one Excel instance.")
        if not candidates:   # xlwings then opens the file: Books.open checks that it exists
            raise FileNotFoundError(f"No such file: '{name}'")
        return candidates[0]

    @property
    def fullname(self) -> str:
        """FullName as xlwings gives it: a local path, or a OneDrive/SharePoint URL mapped to the synced file."""
        if "://" not in self._fullname:
            return self._fullname
        from xlwings.utils import fullname_url_to_local_path

        suffix = "_WIN" if self.app.platform == "win" else "_MAC"
        config = self.conf_sheet_settings()
        # __wrapped__: without xlwings' lru_cache, as in the fresh process of each RunPython.
        return fullname_url_to_local_path.__wrapped__(
            url=self._fullname,
            sheet_onedrive_consumer_config=config.get("ONEDRIVE_CONSUMER" + suffix),
            sheet_onedrive_commercial_config=config.get("ONEDRIVE_COMMERCIAL" + suffix),
            sheet_sharepoint_config=config.get("SHAREPOINT" + suffix),
        )

    @fullname.setter
    def fullname(self, value: str) -> None:
        self._fullname = str(value)

    def conf_sheet_settings(self) -> dict:
        """The book's xlwings.conf sheet as xlwings' read_config_sheet gives it: A1:B down to the first empty key."""
        if "xlwings.conf" not in self.sheets:
            return {}
        cells = self.sheets["xlwings.conf"].cells
        settings, row = {}, 1
        while cells.get((row, 1)) not in (None, ""):
            settings[str(cells[(row, 1)])] = cells.get((row, 2))
            row += 1
        return settings

    @property
    def api(self):
        """The platform's workbook object: COM's FullName and Name (Windows), appscript's properties (Mac)."""
        return _WinBook(self) if self.app.platform == "win" else _MacBook(self)

    @classmethod
    def from_file(cls, path, app: App | None = None) -> "Book":
        """The book a file holds, as Excel opens it: its sheets in order, the stored values, each formula with
        its saved result, error values as errors; its active sheet active. Read with openpyxl."""
        import openpyxl

        path = Path(path)
        formulas = openpyxl.load_workbook(path, data_only=False)
        results = openpyxl.load_workbook(path, data_only=True)
        book = cls(path.name, app)
        book.fullname = str(path.resolve())
        for worksheet in formulas.worksheets:
            sheet = book.add_sheet(worksheet.title)
            saved = results[worksheet.title]
            for (row, column), cell in worksheet._cells.items():
                if cell.value is None:
                    continue
                if cell.data_type == "f":
                    result = saved.cell(row, column)
                    value = CellError(str(result.value)) if result.data_type == "e" else result.value
                    sheet.cells[(row, column)] = Formula(str(cell.value), value)
                elif cell.data_type == "e":
                    sheet.cells[(row, column)] = CellError(str(cell.value))
                else:
                    sheet.cells[(row, column)] = cell.value
        book.sheets._active = book.sheets[formulas.active.title]
        return book

    def add_sheet(self, name: str, rows: list[list] | None = None) -> "Sheet":
        sheet = Sheet(self, name)
        self.sheets._items.append(sheet)
        if self.sheets._active is None:
            self.sheets._active = sheet
        for r, row in enumerate(rows or [], start=1):
            for c, value in enumerate(row, start=1):
                if value is not None:
                    sheet.cells[(r, c)] = value
        return sheet

    def select(self, sheet: "Sheet", address: str) -> None:
        """Activate the sheet and select cells on it, as the user would."""
        self.sheets._active = sheet
        self._selection = (sheet.name, _parse_address(address))

    @property
    def selection(self) -> "Range | None":
        if self._selection is None:
            return None
        name, (top, left, bottom, right) = self._selection
        return Range(self.sheets[name], top, left, bottom, right)

    def value_calls(self) -> int:
        return len(self.reads) + len(self.writes)


class Sheets:
    def __init__(self, book: Book) -> None:
        self.book = book
        self._items: list[Sheet] = []
        self._active: Sheet | None = None

    def __getitem__(self, key):
        if isinstance(key, int):
            return self._items[key]
        for sheet in self._items:
            if sheet.name.lower() == str(key).lower():
                return sheet
        raise KeyError(key)  # xlwings raises a COM error; any exception will do here

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name) -> bool:
        return any(sheet.name.lower() == str(name).lower() for sheet in self._items)

    @property
    def active(self) -> "Sheet":
        return self._active

    def add(self, name=None, before=None, after=None) -> "Sheet":
        self.book.structure_changes.append(f"add {name}")
        return self.book.add_sheet(name or f"Sheet{len(self._items) + 1}")


class Sheet:
    def __init__(self, book: Book, name: str) -> None:
        self.book = book
        self.name = name
        self.cells: dict[tuple[int, int], object] = {}   # (row, column) -> stored value
        self.number_formats: dict[tuple[int, int], str] = {}
        self.hidden_rows: set[int] = set()              # rows a filter (or the analyst) hides
        self.column_widths: dict[int, float] = {}
        self.bold: set[str] = set()
        self.frozen: str | None = None
        self.autofilter_on = False
        self.conditional_formats: list[dict] = []

    def activate(self) -> None:
        self.book.sheets._active = self

    @property
    def freeze_panes(self) -> "_FreezePanes":
        return _FreezePanes(self)

    @property
    def api(self):
        return _WinSheet(self) if self.book.app.platform == "win" else _MacSheet(self)

    def range(self, first, last=None) -> "Range":
        if isinstance(first, str) and last is None:
            return Range(self, *_parse_address(first))
        top, left = first if isinstance(first, tuple) else _parse_address(first)[:2]
        if last is None:
            return Range(self, top, left, top, left)
        bottom, right = last if isinstance(last, tuple) else _parse_address(last)[2:]
        return Range(self, min(top, bottom), min(left, right), max(top, bottom), max(left, right))

    def __getitem__(self, address: str) -> "Range":
        return self.range(address)

    @property
    def used_range(self) -> "Range":
        if not self.cells:
            return Range(self, 1, 1, 1, 1)
        rows = [r for r, _ in self.cells]
        cols = [c for _, c in self.cells]
        return Range(self, min(rows), min(cols), max(rows), max(cols))

    def stored(self, address: str):
        """The raw stored value of one cell (a Formula, a CellError, text, ...), for assertions."""
        top, left, _, _ = _parse_address(address)
        return self.cells.get((top, left))

    def formulas(self) -> dict[tuple[int, int], Formula]:
        return {key: value for key, value in self.cells.items() if isinstance(value, Formula)}


class Range:
    def __init__(self, sheet: Sheet, top: int, left: int, bottom: int, right: int, options: dict | None = None):
        if not (1 <= top <= bottom <= MAX_ROWS and 1 <= left <= right <= MAX_COLUMNS):
            raise ValueError(f"bad range {top},{left}:{bottom},{right}")
        self.sheet = sheet
        self.row, self.column = top, left
        self._bottom, self._right = bottom, right
        self._options = options or {}

    # --- geometry (no value traffic) ---
    @property
    def shape(self) -> tuple[int, int]:
        return (self._bottom - self.row + 1, self._right - self.column + 1)

    @property
    def count(self) -> int:
        rows, cols = self.shape
        return rows * cols

    @property
    def last_cell(self) -> "Range":
        return Range(self.sheet, self._bottom, self._right, self._bottom, self._right)

    @property
    def address(self) -> str:
        first = f"${column_letters(self.column)}${self.row}"
        if self.count == 1:
            return first
        return f"{first}:${column_letters(self._right)}${self._bottom}"

    def options(self, convert=None, **options) -> "Range":
        if convert is not None:
            raise NotImplementedError("the stand-in knows only the default converter")
        unknown = set(options) - {"ndim", "err_to_str", "empty", "dates", "numbers", "chunksize"}
        if unknown:
            raise TypeError(f"unknown options {unknown}")
        return Range(self.sheet, self.row, self.column, self._bottom, self._right, {**self._options, **options})

    # --- values ---
    @property
    def value(self):
        self.sheet.book.reads.append(f"{self.sheet.name}!{self.address}")
        rows = [
            [self._read_one(self.sheet.cells.get((r, c))) for c in range(self.column, self._right + 1)]
            for r in range(self.row, self._bottom + 1)
        ]
        if self._options.get("ndim") == 2:
            return rows
        n_rows, n_cols = self.shape
        if n_rows == 1 and n_cols == 1:
            return rows[0][0]
        if n_rows == 1:
            return rows[0]
        if n_cols == 1:
            return [row[0] for row in rows]
        return rows

    def _read_one(self, stored):
        if isinstance(stored, Formula):
            return self._read_one(stored.value)   # Range.value gives a formula's result
        if isinstance(stored, CellError):
            return stored.code if self._options.get("err_to_str") else None
        if stored is None or stored == "":
            return self._options.get("empty")
        if isinstance(stored, bool):
            return stored
        if isinstance(stored, (int, float)):
            return float(stored)
        if isinstance(stored, datetime):
            return stored
        if isinstance(stored, date):
            return datetime(stored.year, stored.month, stored.day)
        return stored

    @value.setter
    def value(self, data) -> None:
        book = self.sheet.book
        if book.closed:
            raise BookClosed()
        if book.before_write is not None:
            book.before_write(self)
        book.writes.append(f"{self.sheet.name}!{self.address}")
        if isinstance(data, (list, tuple)):
            rows = data if data and isinstance(data[0], (list, tuple)) else [data]
        else:
            rows = [[data]]
        for r, row in enumerate(rows, start=self.row):
            for c, item in enumerate(row, start=self.column):
                self._write_one(r, c, item)

    def _write_one(self, row: int, column: int, item) -> None:
        key = (row, column)
        if item is None or item == "":
            self.sheet.cells.pop(key, None)
        elif isinstance(item, str) and item.startswith("'"):
            self.sheet.cells[key] = item[1:]
        elif isinstance(item, str) and item[:1] in ("=", "+", "-", "@"):
            self.sheet.cells[key] = Formula(item)
        elif isinstance(item, (str, bool, int, float, datetime, date)):
            self.sheet.cells[key] = item
        else:
            raise TypeError(f"Excel cannot hold a {type(item).__name__}")

    # --- the platform object (.api): only what addin.py uses ---
    @property
    def api(self):
        return _WinRange(self) if self.sheet.book.app.platform == "win" else _MacRange(self)

    def visible_areas(self) -> list[tuple[int, int]]:
        """(top, bottom) runs of visible rows, as SpecialCells(xlCellTypeVisible) gives them. Like Excel, a
        query on one cell searches the sheet's whole used range instead."""
        top, bottom = self.row, self._bottom
        if self.count == 1:
            used = self.sheet.used_range
            top, bottom = used.row, used._bottom
        runs: list[tuple[int, int]] = []
        for row in range(top, bottom + 1):
            if row in self.sheet.hidden_rows:
                continue
            if runs and runs[-1][1] == row - 1:
                runs[-1] = (runs[-1][0], row)
            else:
                runs.append((row, row))
        return runs

    def areas_address(self, runs) -> str:
        left, right = column_letters(self.column), column_letters(self._right)
        parts = []
        for top, bottom in runs:
            first = f"${left}${top}"
            parts.append(first if (top, left) == (bottom, right) else f"{first}:${right}${bottom}")
        return ",".join(parts)

    @property
    def font(self) -> "_Font":
        return _Font(self)

    @property
    def column_width(self) -> float | None:
        return self.sheet.column_widths.get(self.column)

    @column_width.setter
    def column_width(self, value: float) -> None:
        self.sheet.book.format_writes.append((f"{self.sheet.name}!{self.address}", f"width {value}"))
        for column in range(self.column, self._right + 1):
            self.sheet.column_widths[column] = value

    @property
    def conditional_formats(self) -> "_ConditionalFormats":
        return _ConditionalFormats(self)

    # --- formats ---
    @property
    def number_format(self) -> str:
        return self.sheet.number_formats.get((self.row, self.column), "General")

    @number_format.setter
    def number_format(self, value: str) -> None:
        self.sheet.book.format_writes.append((f"{self.sheet.name}!{self.address}", value))
        # Remember the format for the range's corners only: enough for assertions, cheap for whole columns.
        for key in {(self.row, self.column), (self._bottom, self._right)}:
            self.sheet.number_formats[key] = value


# --- what addin.py reaches through .api and the formatting objects -------------------------------------


class CallRejected(Exception):
    """What COM raises while the analyst edits a cell: pywintypes.com_error with RPC_E_CALL_REJECTED."""

    hresult = -2147418111   # 0x80010001, as pywintypes gives it (signed)

    def __init__(self, *args) -> None:
        super().__init__(*(args or (self.hresult, "Call was rejected by callee.", None, None)))


class BookClosed(Exception):
    """What COM raises on a range of a book the analyst closed: RPC_E_DISCONNECTED, no retry helps."""

    hresult = -2147417848   # 0x80010108

    def __init__(self, *args) -> None:
        super().__init__(*(args or (self.hresult, "The object invoked has disconnected from its clients.",
                                    None, None)))


class NoCellsFound(Exception):
    """What COM raises when SpecialCells finds nothing (pywintypes.com_error's text carries the words)."""

    def __init__(self) -> None:
        super().__init__(-2146827284, "Exception occurred.", (0, "Microsoft Excel", "No cells were found.", None, 0,
                                                              -2146827284), None)


class _WinBook:
    """Book.api on Windows (COM's Workbook): FullName as Excel has it, a URL for a book on OneDrive."""

    def __init__(self, book: "Book") -> None:
        self.FullName = book._fullname
        self.Name = book.name


class _MacBook:
    """Book.api on a Mac (an appscript reference): properties() keyed by k.full_name and k.name."""

    def __init__(self, book: "Book") -> None:
        self._book = book

    def properties(self) -> dict:
        return {Keyword("full_name"): self._book._fullname, Keyword("name"): self._book.name}


class _WinArea:
    def __init__(self, address: str) -> None:
        self.Address = address


class _WinAreas:
    def __init__(self, addresses: list[str]) -> None:
        self._addresses = addresses
        self.Count = len(addresses)

    def Item(self, index: int) -> _WinArea:
        return _WinArea(self._addresses[index - 1])


class _WinVisible:
    def __init__(self, rng: "Range", runs) -> None:
        full = rng.areas_address(runs)
        limit = rng.sheet.book.app.address_limit
        self.Address = full[:limit] if limit else full
        self.Areas = _WinAreas([rng.areas_address([run]) for run in runs])
        self.Count = sum(bottom - top + 1 for top, bottom in runs) * rng.shape[1]


class _WinRange:
    """Range.api on Windows (COM): SpecialCells and AutoFilter."""

    def __init__(self, rng: "Range") -> None:
        self._range = rng

    def SpecialCells(self, cell_type: int) -> _WinVisible:
        if cell_type != 12:
            raise NotImplementedError("the stand-in knows only xlCellTypeVisible (12)")
        rng = self._range
        rng.sheet.book.reads.append(f"{rng.sheet.name}!{rng.address} visible")
        runs = rng.visible_areas()
        if not runs:
            raise NoCellsFound()
        return _WinVisible(rng, runs)

    def AutoFilter(self, *args, **kwargs) -> None:
        sheet = self._range.sheet
        sheet.autofilter_on = not sheet.autofilter_on   # with no arguments Excel toggles the buttons
        sheet.book.structure_changes.append(f"autofilter {sheet.name}!{self._range.address}")


class _WinSheet:
    def __init__(self, sheet: "Sheet") -> None:
        self._sheet = sheet

    @property
    def AutoFilterMode(self) -> bool:
        return self._sheet.autofilter_on


class Keyword:
    """appscript's k.something."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other) -> bool:
        return isinstance(other, Keyword) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


class _Keywords:
    def __getattr__(self, name: str) -> Keyword:
        return Keyword(name)


class CommandError(Exception):
    """appscript.reference.CommandError: ``errornumber`` -50 when special cells finds nothing."""

    def __init__(self, errornumber: int) -> None:
        super().__init__(f"Command failed: OSERROR: {errornumber}")
        self.errornumber = errornumber


def fake_appscript():
    """Modules standing in for appscript and appscript.reference (Excel for Mac's scripting bridge)."""
    import types

    module = types.ModuleType("appscript")
    module.k = _Keywords()
    reference = types.ModuleType("appscript.reference")
    reference.CommandError = CommandError
    module.reference = reference
    return module, reference


class _MacReference:
    def __init__(self, rng: "Range", runs) -> None:
        self._range, self._runs = rng, runs

    def get_address(self) -> str:
        return self._range.areas_address(self._runs)


class _MacRange:
    """Range.api on a Mac (an appscript reference): special_cells(type=k.cell_type_visible)."""

    def __init__(self, rng: "Range") -> None:
        self._range = rng

    def special_cells(self, type) -> _MacReference:
        if type != Keyword("cell_type_visible"):
            raise NotImplementedError("the stand-in knows only k.cell_type_visible")
        rng = self._range
        rng.sheet.book.reads.append(f"{rng.sheet.name}!{rng.address} visible")
        runs = rng.visible_areas()
        if not runs:
            raise CommandError(-50)
        return _MacReference(rng, runs)

    def autofilter_range(self, field=None, **criteria) -> None:
        sheet = self._range.sheet
        sheet.autofilter_on = True
        sheet.book.structure_changes.append(f"autofilter {sheet.name}!{self._range.address}")


class _MacProperty:
    def __init__(self, value) -> None:
        self._value = value

    def get(self):
        return self._value


class _MacSheet:
    def __init__(self, sheet: "Sheet") -> None:
        self._sheet = sheet

    @property
    def autofilter_mode(self) -> _MacProperty:
        return _MacProperty(self._sheet.autofilter_on)


class _FreezePanes:
    def __init__(self, sheet: "Sheet") -> None:
        self._sheet = sheet

    def freeze_at(self, frozen_range: str) -> None:
        self._sheet.frozen = frozen_range
        self._sheet.book.structure_changes.append(f"freeze {self._sheet.name}!{frozen_range}")


class _Font:
    def __init__(self, rng: "Range") -> None:
        self._range = rng

    @property
    def bold(self) -> bool:
        return self._range.address in self._range.sheet.bold

    @bold.setter
    def bold(self, value: bool) -> None:
        self._range.sheet.book.format_writes.append((f"{self._range.sheet.name}!{self._range.address}", "bold"))
        (self._range.sheet.bold.add if value else self._range.sheet.bold.discard)(self._range.address)


class _Rule(dict):
    """A rule as the stand-in keeps it; ``impl.api`` is Excel's FormatCondition on Windows (COM: its Font's
    Strikethrough is recorded in the rule), and absent on a Mac, as with xlwings' own rule objects."""

    platform = "win"

    @property
    def impl(self):
        rule = self

        class _Font:
            def __setattr__(self, name, value):
                if name == "Strikethrough":
                    rule["strikethrough"] = bool(value)

        class _Api:
            Font = _Font()

        class _Impl:
            @property
            def api(self):
                if rule.platform != "win":
                    raise AttributeError("api")
                return _Api()

        return _Impl()


class _ConditionalFormats:
    """Range.conditional_formats (xlwings 0.37.5+): the rules are kept on the sheet, for assertions. The
    arguments are checked by xlwings' own validators, so a rule the stand-in takes is one xlwings takes."""

    def __init__(self, rng: "Range") -> None:
        self._range = rng

    def _add(self, kind: str, **spec) -> dict:
        from xlwings import main

        style = {k: spec.get(k) for k in ("fill_color", "font_color", "font_bold", "font_italic")}
        main._add_conditional_format_creation_style({}, **style)
        rule = _Rule({"range": self._range.address, "kind": kind, **spec})
        rule.platform = self._range.sheet.book.app.platform
        self._range.sheet.conditional_formats.append(rule)
        self._range.sheet.book.format_writes.append((f"{self._range.sheet.name}!{self._range.address}", kind))
        return rule

    def clear(self) -> None:
        sheet = self._range.sheet
        sheet.conditional_formats = [r for r in sheet.conditional_formats
                                     if not _inside(r["range"], self._range)]

    def add_custom(self, formula: str, *, stop_if_true: bool = False, **style) -> dict:
        from xlwings import main

        main._conditional_format_formula(formula)
        return self._add("custom", formula=formula, stop_if_true=stop_if_true, **style)

    def add_cell_value(self, operator: str, formula1, formula2=None, *, stop_if_true: bool = False, **style) -> dict:
        from xlwings import main

        operator = main._conditional_format_operator(operator)
        first = main._conditional_format_value(formula1, "formula1")
        second = None if formula2 is None else main._conditional_format_value(formula2, "formula2")
        main._validate_cell_value_rule(operator, first, second)
        return self._add("cell_value", operator=operator, formula1=formula1, formula2=formula2, **style)

    def add_color_scale(self, colors, *, thresholds=None, threshold_type="number") -> dict:
        from xlwings import main

        colors = main._conditional_format_colors(colors)
        main._conditional_format_threshold_type(threshold_type)
        if thresholds is not None and (len(thresholds) != len(colors) or list(thresholds) != sorted(set(thresholds))):
            raise ValueError("thresholds must match the colors and be strictly increasing")
        return self._add("color_scale", colors=list(colors), thresholds=thresholds, threshold_type=threshold_type)


def _inside(address: str, rng: "Range") -> bool:
    top, left, bottom, right = _parse_address(address)
    return rng.row <= top and bottom <= rng._bottom and rng.column <= left and right <= rng._right

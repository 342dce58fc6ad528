"""A stand-in of the ``xlwings`` package as xlwings Lite runs it, for tests in real Pyodide.

Written from Lite's documentation, not from its code (assumptions are marked and listed in docs/LITE.md):

- Scripts: https://lite.xlwings.org/custom-scripts - ``@script`` on a function whose first argument is
  annotated ``xw.Book``; ``@script(button="[shape name]Sheet1!B3")`` runs it when the shape, which links to
  that cell, is clicked; ``include=`` / ``exclude=`` limit which sheets are sent to Python.
- Functions: https://lite.xlwings.org/custom-functions - ``@func``; a single cell arrives as a float, int, bool
  or str, a one-dimensional range as a list, a two-dimensional range as a list of lists; ``@arg`` / ``@ret``
  carry converter options.
- Reads and writes: https://lite.xlwings.org/async-api - a sync ``Book`` holds every value as it was when
  the script started ("reads can be outdated": ``await book.load()`` refreshes them); writes are queued and
  applied when the script ends, or at ``await book.flush()``.
- Environment variables: https://lite.xlwings.org/environment-variables - ``os.getenv`` sees them; Local scope
  overrides Workbook scope.
- The object model beyond values, as xlwings' own API documents it for Lite (the docstrings of xlwings 0.37.8's
  ``Range`` and ``Sheet``): ``await rng.get_special_cells("visible")`` (the visible areas, each a ``Range``),
  ``Sheet.visible``, ``sheets.add(name, before=, after=)``, ``Sheet.activate()``, ``Range.number_format`` and
  ``Range.font.bold`` (queued like values), ``Range.column_width`` (written; reading it synchronously raises
  NotImplementedError in Lite: ``await rng.get_column_width()``).

The workbook itself is ``lite_addin.Excel`` (beside this package): the add-in's side, which runs a book's
main.py, its scripts and functions, and which the tests inspect.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Callable

__version__ = "0.33.20-standin"   # what Lite's new workbooks pin (changelog 1.0.0.0-24), marked as ours

# What main.py registers: the add-in reads these after running it (name -> function with its options).
SCRIPTS: dict[str, Callable] = {}
FUNCTIONS: dict[str, Callable] = {}


class XlwingsError(Exception):
    pass


# --- addresses ---------------------------------------------------------------------------------------

_CELL = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d+)$")


def column_number(letters: str) -> int:
    number = 0
    for char in letters.upper():
        number = number * 26 + ord(char) - 64
    return number


def column_letters(number: int) -> str:
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def parse_cell(text: str) -> tuple[int, int]:
    found = _CELL.match(text.strip())
    if not found:
        raise XlwingsError(f"not a cell address: {text!r}")
    return int(found.group(2)), column_number(found.group(1))


def parse_area(text: str) -> tuple[tuple[int, int], tuple[int, int]]:
    first, _, last = text.partition(":")
    top_left = parse_cell(first)
    bottom_right = parse_cell(last) if last else top_left
    return top_left, bottom_right


def excel_value(value: Any) -> Any:
    """A value as Excel keeps it: numbers are doubles, text stays text, an empty string is an empty cell."""
    if isinstance(value, bool) or value is None or isinstance(value, str) and value != "":
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if value == "":
        return None
    return value


# --- the object model ------------------------------------------------------------------------------

class App:
    def __init__(self, book: "Book"):
        self._book = book

    def alert(self, prompt: str, title: str | None = None, buttons: str = "ok", mode: str | None = None,
              callback: str | None = None) -> None:
        """Queued like a write: the analyst sees it when the actions run (flush or the script's end).
        ``callback`` is the name of a script Lite runs with the button pressed (assumption: not used here)."""
        self._book._queue(("alert", {"prompt": str(prompt), "title": title or "", "buttons": buttons, "mode": mode}))


class Book:
    """The active workbook as a script sees it: values from when the script started, writes queued."""

    def __init__(self, excel, *, include: list[str] | None = None, exclude: list[str] | None = None):
        self._excel = excel
        self._include, self._exclude = include, exclude
        self._actions: list[tuple[str, Any]] = []
        self._snapshot: dict[str, dict[tuple[int, int], Any]] = {}
        self.app = App(self)
        self._take_snapshot()

    def _take_snapshot(self) -> None:
        self._snapshot = {name: dict(cells) for name, cells in self._excel.sheets.items() if self._sent(name)}

    def _sent(self, sheet_name: str) -> bool:
        if self._include is not None:
            return sheet_name in self._include
        return self._exclude is None or sheet_name not in self._exclude

    def _queue(self, action: tuple[str, Any]) -> None:
        self._actions.append(action)

    @property
    def name(self) -> str:
        return self._excel.name

    @property
    def sheets(self) -> "Sheets":
        return Sheets(self)

    @property
    def selection(self) -> "Range | None":
        sheet_name, address = self._excel.selection
        return self.sheets[sheet_name][address]

    async def flush(self) -> None:
        """Apply every queued write (and alert) now; reads still show the state of the script's start."""
        self._excel.apply(self._actions)
        self._actions = []
        await asyncio.sleep(0)

    async def load(self) -> "Book":
        """Read the workbook again: later reads see what was flushed or typed since."""
        self._take_snapshot()
        return self

    def _end_of_script(self, succeeded: bool) -> None:
        # Assumption (docs silent): a script that raises shows its error and its unflushed writes are dropped.
        if succeeded:
            self._excel.apply(self._actions)
        self._actions = []


class BookAsync(Book):
    """``book: xw.BookAsync`` (async API): no values up front; ``await rng.get_value()`` reads live."""


class Sheets:
    def __init__(self, book: Book):
        self._book = book

    def _names(self) -> list[str]:
        return [name for name in self._book._excel.sheets if name in self._book._snapshot]

    def __getitem__(self, key) -> "Sheet":
        names = self._names()
        if isinstance(key, int):
            return Sheet(self._book, names[key])
        for name in names:
            if name.lower() == str(key).lower():   # Excel's sheet names ignore case
                return Sheet(self._book, name)
        raise KeyError(key)

    def __iter__(self):
        return (Sheet(self._book, name) for name in self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __contains__(self, name: str) -> bool:
        return any(n.lower() == str(name).lower() for n in self._names())

    @property
    def active(self) -> "Sheet":
        return Sheet(self._book, self._book._excel.active)

    def add(self, name: str | None = None, before: "Sheet | None" = None, after: "Sheet | None" = None) -> "Sheet":
        name = name or f"Sheet{len(self) + 1}"
        if name in self:
            raise XlwingsError(f"a sheet named {name!r} exists already")
        self._book._queue(("add_sheet", name))
        self._book._snapshot.setdefault(name, {})
        return Sheet(self._book, name)


class Sheet:
    def __init__(self, book: Book, name: str):
        self.book = book
        self.name = name

    def __getitem__(self, address: str) -> "Range":
        return self.range(address)

    def range(self, first, last=None) -> "Range":
        if isinstance(first, tuple):
            top_left = first
            bottom_right = last if isinstance(last, tuple) else top_left
        else:
            top_left, bottom_right = parse_area(first)
        return Range(self, top_left, bottom_right)

    def cells(self, row: int, column: int) -> "Range":
        return Range(self, (row, column), (row, column))

    @property
    def visible(self) -> bool:
        return self.name not in self.book._excel.hidden_sheets

    @visible.setter
    def visible(self, value: bool) -> None:
        self.book._queue(("visible", (self.name, bool(value))))

    def activate(self) -> None:
        self.book._queue(("activate", self.name))

    def _cells(self) -> dict[tuple[int, int], Any]:
        return self.book._snapshot.get(self.name, {})

    @property
    def used_range(self) -> "Range":
        cells = [key for key, value in self._cells().items() if value is not None]
        if not cells:
            return Range(self, (1, 1), (1, 1))
        return Range(self, (1, 1), (max(r for r, _ in cells), max(c for _, c in cells)))


class Range:
    def __init__(self, sheet: Sheet, top_left: tuple[int, int], bottom_right: tuple[int, int], options=None):
        self.sheet = sheet
        self.row, self.column = top_left
        self.last_row, self.last_column = bottom_right
        self._options = options or {}

    @property
    def shape(self) -> tuple[int, int]:
        return self.last_row - self.row + 1, self.last_column - self.column + 1

    @property
    def address(self) -> str:
        first = f"${column_letters(self.column)}${self.row}"
        last = f"${column_letters(self.last_column)}${self.last_row}"
        return first if first == last else f"{first}:{last}"

    def options(self, **options) -> "Range":
        return Range(self.sheet, (self.row, self.column), (self.last_row, self.last_column), options)

    def resize(self, rows: int | None = None, columns: int | None = None) -> "Range":
        rows = rows or self.shape[0]
        columns = columns or self.shape[1]
        return Range(self.sheet, (self.row, self.column), (self.row + rows - 1, self.column + columns - 1))

    def offset(self, rows: int = 0, columns: int = 0) -> "Range":
        return Range(self.sheet, (self.row + rows, self.column + columns),
                     (self.last_row + rows, self.last_column + columns))

    def __getitem__(self, address: str) -> "Range":
        (r1, c1), (r2, c2) = parse_area(address)
        return Range(self.sheet, (self.row + r1 - 1, self.column + c1 - 1), (self.row + r2 - 1, self.column + c2 - 1))

    def _grid(self) -> list[list[Any]]:
        if isinstance(self.sheet.book, BookAsync):
            raise XlwingsError("an async book loads no values: use 'await rng.get_value()'")
        cells = self.sheet._cells()
        return [[cells.get((r, c)) for c in range(self.column, self.last_column + 1)]
                for r in range(self.row, self.last_row + 1)]

    def _shaped(self, grid: list[list[Any]]) -> Any:
        if self._options.get("numbers") is int:
            grid = [[int(v) if isinstance(v, float) else v for v in row] for row in grid]
        ndim = self._options.get("ndim")
        if ndim == 2:
            return grid
        rows, columns = self.shape
        if ndim is None and rows == columns == 1:
            return grid[0][0]
        if ndim == 1 or rows == 1 or columns == 1:
            return [value for row in grid for value in row]
        return grid

    @property
    def value(self) -> Any:
        return self._shaped(self._grid())

    @value.setter
    def value(self, value: Any) -> None:
        if not isinstance(value, (list, tuple)):
            grid = [[value]]
        elif value and isinstance(value[0], (list, tuple)):
            grid = [list(row) for row in value]
        else:
            grid = [list(value)]     # a flat list is one row
        self.sheet.book._queue(("set", (self.sheet.name, self.row, self.column, grid)))

    async def get_value(self) -> Any:
        """Async API: the live value, read when asked."""
        cells = self.sheet.book._excel.sheets.get(self.sheet.name, {})
        return self._shaped([[cells.get((r, c)) for c in range(self.column, self.last_column + 1)]
                             for r in range(self.row, self.last_row + 1)])

    @property
    def last_cell(self) -> "Range":
        return Range(self.sheet, (self.last_row, self.last_column), (self.last_row, self.last_column))

    async def get_special_cells(self, cell_type: str, value_type: str | None = None) -> list["Range"]:
        """Only "visible" (what GreenApi asks): the areas of this range in rows the sheet does not hide, read
        live; one area per run of visible rows."""
        if cell_type != "visible":
            raise XlwingsError("the stand-in knows only get_special_cells('visible')")
        hidden = self.sheet.book._excel.hidden_rows.get(self.sheet.name, set())
        areas, top = [], None
        for row in range(self.row, self.last_row + 2):
            if row <= self.last_row and row not in hidden:
                top = row if top is None else top
            elif top is not None:
                areas.append(Range(self.sheet, (top, self.column), (row - 1, self.last_column)))
                top = None
        return areas

    @property
    def number_format(self) -> str:
        raise NotImplementedError("use 'await rng.get_number_format()'")

    @number_format.setter
    def number_format(self, value: str) -> None:
        self.sheet.book._queue(("format", (self.sheet.name, self.address, "number_format", value)))

    @property
    def font(self) -> "Font":
        return Font(self)

    @property
    def column_width(self) -> float:
        raise NotImplementedError("Reading the column width synchronously isn't supported on this engine. "
                                  "Use 'await myrange.get_column_width()' to fetch it on demand.")

    @column_width.setter
    def column_width(self, value: float) -> None:
        self.sheet.book._queue(("format", (self.sheet.name, self.address, "column_width", value)))

    def clear_contents(self) -> None:
        rows, columns = self.shape
        self.sheet.book._queue(("set", (self.sheet.name, self.row, self.column, [[None] * columns] * rows)))


class Font:
    def __init__(self, rng: Range):
        self._range = rng

    @property
    def bold(self) -> bool:
        raise NotImplementedError("use the async API")

    @bold.setter
    def bold(self, value: bool) -> None:
        self._range.sheet.book._queue(("format", (self._range.sheet.name, self._range.address, "bold", value)))


# --- decorators ------------------------------------------------------------------------------------

def script(f: Callable | None = None, *, name: str | None = None, include=None, exclude=None,
           button: str | None = None, show_taskpane: bool | None = None, required_roles=None, **kwargs):
    """Registers a script. ``button="[shape name]Sheet!A1"``: the shape links to that cell."""
    if button is not None and not re.match(r"^\[[^\]]+\][^!]+![A-Za-z]{1,3}\d+$", button):
        raise XlwingsError(f"button must look like [shape name]Sheet1!B3, got {button!r}")

    def register(function: Callable) -> Callable:
        function.__xlwings_script__ = {"name": name or function.__name__, "button": button,
                                       "include": [include] if isinstance(include, str) else include,
                                       "exclude": [exclude] if isinstance(exclude, str) else exclude}
        SCRIPTS[function.__name__] = function
        return function

    return register(f) if f is not None else register


def func(f: Callable | None = None, *, namespace: str | None = None, volatile: bool = False, **kwargs):
    """Registers a custom function, called from a cell as =NAME(...) (upper case)."""

    def register(function: Callable) -> Callable:
        function.__xlwings_func__ = {"name": function.__name__.upper(), "namespace": namespace,
                                     "volatile": volatile, "args": getattr(function, "__xlwings_args__", {})}
        FUNCTIONS[function.__name__.upper()] = function
        return function

    return register(f) if f is not None else register


def arg(name: str, convert=None, **options):
    def mark(function: Callable) -> Callable:
        function.__dict__.setdefault("__xlwings_args__", {})[name] = {"convert": convert, **options}
        meta = getattr(function, "__xlwings_func__", None)
        if meta is not None:
            meta["args"] = function.__xlwings_args__
        return function

    return mark


def ret(convert=None, **options):
    def mark(function: Callable) -> Callable:
        function.__xlwings_ret__ = {"convert": convert, **options}
        return function

    return mark

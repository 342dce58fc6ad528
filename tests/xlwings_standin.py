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
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

MAX_ROWS = 1048576
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
    def __init__(self) -> None:
        self._status_bar: str | bool = False
        self.status_bar_history: list[str | bool] = []
        self.alerts: list[dict] = []
        self.screen_updating = True

    @property
    def status_bar(self) -> str | bool:
        return self._status_bar

    @status_bar.setter
    def status_bar(self, value: str | bool) -> None:
        self._status_bar = value
        self.status_bar_history.append(value)

    def alert(self, prompt, title=None, buttons="ok", mode=None, callback=None):
        self.alerts.append({"prompt": prompt, "title": title, "buttons": buttons, "mode": mode})
        return "ok"


class Book:
    def __init__(self, name: str = "GreenApi.xlsm", app: App | None = None) -> None:
        self.name = name
        self.fullname = name
        self.app = app or App()
        self.sheets = Sheets(self)
        self.reads: list[str] = []    # address of every value read
        self.writes: list[str] = []   # address of every value write
        self.format_writes: list[tuple[str, str]] = []
        self._selection: tuple[str, tuple[int, int, int, int]] | None = None

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


class Sheet:
    def __init__(self, book: Book, name: str) -> None:
        self.book = book
        self.name = name
        self.cells: dict[tuple[int, int], object] = {}   # (row, column) -> stored value
        self.number_formats: dict[tuple[int, int], str] = {}

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
        self.sheet.book.writes.append(f"{self.sheet.name}!{self.address}")
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

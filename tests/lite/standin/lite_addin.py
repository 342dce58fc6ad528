"""The add-in's side of the xlwings Lite stand-in: an in-memory workbook that runs a book's main.py.

``Excel`` is what the analyst has open: sheets of cells (``{(row, column): value}``), the selection, the alerts
shown, and the environment variables set in the add-in. ``excel.start(main_py)`` does what Lite does when a
book opens (https://lite.xlwings.org/environment-variables: variables take effect at a restart): it sets
``os.environ`` (Local scope over Workbook scope) and runs main.py, whose ``@script`` / ``@func`` register.
Then ``await excel.run_script(name)``, ``await excel.click(shape)`` (a sheet button:
https://lite.xlwings.org/custom-scripts) and ``await excel.call(function, ...)`` (a formula:
https://lite.xlwings.org/custom-functions) run them as the add-in would; ``excel.sheets`` and
``excel.alerts`` are what the analyst sees, ``excel.applied`` when each batch of writes reached the sheet.
"""

from __future__ import annotations

import inspect
import os
import sys
import time
import types
from typing import Any

import xlwings
from xlwings import Book, BookAsync, excel_value, parse_area, parse_cell


current: "Excel | None" = None     # the book whose main.py runs now (a test's main.py may look at it)


class Cells:
    """A formula's reference to cells (``=F(Chats!A2:A5)``): the add-in passes their values."""

    def __init__(self, sheet: str, address: str):
        self.sheet, self.address = sheet, address


class Excel:
    def __init__(self, sheets: dict[str, dict[str, Any]] | None = None, *, name: str = "GreenApi-Lite.xlsx",
                 local_environment: dict[str, str] | None = None, workbook_environment: dict[str, str] | None = None,
                 hidden_sheets=()):
        """``sheets``: sheet name -> {"A1": value, ...} (the first sheet is active, its A1 selected)."""
        self.name = name
        self.sheets: dict[str, dict[tuple[int, int], Any]] = {}
        for sheet, cells in (sheets or {"Sheet1": {}}).items():
            self.sheets[sheet] = {parse_cell(address): excel_value(value) for address, value in cells.items()}
        self.active = next(iter(self.sheets))
        self.selection = (self.active, "A1")
        self.local_environment = dict(local_environment or {})
        self.workbook_environment = dict(workbook_environment or {})
        self.alerts: list[dict] = []
        self.applied: list[tuple[float, int]] = []    # (time.monotonic(), how many actions) per batch applied
        self.module: types.ModuleType | None = None
        self.hidden_rows: dict[str, set[int]] = {}     # rows a filter (or the analyst) hides, by sheet
        self.hidden_sheets: set[str] = set(hidden_sheets or ())
        self.formats: dict[tuple[str, str, str], Any] = {}   # (sheet, address, "number_format"/"bold"/...) -> value

    # --- what the analyst sees -----------------------------------------------------------------------

    def value(self, sheet: str, address: str) -> Any:
        """One cell's value now (None: empty)."""
        return self.sheets[sheet].get(parse_cell(address))

    def values(self, sheet: str, area: str) -> list[list[Any]]:
        (r1, c1), (r2, c2) = parse_area(area)
        cells = self.sheets[sheet]
        return [[cells.get((r, c)) for c in range(c1, c2 + 1)] for r in range(r1, r2 + 1)]

    def type(self, sheet: str, address: str, value: Any) -> None:
        """The analyst types into a cell (while a script runs, too)."""
        self.sheets[sheet][parse_cell(address)] = excel_value(value)

    def hide_rows(self, sheet: str, rows) -> None:
        """A filter (or the analyst) hides these rows of ``sheet``."""
        self.hidden_rows.setdefault(sheet, set()).update(rows)

    def apply(self, actions: list[tuple[str, Any]]) -> None:
        """Queued actions reach Excel, in order (a flush, or a script's end)."""
        for kind, payload in actions:
            if kind == "set":
                sheet, row, column, grid = payload
                cells = self.sheets.setdefault(sheet, {})
                for r, line in enumerate(grid):
                    for c, value in enumerate(line):
                        cells[(row + r, column + c)] = excel_value(value)
            elif kind == "alert":
                self.alerts.append(payload)
            elif kind == "add_sheet":
                self.sheets.setdefault(payload, {})
            elif kind == "visible":
                sheet, visible = payload
                (self.hidden_sheets.discard if visible else self.hidden_sheets.add)(sheet)
            elif kind == "activate":
                self.active = payload
            elif kind == "format":
                sheet, address, what, value = payload
                self.formats[(sheet, address, what)] = value
        if actions:
            self.applied.append((time.monotonic(), len(actions)))

    # --- what the add-in does ---------------------------------------------------------------------

    def start(self, main_py: str) -> types.ModuleType:
        """Open the book: environment variables first, then main.py runs as the module ``main``."""
        for name in set(self.workbook_environment) | set(self.local_environment):
            os.environ.pop(name, None)
        os.environ.update(self.workbook_environment)
        os.environ.update(self.local_environment)     # Local scope overrides Workbook scope
        xlwings.SCRIPTS.clear()
        xlwings.FUNCTIONS.clear()
        global current
        current = self
        module = types.ModuleType("main")
        module.__file__ = "main.py"
        sys.modules["main"] = module
        exec(compile(main_py, "main.py", "exec"), module.__dict__)
        self.module = module
        return module

    @property
    def buttons(self) -> dict[str, tuple[str, str]]:
        """shape name -> (script name, "Sheet!A1" it links to), from the scripts' button= arguments."""
        found = {}
        for name, function in xlwings.SCRIPTS.items():
            button = function.__xlwings_script__["button"]
            if button:
                shape, target = button[1:].split("]", 1)
                found[shape] = (name, target)
        return found

    async def run_script(self, name: str, **arguments) -> Any:
        """Run a script as the task pane's Run button does; its unflushed writes are applied when it ends."""
        function = xlwings.SCRIPTS[name]
        options = function.__xlwings_script__
        first = next(iter(inspect.signature(function).parameters.values()))
        book_class = BookAsync if first.annotation in (BookAsync, "xw.BookAsync", "BookAsync") else Book
        book = book_class(self, include=options["include"], exclude=options["exclude"])
        try:
            result = function(book, **arguments)
            if inspect.isawaitable(result):
                result = await result
        except BaseException:
            book._end_of_script(succeeded=False)
            raise
        book._end_of_script(succeeded=True)
        return result

    async def click(self, shape: str) -> Any:
        """The analyst clicks a sheet button: its hyperlink selects the target cell, Lite runs the script."""
        name, target = self.buttons[shape]
        sheet, address = target.split("!")
        self.selection = (sheet, address)
        return await self.run_script(name)

    async def call(self, function_name: str, *arguments) -> Any:
        """A cell's formula =FUNCTION_NAME(...): Cells arrive as a value, a list (one row or column) or a list
        of lists; ``@arg(name, ndim=2)`` always gets a list of lists."""
        function = xlwings.FUNCTIONS[function_name.upper()]
        declared = function.__xlwings_func__["args"]
        names = list(inspect.signature(function).parameters)
        values = []
        for position, argument in enumerate(arguments):
            if isinstance(argument, Cells):
                grid = self.values(argument.sheet, argument.address)
                options = declared.get(names[position] if position < len(names) else "", {})
                if options.get("ndim") == 2:
                    argument = grid
                elif len(grid) == 1 and len(grid[0]) == 1:
                    argument = grid[0][0]
                elif len(grid) == 1 or all(len(row) == 1 for row in grid):
                    argument = [value for row in grid for value in row]
                else:
                    argument = grid
            values.append(argument)
        result = function(*values)
        if inspect.isawaitable(result):
            result = await result
        return result

"""Test-only: the ``xlwings`` a worker process imports in tests/test_background.py.

The worker (``addin.work``) attaches to "the running Excel" as it would with xlwings: ``xw.apps[pid]``,
``app.books[name]``, ``book.sheets[name].range(...)``. Here each of those is a proxy that sends the
operation over ``multiprocessing.managers`` to ``tests/excel_service.ExcelService`` in the test process,
which carries it out on the xlwings stand-in (tests/xlwings_standin.py) the test holds, so the test sees
every write as it comes and can answer as the analyst (typing, editing a cell: CallRejected). Errors the
stand-in raises arrive here as the same exceptions, as COM errors do through pywin32.

This folder is put first on the worker's PYTHONPATH by the test; production code has no hook for it.
"""

from __future__ import annotations

import os
from multiprocessing.managers import BaseManager

__version__ = "0.0-test"


class _Manager(BaseManager):
    pass


_Manager.register("excel")
_host, _port = os.environ["GREENAPI_TEST_EXCEL"].rsplit(":", 1)
_manager = _Manager(address=(_host, int(_port)), authkey=bytes.fromhex(os.environ["GREENAPI_TEST_EXCEL_KEY"]))
_manager.connect()
_excel = _manager.excel()


class Range:
    def __init__(self, sheet: "Sheet", first, last) -> None:
        self.sheet, self._first, self._last = sheet, first, last

    def _where(self):
        return (self.sheet.book.app.pid, self.sheet.book.name, self.sheet.name, self._first, self._last)

    @property
    def value(self):
        return _excel.get_value(*self._where())

    @value.setter
    def value(self, data) -> None:
        _excel.set_value(*self._where(), data)

    @property
    def number_format(self) -> str:
        return _excel.get_number_format(*self._where())

    @number_format.setter
    def number_format(self, value: str) -> None:
        _excel.set_number_format(*self._where(), value)

    @property
    def column_width(self):
        return _excel.get_column_width(*self._where())

    @column_width.setter
    def column_width(self, value) -> None:
        _excel.set_column_width(*self._where(), value)


class Sheet:
    def __init__(self, book: "Book", name: str) -> None:
        self.book, self.name = book, name

    def range(self, first, last=None) -> Range:
        return Range(self, first, last)


class Sheets:
    def __init__(self, book: "Book") -> None:
        self.book = book

    def __getitem__(self, name: str) -> Sheet:
        names = _excel.sheet_names(self.book.app.pid, self.book.name)
        for found in names:
            if found.lower() == str(name).lower():
                return Sheet(self.book, found)
        raise KeyError(name)


class Book:
    def __init__(self, app: "App", name: str) -> None:
        self.app, self.name = app, name
        self.sheets = Sheets(self)

    @property
    def fullname(self) -> str:
        return _excel.fullname(self.app.pid, self.name)


class Books:
    def __init__(self, app: "App") -> None:
        self.app = app

    def __getitem__(self, name: str) -> Book:
        if not _excel.has_book(self.app.pid, name):
            raise KeyError(name)
        return Book(self.app, name)


class App:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.books = Books(self)

    @property
    def status_bar(self):
        return _excel.get_status_bar(self.pid)

    @status_bar.setter
    def status_bar(self, value) -> None:
        _excel.set_status_bar(self.pid, value)

    def alert(self, prompt, title=None, buttons="ok", mode=None, callback=None):
        return _excel.alert(self.pid, prompt, title, buttons, mode)


class Apps:
    def keys(self) -> list[int]:
        return _excel.pids()

    def __getitem__(self, pid: int) -> App:
        if pid not in _excel.pids():
            raise KeyError(pid)
        return App(pid)

    def __iter__(self):
        return iter([App(pid) for pid in _excel.pids()])

    def __len__(self) -> int:
        return len(_excel.pids())


apps = Apps()


def _refuse(*args, **kwargs):
    raise NotImplementedError("the worker's fake xlwings knows only what addin.work uses")


func = sub = arg = ret = script = _refuse

"""The test-process side of tests/fake_xlwings: the stand-in's books served to a worker process.

``serve(books)`` starts a ``multiprocessing.managers`` server on loopback, in a thread of this process,
and returns the environment a worker needs to reach it (its fake xlwings first on PYTHONPATH). Every
operation takes the service's lock, so a test's own reads of the stand-in see whole writes.
"""

from __future__ import annotations

import os
import secrets
import threading
from contextlib import contextmanager
from multiprocessing.managers import BaseManager
from pathlib import Path

import xlwings_standin as xls

HERE = Path(__file__).resolve().parent


class ExcelService:
    def __init__(self, books: list) -> None:
        self.books = books
        self.lock = threading.RLock()

    def _book(self, pid: int, name: str):
        for book in reversed(self.books):
            if book.app.pid == pid and book.name == name and not book.closed:
                return book
        raise KeyError(name)

    def _range(self, pid, name, sheet, first, last):
        return self._book(pid, name).sheets[sheet].range(first, last)

    def pids(self) -> list[int]:
        with self.lock:
            return sorted({book.app.pid for book in self.books})

    def has_book(self, pid: int, name: str) -> bool:
        with self.lock:
            return any(b.app.pid == pid and b.name == name and not b.closed for b in self.books)

    def fullname(self, pid: int, name: str) -> str:
        with self.lock:
            return self._book(pid, name).fullname

    def sheet_names(self, pid: int, name: str) -> list[str]:
        with self.lock:
            return [sheet.name for sheet in self._book(pid, name).sheets]

    def get_value(self, pid, name, sheet, first, last):
        with self.lock:
            return self._range(pid, name, sheet, first, last).value

    def set_value(self, pid, name, sheet, first, last, data) -> None:
        with self.lock:
            book = next((b for b in reversed(self.books) if b.app.pid == pid and b.name == name), None)
            if book is None:
                raise KeyError(name)
            if book.closed:
                raise xls.BookClosed()
            book.sheets[sheet].range(first, last).value = data

    def get_number_format(self, pid, name, sheet, first, last) -> str:
        with self.lock:
            return self._range(pid, name, sheet, first, last).number_format

    def set_number_format(self, pid, name, sheet, first, last, value) -> None:
        with self.lock:
            self._range(pid, name, sheet, first, last).number_format = value

    def get_column_width(self, pid, name, sheet, first, last):
        with self.lock:
            return self._range(pid, name, sheet, first, last).column_width

    def set_column_width(self, pid, name, sheet, first, last, value) -> None:
        with self.lock:
            self._range(pid, name, sheet, first, last).column_width = value

    def get_status_bar(self, pid):
        with self.lock:
            return self._app(pid).status_bar

    def set_status_bar(self, pid, value) -> None:
        with self.lock:
            self._app(pid).status_bar = value

    def alert(self, pid, prompt, title, buttons, mode):
        with self.lock:
            return self._app(pid).alert(prompt, title=title, buttons=buttons, mode=mode)

    def _app(self, pid):
        for book in reversed(self.books):
            if book.app.pid == pid:
                return book.app
        raise KeyError(pid)


@contextmanager
def serve(books: list):
    """Serve ``books`` (stand-in Books) until the block ends; yields (service, environment for the worker)."""
    service = ExcelService(books)

    class Manager(BaseManager):
        pass

    Manager.register("excel", callable=lambda: service)
    key = secrets.token_bytes(16)
    server = Manager(address=("127.0.0.1", 0), authkey=key).get_server()
    def run() -> None:
        try:
            server.serve_forever()
        except SystemExit:   # how serve_forever ends once stop_event is set
            pass

    thread = threading.Thread(target=run, name="excel-service", daemon=True)
    thread.start()
    host, port = server.address
    pythonpath = os.pathsep.join([str(HERE / "fake_xlwings"), str(HERE)])
    environment = {"GREENAPI_TEST_EXCEL": f"{host}:{port}", "GREENAPI_TEST_EXCEL_KEY": key.hex(),
                   "PYTHONPATH": pythonpath}
    try:
        yield service, environment
    finally:
        server.stop_event.set()
        thread.join(timeout=2)

"""The ribbon's macros: Archive, Unarchive, Dry run, Load chats, Verify, Undo last run, Stop, Check connection,
Settings.

The ribbon calls ``RunPython "import addin; addin.archive_chats()"``. Each macro works on the book that
called it, or, from the add-in GreenApi.xlam, on the active workbook (``book`` is there for tests). This
file is wiring only: ``greenapi_excel.excel.macros`` gathers the inputs from the live book, the jobs
(``greenapi_excel.jobs``) decide, and ``greenapi_excel.texts`` words what the analyst reads.
"""

from __future__ import annotations

from greenapi_excel.excel import macros
from greenapi_excel.methods import ARCHIVE, UNARCHIVE


def archive_chats(book=None) -> None:
    """Archive the chats listed on the active sheet; results beside them."""
    macros.press(_book(book), lambda macro: macros.run(macro, ARCHIVE, dry_run=False))


def unarchive_chats(book=None) -> None:
    """Unarchive the chats listed on the active sheet; results beside them."""
    macros.press(_book(book), lambda macro: macros.run(macro, UNARCHIVE, dry_run=False))


def dry_run(book=None) -> None:
    """Say what Archive would do (one getChats read), changing nothing in WhatsApp."""
    macros.press(_book(book), lambda macro: macros.run(macro, ARCHIVE, dry_run=True))


def check_connection(book=None) -> None:
    """getStateInstance and getSettings: are the credentials right, is WhatsApp linked, can it archive?"""
    macros.press(_book(book), macros.check_connection)


def settings(book=None) -> None:
    """Move a token typed into the Settings sheet into the OS keychain, empty its cell, and save
    apiUrl / idInstance / Region to the user config file."""
    macros.press(_book(book), macros.settings)


def load_chats(book=None) -> None:
    """One row per chat of the instance on the Chats sheet (getChats and two journal reads)."""
    macros.press(_book(book), macros.load_chats)


def verify(book=None) -> None:
    """Check against GREEN-API's chat list that the rows saying Archived (Unarchived) still are; offer to send
    the ones found otherwise again."""
    macros.press(_book(book), macros.verify)


def undo_last_run(book=None) -> None:
    """Take back the newest run not yet taken back, after a Yes/No prompt with the count (like Ctrl+Z)."""
    macros.press(_book(book), macros.undo_last_run)


def stop_run(book=None) -> None:
    """The Stop button: the run on the active book ends within a second; rows not reached say Not run."""
    macros.press(_book(book), macros.stop_run)


def work(job_path: str) -> None:
    """The worker process the macros start: attach to the Excel that started it and carry the run out."""
    macros.work(job_path)


def _book(book):
    return book if book is not None else macros.calling_book()

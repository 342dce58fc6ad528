"""The Python half of the installers an analyst double-clicks (``Install GreenApi.cmd`` on Windows,
``Install GreenApi.command`` on a Mac). They find a Python, make GreenApi's own environment, install the
download into it and then run, with that environment's Python:

    python -m greenapi_excel.installer [--log FILE] [--documents FOLDER]

1. The workbook: GreenApi.xlsm in Documents, set up for this Python. A book that is there is never
   replaced (it holds the analyst's chats): when it is ours and points at this Python it is kept as it
   is; otherwise a new one is written beside it under the first free name, ``GreenApi 2.xlsm``, ...
2. The add-in: GreenApi.xlam in Excel's start-up folder, replaced when this tool wrote it (an update),
   never when someone else's file has that name (addin_install, setup_checks).
3. What to do next.

Every line goes to the screen and, with ``--log``, to the end of that file. A step that fails says why and
the next still runs; the exit status is 1 when one failed. Run again at any time: it updates in place.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from greenapi_excel import i18n, provenance
from greenapi_excel.errors import GreenApiExcelError
from greenapi_excel.i18n import _, ngettext

BOOK_STEM = "GreenApi"
BOOK_SUFFIX = ".xlsm"
MAX_BOOKS = 20   # GreenApi.xlsm, GreenApi 2.xlsm, ... GreenApi 20.xlsm


def documents_folder() -> Path:
    """The analyst's Documents folder: on Windows where Windows keeps it (also when OneDrive moved it),
    elsewhere ~/Documents."""
    if sys.platform.startswith("win"):
        import ctypes

        buffer = ctypes.create_unicode_buffer(32768)
        # CSIDL_PERSONAL: the Documents folder, wherever it was redirected to.
        if ctypes.windll.shell32.SHGetFolderPathW(None, 5, None, 0, buffer) == 0 and buffer.value:
            return Path(buffer.value)
        return Path(os.environ.get("USERPROFILE") or Path.home()) / "Documents"
    return Path.home() / "Documents"


def book_names() -> list[str]:
    return [f"{BOOK_STEM}{BOOK_SUFFIX}"] + [f"{BOOK_STEM} {n}{BOOK_SUFFIX}" for n in range(2, MAX_BOOKS + 1)]


def interpreter_of(book: Path) -> str | None:
    """The Python a GreenApi workbook's xlwings.conf sheet names (Interpreter_Win or Interpreter_Mac), or None."""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(book, read_only=True)
        try:
            if "xlwings.conf" not in workbook.sheetnames:
                return None
            for key, value, *_rest in workbook["xlwings.conf"].iter_rows(max_col=2, values_only=True):
                if key is None:
                    return None   # xlwings reads down to the first empty key
                if str(key).lower().startswith("interpreter") and value:
                    return str(value)
        finally:
            workbook.close()
    except Exception:  # noqa: BLE001 - a book we cannot read points nowhere we know
        return None
    return None


def same_file(first: str, second: str) -> bool:
    return os.path.normcase(os.path.abspath(first)) == os.path.normcase(os.path.abspath(second))


def place_workbook(documents: Path, interpreter: str, language: str) -> tuple[Path, bool]:
    """(the analyst's GreenApi workbook, whether it was written now). Keeps the first of book_names() that
    is ours and points at ``interpreter``; else writes the first free name. Never touches another file."""
    from greenapi_excel.workbook.build import build

    free = None
    for name in book_names():
        path = documents / name
        if path.is_symlink() or path.exists():
            if (not path.is_symlink() and provenance.kind_of(path) == provenance.WORKBOOK
                    and (found := interpreter_of(path)) and same_file(found, interpreter)):
                return path, False
            continue
        free = free or path
    if free is None:
        raise GreenApiExcelError(ngettext(
            "{folder} holds {count} book named GreenApi already: move some away and run the installer again",
            "{folder} holds {count} books named GreenApi already: move some away and run the installer again",
            MAX_BOOKS).format(folder=documents, count=MAX_BOOKS))
    return build(free, interpreter=interpreter, language=language), True


def _windows_ui_language() -> str | None:
    """The language of Windows' own menus (GetUserDefaultUILanguage), where no locale variable is set."""
    if not sys.platform.startswith("win"):
        return None
    import ctypes
    import locale

    return i18n.normalize(locale.windows_locale.get(ctypes.windll.kernel32.GetUserDefaultUILanguage()))


def installer_language(environ=None) -> str:
    """GREENAPI_LANG, else the locale, else (Windows, where no locale variable is set) the language of
    Windows' menus, else English: the language of these lines and of the workbook written."""
    environ = os.environ if environ is None else environ
    return (i18n.normalize(environ.get(i18n.ENV_LANG)) or i18n.from_locale(environ) or _windows_ui_language()
            or i18n.ENGLISH)


class Report:
    """Lines for the analyst: on the screen, and at the end of the installer's log."""

    def __init__(self, log: Path | None) -> None:
        self.log = log
        self.failed = False

    def say(self, line: str, *, under_step: bool = True) -> None:
        """One line; ``under_step``: indented under the script's numbered step."""
        line = "   " + line if under_step else line
        print(line, flush=True)
        if self.log is not None:
            try:
                with open(self.log, "a", encoding="utf-8") as stream:
                    stream.write(line + "\n")
            except OSError:
                pass   # the screen has it; a log we cannot write is no reason to stop

    def fail(self, line: str) -> None:
        self.failed = True
        self.say(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m greenapi_excel.installer",
                                     description="The installers' last steps: the workbook and the add-in.")
    parser.add_argument("--log", type=Path, default=None)
    parser.add_argument("--documents", type=Path, default=None)
    args = parser.parse_args(argv)
    language = i18n.set_language(installer_language())
    report = Report(args.log)
    interpreter = sys.executable

    book = None
    try:
        documents = args.documents or documents_folder()
        documents.mkdir(exist_ok=True)
        book, written = place_workbook(documents, interpreter, language)
        if written:
            report.say(_("Your workbook: {path} (new, set up for this Python).").format(path=book))
            if book.name != book_names()[0]:
                report.say(_("{name} was left as it is: it is not set up for this installation. Move your chats "
                             "from it into the new book.").format(name=book_names()[0]))
        else:
            report.say(_("Your workbook: {path} (kept as it is: it is set up already).").format(path=book))
    except (GreenApiExcelError, OSError) as error:
        report.fail(_("The workbook could not be written: {error}").format(error=error))

    from greenapi_excel import addin_install

    try:
        folder = addin_install.startup_folder()
        for line in addin_install.install(folder, mac_runpython=False):
            report.say(line)
    except (GreenApiExcelError, OSError) as error:
        report.fail(_("The GreenApi tab for every workbook (the add-in) was not installed: {error}").format(error=error))

    if book is not None:
        report.say(_("Next: open {path} in Excel and enable its macros (Enable Content on Windows, Enable Macros on "
                     "a Mac). The README's Excel set-up says the rest.").format(path=book), under_step=False)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())

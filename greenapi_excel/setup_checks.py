"""What the set-up commands check before they write anything, so that they cannot destroy an analyst's file,
and what they say about the Python a book will start.

- ``workbook_target``: where ``greenapi-excel workbook PATH`` may write: a name ending in .xlsm or .xlam (.xlsx
  with ``--lite``), in a folder that exists, never over a link or over a file this tool did not write (provenance.kind_of), and
  over one of its own only with ``--force``.
- ``addin_target``: where ``addin install`` may write GreenApi.xlam: a new file, or one this tool wrote (an
  update), never a link or another file of that name.
- ``python_notes``: what will not work with that Python in Excel, in plain words: on Windows, xlwings' DLL
  (the worksheet functions) where Excel does not look for it; on a Mac, a path with a space.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path, PurePath

from greenapi_excel import provenance
from greenapi_excel.errors import WorkbookError
from greenapi_excel.i18n import _

BOOK_SUFFIXES = (".xlsm", ".xlam")
LITE_SUFFIX = ".xlsx"
ADDIN_FILE = "GreenApi.xlam"
_DLL_NAME = re.compile(r"xlwings(32|64)-(.+)\.dll", re.IGNORECASE)


def workbook_target(path: str | os.PathLike, *, force: bool = False, lite: bool = False) -> Path:
    """``path`` as ``workbook`` (``--lite``: GreenApi-Lite.xlsx) may write it, or WorkbookError saying why not and
    what to do instead."""
    path = Path(path).expanduser()
    if lite and path.suffix.lower() != LITE_SUFFIX:
        raise WorkbookError(_("{path}: the xlwings Lite workbook holds no macros, so its name must end in .xlsx; "
                              "Excel refuses to open it under any other name").format(path=path))
    if not lite and path.suffix.lower() not in BOOK_SUFFIXES:
        raise WorkbookError(_("{path}: GreenApi's workbook holds macros, so its name must end in .xlsm (or .xlam for "
                              "the add-in); Excel refuses to open it under any other name").format(path=path))
    folder = path.parent
    if not folder.is_dir():
        raise WorkbookError(_("the folder {folder} does not exist: create it first, or give a path in a folder "
                              "that exists").format(folder=os.path.abspath(folder)))
    _refuse_link_or_other(path)
    if path.exists():
        if provenance.kind_of(path) is None:
            raise WorkbookError(_("{path} exists and is not a GreenApi workbook: it is left as it is, also with "
                                  "--force; give another name").format(path=path))
        if not force:
            raise WorkbookError(_("{path} exists (a GreenApi workbook; the chats and results in it would be lost): "
                                  "give another name, or add --force to replace it").format(path=path))
    return path


def addin_target(folder: Path) -> Path:
    """Where ``addin install`` may write GreenApi.xlam in ``folder``: a new file or one this tool wrote."""
    path = folder / ADDIN_FILE
    _refuse_link_or_other(path)
    if path.exists() and provenance.kind_of(path) is None:
        raise WorkbookError(_("{path} exists and was not written by greenapi-excel: it is left as it is; remove it "
                              "yourself if you no longer want it, then install again").format(path=path))
    return path


def removable_addin(folder: Path) -> Path | None:
    """GreenApi.xlam in ``folder`` when this tool wrote it; None when there is none; WorkbookError when the
    file there is someone else's (or a link), which ``addin remove`` leaves alone."""
    path = folder / ADDIN_FILE
    if not path.exists() and not path.is_symlink():
        return None
    _refuse_link_or_other(path)
    if provenance.kind_of(path) != provenance.ADDIN:
        raise WorkbookError(_("{path} was not written by greenapi-excel: it is left as it is").format(path=path))
    return path


def _refuse_link_or_other(path: Path) -> None:
    """WorkbookError when ``path`` is a symbolic link or exists as anything but a regular file: a set-up
    command never writes through a link nor over a folder."""
    try:
        found = path.lstat()
    except FileNotFoundError:
        return
    except OSError as error:
        raise WorkbookError(_("cannot look at {path}: {error}").format(path=path, error=error.strerror or error)) from None
    if stat.S_ISLNK(found.st_mode):
        raise WorkbookError(_("{path} is a link to another file: it is left as it is; remove the link or give "
                              "another name").format(path=path))
    if not stat.S_ISREG(found.st_mode):
        raise WorkbookError(_("{path} exists and is no file: it is left as it is; give another name").format(
            path=path))


# --- the Python a book starts ----------------------------------------------------------------------------

def installed_dlls() -> list[Path]:
    """Where pip put xlwings' DLLs (xlwings32-<version>.dll, xlwings64-<version>.dll), as its install record
    lists them; empty where the wheel carries none (every platform but Windows)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        files = distribution("xlwings").files or []
    except PackageNotFoundError:
        return []
    found = []
    for entry in files:
        if _DLL_NAME.fullmatch(PurePath(str(entry)).name):
            found.append(Path(os.path.normpath(entry.locate())))
    return found


def dll_folders(interpreter: str | os.PathLike) -> tuple[Path, Path]:
    """Where Excel loads xlwings' DLL from for ``interpreter`` (xlwings' XLPyLoadDLL): the interpreter's own
    folder (a standard install), then the one above it (a virtual environment's Scripts\\..)."""
    folder = Path(interpreter).parent
    return folder, folder.parent


def dll_problem(interpreter: str | os.PathLike, version: str, installed: list[Path]) -> str | None:
    """None when Excel will find xlwings' DLL of ``version`` for ``interpreter``; else what will not work, why,
    and what to do. ``installed``: where pip put the DLLs (installed_dlls)."""
    names = (f"xlwings64-{version}.dll", f"xlwings32-{version}.dll")
    folders = dll_folders(interpreter)
    if any((folder / name).is_file() for folder in folders for name in names):
        return None
    elsewhere = sorted({str(path.parent) for path in installed if path.name.lower() in {n.lower() for n in names}})
    where = (_("pip put it in {folder} (an install for your user only)").format(folder=elsewhere[0]) if elsewhere
             else _("it is in neither"))
    return _("The worksheet functions (=ARCHIVECHAT and the others) will not work in this Excel: Excel looks for "
             "{dll} beside {python} or one folder up, and {where}. The buttons work. For the functions too, install "
             "with Install GreenApi.cmd: it makes GreenApi's own Python environment, with the DLL in place.").format(
        dll=names[0], python=interpreter, where=where)


def python_notes(interpreter: str | os.PathLike, *, platform: str | None = None,
                 installed: list[Path] | None = None) -> list[str]:
    """What will not work in Excel with ``interpreter`` on ``platform`` (default: this one), in plain words."""
    platform = sys.platform if platform is None else platform
    notes = []
    if platform.startswith("win"):
        from importlib.metadata import version

        problem = dll_problem(interpreter, version("xlwings"),   # read from its install record, not imported
                              installed_dlls() if installed is None else installed)
        if problem:
            notes.append(problem)
    if platform == "darwin" and any(char.isspace() for char in str(interpreter)):
        notes.append(_("On a Mac, xlwings starts {python} without quotes, so a path with a space will not start "
                       "from Excel: use a Python whose path has none (Install GreenApi.command puts one in "
                       "~/Library/GreenApiExcel).").format(python=interpreter))
    return notes

"""The per-user files: where each lives, the one key per book, and the modes that keep them private.

Folders by the conventions of each OS:
- "config": what a user may edit (config.ini): %APPDATA%\\GreenApiExcel, ~/Library/Application Support/
  GreenApiExcel, ${XDG_CONFIG_HOME:-~/.config}/greenapi-excel;
- "state": what the tool keeps for itself (the journal, book locks, background runs, pacing):
  %LOCALAPPDATA%\\GreenApiExcel, ~/Library/Application Support/GreenApiExcel,
  ${XDG_STATE_HOME:-~/.local/state}/greenapi-excel.

The journal holds phone numbers and book paths: every folder this module makes is 0700 and every file
it makes is 0600 on POSIX (Windows' per-user profile folders are private already). Environment
variables move single places: GREENAPI_JOURNAL, GREENAPI_CONFIG, GREENAPI_LOCK_DIR, GREENAPI_RUNS_DIR.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from pathlib import Path
from typing import Iterator, Mapping

_WINDOWS = {"config": ("APPDATA", ("AppData", "Roaming")), "state": ("LOCALAPPDATA", ("AppData", "Local"))}
_XDG = {"config": ("XDG_CONFIG_HOME", (".config",)), "state": ("XDG_STATE_HOME", (".local", "state"))}

FOLDER_MODE = 0o700
FILE_MODE = 0o600

ENV_JOURNAL = "GREENAPI_JOURNAL"
ENV_CONFIG = "GREENAPI_CONFIG"
ENV_LOCKS = "GREENAPI_LOCK_DIR"
ENV_RUNS = "GREENAPI_RUNS_DIR"


def user_folder(kind: str, platform: str | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The folder for ``kind`` ("config" or "state"); ``platform`` and ``environ`` default to this process's."""
    platform = sys.platform if platform is None else platform
    environ = os.environ if environ is None else environ
    home = Path.home()
    if platform.startswith("win"):
        variable, fallback = _WINDOWS[kind]
        return Path(environ.get(variable) or home.joinpath(*fallback)) / "GreenApiExcel"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "GreenApiExcel"
    variable, fallback = _XDG[kind]
    return Path(environ.get(variable) or home.joinpath(*fallback)) / "greenapi-excel"


def _configured(variable: str) -> Path | None:
    value = os.environ.get(variable, "").strip()
    return Path(value).expanduser() if value else None


# --- where each file lives -----------------------------------------------------------------------------

def journal_file() -> Path:
    return _configured(ENV_JOURNAL) or user_folder("state") / "journal.sqlite3"


def config_file() -> Path:
    return _configured(ENV_CONFIG) or user_folder("config") / "config.ini"


def locks_folder() -> Path:
    """Book locks live here, not beside the book: the book's folder may be shared or read-only."""
    return _configured(ENV_LOCKS) or user_folder("state") / "locks"


def runs_folder() -> Path:
    """The job, stop and log files of background runs."""
    return _configured(ENV_RUNS) or user_folder("state") / "runs"


def pacing_file() -> Path:
    return user_folder("state") / "pacing.sqlite3"


# --- one key per book ----------------------------------------------------------------------------------

def is_url(book: str) -> bool:
    """A book that lives on OneDrive or SharePoint and has no local path is named by its URL."""
    return str(book).lower().startswith(("https://", "http://"))


def book_identity(book) -> str:
    """The one name of a book, however it is given: an absolute, case-normalised path (a relative path,
    a symlink, ``C:\\X`` and ``c:\\x`` on Windows all name one book), or a URL as it is."""
    text = str(book)
    if is_url(text):
        return text
    return os.path.normcase(str(Path(text).expanduser().resolve()))


def book_key(book) -> str:
    """A short file-name-safe key for ``book_identity(book)``: its lock, its run files."""
    return hashlib.sha256(book_identity(book).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def lock_file(book) -> Path:
    return locks_folder() / f"{book_key(book)}.lock"


# --- private folders and files -------------------------------------------------------------------------

def private_folder(kind_or_path, *parts: str) -> Path:
    """``user_folder(kind)/parts`` (or a given path), made 0700 with every folder created on the way;
    an existing folder of ours that others could read is made private too."""
    base = user_folder(kind_or_path) if kind_or_path in ("config", "state") else Path(kind_or_path)
    folder = base.joinpath(*parts)
    make_private_folder(folder)
    return folder


def make_private_folder(folder: Path) -> None:
    missing = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for item in reversed(missing):
        try:
            item.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            pass
    _tighten(folder, FOLDER_MODE)


def make_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it is missing (so that SQLite and the lock library open a
    private file, not one they make with the umask's mode); tighten it if it exists."""
    make_private_folder(path.parent)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
    except FileExistsError:
        _tighten(path, FILE_MODE)
    else:
        os.close(fd)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole (a temporary file, then a rename), with mode 0600."""
    make_private_folder(path.parent)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    _tighten(temporary, FILE_MODE)
    os.replace(temporary, path)


def _tighten(path: Path, mode: int) -> None:
    """Private on POSIX when it is ours; never fails a run over a mode (a shared folder set by GREENAPI_*)."""
    if os.name != "posix":
        return
    try:
        info = path.stat()
        if info.st_uid == os.getuid() and info.st_mode & 0o077:
            os.chmod(path, mode)
    except OSError:
        pass


# --- one run per book ----------------------------------------------------------------------------------

@contextlib.contextmanager
def book_lock(book) -> Iterator[Path]:
    """Hold the book's lock for a run; BookBusy at once when another run (any process) holds it."""
    import filelock

    from greenapi_excel.errors import BookBusy
    from greenapi_excel.i18n import _

    path = lock_file(book)
    try:
        make_private_file(path)
    except OSError:
        import tempfile

        path = Path(tempfile.gettempdir()) / f"greenapi-excel-{_user_key()}" / path.name
        make_private_file(path)
    lock = filelock.FileLock(str(path), timeout=0, mode=FILE_MODE)
    try:
        lock.acquire()
    except filelock.Timeout:
        name = book if is_url(str(book)) else Path(book).name
        raise BookBusy(_("another greenapi-excel run is already working on {book}: wait for it to finish").format(
            book=name)) from None
    try:
        yield path
    finally:
        lock.release()


def _user_key() -> str:
    getuid = getattr(os, "getuid", None)
    if getuid is not None:
        return str(getuid())
    return hashlib.sha256(str(Path.home()).encode()).hexdigest()[:12]

"""The file side of a sheet: read the chat column of a book on disk, write Status/Details/Updated back.

The book is never loaded whole: its parts are streamed through a real XML parser (``bookxml``), keeping
row 1, the chat column and the columns results may go to. A save writes a new package from the original
bytes: the target sheet with the result cells spliced in, ``styles.xml`` with at most one appended cell
format (the Updated time, only when an Updated cell uses it), and every other part (drawings, charts, VBA
project, ribbon, calc chain, other sheets) copied byte for byte. A save with nothing to write leaves the
book as it is. Saves are atomic: a temp file in the book's folder, fsync, ``os.replace``; a kill at any
moment leaves either the old book or the new one. Every periodic save starts again from the original
bytes with all results so far, so it never re-reads its own output. The placement rules are ``layout``'s,
shared with the add-in.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import posixpath
import sys
import zipfile
from array import array
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from greenapi_excel import bookxml, layout, statuses
from greenapi_excel.errors import BookBusy, ConfigError, WorkbookError
from greenapi_excel.i18n import _
from greenapi_excel.paths import book_lock  # noqa: F401 - sheets.book_lock, as the edges call it
from greenapi_excel.results import DETAILS_LIMIT, RESULT_WIDTHS, STATUS_LIMIT, UPDATED_FORMAT, RowResult, cell_text

BOOK_SUFFIXES = (".xlsx", ".xlsm", ".xltx", ".xltm")
MACRO_SUFFIXES = (".xlsm", ".xltm")
EXCEL_ROWS = bookxml.EXCEL_ROWS
_OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_DATA = "="             # what a column of the analyst's own data shows place_results
_TABLE = "\0table"      # what a column inside an Excel table counts as when placing results


# --- checks before reading or writing -------------------------------------------------------------

def _refuse_unless_book(path: Path) -> None:
    name = path.name
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise WorkbookError(_("{book} is an Excel 97-2003 .xls book: open it in Excel and save it as .xlsx "
                              "first").format(book=name))
    if suffix == ".csv":
        raise WorkbookError(_("{book} is a CSV file: open it in Excel and save it as .xlsx first").format(book=name))
    if suffix not in BOOK_SUFFIXES:
        raise WorkbookError(_("{book} is not an Excel workbook: give an .xlsx or .xlsm file").format(book=name))


def _refuse_unless_readable(path: Path) -> None:
    name = path.name
    if not path.exists():
        raise WorkbookError(_("cannot open {path}: there is no such file").format(path=path))
    if path.is_dir():
        raise WorkbookError(_("cannot open {path}: it is a folder, not a workbook").format(path=path))
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError as error:
        raise WorkbookError(_("cannot open {book}: {problem}").format(book=name,
                                                                        problem=error.strerror or error)) from None
    if head == _OLE2_MAGIC:
        raise WorkbookError(_("{book} is an Excel 97-2003 book (or encrypted) under an .xlsx name: save it from "
                              "Excel as .xlsx without a password first").format(book=name))
    if not zipfile.is_zipfile(path):
        raise WorkbookError(_("{book} is not a valid .xlsx workbook (it is not a zip package): it may be damaged, "
                              "or another kind of file under an .xlsx name").format(book=name))


def owner_file(path: Path) -> Path | None:
    """The lock file of a program that has the book open, beside it: Excel's owner file ("~$" + name; long
    names lose their first two characters) or LibreOffice's ".~lock." + name + "#"."""
    folder, name = path.parent, path.name
    for candidate in ("~$" + name, "~$" + name[2:], ".~lock." + name + "#"):
        owner = folder / candidate
        if len(candidate) > 2 and owner.exists():
            return owner
    return None


def _refuse_if_open(path: Path) -> None:
    owner = owner_file(path)
    if owner is None:
        return
    if owner.name.startswith(".~lock."):
        raise BookBusy(_("{book} is open in LibreOffice (its lock file {owner} is beside it): close it there first, "
                         "or delete {owner} if LibreOffice is not running").format(book=path.name, owner=owner.name))
    raise BookBusy(_("{book} is open in Excel (its owner file {owner} is beside it): close it in Excel first, or "
                     "delete {owner} if Excel is not running").format(book=path.name, owner=owner.name))


_refuse_if_open_in_excel = _refuse_if_open   # the name chatsheet and older callers use


def _refuse_unless_writable(path: Path) -> None:
    name = path.name
    # The read-only attribute counts even for an administrator (root's os.access ignores mode bits).
    if path.exists() and (not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222):
        raise WorkbookError(_("cannot write {book}: the file is read-only").format(book=name))
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise WorkbookError(_("cannot write {book}: the folder {folder} does not exist").format(book=name,
                                                                                               folder=folder))
    if not os.access(folder, os.W_OK):
        raise WorkbookError(_("cannot write {book}: its folder {folder} is read-only").format(book=name, folder=folder))


def check_book(path, *, out=None) -> None:
    """The checks that need no parsing, in a blink whatever the book's size: a book file that can be read,
    is not open in Excel or LibreOffice, can be written where saves go, and is no zip bomb (its directory's
    sizes). WorkbookError (BookBusy) with a clear text; the CLI calls it before any request."""
    path = Path(path)
    _refuse_unless_book(path)
    _refuse_unless_readable(path)
    target = Path(out) if out else path
    if out:
        _refuse_unless_book(target)
        _refuse_macro_mismatch(path, target)
    _refuse_if_open(target)
    _refuse_unless_writable(_real(target))
    try:
        with zipfile.ZipFile(path) as package:
            bookxml.check_sizes(package)
    except bookxml.PartProblem as problem:
        raise damaged(path.name, problem) from None
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError) as error:
        raise damaged(path.name, error) from None


def damaged(book: str, error: BaseException) -> WorkbookError:
    """The one line for a book that cannot be read: what the parser found, or that it is damaged."""
    if isinstance(error, bookxml.PartProblem):
        return WorkbookError(_("cannot read {book}: {problem}").format(book=book, problem=error))
    return WorkbookError(_("cannot read {book}: it is damaged or not a workbook Excel wrote ({problem})").format(
        book=book, problem=f"{type(error).__name__}: {cell_text(error, 160)}"))


def original_copy(path: Path):
    """The book's bytes as they are now, in an unnamed temporary file only this user can read (removed
    when closed): every save starts from them, never from our own output, and memory stays flat however
    large the book is."""
    import shutil
    import tempfile

    copy = tempfile.TemporaryFile()
    try:
        with open(path, "rb") as source:
            shutil.copyfileobj(source, copy, 1 << 20)
    except OSError as error:
        copy.close()
        raise WorkbookError(_("cannot open {book}: {problem}").format(
            book=path.name, problem=error.strerror or error)) from None
    copy.seek(0)
    return copy


def open_package(path: Path, data) -> "bookxml.Package":
    """The book's package (``data``: its bytes, or a file holding them)."""
    try:
        return bookxml.Package(data)
    except Exception as error:  # a damaged package raises many kinds
        raise damaged(path.name, error) from None


# --- the sheet -----------------------------------------------------------------------------------

class SheetFile:
    """One sheet of a book on disk: where the chats are, what an earlier run wrote, where results go.

    ``chat_cells`` holds (row, value) for the non-empty cells below the header, values as Excel shows
    them: a formula's saved value, ``chat_ids.CellError`` for an error value, ``chat_ids.FORMULA_WITHOUT_VALUE``
    for a formula that was never calculated. ``previous`` maps a row to its earlier Status text.
    ``hidden_rows`` are the rows the sheet hides (``<row hidden="1">``). ``labels`` counts the merged
    labels under the chats (a merge from the chat column into the result columns): no chats, no status.
    """

    def __init__(self, path: Path, *, sheet_name: str, chat_column: int, placement: layout.ResultPlacement,
                 chat_cells: "ChatCells", previous: dict[int, str], settings: dict,
                 hidden_rows: set[int], source: "_Source", labels: int = 0):
        self.path = path
        self.sheet_name = sheet_name
        self.chat_column_number = chat_column
        self.chat_column = layout.column_letter(chat_column)
        self.status_column_number = placement.status_column
        self.result_column = layout.column_letter(placement.status_column)
        self.placement_note = placement.note
        self.chat_cells = chat_cells
        self.previous = previous
        self.settings = settings  # apiUrl / idInstance from a Settings sheet; never the token
        self.hidden_rows = hidden_rows
        self.labels = labels
        self.written = 0
        self.saved = 0           # saves that wrote the book (a save with nothing to write leaves it)
        self._source = source
        # Results so far, compactly (a 100,000-row run keeps a few MB): parallel arrays, texts by number,
        # and for each row the index of its latest result (-1: none yet).
        self._status = array("I")
        self._details = array("I")
        self._stamps = array("d")
        self._latest = array("i")
        self._texts: dict[str, int] = {}
        self._raw_texts: dict[tuple[str, int], int] = {}
        self._text_list: list[str] = []
        self._styles_decided = None

    @property
    def nothing_written(self) -> bool:
        """True while no result has been given to write: a save then leaves the book byte for byte."""
        return self.written == 0

    # -- reading --

    @classmethod
    def open(cls, path, *, sheet: str | None = None, column: object = None, out=None) -> "SheetFile":
        """Read the book once. ``out`` (where saves will go, default the book) is checked for writing now,
        so a book that cannot be written is refused before any call is made."""
        path = Path(path)
        check_book(path, out=out)
        source_bytes = original_copy(path)
        package = open_package(path, source_bytes)
        entry = _choose_sheet(package, sheet, path.name)
        try:
            return _read_sheet(cls, path, package, entry, column, source_bytes)
        except bookxml.PartProblem as problem:
            raise WorkbookError(f"{path.name} [{entry.name}]: {problem}") from None
        except (WorkbookError, ConfigError):
            raise
        except Exception as error:
            raise damaged(path.name, error) from None

    # -- writing --

    def write(self, results: Iterable[RowResult]) -> None:
        """Keep results for the Status/Details/Updated cells of their rows (in memory; ``save`` writes)."""
        epoch = self._source.epoch
        for result in results:
            row = result.row
            if not 2 <= row <= EXCEL_ROWS:
                raise ValueError(f"row {row} is not a data row of a sheet")
            stamp = result.updated
            if stamp is not None and not isinstance(stamp, datetime):  # a date: its midnight
                stamp = datetime(stamp.year, stamp.month, stamp.day)
            if stamp is not None and stamp.tzinfo is not None:
                stamp = stamp.astimezone().replace(tzinfo=None)  # Excel has no time zones: local time
            latest = self._latest
            if row >= len(latest):
                latest.extend(array("i", [-1]) * (row + 1 - len(latest) + 1024))
            latest[row] = len(self._status)
            self._status.append(self._text_number(statuses.localised(result.status), STATUS_LIMIT))   # run's language
            self._details.append(self._text_number(result.details, DETAILS_LIMIT))
            # The cell shows seconds; the serial keeps what it shows.
            self._stamps.append(math.nan if stamp is None else bookxml.serial(stamp, epoch))  # whole seconds
            self.written += 1

    def _text_number(self, value: object, limit: int) -> int:
        """The number of the cell text for ``value``: the same few texts over and over are cleaned once."""
        key = (value, limit) if isinstance(value, str) else None
        number = self._raw_texts.get(key) if key is not None else None
        if number is None:
            text = cell_text(value, limit)
            number = self._texts.get(text)
            if number is None:
                number = self._texts[text] = len(self._text_list)
                self._text_list.append(text)
            if key is not None:
                self._raw_texts[key] = number
        return number

    def _results(self) -> Iterator[tuple[int, str, str, float | None]]:
        """The latest result of each row, in row order."""
        texts, status, details, stamps = self._text_list, self._status, self._details, self._stamps
        for row, index in enumerate(self._latest):
            if index >= 0:
                stamp = stamps[index]
                yield row, texts[status[index]], texts[details[index]], None if stamp != stamp else stamp

    def _has_rows(self, top: int, bottom: int) -> bool:
        latest = self._latest
        return any(latest[row] >= 0 for row in range(max(top, 0), min(bottom + 1, len(latest))))

    def _bottom(self) -> int:
        latest = self._latest
        for row in range(len(latest) - 1, 0, -1):
            if latest[row] >= 0:
                return row
        return 0

    def save(self, out=None) -> Path | None:
        """Write the book to ``out`` (default: where it came from) atomically; returns the path written, or
        None when there was nothing to write and the book stays byte for byte as it was (saving elsewhere
        then writes a copy of the original).

        A book reached through a symbolic link is written to the link's target; the link stays."""
        target = Path(out) if out else self.path
        _refuse_unless_book(target)
        _refuse_macro_mismatch(self.path, target)
        if self.nothing_written and target == self.path:
            return None
        _refuse_if_open(target)
        real = _real(target)
        if real != target:
            _refuse_if_open(real)
        _refuse_unless_writable(real)
        if self.nothing_written:
            return replace_atomically(target, self._source.copy_original)
        written = replace_atomically(target, self._write_package)
        self.saved += 1
        return written

    def _write_package(self, stream) -> None:
        """The original package with the results in: see the module docstring for what changes."""
        source = self._source
        package = source.package
        original = package.zip
        edit = self._edit()
        writers: dict[str, object] = {}
        dropped: set[str] = set()
        sheet_part = source.sheet_part
        writers[sheet_part] = lambda sink: bookxml.SheetWriter(edit).write(package.chunks(sheet_part), sink,
                                                                             sheet_part)
        additions = self._styles()[1]
        if additions is not None:
            styles_part = source.styles_part
            writers[styles_part] = lambda sink: additions.write(package.chunks(styles_part), sink)
        overwritten = source.formulas_overwritten(self._has_rows, edit.first,
                                                  {c for c, cell in self._header_cells().items()})
        chain = package.part(source.calc_chain)
        if overwritten and chain:
            kept = bookxml.without_calc_cells(package.chunks(chain), _Discard(), chain, source.sheet_id, overwritten)
            if kept:
                writers[chain] = lambda sink: bookxml.without_calc_cells(package.chunks(chain), sink, chain,
                                                                         source.sheet_id, overwritten)
            else:   # an empty calc chain is not allowed: the part goes with its relationship and content type
                dropped.add(chain)
                writers.update(_without_part(package, chain))
        archive = zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        try:
            for info in original.infolist():
                name = info.filename
                if name in dropped:
                    continue
                bookxml.copy_part(original, info, archive, writer=writers.get(name))
            archive.close()
        except BaseException as error:
            archive.fp = None  # the temp file is discarded anyway: nothing left to finish
            error.__context__ = None
            error = error.with_traceback(None)
            del archive
            _collect_quietly()
            if isinstance(error, bookxml.PartProblem):
                raise damaged(self.path.name, error) from None
            raise error

    def _header_cells(self) -> dict[int, str]:
        """Row 1's result headers that change: an earlier run's stay as they are (in its language)."""
        first = self.status_column_number
        existing = [self._source.headers.get(first + offset) for offset in range(3)]
        return {first + offset: text for offset, text in enumerate(statuses.result_headers(existing))
                if self._source.headers.get(first + offset) != text}

    def _styles(self) -> tuple[int | None, "bookxml.StyleAdditions | None"]:
        """The one style every written Updated cell takes (the Updated column's own style with the date-time
        format; an identical format already there is reused), and what styles.xml gains for it."""
        if self._styles_decided is None:
            source = self._source
            stamped = any(stamp == stamp for stamp in self._stamps)
            if not stamped or source.styles is None or source.styles.part is None:
                self._styles_decided = (None, None)
            else:
                styles = source.styles
                base = source.column_styles.of(self.status_column_number + 2) or 0
                if styles.format_of(base) == UPDATED_FORMAT:
                    self._styles_decided = (base, None)
                else:
                    additions = bookxml.StyleAdditions(styles)
                    number_format = additions.number_format(UPDATED_FORMAT)
                    style = additions.cell_format(base, number_format=number_format)
                    self._styles_decided = (style, additions if additions.changed else None)
        return self._styles_decided

    def _edit(self) -> "bookxml.SheetEdit":
        first = self.status_column_number
        headers = self._header_cells()
        updated_style = self._styles()[0]
        source = self._source

        def rows():
            if headers:
                yield 1, {column: ("t", text, None) for column, text in headers.items()}
            blank = ("", None, None)
            for row, status, details, stamp in self._results():
                yield row, {first: ("t", status, None), first + 1: ("t", details, None),
                            first + 2: ("n", stamp, updated_style) if stamp is not None else blank}

        def drop_merge(box) -> bool:
            """A merge over a written result cell would hide it: it goes (its top-left value stays)."""
            top, left, bottom, right = box
            if right < first or left > first + 2:
                return False
            return (top == 1 and bool(headers)) or self._has_rows(max(top, 2), bottom)

        bottom = max(self._bottom(), 1 if headers else 0)
        return bookxml.SheetEdit(rows(), first, first + 2, bottom, column_styles=source.column_styles,
                                 keep=source.masters, drop_merge=drop_merge, widths=source.result_widths(first),
                                 row_map=source.row_map,
                                 edits_row=lambda row: (row == 1 and bool(headers)) or self._has_rows(row, row))


class _Discard:
    def write(self, data) -> None:
        pass


def _without_part(package: "bookxml.Package", part: str) -> dict[str, object]:
    """Writers for the workbook's relationships and the content types without ``part`` (the empty calc chain)."""
    writers: dict[str, object] = {}
    folder, name = posixpath.split(package.workbook_part)
    rels = package.part(posixpath.join(folder, "_rels", name + ".rels"))
    relationship = f"{bookxml.PACKAGE_RELS} Relationship"
    if rels:
        targets = {rel_id for rel_id, (_kind, target) in package.workbook_rels.items() if target == part}

        def drop_relationship(element, attrs, depth, scope):
            return b"" if element == relationship and attrs.get("Id") in targets else None

        writers[rels] = lambda sink: bookxml.rewrite_elements(package.chunks(rels), sink, rels, drop_relationship)
    types = package.part("[Content_Types].xml")
    override = f"{bookxml.CONTENT_TYPES} Override"
    if types:
        def drop_override(element, attrs, depth, scope):
            wanted = "/" + part.lower()
            return b"" if element == override and attrs.get("PartName", "").lower() == wanted else None

        writers[types] = lambda sink: bookxml.rewrite_elements(package.chunks(types), sink, types, drop_override)
    return writers


def replace_atomically(target: Path, write) -> Path:
    """Replace ``target`` by what ``write(stream)`` writes, whole or not at all: a temp file beside it,
    fsync, ``os.replace``, the folder synced. A symbolic link is written through to its target and stays
    a link; the file keeps its permissions. Errors are WorkbookErrors that say the book is unchanged."""
    real = _real(target)
    folder = real.parent if str(real.parent) else Path(".")
    try:
        handle, temp_name = _temp_file(folder)
    except OSError as error:
        raise _write_error(target, error) from None
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        if real.exists():
            with contextlib.suppress(OSError):
                os.chmod(temp, real.stat().st_mode & 0o7777)
        else:
            with contextlib.suppress(OSError):
                os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, real)
    except BaseException as error:
        with contextlib.suppress(OSError):
            temp.unlink()
        if isinstance(error, OSError):
            raise _write_error(target, error) from None
        if isinstance(error, Exception):
            raise WorkbookError(_("cannot write {book}: {problem}").format(
                book=target.name, problem=f"{type(error).__name__}: {cell_text(error, 160)}")) from None
        raise
    _sync_folder(folder)
    return target


def _temp_file(folder: Path) -> tuple[int, str]:
    """A new file beside the book, only ours (tempfile.mkstemp without loading the random module)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOINHERIT", 0)
    for _attempt in range(100):
        name = str(folder / f".~greenapi-{os.urandom(6).hex()}.tmp")
        try:
            return os.open(name, flags, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(folder))


def _real(target: Path) -> Path:
    """Where a save really goes: the final target of a symbolic link (the link itself stays)."""
    return Path(os.path.realpath(target)) if target.is_symlink() else target


def _collect_quietly() -> None:
    """Finalise the abandoned streams now, without their complaints (the caller reports the real error)."""
    import gc

    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    try:
        gc.collect()
    finally:
        sys.unraisablehook = hook


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); Windows has no directory handles to fsync."""
    if sys.platform.startswith("win"):
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_error(target: Path, error: OSError) -> WorkbookError:
    if error.errno in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", -1)):
        why = _("the disk is full (or the file is larger than allowed); the book is unchanged")
    elif isinstance(error, PermissionError) or error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = _("the file or its folder is read-only, or another program holds it")
    else:
        why = _("{error}; the book is unchanged").format(error=error.strerror or error)
    return WorkbookError(_("cannot write {book}: {problem}").format(book=target.name, problem=why))


def _refuse_macro_mismatch(source: Path, target: Path) -> None:
    if (source.suffix.lower() in MACRO_SUFFIXES) != (target.suffix.lower() in MACRO_SUFFIXES):
        raise WorkbookError(_("cannot save {book} as {target}: a macro-enabled book stays .xlsm and a plain book "
                              "stays .xlsx").format(book=source.name, target=target.name))


# --- reading a sheet ------------------------------------------------------------------------------

class _Source:
    """What a save needs from the book as it was read: its bytes and the facts about the target sheet."""

    def __init__(self, original, package: "bookxml.Package", entry: "bookxml.SheetEntry"):
        self.original = original                    # the book's bytes as read (a private temporary file)
        self.package = package
        self.names = package.names
        self.epoch = bookxml.excel_epoch(package.date1904)
        self.sheet_part = entry.part
        self.sheet_id = entry.sheet_id
        self.styles: bookxml.Styles | None = None
        self.styles_part = package.part(package.styles)
        self.calc_chain = package.calc_chain
        self.headers: dict[int, object] = {}
        self.column_styles = bookxml.ColumnStyles([])
        self.formulas: set[tuple[int, int]] = set()  # (row, column) of formula cells in the columns read
        self.masters: set[tuple[int, int]] = set()   # shared/array formula anchors there: never overwritten
        self.status_column = 0
        self.own_widths: set[int] = set()            # columns with a width of the analyst's own
        self.row_map = None                          # where the rows are: the writer's fast path

    def copy_original(self, stream) -> None:
        import shutil

        self.original.seek(0)
        shutil.copyfileobj(self.original, stream, 1 << 20)

    def formulas_overwritten(self, has_rows, first: int, header_columns: set[int]) -> set[str]:
        found = set()
        for row, column in self.formulas:
            if not first <= column <= first + 2 or (row, column) in self.masters:
                continue
            if has_rows(row, row) or (row == 1 and column in header_columns):
                found.add(f"{layout.column_letter(column)}{row}")
        return found

    def result_widths(self, first: int) -> dict[int, float]:
        """Status, Details and Updated as wide as their text and the whole date-time (results.RESULT_WIDTHS),
        where the column has no width of the analyst's own."""
        return {first + offset: width for offset, width in enumerate(RESULT_WIDTHS)
                if first + offset not in self.own_widths}


def _choose_sheet(package, wanted: str | None, book_name: str):
    sheets = package.sheets
    if wanted is None or not str(wanted).strip():
        if not sheets:
            raise WorkbookError(_("{book} has no worksheet").format(book=book_name))
        return sheets[0]
    wanted = str(wanted).strip()
    by_name = {entry.name: entry for entry in sheets}
    if wanted in by_name:
        return by_name[wanted]
    for title, entry in by_name.items():
        if title.strip().casefold() == wanted.casefold():
            return entry
    names = ", ".join(repr(t) for t in by_name) or _("none")
    raise WorkbookError(_("{book} has no worksheet named {sheet!r} (its worksheets: {names})").format(
        book=book_name, sheet=wanted, names=names))


class ChatCells(Sequence):
    """(row, value) pairs, as a list of them reads, kept in two compact columns: a 100,000-row sheet
    needs 8 MB less than a list of tuples."""

    __slots__ = ("rows", "values")

    def __init__(self, pairs: Iterable[tuple[int, object]] = ()):
        self.rows = array("i")
        self.values: list = []
        for row, value in pairs:
            self.append(row, value)

    def append(self, row: int, value) -> None:
        self.rows.append(row)
        self.values.append(value)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return list(zip(self.rows[index], self.values[index]))
        return self.rows[index], self.values[index]

    def __iter__(self):
        return zip(self.rows, self.values)

    def __eq__(self, other):
        if isinstance(other, (list, tuple, ChatCells)):
            return len(self) == len(other) and all(a == tuple(b) for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ChatCells({list(self)!r})"


class _Values:
    """Turns stored cells into values as Excel shows them (shared strings fetched later, in one pass)."""

    def __init__(self, package, styles: "bookxml.Styles"):
        self.strings = bookxml.SharedStrings(package)
        self.styles = styles
        self.epoch = bookxml.excel_epoch(package.date1904)

    def shown(self, raw, strings: dict[int, str] | None = None, *, formula_value=None):
        from greenapi_excel.chat_ids import CellError

        kind, value, style, formula = raw
        if kind == "none":
            return formula_value if formula else None
        if kind == "s":
            return (strings or {}).get(value, "")
        if kind == "str":
            return value
        if kind == "e":
            return CellError(value)
        if kind == "b":
            return value in ("1", "true")
        if kind == "d":
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                return value
        try:
            return bookxml.number(value, date=self.styles.is_date(style), epoch=self.epoch)
        except ValueError:
            return value


def _read_sheet(cls, path: Path, package, entry, column: object, source_bytes) -> SheetFile:
    from greenapi_excel.chat_ids import FORMULA_WITHOUT_VALUE

    styles = bookxml.Styles(package)
    values_of = _Values(package, styles)
    source = _Source(source_bytes, package, entry)
    source.styles = styles
    tables = package.tables(entry.part)
    settings = _settings_of(package, values_of)  # first: its "chat column" may choose the column
    scan = bookxml.SheetScan(package.chunks(entry.part), entry.part)
    shown = values_of.shown
    found: dict = {}
    chat_cells = ChatCells()
    shared_at = array("I")                     # where chat_cells holds a shared string index
    # What the other columns hold, as much as placing results needs: a status text, other data.
    holds_status: set[int] = set()
    holds_data: set[int] = set()
    unseen: dict[int, set[int]] = {}           # shared strings to judge, by column
    status_cells: dict[int, dict[int, tuple]] = {}
    blocks: set[int] = set()                   # the columns of blocks headed Status, Details, Updated
    formulas, masters = source.formulas, source.masters

    def choose(header_raw: dict[int, tuple]) -> set[int]:
        """Row 1 read: the chat column, and the columns whose cells the rest of the pass keeps."""
        strings = values_of.strings.fetch({raw[1] for raw in header_raw.values() if raw[0] == "s"})
        headers = [shown(header_raw[c], strings) if c in header_raw else None
                   for c in range(1, max(header_raw, default=0) + 1)]
        source.headers = {c: headers[c - 1] for c in header_raw}
        for col, raw in header_raw.items():
            if raw[3]:
                (masters if raw[3] == "master" else formulas).add((1, col))
        try:
            chat_column = layout.find_chat_column(headers, setting=layout.explicit_chat_column(column, settings))
            layout.check_header_row(headers[chat_column - 1] if chat_column <= len(headers) else None, chat_column)
        except ConfigError as error:
            raise WorkbookError(f"{path.name} [{entry.name}]: {error}") from None
        wanted = set(range(chat_column, chat_column + 4))
        for number, header in enumerate(headers, start=1):
            if statuses.is_result_header(header, 0):   # Status / Статус
                wanted.update((number, number + 1, number + 2))
                blocks.update((number, number + 1, number + 2))
                status_cells[number] = {}
        wanted = {c for c in wanted if c <= layout.MAX_COLUMN}
        unseen.update({c: set() for c in wanted if c != chat_column})
        found.update(headers=headers, chat_column=chat_column, not_chats=_table_edges(tables, chat_column),
                     wanted=wanted)
        return wanted

    def take(number: int, col: int, raw: tuple) -> None:
        kind, value, style, formula = raw
        if formula:
            (masters if formula == "master" else formulas).add((number, col))
        if col == found["chat_column"]:
            if number in found["not_chats"]:
                return
            if kind == "s":
                shared_at.append(len(chat_cells))
                chat_cells.append(number, value)
            else:
                value = shown(raw, formula_value=FORMULA_WITHOUT_VALUE)
                if value is not None:
                    chat_cells.append(number, value)
            return
        # A formula counts as the analyst's data unless it shows a status; an anchor always does.
        if col in holds_data:
            pass
        elif formula == "master" or (kind == "none" and formula):
            holds_data.add(col)
        elif kind == "s":
            unseen[col].add(value)
        elif kind == "str":
            _judge(value, col, holds_status, holds_data)
        elif kind != "none":
            holds_data.add(col)  # a number, date, truth value or error is never a status
        if col in status_cells:
            if not formula:
                status_cells[col][number] = raw
        elif col in holds_data and col not in blocks:   # the analyst's data: no result goes here, no more to read
            found["wanted"].discard(col)
            unseen.pop(col, None)

    scan.run(wanted=choose, take=take)
    headers, chat_column = found["headers"], found["chat_column"]
    source.column_styles = scan.column_styles()
    source.own_widths = scan.own_widths()
    source.row_map = scan.rows
    if not scan.has_sheet_data:
        raise bookxml.PartProblem(_("the sheet has no <sheetData>, which every worksheet has"))
    # The shared strings the run needs, fetched in one streaming pass.
    values = chat_cells.values
    needed = {values[at] for at in shared_at}
    for col, indices in unseen.items():
        if col not in holds_data:
            needed.update(indices)
    for cells in status_cells.values():
        needed.update(raw[1] for raw in cells.values() if raw[0] == "s")
    strings = values_of.strings.fetch(needed)
    del needed
    for at in shared_at:
        values[at] = strings.get(values[at], "")
    for col, indices in unseen.items():
        for index in indices:
            if col in holds_data:
                break
            _judge(strings.get(index, ""), col, holds_status, holds_data)
    placed = {c: ([statuses.ARCHIVED] if c in holds_status else []) + ([_DATA] if c in holds_data else [])
              for c in {*unseen, *holds_data}}
    last_used = _mark_table_columns(tables, placed, source.headers, scan.last_column)
    used_columns = {c for c in range(1, layout.MAX_COLUMN + 1) if scan.used[c]}
    try:
        placement = layout.place_results(headers, chat_column, placed, last_used_column=last_used,
                                         hidden_columns=scan.hidden_columns(), used_columns=used_columns)
    except ConfigError as error:
        raise WorkbookError(f"{path.name} [{entry.name}]: {error}") from None
    source.status_column = placement.status_column
    chat_cells, labels = _without_labels(chat_cells, scan.merges, chat_column, placement.status_column)

    previous: dict[int, str] = {}
    if placement.reuses_earlier:
        for row, raw in status_cells.get(placement.status_column, {}).items():
            text = values_of.shown(raw, strings)
            if statuses.is_status_text(text):
                previous[row] = text
    return cls(path, sheet_name=entry.name, chat_column=chat_column, placement=placement, chat_cells=chat_cells,
               previous=previous, settings=settings, hidden_rows=scan.hidden_rows, source=source, labels=labels)


def _without_labels(cells: ChatCells, merges, chat_column: int, status_column: int) -> tuple[ChatCells, int]:
    """The chat cells without merged labels: a merge that reaches from the chat column into the result
    columns (a footnote such as "Source: CRM export" over A8:E8) is a label, not a chat; it keeps its merge
    and gets no status. Returns the cells left and how many labels held text."""
    reach = [(top, bottom) for top, left, bottom, right in merges
             if bottom >= 2 and left <= chat_column <= right and left <= status_column + 2 and right >= status_column]
    if not reach:
        return cells, 0
    rows: set[int] = set()
    for top, bottom in reach:
        rows.update(range(max(top, 2), bottom + 1))
    kept = ChatCells()
    labels = 0
    for row, value in cells:
        if row in rows:
            labels += 1
        else:
            kept.append(row, value)
    return kept, labels


def _judge(text: str, col: int, holds_status: set[int], holds_data: set[int]) -> None:
    if not text.strip():
        return
    (holds_status if statuses.is_status_text(text) else holds_data).add(col)


def _table_edges(tables, chat_column: int) -> set[int]:
    """Rows of the chat column that are a table's header or totals row below row 1: not chats."""
    rows: set[int] = set()
    for table in tables:
        if table.left <= chat_column <= table.right:
            if table.header_rows and table.top > 1:
                rows.add(table.top)
            if table.totals_rows:
                rows.update(range(table.bottom - table.totals_rows + 1, table.bottom + 1))
    return rows


def _mark_table_columns(tables, values: dict, headers: dict, last_column: int) -> int:
    """Results go beside an Excel table, never into it: its columns count as taken (unless they are an
    earlier block headed Status/Details/Updated in the table's own header row), and the used range
    reaches its right edge. The table part is then never touched, so it stays valid as it was."""
    for table in tables:
        for col in range(table.left, table.right + 1):
            header = headers.get(col)
            ours = table.top == 1 and any(statuses.is_result_header(header, i) for i in range(3))
            if not ours and col in values:
                values[col] = [*values[col], _TABLE]
            elif not ours:
                values[col] = [_TABLE]
        last_column = max(last_column, table.right)
    return last_column


def _settings_of(package, values_of: _Values) -> dict:
    """apiUrl and idInstance from a Settings sheet (labels in A, values in B); the token is never read."""
    entry = next((e for e in package.sheets if layout.is_settings_sheet(e.name)), None)   # Settings / Настройки
    if entry is None:
        return {}
    cells: dict[tuple[int, int], tuple] = {}

    def take(row, col, raw):
        cells[(row, col)] = raw

    scan = bookxml.SheetScan(package.chunks(entry.part), entry.part)
    scan.run(wanted={1, 2}, take=take, until_row=layout.SETTINGS_ROWS)
    strings = values_of.strings.fetch({raw[1] for raw in cells.values() if raw[0] == "s"})

    def value_of(raw):  # a formula or an error is no setting
        if raw is None or raw[3] or raw[0] == "e":
            return None
        return values_of.shown(raw, strings)

    rows = [(value_of(cells.get((row, 1))) if cells.get((row, 1)) else None, value_of(cells.get((row, 2))))
            for row in range(1, layout.SETTINGS_ROWS + 1)]
    return layout.read_settings_rows([(label, value) for label, value in rows if value is not None]).values



# --- one run per book: the lock lives with the other per-user files (paths.book_lock) -------------------

"""The file side of a sheet: read the chat column of a book on disk, write Status/Details/Updated back.

The book is read as bytes and never loaded whole: the target sheet's rows are streamed once, keeping
row 1, the chat column and the columns results may go to (``bookxml``). A save writes a new package from
the original bytes: the target sheet with the result cells spliced in, ``styles.xml`` with at most one
appended cell format for the Updated time, and every other part (drawings, charts, VBA project, ribbon,
calc chain, other sheets) copied byte for byte. Saves are atomic: a temp file in the book's folder, fsync,
``os.replace``; a kill at any moment leaves either the old book or the new one. Every periodic save
starts again from the original bytes with all results so far, so it never re-reads its own output.
The placement rules are ``layout``'s, shared with the add-in.
"""

from __future__ import annotations

import contextlib
import errno
import io
import math
import os
import re
import sys
import zipfile
from array import array
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from greenapi_excel import bookxml, layout, statuses
from greenapi_excel.errors import BookBusy, ConfigError, WorkbookError
from greenapi_excel.paths import book_lock  # noqa: F401 - sheets.book_lock, as the edges call it
from greenapi_excel.results import DETAILS_LIMIT, STATUS_LIMIT, RowResult, cell_text

BOOK_SUFFIXES = (".xlsx", ".xlsm", ".xltx", ".xltm")
MACRO_SUFFIXES = (".xlsm", ".xltm")
UPDATED_FORMAT = "yyyy-mm-dd hh:mm:ss"
EXCEL_ROWS = 1_048_576
_OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_DATA = "="             # what a column of the analyst's own data shows place_results
_TABLE = "\0table"      # what a column inside an Excel table counts as when placing results


# --- checks before reading or writing -------------------------------------------------------------

def _refuse_unless_book(path: Path) -> None:
    name = path.name
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise WorkbookError(f"{name} is an Excel 97-2003 .xls book: open it in Excel and save it as .xlsx first")
    if suffix == ".csv":
        raise WorkbookError(f"{name} is a CSV file: open it in Excel and save it as .xlsx first")
    if suffix not in BOOK_SUFFIXES:
        raise WorkbookError(f"{name} is not an Excel workbook: give an .xlsx or .xlsm file")


def _refuse_unless_readable(path: Path) -> None:
    name = path.name
    if not path.exists():
        raise WorkbookError(f"cannot open {path}: there is no such file")
    if path.is_dir():
        raise WorkbookError(f"cannot open {path}: it is a folder, not a workbook")
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError as error:
        raise WorkbookError(f"cannot open {name}: {error.strerror or error}") from None
    if head == _OLE2_MAGIC:
        raise WorkbookError(f"{name} is an Excel 97-2003 book (or encrypted) under an .xlsx name: "
                            "save it from Excel as .xlsx without a password first")
    if not zipfile.is_zipfile(path):
        raise WorkbookError(f"{name} is not a valid .xlsx workbook (it is not a zip package): "
                            "it may be damaged, or another kind of file under an .xlsx name")


def owner_file(path: Path) -> Path | None:
    """Excel's owner file beside an open book ("~$" + name; long names lose their first two chars)."""
    folder, name = path.parent, path.name
    for candidate in ("~$" + name, "~$" + name[2:]):
        owner = folder / candidate
        if len(candidate) > 2 and owner.exists():
            return owner
    return None


def _refuse_if_open_in_excel(path: Path) -> None:
    owner = owner_file(path)
    if owner is not None:
        raise BookBusy(f"{path.name} is open in Excel (its owner file {owner.name} is beside it): "
                       f"close it in Excel first, or delete {owner.name} if Excel is not running")


def _refuse_unless_writable(path: Path) -> None:
    name = path.name
    # The read-only attribute counts even for an administrator (root's os.access ignores mode bits).
    if path.exists() and (not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222):
        raise WorkbookError(f"cannot write {name}: the file is read-only")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise WorkbookError(f"cannot write {name}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise WorkbookError(f"cannot write {name}: its folder {folder} is read-only")


# --- the sheet -----------------------------------------------------------------------------------

class SheetFile:
    """One sheet of a book on disk: where the chats are, what an earlier run wrote, where results go.

    ``chat_cells`` holds (row, value) for the non-empty cells below the header, values as Excel shows
    them: a formula's saved value, ``chat_ids.CellError`` for an error value, ``chat_ids.FORMULA_WITHOUT_VALUE``
    for a formula that was never calculated. ``previous`` maps a row to its earlier Status text.
    ``hidden_rows`` are the rows the sheet hides (``<row hidden="1">``).
    """

    def __init__(self, path: Path, *, sheet_name: str, chat_column: int, placement: layout.ResultPlacement,
                 chat_cells: list[tuple[int, object]], previous: dict[int, str], settings: dict,
                 hidden_rows: set[int], source: "_Source"):
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
        self.written = 0
        self._source = source
        self._headers_written = False
        # Results so far, compactly (a 100,000-row run keeps a few MB): parallel arrays, texts by number,
        # and for each row the index of its latest result (-1: none yet).
        self._status = array("I")
        self._details = array("I")
        self._stamps = array("d")
        self._latest = array("i")
        self._texts: dict[str, int] = {}
        self._raw_texts: dict[tuple[str, int], int] = {}
        self._text_list: list[str] = []

    # -- reading --

    @classmethod
    def open(cls, path, *, sheet: str | None = None, column: object = None, out=None) -> "SheetFile":
        """Read the book once. ``out`` (where saves will go, default the book) is checked for writing now,
        so a book that cannot be written is refused before any call is made."""
        path = Path(path)
        _refuse_unless_book(path)
        _refuse_unless_readable(path)
        target = Path(out) if out else path
        if out:
            _refuse_unless_book(target)
            _refuse_macro_mismatch(path, target)
        _refuse_if_open_in_excel(target)
        _refuse_unless_writable(_real(target))
        try:
            source_bytes = path.read_bytes()
        except OSError as error:
            raise WorkbookError(f"cannot open {path.name}: {error.strerror or error}") from None
        try:
            package = bookxml.Package(source_bytes)
        except Exception as error:  # a damaged package raises many kinds
            raise WorkbookError(f"cannot read {path.name}: it is damaged or not a workbook Excel wrote "
                                f"({type(error).__name__}: {cell_text(error, 160)})") from None
        entry = _choose_sheet(package, sheet, path.name)
        try:
            return _read_sheet(cls, path, package, entry, column, source_bytes)
        except (WorkbookError, ConfigError):
            raise
        except Exception as error:
            raise WorkbookError(f"cannot read {path.name}: it is damaged or not a workbook Excel wrote "
                                f"({type(error).__name__}: {cell_text(error, 160)})") from None

    # -- writing --

    def write(self, results: Iterable[RowResult]) -> None:
        """Keep results for the Status/Details/Updated cells of their rows (in memory; ``save`` writes)."""
        self._headers_written = True
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

    def save(self, out=None) -> Path:
        """Write the book to ``out`` (default: where it came from) atomically; returns the path written.

        A book reached through a symbolic link is written to the link's target; the link stays."""
        target = Path(out) if out else self.path
        _refuse_unless_book(target)
        _refuse_macro_mismatch(self.path, target)
        _refuse_if_open_in_excel(target)
        real = _real(target)
        if real != target:
            _refuse_if_open_in_excel(real)
        _refuse_unless_writable(real)
        return replace_atomically(target, self._write_package)

    def _write_package(self, stream) -> None:
        """The original package with the results in: see the module docstring for what changes."""
        source = self._source
        original = zipfile.ZipFile(io.BytesIO(source.data))
        edit = self._edit()
        replaced: dict[str, bytes | None] = {}
        if edit is not None:
            bases = source.date_bases()
            if source.styles_part and len(self._stamps) and bases:
                styles = bookxml.Styles(original.read(source.styles_part))
                xml, edit.date_styles = styles.with_date_formats(bases, UPDATED_FORMAT)
                if xml is not styles.xml:
                    replaced[source.styles_part] = xml
            overwritten = source.formulas_overwritten(edit)
            if overwritten and source.calc_chain in source.names:
                chain = bookxml.without_calc_cells(original.read(source.calc_chain), source.sheet_id, overwritten)
                replaced[source.calc_chain] = chain
                if chain is None:
                    replaced.update(_without_part(original, source.calc_chain))
        archive = zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        try:
            for info in original.infolist():
                name = info.filename
                if name in replaced:
                    if replaced[name] is not None:
                        bookxml.copy_part(original, info, archive, data=replaced[name])
                elif name == source.sheet_part and edit is not None:
                    bookxml.copy_part(original, info, archive, writer=bookxml.SheetWriter(edit).write)
                else:
                    bookxml.copy_part(original, info, archive)
            archive.close()
        except BaseException as error:
            archive.fp = None  # the temp file is discarded anyway: nothing left to finish
            error.__context__ = None
            error = error.with_traceback(None)
            del archive
            _collect_quietly()
            raise error

    def _edit(self) -> "bookxml.SheetEdit | None":
        if not self._headers_written:
            return None
        first = self.status_column_number
        # Headers an earlier run wrote stay as they are (in its language); missing ones in this run's.
        existing = [self._source.headers.get(first + offset) for offset in range(3)]
        headers = {first + offset: text for offset, text in enumerate(statuses.result_headers(existing))
                   if self._source.headers.get(first + offset) != text}
        return bookxml.SheetEdit(first, headers, self._results(), self._bottom(), self._has_rows, {},
                                 skip=self._source.masters)


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
            raise WorkbookError(f"cannot write {target.name}: {type(error).__name__}: "
                                f"{cell_text(error, 160)}") from None
        raise
    _sync_folder(folder)
    return target


def _temp_file(folder: Path) -> tuple[int, str]:
    """A new file beside the book, only ours (tempfile.mkstemp without loading the random module)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOINHERIT", 0)
    for _ in range(100):
        name = str(folder / f".~greenapi-{os.urandom(6).hex()}.tmp")
        try:
            return os.open(name, flags, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(folder))


def _real(target: Path) -> Path:
    """Where a save really goes: the final target of a symbolic link (the link itself stays)."""
    return Path(os.path.realpath(target)) if target.is_symlink() else target


def _without_part(package: zipfile.ZipFile, part: str) -> dict[str, bytes | None]:
    """Drop a part with its relationship and content type (an empty calc chain is not allowed)."""
    import re

    changed: dict[str, bytes | None] = {part: None}
    folder, name = part.rsplit("/", 1) if "/" in part else ("", part)
    names = set(package.namelist())
    for rels in {f"{folder}/_rels/workbook.xml.rels", "xl/_rels/workbook.xml.rels"} & names:
        xml = package.read(rels)
        new = re.sub(rb"<Relationship\b[^>]*Target=\"[^\"]*" + re.escape(name.encode()) + rb"\"[^>]*/>", b"", xml)
        if new != xml:
            changed[rels] = new
    types = "[Content_Types].xml"
    if types in names:
        xml = package.read(types)
        new = re.sub(rb"<Override\b[^>]*PartName=\"/" + re.escape(part.encode()) + rb"\"[^>]*/>", b"", xml)
        if new != xml:
            changed[types] = new
    return changed


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
        why = "the disk is full (or the file is larger than allowed); the book is unchanged"
    elif isinstance(error, PermissionError) or error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "the file or its folder is read-only, or another program holds it"
    else:
        why = f"{error.strerror or error}; the book is unchanged"
    return WorkbookError(f"cannot write {target.name}: {why}")


def _refuse_macro_mismatch(source: Path, target: Path) -> None:
    if (source.suffix.lower() in MACRO_SUFFIXES) != (target.suffix.lower() in MACRO_SUFFIXES):
        raise WorkbookError(f"cannot save {source.name} as {target.name}: a macro-enabled book stays .xlsm "
                            "and a plain book stays .xlsx")


# --- reading a sheet ------------------------------------------------------------------------------

class _Source:
    """What a save needs from the book as it was read: its bytes and the facts about the target sheet."""

    def __init__(self, data: bytes, package: "bookxml.Package", entry: "bookxml.SheetEntry"):
        self.data = data
        self.names = package.names
        self.epoch = bookxml.excel_epoch(package.date1904)
        self.sheet_part = entry.part
        self.sheet_id = entry.sheet_id
        self.styles_part = package.styles if package.styles in package.names else None
        self.calc_chain = package.calc_chain
        self.headers: dict[int, object] = {}
        self.column_styles = bookxml.ColumnStyles([])
        self.row_styles: set[int] = set()            # styles of rows with customFormat
        self.cell_styles: dict[int, set[int]] = {}   # column -> styles of its cells (the columns read)
        self.formulas: set[tuple[int, int]] = set()  # (row, column) of formula cells in the columns read
        self.masters: set[tuple[int, int]] = set()   # shared/array formula anchors there: never overwritten
        self.status_column = 0

    def date_bases(self) -> set[int]:
        """Every style an Updated cell may start from (its old cell's, its row's, its column's)."""
        column = self.status_column + 2
        return {0, *self.row_styles, *self.cell_styles.get(column, ()), self.column_styles.of(column) or 0}

    def formulas_overwritten(self, edit: "bookxml.SheetEdit") -> set[str]:
        first = edit.first_column
        found = set()
        for row, column in self.formulas:
            if not first <= column <= first + 2 or (row, column) in self.masters:
                continue
            if edit.has_rows(row, row) or (row == 1 and column in edit.headers):
                found.add(f"{layout.column_letter(column)}{row}")
        return found


def _choose_sheet(package, wanted: str | None, book_name: str):
    sheets = package.sheets
    if wanted is None or not str(wanted).strip():
        if not sheets:
            raise WorkbookError(f"{book_name} has no worksheet")
        return sheets[0]
    wanted = str(wanted).strip()
    by_name = {entry.name: entry for entry in sheets}
    if wanted in by_name:
        return by_name[wanted]
    for title, entry in by_name.items():
        if title.strip().casefold() == wanted.casefold():
            return entry
    names = ", ".join(repr(t) for t in by_name) or "none"
    raise WorkbookError(f"{book_name} has no worksheet named {wanted!r} (its worksheets: {names})")


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


class _SheetCells:
    """The cells of a sheet part, block by block: row 1 first, then only the columns asked for."""

    def __init__(self, stream):
        self.sheet = bookxml.SheetStream(stream)
        self._blocks = self.sheet.blocks()
        self.head = next(self._blocks)[1]
        prefix = self.sheet.prefix
        self.scanner = bookxml.RowScanner(prefix)
        p = re.escape(prefix)
        self._row_tag = b"<" + prefix + b"row"
        self._cell_tag = b"<" + prefix + b"c "
        # Excel, LibreOffice and XlsxWriter write r first: a literal prefix is found fastest.
        self._row_refs_first = re.compile(b"<" + p + rb"row r=\"(\d+)\"")
        self._cell_refs_first = re.compile(b"<" + p + rb"c r=\"([A-Z]{1,3})\d")
        self._row_refs = re.compile(b"<" + p + rb"row\b[^>]*?\sr\s*=\s*[\"'](\d+)")
        self._cell_refs = re.compile(b"<" + p + rb"c(?:\s[^>]*?)?\sr\s*=\s*[\"']([A-Z]{1,3})\d")
        self._fact_rows = re.compile(b"<" + p + rb"row\b[^>]*?\s(?:hidden|customFormat)\s*=\s*[\"'](?:1|true)[\"'][^>]*>")
        self._pending: bytes | None = None
        self.before = 0  # the last row number seen

    def _regions(self) -> Iterator[bytes]:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            yield pending
        for kind, data in self._blocks:
            if kind == "rows":
                yield data

    def first_row(self) -> tuple[int, int, bytes] | None:
        """Row 1 as (1, end of its start tag, bytes), or None when the sheet does not start with it."""
        for region in self._regions():
            for start, end, tag_end in self.sheet.rows(region):
                found = bookxml._R_ROW.search(region, start, tag_end)
                number = int(found.group(1)) if found else 1
                if number == 1:
                    self._pending = region[end:]
                    self.before = 1
                    return 1, tag_end - start, region[start:end]
                self._pending = region[start:]
                return None
        return None

    def rows(self, last: int) -> Iterator[tuple[int, int, bytes]]:
        """Every row up to row ``last`` as (number, end of its start tag, bytes)."""
        for region in self._regions():
            for start, end, tag_end in self.sheet.rows(region):
                found = bookxml._R_ROW.search(region, start, tag_end)
                self.before = number = int(found.group(1)) if found else self.before + 1
                if number > last:
                    return
                yield number, tag_end - start, region[start:end]

    def scan(self, wanted: set[int], take, facts) -> int:
        """Calls ``take(row, column, attributes, inner)`` for each cell in a wanted column and
        ``facts(row, start tag)`` for rows that hide or style themselves; returns the last used column."""
        letters = b"|".join(sorted((layout.column_letter(c).encode() for c in wanted), key=len, reverse=True))
        p = re.escape(self.sheet.prefix)
        wanted_first = re.compile(b"<" + p + rb"c r=\"(" + letters + rb")(\d+)\"([^>]*?)(?:/>|>(.*?)</" + p
                                  + rb"c>)", re.S)
        wanted_cells = re.compile(b"<" + p + rb"c(?=(?:\s[^>]*?)?\sr\s*=\s*[\"'](" + letters + rb")(\d+)[\"'])"
                                  + rb"(\s[^>]*?)?(?:/>|>(.*?)</" + p + rb"c>)", re.S)
        last_column = 1
        column_of = bookxml.column_of
        for region in self._regions():
            rows_here, cells_here = region.count(self._row_tag), region.count(self._cell_tag)
            row_refs = self._row_refs_first.findall(region)
            if len(row_refs) != rows_here:
                row_refs = self._row_refs.findall(region)
            cell_refs = self._cell_refs_first.findall(region)
            finder = wanted_first
            if len(cell_refs) != cells_here:
                cell_refs, finder = self._cell_refs.findall(region), wanted_cells
            if (len(row_refs) == rows_here and len(cell_refs) == cells_here
                    and not any(bare in region for bare in self.scanner.bare_cells)):
                # Every row and cell names its place: find the wanted cells directly.
                if cell_refs:
                    last_column = max(last_column, *(column_of(c) for c in set(cell_refs)))
                if b"hidden" in region or b"customFormat" in region:
                    for match in self._fact_rows.finditer(region):
                        found = bookxml._R_ROW.search(match.group(0))
                        facts(int(found.group(1)), match.group(0))
                for letters, number, attrs, inner in finder.findall(region):
                    take(int(number), column_of(letters), attrs, inner)
                if row_refs:
                    self.before = int(row_refs[-1])
                continue
            for start, end, tag_end in self.sheet.rows(region):  # the general way: row by row
                found = bookxml._R_ROW.search(region, start, tag_end)
                self.before = number = int(found.group(1)) if found else self.before + 1
                tag = region[start:tag_end]
                if b"hidden" in tag or b"customFormat" in tag:
                    facts(number, tag)
                row = region[start:end]
                for col, _, _, attrs, inner in self.scanner.cells(row, tag_end - start):
                    if col > last_column:
                        last_column = col
                    if col in wanted:
                        take(number, col, attrs, inner)
        return last_column


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


def _read_sheet(cls, path: Path, package, entry, column: object, source_bytes: bytes) -> SheetFile:
    from greenapi_excel.chat_ids import FORMULA_WITHOUT_VALUE

    styles = bookxml.Styles(package.zip.read(package.styles) if package.styles in package.names else None)
    values_of = _Values(package, styles)
    source = _Source(source_bytes, package, entry)
    tables = package.tables(entry.part)
    settings = _settings_of(package, values_of)  # first: its "chat column" may choose the column
    with package.open(entry.part) as stream:
        reader = _SheetCells(stream)
        scanner = reader.scanner
        source.column_styles = bookxml.column_styles(reader.head)
        cell_of = bookxml.raw_cell
        hidden: set[int] = set()
        row_styles = source.row_styles

        def row_facts(number: int, tag: bytes) -> None:
            attrs = bookxml.attributes(tag[:tag.index(b">") + 1])
            if attrs.get("hidden", "").lower() in ("1", "true"):
                hidden.add(number)
            if attrs.get("customFormat", "").lower() in ("1", "true") and attrs.get("s", "").isdigit():
                row_styles.add(int(attrs["s"]))

        # Row 1: the headers.
        first_row = reader.first_row()
        header_raw: dict[int, tuple] = {}
        last_column = 1
        if first_row is not None:
            _, tag_end, data = first_row
            if b"hidden" in data[:tag_end] or b"customFormat" in data[:tag_end]:
                row_facts(1, data[:tag_end])
            for col, _, _, attrs, inner in scanner.cells(data, tag_end):
                header_raw[col] = cell_of(scanner, attrs, inner)
                last_column = max(last_column, col)
        strings = values_of.strings.fetch({raw[1] for raw in header_raw.values() if raw[0] == "s"})
        headers = [values_of.shown(header_raw[c], strings) if c in header_raw else None
                   for c in range(1, max(header_raw, default=0) + 1)]
        source.headers = {c: headers[c - 1] for c in header_raw}
        try:
            chat_column = layout.find_chat_column(headers, setting=layout.explicit_chat_column(column, settings))
            layout.check_header_row(headers[chat_column - 1] if chat_column <= len(headers) else None, chat_column)
        except ConfigError as error:
            raise WorkbookError(f"{path.name} [{entry.name}]: {error}") from None

        # One pass over the rest: the chat column and every column a result block may use.
        wanted = set(range(chat_column, chat_column + 4))
        status_headed = set()
        for number, header in enumerate(headers, start=1):
            if statuses.is_result_header(header, 0):   # Status / Статус
                wanted.update((number, number + 1, number + 2))
                status_headed.add(number)
        wanted = {c for c in wanted if c <= layout.MAX_COLUMN}
        not_chats = _table_edges(tables, chat_column)
        chat_cells = ChatCells()
        shared_at = array("I")                     # where chat_cells holds a shared string index
        # What the other columns hold, as much as placing results needs: a status text, other data.
        holds_status: set[int] = set()
        holds_data: set[int] = set()
        unseen: dict[int, set[int]] = {c: set() for c in wanted if c != chat_column}  # shared strings to judge
        status_cells: dict[int, dict[int, tuple]] = {c: {} for c in status_headed}
        cell_styles = source.cell_styles
        formulas, masters = source.formulas, source.masters
        shown = values_of.shown

        def take(number: int, col: int, attrs: bytes, inner: bytes) -> None:
            raw = cell_of(scanner, attrs, inner)
            kind, value, style, formula = raw
            if style:
                cell_styles.setdefault(col, set()).add(style)
            if formula:
                (masters if formula == "master" else formulas).add((number, col))
            if col == chat_column:
                if number in not_chats:
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
            if col in status_cells and not formula:
                status_cells[col][number] = raw

        last_column = max(last_column, reader.scan(wanted, take, row_facts))
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
        values = {c: ([statuses.ARCHIVED] if c in holds_status else []) + ([_DATA] if c in holds_data else [])
                  for c in unseen}
        last_used = _mark_table_columns(tables, values, source.headers, last_column)
    try:
        placement = layout.place_results(headers, chat_column, values, last_used_column=last_used)
    except ConfigError as error:
        raise WorkbookError(f"{path.name} [{entry.name}]: {error}") from None
    source.status_column = placement.status_column

    previous: dict[int, str] = {}
    if placement.reuses_earlier:
        for row, raw in status_cells.get(placement.status_column, {}).items():
            text = values_of.shown(raw, strings)
            if statuses.is_status_text(text):
                previous[row] = text
    return cls(path, sheet_name=entry.name, chat_column=chat_column, placement=placement, chat_cells=chat_cells,
               previous=previous, settings=settings, hidden_rows=hidden, source=source)


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
        last_column = max(last_column, table.right)
    return last_column


def _settings_of(package, values_of: _Values) -> dict:
    """apiUrl and idInstance from a Settings sheet (labels in A, values in B); the token is never read."""
    entry = next((e for e in package.sheets if layout.is_settings_sheet(e.name)), None)   # Settings / Настройки
    if entry is None:
        return {}
    cells: dict[tuple[int, int], tuple] = {}
    with package.open(entry.part) as stream:
        reader = _SheetCells(stream)
        scanner = reader.scanner
        for number, tag_end, data in reader.rows(layout.SETTINGS_ROWS):
            for col, _, _, attrs, inner in scanner.cells(data, tag_end):
                if col > 2:
                    break
                cells[(number, col)] = bookxml.raw_cell(scanner, attrs, inner)
    strings = values_of.strings.fetch({raw[1] for raw in cells.values() if raw[0] == "s"})

    def value_of(raw):  # a formula or an error is no setting
        if raw is None or raw[3] or raw[0] == "e":
            return None
        return values_of.shown(raw, strings)

    rows = [(value_of(cells.get((row, 1))) if cells.get((row, 1)) else None, value_of(cells.get((row, 2))))
            for row in range(1, layout.SETTINGS_ROWS + 1)]
    return layout.read_settings_rows([(label, value) for label, value in rows if value is not None]).values



# --- one run per book: the lock lives with the other per-user files (paths.book_lock) -------------------

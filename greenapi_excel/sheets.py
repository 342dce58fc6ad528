"""The openpyxl side of a sheet: read the chat column of a book on disk, write Status/Details/Updated back.

One load keeping formulas (so a save never turns the analyst's formulas into values), one pass over the
cells that exist (a stray cell on row 1,048,576 costs nothing), results written into memory in blocks
and saved atomically: a temp file in the book's folder, fsync, ``os.replace``. A kill at any moment
leaves either the old book or the new one. ``.xlsm`` books keep their VBA project and their ribbon.
The placement rules are ``layout``'s, shared with the add-in.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import hashlib
import io
import os
import sys
import tempfile
import zipfile
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator
from xml.etree import ElementTree

from greenapi_excel import layout, statuses
from greenapi_excel.errors import BookBusy, ConfigError, WorkbookError
from greenapi_excel.paths import user_folder
from greenapi_excel.results import DETAILS_LIMIT, STATUS_LIMIT, RowResult, cell_text

BOOK_SUFFIXES = (".xlsx", ".xlsm", ".xltx", ".xltm")
MACRO_SUFFIXES = (".xlsm", ".xltm")
UPDATED_FORMAT = "yyyy-mm-dd hh:mm:ss"
EXCEL_ROWS = 1_048_576

# Ribbon relationships in _rels/.rels: Office 2007's customUI.xml and Office 2010's customUI14.xml.
UI_RELATIONSHIP_TYPES = (
    "http://schemas.microsoft.com/office/2006/relationships/ui/extensibility",
    "http://schemas.microsoft.com/office/2007/relationships/ui/extensibility",
)
_RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_TYPES_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
ROOT_RELS = "_rels/.rels"
CONTENT_TYPES = "[Content_Types].xml"
RIBBON_PREFIX = "customUI/"

# Control characters, line/paragraph separators and lone surrogates: none belongs in a cell
_OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")


# --- text that goes into a cell ------------------------------------------------------------------

def _put_text(ws, row: int, column: int, text: str) -> None:
    """``text`` comes from cell_text (clean and short), so openpyxl's own checks are skipped."""
    cell = ws.cell(row, column)
    # A string cell is text to Excel whatever it starts with (openpyxl would make "=..." a formula).
    cell._value = text or None
    cell.data_type = "s" if text else "n"


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
    """

    def __init__(self, path: Path, workbook, worksheet, *, chat_column: int, placement: layout.ResultPlacement,
                 chat_cells: list[tuple[int, object]], previous: dict[int, str], settings: dict):
        self.path = path
        self.workbook = workbook
        self.worksheet = worksheet
        self.sheet_name = worksheet.title
        self.chat_column_number = chat_column
        self.chat_column = layout.column_letter(chat_column)
        self.status_column_number = placement.status_column
        self.result_column = layout.column_letter(placement.status_column)
        self.placement_note = placement.note
        self.chat_cells = chat_cells
        self.previous = previous
        self.settings = settings  # apiUrl / idInstance from a Settings sheet; never the token
        self.hidden_rows: set[int] = set()  # rows the book hides (a filter, or by hand): row_dimensions' hidden flag
        self.written = 0
        self._headers_written = False
        self._date_styles: dict[tuple, object] = {}
        self._source_bytes: bytes | None = None  # the .xlsm as read, for the ribbon parts
        self._macro = path.suffix.lower() in MACRO_SUFFIXES

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
        _refuse_unless_writable(target)

        import openpyxl

        macro = path.suffix.lower() in MACRO_SUFFIXES
        try:
            source_bytes = path.read_bytes()
        except OSError as error:
            raise WorkbookError(f"cannot open {path.name}: {error.strerror or error}") from None
        try:
            # From memory: a failed load leaves no half-open zip file to complain on stderr later.
            workbook = openpyxl.load_workbook(io.BytesIO(source_bytes), keep_vba=macro, data_only=False,
                                              keep_links=True)
        except Exception as error:  # openpyxl raises many kinds on a damaged package
            raise WorkbookError(f"cannot read {path.name}: it is damaged or not a workbook Excel wrote "
                                f"({type(error).__name__}: {cell_text(error, 160)})") from None
        if macro and workbook.vba_archive is not None:
            # openpyxl keeps the parts in a zip open for appending, whose finaliser fails noisily at exit;
            # a read-only view of the same package serves its save just as well.
            workbook.vba_archive.close()
            workbook.vba_archive = zipfile.ZipFile(io.BytesIO(source_bytes))
        worksheet = _choose_sheet(workbook, sheet, path.name)
        sheet_file = _read_sheet(cls, path, workbook, worksheet, column)
        sheet_file._source_bytes = source_bytes if macro else None
        sheet_file.hidden_rows = {row for row, dimension in worksheet.row_dimensions.items() if dimension.hidden}
        return sheet_file

    # -- writing --

    def write(self, results: Iterable[RowResult]) -> None:
        """Put results into the Status/Details/Updated cells of their rows (in memory; ``save`` writes)."""
        ws = self.worksheet
        status_column = self.status_column_number
        if not self._headers_written:
            # Headers an earlier run wrote stay as they are (in its language); missing ones in this run's.
            existing = [ws.cell(1, status_column + offset).value for offset in range(3)]
            for offset, header in enumerate(statuses.result_headers(existing)):
                _put_text(ws, 1, status_column + offset, header)
            self._headers_written = True
        for result in results:
            row = result.row
            if not 2 <= row <= EXCEL_ROWS:
                raise ValueError(f"row {row} is not a data row of a sheet")
            _put_text(ws, row, status_column, cell_text(statuses.localised(result.status), STATUS_LIMIT))
            _put_text(ws, row, status_column + 1, cell_text(result.details, DETAILS_LIMIT))
            updated = ws.cell(row, status_column + 2)
            stamp = result.updated
            if stamp is not None and stamp.tzinfo is not None:
                stamp = stamp.astimezone().replace(tzinfo=None)  # Excel has no time zones: local time
            if stamp is not None:
                stamp = stamp.replace(microsecond=0)  # the cell shows seconds; keep what it shows
            updated.value = stamp
            if stamp is not None:
                # The same few styles over and over: remembering them skips openpyxl's lookup per cell,
                # and a cell the analyst formatted keeps its font and fill.
                before = tuple(updated._style)
                after = self._date_styles.get(before)
                if after is None:
                    updated.number_format = UPDATED_FORMAT
                    self._date_styles[before] = copy.copy(updated._style)
                else:
                    updated._style = copy.copy(after)
            self.written += 1

    def save(self, out=None) -> Path:
        """Write the book to ``out`` (default: where it came from) atomically; returns the path written."""
        target = Path(out) if out else self.path
        _refuse_unless_book(target)
        _refuse_macro_mismatch(self.path, target)
        _refuse_if_open_in_excel(target)
        _refuse_unless_writable(target)
        folder = target.parent if str(target.parent) else Path(".")
        try:
            handle, temp_name = tempfile.mkstemp(prefix=".~greenapi-", suffix=".tmp", dir=folder)
        except OSError as error:
            raise _write_error(target, error) from None
        temp = Path(temp_name)
        try:
            with os.fdopen(handle, "wb") as stream:
                if self._macro and self._source_bytes is not None:
                    buffer = io.BytesIO()
                    _write_package(self.workbook, buffer)
                    stream.write(restore_ribbon(buffer.getvalue(), self._source_bytes))
                else:
                    _write_package(self.workbook, stream)
                stream.flush()
                os.fsync(stream.fileno())
            if target.exists():
                with contextlib.suppress(OSError):
                    os.chmod(temp, target.stat().st_mode & 0o7777)
            else:
                with contextlib.suppress(OSError):
                    os.chmod(temp, 0o666 & ~_umask())
            os.replace(temp, target)
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


def _write_package(workbook, stream) -> None:
    """openpyxl's save_workbook, except that a failed write leaves nothing half-open behind: openpyxl's
    unfinished zip and sheet streams would print tracebacks on stderr when collected."""
    from openpyxl.writer.excel import ExcelWriter

    archive = zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
    writer = ExcelWriter(workbook, archive)
    try:
        workbook.properties.modified = datetime.now(tz=timezone.utc).replace(tzinfo=None)
        writer.save()
        return
    except BaseException as error:
        failure = error
    archive.fp = None  # the temp file is discarded anyway: nothing left to finish
    failure.__context__ = None
    failure = failure.with_traceback(None)  # its frames hold the unfinished streams
    del writer, archive
    _collect_quietly()
    raise failure


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


def _choose_sheet(workbook, wanted: str | None, book_name: str):
    if wanted is None or not str(wanted).strip():
        if not workbook.worksheets:
            raise WorkbookError(f"{book_name} has no worksheet")
        return workbook.worksheets[0]
    wanted = str(wanted).strip()
    by_name = {ws.title: ws for ws in workbook.worksheets}
    if wanted in by_name:
        return by_name[wanted]
    for title, ws in by_name.items():
        if title.strip().casefold() == wanted.casefold():
            return ws
    names = ", ".join(repr(t) for t in by_name) or "none"
    raise WorkbookError(f"{book_name} has no worksheet named {wanted!r} (its worksheets: {names})")


def _read_sheet(cls, path: Path, workbook, ws, column: object) -> SheetFile:
    cells = ws._cells  # {(row, column): cell}: only the cells that exist, so row 1,048,576 costs nothing
    last_column = max((c for _, c in cells), default=1)
    headers = [_shown(cells.get((1, c))) for c in range(1, last_column + 1)]
    settings = _settings_of(workbook)
    try:
        chat_column = layout.find_chat_column(headers, setting=layout.explicit_chat_column(column, settings))
        layout.check_header_row(headers[chat_column - 1] if chat_column <= len(headers) else None, chat_column)
    except ConfigError as error:
        raise WorkbookError(f"{path.name} [{ws.title}]: {error}") from None

    # One pass over the existing cells collects the chat column and every column a result block may use.
    wanted = set(range(chat_column, chat_column + 4))
    for number, header in enumerate(headers, start=1):
        if isinstance(header, str) and statuses.is_result_header(header, 0):
            wanted.update((number, number + 1, number + 2))
    by_column: dict[int, list] = defaultdict(list)
    for (row, col), cell in cells.items():
        if row >= 2 and col in wanted:
            by_column[col].append((row, cell))

    values = {col: [_shown(cell) for _, cell in entries] for col, entries in by_column.items() if col != chat_column}
    try:
        placement = layout.place_results(headers, chat_column, values, last_used_column=last_column)
    except ConfigError as error:
        raise WorkbookError(f"{path.name} [{ws.title}]: {error}") from None

    chat_cells, formula_rows = _chat_values(sorted(by_column.get(chat_column, ()), key=lambda e: e[0]))
    if formula_rows:
        chat_cells = _with_saved_formula_values(path, ws.title, chat_column, chat_cells, formula_rows)

    previous: dict[int, str] = {}
    if placement.reuses_earlier:
        for row, cell in by_column.get(placement.status_column, ()):
            if statuses.is_status_text(cell.value):
                previous[row] = cell.value

    _unmerge_result_area(ws, placement.status_column)
    return cls(path, workbook, ws, chat_column=chat_column, placement=placement, chat_cells=chat_cells,
               previous=previous, settings=settings)


def _shown(cell) -> object:
    if cell is None:
        return None
    if cell.data_type == "e":
        from greenapi_excel.chat_ids import CellError

        return CellError(str(cell.value))
    return cell.value


def _chat_values(entries) -> tuple[list[tuple[int, object]], set[int]]:
    from greenapi_excel.chat_ids import CellError

    chat_cells: list[tuple[int, object]] = []
    formula_rows: set[int] = set()
    for row, cell in entries:
        value = cell.value
        if value is None:
            continue  # empty cells and the hidden parts of a merged cell
        kind = cell.data_type
        if kind == "e":
            value = CellError(str(value))
        elif kind == "f":
            formula_rows.add(row)
        chat_cells.append((row, value))
    return chat_cells, formula_rows


def _with_saved_formula_values(path: Path, title: str, column: int, chat_cells, formula_rows: set[int]):
    """Formulas show their saved value in Excel: read those with a second, streaming, data-only load."""
    import openpyxl

    from greenapi_excel.chat_ids import FORMULA_WITHOUT_VALUE, CellError

    saved: dict[int, object] = {}
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
    except Exception as error:
        raise WorkbookError(f"cannot read the formula values of {path.name}: {type(error).__name__}") from None
    try:
        ws = book[title]
        top, bottom = min(formula_rows), max(formula_rows)
        for (cell,) in ws.iter_rows(min_row=top, max_row=bottom, min_col=column, max_col=column):
            row = getattr(cell, "row", None)
            if row in formula_rows and cell.value is not None:
                saved[row] = CellError(str(cell.value)) if cell.data_type == "e" else cell.value
    finally:
        book.close()
    return [(row, saved.get(row, FORMULA_WITHOUT_VALUE) if row in formula_rows else value)
            for row, value in chat_cells]


def _unmerge_result_area(ws, status_column: int) -> None:
    """A merged cell over the result columns would refuse our writes; its top-left value stays where it is."""
    last = status_column + 2
    for merged in list(ws.merged_cells.ranges):
        if merged.min_col <= last and merged.max_col >= status_column:
            ws.unmerge_cells(merged.coord)


def _settings_of(workbook) -> dict:
    """apiUrl and idInstance from a Settings sheet (labels in A, values in B); the token is never read."""
    sheet = next((ws for ws in workbook.worksheets if layout.is_settings_sheet(ws.title)), None)
    if sheet is None:
        return {}

    def value_of(cell):  # a formula or an error is no setting
        return None if cell is None or cell.data_type in ("f", "e") else cell.value

    rows = [(getattr(sheet._cells.get((row, 1)), "value", None), value_of(sheet._cells.get((row, 2))))
            for row in range(1, layout.SETTINGS_ROWS + 1)]
    return layout.read_settings_rows([(label, value) for label, value in rows if value is not None]).values


# --- the ribbon of an .xlsm ------------------------------------------------------------------------

def restore_ribbon(saved: bytes, original: bytes) -> bytes:
    """The package openpyxl wrote, with the original's ribbon parts (byte for byte) and relationships back."""
    with zipfile.ZipFile(io.BytesIO(original)) as source:
        ribbon_parts = {name: source.read(name) for name in source.namelist()
                        if name.startswith(RIBBON_PREFIX)}
        old_rels = source.read(ROOT_RELS) if ROOT_RELS in source.namelist() else None
        old_types = source.read(CONTENT_TYPES) if CONTENT_TYPES in source.namelist() else None
    ui_relationships = _ui_relationships(old_rels) if old_rels else []
    if not ribbon_parts and not ui_relationships:
        return saved
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(saved)) as package, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as result:
        for info in package.infolist():
            name = info.filename
            if name in ribbon_parts:
                continue
            data = package.read(name)
            if name == ROOT_RELS:
                data = _add_relationships(data, ui_relationships)
            elif name == CONTENT_TYPES and old_types:
                data = _add_content_types(data, old_types, ribbon_parts)
            result.writestr(info, data)
        for name, data in ribbon_parts.items():
            result.writestr(name, data)
    return out.getvalue()


def _ui_relationships(rels_xml: bytes) -> list[ElementTree.Element]:
    root = ElementTree.fromstring(rels_xml)
    return [rel for rel in root.findall(f"{{{_RELS_NS}}}Relationship") if rel.get("Type") in UI_RELATIONSHIP_TYPES]


def _add_relationships(rels_xml: bytes, wanted: list[ElementTree.Element]) -> bytes:
    ElementTree.register_namespace("", _RELS_NS)
    root = ElementTree.fromstring(rels_xml)
    present = root.findall(f"{{{_RELS_NS}}}Relationship")
    have = {(rel.get("Type"), rel.get("Target", "").lstrip("/")) for rel in present}
    ids = {rel.get("Id") for rel in present}
    changed = False
    for rel in wanted:
        key = (rel.get("Type"), rel.get("Target", "").lstrip("/"))
        if key in have:
            continue
        rel_id = rel.get("Id")
        number = len(ids) + 1
        while rel_id in ids or not rel_id:
            rel_id, number = f"rIdUi{number}", number + 1
        ElementTree.SubElement(root, f"{{{_RELS_NS}}}Relationship",
                               {"Id": rel_id, "Type": rel.get("Type"), "Target": rel.get("Target")})
        ids.add(rel_id)
        changed = True
    if not changed:
        return rels_xml
    return ElementTree.tostring(root, encoding="UTF-8", xml_declaration=True)


def _add_content_types(types_xml: bytes, old_types_xml: bytes, parts: dict[str, bytes]) -> bytes:
    """Keep the original's content types for the ribbon parts (image extensions, explicit overrides)."""
    ElementTree.register_namespace("", _TYPES_NS)
    root = ElementTree.fromstring(types_xml)
    old = ElementTree.fromstring(old_types_xml)
    defaults = {d.get("Extension", "").lower() for d in root.findall(f"{{{_TYPES_NS}}}Default")}
    overrides = {o.get("PartName", "").lower() for o in root.findall(f"{{{_TYPES_NS}}}Override")}
    needed_ext = {name.rsplit(".", 1)[-1].lower() for name in parts if "." in name.rsplit("/", 1)[-1]}
    part_names = {"/" + name.lower() for name in parts}
    changed = False
    for default in old.findall(f"{{{_TYPES_NS}}}Default"):
        ext = default.get("Extension", "").lower()
        if ext in needed_ext and ext not in defaults:
            root.insert(0, default)
            defaults.add(ext)
            changed = True
    for override in old.findall(f"{{{_TYPES_NS}}}Override"):
        part = override.get("PartName", "").lower()
        if part in part_names and part not in overrides:
            root.append(override)
            changed = True
    if not changed:
        return types_xml
    return ElementTree.tostring(root, encoding="UTF-8", xml_declaration=True)


# --- one run per book -------------------------------------------------------------------------------

def lock_folder() -> Path:
    """Per-user folder for the book locks (not beside the book: the book's folder may be shared or read-only)."""
    configured = os.environ.get("GREENAPI_LOCK_DIR", "").strip()
    if configured:
        return Path(configured).expanduser()
    return user_folder("state") / "locks"


def lock_path_for(book) -> Path:
    resolved = os.path.normcase(str(Path(book).expanduser().resolve()))
    digest = hashlib.sha256(resolved.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return lock_folder() / f"{digest}.lock"


@contextlib.contextmanager
def book_lock(path) -> Iterator[Path]:
    """Hold the book's lock for a run; BookBusy at once when another run (any process) holds it."""
    import filelock

    lock_path = lock_path_for(path)
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        lock_path = Path(tempfile.gettempdir()) / f"greenapi-excel-{_user_key()}" / lock_path.name
        lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise BookBusy(f"another greenapi-excel run is already working on {Path(path).name}: "
                       "wait for it to finish") from None
    try:
        yield lock_path
    finally:
        lock.release()


def _user_key() -> str:
    getuid = getattr(os, "getuid", None)
    if getuid is not None:
        return str(getuid())
    return hashlib.sha256(str(Path.home()).encode()).hexdigest()[:12]

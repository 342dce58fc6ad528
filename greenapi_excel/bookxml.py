"""SpreadsheetML at the byte level: read the few cells a run needs, rewrite only the result cells.

The package is a zip of XML parts. A run reads the target sheet's rows as a stream of bytes (row 1, the
chat column and the columns results may go to; every other cell is passed over unparsed) and writes a new
package in which the target sheet is the same byte stream with the result cells spliced in, ``styles.xml``
has at most one appended cell format, and every other part is copied as it was. No DOM of a sheet is ever
built, so memory stays flat however large the book is. Pure functions and small classes; ``sheets.py``
holds the policy (which sheet, which columns, refusals, atomic saves).
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterable, Iterator

CHUNK = 1 << 18  # bytes of a decompressed part handled at a time: memory stays flat

_REL_WORKSHEET = "/worksheet"
_REL_SHARED_STRINGS = "/sharedStrings"
_REL_STYLES = "/styles"
_REL_TABLE = "/table"
_REL_CALC_CHAIN = "/calcChain"

# Built-in number formats that show a date or a time (ECMA-376 18.8.30, and the East Asian ones).
_BUILTIN_DATE_FORMATS = frozenset([*range(14, 23), *range(27, 37), 45, 46, 47, *range(50, 59)])
_FORMAT_NOISE = re.compile(r'"[^"]*"|\\.|_.|\*.|\[(?!h+\]|m+\]|s+\])[^\]]*\]', re.I)
_DATE_LETTERS = re.compile(r"[dmyhs]", re.I)

_P = rb"(?:[\w.-]+:)?"  # any namespace prefix, for the small parts
_ATTR = re.compile(rb'([\w:.-]+)\s*=\s*(?:"([^"]*)"|\'([^\']*)\')')
_R_CELL = re.compile(rb'\sr\s*=\s*["\']\$?([A-Za-z]{1,3})\$?(\d+)["\']')
_R_ROW = re.compile(rb'\sr\s*=\s*["\'](\d+)["\']')
_T_ATTR = re.compile(rb'\st\s*=\s*["\'](\w+)["\']')
_S_ATTR = re.compile(rb'\ss\s*=\s*["\'](\d+)["\']')
_SPANS = re.compile(rb'(\sspans\s*=\s*["\'])([\d: ]*)(["\'])')
_CUSTOM_FORMAT = re.compile(rb'\scustomFormat\s*=\s*["\'](?:1|true)["\']')  # LibreOffice writes ="false" everywhere
_TEXT = re.compile(rb"<" + _P + rb"t(?:\s[^>]*)?(?:/>|>(.*?)</" + _P + rb"t\s*>)", re.S)
_PHONETIC = re.compile(rb"<" + _P + rb"rPh\b.*?</" + _P + rb"rPh\s*>", re.S)
_SIMPLE_SI = re.compile(rb"<" + _P + rb"si><" + _P + rb"t(?:\s+xml:space=\"preserve\")?>([^<&\r]*)</" + _P + rb"t></" + _P + rb"si>")
_SI = re.compile(rb"<" + _P + rb"si\b[^>]*?(?:/>|>.*?</" + _P + rb"si\s*>)", re.S)


_ENTITY = re.compile(r"&(#x[0-9A-Fa-f]+|#[0-9]+|lt|gt|amp|quot|apos);")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


def _entity(match) -> str:
    name = match.group(1)
    if name[0] != "#":
        return _ENTITIES[name]
    try:
        return chr(int(name[2:], 16) if name[1] in "xX" else int(name[1:]))
    except (ValueError, OverflowError):
        return match.group(0)


def unescape(text: str) -> str:
    """XML's five entities and character references (all that SpreadsheetML text holds)."""
    return _ENTITY.sub(_entity, text) if "&" in text else text


def escape_attribute(text: str) -> str:
    return escape(text).replace('"', "&quot;")


def attributes(tag: bytes) -> dict[str, str]:
    """The attributes of one start tag, unescaped (prefixed names as written, e.g. "r:id")."""
    return {m.group(1).decode(): unescape((m.group(2) if m.group(2) is not None else m.group(3)).decode())
            for m in _ATTR.finditer(tag)}


def elements(xml: bytes, name: bytes) -> Iterator[dict[str, str]]:
    """The attributes of each start tag of one element name (any namespace prefix)."""
    for match in re.finditer(rb"<(?:[\w.-]+:)?" + name + rb"(\s[^>]*)?/?>", xml):
        yield attributes(match.group(1) or b"")


def _local(attrs: dict[str, str], name: str) -> str | None:
    return next((v for k, v in attrs.items() if k.rsplit(":", 1)[-1] == name), None)


_LETTERS: dict[bytes, int] = {}


def column_of(letters: bytes) -> int:
    number = _LETTERS.get(letters)
    if number is None:
        number = 0
        for char in letters.upper():
            number = number * 26 + char - 64
        _LETTERS[letters] = number
    return number


_NAMES: dict[int, str] = {}


def column_name(number: int) -> str:
    letters = _NAMES.get(number)
    if letters is None:
        letters, rest_of = "", number
        while rest_of:
            rest_of, rest = divmod(rest_of - 1, 26)
            letters = chr(65 + rest) + letters
        _NAMES[number] = letters
    return letters


def parse_ref(ref: str) -> tuple[int, int, int, int] | None:
    """"B2:D9" -> (top, left, bottom, right); a single cell is a range of one."""
    found = re.findall(r"\$?([A-Za-z]{1,3})\$?(\d+)", ref)
    if not found:
        return None
    cols = [column_of(c.encode()) for c, _ in found]
    rows = [int(r) for _, r in found]
    return min(rows), min(cols), max(rows), max(cols)


def text_of(inner: bytes) -> str:
    """The text of an ``<si>`` or ``<is>``: its ``<t>`` runs joined, phonetic guides left out."""
    if b"rPh" in inner:
        inner = _PHONETIC.sub(b"", inner)
    text = b"".join(m.group(1) or b"" for m in _TEXT.finditer(inner)).decode("utf-8", "replace")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return unescape(text)


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- the package -----------------------------------------------------------------------------------

@dataclass
class SheetEntry:
    name: str
    part: str
    sheet_id: str


@dataclass
class Table:
    top: int
    left: int
    bottom: int
    right: int
    header_rows: int
    totals_rows: int


class Package:
    """The parts of a book read from its bytes, and where the workbook's parts are."""

    def __init__(self, data: bytes):
        import io

        self.zip = zipfile.ZipFile(io.BytesIO(data))
        self.names = set(self.zip.namelist())
        workbook_part = self._main_part()
        self.workbook_part = workbook_part
        xml = self.zip.read(workbook_part)
        if b"<" not in xml:
            raise ValueError("the workbook part is not XML")
        rels = self.relationships(workbook_part)
        self.sheets: list[SheetEntry] = []
        self.date1904 = any(a.get("date1904", "").lower() in ("1", "true") for a in elements(xml, b"workbookPr"))
        for attrs in elements(xml, b"sheet"):
            rel = rels.get(_local(attrs, "id") or "")
            if rel and rel[0].endswith(_REL_WORKSHEET) and rel[1] in self.names:
                self.sheets.append(SheetEntry(attrs.get("name", ""), rel[1], attrs.get("sheetId", "")))
        self.shared_strings = self._by_type(rels, _REL_SHARED_STRINGS)
        self.styles = self._by_type(rels, _REL_STYLES)
        self.calc_chain = self._by_type(rels, _REL_CALC_CHAIN)

    def _main_part(self) -> str:
        rels = self.relationships("")
        for kind, target in rels.values():
            if kind.endswith("/officeDocument") and target in self.names:
                return target
        if "xl/workbook.xml" in self.names:
            return "xl/workbook.xml"
        raise KeyError("the package has no workbook part")

    @staticmethod
    def _by_type(rels, suffix: str) -> str | None:
        return next((target for kind, target in rels.values() if kind.endswith(suffix)), None)

    def relationships(self, part: str) -> dict[str, tuple[str, str]]:
        """Id -> (type, target part name) of a part's relationships ("" for the package's own)."""
        folder, name = posixpath.split(part)
        rels_name = posixpath.join(folder, "_rels", name + ".rels")
        if rels_name not in self.names:
            return {}
        found = {}
        for rel in elements(self.zip.read(rels_name), b"Relationship"):
            if rel.get("TargetMode") == "External":
                continue
            target = rel.get("Target", "")
            target = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
                posixpath.join(folder, target))
            found[rel.get("Id", "")] = (rel.get("Type", ""), target)
        return found

    def tables(self, sheet_part: str) -> list[Table]:
        found = []
        for kind, target in self.relationships(sheet_part).values():
            if not kind.endswith(_REL_TABLE) or target not in self.names:
                continue
            root = next(elements(self.zip.read(target), b"table"), {})
            box = parse_ref(root.get("ref", ""))
            if box:
                found.append(Table(*box, int(root.get("headerRowCount", "1") or 1),
                                   int(root.get("totalsRowCount", "0") or 0)))
        return found

    def open(self, part: str) -> BinaryIO:
        return self.zip.open(part)


class SharedStrings:
    """The shared strings part, looked up by index as a stream: only the strings asked for are kept."""

    def __init__(self, package: Package):
        self.package = package
        self.part = package.shared_strings if package.shared_strings in package.names else None

    def fetch(self, wanted) -> dict[int, str]:
        found: dict[int, str] = {}
        if self.part is None or not wanted:
            return found
        wanted = set(wanted)
        last = max(wanted)
        index = 0
        with self.package.open(self.part) as stream:
            buffer = b""
            while index <= last:
                chunk = stream.read(CHUNK)
                buffer += chunk
                end = 0
                for match in _SI.finditer(buffer):
                    if index in wanted:
                        simple = _SIMPLE_SI.fullmatch(match.group(0))
                        if simple is not None:
                            text = simple.group(1).decode("utf-8", "replace")
                            found[index] = unescape(text)
                        else:
                            found[index] = text_of(match.group(0))
                    index += 1
                    end = match.end()
                    if index > last:
                        break
                buffer = buffer[end:]
                if not chunk:
                    break
        return found


# --- styles ----------------------------------------------------------------------------------------

_CELL_XFS = re.compile(rb"<(" + _P + rb")cellXfs\b([^>]*?)(/?)>")
_XF = re.compile(rb"<" + _P + rb"xf\b([^>]*?)(?:/>|>(.*?)</" + _P + rb"xf\s*>)", re.S)
_NUM_FMTS = re.compile(rb"<(" + _P + rb")numFmts\b([^>]*?)(/?)>")
_NUM_FMT = re.compile(rb"<" + _P + rb"numFmt\b([^>]*?)/?>")
_COUNT = re.compile(rb'(\scount\s*=\s*["\'])(\d+)(["\'])')


def is_date_format(code: str) -> bool:
    section = _FORMAT_NOISE.sub("", code.split(";", 1)[0])
    return bool(_DATE_LETTERS.search(section)) and "general" not in section.lower()


class Styles:
    """Which cell formats show dates (for reading), and appending the Updated format (for writing)."""

    def __init__(self, xml: bytes | None):
        self.xml = xml or b""
        self.formats: dict[int, str] = {}
        block = _NUM_FMTS.search(self.xml)
        if block and not block.group(3):
            end = self.xml.find(b"numFmts", block.end())
            for m in _NUM_FMT.finditer(self.xml, block.end(), end if end > 0 else len(self.xml)):
                attrs = attributes(m.group(1))
                if attrs.get("numFmtId", "").isdigit():
                    self.formats[int(attrs["numFmtId"])] = attrs.get("formatCode", "")
        self.xfs: list[tuple[dict, bytes]] = []
        self._xfs_span = None
        block = _CELL_XFS.search(self.xml)
        if block and not block.group(3):
            close = re.compile(rb"</" + re.escape(block.group(1)) + rb"cellXfs\s*>").search(self.xml, block.end())
            if close:
                self._xfs_span = (block, close)
                for m in _XF.finditer(self.xml, block.end(), close.start()):
                    self.xfs.append((attributes(m.group(1)), (m.group(2) or b"").strip()))
        self._dates = [self._shows_date(attrs) for attrs, _ in self.xfs]

    def _shows_date(self, attrs: dict) -> bool:
        fmt = attrs.get("numFmtId", "0")
        number = int(fmt) if fmt.isdigit() else 0
        if number in self.formats:
            return is_date_format(self.formats[number])
        return number in _BUILTIN_DATE_FORMATS

    def is_date(self, style: int) -> bool:
        return 0 <= style < len(self._dates) and self._dates[style]

    def with_date_formats(self, bases, code: str) -> tuple[bytes, dict[int, int]]:
        """The styles part with a cell format for each base style that shows ``code``, and the map
        base -> new index. An identical format already there is reused, so a re-run appends nothing."""
        if self._xfs_span is None:
            return self.xml, {}
        xml = self.xml
        format_id = next((i for i, c in self.formats.items() if c == code), None)
        new_format = format_id is None
        if new_format:
            format_id = max([163, *self.formats]) + 1
        mapping: dict[int, int] = {}
        known = [(attrs, inner) for attrs, inner in self.xfs]
        added: list[bytes] = []
        for base in sorted(set(bases)):
            attrs, inner = known[base] if 0 <= base < len(self.xfs) else (known[0] if known else ({}, b""))
            wanted = dict(attrs, numFmtId=str(format_id), applyNumberFormat="1")
            match = next((i for i, (a, n) in enumerate(known) if a == wanted and n == inner), None)
            if match is None:
                match = len(known)
                known.append((wanted, inner))
                text = "".join(f' {k}="{escape_attribute(v)}"' for k, v in wanted.items())
                prefix = self._xfs_span[0].group(1).decode()
                added.append((f"<{prefix}xf{text}/>" if not inner else
                              f"<{prefix}xf{text}>{inner.decode()}</{prefix}xf>").encode())
            mapping[base] = match
        if not added and not new_format:
            return xml, mapping
        block, close = self._xfs_span
        count = _COUNT.sub(lambda m: m.group(1) + str(len(known)).encode() + m.group(3), block.group(2), 1)
        if count == block.group(2):
            count += f' count="{len(known)}"'.encode()
        xml = (xml[:block.start()] + b"<" + block.group(1) + b"cellXfs" + count + b">"
               + xml[block.end():close.start()] + b"".join(added) + xml[close.start():])
        if new_format:
            xml = self._add_number_format(xml, format_id, code)
        return xml, mapping

    @staticmethod
    def _add_number_format(xml: bytes, format_id: int, code: str) -> bytes:
        entry = f'numFmt numFmtId="{format_id}" formatCode="{escape_attribute(code)}"/>'
        block = _NUM_FMTS.search(xml)
        if block:
            prefix = block.group(1)
            count_attrs = block.group(2)
            match = _COUNT.search(count_attrs)
            number = int(match.group(2)) + 1 if match else 1
            attrs = (_COUNT.sub(lambda m: m.group(1) + str(number).encode() + m.group(3), count_attrs, 1)
                     if match else count_attrs + f' count="{number}"'.encode())
            head = b"<" + prefix + b"numFmts" + attrs + b">"
            if block.group(3):
                return xml[:block.start()] + head + b"<" + prefix + entry.encode() + b"</" + prefix + \
                    b"numFmts>" + xml[block.end():]
            close = xml.find(b"</" + prefix + b"numFmts", block.end())
            return xml[:block.start()] + head + xml[block.end():close] + b"<" + prefix + entry.encode() + \
                xml[close:]
        # <numFmts> is the first child of <styleSheet>
        root = re.search(rb"<(" + _P + rb")styleSheet\b[^>]*>", xml)
        prefix = root.group(1)
        return (xml[:root.end()] + b"<" + prefix + b'numFmts count="1"><' + prefix + entry.encode()
                + b"</" + prefix + b"numFmts>" + xml[root.end():])


# --- the sheet as a stream of rows -----------------------------------------------------------------

_SHEET_DATA = re.compile(rb"<([\w.-]+:)?sheetData\b[^>]*?(/?)>")


class SheetStream:
    """A worksheet part as head (everything up to the rows), blocks of whole rows, and tail.

    ``blocks()`` yields ("head", bytes), then ("rows", bytes) pieces that each hold whole rows (and the
    whitespace between them), then ("tail", bytes) from ``</sheetData>`` to the end. A piece is cut at a
    row's start tag, so no row is ever split; the stream is read ``CHUNK`` bytes at a time.
    """

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.prefix = b""
        self.empty = False  # <sheetData/>

    def blocks(self) -> Iterator[tuple[str, bytes]]:
        buffer = b""
        while True:
            match = _SHEET_DATA.search(buffer)
            if match:
                break
            chunk = self.stream.read(CHUNK)
            if not chunk:
                yield "head", buffer
                yield "tail", b""
                return
            buffer += chunk
        self.prefix = match.group(1) or b""
        self.empty = bool(match.group(2))
        yield "head", buffer[:match.end()]
        buffer = buffer[match.end():]
        if self.empty:
            yield "tail", buffer + self.stream.read()
            return
        row_start = b"<" + self.prefix + b"row"
        end_tag = b"</" + self.prefix + b"sheetData"
        searched = 0
        while True:
            end = buffer.find(end_tag, max(0, searched - len(end_tag)))
            if end >= 0:
                if end:
                    yield "rows", buffer[:end]
                yield "tail", buffer[end:] + self.stream.read()
                return
            searched = len(buffer)
            cut = buffer.rfind(row_start)
            if cut > 0:
                yield "rows", buffer[:cut]
                buffer = buffer[cut:]
                searched -= cut
            chunk = self.stream.read(CHUNK)
            if not chunk:
                yield "rows", buffer
                yield "tail", b""
                return
            buffer += chunk

    def rows(self, block: bytes) -> Iterator[tuple[int, int, int]]:
        """(start, end, end of the start tag) of each row of a block; end is the next row's start (the
        whitespace between rows goes with the row before)."""
        starts = [m.start() for m in self._row_start().finditer(block)]
        starts.append(len(block))
        for index in range(len(starts) - 1):
            start = starts[index]
            tag_end = block.index(b">", start) + 1
            yield start, starts[index + 1], tag_end

    def _row_start(self):
        pattern = getattr(self, "_row_pattern", None)
        if pattern is None:
            pattern = self._row_pattern = re.compile(b"<" + re.escape(self.prefix) + rb"row\b")
        return pattern


class RowScanner:
    """Cells of one row's bytes, in order, with their column (from ``r``, or following the one before)."""

    def __init__(self, prefix: bytes):
        p = re.escape(prefix)
        self.cell = re.compile(rb"<" + p + rb"c\b([^>]*?)(/?)>")
        self.close = b"</" + prefix + b"c>"
        self.formula = re.compile(rb"<" + p + rb"f\b([^>]*?)(/?)>")
        self.value = re.compile(rb"<" + p + rb"v\s*>(.*?)</" + p + rb"v\s*>", re.S)
        self.inline = re.compile(rb"<" + p + rb"is\b[^>]*>(.*?)</" + p + rb"is\s*>", re.S)
        self.plain_text = re.compile(rb"<" + p + rb"is><" + p + rb"t(?:\s+xml:space=\"preserve\")?>([^<&\r]*)</"
                                     + p + rb"t></" + p + rb"is>")
        self.plain = re.compile(rb"<" + p + rb"v>([^<]*)</" + p + rb"v>")  # the whole inner of most cells
        self.formula_start = b"<" + prefix + b"f"
        self.cell_start = b"<" + prefix + b"c "
        self.bare_cells = (b"<" + prefix + b"c>", b"<" + prefix + b"c/>")

    def last_column(self, row: bytes, start: int) -> tuple[int, int] | None:
        """(column, start) of a row's last cell when every cell from it on names its column, else None
        (then the caller walks the cells). (0, -1) for a row without cells."""
        at = row.rfind(self.cell_start, start)
        for bare in self.bare_cells:
            if row.find(bare, max(at, start)) >= 0:
                return None
        if at < 0:
            return 0, -1
        match = self.cell.match(row, at)
        ref = _R_CELL.search(match.group(1)) if match else None
        return (column_of(ref.group(1)), at) if ref else None

    def cells(self, row: bytes, start: int) -> Iterator[tuple[int, int, int, bytes, bytes]]:
        """(column, begin, end, attributes, inner) of each cell."""
        column = 0
        search = self.cell.search
        close = self.close
        position = start
        while True:
            match = search(row, position)
            if match is None:
                return
            attrs = match.group(1)
            ref = _R_CELL.search(attrs)
            column = column_of(ref.group(1)) if ref else column + 1
            if match.group(2):
                end, inner = match.end(), b""
            else:
                stop = row.find(close, match.end())
                if stop < 0:
                    return
                end, inner = stop + len(close), row[match.end():stop]
            yield column, match.start(), end, attrs, inner
            position = end

    def formula_kind(self, inner: bytes) -> str | None:
        """None for a value; "master" for a shared/array formula's anchor cell; "formula" otherwise."""
        match = self.formula.search(inner)
        if match is None:
            return None
        attrs = match.group(1)
        kind = _T_ATTR.search(attrs)
        kind = kind.group(1) if kind else b"normal"
        if kind in (b"array", b"dataTable") or (kind == b"shared" and b"ref" in attrs):
            return "master"
        return "formula"


def raw_cell(scanner: RowScanner, attrs: bytes, inner: bytes) -> tuple[str, object, int, str | None]:
    """(kind, stored value, style, formula kind) of a cell, before shared strings and dates are looked up.

    kind is "s" (a shared string index), "str", "n", "b", "e", "d" or "none" (no stored value)."""
    kind = _T_ATTR.search(attrs)
    kind = kind.group(1).decode() if kind else "n"
    style = _S_ATTR.search(attrs)
    style = int(style.group(1)) if style else 0
    if not inner:
        return "none", None, style, None
    plain = scanner.plain.fullmatch(inner)
    if plain is not None:  # <v>...</v> and nothing else: the common case, no formula
        value = plain.group(1)
        if kind == "s" and value:
            return "s", int(value), style, None
        if kind == "n" and value:
            return "n", value.decode("ascii", "replace").strip(), style, None
    elif kind == "inlineStr":
        plain = scanner.plain_text.fullmatch(inner)
        if plain is not None:
            return "str", plain.group(1).decode("utf-8", "replace"), style, None
    formula = scanner.formula_kind(inner) if scanner.formula_start in inner else None
    if kind == "inlineStr":
        match = scanner.inline.search(inner)
        return ("str", text_of(match.group(1)), style, formula) if match else ("none", None, style, formula)
    match = scanner.value.search(inner)
    value = match.group(1) if match else None
    if value is None or value == b"" and (formula or kind != "str"):
        return "none", None, style, formula
    if kind == "s":
        return "s", int(value), style, formula
    if kind == "str":
        return "str", text_of(b"<t>" + value + b"</t>"), style, formula
    return kind, value.decode("ascii", "replace").strip(), style, formula


def excel_epoch(date1904: bool) -> dt.datetime:
    return dt.datetime(1904, 1, 1) if date1904 else dt.datetime(1899, 12, 30)


def number(text: str, *, date: bool, epoch: dt.datetime):
    value = float(text) if ("." in text or "e" in text or "E" in text) else int(text)
    if date:
        try:
            return epoch + dt.timedelta(days=value)
        except (OverflowError, ValueError):
            return value
    return value


def serial(stamp: dt.datetime, epoch: dt.datetime) -> float:
    delta = stamp - epoch
    return delta.days + delta.seconds / 86400


# --- writing ---------------------------------------------------------------------------------------

@dataclass
class SheetEdit:
    """What goes into the target sheet: headers and result cells, and the styles they take."""

    first_column: int                              # Status; Details and Updated follow
    headers: dict[int, str]                        # column -> header text for row 1 (only those to change)
    rows: Iterable[tuple[int, str, str, float | None]]  # (row, status, details, Updated serial), row order
    bottom: int                                    # the last row of ``rows`` (0 when none)
    has_rows: Callable[[int, int], bool]           # whether ``rows`` holds a row in top..bottom
    date_styles: dict[int, int]                    # base style -> the Updated format's style
    skip: set[tuple[int, int]] = field(default_factory=set)  # (row, column) never to overwrite


@dataclass
class ColumnStyles:
    spans: list[tuple[int, int, int]]              # (min, max, style) from <cols>

    def of(self, column: int) -> int | None:
        if not self.spans:
            return None
        for low, high, style in self.spans:
            if low <= column <= high:
                return style
        return None


_COLS = re.compile(rb"<" + _P + rb"cols\b.*?</" + _P + rb"cols\s*>", re.S)
_COL = re.compile(rb"<" + _P + rb"col\b([^>]*?)/?>")
_DIMENSION = re.compile(rb"(<" + _P + rb"dimension\b[^>]*?\sref\s*=\s*[\"'])([^\"']*)([\"'])")
_MERGE_CELLS = re.compile(rb"<(" + _P + rb")mergeCells\b[^>]*>(.*?)</" + _P + rb"mergeCells\s*>", re.S)
_MERGE_CELL = re.compile(rb"<" + _P + rb"mergeCell\b([^>]*?)/?>(?:\s*</" + _P + rb"mergeCell\s*>)?")


def column_styles(head: bytes) -> ColumnStyles:
    spans = []
    block = _COLS.search(head)
    if block:
        for m in _COL.finditer(block.group(0)):
            attrs = attributes(m.group(1))
            if attrs.get("style", "").isdigit() and attrs.get("min", "").isdigit():
                spans.append((int(attrs["min"]), int(attrs.get("max") or attrs["min"]), int(attrs["style"])))
    return ColumnStyles(spans)


def widen_ref(ref: str, top: int, left: int, bottom: int, right: int) -> str:
    box = parse_ref(ref)
    if box:
        top, left = min(top, box[0]), min(left, box[1])
        bottom, right = max(bottom, box[2]), max(right, box[3])
    start, end = f"{column_name(left)}{top}", f"{column_name(right)}{bottom}"
    return start if start == end else f"{start}:{end}"


class SheetWriter:
    """Copies a worksheet stream, splicing in the edit's cells; every other byte passes through."""

    def __init__(self, edit: SheetEdit):
        self.edit = edit
        self._fragments: dict[tuple, str] = {}
        self._constants = None
        self._text_xml: dict[tuple, str] = {}

    def write(self, source: BinaryIO, out: BinaryIO) -> None:
        edit = self.edit
        sheet = SheetStream(source)
        first, last = edit.first_column, edit.first_column + 2
        items = self._items()
        item = next(items, None)
        anything = item is not None
        scanner = cols = None
        before = 0
        p = b""
        ps = ""
        row_number = _R_ROW.search
        for kind, data in sheet.blocks():
            if kind == "head":
                p = sheet.prefix
                ps = p.decode()
                self._cell_refs_first = re.compile(b"<" + re.escape(p) + rb"c r=\"([A-Z]{1,3})\d")
                self._cell_refs = re.compile(b"<" + re.escape(p) + rb"c(?:\s[^>]*?)?\sr\s*=\s*[\"']([A-Z]{1,3})\d")
                self._cell_tag = b"<" + p + b"c "
                self._bare = (b"<" + p + b"c>", b"<" + p + b"c/>")
                scanner = RowScanner(p)
                cols = column_styles(data)
                if anything:
                    data = _DIMENSION.sub(lambda m: m.group(1) + widen_ref(
                        m.group(2).decode(), 1, first, max(edit.bottom, 1), last).encode() + m.group(3), data, 1)
                if sheet.empty and anything:
                    data = data[:data.rindex(b"/>")] + b">"
                out.write(data)
            elif kind == "rows":
                parts = bytearray()
                position = 0
                if item is not None and self._ends_before_results(data, p):
                    # Every cell of these rows lies left of the results: append to the rows, parse nothing.
                    close_row = b"</" + p + b"row>"
                    for start, end, tag_end in sheet.rows(data):
                        found = row_number(data, start, tag_end)
                        number = before = int(found.group(1)) if found else before + 1
                        if item is None or item[0] > number:
                            continue
                        if item[0] < number or item[1] is None or number == 1 \
                                or data[tag_end - 2] == 47 or _CUSTOM_FORMAT.search(data, start, tag_end):
                            parts.extend(data[position:start])
                            position = start
                            while item is not None and item[0] < number:
                                parts.extend(self._new_row(item, p, cols))
                                item = next(items, None)
                            if item is not None and item[0] == number:
                                parts.extend(self._edit_row(data[start:end], tag_end - start, item, p, scanner,
                                                            cols))
                                position = end
                                item = next(items, None)
                            continue
                        close = data.rfind(close_row, tag_end, end)
                        parts.extend(data[position:start])
                        tag = data[start:tag_end]
                        if b"spans" in tag:
                            tag = _SPANS.sub(lambda m: m.group(1) + _widen_spans(m.group(2), first, last)
                                             + m.group(3), tag, 1)
                        parts.extend(tag)
                        parts.extend(data[tag_end:close])
                        parts.extend(self._result_cells(ps, number, item[1], cols))
                        position = close
                        item = next(items, None)
                    parts.extend(data[position:])
                    out.write(parts)
                    continue
                for start, end, tag_end in sheet.rows(data):
                    found = row_number(data, start, tag_end)
                    number = before = int(found.group(1)) if found else before + 1
                    if item is None or item[0] > number:
                        continue  # this row stays as it is (copied below with its neighbours)
                    parts.extend(data[position:start])
                    position = start
                    while item is not None and item[0] < number:
                        parts.extend(self._new_row(item, p, cols))
                        item = next(items, None)
                    if item is not None and item[0] == number:
                        parts.extend(self._edit_row(data[start:end], tag_end - start, item, p, scanner, cols))
                        position = end
                        item = next(items, None)
                parts.extend(data[position:])
                out.write(parts)
            else:  # tail
                if scanner is None:  # a sheet without <sheetData>: nothing to splice into
                    out.write(data)
                    return
                parts = bytearray()
                while item is not None:
                    parts.extend(self._new_row(item, p, cols))
                    item = next(items, None)
                if sheet.empty and anything:
                    parts.extend(b"</" + p + b"sheetData>")
                out.write(parts)
                out.write(self._without_covering_merges(data))

    def _ends_before_results(self, data: bytes, p: bytes) -> bool:
        """Whether every cell of a block names its column and lies left of the result columns."""
        if any(bare in data for bare in self._bare):
            return False
        cells = data.count(self._cell_tag)
        refs = self._cell_refs_first.findall(data)
        if len(refs) != cells:
            refs = self._cell_refs.findall(data)
            if len(refs) != cells:
                return False
        return not refs or max(column_of(ref) for ref in set(refs)) < self.edit.first_column

    def _result_cells(self, p: str, number: int, result, cols: "ColumnStyles") -> bytes:
        """The Status, Details and Updated cells of a row that has none of them yet (the hot path:
        everything but the row number and the time is made once per save)."""
        constants = self._constants
        if constants is None:
            first = self.edit.first_column
            date_style = self.edit.date_styles.get(cols.of(first + 2) or 0, self.edit.date_styles.get(0))
            constants = self._constants = (
                f'<{p}c r="{column_name(first)}', f'<{p}c r="{column_name(first + 1)}',
                f'<{p}c r="{column_name(first + 2)}', cols.of(first), cols.of(first + 1),
                f'" s="{date_style}"><{p}v>' if date_style else f'"><{p}v>', f"</{p}v></{p}c>",
                self._cell_xml(p, "", cols.of(first + 2), "date", None)[len(f'<{p}c r="'):])
        status_open, details_open, updated_open, status_style, details_style, date_open, date_close, \
            no_date = constants
        _, status, details, stamp = result
        text = str(number)
        fragments = self._fragments
        status_tail = fragments.get((status_style, status)) or self._text_tail(p, status_style, status)
        details_tail = fragments.get((details_style, details)) or self._text_tail(p, details_style, details)
        cells = []
        if status_tail != "-":
            cells += (status_open, text, status_tail)
        if details_tail != "-":
            cells += (details_open, text, details_tail)
        if stamp is not None:
            cells += (updated_open, text, date_open, repr(stamp), date_close)
        elif no_date:
            cells += (updated_open, text, no_date)
        return "".join(cells).encode()

    def _text_tail(self, p: str, style: int | None, value: str) -> str:
        """What follows ``<c r="B2`` for a text cell ("-" when the cell is left out)."""
        xml = self._cell_xml(p, "", style, "text", value)
        tail = xml[len(f'<{p}c r="'):] if xml else "-"
        self._fragments[(style, value)] = tail
        return tail

    def _items(self):
        """(row, result or None) in row order: the header row first when headers change."""
        rows = iter(self.edit.rows)
        result = next(rows, None)
        if self.edit.headers:
            if result is not None and result[0] == 1:
                yield 1, result
                result = next(rows, None)
            else:
                yield 1, None
        while result is not None:
            yield result[0], result
            result = next(rows, None)

    # -- cells --

    def _cells_for(self, item) -> dict[int, tuple[str, object]]:
        number, row = item
        first = self.edit.first_column
        if row is None:
            return {col: ("text", text) for col, text in self.edit.headers.items()}
        _, status, details, stamp = row
        cells = {first: ("text", status), first + 1: ("text", details), first + 2: ("date", stamp)}
        if number == 1:
            cells.update({col: ("text", text) for col, text in self.edit.headers.items()})
        return cells

    def _cell_xml(self, p: str, ref: str, style: int | None, kind: str, value) -> str:
        if value is None or value == "":
            return f'<{p}c r="{ref}" s="{style}"/>' if style else ""
        if kind == "date":
            date_style = self.edit.date_styles.get(style or 0, self.edit.date_styles.get(0))
            s = f' s="{date_style}"' if date_style else ""
            return f'<{p}c r="{ref}"{s}><{p}v>{value!r}</{p}v></{p}c>'
        key = (style, value)
        fragment = self._text_xml.get(key)
        if fragment is None:
            s = f' s="{style}"' if style else ""
            space = ' xml:space="preserve"' if value != value.strip() else ""
            fragment = self._text_xml[key] = (f'{s} t="inlineStr"><{p}is><{p}t{space}>{escape(value)}</{p}t>'
                                              f'</{p}is></{p}c>')
        return f'<{p}c r="{ref}"{fragment}'

    def _new_row(self, item, p: bytes, cols: ColumnStyles) -> bytes:
        number = item[0]
        ps = p.decode()
        cells = self._cells_for(item)
        body = "".join(self._cell_xml(ps, f"{column_name(col)}{number}", cols.of(col), kind, value)
                       for col, (kind, value) in sorted(cells.items()))
        if not body:
            return b""
        return f'<{ps}row r="{number}">{body}</{ps}row>'.encode()

    def _edit_row(self, data: bytes, tag_end: int, item, p: bytes, scanner: RowScanner,
                  cols: ColumnStyles) -> bytes:
        number = item[0]
        ps = p.decode()
        tag = data[:tag_end]
        closed = tag.endswith(b"/>")
        if not closed and item[1] is not None and number != 1 and not _CUSTOM_FORMAT.search(tag):
            # The common row: all result cells go after its last cell, with the columns' styles.
            last = scanner.last_column(data, tag_end)
            first = self.edit.first_column
            if last is not None and last[0] < first:
                _, status, details, stamp = item[1]
                number_text = str(number)
                body = (self._cell_xml(ps, column_name(first) + number_text, cols.of(first), "text", status)
                        + self._cell_xml(ps, column_name(first + 1) + number_text, cols.of(first + 1), "text",
                                         details)
                        + self._cell_xml(ps, column_name(first + 2) + number_text, cols.of(first + 2), "date",
                                         stamp)).encode()
                if b"spans" in tag:
                    tag = _SPANS.sub(lambda m: m.group(1) + _widen_spans(m.group(2), first, first + 2)
                                     + m.group(3), tag, 1)
                close_at = data.rindex(b"</")
                return b"".join((tag, data[tag_end:close_at], body, data[close_at:]))
        row_style = None
        if b"customFormat" in tag:
            attrs = attributes(tag)
            if attrs.get("customFormat", "").lower() in ("1", "true") and attrs.get("s", "").isdigit():
                row_style = int(attrs["s"])
        cells = self._cells_for(item)
        targets = sorted(cells)
        out = [tag[:-2] + b">" if closed else tag]
        position = tag_end
        waiting = list(targets)
        if not closed:
            last = scanner.last_column(data, tag_end)
            if last is not None and last[0] < targets[0]:
                closed_row = True  # every result cell goes after the row's last cell
            else:
                closed_row = False
        else:
            closed_row = True

        def default_style(col):
            return row_style if row_style is not None else cols.of(col)

        if not closed_row:
            for col, begin, end, cell_attrs, inner in scanner.cells(data, tag_end):
                while waiting and waiting[0] < col:
                    target = waiting.pop(0)
                    out.append(data[position:begin])
                    position = begin
                    kind, value = cells[target]
                    out.append(self._cell_xml(ps, f"{column_name(target)}{number}", default_style(target),
                                              kind, value).encode())
                if waiting and waiting[0] == col:
                    waiting.pop(0)
                    formula = scanner.formula_kind(inner) if inner else None
                    if formula == "master" or (number, col) in self.edit.skip:
                        continue
                    kind, value = cells[col]
                    style = _S_ATTR.search(cell_attrs)
                    style = int(style.group(1)) if style else None
                    out.append(data[position:begin])
                    out.append(self._cell_xml(ps, f"{column_name(col)}{number}", style, kind, value).encode())
                    position = end
                if not waiting:
                    break
        close_at = len(data) if closed else data.rindex(b"</")
        out.append(data[position:close_at])
        for target in waiting:
            kind, value = cells[target]
            out.append(self._cell_xml(ps, f"{column_name(target)}{number}", default_style(target),
                                      kind, value).encode())
        out.append(data[close_at:] if not closed else b"</" + p + b"row>")
        out[0] = _SPANS.sub(lambda m: m.group(1) + _widen_spans(m.group(2), targets[0], targets[-1])
                            + m.group(3), out[0], 1)
        return b"".join(out)

    def _without_covering_merges(self, tail: bytes) -> bytes:
        """A merge that covers a written result cell would hide it: it goes, its top-left value stays."""
        block = _MERGE_CELLS.search(tail)
        if not block:
            return tail
        first, last = self.edit.first_column, self.edit.first_column + 2
        headers = bool(self.edit.headers)
        kept, dropped = [], 0
        for m in _MERGE_CELL.finditer(block.group(2)):
            box = parse_ref(attributes(m.group(1)).get("ref", ""))
            covers = bool(box) and box[1] <= last and box[3] >= first and (
                (headers and box[0] == 1) or self.edit.has_rows(box[0], box[2]))
            if covers:
                dropped += 1
            else:
                kept.append(m.group(0))
        if not dropped:
            return tail
        if not kept:
            return tail[:block.start()] + tail[block.end():]
        start_tag = tail[block.start():block.start(2)]
        start_tag = _COUNT.sub(lambda m: m.group(1) + str(len(kept)).encode() + m.group(3), start_tag, 1)
        prefix = block.group(1)
        return (tail[:block.start()] + start_tag + b"".join(kept) + b"</" + prefix + b"mergeCells>"
                + tail[block.end():])


def _widen_spans(spans: bytes, low: int, high: int) -> bytes:
    """Row spans are a hint for readers: one span over the old ones and the result columns is valid."""
    numbers = [int(n) for n in re.findall(rb"\d+", spans)]
    if not numbers:
        return spans
    return f"{min(low, *numbers)}:{max(high, *numbers)}".encode()


def without_calc_cells(xml: bytes, sheet_id: str, refs: set[str]) -> bytes | None:
    """calcChain.xml without the entries of the given cells of one sheet; None when no entry is left.

    An entry's sheet id (``i``) defaults to the one before it, so a dropped entry that carried one
    passes it on to the next kept entry."""
    cell = re.compile(rb"<(" + _P + rb")c\b([^>]*?)/?>")
    out, position, kept, current, carry = [], 0, 0, "", None
    for m in cell.finditer(xml):
        attrs = attributes(m.group(2))
        has_id = "i" in attrs
        current = attrs.get("i", current)
        if current == sheet_id and attrs.get("r", "").replace("$", "") in refs:
            out.append(xml[position:m.start()])
            position = m.end()
            if has_id:
                carry = current
            continue
        kept += 1
        if carry is not None:
            out.append(xml[position:m.start()])
            tag = m.group(0)
            if not has_id:
                tag = tag[:len(m.group(1)) + 2] + f' i="{carry}"'.encode() + tag[len(m.group(1)) + 2:]
            out.append(tag)
            position = m.end()
            carry = None
    out.append(xml[position:])
    return b"".join(out) if kept else None


def copy_part(source: zipfile.ZipFile, info: zipfile.ZipInfo, out: zipfile.ZipFile, data: bytes | None = None,
              writer=None) -> None:
    """One part into the new package: the same name, date and compression; its bytes as given or copied."""
    target = zipfile.ZipInfo(info.filename, info.date_time)
    target.compress_type = info.compress_type
    target.external_attr = info.external_attr
    target.create_system = info.create_system
    if data is not None:
        out.writestr(target, data)
        return
    with out.open(target, "w", force_zip64=info.file_size > (1 << 30)) as sink:
        if writer is not None:
            with source.open(info) as stream:
                writer(stream, sink)
        else:
            with source.open(info) as stream:
                shutil.copyfileobj(stream, sink, CHUNK)

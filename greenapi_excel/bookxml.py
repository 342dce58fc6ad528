"""SpreadsheetML read and rewritten through a real XML parser, every byte it does not change copied as it was.

A book is a zip of XML parts. Each part is read as a stream of chunks by the standard library's expat
(``xml.parsers.expat``), which reports every element with its byte position (``CurrentByteIndex``).
Comments, CDATA sections, processing instructions, namespace prefixes, whitespace inside tags and the
encodings XML allows are therefore read as Excel reads them, in time linear in the part's size, and memory
stays flat: only the cells a run needs are kept. A part that is rewritten (the target sheet, ``styles.xml``
when a cell format is added, the calc chain, the package's lists when a sheet is added) is copied byte for
byte while it is parsed, with the few changed ranges spliced in at the positions the parser reported
(``Splice``). A part in another encoding than UTF-8 (UTF-16, windows-1251, ...) is read through a decoder
and, when rewritten, written as UTF-8 with its declaration saying so.

Before any part is read, sizes and compression ratios far beyond what Excel writes (a zip bomb) are refused,
and a part holding a DTD is refused (Excel refuses them too; it is also how entity bombs work).

Pure functions and small classes; ``sheets.py`` and ``chatsheet.py`` hold the policy (which sheet, which
columns, refusals, atomic saves). Errors about a part's content are ``PartProblem`` (a WorkbookError whose
text the caller prefixes with the book's name).
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import posixpath
import re
import shutil
import zipfile
from array import array
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Mapping
from urllib.parse import unquote
from xml.parsers import expat

from greenapi_excel.errors import WorkbookError
from greenapi_excel.i18n import _

CHUNK = 1 << 18            # bytes of a part handled at a time: memory stays flat
EXCEL_ROWS = 1_048_576
EXCEL_COLUMNS = 16_384     # XFD
MAX_CELL_TEXT = 32_767     # characters Excel keeps in a cell: longer text is cut when read

# Zip bombs. Excel's own parts compress 5 to 30 times, the most repetitive ones (a million identical rows,
# one string repeated) some 400 times; deflate cannot do better than about 1,030. A part larger than
# RATIO_FLOOR that inflates more than MAX_RATIO times, any part above MAX_PART_BYTES (positions in a part
# are counted in a C long on some platforms), or parts adding up to more than MAX_BOOK_BYTES are refused
# before anything is read.
MAX_RATIO = 200
RATIO_FLOOR = 128 << 20
MAX_PART_BYTES = (2 << 30) - 1
MAX_BOOK_BYTES = 8 << 30
MAX_PARTS = 100_000

# --- namespaces -------------------------------------------------------------------------------------

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STRICT_MAIN = "http://purl.oclc.org/ooxml/spreadsheetml/main"
MAINS = (MAIN, STRICT_MAIN)
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
STRICT_REL = "http://purl.oclc.org/ooxml/officeDocument/relationships"
PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
CONTENT_TYPES = "http://schemas.openxmlformats.org/package/2006/content-types"
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
# Namespaces whose mc:Choice Excel takes; any other (Hancom's "hs", ...) means the mc:Fallback.
UNDERSTOOD = frozenset(MAINS) | {
    "http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac",
    "http://schemas.microsoft.com/office/spreadsheetml/2009/9/main",
    "http://schemas.microsoft.com/office/spreadsheetml/2010/11/main",
    "http://schemas.microsoft.com/office/spreadsheetml/2014/revision",
    "http://schemas.microsoft.com/office/spreadsheetml/2015/revision2",
    "http://schemas.microsoft.com/office/spreadsheetml/2016/revision3",
}
WORKSHEET_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"
WORKSHEET_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"

# The order of a worksheet's children (ECMA-376 CT_Worksheet): where a new one goes.
WORKSHEET_ORDER = (
    "sheetPr", "dimension", "sheetViews", "sheetFormatPr", "cols", "sheetData", "sheetCalcPr",
    "sheetProtection", "protectedRanges", "scenarios", "autoFilter", "sortState", "dataConsolidate",
    "customSheetViews", "mergeCells", "phoneticPr", "conditionalFormatting", "dataValidations", "hyperlinks",
    "printOptions", "pageMargins", "pageSetup", "headerFooter", "rowBreaks", "colBreaks", "customProperties",
    "cellWatches", "ignoredErrors", "smartTags", "drawing", "legacyDrawing", "legacyDrawingHF", "drawingHF",
    "picture", "oleObjects", "controls", "webPublishItems", "tableParts", "extLst")
# mc:AlternateContent at the top of a sheet wraps controls and OLE objects: late in the order.
_LATE = WORKSHEET_ORDER.index("drawing")
STYLESHEET_ORDER = ("numFmts", "fonts", "fills", "borders", "cellStyleXfs", "cellXfs", "cellStyles", "dxfs",
                    "tableStyles", "colors", "extLst")
WORKBOOK_ORDER = ("fileVersion", "fileSharing", "workbookPr", "workbookProtection", "bookViews", "sheets",
                  "functionGroups", "externalReferences", "definedNames", "calcPr", "oleSize",
                  "customWorkbookViews", "pivotCaches", "smartTagPr", "smartTagTypes", "webPublishing",
                  "fileRecoveryPr", "webPublishObjects", "extLst")


class PartProblem(WorkbookError):
    """A part of the book cannot be read as Excel would: its text says why (the caller adds the book's name)."""


class Stop(Exception):
    """Raised by a handler (or a SheetScan's take) that has read all it needs: the parse ends early."""


_Stop = Stop


# --- small helpers ----------------------------------------------------------------------------------

_LETTERS: dict[str, int] = {}


def column_of(letters) -> int:
    """"A" -> 1, "XFD" -> 16384 (bytes or text; 0 when the letters are no column of Excel)."""
    if isinstance(letters, (bytes, bytearray)):
        letters = letters.decode("ascii", "replace")
    number = _LETTERS.get(letters)
    if number is None:
        number = 0
        if 1 <= len(letters) <= 3 and letters.isascii() and letters.isalpha():
            for char in letters.upper():
                number = number * 26 + ord(char) - 64
        if number > EXCEL_COLUMNS:
            number = 0
        if len(_LETTERS) < 20_000:
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


_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?(\d{1,7})")


def parse_ref(ref: str) -> tuple[int, int, int, int] | None:
    """"B2:D9" -> (top, left, bottom, right); a single cell is a range of one; None when it is no range."""
    found = _REF.findall(ref or "")
    if not found or len(found) > 2:
        return None
    cols = [column_of(letters) for letters, _digits in found]
    rows = [int(digits) for _letters, digits in found]
    if not all(cols) or not all(1 <= r <= EXCEL_ROWS for r in rows):
        return None
    return min(rows), min(cols), max(rows), max(cols)


def box_ref(top: int, left: int, bottom: int, right: int) -> str:
    start, end = f"{column_name(left)}{top}", f"{column_name(right)}{bottom}"
    return start if start == end else f"{start}:{end}"


_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """Text without the characters XML 1.0 forbids. ``results.cell_text`` already removes them from everything
    written into a cell; this keeps a book well-formed whatever reaches the writer."""
    return _XML_FORBIDDEN.sub("", text)


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_attribute(text: str) -> str:
    return (escape(text).replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;")
            .replace("\r", "&#13;"))


def excel_epoch(date1904: bool) -> dt.datetime:
    return dt.datetime(1904, 1, 1) if date1904 else dt.datetime(1899, 12, 30)


def number(text: str, *, date: bool, epoch: dt.datetime):
    value = float(text) if ("." in text or "e" in text or "E" in text or "n" in text.lower()) else int(text)
    if date:
        try:
            return epoch + dt.timedelta(days=value)
        except (OverflowError, ValueError):
            return value
    return value


def serial(stamp: dt.datetime, epoch: dt.datetime) -> float:
    delta = stamp - epoch
    return delta.days + delta.seconds / 86400


# Built-in number formats that show a date or a time (ECMA-376 18.8.30, and the East Asian ones).
_BUILTIN_DATE_FORMATS = frozenset([*range(14, 23), *range(27, 37), 45, 46, 47, *range(50, 59)])
_FORMAT_NOISE = re.compile(r'"[^"]*"|\\.|_.|\*.|\[(?!h+\]|m+\]|s+\])[^\]]*\]', re.I)
_DATE_LETTERS = re.compile(r"[dmyhs]", re.I)


def is_date_format(code: str) -> bool:
    section = _FORMAT_NOISE.sub("", code.split(";", 1)[0])
    return bool(_DATE_LETTERS.search(section)) and "general" not in section.lower()


# --- parts as streams -------------------------------------------------------------------------------

_DECLARATION = re.compile(r"^\ufeff?<\?xml\s[^>]*?\?>")
_DECLARED_ENCODING = re.compile(r"""(\sencoding\s*=\s*)(["'])([A-Za-z][A-Za-z0-9._-]*)(["'])""")
_ASCII_DECLARED = re.compile(rb"""^<\?xml\s[^>]*?\sencoding\s*=\s*["']([A-Za-z][A-Za-z0-9._-]*)["']""")
_UTF8_NAMES = frozenset(("utf-8", "utf8", "us-ascii", "ascii"))


def _encoding_of(head: bytes, part: str) -> str | None:
    """None for UTF-8 (and ASCII), else the codec the part is written in (told by its BOM, its first bytes
    or its declaration, as XML 1.0's appendix F says)."""
    if head.startswith(b"\xef\xbb\xbf"):
        return None
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "utf-32"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if head.startswith(b"<\x00?\x00"):
        return "utf-16-le"
    if head.startswith(b"\x00<\x00?"):
        return "utf-16-be"
    declared = _ASCII_DECLARED.match(head)
    if declared is None or declared.group(1).decode().lower() in _UTF8_NAMES:
        return None
    name = declared.group(1).decode()
    try:
        codecs.lookup(name)
    except LookupError:
        raise PartProblem(_("the part {part} is written in the encoding {encoding}, which this tool cannot "
                            "read").format(part=part, encoding=name)) from None
    return name


def part_chunks(zip_file: zipfile.ZipFile, name: str) -> Iterator[bytes]:
    """The part's XML as chunks of UTF-8, read ``CHUNK`` bytes at a time (never the whole part). A part in
    another encoding is decoded as it streams, and its declaration then says UTF-8."""
    with zip_file.open(name) as stream:
        head = stream.read(CHUNK)
        codec = _encoding_of(head, name)
        if codec is None:
            while head:
                yield head
                head = stream.read(CHUNK)
            return
        decoder = codecs.getincrementaldecoder(codec)("strict")
        try:
            text = decoder.decode(head)
            if text.startswith("\ufeff"):
                text = text[1:]
            declaration = _DECLARATION.match(text)
            if declaration is None and text.lstrip().startswith("<?xml"):
                raise PartProblem(_("the part {part} has an XML declaration this tool cannot read").format(
                    part=name))
            if declaration is not None:
                said = _DECLARED_ENCODING.sub(r"\1\2UTF-8\4", declaration.group(0), count=1)
                text = said + text[declaration.end():]
            yield text.encode("utf-8")
            while True:
                head = stream.read(CHUNK)
                text = decoder.decode(head, final=not head)
                if text:
                    yield text.encode("utf-8")
                if not head:
                    return
        except UnicodeError:
            raise PartProblem(_("the part {part} is not written in the encoding {encoding} it declares").format(
                part=name, encoding=codec)) from None


def check_sizes(zip_file: zipfile.ZipFile) -> None:
    """PartProblem for a package that inflates far beyond anything Excel writes (a zip bomb), from the sizes
    its directory declares (a part never yields more than its declared size)."""
    infos = zip_file.infolist()
    if len(infos) > MAX_PARTS:
        raise PartProblem(_("the package holds {n:,} parts, far more than any workbook").format(n=len(infos)))
    total = 0
    for info in infos:
        size, packed = info.file_size, max(info.compress_size, 1)
        total += size
        if size > MAX_PART_BYTES or (size > RATIO_FLOOR and size > MAX_RATIO * packed) or total > MAX_BOOK_BYTES:
            raise PartProblem(_("the part {part} inflates from {packed:,} to {size:,} bytes, far beyond what Excel "
                                "writes (a zip bomb?): refused before reading it").format(
                part=info.filename, packed=info.compress_size, size=size))


def _refuse_dtd(*_args) -> None:
    raise PartProblem(_("a part of the book holds a DTD (<!DOCTYPE>), which Excel refuses"))


def new_parser(names: Iterable[str] = ()) -> "expat.XMLParserType":
    """An expat parser for UTF-8 chunks: namespaced names as "uri local", the given names interned (so that
    handlers may compare them with ``is``), DTDs refused."""
    interned = {name: name for name in names}
    parser = expat.ParserCreate("UTF-8", " ", intern=interned)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    return parser


def run_parser(parser, chunks: Iterable[bytes], part: str, splice: "Splice | None" = None) -> None:
    """Feed the chunks to the parser (a handler may end it early with _Stop); ``splice`` gets every chunk
    first, and after each one may copy what lies before the parser's position."""
    try:
        for chunk in chunks:
            if splice is not None:
                splice.add(chunk)
            parser.Parse(chunk, False)
            if splice is not None:
                splice.flush(parser.CurrentByteIndex)
        parser.Parse(b"", True)
    except _Stop:
        return
    except expat.ExpatError as error:
        raise PartProblem(_("the part {part} is not well-formed XML ({error})").format(
            part=part, error=expat.ErrorString(error.code) + f", line {error.lineno}")) from None


class Namespaces:
    """The prefixes in scope while a part is parsed (from expat's namespace declaration events)."""

    def __init__(self, parser):
        self.bound: dict[str | None, list[str]] = {}
        parser.StartNamespaceDeclHandler = self._start
        parser.EndNamespaceDeclHandler = self._end
        self._prefix_of: dict[str, str] = {}

    def _start(self, prefix, uri) -> None:
        self.bound.setdefault(prefix, []).append(uri or "")
        self._prefix_of.clear()

    def _end(self, prefix) -> None:
        stack = self.bound.get(prefix)
        if stack:
            stack.pop()
        self._prefix_of.clear()

    def uri(self, prefix: str | None) -> str | None:
        stack = self.bound.get(prefix or None)
        return stack[-1] if stack else None

    def prefix(self, uri: str) -> str | None:
        """"x:" for a namespace bound to x, "" when it is the default one, None when it is not in scope."""
        found = self._prefix_of.get(uri)
        if found is None:
            if self.uri(None) == uri:
                found = ""
            else:
                found = next((f"{p}:" for p, stack in self.bound.items() if p and stack and stack[-1] == uri), None)
            if found is None:
                return None
            self._prefix_of[uri] = found
        return found

    def understood(self, requires: str) -> bool:
        """Whether Excel takes an mc:Choice with this Requires (its prefixes' namespaces all known)."""
        prefixes = requires.split()
        return bool(prefixes) and all(self.uri(p) in UNDERSTOOD for p in prefixes)


class Splice:
    """Copies a part's bytes to ``out`` while a parser runs over them, with ranges replaced in order.

    Positions are absolute byte offsets in the part. A range may only be replaced at or after everything
    copied so far; ``hold`` keeps the bytes from a position until ``release`` (for an element whose
    fate is known only at its end)."""

    def __init__(self, out):
        self.out = out
        self.buffer = bytearray()
        self.base = 0          # the part's offset of buffer[0]
        self.copied = 0        # everything before this offset is written (or dropped)
        self.held: int | None = None

    def add(self, chunk: bytes) -> None:
        self.buffer += chunk

    def at(self, start: int, end: int | None = None) -> bytes:
        base = self.base
        return bytes(self.buffer[start - base:(end - base) if end is not None else None])

    def tag_end(self, start: int) -> int:
        """The offset just after the start tag (or empty-element tag) that begins at ``start``."""
        match = _START_TAG.match(self.buffer, start - self.base)
        if match is None:
            raise PartProblem(_("a tag could not be measured"))
        return match.end() + self.base

    def end_tag_end(self, start: int) -> int:
        """The offset just after the end tag that begins at ``start``."""
        return self.buffer.index(b">", start - self.base) + 1 + self.base

    def replace(self, start: int, end: int, data: bytes = b"") -> None:
        if start < self.copied:
            raise AssertionError("ranges must be replaced in order")
        base = self.base
        if start > self.copied:
            self.out.write(self.buffer[self.copied - base:start - base])
        if data:
            self.out.write(data)
        self.copied = end

    def hold(self, position: int) -> None:
        self.held = position

    def release(self) -> None:
        self.held = None

    def flush(self, safe: int) -> None:
        """Write what lies before ``safe`` (no later event starts before it) unless it is held."""
        if self.held is not None:
            safe = min(safe, self.held)
        base = self.base
        safe = min(safe, base + len(self.buffer))   # never past what has been read
        if safe > self.copied:
            self.out.write(self.buffer[self.copied - base:safe - base])
            self.copied = safe
        done = self.copied - base
        if self.held is not None:
            done = min(done, self.held - base)
        if done > CHUNK or done * 2 > len(self.buffer):
            del self.buffer[:done]
            self.base += done

    def finish(self) -> None:
        self.out.write(self.buffer[self.copied - self.base:])
        self.copied = self.base + len(self.buffer)


class _Buffered:
    """Gathers many small writes into large ones (a compressor costs per call)."""

    def __init__(self, out, size: int = CHUNK):
        self.out, self.size, self.pending = out, size, bytearray()

    def write(self, data) -> None:
        self.pending += data
        if len(self.pending) >= self.size:
            self.out.write(self.pending)
            self.pending = bytearray()

    def close(self) -> None:
        if self.pending:
            self.out.write(self.pending)
            self.pending = bytearray()


# Tags measured where the parser said they begin: a name, attributes with quoted values, an optional slash.
_START_TAG = re.compile(rb"""<[^\s/>]+(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*/?>""")
_TAG_NAME = re.compile(rb"<([^\s/>]+)")
_ATTRIBUTE = re.compile(rb"""(\s+)([^\s=/>]+)(\s*=\s*)("[^"]*"|'[^']*')""")
_TAG_CLOSE = re.compile(rb"\s*(/?)>")


def first_tag(element: bytes) -> bytes:
    """The start tag that opens an element's bytes (as the writer hands them to a TopLevelEdit)."""
    return _START_TAG.match(element).group(0)


def qualified_name(tag: bytes) -> bytes:
    """The element name as written in a start tag (with its prefix)."""
    return _TAG_NAME.match(tag).group(1)


def tag_attributes(tag: bytes) -> dict[str, str]:
    """The attributes of a start tag the parser delimited, as written (names with their prefix)."""
    return {m.group(2).decode(): _unescape(m.group(4)[1:-1].decode()) for m in _ATTRIBUTE.finditer(tag)}


def _unescape(text: str) -> str:
    if "&" not in text:
        return text
    parser = expat.ParserCreate("UTF-8")
    found: list[str] = []
    parser.StartElementHandler = lambda name, attrs: found.append(attrs.get("v", ""))
    parser.Parse(f'<x v="{text}"/>'.encode(), True)
    return found[0]


def set_attributes(tag: bytes, changes: Mapping[str, str | None], *, empty: bool | None = None) -> bytes:
    """A start tag with attributes changed (None removes one), new ones added at the end, every other byte
    as it was. ``empty`` makes it an empty-element tag (True) or an opening one (False)."""
    head = _TAG_NAME.match(tag)
    position = head.end()
    out = [tag[:position]]
    seen = set()
    while True:
        match = _ATTRIBUTE.match(tag, position)
        if match is None:
            break
        name = match.group(2).decode()
        if name in changes:
            seen.add(name)
            value = changes[name]
            if value is not None:
                out.append(match.group(1) + match.group(2) + match.group(3)
                           + b'"' + escape_attribute(value).encode() + b'"')
        else:
            out.append(match.group(0))
        position = match.end()
    for name, value in changes.items():
        if name not in seen and value is not None:
            out.append(f' {name}="{escape_attribute(value)}"'.encode())
    close = _TAG_CLOSE.match(tag, position)
    slash = close.group(1) if close else b""
    if empty is not None:
        slash = b"/" if empty else b""
    out.append(slash + b">")
    return b"".join(out)


# --- the package ------------------------------------------------------------------------------------

@dataclass
class SheetEntry:
    name: str
    part: str
    sheet_id: str
    rel_id: str = ""
    state: str = "visible"
    index: int = 0        # its position among <sheet> elements (localSheetId of its defined names)


@dataclass
class Table:
    top: int
    left: int
    bottom: int
    right: int
    header_rows: int
    totals_rows: int


class Package:
    """A book's package read from its bytes: which parts hold the workbook, its sheets, styles and strings.

    Nothing is read whole: each part is parsed as a stream. PartProblem for a zip bomb, a part that is no
    well-formed XML, or a package without a workbook."""

    def __init__(self, data):
        """``data``: the book's bytes, or a seekable file holding them (kept open while the package is used)."""
        self.zip = zipfile.ZipFile(io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data)
        check_sizes(self.zip)
        infos = self.zip.infolist()
        self.names = {info.filename for info in infos}
        if len(self.names) != len(infos):
            raise PartProblem(_("the package holds two parts with the same name"))
        self._lower = {name.lower(): name for name in self.names}
        self.workbook_part = self._main_part()
        self.workbook_rels = self.relationships(self.workbook_part)
        self.sheets: list[SheetEntry] = []
        self.sheet_names: list[str] = []          # every sheet's name (chart sheets too)
        self.sheet_ids: list[int] = []
        self.workbook_children: list[str] = []    # local names of the workbook element's children
        self.filter_names: dict[int, str] = {}    # localSheetId -> the _xlnm._FilterDatabase range
        self.date1904 = False
        self.rel_namespace = REL
        self.main_namespace = MAIN
        self._read_workbook()
        self.shared_strings = self._by_type(self.workbook_rels, "/sharedStrings")
        self.styles = self._by_type(self.workbook_rels, "/styles")
        self.calc_chain = self._by_type(self.workbook_rels, "/calcChain")

    def part(self, name: str | None) -> str | None:
        """The part as the zip spells it (part names are case-insensitive), or None when there is none."""
        if not name:
            return None
        return name if name in self.names else self._lower.get(name.lower())

    def chunks(self, part: str) -> Iterator[bytes]:
        return part_chunks(self.zip, part)

    def _main_part(self) -> str:
        for kind, target in self.relationships("").values():
            if kind.endswith("/officeDocument") and self.part(target):
                return self.part(target)
        found = self.part("xl/workbook.xml")
        if found:
            return found
        raise PartProblem(_("the package has no workbook part"))

    @staticmethod
    def _by_type(rels, suffix: str) -> str | None:
        return next((target for kind, target in rels.values() if kind.endswith(suffix)), None)

    def relationships(self, part: str) -> dict[str, tuple[str, str]]:
        """Id -> (type, target part name) of a part's internal relationships ("" for the package's own)."""
        folder, name = posixpath.split(part)
        rels_name = self.part(posixpath.join(folder, "_rels", name + ".rels"))
        if rels_name is None:
            return {}
        found: dict[str, tuple[str, str]] = {}
        tag = PACKAGE_RELS + " Relationship"
        parser = new_parser((tag,))

        def start(element, attrs):
            if element is tag and attrs.get("TargetMode") != "External":
                target = unquote(attrs.get("Target", ""))
                target = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
                    posixpath.join(folder, target))
                found.setdefault(attrs.get("Id", ""), (attrs.get("Type", ""), self.part(target) or target))

        parser.StartElementHandler = start
        run_parser(parser, self.chunks(rels_name), rels_name)
        return found

    def _read_workbook(self) -> None:
        sheet_tags = {f"{m} sheet" for m in MAINS}
        pr_tags = {f"{m} workbookPr" for m in MAINS}
        name_tags = {f"{m} definedName" for m in MAINS}
        parser = new_parser((*sheet_tags, *pr_tags, *name_tags))
        index = 0
        depth = 0
        root = []
        filter_name: list = []

        def start(element, attrs):
            nonlocal index, depth
            depth += 1
            if not root:
                root.append(element)
                namespace = element.rpartition(" ")[0]
                if namespace not in MAINS or not element.endswith(" workbook"):
                    raise PartProblem(_("the workbook part is not a SpreadsheetML workbook"))
                self.main_namespace = namespace
                return
            if depth == 2:
                self.workbook_children.append(element.rpartition(" ")[2])
            if element in sheet_tags:
                rel_id = attrs.get(f"{REL} id")
                if rel_id is None and f"{STRICT_REL} id" in attrs:
                    rel_id = attrs[f"{STRICT_REL} id"]
                    self.rel_namespace = STRICT_REL
                self.sheet_names.append(attrs.get("name", ""))
                self.sheet_ids.append(_int(attrs.get("sheetId"), 0))
                rel = self.workbook_rels.get(rel_id or "")
                if rel and rel[0].endswith("/worksheet") and self.part(rel[1]):
                    self.sheets.append(SheetEntry(attrs.get("name", ""), self.part(rel[1]), attrs.get("sheetId", ""),
                                                  rel_id or "", attrs.get("state", "visible"), index))
                index += 1
            elif element in pr_tags:
                self.date1904 = _true(attrs.get("date1904"))
            elif element in name_tags and attrs.get("name") == "_xlnm._FilterDatabase":
                filter_name[:] = [_int(attrs.get("localSheetId"), -1), []]
                parser.CharacterDataHandler = filter_name[1].append

        def end(element):
            nonlocal depth
            if filter_name and element in name_tags:
                parser.CharacterDataHandler = None
                self.filter_names[filter_name[0]] = "".join(filter_name[1])
                filter_name.clear()
            depth -= 1

        parser.StartElementHandler = start
        parser.EndElementHandler = end
        run_parser(parser, self.chunks(self.workbook_part), self.workbook_part)
        self.sheet_count = index

    def worksheet_type(self) -> str:
        """The relationship type of the book's worksheets (transitional or strict)."""
        return next((kind for kind, _target in self.workbook_rels.values() if kind.endswith("/worksheet")),
                    WORKSHEET_TYPE)

    def tables(self, sheet_part: str) -> list[Table]:
        """The sheet's Excel tables and pivot tables (a pivot table as a table with no header or totals
        rows of its own): the ranges results never go into."""
        found = []
        for kind, target in self.relationships(sheet_part).values():
            pivot = kind.endswith("/pivotTable")
            if not (kind.endswith("/table") or pivot) or self.part(target) is None:
                continue
            root: dict = {}
            parser = new_parser()

            def start(element, attrs, root=root, pivot=pivot):
                if not pivot:
                    root.update(attrs)
                    raise _Stop
                if element.endswith(" location"):   # a pivot table's range
                    root.update(attrs)
                    raise _Stop

            parser.StartElementHandler = start
            run_parser(parser, self.chunks(self.part(target)), target)
            box = parse_ref(root.get("ref", ""))
            if box and pivot:
                found.append(Table(*box, 0, 0))
            elif box:
                found.append(Table(*box, _int(root.get("headerRowCount"), 1), _int(root.get("totalsRowCount"), 0)))
        return found


def _digits(text: str) -> bool:
    """ASCII digits only (str.isdigit also takes "²", which int() refuses)."""
    return text.isascii() and text.isdigit()


def _int(text, default: int) -> int:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return default


class SharedStrings:
    """The shared strings part, looked up by index as a stream: only the strings asked for are kept (each
    cut to Excel's 32,767 characters)."""

    def __init__(self, package: Package):
        self.package = package
        self.part = package.part(package.shared_strings)

    def fetch(self, wanted) -> dict[int, str]:
        found: dict[int, str] = {}
        if self.part is None or not wanted:
            return found
        wanted = set(wanted)
        last = max(wanted)
        namespace = [None]
        names = {f"{m} {n}" for m in MAINS for n in ("si", "t", "r", "rPh")}
        parser = new_parser(names)
        depth = 0
        index = -1
        state = {"text": None}
        pieces: list[str] = []
        length = [0]

        def text(data):
            if length[0] < MAX_CELL_TEXT:
                pieces.append(data)
                length[0] += len(data)

        def start(element, attrs):
            nonlocal depth, index
            depth += 1
            if depth == 1:
                namespace[0] = element.rpartition(" ")[0]
                return
            ns = namespace[0]
            if depth == 2:
                if element == f"{ns} si":
                    index += 1
                    if index in wanted:
                        state["text"] = pieces
                        pieces.clear()
                        length[0] = 0
                return
            if state["text"] is None:
                return
            if element == f"{ns} t" and (depth == 3 or (depth == 4 and state.get("run"))):
                parser.CharacterDataHandler = text
            elif depth == 3:
                state["run"] = element == f"{ns} r"

        def end(element):
            nonlocal depth
            if depth == 2 and state["text"] is not None and element == f"{namespace[0]} si":
                value = "".join(pieces)
                found[index] = value[:MAX_CELL_TEXT]
                state["text"] = None
                if index >= last:
                    raise _Stop
            elif parser.CharacterDataHandler is not None:
                parser.CharacterDataHandler = None
            depth -= 1

        parser.StartElementHandler = start
        parser.EndElementHandler = end
        run_parser(parser, self.package.chunks(self.part), self.part)
        return found


# --- styles ------------------------------------------------------------------------------------------

# The lists of styles.xml whose entries are counted by index, and the entry each holds.
_STYLE_LISTS = {"numFmts": "numFmt", "fonts": "font", "fills": "fill", "borders": "border",
                "cellStyleXfs": "xf", "cellXfs": "xf", "dxfs": "dxf"}


def _tree(element: str, attrs: dict) -> list:
    return [element, tuple(sorted(attrs.items())), []]


def _frozen(tree) -> tuple:
    return (tree[0], tree[1], tuple(_frozen(child) for child in tree[2]))


def walk_style_lists(chunks: Iterable[bytes], part: str, *, on_list=None, on_entry=None,
                     capture: Callable[[str, int], bool] | None = None) -> None:
    """One pass over styles.xml, counting entries as Excel does.

    An entry inside mc:AlternateContent counts from the branch Excel takes: the first mc:Choice whose
    Requires it understands, else the mc:Fallback (Hancom wraps formats in a Choice for its own namespace;
    Excel reads the Fallback). ``on_list(name, attrs)`` is called for each list (numFmts, fonts, cellXfs,
    ...); ``on_entry(list, index, attrs, tree)`` for each entry, with its subtree (name, attributes,
    children) when ``capture(list, index)`` asks for it."""
    parser = new_parser()
    scope = Namespaces(parser)
    depth = 0
    main = [None]
    current = {"list": None, "entry": None, "index": -1}
    alternates: list[dict] = []     # mc:AlternateContent being read: {"taken": bool, "active": bool}
    stack: list[list] = []          # the subtree being captured

    def active() -> bool:
        return all(a["active"] for a in alternates if "branch" in a)

    def start(element, attrs):
        nonlocal depth
        depth += 1
        if depth == 1:
            namespace = element.rpartition(" ")[0]
            if namespace not in MAINS:
                raise PartProblem(_("the part {part} is not a SpreadsheetML style sheet").format(part=part))
            main[0] = namespace
            return
        if stack:
            child = _tree(element, attrs)
            stack[-1][2].append(child)
            stack.append(child)
            return
        namespace, _space, local = element.rpartition(" ")
        if depth == 2:
            if namespace == main[0] and local in _STYLE_LISTS:
                current["list"] = local
                current["index"] = -1
                if on_list is not None:
                    on_list(local, attrs)
            return
        if current["list"] is None:
            return
        if current["entry"] is not None:
            return
        if element == f"{MC} AlternateContent":
            alternates.append({"taken": False, "alternate": True})
            return
        if alternates and alternates[-1].get("alternate") and namespace == MC:
            state = alternates[-1]
            taken = not state["taken"] and (
                local == "Fallback" or (local == "Choice" and scope.understood(attrs.get("Requires", ""))))
            state["taken"] = state["taken"] or taken
            alternates.append({"branch": True, "active": taken})
            return
        if active() and namespace == main[0] \
                and local == _STYLE_LISTS[current["list"]]:
            current["index"] += 1
            current["entry"] = depth
            tree = None
            if capture is not None and capture(current["list"], current["index"]):
                tree = _tree(element, attrs)
                stack.append(tree)
            current["tree"] = tree
            current["attrs"] = attrs
            if tree is None and on_entry is not None:
                on_entry(current["list"], current["index"], attrs, None)

    def end(element):
        nonlocal depth
        if stack:
            done = stack.pop()
            if not stack and on_entry is not None:
                on_entry(current["list"], current["index"], current["attrs"], done)
        if current["entry"] == depth:
            current["entry"] = None
        elif depth == 2:
            current["list"] = None
        elif alternates and current["entry"] is None and element.startswith(MC + " "):
            alternates.pop()
        depth -= 1

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    run_parser(parser, chunks, part)


class Styles:
    """What a book's styles say: number formats, which cell formats show dates, how many entries each list
    has (counted as Excel counts them)."""

    def __init__(self, package: Package | None):
        self.package = package
        self.part = package.part(package.styles) if package is not None else None
        self.formats: dict[int, str] = {}
        self.counts: dict[str, int] = {}
        self.lists: set[str] = set()
        self._number_formats = array("i")   # cellXfs index -> numFmtId
        if self.part is None:
            return

        def on_list(name, attrs):
            self.lists.add(name)
            self.counts.setdefault(name, 0)

        def on_entry(name, index, attrs, tree):
            self.counts[name] = index + 1
            if name == "numFmts":
                if _digits(attrs.get("numFmtId", "").strip()):
                    self.formats[int(attrs["numFmtId"])] = attrs.get("formatCode", "")
            elif name == "cellXfs":
                self._number_formats.append(_int(attrs.get("numFmtId"), 0))

        walk_style_lists(package.chunks(self.part), self.part, on_list=on_list, on_entry=on_entry)
        self._dates = bytes(self._shows_date(n) for n in self._number_formats)

    def _shows_date(self, format_id: int) -> bool:
        if format_id in self.formats:
            return is_date_format(self.formats[format_id])
        return format_id in _BUILTIN_DATE_FORMATS

    def is_date(self, style: int) -> bool:
        return 0 <= style < len(self._dates) and bool(self._dates[style])

    def format_of(self, style: int) -> str | None:
        if not 0 <= style < len(self._number_formats):
            return None
        number_format = self._number_formats[style]
        return self.formats.get(number_format, f"builtin:{number_format}")

    @property
    def cell_formats(self) -> int:
        return self.counts.get("cellXfs", 0)

    def entry(self, name: str, index: int) -> tuple | None:
        """The subtree (frozen: name, sorted attributes, children) of one entry of a list, or None."""
        found: list[tuple] = []

        def on_entry(list_name, at, attrs, tree):
            if tree is not None:
                found.append(_frozen(tree))
                raise _Stop

        if self.part is not None:
            walk_style_lists(self.package.chunks(self.part), self.part, on_entry=on_entry,
                             capture=lambda list_name, at: list_name == name and at == index)
        return found[0] if found else None

    def find(self, name: str, tree: tuple) -> int | None:
        """The index of the first entry of a list equal to ``tree``, or None (one streaming pass)."""
        found: list[int] = []

        def on_entry(list_name, at, attrs, captured):
            if captured is not None and _frozen(captured) == tree:
                found.append(at)
                raise _Stop

        if self.part is not None:
            walk_style_lists(self.package.chunks(self.part), self.part, on_entry=on_entry,
                             capture=lambda list_name, at: list_name == name)
        return found[0] if found else None


@dataclass
class _NewEntry:
    tree: tuple            # frozen (name, attrs, children), names namespaced as expat gives them
    index: int


class StyleAdditions:
    """Entries to append to styles.xml, each reused when an identical one is already there (so a re-run
    appends nothing). ``write`` rewrites the part as a stream: the lists' ``count`` updated, the new entries
    before each list's end, a missing list made at its place in the schema's order."""

    def __init__(self, styles: Styles):
        self.styles = styles
        self.main = styles.package.main_namespace if styles.package is not None else MAIN
        self.added: dict[str, list[_NewEntry]] = {}
        self._formats: dict[str, int] = {}

    @property
    def changed(self) -> bool:
        return any(self.added.values())

    def _entry(self, name: str, tree: tuple) -> int:
        for entry in self.added.get(name, ()):
            if entry.tree == tree:
                return entry.index
        index = self.styles.find(name, tree)
        if index is None:
            index = self.styles.counts.get(name, 0) + len(self.added.get(name, ()))
            self.added.setdefault(name, []).append(_NewEntry(tree, index))
        return index

    def number_format(self, code: str) -> int:
        """The id of a number format with this code: a built-in one, one the book has, or a new one (164 on)."""
        if code in self._formats:
            return self._formats[code]
        found = next((i for i, c in self.styles.formats.items() if c == code), None)
        if found is None:
            taken = set(self.styles.formats) | {e.index for e in self.added.get("numFmts", ())}
            found = max([163, *taken]) + 1
            tree = (f"{self.main} numFmt", (("formatCode", code), ("numFmtId", str(found))), ())
            self.added.setdefault("numFmts", []).append(_NewEntry(tree, found))
        self._formats[code] = found
        return found

    def _default_first(self, name: str, tree: tuple) -> None:
        """A list with no entry yet gets a plain one first: entry 0 is every unstyled cell's."""
        if self.styles.counts.get(name, 0) == 0 and not self.added.get(name):
            self.added.setdefault(name, []).append(_NewEntry(tree, 0))

    def bold_font(self) -> int:
        """A font like the book's default one (font 0), bold."""
        self._default_first("fonts", (f"{self.main} font", (), ()))
        base = self.styles.entry("fonts", 0) or (f"{self.main} font", (), ())
        children = tuple(c for c in base[2] if c[0].rpartition(" ")[2] != "b")
        tree = (base[0], base[1], ((f"{self.main} b", (), ()),) + children)
        return self._entry("fonts", tree)

    def cell_format(self, base: int, *, number_format: int | None = None, font: int | None = None) -> int:
        """A cell format like ``base`` (its own attributes and alignment/protection; nothing of another
        namespace), with the number format and font given."""
        plain = (f"{self.main} xf", (("borderId", "0"), ("fillId", "0"), ("fontId", "0"), ("numFmtId", "0")), ())
        self._default_first("cellXfs", plain)
        tree = self.styles.entry("cellXfs", base) or self.styles.entry("cellXfs", 0) or plain
        attrs = {k: v for k, v in tree[1] if " " not in k}
        attrs.setdefault("numFmtId", "0")
        attrs.setdefault("fontId", "0")
        attrs.setdefault("fillId", "0")
        attrs.setdefault("borderId", "0")
        if number_format is not None:
            attrs["numFmtId"] = str(number_format)
            attrs["applyNumberFormat"] = "1"
        if font is not None:
            attrs["fontId"] = str(font)
            attrs["applyFont"] = "1"
        children = tuple(c for c in tree[2] if c[0] in (f"{self.main} alignment", f"{self.main} protection"))
        children = tuple((c[0], tuple((k, v) for k, v in c[1] if " " not in k), ()) for c in children)
        wanted = (tree[0] if tree[0].endswith(" xf") else f"{self.main} xf", tuple(sorted(attrs.items())), children)
        return self._entry("cellXfs", wanted)

    def differential(self, tree: tuple) -> int:
        """A dxf (the look a conditional format gives) equal to ``tree`` (frozen, names "uri local")."""
        return self._entry("dxfs", tree)

    def write(self, chunks: Iterable[bytes], out) -> None:
        if not self.changed:
            for chunk in chunks:
                out.write(chunk)
            return
        buffered = _Buffered(out)
        splice = Splice(buffered)
        parser = new_parser()
        scope = Namespaces(parser)
        depth = 0
        seen: set[str] = set()
        state = {"list": None, "empty": False}
        main = self.main
        pending = {name for name, entries in self.added.items() if entries}

        def prefix() -> str:
            found = scope.prefix(main)
            return found if found is not None else ""

        def serialise(tree, p: str) -> bytes:
            return _serialise(tree, {main: p}).encode()

        def whole_list(name: str, p: str) -> bytes:
            entries = b"".join(serialise(e.tree, p) for e in self.added[name])
            count = self.styles.counts.get(name, 0) + len(self.added[name])
            return f'<{p}{name} count="{count}">'.encode() + entries + f"</{p}{name}>".encode()

        def insert_before(local: str | None, position: int) -> None:
            """New lists whose place in the schema comes before ``local`` (None: the end)."""
            rank = STYLESHEET_ORDER.index(local) if local in STYLESHEET_ORDER else len(STYLESHEET_ORDER)
            for name in STYLESHEET_ORDER[:rank]:
                if name in pending and name not in seen:
                    splice.replace(position, position, whole_list(name, prefix()))
                    seen.add(name)

        def start(element, attrs):
            nonlocal depth
            depth += 1
            if depth == 1:   # <styleSheet/> with nothing in it: opened, to take the lists
                position = parser.CurrentByteIndex
                end = splice.tag_end(position)
                tag = splice.at(position, end)
                if tag.endswith(b"/>"):
                    state["root"] = qualified_name(tag)
                    splice.replace(position, end, set_attributes(tag, {}, empty=False))
                return
            if depth != 2:
                return
            namespace, _space, local = element.rpartition(" ")
            if namespace != main:
                return
            position = parser.CurrentByteIndex
            insert_before(local, position)
            if local in pending:
                seen.add(local)
                end = splice.tag_end(position)
                tag = splice.at(position, end)
                count = self.styles.counts.get(local, 0) + len(self.added[local])
                empty = tag.endswith(b"/>")
                splice.replace(position, end, set_attributes(tag, {"count": str(count)}, empty=False))
                state["list"], state["empty"] = local, empty

        def end(element):
            nonlocal depth
            if depth == 2 and state["list"] is not None:
                local = state["list"]
                position = parser.CurrentByteIndex
                p = prefix()
                entries = b"".join(serialise(e.tree, p) for e in self.added[local])
                tail = f"</{p}{local}>".encode() if state["empty"] else b""
                splice.replace(position, position, entries + tail)
                state["list"] = None
            elif depth == 1:
                position = parser.CurrentByteIndex
                insert_before(None, position)
                if state.get("root"):
                    splice.replace(position, position, b"</" + state["root"] + b">")
            depth -= 1

        parser.StartElementHandler = start
        parser.EndElementHandler = end
        run_parser(parser, chunks, self.styles.part or "styles", splice)
        splice.finish()
        buffered.close()


def _serialise(tree: tuple, prefixes: Mapping[str, str]) -> str:
    """A frozen subtree as XML, elements of a known namespace with its prefix."""
    namespace, _space, local = tree[0].rpartition(" ")
    p = prefixes.get(namespace, "")
    attrs = "".join(f' {k}="{escape_attribute(v)}"' for k, v in tree[1])
    if not tree[2]:
        return f"<{p}{local}{attrs}/>"
    inner = "".join(_serialise(child, prefixes) for child in tree[2])
    return f"<{p}{local}{attrs}>{inner}</{p}{local}>"


def element(name: str, attrs: Mapping[str, str] | None = None, children: Iterable[tuple] = (),
            namespace: str = MAIN) -> tuple:
    """A frozen subtree for StyleAdditions: element(\"font\", children=[element(\"b\")])."""
    return (f"{namespace} {name}", tuple(sorted((attrs or {}).items())), tuple(children))


# --- reading a worksheet -----------------------------------------------------------------------------

@dataclass
class Column:
    """One <col> entry: the columns it covers and what it says about them."""

    low: int
    high: int
    style: int | None
    width: float | None
    custom_width: bool
    hidden: bool


@dataclass
class ColumnStyles:
    spans: list[tuple[int, int, int]]              # (min, max, style) from <cols>

    def of(self, column: int) -> int | None:
        for low, high, style in self.spans:
            if low <= column <= high:
                return style
        return None


def _true(value) -> bool:
    return value is not None and value.strip().lower() in ("1", "true")


def _row_problem(text: str) -> PartProblem:
    return PartProblem(text)


class RowMap:
    """Where each row of sheetData lies in the part, as the reader found them, in order: its number, where
    its start tag begins, where it ends (its end tag's start, or just after an empty row's tag), and the
    column of its last cell; ``data_end`` is where </sheetData> begins. The writer splices by it."""

    def __init__(self):
        self.numbers = array("i")
        self.starts = array("q")
        self.ends = array("q")
        self.last = array("H")
        self.data_end: int | None = None
        self.nested = False               # a <row> somewhere else than in sheetData: the map is not enough

    def last_of(self, number: int) -> int:
        """The column of the last cell of row ``number`` (0: no cell; past XFD: not known)."""
        import bisect

        at = bisect.bisect_left(self.numbers, number)
        if at < len(self.numbers) and self.numbers[at] == number:
            return self.last[at]
        return EXCEL_COLUMNS + 1


class SheetScan:
    """One pass over a worksheet part: its columns, rows, merges, and the cells of the columns asked for.

    Rows must be numbered 1..1,048,576 in increasing order, each once, and cells in a row must lie in
    that row in increasing column order; otherwise PartProblem names the row. Whatever is not a cell of
    this sheet as Excel reads it (inside a comment, a CDATA section, a processing instruction, or an element
    of another namespace) is not read as one."""

    def __init__(self, chunks: Iterable[bytes], part: str):
        self.chunks = chunks
        self.part = part
        self.columns: list[Column] = []
        self.used = bytearray(EXCEL_COLUMNS + 2)   # columns holding a value or a formula in some row
        self.hidden_rows: set[int] = set()
        self.row_styles: set[int] = set()         # styles of rows with customFormat
        self.merges: list[tuple[int, int, int, int]] = []
        self.top_level: list[str] = []            # local names of the worksheet's children, in order
        self.has_sheet_data = False
        self.last_row = 0
        self.last_data_row = 0                    # the last row holding a value or a formula
        self.dimension: str | None = None
        self.priority = 0                         # the highest conditional format priority
        self.rows = RowMap()                      # where each row is: the writer's fast path
        self.main = MAIN

    @property
    def last_column(self) -> int:
        """The rightmost column holding a value or a formula (0 when none does)."""
        used = self.used
        for column in range(len(used) - 1, 0, -1):
            if used[column]:
                return column
        return 0

    def column_styles(self) -> ColumnStyles:
        return ColumnStyles([(c.low, c.high, c.style) for c in self.columns if c.style is not None])

    def hidden_columns(self) -> set[int]:
        return self._columns_where(lambda c: c.hidden)

    def own_widths(self) -> set[int]:
        """Columns whose width the book's author set (customWidth)."""
        return self._columns_where(lambda c: c.custom_width)

    def _columns_where(self, chosen: Callable) -> set[int]:
        """The column numbers of every <col> span ``chosen`` picks."""
        found: set[int] = set()
        for c in self.columns:
            if chosen(c):
                found.update(range(c.low, min(c.high, EXCEL_COLUMNS) + 1))
        return found

    def run(self, *, wanted: Callable[[dict[int, tuple]], set[int]] | set[int],
            take: Callable[[int, int, tuple], None], until_row: int | None = None) -> None:
        """Read the part. ``wanted`` is the set of columns whose cells ``take(row, column, raw)`` receives
        below row 1, or a function of row 1's cells (column -> raw) that returns it (a set the caller may
        shrink while the pass goes on, when a column has told it enough); row 1's cells are all given to it. raw is (kind, value, style, formula kind): kind "s" (value: a shared string's index),
        "str", "n", "b", "e", "d" or "none"; formula kind None, "formula" or "master" (a shared or array
        formula's anchor)."""
        chooser = wanted if callable(wanted) else None
        columns_wanted: set[int] = set() if chooser else set(wanted)
        header: dict[int, tuple] = {}
        headers_done = [chooser is None]
        names = {(m, n): f"{m} {n}" for m in MAINS for n in ("worksheet", "sheetData", "row", "c", "v", "f", "is",
                                                              "t", "r", "rPh", "cols", "col", "mergeCells",
                                                              "mergeCell", "dimension")}
        parser = new_parser(names.values())
        main = MAIN
        ROW = C = V = F = IS = T = R = ""
        depth = 0
        in_data = False          # inside sheetData (a child of the root)
        row_ok = False           # inside a row of sheetData
        cell_ok = False
        row_number = 0
        row_text = ""
        previous_row = 0
        column = 0
        previous_column = 0
        keep = False             # this cell is wanted
        kind = "n"
        style = 0
        formula = None
        has_value = False
        inline_run = False
        text: list[str] = []
        text_length = 0
        child = ""               # the cell child whose text is collected
        letters_cache: dict[str, int] = {}
        used = self.used
        row_map = self.rows
        numbers_append, starts_append = row_map.numbers.append, row_map.starts.append
        ends_append, last_append = row_map.ends.append, row_map.last.append
        data_row = [0]
        context = [""]           # the local name of the current depth-2 element

        def collect(data):
            nonlocal text_length
            if text_length < MAX_CELL_TEXT:
                text.append(data)
                text_length += len(data)

        def finish_headers():
            nonlocal columns_wanted
            headers_done[0] = True
            if chooser is not None:
                columns_wanted = chooser(dict(header))   # the caller's own set: it may shrink as the pass goes

        def start(name, attrs):
            nonlocal depth, in_data, row_ok, cell_ok, row_number, row_text, previous_row, column
            nonlocal previous_column, keep, kind, style, formula, has_value, inline_run, text_length, child
            nonlocal main, ROW, C, V, F, IS, T, R
            depth += 1
            if depth == 4:
                if name is not C:
                    if name is ROW:
                        self.rows.nested = True
                elif row_ok:
                    cell_ok = True
                    ref = attrs.get("r")
                    if ref is None:
                        column = previous_column + 1
                        if column > EXCEL_COLUMNS:
                            raise _row_problem(_("row {row} has a cell right of column XFD").format(row=row_number))
                    else:
                        letters = ref.rstrip("0123456789")
                        column = letters_cache.get(letters, 0)
                        if not column:
                            column = column_of(letters.replace("$", ""))
                            if column:
                                letters_cache[letters] = column
                        if not column or ref[len(letters):] != row_text:
                            _check_cell(ref, letters, row_number, column)
                        if column <= previous_column:
                            raise _row_problem(_("cell {ref} comes after {previous} in row {row}: the row's cells are "
                                                 "out of order").format(ref=ref, previous=column_name(previous_column)
                                                                        + str(row_number), row=row_number))
                    previous_column = column
                    keep = column in columns_wanted or not headers_done[0]
                    if keep:
                        kind = attrs.get("t") or "n"
                        found = attrs.get("s")
                        style = _int(found, 0) if found else 0
                        formula = None
                        has_value = False
                        text.clear()
                        text_length = 0
                        child = ""
                return
            if depth == 5:
                if cell_ok:
                    if name is V:
                        used[column] = 1
                        data_row[0] = row_number
                        if keep:
                            has_value = True
                            child = "v"
                            parser.CharacterDataHandler = collect
                    elif name is F:
                        used[column] = 1
                        data_row[0] = row_number
                        if keep:
                            shared = attrs.get("t")
                            formula = "master" if shared in ("array", "dataTable") or (
                                shared == "shared" and "ref" in attrs) else "formula"
                    elif name is IS:
                        used[column] = 1
                        data_row[0] = row_number
                        if keep:
                            has_value = True
                            child = "is"
                    elif name is ROW:
                        self.rows.nested = True
                elif name is ROW:
                    self.rows.nested = True
                return
            if depth == 3:
                if in_data and name is ROW:
                    row_ok = True
                    ref = attrs.get("r")
                    if ref is None:
                        row_number = previous_row + 1
                    elif _digits(ref) and len(ref) < 9 and ref[0] != "0":
                        row_number = int(ref)
                    else:
                        row_number = _row_number(ref, previous_row)
                    if row_number <= previous_row:
                        raise _row_problem(_("row {row} appears twice").format(row=row_number)
                                           if row_number == previous_row else
                                           _("row {row} comes after row {previous}: the rows are out of order").format(
                                               row=row_number, previous=previous_row))
                    if row_number > EXCEL_ROWS:
                        raise _row_problem(_("row {row} is past Excel's last row, 1,048,576").format(row=row_number))
                    if row_number > 1 and not headers_done[0]:
                        finish_headers()
                    if until_row is not None and row_number > until_row:
                        raise _Stop
                    previous_row = row_number
                    row_text = str(row_number)
                    previous_column = 0
                    numbers_append(row_number)
                    starts_append(parser.CurrentByteIndex)
                    if len(attrs) > 1:
                        if _true(attrs.get("hidden")):
                            self.hidden_rows.add(row_number)
                        if _true(attrs.get("customFormat")) and _digits(attrs.get("s", "").strip()):
                            self.row_styles.add(int(attrs["s"]))
                elif context[0] == "cols" and name == f"{main} col":
                    low, high = _int(attrs.get("min"), 0), _int(attrs.get("max"), 0)
                    if 1 <= low <= high:
                        found = attrs.get("style")
                        width = attrs.get("width")
                        try:
                            width = float(width) if width is not None else None
                        except ValueError:
                            width = None
                        self.columns.append(Column(low, high, _int(found, 0) if found is not None else None, width,
                                                   _true(attrs.get("customWidth")), _true(attrs.get("hidden"))))
                elif context[0] == "mergeCells" and name == f"{main} mergeCell":
                    box = parse_ref(attrs.get("ref", ""))
                    if box:
                        self.merges.append(box)
                elif context[0] == "conditionalFormatting" and name == f"{main} cfRule":
                    self.priority = max(self.priority, _int(attrs.get("priority"), 0))
                return
            if depth >= 6:
                if name is ROW:
                    self.rows.nested = True
                if keep and child == "is":
                    if name is T and (depth == 6 or (depth == 7 and inline_run)):
                        child = "t"
                        parser.CharacterDataHandler = collect
                    elif depth == 6:
                        inline_run = name is R
                return
            if depth == 2:
                namespace, _space, local = name.rpartition(" ")
                context[0] = local if namespace == main else ""
                self.top_level.append(local if namespace == main else "?")
                if namespace == main:
                    if local == "sheetData":
                        in_data = True
                        self.has_sheet_data = True
                    elif local == "dimension":
                        self.dimension = attrs.get("ref")
                return
            if depth == 1:
                namespace = name.rpartition(" ")[0]
                if namespace not in MAINS or not name.endswith(" worksheet"):
                    raise PartProblem(_("the part {part} is not a worksheet").format(part=self.part))
                main = self.main = namespace
                # The interned names expat hands back: compared with ``is``.
                ROW, C, V, F, IS, T, R = (names[(main, n)] for n in ("row", "c", "v", "f", "is", "t", "r"))

        def end(name):
            nonlocal depth, in_data, row_ok, cell_ok, child, inline_run
            if depth == 5:
                if child:
                    parser.CharacterDataHandler = None
                    if child == "v":
                        child = ""
            elif depth == 4:
                if cell_ok:
                    cell_ok = False
                    if keep:
                        raw = _raw(kind, "".join(text) if text else "", style, formula, has_value)
                        if headers_done[0]:
                            take(row_number, column, raw)
                        else:
                            header[column] = raw
                    child = ""
            elif depth == 3:
                if row_ok:
                    row_ok = False
                    self.last_row = row_number
                    ends_append(parser.CurrentByteIndex)
                    last_append(previous_column)
                    if row_number == 1 and not headers_done[0]:
                        finish_headers()
            elif depth >= 6:
                if child == "t":
                    parser.CharacterDataHandler = None
                    child = "is"
                if depth == 6:
                    inline_run = False
            elif depth == 2:
                if in_data:
                    in_data = False
                    row_map.data_end = parser.CurrentByteIndex
                context[0] = ""
            depth -= 1

        parser.StartElementHandler = start
        parser.EndElementHandler = end
        try:
            run_parser(parser, self.chunks, self.part)
        finally:
            self.last_data_row = data_row[0]
        if not headers_done[0]:
            finish_headers()


def _row_number(ref: str, previous: int) -> int:
    text = ref.strip()
    if not _digits(text) or len(text) > 9:
        raise _row_problem(_("a row is numbered {ref!r}, which is no row of Excel (after row {previous})").format(
            ref=ref[:20], previous=previous))
    number = int(text)
    if number < 1:
        raise _row_problem(_("row 0 is no row of Excel, whose rows start at 1 (it comes after row {previous})").format(
            previous=previous))
    return number


def _check_cell(ref: str, letters: str, row: int, column: int) -> None:
    """A cell's reference that is not simply its column and its row's number: fine when it still names a
    cell of that row (A01), else PartProblem."""
    digits = ref[len(letters):]
    if column and _digits(digits) and int(digits) == row:
        return
    if column and _digits(digits):
        raise _row_problem(_("cell {ref} lies inside row {row}").format(ref=ref[:20], row=row))
    raise _row_problem(_("row {row} holds a cell named {ref!r}, which is no cell of Excel").format(
        ref=ref[:20], row=row))


def _raw(kind: str, text: str, style: int, formula, has_value: bool) -> tuple:
    """(kind, value, style, formula kind) from what a cell holds."""
    if not has_value or (text == "" and (formula or kind not in ("str", "inlineStr"))):
        return "none", None, style, formula
    if kind == "inlineStr":
        return "str", text, style, formula
    if kind == "s":
        stripped = text.strip()
        if _digits(stripped):
            return "s", int(stripped), style, formula
        return "none", None, style, formula
    if kind == "str":
        return "str", text, style, formula
    return kind, text.strip(), style, formula


# --- writing a worksheet ------------------------------------------------------------------------------

# A cell to write: (kind, value, style). kind "t" (text, written as an inline string), "n" (a number) or
# "" (no value: an existing cell keeps only its style, a missing one is not made). style None: the style of
# the cell it replaces, else the row's (customFormat), else the column's; a number: that style.
Cell = tuple


@dataclass
class TopLevelEdit:
    """What happens to the worksheet's own children (the chat list's look, the result columns' widths).

    ``replace[local](element bytes, prefix)`` gives what replaces each element of that name (None or b"":
    it goes); ``insert[local](prefix)`` gives elements to add at their place in the schema's order, after
    any of that name already there (the prefix is the one the main namespace has there, "x:" or "")."""

    replace: dict[str, Callable[[bytes, str], bytes | None]] = field(default_factory=dict)
    insert: dict[str, Callable[[str], bytes]] = field(default_factory=dict)


@dataclass
class SheetEdit:
    """What goes into a worksheet: cells by row, and what happens around them."""

    rows: Iterable[tuple[int, Mapping[int, Cell]]]   # (row, column -> cell), in row order
    first: int                                       # the leftmost column written
    last: int                                        # the rightmost
    bottom: int                                      # the last row written (0: none)
    column_styles: ColumnStyles = field(default_factory=lambda: ColumnStyles([]))
    keep: set[tuple[int, int]] = field(default_factory=set)   # (row, column) never overwritten
    drop_merge: Callable[[tuple[int, int, int, int]], bool] = lambda box: False
    top: TopLevelEdit = field(default_factory=TopLevelEdit)
    widths: Mapping[int, float] = field(default_factory=dict)   # column -> characters, where not set by hand
    # From the reader (SheetScan.rows): a row whose last cell lies left of ``first`` takes its cells at its
    # end without its cells being looked at; when every row the edit writes is such a row, the rows are
    # spliced by their positions and only the rest of the part is parsed.
    row_map: "RowMap | None" = None
    edits_row: Callable[[int], bool] = lambda number: True


class SheetWriter:
    """Copies a worksheet part, splicing the edit's cells into their rows; every other byte passes through.

    A row that gets cells has them inserted in column order (an existing cell in their place is replaced,
    keeping its style unless the edit says otherwise), its ``spans`` widened; missing rows are made in
    their place; ``<dimension>`` widens over the cells; a merge the edit drops is taken out; the edit's
    top-level changes are made."""

    def __init__(self, edit: SheetEdit):
        self.edit = edit
        self._text_cache: dict[tuple, tuple] = {}
        self._column_styles: dict[int, int | None] = {}
        self._spans: dict[tuple, str] = {}
        self._offset = 0   # on the fast path, once past the rows: the bytes of them the parser did not see

    def write(self, chunks: Iterable[bytes], out, part: str = "sheet") -> None:
        edit = self.edit
        buffered = _Buffered(out)
        splice = Splice(buffered)
        rows = self._spliced_rows()
        self._offset = 0

        def where() -> int:
            """The part's offset of the current event (the parser skipped the rows on the fast path)."""
            return parser.CurrentByteIndex + self._offset
        names = {(m, n): f"{m} {n}" for m in MAINS for n in ("worksheet", "sheetData", "row", "c", "mergeCells",
                                                              "mergeCell", "dimension", "col")}
        parser = new_parser(names.values())
        scope = Namespaces(parser)
        self._items = iter(edit.rows)
        self._item = next(self._items, None)
        state = {"depth": 0, "main": MAIN, "in_data": False, "data_open": False, "row": None, "merge": None,
                 "top": None, "seen": set(), "last_row": 0, "cols": None}
        names_of = {}
        first, last = edit.first, edit.last

        def prefix() -> str:
            found = scope.prefix(state["main"])
            return found if found is not None else ""

        def top_level_insert(rank: int, position: int) -> None:
            """New top-level elements whose place in the schema's order comes before ``rank``."""
            if edit.widths and rank > WORKSHEET_ORDER.index("cols") and "cols" not in state["seen"]:
                state["seen"].add("cols")   # a sheet without <cols> gets one for the widths
                p = prefix()
                entries = "".join(_col_tag(p, column, width) for column, width in sorted(edit.widths.items()))
                splice.replace(position, position, f"<{p}cols>{entries}</{p}cols>".encode())
            for name in WORKSHEET_ORDER[:rank]:
                if name in edit.top.insert and name not in state["seen"]:
                    state["seen"].add(name)
                    p = prefix()
                    if name == "sheetData":   # a sheet without one gets it, with the edit's rows
                        data = f"<{p}sheetData>".encode() + self._rows_before(p, None) + f"</{p}sheetData>".encode()
                    else:
                        data = edit.top.insert[name](p)
                    splice.replace(position, position, data)

        def start(name, attrs):
            state["depth"] += 1
            depth = state["depth"]
            if depth == 4:
                row = state["row"]
                if row is not None and name is names_of["c"]:
                    self._cell_start(splice, parser, row, attrs)
                return
            if depth == 3:
                if state["in_data"] and name is names_of["row"]:
                    if self._row_start(splice, parser, state, attrs, prefix):
                        # No cell of this row needs a look: its cells raise no events until its end.
                        parser.StartElementHandler = None
                        parser.EndElementHandler = end_of_row
                elif state["merge"] is not None and name == names_of["mergeCell"]:
                    box = parse_ref(attrs.get("ref", ""))
                    state["merge"]["current"] = (where(), box is not None and edit.drop_merge(box))
                elif state["cols"] is not None and name is names_of["col"]:
                    position = where()
                    end = splice.tag_end(position)
                    state["cols"]["current"] = (position, splice.at(position, end), attrs)
                return
            if depth == 2:
                namespace, _space, local = name.rpartition(" ")
                position = where()
                if namespace != state["main"]:
                    top_level_insert(_LATE, position)
                    return
                top_level_insert(WORKSHEET_ORDER.index(local) if local in WORKSHEET_ORDER else _LATE, position)
                if local == "sheetData":
                    state["in_data"] = True
                    end = splice.tag_end(position)
                    tag = splice.at(position, end)
                    if tag.endswith(b"/>") and self._item is not None:
                        splice.replace(position, end, set_attributes(tag, {}, empty=False))
                        state["data_open"] = True
                elif local == "dimension" and edit.bottom:
                    end = splice.tag_end(position)
                    tag = splice.at(position, end)
                    box = parse_ref(attrs.get("ref", ""))
                    top, left, bottom, right = box if box else (1, first, 1, last)
                    ref = box_ref(min(top, 1), min(left, first), max(bottom, edit.bottom), max(right, last))
                    splice.replace(position, end, set_attributes(tag, {"ref": ref}))
                elif local == "cols" and edit.widths:
                    state["seen"].add("cols")
                    splice.hold(position)
                    state["cols"] = {"start": position, "entries": [], "current": None}
                elif local == "mergeCells":
                    splice.hold(position)
                    state["merge"] = {"start": position, "tag_end": splice.tag_end(position), "drop": [],
                                      "kept": 0, "current": None}
                elif local in edit.top.replace:
                    splice.hold(position)
                    state["top"] = (local, position)
                return
            if depth == 1:
                namespace = name.rpartition(" ")[0]
                if namespace not in MAINS or not name.endswith(" worksheet"):
                    raise PartProblem(_("the part {part} is not a worksheet").format(part=part))
                state["main"] = namespace
                names_of.update({n: names[(namespace, n)] for n in ("row", "c", "mergeCell", "col")})

        def end(name):
            depth = state["depth"]
            if depth == 4:
                row = state["row"]
                if row is not None and row["replacing"] is not None:
                    self._cell_end(splice, parser, row)
            elif depth == 3:
                row = state["row"]
                if row is not None and name is names_of["row"]:
                    self._row_end(splice, parser, row)
                    state["row"] = None
                elif state["cols"] is not None and state["cols"]["current"] is not None:
                    begin, tag, attrs = state["cols"]["current"]
                    state["cols"]["current"] = None
                    state["cols"]["entries"].append((begin, _element_end(splice, begin, where()),
                                                     tag, attrs))
                elif state["merge"] is not None and state["merge"]["current"] is not None:
                    merge = state["merge"]
                    begin, drop = merge["current"]
                    merge["current"] = None
                    if drop:
                        merge["drop"].append((begin, _element_end(splice, begin, where())))
                    else:
                        merge["kept"] += 1
            elif depth == 2:
                local = name.rpartition(" ")[2]
                position = where()
                if state["in_data"] and local == "sheetData":
                    p = prefix()
                    data = self._rows_before(p, None)
                    if state["data_open"]:
                        data += f"</{p}sheetData>".encode()
                    if data:
                        splice.replace(position, position, data)
                    state["in_data"] = False
                elif state["cols"] is not None and local == "cols":
                    cols = state["cols"]
                    state["cols"] = None
                    splice.release()
                    for begin, end, data in _width_edits(cols["entries"], edit.widths, position, prefix()):
                        splice.replace(begin, end, data)
                elif state["merge"] is not None and local == "mergeCells":
                    merge = state["merge"]
                    state["merge"] = None
                    stop = _element_end(splice, merge["start"], position)
                    splice.release()
                    if merge["drop"] and not merge["kept"]:
                        splice.replace(merge["start"], stop)
                    elif merge["drop"]:
                        tag = splice.at(merge["start"], merge["tag_end"])
                        splice.replace(merge["start"], merge["tag_end"],
                                       set_attributes(tag, {"count": str(merge["kept"])}))
                        for begin, finish in merge["drop"]:
                            splice.replace(begin, finish)
                elif state["top"] is not None and state["top"][0] == local:
                    begin = state["top"][1]
                    state["top"] = None
                    stop = _element_end(splice, begin, position)
                    splice.release()
                    splice.replace(begin, stop, edit.top.replace[local](splice.at(begin, stop), prefix()) or b"")
            elif depth == 1:
                top_level_insert(len(WORKSHEET_ORDER), where())
            state["depth"] -= 1

        def end_of_row(name):
            if name is names_of["row"]:
                row = state["row"]
                if row is not None:
                    self._row_end(splice, parser, row)
                    state["row"] = None
                parser.StartElementHandler = start
                parser.EndElementHandler = end
                state["depth"] -= 1

        parser.StartElementHandler = start
        parser.EndElementHandler = end
        if rows is None:
            run_parser(parser, chunks, part, splice)
        else:   # the rows by their positions, the parser over the rest (it sees <sheetData></sheetData>)
            self._feed_around_rows(parser, chunks, part, splice, rows, prefix)
        splice.finish()
        buffered.close()

    # -- the fast path: rows spliced by where the reader found them --

    def _spliced_rows(self) -> "RowMap | None":
        """The reader's row map when every row this edit writes into takes its cells at its end."""
        rows, edit = self.edit.row_map, self.edit
        if rows is None or rows.nested or rows.data_end is None or not len(rows.numbers) \
                or len(rows.ends) != len(rows.numbers):
            return None
        first = edit.first
        for number, last in zip(rows.numbers, rows.last):
            if last >= first and edit.edits_row(number):
                return None
        return rows

    def _feed_around_rows(self, parser, chunks, part: str, splice: Splice, rows: "RowMap", prefix) -> None:
        head_end, data_end = rows.starts[0], rows.data_end
        fed = 0
        index = 0          # the next row to splice
        count = len(rows.numbers)
        try:
            for chunk in chunks:
                start = fed
                fed += len(chunk)
                splice.add(chunk)
                if start < head_end:
                    parser.Parse(chunk[:head_end - start], False)
                    splice.flush(parser.CurrentByteIndex)
                while index < count and rows.ends[index] <= fed:
                    self._splice_row(splice, rows, index, prefix)
                    index += 1
                    splice.flush(min(rows.starts[index] if index < count else data_end, fed))
                if fed > data_end:
                    self._offset = data_end - head_end
                    parser.Parse(chunk[max(0, data_end - start):], False)
                    splice.flush(parser.CurrentByteIndex + self._offset)
            parser.Parse(b"", True)
        except expat.ExpatError as error:
            raise PartProblem(_("the part {part} is not well-formed XML ({error})").format(
                part=part, error=expat.ErrorString(error.code) + f", line {error.lineno}")) from None

    def _splice_row(self, splice: Splice, rows: "RowMap", index: int, prefix) -> None:
        number, position = rows.numbers[index], rows.starts[index]
        if self._item is not None and self._item[0] < number:
            made = self._rows_before(prefix(), number)
            if made:
                splice.replace(position, position, made)
        item = self._item
        if item is None or item[0] != number:
            return
        self._item = next(self._items, None)
        cells = item[1]
        if not cells:
            return
        end = splice.tag_end(position)
        tag = splice.at(position, end)
        attrs = tag_attributes(tag) if len(tag) > 12 + len(str(number)) else {}
        row = self._open_row(splice, position, end, attrs, number, cells, qualified_name(tag)[:-3].decode())
        self._row_end_at(splice, rows.ends[index], row)

    # -- rows and cells --

    def _rows_before(self, p: str, below: int | None) -> bytes:
        """New rows for the edit's rows before row ``below`` (None: all the rest), which the sheet lacks."""
        made = []
        column_style = self.edit.column_styles.of
        while self._item is not None and (below is None or self._item[0] < below):
            number, cells = self._item
            body = b"".join(self._cell(p, number, col, cell, column_style(col)) for col, cell in sorted(cells.items()))
            if body:
                made.append(f'<{p}row r="{number}">'.encode() + body + f"</{p}row>".encode())
            self._item = next(self._items, None)
        return b"".join(made)

    def _row_start(self, splice: Splice, parser, state, attrs, prefix) -> bool:
        """Splice what a row needs at its start; True when its cells may pass unseen (the reader said where
        its last cell is, and no cell of this edit goes before it)."""
        position = parser.CurrentByteIndex
        ref = attrs.get("r")
        number = int(ref) if ref is not None and _digits(ref.strip()) else state["last_row"] + 1
        state["last_row"] = number
        if self._item is not None and self._item[0] < number:
            made = self._rows_before(prefix(), number)
            if made:
                splice.replace(position, position, made)
        end = splice.tag_end(position)
        empty = splice.buffer[end - 2 - splice.base] == 47   # "/" of "/>"
        row_map = self.edit.row_map
        last_cell = row_map.last_of(number) if row_map is not None else EXCEL_COLUMNS + 1
        unseen = not empty and row_map is not None and not row_map.nested
        item = self._item
        if item is None or item[0] != number:
            return unseen
        self._item = next(self._items, None)
        cells = item[1]
        if not cells:
            return unseen
        state["row"] = self._open_row(splice, position, end, attrs, number, cells, prefix())
        return unseen and last_cell < min(cells)

    def _open_row(self, splice: Splice, position: int, end: int, attrs, number: int, cells, p: str) -> dict:
        """A row that gets cells: its start tag with ``spans`` widened (and an empty row's opened), and what
        the rest of it needs: the cells waiting, the row's style (customFormat), its prefix."""
        empty = splice.buffer[end - 2 - splice.base] == 47   # "/" of "/>"
        row_style = None
        if "customFormat" in attrs and _true(attrs["customFormat"]) and _digits(attrs.get("s", "").strip()):
            row_style = int(attrs["s"])
        changes = {}
        if "spans" in attrs:
            key = (attrs["spans"], min(cells), max(cells))
            if key not in self._spans:
                self._spans[key] = _widen_spans(*key)
            if self._spans[key] != attrs["spans"]:
                changes["spans"] = self._spans[key]
        if changes or empty:
            splice.replace(position, end, set_attributes(splice.at(position, end), changes, empty=False))
        return {"number": number, "cells": cells, "waiting": sorted(cells), "style": row_style, "empty": empty,
                "prefix": p, "previous": 0, "replacing": None}

    def _cell_start(self, splice: Splice, parser, row, attrs) -> None:
        ref = attrs.get("r")
        if ref is not None:
            column = column_of(ref.replace("$", "").rstrip("0123456789"))
        else:
            column = row["previous"] + 1
        row["previous"] = column
        waiting = row["waiting"]
        if not waiting or waiting[0] > column:
            return
        position = parser.CurrentByteIndex
        number, p = row["number"], row["prefix"]
        if waiting[0] < column:
            made = []
            while waiting and waiting[0] < column:
                col = waiting.pop(0)
                made.append(self._cell(p, number, col, row["cells"][col], self._default_style(row, col)))
            splice.replace(position, position, b"".join(made))
        if waiting and waiting[0] == column:
            waiting.pop(0)
            if (number, column) in self.edit.keep:
                return
            found = attrs.get("s")
            style = _int(found, 0) if found is not None else None
            splice.hold(position)
            row["replacing"] = (position, column, style)

    def _cell_end(self, splice: Splice, parser, row) -> None:
        position, column, style = row["replacing"]
        row["replacing"] = None
        stop = _element_end(splice, position, parser.CurrentByteIndex)
        splice.release()
        splice.replace(position, stop, self._cell(row["prefix"], row["number"], column, row["cells"][column], style))

    def _row_end(self, splice: Splice, parser, row) -> None:
        self._row_end_at(splice, parser.CurrentByteIndex, row)

    def _row_end_at(self, splice: Splice, position: int, row) -> None:
        number, p, cells = row["number"], row["prefix"], row["cells"]
        digits = str(number).encode()
        style = row["style"]
        made = [self._cell(p, digits, col, cells[col], style if style is not None else self._column_style(col))
                for col in row["waiting"]]
        if row["empty"]:
            made.append(f"</{p}row>".encode())
        if made:
            splice.replace(position, position, b"".join(made))

    def _default_style(self, row, column: int) -> int | None:
        return row["style"] if row["style"] is not None else self._column_style(column)

    def _column_style(self, column: int) -> int | None:
        styles = self._column_styles
        if column not in styles:
            styles[column] = self.edit.column_styles.of(column)
        return styles[column]

    def _cell(self, p: str, row, column: int, cell: Cell, inherited: int | None) -> bytes:
        """A cell's XML; the parts that do not depend on the row are made once per edit (the hot path)."""
        kind, value, style = cell
        if style is None:
            style = inherited
        digits = row if isinstance(row, bytes) else str(row).encode()
        if kind == "t" and value:
            key = (p, column, style, value)
            parts = self._text_cache.get(key)
            if parts is None:
                text = xml_text(value)
                s = f' s="{style}"' if style else ""
                space = ' xml:space="preserve"' if text != text.strip() or "\n" in text else ""
                parts = (f'<{p}c r="{column_name(column)}'.encode(),
                         f'"{s} t="inlineStr"><{p}is><{p}t{space}>{escape(text)}</{p}t></{p}is></{p}c>'.encode())
                if len(self._text_cache) < 4096:
                    self._text_cache[key] = parts
            return parts[0] + digits + parts[1]
        key = (p, column, style, kind)
        parts = self._text_cache.get(key)
        if parts is None:
            s = f' s="{style}"' if style else ""
            parts = (f'<{p}c r="{column_name(column)}'.encode(), f'"{s}><{p}v>'.encode(), f"</{p}v></{p}c>".encode(),
                     f'"{s}/>'.encode() if style else b"")
            self._text_cache[key] = parts
        if kind == "n" and value is not None:
            return parts[0] + digits + parts[1] + repr(value).encode() + parts[2]
        return parts[0] + digits + parts[3] if parts[3] else b""


def _element_end(splice: Splice, start: int, index: int) -> int:
    """Where the element that starts at ``start`` ends, given the offset expat reported for its end event
    (just after an empty-element tag, or where its end tag begins)."""
    tag_end = splice.tag_end(start)
    if tag_end == index and splice.at(index - 2, index) == b"/>":
        return index
    return splice.end_tag_end(index)


def _widen_spans(spans: str, low: int, high: int) -> str:
    """Row spans are a hint for readers: one span over the old ones and the new columns is valid."""
    numbers = [int(n) for n in re.findall(r"\d+", spans)]
    if not numbers:
        return spans
    return f"{min(low, *numbers)}:{max(high, *numbers)}"


def _col_tag(p: str, column: int, width: float) -> str:
    return f'<{p}col min="{column}" max="{column}" width="{_width(width)}" customWidth="1"/>'


def _width_edits(entries, widths: Mapping[int, float], end_tag: int, p: str) -> list[tuple[int, int, bytes]]:
    """Edits of a <cols> element (its <col> entries as (start, end, start tag, attributes)) that give
    ``widths`` to the columns without a width of their own (customWidth): an entry over such a column is
    split, a column no entry covers gets one in its place; everything else stays as it was written."""
    edits: list[tuple[int, int, bytes]] = []
    targets = sorted(widths)
    covered: set[int] = set()
    new_at: dict[int, list[int]] = {}
    for start, end, tag, attrs in entries:
        low, high = _int(attrs.get("min"), 0), _int(attrs.get("max"), 0)
        mine = [c for c in targets if low <= c <= high]
        covered.update(mine)
        if not mine or _true(attrs.get("customWidth")):
            continue
        pieces, cut = [], low
        for column in mine:
            if column > cut:
                pieces.append(set_attributes(tag, {"min": str(cut), "max": str(column - 1)}, empty=True))
            pieces.append(set_attributes(tag, {"min": str(column), "max": str(column), "width": _width(widths[column]),
                                               "customWidth": "1"}, empty=True))
            cut = column + 1
        if cut <= high:
            pieces.append(set_attributes(tag, {"min": str(cut), "max": str(high)}, empty=True))
        edits.append((start, end, b"".join(pieces)))
    for column in targets:
        if column not in covered:
            at = next((start for start, _end, _tag, attrs in entries if _int(attrs.get("min"), 0) > column), end_tag)
            new_at.setdefault(at, []).append(column)
    for at, columns in new_at.items():
        edits.append((at, at, "".join(_col_tag(p, c, widths[c]) for c in columns).encode()))
    edits.sort(key=lambda edit: (edit[0], edit[1]))
    return edits


def _width(characters: float) -> str:
    return f"{characters:g}"


# --- small rewrites of other parts --------------------------------------------------------------------

def rewrite_elements(chunks: Iterable[bytes], out, part: str, decide) -> None:
    """Copy a part, asking ``decide(name, attrs, depth, namespaces)`` about each element: None keeps it, b""
    drops it whole, ("start", function of its start tag) replaces its start tag, ("before", bytes) inserts
    before it, ("end", bytes) inserts before its end tag. Used for the package's lists (relationships,
    content types, the workbook's sheets and names) and the calc chain."""
    buffered = _Buffered(out)
    splice = Splice(buffered)
    parser = new_parser()
    scope = Namespaces(parser)
    depth = 0
    at_end: dict[int, tuple[bytes, bool]] = {}   # depth -> (bytes before its end tag, close an emptied tag)
    dropping: list[tuple[int, int]] = []         # (depth, start) of the element being dropped

    def start(name, attrs):
        nonlocal depth
        depth += 1
        if dropping:
            return
        action = decide(name, attrs, depth, scope)
        if action is None:
            return
        position = parser.CurrentByteIndex
        if action == b"":
            splice.hold(position)
            dropping.append((depth, position))
            return
        what, data = action
        if what == "before":
            splice.replace(position, position, data)
            return
        end = splice.tag_end(position)
        tag = splice.at(position, end)
        if what == "start":
            splice.replace(position, end, data(tag))
        elif what == "end":
            empty = tag.endswith(b"/>")
            if empty:
                splice.replace(position, end, set_attributes(tag, {}, empty=False))
            at_end[depth] = (data, empty)

    def end(name):
        nonlocal depth
        if dropping:
            if dropping[-1][0] == depth:
                _depth, begin = dropping.pop()
                stop = _element_end(splice, begin, parser.CurrentByteIndex)
                splice.release()
                splice.replace(begin, stop)
        elif depth in at_end:
            data, close = at_end.pop(depth)
            if close:
                namespace, _space, local = name.rpartition(" ")
                data += f"</{scope.prefix(namespace) or ''}{local}>".encode()
            position = parser.CurrentByteIndex
            splice.replace(position, position, data)
        depth -= 1

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    run_parser(parser, chunks, part, splice)
    splice.finish()
    buffered.close()


def rewrite_workbook(package: Package, out, *, new_sheet: tuple[str, int, str] | None = None,
                     filter_database: tuple[int, str] | None = None) -> None:
    """workbook.xml with a sheet added at the end of <sheets> (name, sheetId, relationship id) and/or the
    hidden name _xlnm._FilterDatabase of one sheet (its index, its range as a formula) set, as Excel keeps it
    beside a sheet's filter. Every other byte as it was."""
    main = package.main_namespace
    rel_namespace = package.rel_namespace
    children = package.workbook_children
    later = WORKBOOK_ORDER[WORKBOOK_ORDER.index("definedNames") + 1:]
    state = {"names_placed": "definedNames" in children}

    def defined_name(p: str) -> bytes:
        index, formula = filter_database
        return (f'<{p}definedName name="_xlnm._FilterDatabase" localSheetId="{index}" hidden="1">'
                f"{escape(formula)}</{p}definedName>").encode()

    def decide(element, attrs, depth, scope):
        namespace, _space, local = element.rpartition(" ")
        p = scope.prefix(main) or ""
        if depth == 1 and filter_database and not state["names_placed"] \
                and not any(name in later for name in children):
            state["names_placed"] = True
            return "end", f"<{p}definedNames>".encode() + defined_name(p) + f"</{p}definedNames>".encode()
        if depth == 2 and namespace == main:
            if local == "sheets" and new_sheet is not None:
                name, sheet_id, rel_id = new_sheet
                r = scope.prefix(rel_namespace)
                declared = ""
                if r is None:
                    r, declared = "gr:", f' xmlns:gr="{rel_namespace}"'
                return "end", (f'<{p}sheet name="{escape_attribute(name)}" sheetId="{sheet_id}"{declared} '
                               f'{r}id="{rel_id}"/>').encode()
            if local == "definedNames" and filter_database:
                return "end", defined_name(p)
            if local in later and filter_database and not state["names_placed"]:
                state["names_placed"] = True
                return "before", f"<{p}definedNames>".encode() + defined_name(p) + f"</{p}definedNames>".encode()
        if depth == 3 and filter_database and local == "definedName" and namespace == main \
                and attrs.get("name") == "_xlnm._FilterDatabase" \
                and _int(attrs.get("localSheetId"), -1) == filter_database[0]:
            return b""
        return None

    rewrite_elements(package.chunks(package.workbook_part), out, package.workbook_part, decide)


def add_to_list(package: Package, part: str, out, entry: str) -> None:
    """A package list (relationships, content types) with one entry added before its end."""

    def decide(element, attrs, depth, scope):
        if depth == 1:
            namespace = element.rpartition(" ")[0]
            p = scope.prefix(namespace) or ""
            return "end", entry.replace("<", f"<{p}", 1).encode()
        return None

    rewrite_elements(package.chunks(part), out, part, decide)


def without_calc_cells(chunks: Iterable[bytes], out, part: str, sheet_id: str, refs: set[str]) -> int:
    """calcChain.xml without the entries of the given cells of one sheet; returns how many entries are left.

    An entry's sheet id (``i``) defaults to the one before it, so a dropped entry that carried one passes
    it on to the next kept entry."""
    state = {"current": "", "carry": None, "kept": 0}

    def decide(name, attrs, depth, scope):
        if depth != 2 or not name.endswith(" c"):
            return None
        has_id = "i" in attrs
        state["current"] = attrs.get("i", state["current"])
        if state["current"] == sheet_id and attrs.get("r", "").replace("$", "") in refs:
            if has_id:
                state["carry"] = state["current"]
            return b""
        state["kept"] += 1
        carry, state["carry"] = state["carry"], None
        if carry is not None and not has_id:
            return "start", lambda tag: set_attributes(tag, {"i": carry})
        return None

    rewrite_elements(chunks, out, part, decide)
    return state["kept"]


def copy_part(source: zipfile.ZipFile, info: zipfile.ZipInfo, out: zipfile.ZipFile, data: bytes | None = None,
              writer: Callable | None = None) -> None:
    """One part into the new package: the same name, date and compression; its bytes as given, written by
    ``writer(out_stream)``, or copied as a stream."""
    target = zipfile.ZipInfo(info.filename, info.date_time)
    target.compress_type = info.compress_type
    target.external_attr = info.external_attr
    target.create_system = info.create_system
    if data is not None:
        out.writestr(target, data)
        return
    with out.open(target, "w", force_zip64=info.file_size > (1 << 30)) as sink:
        if writer is not None:
            writer(sink)
        else:
            with source.open(info) as stream:
                shutil.copyfileobj(stream, sink, CHUNK)

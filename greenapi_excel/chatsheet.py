"""The file side of Load chats: the chat list written into a sheet of a book on disk, losing nothing.

The rows come from ``chatlist`` (the same content the add-in writes) and so does the look
(``chatlist.look``: bold header, widths, real dates, "over N" idle days, the frozen header, filter buttons,
the highlights); this module renders them through the streaming writer of ``bookxml``. A sheet Load chats
made before (or an empty one) is refreshed in place: the same chat stays on its row, new chats go below,
gone ones are marked in Archived, and the analyst's own columns, filter and formats stay. Otherwise a new
worksheet part is added, with its relationship, content type and workbook entry. Every other part of the
book (pictures, charts, shapes, slicers, sparklines, VBA, ribbon, Excel 2010+ extras) is copied byte for
byte. A missing book is made (a book of our own). Saves are atomic (temp file, fsync, ``os.replace``).
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from datetime import datetime
from pathlib import Path

from greenapi_excel import bookxml, chatlist, sheets
from greenapi_excel.errors import ConfigError, WorkbookError
from greenapi_excel.i18n import _
from greenapi_excel.results import cell_text

MACRO_SUFFIXES = (".xlsm", ".xltm")
# Our own conditional formats from an earlier load, recognised by their ranges and replaced, not piled up.
_OURS = re.compile(r"^(A2:G|D2:D|G2:G)\d+$")
_SHEET_NAME_FORBIDDEN = set("[]:*?/\\")


def write(path, rows, days: int, *, sheet: str | None = None) -> tuple[str, chatlist.Refresh]:
    """Load ``rows`` into ``sheet`` of the book at ``path`` (made when missing); returns (sheet name, refresh).

    The sheet is chatlist.choose_sheet's (Chats / Чаты, else Chat list, or ``sheet``). WorkbookError (a
    clear line) for a book that cannot be read or written; the book is then unchanged."""
    path = Path(path)
    sheets._refuse_unless_book(path)
    if path.exists():
        sheets.check_book(path)
        data = sheets.original_copy(path)
    else:
        sheets._refuse_if_open(path)
        sheets._refuse_unless_writable(path)
        data = new_book(macro=path.suffix.lower() in MACRO_SUFFIXES)
    package = sheets.open_package(path, data)
    try:
        load = _Load(package, rows, days, sheet)
    except bookxml.PartProblem as problem:
        raise sheets.damaged(path.name, problem) from None
    except ConfigError as error:
        raise WorkbookError(f"{path.name}: {error}") from None
    sheets.replace_atomically(path, load.write)
    return load.name, load.laid


class _Read:
    """What a sheet holds where the chat list goes: its first row, whether anything lies below it, and
    the chat ID of each row."""

    def __init__(self, package: bookxml.Package, entry: bookxml.SheetEntry, values: "sheets._Values"):
        self.entry = entry
        self.scan = bookxml.SheetScan(package.chunks(entry.part), entry.part)
        header: dict[int, tuple] = {}
        ids: dict[int, tuple] = {}
        width = len(chatlist.HEADERS)

        def wanted(first: dict[int, tuple]) -> set[int]:
            header.update(first)
            return {1}

        self.scan.run(wanted=wanted, take=lambda row, column, raw: ids.__setitem__(row, raw))
        strings = values.strings.fetch({raw[1] for raw in (*header.values(), *ids.values()) if raw[0] == "s"})
        self.first_row = [values.shown(header[c], strings) if c in header else None for c in range(1, width + 1)]
        self.below = self.scan.last_data_row > 1
        self.ids = [(row, values.shown(raw, strings)) for row, raw in sorted(ids.items())]


class _Load:
    """One Load chats into one book: the sheet chosen, the rows laid, and how the package is written."""

    def __init__(self, package: bookxml.Package, rows, days: int, wanted: str | None):
        self.package = package
        self.styles = bookxml.Styles(package)
        values = sheets._Values(package, self.styles)
        reads: dict[str, _Read] = {}
        entries = {entry.name: entry for entry in package.sheets}

        def look(name: str):
            entry = entries.get(name)
            if entry is None:   # a chart sheet or another kind by that name: never ours to write
                return ["\0"], True
            reads[name] = _Read(package, entry, values)
            return reads[name].first_row, reads[name].below

        names = list(package.sheet_names)
        choice = chatlist.choose_sheet(names, look, wanted)
        self.name = choice.name
        self.read = None if choice.new else reads[choice.name]
        if choice.new:
            _check_sheet_name(self.name, names)
        existing = [(row, [chat_id]) for row, chat_id in self.read.ids] if self.read else []
        self.laid = chatlist.refresh(existing, rows)
        self.window = chatlist.window_of(rows, days)
        self.look = chatlist.look(self.window)
        self.epoch = bookxml.excel_epoch(package.date1904)
        self.additions = bookxml.StyleAdditions(self.styles) if self.styles.part else None
        self._decide_styles()
        self.last = max(self.laid.last_row, self.read.scan.last_row if self.read else 0, 2)

    # -- styles --

    def _decide_styles(self) -> None:
        additions, look = self.additions, self.look
        self.bold = self.date = self.idle = self.gone = self.archived = None
        if additions is None:
            return
        self.bold = additions.cell_format(0, font=additions.bold_font()) if look.header_bold else None
        self.date = additions.cell_format(0, number_format=additions.number_format(look.date_format))
        self.idle = additions.cell_format(0, number_format=additions.number_format(look.idle_format))
        highlights = [h for h in look.highlights if h.kind != "scale"]
        main = self.styles.package.main_namespace
        self.differentials = [additions.differential(_differential(h.look, main)) for h in highlights]

    # -- the sheet --

    def _cell(self, column: int, value) -> tuple:
        if isinstance(value, datetime):
            return "n", bookxml.serial(value, self.epoch), self.date
        if isinstance(value, bool):
            return "t", chatlist.YES if value else chatlist.NO, None
        if isinstance(value, (int, float)):
            return "n", value, self.idle if column == self.look.idle_column else None
        if value is None:
            return "", None, None
        return "t", cell_text(value, 300), None      # text, never a formula, nothing XML forbids

    def _rows(self):
        yield 1, {column: ("t", cell_text(header, 100), self.bold)
                  for column, header in enumerate(chatlist.headers(), start=1)}
        for row, values in sorted(self.laid.cells.items()):
            if row in self.laid.gone_rows:   # the sheet's own values stay; only Archived says "gone"
                yield row, {chatlist.ARCHIVED_COLUMN: ("t", chatlist.GONE, None)}
            else:
                yield row, {column: self._cell(column, value) for column, value in enumerate(values, start=1)}

    def _edit(self) -> bookxml.SheetEdit:
        scan = self.read.scan if self.read else None
        top = bookxml.TopLevelEdit()
        width = len(chatlist.HEADERS)
        last = self.last
        present = set(scan.top_level) if scan else set()
        if self.look.freeze_header and "sheetViews" not in present:   # a sheet's own views stay as they are
            top.insert["sheetViews"] = lambda p: (f'<{p}sheetViews><{p}sheetView workbookViewId="0">'
                                                  + _PANE.format(p=p) + f"</{p}sheetView></{p}sheetViews>").encode()
        if self.look.autofilter:
            ref = bookxml.box_ref(1, 1, last, width)
            if "autoFilter" in present:
                top.replace["autoFilter"] = lambda raw, p: _widened_filter(raw, last, width)
            else:
                top.insert["autoFilter"] = lambda p: f'<{p}autoFilter ref="{ref}"/>'.encode()
        top.replace["conditionalFormatting"] = lambda raw, p: None if _ours(raw) else raw
        priority = scan.priority if scan else 0
        top.insert["conditionalFormatting"] = lambda p: self._highlights(p, last, priority)
        return bookxml.SheetEdit(self._rows(), 1, width, last, column_styles=scan.column_styles() if scan else
                                 bookxml.ColumnStyles([]), top=top, widths=dict(enumerate(self.look.widths, start=1)),
                                 row_map=scan.rows if scan else None)

    def _highlights(self, p: str, last: int, priority: int) -> bytes:
        out = []
        differentials = iter(self.differentials if self.additions else ())
        for highlight in self.look.highlights:
            priority += 1
            sqref = bookxml.box_ref(2, highlight.first, max(last, 2), highlight.last)
            stop = ' stopIfTrue="1"' if highlight.stop else ""
            if highlight.kind == "scale":
                values = "".join(f'<{p}cfvo type="num" val="{v:g}"/>' for v in highlight.thresholds)
                colours = "".join(f'<{p}color rgb="{_argb(c)}"/>' for c in highlight.colours)
                rule = (f'<{p}cfRule type="colorScale" priority="{priority}"{stop}><{p}colorScale>{values}{colours}'
                        f"</{p}colorScale></{p}cfRule>")
            else:
                dxf = next(differentials, None)
                if dxf is None:
                    continue
                if highlight.kind == "formula":
                    rule = (f'<{p}cfRule type="expression" dxfId="{dxf}" priority="{priority}"{stop}>'
                            f"<{p}formula>{bookxml.escape(highlight.formula)}</{p}formula></{p}cfRule>")
                else:
                    rule = (f'<{p}cfRule type="cellIs" dxfId="{dxf}" priority="{priority}" operator="equal"{stop}>'
                            f"<{p}formula>{bookxml.escape(highlight.value)}</{p}formula></{p}cfRule>")
            out.append(f'<{p}conditionalFormatting sqref="{sqref}">{rule}</{p}conditionalFormatting>')
        return "".join(out).encode()

    # -- the package --

    def write(self, stream) -> None:
        package = self.package
        original = package.zip
        writers: dict[str, object] = {}
        edit = self._edit()
        width = len(chatlist.HEADERS)
        formula = f"{_quoted(self.name)}!$A$1:${bookxml.column_name(width)}${self.last}"
        new_part = None
        if self.read is None:
            new_part, rel_id, index = self._new_part()
            sheet_id = max([0, *package.sheet_ids]) + 1
            folder, name = posixpath.split(package.workbook_part)
            rels = package.part(posixpath.join(folder, "_rels", name + ".rels"))
            target = posixpath.relpath(new_part, folder or ".")
            writers[package.workbook_part] = lambda sink: bookxml.rewrite_workbook(
                package, sink, new_sheet=(self.name, sheet_id, rel_id),
                filter_database=(index, formula) if self.look.autofilter else None)
            relationship = (f'<Relationship Id="{rel_id}" Type="{package.worksheet_type()}" '
                            f'Target="{bookxml.escape_attribute(target)}"/>')
            writers[rels] = lambda sink: bookxml.add_to_list(package, rels, sink, relationship)
            types = package.part("[Content_Types].xml")
            override = (f'<Override PartName="/{bookxml.escape_attribute(new_part)}" '
                        f'ContentType="{bookxml.WORKSHEET_CONTENT_TYPE}"/>')
            writers[types] = lambda sink: bookxml.add_to_list(package, types, sink, override)
        else:
            entry = self.read.entry
            writers[entry.part] = lambda sink: bookxml.SheetWriter(edit).write(package.chunks(entry.part), sink,
                                                                               entry.part)
            if self.look.autofilter and package.filter_names.get(entry.index) != formula:
                writers[package.workbook_part] = lambda sink: bookxml.rewrite_workbook(
                    package, sink, filter_database=(entry.index, formula))
        if self.additions is not None and self.additions.changed:
            styles_part = self.styles.part
            writers[styles_part] = lambda sink: self.additions.write(package.chunks(styles_part), sink)
        archive = zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        try:
            for info in original.infolist():
                bookxml.copy_part(original, info, archive, writer=writers.get(info.filename))
            if new_part is not None:
                template = _SHEET.format(main=package.main_namespace, rel=package.rel_namespace).encode()
                sink = io.BytesIO()
                bookxml.SheetWriter(edit).write([template], sink, new_part)
                info = zipfile.ZipInfo(new_part, original.infolist()[0].date_time)
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, sink.getvalue())
            archive.close()
        except BaseException as error:
            archive.fp = None  # the temp file is discarded anyway
            error.__context__ = None
            raise error.with_traceback(None)

    def _new_part(self) -> tuple[str, str, int]:
        """A free worksheet part name beside the workbook's, a free relationship id, the new sheet's index."""
        package = self.package
        folder = posixpath.dirname(package.workbook_part)
        number = len(package.sheet_names) + 1
        while True:
            part = posixpath.join(folder, "worksheets", f"sheet{number}.xml")
            if package.part(part) is None:
                break
            number += 1
        ids = set(package.workbook_rels)
        number = len(ids) + 1
        while f"rId{number}" in ids:
            number += 1
        return part, f"rId{number}", package.sheet_count


_SHEET = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
          '<worksheet xmlns="{main}" xmlns:r="{rel}"><dimension ref="A1"/><sheetFormatPr defaultRowHeight="15"/>'
          '<sheetData/><pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
          '</worksheet>')
_PANE = '<{p}pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>' \
        '<{p}selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'


def _check_sheet_name(name: str, names) -> None:
    """Excel's rules for a sheet's name (the --sheet given), and no second sheet by that name."""
    if (not name or len(name) > 31 or _SHEET_NAME_FORBIDDEN & set(name) or name.startswith("'")
            or name.endswith("'") or cell_text(name, 31) != name):
        raise ConfigError(_("{sheet!r} cannot name a sheet: Excel takes 1 to 31 characters, none of [ ] : * ? / \\ "
                            "and no apostrophe at either end").format(sheet=name))
    if name.casefold() in {n.casefold() for n in names}:
        raise ConfigError(_("the book already has a sheet named {sheet!r} that is not a worksheet").format(sheet=name))


def _quoted(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def _argb(colour: str) -> str:
    return "FF" + colour.lstrip("#").upper()


def _differential(look: chatlist.CellLook, main: str) -> tuple:
    """The dxf (differential format) for a highlight's look."""
    element = bookxml.element
    font = []
    if look.italic:
        font.append(element("i", namespace=main))
    if look.strike:
        font.append(element("strike", namespace=main))
    if look.font:
        font.append(element("color", {"rgb": _argb(look.font)}, namespace=main))
    children = [element("font", children=font, namespace=main)] if font else []
    if look.fill:
        fill = element("patternFill", {"patternType": "solid"},
                       [element("bgColor", {"rgb": _argb(look.fill)}, namespace=main)], namespace=main)
        children.append(element("fill", children=[fill], namespace=main))
    return element("dxf", children=children, namespace=main)


def _ours(raw: bytes) -> bool:
    sqref = bookxml.tag_attributes(bookxml.first_tag(raw)).get("sqref", "")
    return bool(_OURS.match(sqref.strip()))


def _widened_filter(raw: bytes, last: int, width: int) -> bytes:
    """The sheet's own filter (its criteria kept) over at least A1:G{last}."""
    tag = bookxml.first_tag(raw)
    box = bookxml.parse_ref(bookxml.tag_attributes(tag).get("ref", ""))
    top, left, bottom, right = box if box else (1, 1, last, width)
    ref = bookxml.box_ref(min(top, 1), min(left, 1), max(bottom, last), max(right, width))
    return bookxml.set_attributes(tag, {"ref": ref}) + raw[len(tag):]


# --- a book of our own --------------------------------------------------------------------------------

def new_book(*, macro: bool = False) -> bytes:
    """A book with no sheet yet (Load chats adds its own): the parts Excel needs, nothing else."""
    main_type = ("application/vnd.ms-excel.sheet.macroEnabled.main+xml" if macro else
                 "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml")
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{main_type}"/>'
            '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>'),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{bookxml.REL}/officeDocument" Target="xl/workbook.xml"/>'
            '</Relationships>'),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<workbook xmlns="{bookxml.MAIN}" xmlns:r="{bookxml.REL}"><bookViews><workbookView/></bookViews>'
            '<sheets/></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{bookxml.REL}/styles" Target="styles.xml"/></Relationships>'),
        "xl/styles.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<styleSheet xmlns="{bookxml.MAIN}"><fonts count="1"><font><sz val="11"/><name val="Calibri"/>'
            '<family val="2"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/>'
            '<top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" '
            'fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" '
            'borderId="0" xfId="0"/></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" '
            'builtinId="0"/></cellStyles></styleSheet>'),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), text.encode(), zipfile.ZIP_DEFLATED)
    return out.getvalue()

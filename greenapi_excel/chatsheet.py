"""The file side of Load chats: the chat list written into a sheet of a book on disk (openpyxl).

The rows come from ``chatlist`` (the same content the add-in writes); this module only lays them out:
header, frozen first row, autofilter, widths, real Excel dates, conditional formatting for Archived and
Idle days. A sheet loaded before is refreshed in place (``chatlist.refresh``). The book is saved
atomically (temp file, fsync, ``os.replace``); an .xlsm keeps its VBA and ribbon.

openpyxl rewrites the whole book, so in an analyst's existing book it drops what it does not read:
images, charts, shapes and form controls, slicers, sparklines and Excel 2010+ extensions of conditional
formats and data validation. The README says so.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from greenapi_excel import chatlist
from greenapi_excel.errors import WorkbookError
from greenapi_excel.results import cell_text

MACRO_SUFFIXES = (".xlsm", ".xltm")
GREY = "FFD9D9D9"
GONE_FILL = "FFF2F2F2"
# Our own conditional formats, recognised on a refresh so that they are replaced, not piled up.
_OURS = re.compile(r"^(A2:G|D2:D|G2:G)\d+$")


def write(path, rows, days: int, *, sheet: str | None = None) -> tuple[str, chatlist.Refresh]:
    """Load ``rows`` into ``sheet`` of the book at ``path`` (made when missing); returns (sheet name, refresh)."""
    from greenapi_excel import sheets

    path = Path(path)
    sheets._refuse_unless_book(path)
    source = None
    if path.exists():
        sheets._refuse_unless_readable(path)
        source = path.read_bytes()
    sheets._refuse_if_open_in_excel(path)
    sheets._refuse_unless_writable(path)
    workbook = _load(path, source)
    worksheet = _choose_sheet(workbook, sheet, path.name)
    existing = [(r, [worksheet.cell(r, c).value for c in range(1, len(chatlist.HEADERS) + 1)])
                for r in range(2, worksheet.max_row + 1)]
    laid = chatlist.refresh(existing, rows)
    _lay_out(worksheet, laid, chatlist.window_of(rows, days))
    _save(workbook, path, source)
    return worksheet.title, laid


def _load(path: Path, source: bytes | None):
    import openpyxl

    if source is None:
        workbook = openpyxl.Workbook()
        workbook.remove(workbook.active)
        return workbook
    macro = path.suffix.lower() in MACRO_SUFFIXES
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(source), keep_vba=macro, keep_links=True)
    except Exception as error:  # openpyxl raises many kinds on a damaged package
        raise WorkbookError(f"cannot read {path.name}: {type(error).__name__}: {cell_text(error, 160)}") from None
    return workbook


def _loadable(worksheet) -> bool:
    """A sheet Load chats may write: one it loaded before, or one with nothing below its first row."""
    first = [worksheet.cell(1, c).value for c in range(1, len(chatlist.HEADERS) + 1)]
    if chatlist.is_loaded_header(first):
        return True
    return all(cell.value is None for row in worksheet.iter_rows(min_row=2) for cell in row)


def _choose_sheet(workbook, wanted: str | None, book_name: str):
    names = {ws.title.casefold(): ws for ws in workbook.worksheets}
    candidates = [wanted.strip()] if wanted and wanted.strip() else [chatlist.DEFAULT_SHEET, chatlist.FALLBACK_SHEET]
    for name in candidates:
        worksheet = names.get(name.casefold())
        if worksheet is None:
            return workbook.create_sheet(name)
        if _loadable(worksheet):
            return worksheet
    raise WorkbookError(f"{book_name}: the sheet {candidates[-1]!r} holds a list Load chats did not make; "
                        "give another sheet name (--sheet) so that nothing of yours is overwritten")


def _lay_out(ws, laid: chatlist.Refresh, days: int) -> None:
    from openpyxl.formatting.rule import ColorScaleRule, FormulaRule
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    for column, header in enumerate(chatlist.headers(), start=1):   # in the run's language
        cell = ws.cell(1, column)
        cell.value = header
        cell.font = Font(bold=True)
    idle_format = chatlist.idle_format(days)
    for row, values in laid.cells.items():
        for column, value in enumerate(values, start=1):
            cell = ws.cell(row, column)
            if isinstance(value, str):
                text = cell_text(value, 300)
                cell._value, cell.data_type = (text or None), ("s" if text else "n")  # text, never a formula
            else:
                cell.value = value
            if column in chatlist.DATE_COLUMNS and not isinstance(value, str):
                cell.number_format = chatlist.DATE_FORMAT
            elif column == chatlist.IDLE_COLUMN:
                cell.number_format = idle_format
    last = max(laid.last_row, 2)
    for column, width in enumerate(chatlist.WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(column)].width = width
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(max(ws.max_column, len(chatlist.HEADERS)))}{last}"

    keep = [(rng, rules) for rng, rules in ((str(cf.sqref), cf.rules) for cf in ws.conditional_formatting)
            if not _OURS.match(rng)]
    ws.conditional_formatting = type(ws.conditional_formatting)()
    for rng, rules in keep:
        for rule in rules:
            ws.conditional_formatting.add(rng, rule)
    archived = f"D2:D{last}"
    ws.conditional_formatting.add(f"A2:G{last}", FormulaRule(
        formula=['$D2="gone"'], font=Font(italic=True, strike=True, color="FF808080"),
        fill=PatternFill("solid", start_color=GONE_FILL, end_color=GONE_FILL), stopIfTrue=True))
    ws.conditional_formatting.add(archived, FormulaRule(
        formula=['$D2="yes"'], font=Font(color="FF595959"), fill=PatternFill("solid", start_color=GREY, end_color=GREY)))
    low, mid, high = chatlist.color_scale(days)
    ws.conditional_formatting.add(f"G2:G{last}", ColorScaleRule(
        start_type="num", start_value=low, start_color="FF63BE7B", mid_type="num", mid_value=mid,
        mid_color="FFFFEB84", end_type="num", end_value=high, end_color="FFF8696B"))


def _save(workbook, path: Path, source: bytes | None) -> None:
    from greenapi_excel import sheets

    buffer = io.BytesIO()
    try:
        workbook.save(buffer)
    except Exception as error:
        raise WorkbookError(f"cannot write {path.name}: {type(error).__name__}: {cell_text(error, 160)}") from None
    data = buffer.getvalue()
    if source is not None and path.suffix.lower() in MACRO_SUFFIXES:
        data = restore_ribbon(data, source)
    sheets.replace_atomically(path, lambda stream: stream.write(data))


# --- the ribbon of an .xlsm ------------------------------------------------------------------------
# openpyxl drops the ribbon parts of a book it saves; this file side (the Chats sheet, loaded with
# openpyxl) puts them back. The analyst's result cells are written by sheets.py, which touches no ribbon.

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

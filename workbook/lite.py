"""Builds GreenApi-Lite.xlsx: the workbook of the xlwings Lite edition (`greenapi-excel workbook PATH --lite`).

An .xlsx with no VBA. What goes in:
- the Chats and Settings sheets of ``sheets.json`` (the xlwings.conf sheet is a desktop thing), with a how-to
  and a token row for Lite, in the build's language;
- on the Chats sheet, one button per script: a rounded rectangle named ``btn<Script>`` in a drawing part,
  whose hyperlink selects the cell under it (``#Chats!F2``); main.py's ``@script(button="[btn...]Chats!F2")``
  names the same shape and cell, which is how xlwings Lite ties a shape to a script (a public Lite workbook
  does it the same way, docs/LITE.md);
- the web-extension part xlwings Lite keeps its code in (``xl/webextensions/webextension1.xml``, its task
  pane ``taskpanes.xml`` and their relationships and content types): the store add-in ``wa200008175``
  (``storeType="OMEX"``) and the properties ``main.py``, ``requirements.txt``, ``pyodideVersion`` and
  ``addinVersion``, each value a JSON string, XML-escaped into the attribute, as Lite writes them;
- main.py is ``lite_main.py`` with the engine appended: the installed ``greenapi_excel`` package (its
  modules and compiled catalogues, not ``greenapi_excel.workbook``) as a zip, base64-encoded, which main.py
  unpacks on first use. This project is not on PyPI, so the book carries it; requirements.txt names only
  what PyPI has (xlwings and phonenumbers, at this package's own pins).

The output is deterministic: a rebuild from the same sources gives the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import greenapi_excel
from greenapi_excel import provenance
from greenapi_excel.errors import WorkbookError
from greenapi_excel.i18n import LANGUAGES, N_
from greenapi_excel.lite import journal as book_journal
from greenapi_excel.lite.book import STOP_LABEL_CELL

from greenapi_excel.workbook.build import (
    SHEETS_JSON, XLSX_MAIN_TYPE, _checked_language, _in_language, _insert_before, _localised, sheets_package,
    zip_bytes)

HERE = Path(__file__).resolve().parent
MAIN_TEMPLATE = HERE / "lite_main.py"
DEFAULT_LITE_OUT = Path("GreenApi-Lite.xlsx")

STORE_ADDIN_ID = "wa200008175"       # xlwings Lite in the Office add-in store
STORE_TYPE = "OMEX"
# What public Lite workbooks carry; an assumption that Lite rewrites both when it saves the book.
PYODIDE_VERSION = "0.27.5"
ADDIN_VERSION = "1.0.0.0-35"
WEBEXTENSION_ID = provenance.LITE_WEBEXTENSION_ID   # this book's add-in instance: ours, fixed

WE_NS = "http://schemas.microsoft.com/office/webextensions/webextension/2010/11"
WETP_NS = "http://schemas.microsoft.com/office/webextensions/taskpanes/2010/11"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
WEBEXTENSION_PART = "xl/webextensions/webextension1.xml"
TASKPANES_PART = "xl/webextensions/taskpanes.xml"
TASKPANES_RELS = "xl/webextensions/_rels/taskpanes.xml.rels"
DRAWING_PART = "xl/drawings/drawing1.xml"
DRAWING_RELS = "xl/drawings/_rels/drawing1.xml.rels"
TASKPANES_REL_TYPE = "http://schemas.microsoft.com/office/2011/relationships/webextensiontaskpanes"
WEBEXTENSION_REL_TYPE = "http://schemas.microsoft.com/office/2011/relationships/webextension"
DRAWING_REL_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/drawing"
HYPERLINK_REL_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink"
WEBEXTENSION_TYPE = "application/vnd.ms-office.webextension+xml"
TASKPANES_TYPE = "application/vnd.ms-office.webextensiontaskpanes+xml"
DRAWING_TYPE = "application/vnd.openxmlformats-officedocument.drawing+xml"

# The scripts of lite_main.py, in button order: (shape, script, label). The labels are the ribbon's.
BUTTONS = (
    ("btnCheckConnection", "check_connection", N_("Check connection")),
    ("btnLoadChats", "load_chats", N_("Load chats")),
    ("btnDryRun", "dry_run", N_("Dry run")),
    ("btnArchiveChats", "archive_chats", N_("Archive chats")),
    ("btnUnarchiveChats", "unarchive_chats", N_("Unarchive chats")),
    ("btnVerify", "verify", N_("Verify")),
    ("btnUndoLastRun", "undo_last_run", N_("Undo last run")),
    ("btnStopRun", "stop_run", N_("Stop")),
)
BUTTON_COLUMN = "F"      # the buttons sit on F2, F3, ...: each one's hyperlink selects the cell under it
FIRST_BUTTON_ROW = 2
HOW_TO_COLUMN = "G"
ROW_HEIGHT_PT = 24

HOW_TO = (
    N_("How to"),
    N_("1. Install xlwings Lite once: Excel's Home tab > Add-ins, search for xlwings Lite, Add. Nothing else to "
       "install: it runs in Excel on Windows, on a Mac and on the web."),
    N_("2. Settings sheet: fill in apiUrl and idInstance and, for numbers without a country code, region."),
    N_("3. The token: xlwings Lite menu > Environment Variables: Name GREENAPI_API_TOKEN_INSTANCE, Value your "
       "apiTokenInstance, Scope Local; Save, then Restart. It stays in this computer's Excel, never in this book."),
    N_("4. Paste chat IDs or phone numbers into column A, below the Chat ID header (replace the examples)."),
    N_("5. Press Check connection first (when it says a setting is off, a second press within a minute switches it "
       "on). Dry run shows what would happen; Archive chats and Unarchive chats do it and fill Status, Details and "
       "Updated; the progress shows under the buttons."),
    N_("6. Stop ends a run within a second or two (rows not reached say Not run); so does typing anything into the "
       "stop cell under the buttons. Run again at any time: rows already done are skipped."),
    N_("7. Undo last run: the first press says what it would take back, a second press within a minute does it."),
    N_("8. Verify checks the rows that say Archived or Unarchived against GREEN-API's chat list: a row that no longer "
       "holds says Not archived (Not unarchived), and a second press within a minute sends those chats again."),
    N_("In a cell: =ARCHIVECHAT(A2) archives one chat, =ARCHIVECHAT(A2:A5) a column; =CHATSTATUS(A2) only reads. "
       "They use the Settings sheet as the last button read it: press Check connection once after opening."),
    N_("The journal of calls and runs is in this book (a hidden sheet): save the book to keep it. A book closed "
       "without saving forgets what it did since its last save."),
)
STOP_LABEL = N_("To stop a run, type anything in the cell below (or press Stop):")
TOKEN_LABEL = N_("Token (xlwings Lite: Environment Variables)")
TOKEN_NOTE = N_("Leave empty. Set GREENAPI_API_TOKEN_INSTANCE in xlwings Lite's Environment Variables, Scope "
                "Local: the apiTokenInstance is never kept in this workbook.")
LANGUAGE_NOTE = N_("en or ru: the language of the messages, alerts and the statuses written into cells. The sheets "
                   "and buttons keep the language the book was built in (greenapi-excel workbook PATH --lite "
                   "--lang ru).")

# Where sheets.json's desktop rows are replaced (found by their English text, so a change there is noticed).
DESKTOP_TOKEN_LABEL = "Token (moved to the keychain by the Settings button)"
DESKTOP_LANGUAGE_LABEL = "Language"


# --- the engine main.py carries --------------------------------------------------------------------

def engine_files() -> list[tuple[str, bytes]]:
    """(path in the zip, bytes) of the installed greenapi_excel package: its modules and compiled catalogues,
    sorted; not greenapi_excel.workbook (it builds books, Lite runs them). WorkbookError when a language's
    .mo is missing (an install compiles it; in a checkout, ./run does)."""
    package = Path(greenapi_excel.__file__).resolve().parent
    files = []
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(package.parent)
        if path.is_dir() or "__pycache__" in relative.parts or relative.parts[1:2] == ("workbook",):
            continue
        if path.suffix == ".py" or path.suffix == ".mo":
            files.append((relative.as_posix(), path.read_bytes()))
    names = {name for name, _ in files}
    for language in LANGUAGES[1:]:
        if f"greenapi_excel/locale/{language}/LC_MESSAGES/greenapi_excel.mo" not in names:
            raise WorkbookError(f"the {language} catalogue is not compiled (greenapi_excel.mo): reinstall the package")
    return files


def engine_zip() -> bytes:
    return zip_bytes(engine_files())


def main_py(language: str) -> str:
    """lite_main.py for a book in ``language``: its sheet names, language and the engine filled in."""
    data = engine_zip()
    encoded = base64.b64encode(data).decode("ascii")
    lines = ",\n".join(f'    "{encoded[i:i + 100]}"' for i in range(0, len(encoded), 100))
    text = MAIN_TEMPLATE.read_text(encoding="utf-8")
    for marker, value in (("@LANGUAGE@", language), ("@ENGINE_VERSION@", engine_version()),
                          ("@CHATS@", chats_sheet_name(language)),
                          ("@ENGINE_SHA256@", hashlib.sha256(data).hexdigest())):
        if marker not in text:
            raise WorkbookError(f"lite_main.py has no {marker}")
        text = text.replace(marker, value)
    return text.replace('"@ENGINE@"', f"(\n{lines},\n)")


def engine_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("greenapi-excel")
    except PackageNotFoundError:
        return "0+unknown"


def requirements_txt() -> str:
    """What Lite installs from PyPI: xlwings and phonenumbers at this package's own pins."""
    from importlib.metadata import requires

    wanted = {}
    for requirement in requires("greenapi-excel") or []:
        found = re.match(r"^(xlwings|phonenumbers)\s*([^;]*)", requirement)
        if found:
            wanted[found.group(1)] = found.group(2).replace(" ", "")
    if set(wanted) != {"xlwings", "phonenumbers"}:
        raise WorkbookError("the package's metadata names no xlwings or phonenumbers requirement")
    return (f"xlwings{wanted['xlwings']}\n"
            f"phonenumbers{wanted['phonenumbers']}  # the engine reads phone numbers with it\n")


# --- the parts ---------------------------------------------------------------------------------------

def chats_sheet_name(language: str) -> str:
    return _in_language(language, "Chats")


def lite_sheet_contents(language: str) -> dict:
    """sheets.json's Chats and Settings in ``language``, with Lite's how-to, token row and language note."""
    source = json.loads(SHEETS_JSON.read_text(encoding="utf-8"))
    chats, settings = (next(s for s in source["sheets"] if s["name"] == {"text": name}) for name in ("Chats", "Settings"))
    chats["blocks"] = [block for block in chats["blocks"] if block["at"] == "A1"]
    chats["blocks"].append({"at": f"{HOW_TO_COLUMN}1", "bold_first_row": True,
                            "rows": [[{"text": line}] for line in HOW_TO]})
    chats["blocks"].append({"at": STOP_LABEL_CELL, "rows": [[{"text": STOP_LABEL}]]})
    chats["column_widths"] = {**chats["column_widths"], BUTTON_COLUMN: 24, HOW_TO_COLUMN: 110}
    chats["row_heights"] = {FIRST_BUTTON_ROW + i: ROW_HEIGHT_PT for i in range(len(BUTTONS))}
    rows = settings["blocks"][0]["rows"]
    labels = [row[0] for row in rows]
    for label, replacement in ((DESKTOP_TOKEN_LABEL, [{"text": TOKEN_LABEL}, None, {"text": TOKEN_NOTE}]),
                               (DESKTOP_LANGUAGE_LABEL, None)):
        if {"text": label} not in labels:
            raise WorkbookError(f"sheets.json's Settings sheet has no {label!r} row")
        index = labels.index({"text": label})
        if replacement is None:
            rows[index] = [rows[index][0], rows[index][1], {"text": LANGUAGE_NOTE}]
        else:
            rows[index] = replacement
    journal = {"name": {"text": book_journal.SHEET}, "code_name": "Sheet3", "hidden": True,
               "column_widths": {"A": 80, "B": 80, "C": 60, "D": 40},
               "blocks": [{"at": "A1", "rows": [[{"text": book_journal.TITLE}], list(book_journal.HEADERS)]}]}
    return _localised({"sheets": [chats, settings, journal]}, language)


def drawing_xml(language: str) -> bytes:
    """The Chats sheet's buttons: rounded rectangles named as main.py's button= arguments, each linked to
    the cell under it."""
    emu_per_pt = 12700
    width, height = 24 * 7 * 9525, ROW_HEIGHT_PT * emu_per_pt      # column F: 24 characters of 7 px
    inset = 2 * emu_per_pt
    column = ord(BUTTON_COLUMN) - ord("A")
    anchors = []
    for index, (shape, _script, label) in enumerate(BUTTONS):
        row = FIRST_BUTTON_ROW - 1 + index
        anchors.append(
            f'<xdr:twoCellAnchor editAs="absolute">'
            f'<xdr:from><xdr:col>{column}</xdr:col><xdr:colOff>{inset}</xdr:colOff><xdr:row>{row}</xdr:row>'
            f'<xdr:rowOff>{inset}</xdr:rowOff></xdr:from>'
            f'<xdr:to><xdr:col>{column}</xdr:col><xdr:colOff>{width - inset}</xdr:colOff><xdr:row>{row}</xdr:row>'
            f'<xdr:rowOff>{height - inset}</xdr:rowOff></xdr:to>'
            f'<xdr:sp macro="" textlink=""><xdr:nvSpPr><xdr:cNvPr id="{index + 2}" name="{shape}">'
            f'<a:hlinkClick r:id="rId{index + 1}"/></xdr:cNvPr><xdr:cNvSpPr/></xdr:nvSpPr>'
            f'<xdr:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="{width - 2 * inset}" cy="{height - 2 * inset}"/>'
            f'</a:xfrm><a:prstGeom prst="roundRect"><a:avLst/></a:prstGeom>'
            f'<a:solidFill><a:srgbClr val="{"C0392B" if shape == "btnStopRun" else "1E7B45"}"/></a:solidFill>'
            f'<a:ln><a:noFill/></a:ln></xdr:spPr>'
            f'<xdr:txBody><a:bodyPr vertOverflow="clip" horzOverflow="clip" rtlCol="0" anchor="ctr"/><a:lstStyle/>'
            f'<a:p><a:pPr algn="ctr"/><a:r><a:rPr lang="{language}" sz="1100" b="1"><a:solidFill>'
            f'<a:srgbClr val="FFFFFF"/></a:solidFill></a:rPr><a:t>{escape(_in_language(language, label))}</a:t>'
            f'</a:r></a:p></xdr:txBody></xdr:sp><xdr:clientData/></xdr:twoCellAnchor>')
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<xdr:wsDr xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing" '
            f'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:r="{REL_NS}">'
            + "".join(anchors) + "</xdr:wsDr>").encode("utf-8")


def drawing_rels(language: str) -> bytes:
    sheet = chats_sheet_name(language)
    links = "".join(
        f'<Relationship Id="rId{index + 1}" Type="{HYPERLINK_REL_TYPE}" '
        f'Target="{_attribute(f"#{sheet}!{BUTTON_COLUMN}{FIRST_BUTTON_ROW + index}")}"/>'
        for index in range(len(BUTTONS)))
    return _relationships(links)


def _relationships(inner: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + inner + "</Relationships>").encode("utf-8")


def lite_property(name: str, text: str) -> str:
    """One <we:property>: the value is the text JSON-encoded, then XML-escaped, as Lite stores it."""
    return f'<we:property name="{_attribute(name)}" value="{_attribute(json.dumps(text, ensure_ascii=False))}"/>'


def _attribute(text: str) -> str:
    """Text for a double-quoted XML attribute (quoteattr would switch to single quotes around a JSON string)."""
    return escape(text, {'"': "&quot;"})


def webextension_xml(language: str) -> bytes:
    properties = "".join(lite_property(name, text) for name, text in (
        ("main.py", main_py(language)), ("requirements.txt", requirements_txt()),
        ("pyodideVersion", PYODIDE_VERSION), ("addinVersion", ADDIN_VERSION)))
    # Office's own property: open the task pane (and so Lite) with the book.
    properties += '<we:property name="Office.AutoShowTaskpaneWithDocument" value="true"/>'
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<we:webextension xmlns:we="{WE_NS}" id="{WEBEXTENSION_ID}">'
            f'<we:reference id="{STORE_ADDIN_ID}" version="1.0.0.0" store="en-US" storeType="{STORE_TYPE}"/>'
            f'<we:alternateReferences><we:reference id="{STORE_ADDIN_ID}" version="1.0.0.0" '
            f'store="{STORE_ADDIN_ID.upper()}" storeType="{STORE_TYPE}"/></we:alternateReferences>'
            f"<we:properties>{properties}</we:properties><we:bindings/>"
            f'<we:snapshot xmlns:r="{REL_NS}"/></we:webextension>').encode("utf-8")


def taskpanes_xml() -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<wetp:taskpanes xmlns:wetp="{WETP_NS}"><wetp:taskpane dockstate="right" visibility="1" width="400" '
            f'row="1"><wetp:webextensionref xmlns:r="{REL_NS}" r:id="rId1"/></wetp:taskpane></wetp:taskpanes>'
            ).encode("utf-8")


def lite_parts(parts: dict[str, bytes], language: str) -> list[tuple[str, bytes]]:
    """openpyxl's parts with the buttons' drawing and the web extension added (relationships, content types)."""
    parts = dict(parts)
    types_xml = parts["[Content_Types].xml"].decode("utf-8")
    if types_xml.count(XLSX_MAIN_TYPE) != 1:
        raise WorkbookError("[Content_Types].xml as openpyxl wrote it names no single workbook part")
    overrides = "".join(f'<Override PartName="/{part}" ContentType="{kind}"/>' for part, kind in (
        (DRAWING_PART, DRAWING_TYPE), (TASKPANES_PART, TASKPANES_TYPE), (WEBEXTENSION_PART, WEBEXTENSION_TYPE)))
    parts["[Content_Types].xml"] = _insert_before(types_xml, "</Types>", overrides, "[Content_Types].xml").encode()

    package_rels = parts["_rels/.rels"].decode("utf-8")
    parts["_rels/.rels"] = _insert_before(package_rels, "</Relationships>",
                                          f'<Relationship Id="rIdGreenApiLite" Type="{TASKPANES_REL_TYPE}" '
                                          f'Target="{TASKPANES_PART}"/>', "_rels/.rels").encode("utf-8")

    sheet_part = "xl/worksheets/sheet1.xml"    # Chats, the first sheet
    sheet_xml = parts[sheet_part].decode("utf-8")
    if "<drawing " in sheet_xml or "xl/worksheets/_rels/sheet1.xml.rels" in parts:
        raise WorkbookError("the Chats sheet as openpyxl wrote it already has a drawing or relationships")
    parts[sheet_part] = _insert_before(sheet_xml, "</worksheet>", f'<drawing xmlns:r="{REL_NS}" r:id="rIdButtons"/>',
                                       sheet_part).encode("utf-8")

    added = [
        ("xl/worksheets/_rels/sheet1.xml.rels",
         _relationships(f'<Relationship Id="rIdButtons" Type="{DRAWING_REL_TYPE}" Target="../drawings/drawing1.xml"/>')),
        (DRAWING_PART, drawing_xml(language)),
        (DRAWING_RELS, drawing_rels(language)),
        (TASKPANES_PART, taskpanes_xml()),
        (TASKPANES_RELS, _relationships(f'<Relationship Id="rId1" Type="{WEBEXTENSION_REL_TYPE}" '
                                        f'Target="webextension1.xml"/>')),
        (WEBEXTENSION_PART, webextension_xml(language)),
    ]
    first = ["[Content_Types].xml", "_rels/.rels"]
    return [(name, parts[name]) for name in first] + [(n, d) for n, d in parts.items() if n not in first] + added


def lite_workbook_bytes(language: str = "en") -> bytes:
    language = _checked_language(language)
    contents = lite_sheet_contents(language)
    contents["mark"] = provenance.LITE      # what `workbook --lite` replaces (--force), and only that
    return zip_bytes(lite_parts(sheets_package(contents), language))


def build_lite(out_path: str | os.PathLike, *, language: str = "en") -> Path:
    """Write GreenApi-Lite.xlsx (or ``out_path``) in ``language``; returns the path written."""
    from greenapi_excel.sheets import replace_atomically

    data = lite_workbook_bytes(language)
    return replace_atomically(Path(out_path), lambda stream: stream.write(data))


def read_lite_properties(book: bytes | str | os.PathLike) -> dict[str, str]:
    """The web-extension properties of a Lite workbook, decoded (XML, then JSON): name -> text."""
    from xml.etree import ElementTree

    source = io.BytesIO(book) if isinstance(book, bytes) else book
    with zipfile.ZipFile(source) as archive:
        root = ElementTree.fromstring(archive.read(WEBEXTENSION_PART))
    found = {}
    for prop in root.iter(f"{{{WE_NS}}}property"):
        value = prop.get("value")
        try:
            found[prop.get("name")] = json.loads(value)
        except ValueError:
            found[prop.get("name")] = value
    return found

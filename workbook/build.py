"""Builds GreenApi.xlsm from the text sources in this folder.

    python -m greenapi_excel.workbook.build [OUT]   # writes ./GreenApi.xlsm and ./GreenApi.xlam beside it,
                                                   # with neutral xlwings settings

GreenApi.xlam is the same VBA project and ribbon as an Excel add-in: its own content type, xlwings' module for
custom add-ins (``xlwings_custom_addin.bas``: RunPython names the active workbook, on Windows and Mac) with its
configuration sheet ``greenapi.conf``, and xlwings' add-in form of the UDF wrappers. Loaded at start from XLSTART
by ``greenapi-excel addin install``, its GreenApi tab acts on the active workbook.

This folder is the repo's ``workbook/``; it is installed as the package ``greenapi_excel.workbook``.

What goes in, in order:
- the sheets in ``sheets.json`` (Chats, Settings, xlwings.conf), written by openpyxl; xlwings.conf
  holds only rows that have a value (an empty row would hide xlwings' other config sources);
- the VBA project, written by pyopenvba: xlwings' standalone module ``xlwings.bas`` (the add-in:
  ``xlwings_custom_addin.bas``) and its Mac ``Dictionary.cls``, taken from the installed xlwings (whose
  version requirements pin), the modules in ``vba/``, ``xlwings_udfs``, the wrappers xlwings' own
  generator makes for ``udfs``, and ``FunctionHelp``, generated from the same declarations, which gives
  the functions their help in Insert Function; the ``_VBA_PROJECT`` stream in MS-OVBA's on-write form.
  Nothing runs when the file opens (no auto-exec macro: scanners such as oletools' mraptor rate the file
  "Macro OK"): the ribbon's onLoad callback registers the help;
- the ribbon ``customUI14.xml``;
- the mark ``provenance.MARK_PROPERTY`` (a custom document property), by which the set-up commands
  recognise a file this tool wrote, and the texts the VBA shows, one hidden defined name per line.

The output is deterministic: fixed timestamps, fixed entry order and fixed zip metadata, so a rebuild
gives the committed file byte for byte (tests/test_workbook.py checks it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import io
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import types
import zipfile
from pathlib import Path

from greenapi_excel import provenance
from greenapi_excel.errors import WorkbookError
from greenapi_excel.i18n import N_

HERE = Path(__file__).resolve().parent
VBA_SOURCES = HERE / "vba"
RIBBON_XML = HERE / "customUI14.xml"
SHEETS_JSON = HERE / "sheets.json"
DEFAULT_OUT = Path("GreenApi.xlsm")
ADDIN_SUFFIX = ".xlam"

UDF_PYTHON_MODULE = "udfs"
UDF_VBA_MODULE = "xlwings_udfs"
HELP_VBA_MODULE = "FunctionHelp"
BOOK_NAME = "GreenApi.xlsm"   # the generator only looks at the extension (.xlam or not)
ADDIN_NAME = "GreenApi.xlam"  # its wrappers pass ActiveWorkbook, as xlwings' generator writes them for add-ins
CONF_SHEET = "xlwings.conf"
# xlwings' custom add-in module reads its settings from "<PROJECT_NAME>.conf" (a sheet of the active book,
# then of the add-in, then files of that name): its own name keeps an analyst's xlwings.conf sheet (another
# Python, say) out of the add-in's settings. xlwings ships the module as "myaddin".
ADDIN_PROJECT = "greenapi"
ADDIN_CONF_SHEET = f"{ADDIN_PROJECT}.conf"
SHIPPED_ADDIN_PROJECT = "myaddin"
ADDIN_MODULE = "addin"
FUNCTION_CATEGORY = "GreenApi"
MACRO_OPTIONS_LIMIT = 255     # Excel keeps at most this many characters of a description
TEXT_CONSTANT_LIMIT = 255     # nor of a text constant in a formula (a defined name's value)

# What the ribbon's VBA (vba/RibbonCallbacks.bas, Message) says when Excel cannot run a button: one hidden
# defined name per line, <name>1, <name>2, ..., in the book's language.
VBA_MESSAGES = {
    "GreenApiNoBook": (
        N_("Open a workbook first: the GreenApi tab acts on the active workbook."),
    ),
    "GreenApiBlocked": (
        N_("Windows did not let Excel start Python, so GreenApi cannot run."),
        N_("This is usually a security rule of your organisation: Microsoft Defender's \"Block all Office "
           "applications from creating child processes\"."),
        N_("Ask your IT team to let Excel start Python for GreenApi (an exclusion from that rule), or use the "
           "edition that needs no install. README: \"Excel cannot start Python\"."),
    ),
    "GreenApiNoStart": (
        N_("Excel could not start Python for GreenApi."),
        N_("README: \"When something goes wrong\" says what to do. Excel's own words:"),
    ),
}

# MS-OVBA 2.3.4.1 on write: Reserved1 0x61CC, Version 0xFFFF, Reserved2 0x00, Reserved3, and no
# performance cache. Every Excel then compiles the project from its source text.
VBA_PROJECT_ON_WRITE = bytes.fromhex("CC61FFFF000100")

# One date for every timestamp in the file: a rebuild must not differ from the committed bytes.
FIXED_DATETIME = dt.datetime(2026, 1, 1, 0, 0, 0)
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)

RIBBON_PART = "customUI/customUI14.xml"
VBA_PART = "xl/vbaProject.bin"
RIBBON_REL_TYPE = "http://schemas.microsoft.com/office/2007/relationships/ui/extensibility"
VBA_REL_TYPE = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"
XLSX_MAIN_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
XLSM_MAIN_TYPE = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
XLAM_MAIN_TYPE = "application/vnd.ms-excel.addin.macroEnabled.main+xml"
VBA_CONTENT_TYPE = "application/vnd.ms-office.vbaProject"

# The header xlwings' import_udfs writes above the generated wrappers (it needs Excel to run itself).
UDF_MODULE_HEADER = (
    'Attribute VB_Name = "xlwings_udfs"\n'
    "'Autogenerated code by xlwings - changes will be lost with next import!\n"
    '#Const App = "Microsoft Excel" \'Adjust when using outside of Excel\n'
)


# --- VBA text -------------------------------------------------------------------------------------

def crlf(text: str) -> str:
    """VBA wants CRLF line ends; sources in git and xlwings' generator use LF."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def check_cp1252(module_name: str, text: str) -> None:
    """pyopenvba writes code page 1252 and turns anything else into '?' silently: refuse instead."""
    for line_number, line in enumerate(text.splitlines(), start=1):
        for char in line:
            try:
                char.encode("cp1252")
            except UnicodeEncodeError:
                raise WorkbookError(
                    f"VBA module {module_name}, line {line_number}: {char!r} is not in code page 1252; "
                    "keep VBA text ASCII/cp1252") from None


def xlwings_module_source(addin: bool = False) -> str:
    """xlwings' VBA module as the installed wheel ships it: the standalone ``xlwings.bas`` (RunPython names
    ThisWorkbook), or for an add-in ``xlwings_custom_addin.bas`` (it names ActiveWorkbook, as xlwings'
    ``quickstart --addin`` add-ins do) with PROJECT_NAME ``greenapi``. In CRLF."""
    import xlwings

    package = Path(xlwings.__file__).resolve().parent
    file_name = "xlwings_custom_addin.bas" if addin else "xlwings.bas"
    source = (package / file_name).read_text(encoding="cp1252")
    found = re.search(r'XLWINGS_VERSION As String = "([^"]+)"', source)
    if not found or found.group(1) != xlwings.__version__:
        raise WorkbookError(f"{file_name} of the installed xlwings {xlwings.__version__} "
                            f"carries XLWINGS_VERSION {found.group(1) if found else 'nothing'}")
    if addin:
        shipped = f'Public Const PROJECT_NAME As String = "{SHIPPED_ADDIN_PROJECT}"'
        if source.count(shipped) != 1:
            raise WorkbookError(f"{file_name} of xlwings {xlwings.__version__} has no single {shipped!r}")
        source = source.replace(shipped, f'Public Const PROJECT_NAME As String = "{ADDIN_PROJECT}"')
    return crlf(source)


def xlwings_modules(addin: bool = False) -> list[tuple[str, str, bool]]:
    """(name, source, is_class) of xlwings' module (xlwings_module_source) and its Mac dictionary."""
    import xlwings

    package = Path(xlwings.__file__).resolve().parent
    dictionary = (package / "addin" / "Dictionary.cls").read_text(encoding="cp1252")
    return [("xlwings", xlwings_module_source(addin), False), ("Dictionary", crlf(dictionary), True)]


def _windows_stand_ins() -> dict[str, types.ModuleType]:
    """Empty pythoncom/pywintypes/win32com: xlwings.udfs imports them at the top, its generator never calls them."""
    pythoncom = types.ModuleType("pythoncom")
    pythoncom.CoInitialize = lambda: None
    pywintypes = types.ModuleType("pywintypes")
    pywintypes.com_error = type("com_error", (Exception,), {})
    win32com = types.ModuleType("win32com")
    win32com_client = types.ModuleType("win32com.client")
    win32com_client.Dispatch = None
    win32com.client = win32com_client
    return {"pythoncom": pythoncom, "pywintypes": pywintypes,
            "win32com": win32com, "win32com.client": win32com_client}


@contextlib.contextmanager
def _declared_udfs(module_name: str):
    """The UDF module executed once more, privately, with xlwings' real decorators (xlwings.udfs), which
    record each function's declaration in ``__xlfunc__``. On Linux ``xw.func`` and friends are no-ops.
    sys.modules and xlwings are restored afterwards. Yields (the module, xlwings.udfs)."""
    import xlwings

    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        raise WorkbookError(f"the UDF module {module_name!r} is not importable")

    added: list[str] = []
    saved_decorators = {name: getattr(xlwings, name) for name in ("func", "sub", "script", "arg", "ret")}
    try:
        for name, module in _windows_stand_ins().items():
            if name not in sys.modules:
                sys.modules[name] = module
                added.append(name)
        had_udfs = "xlwings.udfs" in sys.modules
        import xlwings.udfs as real
        if not had_udfs:
            added.append("xlwings.udfs")
        xlwings.func, xlwings.sub, xlwings.script = real.xlfunc, real.xlsub, real.xlsub
        xlwings.arg, xlwings.ret = real.xlarg, real.xlret

        if "greenapi_excel.udf" not in sys.modules:
            # The wrappers depend on the declarations only: the engine behind them is not loaded for a build.
            sys.modules["greenapi_excel.udf"] = types.ModuleType("greenapi_excel.udf")
            added.append("greenapi_excel.udf")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module, real
    finally:
        for name, decorator in saved_decorators.items():
            setattr(xlwings, name, decorator)
        for name in added:
            sys.modules.pop(name, None)


def udf_wrapper_module(module_name: str = UDF_PYTHON_MODULE, book_name: str = BOOK_NAME) -> str:
    """The text of ``xlwings_udfs`` as xlwings' "Import Functions" would write it for ``module_name`` into
    ``book_name`` (an .xlam gets the add-in form), in CRLF."""
    with _declared_udfs(module_name) as (module, real):
        generated = io.StringIO()
        real.generate_vba_wrapper(module_name, module, generated, types.SimpleNamespace(Name=book_name))
    return crlf(UDF_MODULE_HEADER + generated.getvalue())


def udf_help(module_name: str = UDF_PYTHON_MODULE) -> list[tuple[str, str, str, list[str]]]:
    """(name, description, category, argument help) of each worksheet function, in name order, as
    xlwings' "Import Functions" hands them to MacroOptions: the docstring and each @xw.arg doc.
    ``caller`` (xlwings passes the calling cell) is no argument the analyst types."""
    found = []
    with _declared_udfs(module_name) as (module, _):
        for name in sorted(dir(module)):
            declared = getattr(getattr(module, name), "__xlfunc__", None)
            if declared is None or declared.get("sub"):
                continue
            description = " ".join((declared["ret"]["doc"] or "").split())
            arguments = [" ".join(arg["doc"].split()) for arg in declared["args"]
                         if arg["name"] != "caller" and not arg["vba"]]
            for text in [description, *arguments]:
                if len(text) > MACRO_OPTIONS_LIMIT:
                    raise WorkbookError(f"the help of {declared['name']} in {module_name} is {len(text)} characters "
                                        f"long; Excel keeps {MACRO_OPTIONS_LIMIT}: shorten it")
            found.append((declared["name"], description, declared["category"] or FUNCTION_CATEGORY, arguments))
    return found


def _vba_text(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def function_help_code(module_name: str = UDF_PYTHON_MODULE) -> str:
    """The module ``FunctionHelp``, in CRLF: ``RegisterFunctionHelp`` registers each worksheet function of
    ``module_name`` with Application.MacroOptions, as xlwings' Import Functions does. It is no auto-exec
    macro: the ribbon's onLoad callback (RibbonCallbacks.RibbonLoaded) and every button call it, once."""
    lines = [
        f'Attribute VB_Name = "{HELP_VBA_MODULE}"',
        "Option Explicit",
        f"' Generated by the workbook build from the declarations in {module_name} (docstrings, @xw.arg docs).",
        "",
        "Private registered As Boolean",
        "",
        "Public Sub RegisterFunctionHelp()",
        "    ' Insert Function lists each worksheet function under its category, with its help. Late bound",
        "    ' and under On Error: Excel for Mac or a protected book may refuse, and the functions work anyway.",
        "    Dim host As Object",
        "    Dim book As String",
        "    Dim wasSaved As Boolean",
        "    If registered Then Exit Sub",
        "    registered = True",
        "    On Error Resume Next",
        "    wasSaved = ThisWorkbook.Saved",
        "    Set host = Application",
        '    book = "\'" & Replace(ThisWorkbook.Name, "\'", "\'\'") & "\'!"',
    ]
    for name, description, category, arguments in udf_help(module_name):
        call = [f"    host.MacroOptions Macro:=book & {_vba_text(name)}",
                f"        Description:={_vba_text(description)}",
                f"        Category:={_vba_text(category)}"]
        if arguments:
            call.append(f"        ArgumentDescriptions:=Array({', '.join(_vba_text(a) for a in arguments)})")
        lines.append(", _\n".join(call))
    lines += [
        "    ' Registering help is no change the analyst should be asked to save.",
        "    ThisWorkbook.Saved = wasSaved",
        "End Sub",
        "",
    ]
    return crlf("\n".join(lines))


def own_modules() -> list[tuple[str, str, bool]]:
    """(name, source, is_class) of the modules kept as text in vba/, in name order."""
    modules = []
    for path in sorted(VBA_SOURCES.iterdir()):
        if path.suffix in (".bas", ".cls"):
            modules.append((path.stem, crlf(path.read_text(encoding="utf-8")), path.suffix == ".cls"))
    return modules


def vba_modules(book_name: str = BOOK_NAME) -> list[tuple[str, str, bool]]:
    """Every module of the VBA project besides the document modules, in project order; ``book_name`` ending
    in .xlam gives the add-in's (xlwings' custom add-in module, the add-in form of the UDF wrappers)."""
    addin = book_name.lower().endswith(ADDIN_SUFFIX)
    modules = (xlwings_modules(addin) + own_modules()
               + [(UDF_VBA_MODULE, udf_wrapper_module(book_name=book_name), False),
                  (HELP_VBA_MODULE, function_help_code(), False)])
    for name, source, _ in modules:
        check_cp1252(name, source)
    return modules


def vba_project_bin(modules: list[tuple[str, str, bool]], this_workbook: str | None = None) -> bytes:
    """xl/vbaProject.bin holding ThisWorkbook (with ``this_workbook`` as its code; None: none), Sheet1 and
    ``modules``, written by pyopenvba, with the _VBA_PROJECT stream in its on-write form."""
    try:
        from pyopenvba import ExcelFile, VBAModuleKind
    except ImportError:
        raise WorkbookError("building the workbook needs pyopenvba: pip install 'pyopenvba==6.5.0'") from None

    with tempfile.TemporaryDirectory(prefix="greenapi-xlsm-") as folder:
        scratch = Path(folder) / "scratch.xlsm"
        with ExcelFile.create_new(str(scratch)) as book:
            project = book.vba_project()
            project.delete_module("Module1")   # the template's empty module
            if this_workbook is not None:
                check_cp1252("ThisWorkbook", this_workbook)
                project.get_module("ThisWorkbook").body = this_workbook
            for name, source, is_class in modules:
                project.add_module(name, source,
                                   kind=VBAModuleKind.other if is_class else VBAModuleKind.standard)
            book.save()
        with zipfile.ZipFile(scratch) as package:
            return on_write_form(package.read(VBA_PART))


def on_write_form(vba_project: bytes) -> bytes:
    """The compound file with VBA/_VBA_PROJECT replaced by MS-OVBA's seven on-write bytes.

    pyopenvba keeps its template's Version (0x00B5) and zeroes the performance cache after it; an Excel
    of that version could trust the zeroed cache instead of compiling the source. pyopenvba's own CFB
    writer rewrites the file with the shorter stream (olefile can only overwrite a stream of equal size).
    """
    from pyopenvba.cfb import CFB

    compound = CFB.from_bytes(vba_project)
    compound.write_stream_in_storage("VBA", "_VBA_PROJECT", VBA_PROJECT_ON_WRITE)
    return compound.to_bytes()


# --- language ---------------------------------------------------------------------------------------

RIBBON_TEXT_ATTRIBUTES = ("label", "screentip", "supertip")
BRAND = "GreenApi"   # the tab's name: the same in every language
_RIBBON_TEXT = re.compile(r'\b(' + "|".join(RIBBON_TEXT_ATTRIBUTES) + r')="([^"]*)"')


def _in_language(language: str, text: str) -> str:
    from greenapi_excel.i18n import in_language

    return in_language(language, text)


def _localised(node, language: str):
    """sheets.json with each {"text": ...} in ``language`` and {"build": "language"} as its code."""
    if isinstance(node, dict):
        if set(node) == {"text"}:
            return _in_language(language, node["text"])
        if node == {"build": "language"}:
            return language
        return {key: _localised(value, language) for key, value in node.items()}
    if isinstance(node, list):
        return [_localised(value, language) for value in node]
    return node


def sheet_texts() -> list[str]:
    """Every text of sheets.json that is translated ({"text": ...}), in file order: for the catalogue."""
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if set(node) == {"text"}:
                found.append(node["text"])
            else:
                for value in node.values():
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(SHEETS_JSON.read_text(encoding="utf-8")))
    return found


def ribbon_texts() -> list[str]:
    """The ribbon's labels, screentips and supertips (the brand aside), in file order: for the catalogue."""
    from xml.sax.saxutils import unescape

    texts = [unescape(m.group(2), {"&quot;": '"'}) for m in _RIBBON_TEXT.finditer(RIBBON_XML.read_text("utf-8"))]
    return [text for text in texts if text != BRAND]


def ribbon_bytes(language: str = "en") -> bytes:
    """customUI14.xml with its labels and tips in ``language``; English is the file as it is, byte for byte.
    Ids and onAction names never change: the VBA and Excel find the buttons by them."""
    source = RIBBON_XML.read_bytes()
    if language == "en":
        return source
    from xml.sax.saxutils import escape, unescape

    def translate(match):
        text = unescape(match.group(2), {"&quot;": '"'})
        if text == BRAND:
            return match.group(0)
        return f'{match.group(1)}="{escape(_in_language(language, text), {chr(34): "&quot;"})}"'

    return _RIBBON_TEXT.sub(translate, source.decode("utf-8")).encode("utf-8")


# --- sheets ---------------------------------------------------------------------------------------

def sheet_contents(*, interpreter: str | None, pythonpath: str | None, addin: bool = False,
                   language: str = "en") -> dict:
    """sheets.json in ``language``, with the xlwings.conf rows for this build put first: the interpreter
    (Interpreter_Win, or Interpreter_Mac on a Mac) and PYTHONPATH, each only when it has a value. An add-in
    keeps only that sheet (its buttons act on the analyst's book), named ``greenapi.conf`` as xlwings' custom
    add-in module reads it, as the VBA project's one sheet, Sheet1. Also the book's mark ("mark": its kind)
    and the VBA's messages in ``language`` ("messages": defined name -> text)."""
    contents = _localised(json.loads(SHEETS_JSON.read_text(encoding="utf-8")), language)
    if addin:
        contents["sheets"] = [dict(sheet, code_name="Sheet1", name=ADDIN_CONF_SHEET) for sheet in contents["sheets"]
                              if sheet["name"] == CONF_SHEET]
    contents["mark"] = provenance.ADDIN if addin else provenance.WORKBOOK
    contents["messages"] = vba_messages(language)
    conf_name = ADDIN_CONF_SHEET if addin else CONF_SHEET
    added = []
    if interpreter:
        added.append(["Interpreter_Mac" if sys.platform == "darwin" else "Interpreter_Win", interpreter])
    if pythonpath:
        added.append(["PYTHONPATH", pythonpath])
    conf = next(sheet for sheet in contents["sheets"] if sheet["name"] == conf_name)
    settings_block, *notes = conf["blocks"]
    rows = settings_block["rows"] = added + settings_block["rows"]
    empty = [row[0] for row in rows if len(row) < 2 or row[1] is None or row[1] == ""]
    if empty:
        raise WorkbookError(f"{conf_name} rows without a value would hide xlwings' other settings: {empty}")
    # xlwings reads from A1 down to the first empty key: the notes below must stay apart.
    from openpyxl.utils.cell import coordinate_from_string

    if any(coordinate_from_string(block["at"])[1] <= len(rows) + 1 for block in notes):
        raise WorkbookError(f"the {conf_name} notes must start below an empty row after the settings")
    return contents


def vba_messages(language: str = "en") -> dict[str, str]:
    """The hidden defined names holding VBA_MESSAGES in ``language``: "<name><line number>" -> the line.
    WorkbookError when a line is longer than a text constant may be (Excel would refuse the file)."""
    names = {}
    for base, lines in VBA_MESSAGES.items():
        for number, line in enumerate(lines, start=1):
            text = _in_language(language, line)
            if len(text) > TEXT_CONSTANT_LIMIT:
                raise WorkbookError(f"the {language} text of {base}{number} is {len(text)} characters long; a "
                                    f"defined name holds {TEXT_CONSTANT_LIMIT}: split it")
            names[f"{base}{number}"] = text
    return names


def sheets_package(contents: dict) -> dict[str, bytes]:
    """The parts of an .xlsx holding the sheets, as openpyxl writes them (name -> bytes, in its order)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils.cell import coordinate_from_string, column_index_from_string
    from openpyxl.workbook.defined_name import DefinedName
    from openpyxl.writer.excel import ExcelWriter

    book = Workbook()
    book.remove(book.active)
    book.code_name = "ThisWorkbook"
    book.properties.creator = "GreenApi for Excel"
    book.properties.created = book.properties.modified = FIXED_DATETIME
    for spec in contents["sheets"]:
        sheet = book.create_sheet(spec["name"])
        sheet.sheet_properties.codeName = spec["code_name"]
        for block in spec["blocks"]:
            column_letter, first_row = coordinate_from_string(block["at"])
            first_column = column_index_from_string(column_letter)
            for offset, values in enumerate(block["rows"]):
                for column_offset, value in enumerate(values):
                    if value is None:
                        continue
                    cell = sheet.cell(first_row + offset, first_column + column_offset, value)
                    cell.data_type = "b" if isinstance(value, bool) else "s"   # IDs stay text, never numbers
                    if offset == 0 and block.get("bold_first_row"):
                        cell.font = Font(bold=True)
        for letter, width in spec.get("column_widths", {}).items():
            sheet.column_dimensions[letter].width = width
        for row, height in spec.get("row_heights", {}).items():
            sheet.row_dimensions[int(row)].height = height
        if spec.get("freeze"):
            sheet.freeze_panes = spec["freeze"]
        if spec.get("hidden"):
            sheet.sheet_state = "hidden"
        for name, cell in spec.get("names", {}).items():
            column_letter, row = coordinate_from_string(cell)
            book.defined_names[name] = DefinedName(name, attr_text=f"'{spec['name']}'!${column_letter}${row}")

    for name, text in contents.get("messages", {}).items():
        book.defined_names[name] = DefinedName(name, attr_text='"' + text.replace('"', '""') + '"', hidden=True)
    if contents.get("mark"):
        from openpyxl.packaging.custom import StringProperty

        book.custom_doc_props.append(StringProperty(name=provenance.MARK_PROPERTY, value=contents["mark"]))

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(book, archive).save()   # not save_workbook(): that stamps the current time
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


# --- the package ----------------------------------------------------------------------------------

def _insert_before(text: str, closing_tag: str, addition: str, part: str) -> str:
    if text.count(closing_tag) != 1:
        raise WorkbookError(f"{part} as openpyxl wrote it has no single {closing_tag!r}")
    return text.replace(closing_tag, addition + closing_tag)


def macro_enabled_parts(parts: dict[str, bytes], vba_project: bytes, ribbon: bytes,
                        main_type: str = XLSM_MAIN_TYPE) -> list[tuple[str, bytes]]:
    """The openpyxl parts made into an .xlsm (or, with XLAM_MAIN_TYPE, an .xlam): VBA project, ribbon, their
    relationships and content types."""
    parts = dict(parts)
    types_xml = parts["[Content_Types].xml"].decode("utf-8")
    if types_xml.count(XLSX_MAIN_TYPE) != 1:
        raise WorkbookError("[Content_Types].xml as openpyxl wrote it names no single workbook part")
    types_xml = types_xml.replace(XLSX_MAIN_TYPE, main_type)
    types_xml = _insert_before(types_xml, "</Types>",
                             f'<Default Extension="bin" ContentType="{VBA_CONTENT_TYPE}"/>', "[Content_Types].xml")
    parts["[Content_Types].xml"] = types_xml.encode("utf-8")

    package_rels = parts["_rels/.rels"].decode("utf-8")
    package_rels = _insert_before(package_rels, "</Relationships>",
                                f'<Relationship Id="rIdGreenApiRibbon" Type="{RIBBON_REL_TYPE}" '
                                f'Target="{RIBBON_PART}"/>', "_rels/.rels")
    parts["_rels/.rels"] = package_rels.encode("utf-8")

    book_rels = parts["xl/_rels/workbook.xml.rels"].decode("utf-8")
    book_rels = _insert_before(book_rels, "</Relationships>",
                             f'<Relationship Id="rIdVbaProject" Type="{VBA_REL_TYPE}" Target="vbaProject.bin"/>',
                             "xl/_rels/workbook.xml.rels")
    parts["xl/_rels/workbook.xml.rels"] = book_rels.encode("utf-8")

    first = ["[Content_Types].xml", "_rels/.rels"]
    ordered = [(name, parts[name]) for name in first]
    ordered += [(name, data) for name, data in parts.items() if name not in first]
    ordered += [(VBA_PART, vba_project), (RIBBON_PART, ribbon)]
    return ordered


def zip_bytes(entries: list[tuple[str, bytes]]) -> bytes:
    """A zip whose bytes depend only on ``entries``: fixed dates, attributes and order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 0
            info.external_attr = 0
            archive.writestr(info, data, compresslevel=6)
    return buffer.getvalue()


def workbook_bytes(*, interpreter: str | None = None, pythonpath: str | None = None, addin: bool = False,
                   language: str = "en") -> bytes:
    """The whole GreenApi.xlsm (or, ``addin``, GreenApi.xlam) in ``language`` (en, ru: the ribbon and the
    sheets; VBA stays cp1252 English), in memory."""
    language = _checked_language(language)
    sheets = sheets_package(sheet_contents(interpreter=interpreter, pythonpath=pythonpath, addin=addin,
                                           language=language))
    vba_project = vba_project_bin(vba_modules(ADDIN_NAME if addin else BOOK_NAME))
    entries = macro_enabled_parts(sheets, vba_project, ribbon_bytes(language),
                                  XLAM_MAIN_TYPE if addin else XLSM_MAIN_TYPE)
    return zip_bytes(entries)


def _checked_language(language: object) -> str:
    from greenapi_excel.i18n import LANGUAGES

    if language not in LANGUAGES:
        raise WorkbookError(f"the workbook is built in one of {', '.join(LANGUAGES)}, not {language!r}")
    return language


def addin_folder() -> Path:
    """The folder holding addin.py and udfs/ for this installation (site-packages, or a clone)."""
    spec = importlib.util.find_spec(ADDIN_MODULE)
    if spec is None or spec.origin is None:
        raise WorkbookError(f"the module {ADDIN_MODULE!r} is not importable: install the package first")
    return Path(spec.origin).resolve().parent


def pythonpath_for(interpreter: str) -> str | None:
    """PYTHONPATH for xlwings.conf: None when ``interpreter``, started far from here (no PYTHONPATH, another
    folder), already finds this installation's addin and udfs (an installed package, editable or not);
    else the folder holding them."""
    folder = addin_folder()
    probe = ("import importlib.util as u\n"
             f"a, b = u.find_spec({ADDIN_MODULE!r}), u.find_spec({UDF_PYTHON_MODULE!r})\n"
             "print(a.origin if a and b and a.origin else '')")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    try:
        with tempfile.TemporaryDirectory(prefix="greenapi-probe-") as elsewhere:
            done = subprocess.run([interpreter, "-c", probe], cwd=elsewhere, env=env, capture_output=True,
                                  text=True, timeout=60)
        found = done.stdout.strip() if done.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        found = ""
    if found and Path(found).resolve().parent == folder:
        return None
    return str(folder)


def build(out_path: str | os.PathLike, *, interpreter: str | None = None,
          pythonpath: str | None = None, language: str = "en") -> Path:
    """Writes GreenApi.xlsm to ``out_path`` (GreenApi.xlam when it ends in .xlam) in ``language`` and returns
    its absolute path.

    ``interpreter`` goes into the xlwings.conf sheet (Interpreter_Win, or Interpreter_Mac on a Mac);
    None leaves xlwings' own settings in charge. When an interpreter is given and ``pythonpath`` is not,
    PYTHONPATH is the folder holding ``addin.py`` and ``udfs`` if that interpreter would not find them by
    itself (pythonpath_for), and no row at all if it would. ``language`` (en, ru) is the ribbon's and
    the sheets' language, and the Settings sheet's Language row.
    Raises WorkbookError with a one-line reason (an unwritable path, non-cp1252 VBA text, ...).

    The file is replaced atomically (a whole temporary file beside it, synced, renamed over it), as a regular
    file: a symbolic link at ``out_path`` is replaced, never followed (its target stays as it was). Which
    files may be replaced is the caller's decision (setup_checks).
    """
    given = Path(out_path).expanduser()
    out = given.parent.resolve() / given.name   # the folder's links are followed, the file's own never
    if interpreter and pythonpath is None:
        pythonpath = pythonpath_for(interpreter)
    data = workbook_bytes(interpreter=interpreter, pythonpath=pythonpath, addin=out.suffix.lower() == ADDIN_SUFFIX,
                          language=language)
    temporary = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".greenapi-", suffix=out.suffix or ".xlsm", dir=out.parent)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        try:
            before = out.lstat()
            mode = before.st_mode & 0o777 if stat.S_ISREG(before.st_mode) else 0o644
        except FileNotFoundError:
            mode = 0o644
        os.chmod(temporary, mode)   # mkstemp makes it 0600; a replaced book keeps its own
        os.replace(temporary, out)   # whole or not at all: Excel may be watching the file
    except OSError as error:
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)
        raise WorkbookError(f"cannot write {out}: {error.strerror or error}") from None
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    language = "en"
    if len(argv) >= 2 and argv[-2] == "--lang":
        language, argv = argv[-1], argv[:-2]
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print("usage: python -m greenapi_excel.workbook.build [OUT.xlsm] [--lang en|ru]   (default ./GreenApi.xlsm; "
              "the add-in GreenApi.xlam and the xlwings Lite book GreenApi-Lite.xlsx go beside it)", file=sys.stderr)
        return 2
    out = Path(argv[0] if argv else DEFAULT_OUT)
    try:
        from greenapi_excel.workbook.lite import DEFAULT_LITE_OUT, build_lite

        written = [build(out, language=language), build(out.with_suffix(ADDIN_SUFFIX), language=language),
                   build_lite(out.with_name(DEFAULT_LITE_OUT.name), language=language)]
    except WorkbookError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

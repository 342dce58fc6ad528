"""GreenApi.xlsm: the committed file is what `python -m greenapi_excel.workbook.build` makes, and what is in it is right.

Read back with real tools: zipfile, oletools (VBA), openpyxl (sheets), xmlschema (ribbon against
Microsoft's customUI14.xsd), and an ANTLR grammar of VBA for a syntax check on Windows and on Mac.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import zipfile
from functools import lru_cache
from pathlib import Path

import openpyxl
import pytest
import xlwings
import xmlschema
from oletools.olevba import VBA_Parser

from greenapi_excel import setup_checks
from greenapi_excel.errors import WorkbookError
from greenapi_excel.workbook import build as workbook_build

REPO = Path(__file__).resolve().parent.parent
BOOK = REPO / "GreenApi.xlsm"
ADDIN = REPO / "GreenApi.xlam"
BOTH = pytest.mark.parametrize("path", [BOOK, ADDIN], ids=["xlsm", "xlam"])
SCHEMAS = REPO / ".." / "shared" / "schemas"
XLWINGS_PACKAGE = Path(xlwings.__file__).resolve().parent
CUSTOMUI_NS = "{http://schemas.microsoft.com/office/2009/07/customui}"
BUTTONS = {
    "Archive chats": "archive_chats", "Unarchive chats": "unarchive_chats", "Dry run": "dry_run",
    "Load chats": "load_chats", "Verify": "verify", "Undo last run": "undo_last_run", "Stop": "stop_run",
    "Check connection": "check_connection", "Settings / token": "settings",
}


def lf(text: str) -> str:
    return text.replace("\r\n", "\n")


@lru_cache(maxsize=None)
def built_modules(path: Path = BOOK) -> dict[str, str]:
    """Module name -> code, as oletools reads it from the file (LF line ends)."""
    parser = VBA_Parser(str(path))
    try:
        return {name.rsplit(".", 1)[0]: lf(code) for _, _, name, code in parser.extract_macros()}
    finally:
        parser.close()


def without_class_header(code: str) -> str:
    """The code of a class module after its VERSION/BEGIN/END block and Attribute lines."""
    lines = lf(code).split("\n")
    i = 0
    if lines and lines[0].startswith("VERSION "):
        i = lines.index("END") + 1
    while i < len(lines) and lines[i].startswith("Attribute VB_"):
        i += 1
    return "\n".join(lines[i:])


# --- a VBA syntax check: conditional compilation resolved, then the ANTLR grammar -------------------

WINDOWS = {"MAC": False, "VBA7": True, "WIN64": True, "WIN32": True}
MAC = {"MAC": True, "VBA7": True, "WIN64": False, "WIN32": False, "MAC_OFFICE_VERSION": 16}
DIRECTIVE = re.compile(r"^\s*#(Const|If|ElseIf|Else|End\s+If)\b(.*)$", re.I)
PROCEDURE_START = re.compile(
    r"^\s*((Public|Private|Friend)\s+)?(Static\s+)?(Sub|Function|Property\s+(Get|Let|Set))\s+\w", re.I)


def _code_part(text: str) -> str:
    """``text`` without its trailing ' comment (quotes respected)."""
    in_string = False
    for i, char in enumerate(text):
        if char == '"':
            in_string = not in_string
        elif char == "'" and not in_string:
            return text[:i].strip()
    return text.strip()


def _evaluate(expression: str, constants: dict) -> object:
    expression = re.sub(r"\s+Then$", "", _code_part(expression), flags=re.I)
    python = []
    for token in re.findall(r'"[^"]*"|\d+(?:\.\d+)?|[A-Za-z_]\w*|<>|>=|<=|=|<|>|\(|\)', expression):
        word = token.upper()
        if token.startswith('"') or token[0].isdigit() or token in ("<", ">", "<=", ">=", "(", ")"):
            python.append(token)
        elif word in ("NOT", "AND", "OR"):
            python.append(word.lower())
        elif word in ("TRUE", "FALSE"):
            python.append(word.title())
        else:
            python.append({"=": "==", "<>": "!="}.get(token) or repr(constants.get(word, 0)))
    return eval(" ".join(python), {"__builtins__": {}})   # noqa: S307 - our own tokens only


def resolve_conditionals(code: str, platform: dict) -> str:
    """The code as VBA compiles it on ``platform``: #If branches chosen, directive and dropped lines blank."""
    constants, frames, out = dict(platform), [], []   # frame: [this branch taken, some branch taken]
    for line in lf(code).split("\n"):
        directive = DIRECTIVE.match(line)
        active = all(frame[0] for frame in frames)
        if not directive:
            out.append(line if active else "")
            continue
        kind, rest = directive.group(1).upper().replace(" ", ""), directive.group(2)
        if kind == "CONST" and active:
            name, value = _code_part(rest).split("=", 1)
            constants[name.strip().upper()] = _evaluate(value, constants)
        elif kind == "IF":
            taken = bool(_evaluate(rest, constants))
            frames.append([taken, taken])
        elif kind == "ELSEIF":
            taken = not frames[-1][1] and bool(_evaluate(rest, constants))
            frames[-1] = [taken, frames[-1][1] or taken]
        elif kind == "ELSE":
            frames[-1] = [not frames[-1][1], True]
        elif kind == "ENDIF":
            frames.pop()
        out.append("")
    assert not frames, "an #If without #End If"
    return "\n".join(out)


def _grammar_errors(source: str) -> list[str]:
    from antlr4 import CommonTokenStream, InputStream
    from antlr4.atn.PredictionMode import PredictionMode
    from antlr4.error.ErrorListener import ErrorListener
    from antlr4.error.ErrorStrategy import BailErrorStrategy
    from antlr4.error.Errors import ParseCancellationException
    from antlr4_vba.vbaLexer import vbaLexer
    from antlr4_vba.vbaParser import vbaParser

    # The fast prediction mode first; only what it cannot decide goes through the full (slow) one.
    lexer = vbaLexer(InputStream(source))
    lexer.removeErrorListeners()
    parser = vbaParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser._interp.predictionMode = PredictionMode.SLL
    parser._errHandler = BailErrorStrategy()
    try:
        parser.startRule()
        return []
    except ParseCancellationException:
        pass

    class Collect(ErrorListener):
        errors: list[str] = []

        def syntaxError(self, recognizer, offending, line, column, message, error):
            self.errors.append(f"line {line}:{column} {message}")

    listener = Collect()
    listener.errors = []
    lexer = vbaLexer(InputStream(source))
    lexer.removeErrorListeners()
    lexer.addErrorListener(listener)
    parser = vbaParser(CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(listener)
    parser.startRule()
    return listener.errors


@lru_cache(maxsize=None)
def _chunk_errors(chunk: str) -> tuple[str, ...]:
    return tuple(_grammar_errors(chunk))


def vba_syntax_errors(code: str, platform: dict) -> list[str]:
    """Syntax errors of one module on one platform, with module line numbers.

    The module is parsed a procedure at a time (each after a VB_Name line, as a module of its own):
    the grammar's run time grows fast with input length. Header attributes other than VB_Name are
    blanked, since the grammar knows only the exported-file form of a class header.
    """
    lines = resolve_conditionals(code, platform).split("\n")
    for i, line in enumerate(lines):
        if not line.startswith("Attribute VB_"):
            break
        if not line.startswith("Attribute VB_Name"):
            lines[i] = ""
    starts = [i for i, line in enumerate(lines) if PROCEDURE_START.match(line)]
    bounds = [0] + starts + [len(lines)]
    errors = []
    for first, end in zip(bounds, bounds[1:]):
        if first == end:
            continue
        head = [] if first == 0 else ['Attribute VB_Name = "Part"']
        chunk = "\n".join(head + lines[first:end]) + "\n"
        for error in _chunk_errors(chunk):
            line_number = int(error.split()[1].split(":")[0]) - len(head) + first
            errors.append(f"line {line_number}: {error}")
    return errors


# --- the build ----------------------------------------------------------------------------------

def test_rebuild_in_a_process_gives_the_committed_bytes(tmp_path):
    out = tmp_path / "GreenApi.xlsm"
    done = subprocess.run([sys.executable, "-m", "greenapi_excel.workbook.build", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == BOOK.read_bytes(), "GreenApi.xlsm is stale: run python -m greenapi_excel.workbook.build"
    addin = out.with_suffix(".xlam")
    assert addin.read_bytes() == ADDIN.read_bytes(), "GreenApi.xlam is stale: run python -m greenapi_excel.workbook.build"


def test_build_error_is_one_line_not_a_traceback(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = subprocess.run([sys.executable, "-m", "greenapi_excel.workbook.build", str(blocker / "GreenApi.xlsm")], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("error: cannot write") and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_vba_text_outside_code_page_1252_fails_the_build():
    with pytest.raises(WorkbookError, match=r"RibbonCallbacks, line 2: 'П' is not in code page 1252"):
        workbook_build.check_cp1252("RibbonCallbacks", "Sub A()\r\n    MsgBox \"Привет\"\r\nEnd Sub\r\n")
    workbook_build.check_cp1252("RibbonCallbacks", "Sub A()\r\n    MsgBox \"Grüße\"\r\nEnd Sub\r\n")


def xlwings_conf_rows(path, sheet: str = "xlwings.conf") -> list[tuple]:
    """The (key, value) rows xlwings' GetConfigFromSheet reads: A1 down to the first empty key (the add-in's
    sheet is greenapi.conf)."""
    rows = []
    for key, value in openpyxl.load_workbook(path)[sheet].iter_rows(max_col=2, values_only=True):
        if key is None:
            break
        rows.append((key, value))
    return rows


def test_build_for_this_python_points_xlwings_conf_at_it(tmp_path):
    out = workbook_build.build(tmp_path / "mine.xlsm", interpreter=sys.executable)
    conf = dict(xlwings_conf_rows(out))
    key = "Interpreter_Mac" if sys.platform == "darwin" else "Interpreter_Win"
    assert conf[key] == sys.executable
    # This Python imports addin and udfs by itself (they are installed): no PYTHONPATH row.
    assert "PYTHONPATH" not in conf
    assert built_modules(out) == built_modules(BOOK)   # same VBA project, only the settings differ


def test_a_python_that_cannot_import_addin_gets_its_folder_as_pythonpath(tmp_path):
    import venv

    bare = tmp_path / "bare"
    venv.EnvBuilder(with_pip=False).create(bare)
    python = bare / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    out = workbook_build.build(tmp_path / "bare.xlsm", interpreter=str(python))
    conf = dict(xlwings_conf_rows(out))
    assert conf["PYTHONPATH"] == str(REPO)   # the folder holding addin.py and udfs/


def test_xlwings_conf_has_only_rows_with_a_value(tmp_path):
    """An empty row would hide the key's value from xlwings' other config sources (GetConfig stops at the
    first source that has the key)."""
    for path in (BOOK, workbook_build.build(tmp_path / "mine.xlsm", interpreter=sys.executable)):
        rows = xlwings_conf_rows(path)
        assert rows, path
        assert [key for key, value in rows if value is None or value == ""] == [], path


def test_every_xlwings_conf_key_is_one_xlwings_reads(tmp_path):
    standalone = (XLWINGS_PACKAGE / "xlwings.bas").read_text(encoding="cp1252")
    read = set(re.findall(r'GetConfig\("([^"]+)"', standalone))
    assert {"INTERPRETER_WIN", "UDF MODULES", "PYTHONPATH"} <= read
    bare_folder = tmp_path / "bare"
    import venv

    venv.EnvBuilder(with_pip=False).create(bare_folder)
    python = bare_folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    for path in (BOOK, workbook_build.build(tmp_path / "bare.xlsm", interpreter=str(python))):
        keys = {key.upper() for key, _ in xlwings_conf_rows(path)}   # GetConfigFromSheet upper-cases them
        assert keys - read == set(), path


def test_greenapi_excel_workbook_command_writes_a_book_for_this_python(tmp_path):
    out = tmp_path / "Excel" / "GreenApi.xlsm"
    out.parent.mkdir()
    proc = subprocess.run([sys.executable, "-m", "greenapi_excel", "workbook", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert str(out) in proc.stdout and sys.executable in proc.stdout
    conf = dict(xlwings_conf_rows(out))
    assert sys.executable in (conf.get("Interpreter_Win"), conf.get("Interpreter_Mac"))
    assert built_modules(out) == built_modules(BOOK)


# --- the package --------------------------------------------------------------------------------

@BOTH
def test_package_is_a_macro_enabled_workbook_with_a_ribbon(path):
    with zipfile.ZipFile(path) as package:
        types = package.read("[Content_Types].xml").decode()
        package_rels = package.read("_rels/.rels").decode()
        book_rels = package.read("xl/_rels/workbook.xml.rels").decode()
        assert {"xl/vbaProject.bin", "customUI/customUI14.xml"} <= set(package.namelist())
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in package.infolist())
    main_type = {BOOK: "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
                 ADDIN: "application/vnd.ms-excel.addin.macroEnabled.main+xml"}[path]
    assert f'PartName="/xl/workbook.xml" ContentType="{main_type}"' in types
    assert 'Extension="bin" ContentType="application/vnd.ms-office.vbaProject"' in types
    assert ('Type="http://schemas.microsoft.com/office/2007/relationships/ui/extensibility" '
            'Target="customUI/customUI14.xml"') in package_rels
    assert 'Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" Target="vbaProject.bin"' \
        in book_rels


def ribbon_xml(path: Path = BOOK) -> bytes:
    with zipfile.ZipFile(path) as package:
        return package.read("customUI/customUI14.xml")


def customui14_schema() -> xmlschema.XMLSchema:
    """Microsoft's schema lives in ../shared/schemas, beside the clone in CI; a user's own clone may not
    have it, and the schema is Microsoft's to publish, not ours to copy."""
    path = SCHEMAS / "customUI14.xsd"
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI must have ../shared beside the clone")
        pytest.skip(f"Microsoft's customUI14.xsd is not at {path} (CI has it)")
    return xmlschema.XMLSchema(str(path))


@BOTH
def test_ribbon_is_valid_customui14_with_its_buttons(path):
    schema = customui14_schema()
    schema.validate(ribbon_xml(path).decode("utf-8"))
    assert ribbon_xml(path) == workbook_build.RIBBON_XML.read_bytes()
    tree = xmlschema.XMLResource(ribbon_xml(path).decode("utf-8")).root
    tabs = [tab.get("label") for tab in tree.iter(f"{CUSTOMUI_NS}tab")]
    labels = [button.get("label") for button in tree.iter(f"{CUSTOMUI_NS}button")]
    assert tabs == ["GreenApi"]
    assert labels == list(BUTTONS)


def procedure(code: str, signature: str) -> str | None:
    """The body of the VBA procedure that starts with ``signature`` (a regular expression), or None."""
    found = re.search(rf"^{signature}\n(.*?)^End (?:Sub|Function)$", code, re.M | re.S)
    return found.group(1) if found else None


@BOTH
def test_every_button_calls_its_vba_sub_which_runs_addin_literally(path):
    tree = xmlschema.XMLResource(ribbon_xml(path).decode("utf-8")).root
    callbacks = built_modules(path)["RibbonCallbacks"]
    for button in tree.iter(f"{CUSTOMUI_NS}button"):
        sub = button.get("onAction")
        body = procedure(callbacks, rf"Sub {sub}\(control As IRibbonControl\)")
        assert body is not None, f"no Sub {sub}(control As IRibbonControl) for {button.get('label')!r}"
        assert body.strip() == f'Launch "import addin; addin.{BUTTONS[button.get("label")]}()"'
    # Launch hands its command to RunPython unchanged: the Python each button runs is the literal above.
    launch = procedure(callbacks, r"Private Sub Launch\(pythonCommand As String\)")
    assert re.findall(r"^\s*RunPython (.*)$", launch, re.M) == ["pythonCommand"]


@BOTH
def test_every_runpython_target_is_a_function_of_addin(path):
    calls = set(re.findall(r'Launch "import addin; addin\.(\w+)\(\)"', built_modules(path)["RibbonCallbacks"]))
    assert calls == set(BUTTONS.values())
    addin = ast.parse((REPO / "addin.py").read_text(encoding="utf-8"))
    functions = {node.name for node in addin.body if isinstance(node, ast.FunctionDef)}
    assert calls <= functions, f"addin.py lacks {sorted(calls - functions)}"


# --- the VBA project ----------------------------------------------------------------------------

@BOTH
def test_oletools_reads_back_every_module_with_its_source_text(path):
    modules = built_modules(path)
    assert list(modules) == ["ThisWorkbook", "Sheet1", "xlwings", "Dictionary", "RibbonCallbacks", "xlwings_udfs",
                             "FunctionHelp"]
    if path == BOOK:
        assert modules["xlwings"] == lf((XLWINGS_PACKAGE / "xlwings.bas").read_text(encoding="cp1252"))
    else:   # xlwings' module for custom add-ins, under our project name (its settings sheet: greenapi.conf)
        shipped = lf((XLWINGS_PACKAGE / "xlwings_custom_addin.bas").read_text(encoding="cp1252"))
        assert modules["xlwings"] == shipped.replace('PROJECT_NAME As String = "myaddin"',
                                                     'PROJECT_NAME As String = "greenapi"')
    assert without_class_header(modules["ThisWorkbook"]).strip() == ""   # nothing runs when the file opens
    dictionary = (XLWINGS_PACKAGE / "addin" / "Dictionary.cls").read_text(encoding="cp1252")
    assert without_class_header(modules["Dictionary"]) == without_class_header(dictionary)
    own = (REPO / "workbook" / "vba" / "RibbonCallbacks.bas").read_text(encoding="utf-8")
    assert modules["RibbonCallbacks"] == lf(own)


@BOTH
def test_xlwings_module_is_of_the_pinned_version(path):
    pins = {path: re.search(r'"?xlwings==([\w.]+)"?', (REPO / path).read_text()).group(1)
            for path in ("requirements.txt", "pyproject.toml")}
    constant = re.search(r'XLWINGS_VERSION As String = "([^"]+)"', built_modules(path)["xlwings"]).group(1)
    assert set(pins.values()) == {constant}, pins


def test_udf_wrappers_are_what_xlwings_generates_for_udfs_now():
    assert built_modules()["xlwings_udfs"] == lf(workbook_build.udf_wrapper_module("udfs"))
    wrappers = built_modules()["xlwings_udfs"]
    for name in ("ARCHIVECHAT", "UNARCHIVECHAT", "CHATSTATUS"):
        # Nothing is the slot of the reserved argument caller: xlwings puts the calling cell there.
        assert f'{name} = XLPy.CallUDF("udfs", "{name}", Array(chat_id, Nothing), ThisWorkbook, Application.Caller)' \
            in wrappers
        assert re.search(rf"^Function {name}\(chat_id\)$", wrappers, re.M)
    # call_in_wizard=False: the Insert Function dialog must not archive anything; not volatile either.
    assert wrappers.count('If (Not Application.CommandBars("Standard").Controls(1).Enabled) Then Exit Function') == 3
    assert "Application.Volatile" not in wrappers


def test_grammar_check_reports_a_sub_closed_by_end_function():
    broken = 'Attribute VB_Name = "Broken"\nSub Archive()\n    x = 1\nEnd Function\n'
    assert vba_syntax_errors(broken, WINDOWS)
    assert vba_syntax_errors(broken.replace("End Function", "End Sub"), WINDOWS) == []
    platform_only = 'Attribute VB_Name = "P"\n#If Mac Then\nSub A()\n#Else\nFunction A()\n#End If\nEnd Sub\n'
    assert vba_syntax_errors(platform_only, MAC) == []
    assert vba_syntax_errors(platform_only, WINDOWS)


@BOTH
@pytest.mark.parametrize("platform", [WINDOWS, MAC], ids=["windows", "mac"])
def test_every_module_parses_under_the_vba_grammar(platform, path):
    errors = {name: vba_syntax_errors(code, platform)[:3] for name, code in built_modules(path).items()}
    assert {name: found for name, found in errors.items() if found} == {}


# --- the sheets ---------------------------------------------------------------------------------

def test_sheets_hold_the_chat_table_settings_and_xlwings_conf():
    book = openpyxl.load_workbook(BOOK, keep_vba=True)
    assert book.sheetnames == ["Chats", "Settings", "xlwings.conf"]

    chats = book["Chats"]
    assert [cell.value for cell in chats[1][:4]] == ["Chat ID", "Status", "Details", "Updated"]
    examples = [chats.cell(row, 1).value for row in range(2, 6)]
    assert all(isinstance(value, str) and value for value in examples)
    assert all(chats.cell(row, column).value is None for row in range(2, 6) for column in (2, 3, 4))
    assert chats["F1"].value == "How to"

    settings = {row[0]: row[1] for row in book["Settings"].iter_rows(min_row=2, max_col=2, values_only=True)}
    assert settings["apiUrl"].startswith("http")
    assert settings["idInstance"] == "1101000001"
    assert settings["chat column"] is None   # an explicit choice outranks the selection: none by default
    assert "region" in settings
    assert settings["Token (moved to the keychain by the Settings button)"] is None
    names = {name: book.defined_names[name].attr_text for name in ("apiUrl", "idInstance", "region", "chatColumn")}
    assert names == {"apiUrl": "'Settings'!$B$2", "idInstance": "'Settings'!$B$3",
                     "region": "'Settings'!$B$4", "chatColumn": "'Settings'!$B$5"}

    # xlwings reads A1 down to the first empty cell, upper-casing the keys.
    conf = dict(xlwings_conf_rows(BOOK))
    assert conf["UDF Modules"] == "udfs"
    # No interpreter and no PYTHONPATH: xlwings' own config (add-in, ~/.xlwings/xlwings.conf) decides.
    assert not {"Interpreter_Win", "Interpreter_Mac", "PYTHONPATH", "Conda Path", "Conda Env"} & set(conf)
    assert conf["ADD_WORKBOOK_TO_PYTHONPATH"] is False
    assert {"Use UDF Server", "Show Console"} <= set(conf)


# --- MS-OVBA's on-write form, and the worksheet functions' help ------------------------------------

ON_WRITE_VBA_PROJECT = bytes.fromhex("CC61FFFF000100")


def vba_project_stream(path: Path) -> bytes:
    """VBA/_VBA_PROJECT of a book's vbaProject.bin, read with olefile (oletools' reader of compound files)."""
    import olefile

    with zipfile.ZipFile(path) as package:
        ole = olefile.OleFileIO(package.read("xl/vbaProject.bin"))
    try:
        return ole.openstream("VBA/_VBA_PROJECT").read()
    finally:
        ole.close()


def test_vba_project_stream_is_in_the_on_write_form(tmp_path):
    """MS-OVBA 2.3.4.1: Version MUST be 0xFFFF on write and no performance cache, so every Excel compiles
    the source; xlwings' own standalone quickstart has the same seven bytes."""
    assert vba_project_stream(BOOK) == ON_WRITE_VBA_PROJECT
    quickstart = XLWINGS_PACKAGE / "quickstart_standalone.xlsm"
    if quickstart.exists():
        assert vba_project_stream(quickstart) == ON_WRITE_VBA_PROJECT
    rebuilt = workbook_build.build(tmp_path / "again.xlsm")
    assert rebuilt.read_bytes() == BOOK.read_bytes()   # still deterministic


def udf_declarations() -> dict:
    """name -> (description, argument help) as udfs/ declares them: the docstring and @xw.arg's doc."""
    import inspect

    import udfs

    return {name: (" ".join(inspect.getdoc(getattr(udfs, name)).split()), udfs.CHAT_ID_DOC)
            for name in ("ARCHIVECHAT", "UNARCHIVECHAT", "CHATSTATUS")}


def vba_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def test_function_help_registers_each_function_with_its_help():
    body = procedure(built_modules()["FunctionHelp"], r"Public Sub RegisterFunctionHelp\(\)")
    assert body, built_modules()["FunctionHelp"]
    # Excel for Mac and a protected book may refuse MacroOptions: that must never stop a button.
    assert body.index("On Error Resume Next") < body.index("MacroOptions")
    # Once per Excel session, whoever asks first (the ribbon's onLoad or a button).
    assert body.index("If registered Then Exit Sub") < body.index("registered = True") < body.index("MacroOptions")
    for name, (description, argument) in udf_declarations().items():
        assert len(description) <= 255 and len(argument) <= 255
        call = re.search(rf'MacroOptions Macro:=book & "{name}", _\n((?:.*, _\n)*.*)\n', body)
        assert call, f"no MacroOptions call for {name}"
        text = call.group(0)
        assert f"Description:={vba_string(description)}" in text
        assert 'Category:="GreenApi"' in text
        assert f"ArgumentDescriptions:=Array({vba_string(argument)})" in text
    # The book stays "unchanged" for Excel: registering help is no edit the analyst must save.
    assert "ThisWorkbook.Saved = " in body


@BOTH
def test_the_help_is_registered_when_the_ribbon_loads_or_a_button_is_pressed(path):
    """No auto-exec macro: customUI's onLoad (Excel calls it when it loads the file's ribbon, in a book and in
    an add-in alike) registers the help, and so does every button, for a session where onLoad did not run."""
    tree = xmlschema.XMLResource(ribbon_xml(path).decode("utf-8")).root
    assert tree.get("onLoad") == "RibbonLoaded"
    callbacks = built_modules(path)["RibbonCallbacks"]
    assert procedure(callbacks, r"Sub RibbonLoaded\(ribbon As IRibbonUI\)").strip() == "RegisterFunctionHelp"
    launch = procedure(callbacks, r"Private Sub Launch\(pythonCommand As String\)")
    assert launch.index("\n    RegisterFunctionHelp\n") < launch.index("\n    RunPython pythonCommand\n")


def mraptor_verdict(path: Path) -> tuple[int, str]:
    """oletools' MacroRaptor on a file, as a mail gateway would run it: (exit code, its result line)."""
    done = subprocess.run([sys.executable, "-m", "oletools.mraptor", str(path)], capture_output=True, text=True,
                          timeout=120)
    rows = [line for line in done.stdout.splitlines() if path.name[:20] in line or "|" in line]
    return done.returncode, "\n".join(rows)


@BOTH
def test_mraptor_rates_the_file_macro_ok_as_it_does_xlwings_own_files(path):
    """An auto-exec macro beside RunPython's Shell/Declare makes mraptor say SUSPICIOUS, and antivirus and mail
    gateways quarantine such files (xlwings #1370, #2516). Exit code 2 is "Macro OK", 20 "SUSPICIOUS"."""
    code, verdict = mraptor_verdict(path)
    assert code == 2 and "Macro OK" in verdict, verdict
    reference = XLWINGS_PACKAGE / ("quickstart_standalone.xlsm" if path == BOOK else "quickstart_addin_ribbon.xlam")
    assert mraptor_verdict(reference)[0] == 2


def test_mraptor_would_flag_an_auto_exec_macro(tmp_path, monkeypatch):
    """The check above can fail: the same project with the help registered from Workbook_Open is SUSPICIOUS."""
    auto = workbook_build.crlf("Private Sub Workbook_Open()\n    RegisterFunctionHelp\nEnd Sub\n")
    original = workbook_build.vba_project_bin
    monkeypatch.setattr(workbook_build, "vba_project_bin", lambda modules, this_workbook=None: original(modules, auto))
    flagged = workbook_build.build(tmp_path / "auto.xlsm")
    code, verdict = mraptor_verdict(flagged)
    assert code == 20 and "SUSPICIOUS" in verdict, verdict


def test_help_longer_than_excel_keeps_fails_the_build(tmp_path, monkeypatch):
    """MacroOptions keeps 255 characters of a description or an argument's help: refuse, never cut in silence."""
    (tmp_path / "long_udfs.py").write_text(
        "import xlwings as xw\n\n\n@xw.func\n@xw.arg('x', doc='short')\n"
        f"def LONGHELP(x, caller=None):\n    \"\"\"{'word ' * 60}\"\"\"\n    return x\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(WorkbookError, match=r"LONGHELP .* 299 characters long; Excel keeps 255"):
        workbook_build.udf_help("long_udfs")
    (tmp_path / "short_udfs.py").write_text(
        "import xlwings as xw\n\n\n@xw.func(category='Mine')\n@xw.arg('x', doc='an \"x\"')\n"
        "def SHORTHELP(x, caller=None):\n    \"\"\"Gives\n    x back.\"\"\"\n    return x\n", encoding="utf-8")
    assert workbook_build.udf_help("short_udfs") == [("SHORTHELP", "Gives x back.", "Mine", ['an "x"'])]
    assert 'ArgumentDescriptions:=Array("an ""x""")' in workbook_build.function_help_code("short_udfs")


# --- the add-in (issue 14) ----------------------------------------------------------------------

def test_the_addin_is_the_same_project_with_its_own_conf_sheet_and_add_in_modules():
    book, addin = built_modules(BOOK), built_modules(ADDIN)
    assert set(book) == set(addin)
    add_in_forms = ("xlwings", "xlwings_udfs")
    assert {name: code for name, code in addin.items() if name not in add_in_forms} == \
        {name: code for name, code in book.items() if name not in add_in_forms}
    # xlwings' generator gives an add-in's wrappers the active workbook, as Import Functions would.
    assert addin["xlwings_udfs"] == lf(workbook_build.udf_wrapper_module("udfs", "GreenApi.xlam"))
    assert "ActiveWorkbook, Application.Caller" in addin["xlwings_udfs"]
    assert "ThisWorkbook, Application.Caller" not in addin["xlwings_udfs"]
    readable = as_workbook(ADDIN)
    assert openpyxl.load_workbook(readable).sheetnames == ["greenapi.conf"]
    assert xlwings_conf_rows(readable, "greenapi.conf") == xlwings_conf_rows(BOOK)
    # The custom add-in module reads "<PROJECT_NAME>.conf": that name, and no other, is the add-in's sheet.
    assert re.search(r'^Public Const PROJECT_NAME As String = "greenapi"$', addin["xlwings"], re.M)
    assert 'SheetExists(ThisWorkbook, PROJECT_NAME & ".conf")' in addin["xlwings"]


def caller_book_expression(module: str, platform: dict) -> set[str]:
    """Which workbook xlwings' VBA names to Python as the caller (``--wb=`` on Windows, the workbook part of
    the AppleScript's parameters on a Mac): ThisWorkbook or ActiveWorkbook, read from the module as compiled."""
    code = resolve_conditionals(module, platform)
    if platform is MAC:
        return set(re.findall(r'ParameterString = ParameterString \+ "\|" \+ (\w+)\.Name', code))
    return set(re.findall(r'" --wb=" & """" & (\w+)\.Name', code))


@pytest.mark.parametrize("platform", [WINDOWS, MAC], ids=["windows", "mac"])
def test_the_add_in_names_the_active_workbook_to_python_and_the_book_itself(platform):
    """On a Mac, xlwings looks the caller up among the open workbooks, where Excel never lists an add-in: the
    add-in's RunPython must name the active workbook (xlwings' custom add-in module), the book itself."""
    assert caller_book_expression(built_modules(ADDIN)["xlwings"], platform) == {"ActiveWorkbook"}
    assert caller_book_expression(built_modules(BOOK)["xlwings"], platform) == {"ThisWorkbook"}


# --- no surprises when opened from OneDrive, and messages when Python cannot start ----------------------

@BOTH
def test_xlwings_does_not_put_the_books_folder_on_python_path(path):
    """With ADD_WORKBOOK_TO_PYTHONPATH on (xlwings' default) every RunPython first maps the book's FullName to
    a local folder; for a book on OneDrive or SharePoint that mapping raises when it fails (xlwings
    utils.prepare_sys_path), before any of our code runs. Our code is installed, never beside the book."""
    readable = as_workbook(path) if path == ADDIN else path
    conf = dict(xlwings_conf_rows(readable, "greenapi.conf" if path == ADDIN else "xlwings.conf"))
    assert conf["ADD_WORKBOOK_TO_PYTHONPATH"] is False
    assert 'AddExcelDir = GetConfig("ADD_WORKBOOK_TO_PYTHONPATH", "true")' in built_modules(path)["xlwings"]


def defined_names(path) -> dict[str, str]:
    """name -> the formula text of each workbook-level defined name (workbook.xml, read with ElementTree)."""
    from xml.etree import ElementTree

    with zipfile.ZipFile(path) as package:
        root = ElementTree.fromstring(package.read("xl/workbook.xml"))
    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    return {element.get("name"): element.text for element in root.iter(f"{main}definedName")}


def vba_string_constant(formula: str) -> str:
    """The text of a formula that is one string constant ("..." with doubled quotes inside); else AssertionError,
    because RibbonCallbacks.Message reads exactly that form (RefersTo is "=" and the formula)."""
    assert formula.startswith('"') and formula.endswith('"') and len(formula) >= 2, formula
    inner = formula[1:-1]
    assert '"' not in inner.replace('""', ""), formula
    return inner.replace('""', '"')


@BOTH
@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_vba_messages_are_hidden_names_in_the_books_language(path, language, tmp_path):
    from greenapi_excel.i18n import in_language

    built = path if language == "en" else workbook_build.build(tmp_path / path.name, language=language)
    names = defined_names(built)
    for base, lines in workbook_build.VBA_MESSAGES.items():
        found = [vba_string_constant(names[f"{base}{n}"]) for n in range(1, len(lines) + 1)]
        assert found == [in_language(language, line) for line in lines]
        assert f"{base}{len(lines) + 1}" not in names   # Message stops at the first missing line
        assert all(len(text) <= 255 for text in found)
    assert "Defender" in " ".join(in_language(language, line) for line in workbook_build.VBA_MESSAGES["GreenApiBlocked"])


@BOTH
def test_python_that_windows_will_not_start_gets_the_plain_message(path):
    """Where a security rule stops Excel starting programs, RunPython raises run-time error 70 (Permission
    denied; 1000 "Access is denied" through the UDF server), xlwings #821, #1420: the handler shows our
    message and points to the README; any other failure gets the other message with Excel's own words."""
    callbacks = built_modules(path)["RibbonCallbacks"]
    launch = procedure(callbacks, r"Private Sub Launch\(pythonCommand As String\)")
    run = launch.index("\n    RunPython pythonCommand\n")
    assert launch.index("\n    On Error GoTo Failed\n") < run < launch.index("\nFailed:\n")
    assert re.search(r"^Private Const ERROR_PERMISSION_DENIED As Long = 70$", callbacks, re.M)
    assert re.search(r"^Private Const ERROR_PYTHON_PROCESS As Long = 1000$", callbacks, re.M)
    handler = launch[launch.index("Failed:"):]
    branch = re.search(r"If number = ERROR_PERMISSION_DENIED Or _\n.*ERROR_PYTHON_PROCESS And InStr\(1, description, "
                       r'"Access is denied", vbTextCompare\) > 0\) Then\n(.*?)\n\s*Else\n(.*?)\n\s*End If', handler, re.S)
    assert branch, handler
    assert 'Message("GreenApiBlocked")' in branch.group(1) and 'Message("GreenApiNoStart")' in branch.group(2)
    assert 'Message("GreenApiNoBook")' in launch[:run]
    used = set(re.findall(r'Message\("(\w+)"\)', callbacks))
    assert used == set(workbook_build.VBA_MESSAGES)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "Excel cannot start Python" in readme and "When something goes wrong" in readme


# --- the mark: which files the set-up commands may replace ---------------------------------------------------

@BOTH
def test_every_built_file_carries_the_mark(path):
    from greenapi_excel import provenance

    assert provenance.kind_of(path) == (provenance.ADDIN if path == ADDIN else provenance.WORKBOOK)
    props = openpyxl.load_workbook(as_workbook(path) if path == ADDIN else path).custom_doc_props
    assert {prop.name: prop.value for prop in props} == {
        "GreenApiExcel": "add-in" if path == ADDIN else "workbook"}


def as_workbook(addin: Path):
    """The add-in's package with the workbook content type openpyxl knows (it refuses add-ins), to read its sheets."""
    import io

    out = io.BytesIO()
    with zipfile.ZipFile(addin) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "[Content_Types].xml":
                data = data.replace(b"application/vnd.ms-excel.addin.macroEnabled.main+xml",
                                    b"application/vnd.ms-excel.sheet.macroEnabled.main+xml")
            target.writestr(info, data)
    out.seek(0)
    return out


# --- greenapi-excel workbook PATH: it cannot destroy anything (issue 21) --------------------------------------

def without_mark(path: Path, out: Path) -> Path:
    """A copy of a built file as an earlier version wrote it: no docProps/custom.xml, no mark."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename == "docProps/custom.xml":
                continue
            data = source.read(info)
            if info.filename in ("_rels/.rels", "[Content_Types].xml"):
                data = re.sub(rb"<(Relationship|Override) [^>]*custom[.-]propert[^>]*/>", b"", data)
            target.writestr(info, data)
    return out


def analysts_book(path: Path) -> bytes:
    """A book of the analyst's own with 47 chats (openpyxl; macro-enabled name or not), its bytes."""
    book = openpyxl.Workbook()
    book.active.append(["Chat ID", "Name"])
    for number in range(47):
        book.active.append([f"7900{number:07d}", f"Client {number}"])
    book.save(path)
    return path.read_bytes()


def test_workbook_refuses_a_name_excel_would_not_open(tmp_path):
    for name in ("Book.xlsx", "GreenApi", "GreenApi.xls", "notes.txt"):
        with pytest.raises(WorkbookError, match=r"must end in \.xlsm \(or \.xlam"):
            setup_checks.workbook_target(tmp_path / name)
    assert setup_checks.workbook_target(tmp_path / "Mine.XLSM") == tmp_path / "Mine.XLSM"
    assert list(tmp_path.iterdir()) == []


def test_workbook_refuses_a_folder_that_does_not_exist(tmp_path):
    with pytest.raises(WorkbookError, match="does not exist: create it first"):
        setup_checks.workbook_target(tmp_path / "No such folder" / "GreenApi.xlsm")
    assert list(tmp_path.iterdir()) == []


def test_workbook_never_replaces_a_book_that_is_not_ours_even_with_force(tmp_path):
    for name in ("Customers.xlsm", "Customers.xlam"):
        before = analysts_book(tmp_path / name)
        for force in (False, True):
            with pytest.raises(WorkbookError, match="is not a GreenApi workbook: it is left as it is, also with --force"):
                setup_checks.workbook_target(tmp_path / name, force=force)
        assert (tmp_path / name).read_bytes() == before
    junk = tmp_path / "Broken.xlsm"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(WorkbookError, match="not a GreenApi workbook"):
        setup_checks.workbook_target(junk, force=True)


def test_workbook_replaces_ours_only_with_force_old_ones_included(tmp_path):
    ours = tmp_path / "GreenApi.xlsm"
    ours.write_bytes(BOOK.read_bytes())
    old = without_mark(BOOK, tmp_path / "Old GreenApi.xlsm")
    old_addin = without_mark(ADDIN, tmp_path / "GreenApi.xlam")
    from greenapi_excel import provenance

    assert [provenance.kind_of(p) for p in (ours, old, old_addin)] == [provenance.WORKBOOK, provenance.WORKBOOK,
                                                                        provenance.ADDIN]
    for path in (ours, old, old_addin):
        with pytest.raises(WorkbookError, match=r"exists \(a GreenApi workbook; the chats and results in it would be "
                                                r"lost\): give another name, or add --force"):
            setup_checks.workbook_target(path)
        assert setup_checks.workbook_target(path, force=True) == path


def test_workbook_never_writes_through_a_link(tmp_path):
    target = tmp_path / "Customers.xlsm"
    before = analysts_book(target)
    link = tmp_path / "GreenApi.xlsm"
    link.symlink_to(target)
    for force in (False, True):
        with pytest.raises(WorkbookError, match="is a link to another file: it is left as it is"):
            setup_checks.workbook_target(link, force=force)
    dangling = tmp_path / "Dangling.xlsm"
    dangling.symlink_to(tmp_path / "nowhere.xlsm")
    with pytest.raises(WorkbookError, match="is a link"):
        setup_checks.workbook_target(dangling, force=True)
    (tmp_path / "Folder.xlsm").mkdir()
    with pytest.raises(WorkbookError, match="exists and is no file"):
        setup_checks.workbook_target(tmp_path / "Folder.xlsm", force=True)
    assert target.read_bytes() == before and link.is_symlink()


def test_the_build_replaces_a_link_never_its_target(tmp_path):
    """build() itself (the last line of defence): a link at the path is replaced by a regular file."""
    target = tmp_path / "Customers.xlsm"
    before = analysts_book(target)
    link = tmp_path / "GreenApi.xlsm"
    link.symlink_to(target)
    written = workbook_build.build(link)
    assert written == link and not link.is_symlink() and link.read_bytes() == BOOK.read_bytes()
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".greenapi-")] == []   # no temporary left


def test_workbook_command_refusals_are_one_line_and_force_replaces_our_book(tmp_path):
    from cli_helpers import run_cli

    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENAPI_")}
    env["GREENAPI_LANG"] = "en"
    wrong = run_cli("workbook", tmp_path / "Book.xlsx", env=env)
    assert wrong.returncode == 2 and "must end in .xlsm" in wrong.stderr and "Traceback" not in wrong.stderr
    assert not (tmp_path / "Book.xlsx").exists()
    book = tmp_path / "GreenApi.xlsm"
    first = run_cli("workbook", book, env=env)
    assert first.returncode == 0, first.stderr
    pasted = openpyxl.load_workbook(book, keep_vba=True)
    pasted["Chats"]["A2"] = "4915111111111"
    pasted.save(book)
    with_chats = book.read_bytes()
    again = run_cli("workbook", book, env=env)
    assert again.returncode == 2 and "add --force to replace it" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1 and book.read_bytes() == with_chats
    forced = run_cli("workbook", book, "--force", env=env)
    assert forced.returncode == 0, forced.stderr
    assert openpyxl.load_workbook(book)["Chats"]["A2"].value != "4915111111111"   # a fresh book, as asked


def test_the_mark_survives_another_office_saving_the_book(tmp_path):
    """The mark is a custom document property, which office suites keep on save: LibreOffice Calc (the
    independent writer we can run here) saves GreenApi.xlsm with the analyst's edits, and it is still ours."""
    from test_books import SOFFICE, libreoffice

    if SOFFICE is None:
        pytest.fail("LibreOffice (soffice) is missing: apt-get install libreoffice-calc-nogui")
    source = tmp_path / "GreenApi.xlsm"
    source.write_bytes(BOOK.read_bytes())
    libreoffice(["--convert-to", "xlsm:Calc MS Excel 2007 VBA XML", "--outdir", str(tmp_path / "saved"),
                 str(source)], tmp_path)
    from greenapi_excel import provenance

    saved = tmp_path / "saved" / "GreenApi.xlsm"
    assert provenance.kind_of(saved) == provenance.WORKBOOK
    assert provenance.kind_of(without_mark(saved, tmp_path / "unmarked.xlsm")) == provenance.WORKBOOK   # its ribbon

"""GreenApi.xlsm: the committed file is what `python -m workbook.build` makes, and what is in it is right.

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

from greenapi_excel.errors import WorkbookError
from workbook import build as workbook_build

REPO = Path(__file__).resolve().parent.parent
BOOK = REPO / "GreenApi.xlsm"
SCHEMAS = REPO / ".." / "shared" / "schemas"
XLWINGS_PACKAGE = Path(xlwings.__file__).resolve().parent
CUSTOMUI_NS = "{http://schemas.microsoft.com/office/2009/07/customui}"
BUTTONS = {
    "Archive chats": "archive_chats", "Unarchive chats": "unarchive_chats", "Dry run": "dry_run",
    "Load chats": "load_chats", "Undo last run": "undo_last_run",
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
    done = subprocess.run([sys.executable, "-m", "workbook.build", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == BOOK.read_bytes(), "GreenApi.xlsm is stale: run python -m workbook.build"


def test_build_error_is_one_line_not_a_traceback(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = subprocess.run([sys.executable, "-m", "workbook.build", str(blocker / "GreenApi.xlsm")], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("error: cannot write") and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_vba_text_outside_code_page_1252_fails_the_build():
    with pytest.raises(WorkbookError, match=r"RibbonCallbacks, line 2: 'П' is not in code page 1252"):
        workbook_build.check_cp1252("RibbonCallbacks", "Sub A()\r\n    MsgBox \"Привет\"\r\nEnd Sub\r\n")
    workbook_build.check_cp1252("RibbonCallbacks", "Sub A()\r\n    MsgBox \"Grüße\"\r\nEnd Sub\r\n")


def test_build_for_this_python_points_xlwings_conf_at_it(tmp_path):
    out = workbook_build.build(tmp_path / "mine.xlsm", interpreter=sys.executable)
    conf = {row[0]: row[1] for row in openpyxl.load_workbook(out)["xlwings.conf"].iter_rows(
        min_row=1, max_row=9, max_col=2, values_only=True)}
    key = "Interpreter_Mac" if sys.platform == "darwin" else "Interpreter_Win"
    assert conf[key] == sys.executable
    assert conf["PYTHONPATH"] == str(REPO)
    assert built_modules(out) == built_modules(BOOK)   # same VBA project, only the settings differ


def test_greenapi_excel_workbook_command_writes_a_book_for_this_python(tmp_path):
    out = tmp_path / "Excel" / "GreenApi.xlsm"
    out.parent.mkdir()
    proc = subprocess.run([sys.executable, "-m", "greenapi_excel", "workbook", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert str(out) in proc.stdout and sys.executable in proc.stdout
    conf = {row[0]: row[1] for row in openpyxl.load_workbook(out)["xlwings.conf"].iter_rows(
        min_row=1, max_row=9, max_col=2, values_only=True)}
    assert sys.executable in (conf["Interpreter_Win"], conf["Interpreter_Mac"])
    assert built_modules(out) == built_modules(BOOK)


# --- the package --------------------------------------------------------------------------------

def test_package_is_a_macro_enabled_workbook_with_a_ribbon():
    with zipfile.ZipFile(BOOK) as package:
        types = package.read("[Content_Types].xml").decode()
        package_rels = package.read("_rels/.rels").decode()
        book_rels = package.read("xl/_rels/workbook.xml.rels").decode()
        assert {"xl/vbaProject.bin", "customUI/customUI14.xml"} <= set(package.namelist())
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in package.infolist())
    assert "application/vnd.ms-excel.sheet.macroEnabled.main+xml" in types
    assert 'Extension="bin" ContentType="application/vnd.ms-office.vbaProject"' in types
    assert ('Type="http://schemas.microsoft.com/office/2007/relationships/ui/extensibility" '
            'Target="customUI/customUI14.xml"') in package_rels
    assert 'Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" Target="vbaProject.bin"' \
        in book_rels


def ribbon_xml() -> bytes:
    with zipfile.ZipFile(BOOK) as package:
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


def test_ribbon_is_valid_customui14_with_its_buttons():
    schema = customui14_schema()
    schema.validate(ribbon_xml().decode("utf-8"))
    assert ribbon_xml() == workbook_build.RIBBON_XML.read_bytes()
    tree = xmlschema.XMLResource(ribbon_xml().decode("utf-8")).root
    tabs = [tab.get("label") for tab in tree.iter(f"{CUSTOMUI_NS}tab")]
    labels = [button.get("label") for button in tree.iter(f"{CUSTOMUI_NS}button")]
    assert tabs == ["GreenApi"]
    assert labels == list(BUTTONS)


def test_every_button_calls_its_vba_sub_which_runs_addin_literally():
    tree = xmlschema.XMLResource(ribbon_xml().decode("utf-8")).root
    callbacks = built_modules()["RibbonCallbacks"]
    for button in tree.iter(f"{CUSTOMUI_NS}button"):
        sub = button.get("onAction")
        body = re.search(rf"^Sub {sub}\(control As IRibbonControl\)\n(.*?)^End Sub$", callbacks, re.M | re.S)
        assert body, f"no Sub {sub}(control As IRibbonControl) for {button.get('label')!r}"
        assert body.group(1).strip() == f'RunPython "import addin; addin.{BUTTONS[button.get("label")]}()"'


def test_every_runpython_target_is_a_function_of_addin():
    calls = set(re.findall(r'RunPython "import addin; addin\.(\w+)\(\)"', built_modules()["RibbonCallbacks"]))
    assert calls == set(BUTTONS.values())
    addin = ast.parse((REPO / "addin.py").read_text(encoding="utf-8"))
    functions = {node.name for node in addin.body if isinstance(node, ast.FunctionDef)}
    assert calls <= functions, f"addin.py lacks {sorted(calls - functions)}"


# --- the VBA project ----------------------------------------------------------------------------

def test_oletools_reads_back_every_module_with_its_source_text():
    modules = built_modules()
    assert list(modules) == ["ThisWorkbook", "Sheet1", "xlwings", "Dictionary", "RibbonCallbacks", "xlwings_udfs"]
    standalone = (XLWINGS_PACKAGE / "xlwings.bas").read_text(encoding="cp1252")
    assert modules["xlwings"] == lf(standalone)
    dictionary = (XLWINGS_PACKAGE / "addin" / "Dictionary.cls").read_text(encoding="cp1252")
    assert without_class_header(modules["Dictionary"]) == without_class_header(dictionary)
    own = (REPO / "workbook" / "vba" / "RibbonCallbacks.bas").read_text(encoding="utf-8")
    assert modules["RibbonCallbacks"] == lf(own)


def test_xlwings_module_is_of_the_pinned_version():
    pins = {path: re.search(r'"?xlwings==([\w.]+)"?', (REPO / path).read_text()).group(1)
            for path in ("requirements.txt", "pyproject.toml")}
    constant = re.search(r'XLWINGS_VERSION As String = "([^"]+)"', built_modules()["xlwings"]).group(1)
    assert set(pins.values()) == {constant}, pins


def test_udf_wrappers_are_what_xlwings_generates_for_udfs_now():
    assert built_modules()["xlwings_udfs"] == lf(workbook_build.udf_wrapper_module("udfs"))
    wrappers = built_modules()["xlwings_udfs"]
    for name in ("ARCHIVECHAT", "UNARCHIVECHAT", "CHATSTATUS"):
        assert f'{name} = XLPy.CallUDF("udfs", "{name}", Array(chat_id), ThisWorkbook, Application.Caller)' \
            in wrappers
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


@pytest.mark.parametrize("platform", [WINDOWS, MAC], ids=["windows", "mac"])
def test_every_module_parses_under_the_vba_grammar(platform):
    errors = {name: vba_syntax_errors(code, platform)[:3] for name, code in built_modules().items()}
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
    assert settings["chat column"] == "A"
    assert "region" in settings
    assert settings["Token (moved to the keychain by the Settings button)"] is None
    names = {name: book.defined_names[name].attr_text for name in ("apiUrl", "idInstance", "region", "chatColumn")}
    assert names == {"apiUrl": "'Settings'!$B$2", "idInstance": "'Settings'!$B$3",
                     "region": "'Settings'!$B$4", "chatColumn": "'Settings'!$B$5"}

    # xlwings reads A1 down to the first empty cell, upper-casing the keys.
    conf_sheet = book["xlwings.conf"]
    keys = []
    for (key,) in conf_sheet.iter_rows(min_col=1, max_col=1, values_only=True):
        if key is None:
            break
        keys.append(key)
    conf = {row[0]: row[1] for row in conf_sheet.iter_rows(max_row=len(keys), max_col=2, values_only=True)}
    assert conf["UDF Modules"] == "udfs"
    assert conf["Interpreter_Win"] is None and conf["Interpreter_Mac"] is None   # xlwings' default
    assert {"PYTHONPATH", "Use UDF Server", "Show Console"} <= set(conf)

"""GreenApi-Lite.xlsx: the code in its web-extension part as Lite stores it, buttons tied to the scripts,
sheets that independent readers (LibreOffice, openpyxl) open, and an engine that loads in real Pyodide from
nothing but what the book carries."""

from __future__ import annotations

import ast
import io
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import openpyxl
import pytest

from cli_helpers import cli_command
from greenapi_excel.layout import read_settings_rows
from greenapi_excel.workbook import lite

CT_NS = "{http://schemas.openxmlformats.org/package/2006/content-types}"
RELS_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
XDR = "{http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing}"
A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lite-books")
    return {language: lite.build_lite(folder / f"GreenApi-Lite-{language}.xlsx", language=language)
            for language in ("en", "ru")}


def _button_arguments(main_py: str) -> dict[str, str]:
    """script name -> its @script(button=...) argument, read from the source as Lite's user sees it."""
    found = {}
    for node in ast.walk(ast.parse(main_py)):
        if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef):
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", "") == "script":
                    for keyword in decorator.keywords:
                        if keyword.arg == "button":
                            found[node.name] = ast.literal_eval(keyword.value)
    return found


def test_the_web_extension_part_holds_the_code_as_lite_stores_it(books):
    with zipfile.ZipFile(books["en"]) as archive:
        raw = archive.read("xl/webextensions/webextension1.xml")
    root = ElementTree.fromstring(raw)
    reference = root.find(f"{{{lite.WE_NS}}}reference")
    assert (reference.get("id"), reference.get("storeType")) == ("wa200008175", "OMEX")
    values = {p.get("name"): p.get("value") for p in root.iter(f"{{{lite.WE_NS}}}property")}
    assert {"main.py", "requirements.txt", "pyodideVersion", "addinVersion"} <= set(values)
    for name in ("main.py", "requirements.txt", "pyodideVersion", "addinVersion"):
        assert values[name].startswith('"') and isinstance(json.loads(values[name]), str)   # a JSON string
    assert b'value="&quot;' in raw and b"\n" not in raw.split(b"?>\n", 1)[1]   # XML-escaped, one line
    properties = lite.read_lite_properties(books["en"])
    assert properties["main.py"] == lite.main_py("en")
    assert properties["pyodideVersion"] == lite.PYODIDE_VERSION
    requirements = properties["requirements.txt"].splitlines()
    assert requirements[0] == "xlwings==0.37.8"             # the desktop's pin (pyproject)
    assert requirements[1].startswith("phonenumbers<10,>=8.13")   # as the package metadata spells it
    compile(properties["main.py"], "main.py", "exec")


def test_each_script_has_a_named_button_whose_link_selects_its_cell(books):
    for language, sheet in (("en", "Chats"), ("ru", "Чаты")):
        with zipfile.ZipFile(books[language]) as archive:
            drawing = ElementTree.fromstring(archive.read("xl/drawings/drawing1.xml"))
            links = {rel.get("Id"): rel.get("Target") for rel in
                     ElementTree.fromstring(archive.read("xl/drawings/_rels/drawing1.xml.rels"))}
            sheet_rels = ElementTree.fromstring(archive.read("xl/worksheets/_rels/sheet1.xml.rels"))
            sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
        shapes = {}
        for shape in drawing.iter(f"{XDR}sp"):
            properties = shape.find(f"{XDR}nvSpPr/{XDR}cNvPr")
            label = "".join(t.text for t in shape.iter(f"{A}t"))
            shapes[properties.get("name")] = (links[properties.find(f"{A}hlinkClick").get(f"{R}id")], label)
        buttons = _button_arguments(lite.read_lite_properties(books[language])["main.py"])
        assert len(buttons) == len(lite.BUTTONS) == len(shapes)
        for script, argument in buttons.items():
            shape, target = re.fullmatch(r"\[([^\]]+)\](.+)", argument).groups()
            assert target.startswith(f"{sheet}!")
            assert shapes[shape][0] == f"#{target}"
        assert "r:id=\"rIdButtons\"" in sheet_xml and [r.get("Target") for r in sheet_rels] == ["../drawings/drawing1.xml"]
        labels = [label for _, label in shapes.values()]
        assert ("Archive chats" in labels) == (language == "en") and ("Архивировать чаты" in labels) == (language == "ru")


def test_every_part_is_well_formed_declared_and_every_link_resolves(books):
    for book in books.values():
        with zipfile.ZipFile(book) as archive:
            names = set(archive.namelist())
            types = ElementTree.fromstring(archive.read("[Content_Types].xml"))
            defaults = {d.get("Extension") for d in types.iter(f"{CT_NS}Default")}
            overrides = {o.get("PartName").lstrip("/") for o in types.iter(f"{CT_NS}Override")}
            for name in names:
                ElementTree.fromstring(archive.read(name))          # every part of this book is XML
                assert name in overrides or name.rsplit(".", 1)[-1] in defaults, name
            assert overrides <= names
            for rels in (n for n in names if n.endswith(".rels")):
                base = posixpath.dirname(posixpath.dirname(rels))
                for relation in ElementTree.fromstring(archive.read(rels)).iter(f"{RELS_NS}Relationship"):
                    target = relation.get("Target")
                    if relation.get("TargetMode") == "External" or target.startswith("#"):
                        continue
                    assert posixpath.normpath(posixpath.join(base, target)).lstrip("/") in names, (rels, target)


def test_openpyxl_reads_the_sheets_and_the_settings_hold_no_token(books):
    for language, (chats, settings, journal) in (("en", ("Chats", "Settings", "GreenApi journal")),
                                                 ("ru", ("Чаты", "Настройки", "Журнал GreenApi"))):
        book = openpyxl.load_workbook(books[language])
        assert book.sheetnames == [chats, settings, journal]
        assert [book[name].sheet_state for name in book.sheetnames] == ["visible", "visible", "hidden"]
        assert book[journal]["A2"].value == "calls" and book[journal]["A3"].value is None   # no call yet
        assert "GREENAPI_API_TOKEN_INSTANCE" not in str(book[journal]["A1"].value)
        assert book[chats]["F12"].value and book[chats]["F11"].value is None and book[chats]["F13"].value is None
        assert book[chats]["A2"].value == "79001234567" and book[chats]["A2"].data_type == "s"
        rows = read_settings_rows(list(book[settings].iter_rows(max_col=2, values_only=True)))
        assert rows.values["language"] == language
        assert rows.values["apiurl"] == "http://127.0.0.1:7700"
        assert rows.token_row == 6 and rows.token is None        # the engine sees the token's row as such
        token_rows = [row for row in book[settings].iter_rows(values_only=True)
                      if row[0] and str(row[0]).startswith(("Token", "Токен"))]
        assert len(token_rows) == 1 and token_rows[0][1] is None and "GREENAPI_API_TOKEN_INSTANCE" in token_rows[0][2]
        how_to = [row[0] for row in book[chats].iter_rows(min_col=7, max_col=7, values_only=True) if row[0]]
        assert any("GREENAPI_API_TOKEN_INSTANCE" in line for line in how_to)
        assert "xlwings.conf" not in book.sheetnames and not book.vba_archive


def test_libreoffice_opens_the_book(books, tmp_path):
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.fail("LibreOffice (soffice) is missing: apt-get install libreoffice-calc-nogui (.ci/run does)")
    for language, header in (("en", "Chat ID,Status,Details,Updated"), ("ru", "ID чата,Статус,Подробности,Обновлено")):
        out = tmp_path / language
        subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp_path}/profile", "--convert-to",
                        "csv:Text - txt - csv (StarCalc):44,34,76", "--outdir", str(out), str(books[language])],
                       check=True, capture_output=True, timeout=180)
        [csv] = out.glob("*.csv")
        lines = csv.read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith(header) and lines[1].startswith("79001234567,")


def test_a_rebuild_gives_the_same_bytes(tmp_path):
    assert lite.lite_workbook_bytes("ru") == lite.lite_workbook_bytes("ru")


def test_the_cli_writes_greenapi_lite_xlsx(tmp_path):
    done = subprocess.run(cli_command("workbook", "--lite", "--lang", "ru"), cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    assert done.returncode == 0, done.stderr
    assert "GreenApi-Lite.xlsx" in done.stdout and "xlwings Lite" in done.stdout
    assert lite.read_lite_properties(tmp_path / "GreenApi-Lite.xlsx")["main.py"] == lite.main_py("ru")


@pytest.mark.parametrize("language, says", [("en", "The token is not set"), ("ru", "Токен не задан")])
def test_the_engine_loads_in_pyodide_from_what_the_book_carries(lite_pyodide, books, language, says):
    """Nothing but the book: its main.py unpacks the engine it carries and a button answers in the book's language."""
    main_py = lite.read_lite_properties(books[language])["main.py"]
    sheet = "Chats" if language == "en" else "Чаты"
    result = lite_pyodide.run(f'''
import os, sys
os.environ.pop("GREENAPI_API_TOKEN_INSTANCE", None)
from lite_addin import Excel
excel = Excel({{{sheet!r}: {{"A1": "Chat ID"}}}})
excel.start({json.dumps(main_py)})
await excel.click("btnCheckConnection")
import greenapi_excel, greenapi_excel.lite.transport, greenapi_excel.chat_ids
[excel.alerts, greenapi_excel.__file__, greenapi_excel.lite.transport.__file__, excel.selection]
''')
    alerts, engine_file, transport_file, selection = result
    assert len(alerts) == 1 and alerts[0]["prompt"].startswith(says) and alerts[0]["mode"] == "critical"
    assert engine_file.startswith("/tmp/greenapi-excel-") and transport_file.startswith(engine_file.rsplit("/", 1)[0])
    assert selection == [sheet, "F2"]


def test_the_cli_replaces_only_its_own_lite_book_and_only_with_force(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}

    def workbook(*arguments):
        return subprocess.run(cli_command("workbook", *arguments), cwd=tmp_path, capture_output=True, text=True,
                              timeout=120, env=env)

    other = tmp_path / "Budget.xlsx"
    openpyxl.Workbook().save(other)
    before = other.read_bytes()
    for arguments in (("Budget.xlsx", "--lite"), ("Budget.xlsx", "--lite", "--force")):
        refused = workbook(*arguments)
        assert refused.returncode != 0 and "not a GreenApi workbook" in refused.stderr
    assert other.read_bytes() == before
    assert "must end in .xlsx" in workbook("GreenApi-Lite.xlsm", "--lite").stderr
    assert "does not exist" in workbook(str(tmp_path / "missing" / "GreenApi-Lite.xlsx"), "--lite").stderr
    assert workbook("--lite").returncode == 0
    again = workbook("--lite")
    assert again.returncode != 0 and "--force" in again.stderr
    assert workbook("--lite", "--force").returncode == 0
    (tmp_path / "link.xlsx").symlink_to(tmp_path / "GreenApi-Lite.xlsx")
    assert "is a link" in workbook("link.xlsx", "--lite", "--force").stderr
    from greenapi_excel import provenance
    assert provenance.kind_of(tmp_path / "GreenApi-Lite.xlsx") == provenance.LITE


def _engine_of(main_py: str) -> dict[str, bytes]:
    """The files of the engine a main.py carries."""
    import base64
    import io

    namespace: dict = {}
    exec(compile(main_py[main_py.index("_ENGINE_SHA256 = "):], "main.py", "exec"), namespace)
    with zipfile.ZipFile(io.BytesIO(base64.b64decode("".join(namespace["_ENGINE"])))) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _catalogue(data: bytes) -> dict:
    import gettext
    import io

    return dict(gettext.GNUTranslations(io.BytesIO(data))._catalog)


def test_the_committed_lite_book_carries_this_engine():
    """GreenApi-Lite.xlsx at the top of the download is what the build makes now: the same parts, the same main.py
    around the engine, and the engine's modules and catalogues those of this checkout (a catalogue compared by its
    messages: another Babel may lay the same .mo out differently)."""
    committed = Path(__file__).parent.parent / "GreenApi-Lite.xlsx"
    stale = "GreenApi-Lite.xlsx is stale: run python -m greenapi_excel.workbook.build"
    rebuilt = lite.lite_workbook_bytes("en")
    with zipfile.ZipFile(committed) as old, zipfile.ZipFile(io.BytesIO(rebuilt)) as new:
        assert old.namelist() == new.namelist(), stale
        for name in old.namelist():
            if name != lite.WEBEXTENSION_PART:
                assert old.read(name) == new.read(name), (stale, name)
    was, now = lite.read_lite_properties(committed), lite.read_lite_properties(rebuilt)
    assert {k: v for k, v in was.items() if k != "main.py"} == {k: v for k, v in now.items() if k != "main.py"}, stale
    marker = "_ENGINE_SHA256 = "
    assert was["main.py"][:was["main.py"].index(marker)] == now["main.py"][:now["main.py"].index(marker)], stale
    old_engine, new_engine = _engine_of(was["main.py"]), _engine_of(now["main.py"])
    assert sorted(old_engine) == sorted(new_engine), stale
    for name, data in new_engine.items():
        if name.endswith(".mo"):
            assert _catalogue(old_engine[name]) == _catalogue(data), (stale, name)
        else:
            assert old_engine[name] == data, (stale, name)

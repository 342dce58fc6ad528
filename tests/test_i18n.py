"""English and Russian: the catalogue, the choice of language, the Russian workbook, and re-runs that
mix languages (an English book re-run in Russian and the other way round) against the sandbox."""

from __future__ import annotations

import re
import string
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from oletools.olevba import VBA_Parser

import catalogue
from cli_helpers import run_cli, sandbox_env
from greenapi_excel import methods, i18n, layout, statuses as st
from greenapi_excel.i18n import in_language

ROOT = Path(__file__).resolve().parents[1]
CYRILLIC = re.compile("[а-яА-ЯёЁ]")


# --- the catalogue ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def catalog():
    return catalogue.read_catalogue()


@pytest.fixture(scope="module")
def marked():
    return catalogue.extracted()


def _strings(message) -> list[str]:
    return list(message.string) if isinstance(message.string, (list, tuple)) else [message.string]


def _key(message):
    return tuple(message.id) if isinstance(message.id, (list, tuple)) else message.id


def test_the_extractor_sees_the_kinds_of_text_an_analyst_reads(marked):
    # Not an empty or partial scan: status words, --help, messages, plurals, ribbon and sheet texts are all in.
    singles = {key for key in marked if isinstance(key, str)}
    assert set(st.ALL) <= singles and set(st.RESULT_HEADERS) <= singles
    assert "no progress bar" in singles                                     # a --help text
    assert "greenapi-excel: error: {message}" in singles                    # a message
    assert ("{n} call in {seconds:.1f} s ({rate:.1f}/s)", "{n} calls in {seconds:.1f} s ({rate:.1f}/s)") in marked
    assert "Archive chats" in singles and "How to" in singles               # the ribbon, the sheets


def test_every_marked_text_has_a_russian_entry_not_empty_not_fuzzy_not_english(catalog, marked):
    problems = []
    for key, places in marked.items():
        message = catalogue.lookup(catalog, key)
        if message is None:
            problems.append(f"missing: {key!r} ({places[0]})")
        elif message.fuzzy:
            problems.append(f"fuzzy: {key!r}")
        else:
            strings = _strings(message)
            english, _context = catalogue.split(key)
            if isinstance(english, tuple) and len(strings) != 3:
                problems.append(f"not three plural forms: {key!r}")
            for text in strings:
                if not text.strip():
                    problems.append(f"empty: {key!r}")
                elif not CYRILLIC.search(text) or text in (english if isinstance(english, tuple) else (english,)):
                    problems.append(f"left in English: {key!r} -> {text!r}")
    assert not problems, "\n".join(problems)


def test_no_translation_is_kept_for_text_the_code_no_longer_marks(catalog, marked):
    assert [m.id for m in catalog if m.id and catalogue.lookup(catalog, m.id if m.context is None else
                                                               f"{m.context}{catalogue.CONTEXT}{m.id}") is None] == []
    used = set()
    for key in marked:
        message, context = catalogue.split(key)
        used.add((message[0] if isinstance(message, tuple) else message, context))
    assert [m.id for m in catalog if m.id and ((m.id[0] if isinstance(m.id, (list, tuple)) else m.id),
                                               m.context) not in used] == []


def _fields(text: str) -> list[str]:
    braces = sorted(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)
    percents = sorted(re.findall(r"%(?:\(\w+\))?[srd]", text))
    return braces + percents


def test_every_translation_keeps_the_placeholders_of_its_english(catalog):
    for message in catalog:
        if not message.id:
            continue
        english = list(message.id) if isinstance(message.id, (list, tuple)) else [message.id]
        for text in _strings(message):
            assert _fields(text) == _fields(english[-1]), (message.id, text)


def test_the_plural_rule_is_russian_and_the_forms_are_right():
    assert catalogue.PLURAL_FORMS_RU in catalogue.PO.read_text(encoding="utf-8")
    with i18n.using("ru"):
        chosen = {n: i18n.ngettext("instance {instance}: {n} chat chosen", "instance {instance}: {n} chats chosen",
                                   n).format(instance=1101, n=n) for n in (1, 2, 5, 11, 21, 22)}
    assert chosen == {
        1: "инстанс 1101: выбран 1 чат", 2: "инстанс 1101: выбрано 2 чата", 5: "инстанс 1101: выбрано 5 чатов",
        11: "инстанс 1101: выбрано 11 чатов", 21: "инстанс 1101: выбран 21 чат", 22: "инстанс 1101: выбрано 22 чата",
    }
    with i18n.using("ru"):
        calls = [i18n.ngettext("{n} call in {seconds:.1f} s ({rate:.1f}/s)",
                               "{n} calls in {seconds:.1f} s ({rate:.1f}/s)", n) for n in (1, 2, 5, 11, 21, 22)]
    assert [c.split(" ", 2)[1] for c in calls] == ["запрос", "запроса", "запросов", "запросов", "запрос", "запроса"]


def test_the_installed_catalogue_is_compiled_from_the_po(catalog):
    # A stale .mo (the .po changed, no reinstall) would show old texts: ./run reinstalls when a .po is newer.
    compiled = i18n.translations("ru")
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, (list, tuple)):
            assert compiled.ngettext(message.id[0], message.id[1], 5) == message.string[2], message.id
        elif message.context:
            assert compiled.pgettext(message.context, message.id) == message.string, message.id
        else:
            assert compiled.gettext(message.id) == message.string, message.id


# --- status words: one list, both languages ------------------------------------------------------

def test_every_status_word_has_its_own_russian_spelling_and_none_starts_another():
    spellings = [(spelling, word) for word in st.ALL for spelling in i18n.spellings(word)]
    assert len(spellings) == 2 * len(st.ALL)
    for spelling, word in spellings:
        assert st.canonical(spelling) == word
        others = [s for s, w in spellings if w != word and s.startswith(spelling)]
        assert not others, (spelling, others)   # a status cell names one word, whatever follows it
    with i18n.using("ru"):
        assert st.localised("Archived") == "Чат архивирован"
        assert st.localised("Failed: timed out") == "Ошибка: timed out"
        assert [st.canonical(st.localised(word)) for word in st.ALL] == list(st.ALL)


@pytest.mark.parametrize("method", sorted(methods.TABLE))
def test_a_done_status_in_either_language_counts_as_done(method):
    for word in methods.of(method).done_words:
        for language in i18n.LANGUAGES:
            text = in_language(language, word) + " (2026-11-25 14:02)"
            assert methods.is_done(text, method) and st.is_status_text(text)
    assert not methods.is_done(in_language("ru", st.FAILED), method)
    assert not methods.is_done(in_language("ru", st.NO_INCOMING), method)


def test_result_headers_in_either_language_are_ours_and_stay_as_they_are():
    russian = [in_language("ru", h) for h in st.RESULT_HEADERS]
    assert russian == ["Статус", "Подробности", "Обновлено"]
    values = {3: ["Чат архивирован", "Уже в архиве"], 4: ["done"], 5: []}
    placement = layout.place_results(["Name", "ID чата", *russian], 2, values)
    assert placement.status_column == 3 and placement.reuses_earlier
    with i18n.using("en"):
        assert st.result_headers(russian) == russian
        assert st.result_headers([None, None, None]) == ["Status", "Details", "Updated"]
    with i18n.using("ru"):
        assert st.result_headers(["Status", "Details", "Updated"]) == ["Status", "Details", "Updated"]
        assert st.result_headers(["Notes", None, None]) == russian


def _readme_status_words(path: Path) -> list[str]:
    """The first column of the README's status table, split at ' / ', in order."""
    text = path.read_text(encoding="utf-8")
    heading = "## What the statuses mean" if path.name == "README.md" else "## Что значат статусы"
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    words = []
    for line in section.splitlines():
        if line.startswith("| `"):
            words += re.findall(r"`([^`]+)`", line.split("|")[1])
    return words


@pytest.mark.parametrize("readme,language", [("README.md", "en"), ("README.ru.md", "ru")])
def test_each_readme_lists_every_status_word_in_its_language(readme, language):
    assert _readme_status_words(ROOT / readme) == [in_language(language, word) for word in st.ALL]


def test_the_readmes_link_to_each_other():
    english = (ROOT / "README.md").read_text(encoding="utf-8")
    russian = (ROOT / "README.ru.md").read_text(encoding="utf-8")
    assert "(README.ru.md)" in "\n".join(english.splitlines()[:5])
    assert "(README.md)" in russian


# --- the Settings sheet in either language --------------------------------------------------------

def test_russian_settings_labels_give_the_engine_its_keys_and_the_token_row_stays_apart():
    rows = [("Параметр", "Значение"), ("apiUrl", "https://1101.api.green-api.com"), ("idInstance", "1101000001"),
            ("Регион", "RU"), ("Столбец с чатами", "B"), ("Токен (кнопка «Настройки / токен» переносит ...)", "secret"),
            ("Язык", "ru")]
    found = layout.read_settings_rows(rows)
    assert found.values["region"] == "RU" and found.values["chat column"] == "B"
    assert layout.settings_language(found.values) == "ru"
    assert found.token_row == 6 and found.token == "secret"
    assert "secret" not in found.values.values()
    assert layout.is_settings_sheet("Настройки") and layout.is_settings_sheet(" settings ")
    assert not layout.is_settings_sheet("Chats")


# --- choosing the language --------------------------------------------------------------------------

@pytest.mark.parametrize("environ,expected", [
    ({}, "en"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({"LANG": "ru_RU.UTF-8"}, "ru"),
    ({"LANG": "en_US.UTF-8", "LC_ALL": "ru_RU.UTF-8"}, "ru"),          # LC_ALL outranks LANG, as in gettext
    ({"LANG": "ru_RU.UTF-8", "LC_MESSAGES": "en_GB.UTF-8"}, "en"),
    ({"LANGUAGE": "ru:en", "LANG": "en_US.UTF-8"}, "ru"),
    ({"LANG": "de_DE.UTF-8"}, "en"),                                  # a language we do not ship: English
    ({"GREENAPI_LANG": "ru", "LANG": "en_US.UTF-8"}, "ru"),
    ({"GREENAPI_LANG": "en", "LANG": "ru_RU.UTF-8"}, "en"),
])
def test_language_comes_from_greenapi_lang_then_the_locale_then_english(environ, expected):
    assert i18n.choose(None, environ) == expected
    assert i18n.choose("ru", environ) == "ru" and i18n.choose("en", environ) == "en"   # --lang outranks all


def _help(env_extra: dict, *args) -> str:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GREENAPI_", "LC_", "LANG"))}
    env.update(env_extra)
    proc = subprocess.run([sys.executable, "-m", "greenapi_excel", *args, "--help"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_help_follows_the_flag_the_environment_and_the_locale():
    assert "показать эту справку и выйти" in _help({"LANG": "ru_RU.UTF-8"})
    assert "не показывать индикатор выполнения" in _help({"GREENAPI_LANG": "ru"}, "archive")
    english = _help({"GREENAPI_LANG": "ru"}, "archive", "--lang", "en")
    assert "no progress bar" in english and not CYRILLIC.search(english)
    assert not CYRILLIC.search(_help({"LANG": "C.UTF-8"}))


# --- the Russian workbook ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def russian_book(tmp_path_factory) -> Path:
    """``greenapi-excel workbook PATH --lang ru``, as a user runs it."""
    out = tmp_path_factory.mktemp("ru") / "GreenApi.xlsm"
    proc = subprocess.run([sys.executable, "-m", "greenapi_excel", "workbook", str(out), "--lang", "ru"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "Книга" in proc.stdout and str(out) in proc.stdout
    return out


def test_the_russian_ribbon_is_valid_customui14_with_the_same_ids_and_russian_labels(russian_book):
    import xmlschema
    from test_workbook import CUSTOMUI_NS, customui14_schema

    with zipfile.ZipFile(russian_book) as package:
        russian = package.read("customUI/customUI14.xml").decode("utf-8")
    with zipfile.ZipFile(ROOT / "GreenApi.xlsm") as package:
        english = package.read("customUI/customUI14.xml").decode("utf-8")
    customui14_schema().validate(russian)

    def controls(text):
        root = xmlschema.XMLResource(text).root
        return [(e.tag, e.get("id"), e.get("onAction"), e.get("imageMso"), e.get("label"), e.get("screentip"),
                 e.get("supertip")) for e in root.iter() if e.get("id")]

    ru, en = controls(russian), controls(english)
    assert [c[:4] for c in ru] == [c[:4] for c in en]      # ids, callbacks and icons: what the VBA relies on
    labels = {c[1]: c[4] for c in ru}
    assert labels["GreenApiTab"] == "GreenApi"
    assert labels["ArchiveChatsButton"] == "Архивировать чаты"
    for tag, control_id, *_, label, screentip, supertip in ru:
        if control_id != "GreenApiTab":
            assert all(CYRILLIC.search(t) for t in (label, screentip, supertip) if t is not None), control_id
    assert any(tag == f"{CUSTOMUI_NS}button" for tag, *_ in ru)


def test_the_russian_sheets_carry_russian_texts_and_the_python_side_reads_them(russian_book, tmp_path):
    book = openpyxl.load_workbook(russian_book, keep_vba=True)
    assert book.sheetnames == ["Чаты", "Настройки", "xlwings.conf"]
    chats = book["Чаты"]
    assert [c.value for c in chats[1][:4]] == ["ID чата", "Статус", "Подробности", "Обновлено"]
    assert chats["F1"].value == "Как пользоваться" and CYRILLIC.search(chats["F2"].value)
    labels = [row[0] for row in book["Настройки"].iter_rows(min_row=1, max_col=1, values_only=True) if row[0]]
    assert labels[:1] == ["Параметр"] and "Регион" in labels and "Язык" in labels
    assert book.defined_names["region"].attr_text == "'Настройки'!$B$4"

    from greenapi_excel.sheets import SheetFile

    book["Настройки"]["B4"], book["Настройки"]["B5"] = "RU", "A"     # typed beside Регион, Столбец с чатами
    book.save(tmp_path / "filled.xlsm")
    sheet = SheetFile.open(tmp_path / "filled.xlsm")
    assert sheet.settings["language"] == "ru" and sheet.settings["apiurl"].startswith("http")
    assert sheet.settings["region"] == "RU" and sheet.settings["chat column"] == "A"


def test_the_russian_book_has_the_english_books_vba_every_byte_in_code_page_1252(russian_book):
    def vba(path):
        with zipfile.ZipFile(path) as package:
            return package.read("xl/vbaProject.bin")

    assert vba(russian_book) == vba(ROOT / "GreenApi.xlsm")
    parser = VBA_Parser(str(russian_book))
    try:
        modules = {name: code for _, _, name, code in parser.extract_macros()}
    finally:
        parser.close()
    assert modules
    for name, code in modules.items():
        code.encode("cp1252")                 # oletools decodes the project's code page: no '?' stand-ins
        assert not CYRILLIC.search(code), name


def test_the_committed_book_is_english():
    book = openpyxl.load_workbook(ROOT / "GreenApi.xlsm", keep_vba=True)
    assert book.sheetnames[:2] == ["Chats", "Settings"]
    language = [row[1] for row in book["Settings"].iter_rows(max_col=2, values_only=True) if row[0] == "Language"]
    assert language == ["en"]


# --- mixed-language re-runs against the sandbox ------------------------------------------------------

CHATS = [
    {"id": "79001234567@c.us", "name": "Anna", "incoming": 3},
    {"id": "79001234568@c.us", "name": "Boris", "incoming": 1},
    {"id": "12025550123@c.us", "name": "Emily", "incoming": 1, "archive": True},
    {"id": "447911123456@c.us", "name": "Oliver", "incoming": 0},
]
BOOK_VALUES = ["79001234567", "79001234568", "+1 202 555 0123", "447911123456", "not a number"]


def _book(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Chats"
    ws.append(["Chat ID"])
    for value in BOOK_VALUES:
        ws.append([value])
    wb.save(path)
    return path


def _column(path: Path, column: int) -> list:
    ws = openpyxl.load_workbook(path).active
    return [ws.cell(row, column).value for row in range(1, len(BOOK_VALUES) + 2)]


def _archive(sandbox, book, folder: Path, run: str, *args, **env_extra):
    # Each run its own journal: only the book's own Status cells can say what is done.
    env = sandbox_env(sandbox, folder, GREENAPI_JOURNAL=str(folder / f"journal-{run}.sqlite3"), **env_extra)
    before = len(sandbox.calls("archiveChat"))
    proc = run_cli("archive", book, "--no-progress", *args, env=env)
    assert proc.returncode == 1, proc.stderr     # the silent chat and the bad cell are rows that failed
    return proc, [c["chatId"] for c in sandbox.calls("archiveChat")[before:]]


def test_an_english_book_re_run_in_russian_sends_nothing_already_done_and_back(make_sandbox, tmp_path):
    with make_sandbox(chats=CHATS, rps=1000, read_rps=1000) as sandbox:
        book = _book(tmp_path / "book.xlsx")
        _, first = _archive(sandbox, book, tmp_path, "1", "--lang", "en")
        assert _column(book, 2) == ["Status", "Archived", "Archived", "Already archived", "No incoming messages",
                                    "Invalid chat ID"]
        proc, second = _archive(sandbox, book, tmp_path, "2", "--lang", "ru")
        assert second == ["447911123456@c.us"]        # only the row that did not get done is tried again
        assert _column(book, 2) == ["Status", "Archived", "Archived", "Already archived", "Нет входящих сообщений",
                                    "Неверный ID чата"]
        assert "Всего" in proc.stdout and "Результаты записаны" in proc.stdout
        _, third = _archive(sandbox, book, tmp_path, "3", "--lang", "en")
        assert third == ["447911123456@c.us"]
    assert len(first) == 4
    assert _column(book, 2)[4:] == ["No incoming messages", "Invalid chat ID"]


def test_a_russian_book_re_run_in_english_sends_nothing_already_done(make_sandbox, tmp_path):
    with make_sandbox(chats=CHATS, rps=1000, read_rps=1000) as sandbox:
        book = _book(tmp_path / "book.xlsx")
        _archive(sandbox, book, tmp_path, "1", "--lang", "ru")
        assert _column(book, 2) == ["Статус", "Чат архивирован", "Чат архивирован", "Уже в архиве",
                                    "Нет входящих сообщений", "Неверный ID чата"]
        assert _column(book, 3)[0] == "Подробности"
        proc, second = _archive(sandbox, book, tmp_path, "2", GREENAPI_LANG="", LANGUAGE="", LC_ALL="",
                                LC_MESSAGES="", LANG="C.UTF-8")    # no flag, no GREENAPI_LANG, C locale: English
        assert second == ["447911123456@c.us"]
        assert _column(book, 2) == ["Статус", "Чат архивирован", "Чат архивирован", "Уже в архиве",
                                    "No incoming messages", "Invalid chat ID"]
        assert "Total" in proc.stdout


def test_no_module_that_translates_with_underscore_also_binds_it():
    # `credentials, _ = ...` in a function that calls _() makes every _() there fail with a TypeError.
    import ast

    offenders = []
    for path in [*ROOT.glob("greenapi_excel/**/*.py"), ROOT / "addin.py", *ROOT.glob("udfs/*.py"),
                 *ROOT.glob("workbook/*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imports = any(isinstance(node, ast.ImportFrom) and node.module == "greenapi_excel.i18n"
                      and any(alias.name == "_" for alias in node.names) for node in ast.walk(tree))
        if imports:
            offenders += [f"{path.name}:{node.lineno}" for node in ast.walk(tree)
                          if isinstance(node, ast.Name) and node.id == "_" and isinstance(node.ctx, ast.Store)]
    assert offenders == []


def test_load_chats_writes_its_headers_in_the_runs_language_and_reloads_either(make_sandbox, tmp_path):
    with make_sandbox(chats=CHATS, rps=1000, read_rps=1000) as sandbox:
        env = sandbox_env(sandbox, tmp_path)
        book = tmp_path / "account.xlsx"
        assert run_cli("chats", book, "--lang", "ru", env=env).returncode == 0
        first = openpyxl.load_workbook(book)
        assert first.sheetnames == ["Чаты"]                              # a new sheet in the run's language
        assert [c.value for c in first["Чаты"][1][:4]] == ["ID чата", "Имя", "Тип", "В архиве"]
        again = run_cli("chats", book, "--lang", "en", env=env)       # an English reload refreshes Чаты in place
        assert again.returncode == 0, again.stderr
        dry = run_cli("archive", book, "--sheet", "Чаты", "--dry-run", "--no-progress", env=env)
    second = openpyxl.load_workbook(book)
    assert second.sheetnames == ["Чаты"] and second["Чаты"].max_row == len(CHATS) + 1
    # Recognised as the list it made (no Chats added, no doubled rows), laid out again in the reload's language.
    assert [c.value for c in second["Чаты"][1][:2]] == ["Chat ID", "Name"]
    assert dry.returncode in (0, 1) and "column A:" in dry.stderr, dry.stderr   # ID чата / Chat ID: the chat column


def _literal_words(node) -> bool:
    """True for an English text written in place: a string (or an f-string's text) with a word in it."""
    import ast

    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(re.search(r"[A-Za-z]{2}", node.value))
    if isinstance(node, ast.JoinedStr):
        return any(_literal_words(part) for part in node.values if isinstance(part, ast.Constant))
    return False


def test_every_help_text_and_alert_goes_through_the_catalogue():
    # A --help text or an add-in alert written as a plain string would stay English in a Russian run,
    # and the catalogue test could not see it: each must be _("..."), ngettext(...) or built from them.
    import ast

    found = []
    cli_tree = ast.parse((ROOT / "greenapi_excel" / "cli" / "parser.py").read_text(encoding="utf-8"))
    for node in ast.walk(cli_tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg in ("help", "description", "epilog") and _literal_words(keyword.value):
                    found.append(f"cli/parser.py:{keyword.value.lineno}")
    # The add-in's alerts and status bar: every text handed to them is built in texts.py, never in place.
    for path in [ROOT / "addin.py", *(ROOT / "greenapi_excel" / "excel").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("alert", "ask", "status") \
                    and node.args and _literal_words(node.args[0]):
                found.append(f"{path.name}:{node.args[0].lineno}")
    assert found == []

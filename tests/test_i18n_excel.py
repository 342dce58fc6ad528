"""The Russian workbook in the xlwings stand-in: the ribbon's macros and the worksheet functions find its
Russian sheets and Settings labels, answer in the book's Language, and re-runs across languages send
nothing already done (against the real sandbox)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import keyring
import pytest

import addin
import udfs
from greenapi_excel.excel import live
import xlwings_standin as xls
from greenapi_excel import udf
from test_addin import OPEN_CHATS, SHIPPED_BOOK, MemoryKeyring

CYRILLIC = re.compile("[а-яА-ЯёЁ]")


# The ribbon's runs go to a worker process; here it runs in this process (see conftest.inline_worker).
pytestmark = pytest.mark.usefixtures("inline_worker")

@pytest.fixture(scope="module")
def russian_file(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ru-book") / "GreenApi.xlsm"
    proc = subprocess.run([sys.executable, "-m", "greenapi_excel.workbook.build", str(out), "--lang", "ru"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture
def keychain():
    previous = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    yield memory
    keyring.set_keyring(previous)


@pytest.fixture
def box(tmp_path, monkeypatch, keychain, sandbox):
    monkeypatch.delenv("GREENAPI_REGION", raising=False)
    monkeypatch.setenv("GREENAPI_API_URL", sandbox.api_url)
    monkeypatch.setenv("GREENAPI_ID_INSTANCE", sandbox.id_instance)
    monkeypatch.setenv("GREENAPI_API_TOKEN_INSTANCE", sandbox.token)
    monkeypatch.setenv("GREENAPI_JOURNAL", str(tmp_path / "journal.sqlite"))
    monkeypatch.setenv("GREENAPI_CONFIG", str(tmp_path / "config.ini"))
    udf.reset()
    live._caller_settings.clear()
    yield sandbox
    udf.reset()
    live._caller_settings.clear()


def open_book(path: Path, chat_rows, chats_sheet: str, settings_sheet: str, **settings):
    """The built book in the stand-in, its example chats replaced by ``chat_rows``, ``settings`` (label as the
    book spells it -> value) typed beside its labels."""
    book = xls.Book.from_file(path)
    chats = book.sheets[chats_sheet]
    for key in [key for key in chats.cells if key[1] <= 4 and key[0] >= 2]:
        del chats.cells[key]
    for r, row in enumerate(chat_rows, start=2):
        for c, value in enumerate(row, start=1):
            chats.cells[(r, c)] = value
    sheet = book.sheets[settings_sheet]
    for label, value in settings.items():
        row = next(r for (r, c), text in sheet.cells.items() if c == 1 and str(text).startswith(label))
        sheet.cells[(row, 2)] = value
    book.sheets._active = chats
    book.reads.clear()
    book.writes.clear()
    return book, chats


def results(chats, rows: int) -> list:
    return [chats.stored(f"B{r}") for r in range(1, rows + 2)]


def test_the_russian_book_archives_in_russian_and_its_reruns_in_either_language_send_nothing_done(
        russian_file, box, monkeypatch, tmp_path):
    book, chats = open_book(russian_file, [["8 (900) 123-45-67"], [OPEN_CHATS[1]], ["плохой номер"]],
                            "Чаты", "Настройки", Регион="RU")
    addin.archive_chats(book)
    assert results(chats, 3) == ["Статус", "Чат архивирован", "Чат архивирован", "Неверный ID чата"]
    [alert] = book.app.alerts
    assert alert["prompt"].startswith("Архивация: 3 строки в столбце A листа Чаты") and "Чат архивирован 2" in \
        alert["prompt"], alert["prompt"]
    calls = len(box.calls("archiveChat"))
    assert calls == 2

    # A fresh journal: only the book's own Status cells can say what is done.
    monkeypatch.setenv("GREENAPI_JOURNAL", str(tmp_path / "second.sqlite"))
    addin.archive_chats(book)
    assert len(box.calls("archiveChat")) == calls

    monkeypatch.setenv("GREENAPI_JOURNAL", str(tmp_path / "third.sqlite"))
    book.sheets["Настройки"].cells[next(r for (r, c), t in book.sheets["Настройки"].cells.items()
                                        if c == 1 and t == "Язык"), 2] = "en"
    addin.archive_chats(book)
    assert len(box.calls("archiveChat")) == calls
    assert results(chats, 3) == ["Статус", "Чат архивирован", "Чат архивирован", "Invalid chat ID"]
    assert book.app.alerts[-1]["prompt"].startswith("Archive: 3 rows in column A of sheet Чаты")


def test_an_english_book_set_to_russian_answers_in_russian_and_keeps_its_english_headers(box):
    book, chats = open_book(SHIPPED_BOOK, [[OPEN_CHATS[2]], ["bad"]], "Chats", "Settings", Language="ru")
    chats.cells[(1, 2)], chats.cells[(1, 3)], chats.cells[(1, 4)] = "Status", "Details", "Updated"
    addin.archive_chats(book)
    assert results(chats, 2) == ["Status", "Чат архивирован", "Неверный ID чата"]
    assert CYRILLIC.search(book.app.alerts[-1]["prompt"])


def test_a_token_typed_beside_the_russian_token_label_goes_to_the_keychain(russian_file, box, keychain, monkeypatch):
    monkeypatch.delenv("GREENAPI_ID_INSTANCE")   # the Settings sheet names the instance the runs will use
    book, _chats = open_book(russian_file, [], "Чаты", "Настройки", Токен="typed-token-123", idInstance="1101000077")
    addin.settings(book)
    assert keychain.get_password("GreenApiExcel", "1101000077") == "typed-token-123"
    settings = book.sheets["Настройки"]
    assert "typed-token-123" not in [str(v) for v in settings.cells.values()]
    assert book.app.alerts[-1]["prompt"].startswith("Токен инстанса 1101000077")


def test_worksheet_functions_answer_in_the_calling_books_language(russian_file, box):
    russian = xls.Book.from_file(russian_file)
    russian.fullname += "#ru"
    caller = russian.sheets["Чаты"].range("B2")
    assert udfs.ARCHIVECHAT(OPEN_CHATS[3], caller=caller) == "Чат архивирован"
    assert udfs.CHATSTATUS(OPEN_CHATS[3], caller=caller) == "Чат архивирован"
    assert udfs.CHATSTATUS("bad", caller=caller).startswith("Неверный ID чата")

    english = xls.Book.from_file(SHIPPED_BOOK)
    english.fullname += "#en"
    assert udfs.CHATSTATUS(OPEN_CHATS[3], caller=english.sheets["Chats"].range("B2")) == "Archived"

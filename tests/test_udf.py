"""=ARCHIVECHAT, =UNARCHIVECHAT and =CHATSTATUS called from plain Python, against the real sandbox."""

import re

import keyring
import pytest
from keyring.backends import fail

import udfs
from greenapi_excel.excel import live
from greenapi_excel import statuses as st, udf
from greenapi_excel.sandbox import DEFAULT_CHATS

OPEN_CHATS = [c["id"] for c in DEFAULT_CHATS if not c["archive"] and c["incoming"] > 0 and c["id"].endswith("@c.us")]
ARCHIVED_CHAT = next(c["id"] for c in DEFAULT_CHATS if c["archive"])
SILENT_CHAT = next(c["id"] for c in DEFAULT_CHATS if c["incoming"] == 0)
UNKNOWN_CHAT = "79990000000@c.us"


@pytest.fixture
def env(tmp_path, monkeypatch):
    for name in ("GREENAPI_API_URL", "GREENAPI_ID_INSTANCE", "GREENAPI_API_TOKEN_INSTANCE", "GREENAPI_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GREENAPI_JOURNAL", str(tmp_path / "journal.sqlite"))
    monkeypatch.setenv("GREENAPI_CONFIG", str(tmp_path / "config.ini"))
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # never the user's real keychain
    udf.reset()
    live._caller_settings.clear()
    yield monkeypatch
    udf.reset()
    live._caller_settings.clear()
    keyring.set_keyring(previous)


@pytest.fixture
def box(env, sandbox):
    env.setenv("GREENAPI_API_URL", sandbox.api_url)
    env.setenv("GREENAPI_ID_INSTANCE", sandbox.id_instance)
    env.setenv("GREENAPI_API_TOKEN_INSTANCE", sandbox.token)
    return sandbox


def test_archivechat_twice_makes_one_call(box):
    first = udfs.ARCHIVECHAT(OPEN_CHATS[0])
    second = udfs.ARCHIVECHAT(OPEN_CHATS[0])
    assert first == st.ARCHIVED
    assert re.fullmatch(r"Archived \(\d{4}-\d\d-\d\d \d\d:\d\d\)", second), second
    assert len(box.calls("archiveChat")) == 1
    assert OPEN_CHATS[0] in box.archived_ids()


def test_one_cell_as_excel_passes_it(box):
    # udfs declares ndim=2: Excel hands one cell over as [[value]], and a 1x1 answer shows as a value.
    assert udfs.ARCHIVECHAT([[OPEN_CHATS[0]]]) == [[st.ARCHIVED]]
    assert udfs.ARCHIVECHAT([[OPEN_CHATS[0]]])[0][0].startswith("Archived (")
    assert len(box.calls("archiveChat")) == 1


def test_a_number_cell_is_a_phone_number(box):
    assert udf.archive(float(OPEN_CHATS[0].split("@")[0])) == st.ARCHIVED


def test_range_gives_a_column_one_call_per_distinct_chat(box):
    cells = [[OPEN_CHATS[0]], [OPEN_CHATS[1]], [None], ["not a phone"], [OPEN_CHATS[0]], [UNKNOWN_CHAT],
             [SILENT_CHAT], [ARCHIVED_CHAT]]
    answer = udfs.ARCHIVECHAT(cells)
    assert len(answer) == len(cells) and all(len(row) == 1 for row in answer)
    texts = [row[0] for row in answer]
    assert texts[0] == texts[1] == texts[4] == st.ARCHIVED
    assert texts[2] == ""
    assert texts[3].startswith(st.INVALID + ": ")
    assert texts[5].startswith(st.CHAT_NOT_FOUND + ": ")
    assert texts[6].startswith(st.NO_INCOMING + ": ")
    assert texts[7] == st.ALREADY_ARCHIVED
    assert len(box.calls("archiveChat")) == 5
    assert box.calls("getStateInstance") == []  # no preflight per recalculation


def test_a_row_with_two_values_is_refused(box):
    answer = udf.archive([[OPEN_CHATS[0], OPEN_CHATS[1]], [OPEN_CHATS[2], None]])
    assert answer[0][0].startswith(st.INVALID + ": ")
    assert answer[1][0] == st.ARCHIVED
    assert len(box.calls("archiveChat")) == 1


@pytest.mark.parametrize("value", ["", None, "   "])
def test_empty_cell_gives_empty_text(box, value):
    assert udf.archive(value) == ""
    assert box.calls("archiveChat") == []


@pytest.mark.parametrize("value", ["hello", "=1+1", 12.5, True, "+1 (555) abc"])
def test_bad_input_gives_text_not_an_exception(box, value):
    text = udfs.ARCHIVECHAT(value)
    assert isinstance(text, str) and text.startswith(st.INVALID + ": ")
    assert box.calls("archiveChat") == []


def test_unexpected_value_type_gives_text(box):
    text = udf.archive(object())
    assert isinstance(text, str) and text.startswith((st.INVALID, st.FAILED))


def test_missing_credentials_give_text(env):
    text = udfs.ARCHIVECHAT(OPEN_CHATS[0])
    assert text.startswith(st.FAILED + ": ") and "idInstance" in text


def test_wrong_token_gives_text_without_any_token(env, sandbox):
    wrong = "a" * 50
    env.setenv("GREENAPI_API_URL", sandbox.api_url)
    env.setenv("GREENAPI_ID_INSTANCE", sandbox.id_instance)
    env.setenv("GREENAPI_API_TOKEN_INSTANCE", wrong)
    text = udfs.ARCHIVECHAT(OPEN_CHATS[0])
    assert text.startswith((st.NOT_RUN, st.FAILED)), text
    assert wrong not in text and sandbox.token not in text
    assert OPEN_CHATS[0] not in sandbox.archived_ids()


def test_unarchive_undoes_and_archive_then_calls_again(box):
    assert udfs.ARCHIVECHAT(OPEN_CHATS[0]) == st.ARCHIVED
    assert udfs.UNARCHIVECHAT(OPEN_CHATS[0]) == st.UNARCHIVED
    assert udfs.UNARCHIVECHAT(OPEN_CHATS[0]).startswith("Unarchived (")
    # The journal's Archived is older than the Unarchived: this is a real request again.
    assert udfs.ARCHIVECHAT(OPEN_CHATS[0]) == st.ARCHIVED
    assert len(box.calls("archiveChat")) == 2 and len(box.calls("unarchiveChat")) == 1


def test_chatstatus_reads_and_changes_nothing(box):
    answer = udfs.CHATSTATUS([[OPEN_CHATS[0]], [ARCHIVED_CHAT], [UNKNOWN_CHAT], ["nope"]])
    texts = [row[0] for row in answer]
    assert texts[0] == st.NOT_ARCHIVED
    assert texts[1] == st.ARCHIVED
    assert texts[2].startswith(st.CHAT_NOT_FOUND)
    assert texts[3].startswith(st.INVALID + ": ")
    assert udfs.CHATSTATUS(OPEN_CHATS[1]) == st.NOT_ARCHIVED
    assert len(box.calls("getChats")) == 1  # cached
    assert box.calls("archiveChat") == [] and box.calls("unarchiveChat") == []


def test_chatstatus_sees_an_archive_made_by_archivechat(box):
    assert udfs.CHATSTATUS(OPEN_CHATS[0]) == st.NOT_ARCHIVED
    udfs.ARCHIVECHAT(OPEN_CHATS[0])
    assert udfs.CHATSTATUS(OPEN_CHATS[0]) == st.ARCHIVED


def test_status_text_adds_details_only_where_they_explain():
    assert udf.status_text(st.ARCHIVED, "done") == st.ARCHIVED
    assert udf.status_text(st.FAILED, "boom") == "Failed: boom"
    assert udf.status_text(st.QUOTA_EXCEEDED, "pay") == "Quota exceeded: pay"


# --- the calling book's Settings: the same region (and instance) as the ribbon ------------------

import itertools  # noqa: E402
from pathlib import Path  # noqa: E402

import xlwings_standin as xls  # noqa: E402

SHIPPED_BOOK = Path(__file__).resolve().parents[1] / "GreenApi.xlsm"
BOOK_NUMBERS = itertools.count()


def shipped_book_with(**settings):
    """GreenApi.xlsm as built, with values typed beside its Settings labels; the cell a formula is in."""
    book = xls.Book.from_file(SHIPPED_BOOK)
    sheet = book.sheets["Settings"]
    for label, value in settings.items():
        row = next(r for (r, c), text in sheet.cells.items() if c == 1 and str(text).lower() == label.lower())
        sheet.cells[(row, 2)] = value
    book.fullname += f"#{next(BOOK_NUMBERS)}"   # another book for the Settings cache
    book.reads.clear()
    return book, book.sheets["Chats"].range("B2")


def test_a_local_number_uses_the_region_of_the_calling_books_settings(box):
    book, caller = shipped_book_with(region="RU")
    assert udfs.ARCHIVECHAT([["8 (900) 123-45-67"]], caller=caller) == [[st.ARCHIVED]]
    assert "79001234567@c.us" in box.archived_ids()
    # Without the book's Region the same cell is invalid, as on the ribbon and the command line.
    plain, caller = shipped_book_with(region=None)
    assert udfs.CHATSTATUS("8 (900) 123-45-67", caller=caller).startswith(st.INVALID)


def test_the_environment_region_outranks_the_books(env, box):
    book, caller = shipped_book_with(region="DE")
    env.setenv("GREENAPI_REGION", "RU")
    assert udfs.ARCHIVECHAT("8 (900) 123-45-67", caller=caller) == st.ARCHIVED
    assert "79001234567@c.us" in box.archived_ids()


def test_the_books_settings_are_read_once_for_many_cells(box):
    book, caller = shipped_book_with(region="RU")
    for chat in OPEN_CHATS[:3]:
        udfs.CHATSTATUS(chat, caller=caller)
    assert [r for r in book.reads if r.startswith("Settings!")] == ["Settings!$A$1:$B$20"]


def test_the_calling_books_instance_counts_when_the_environment_names_none(env, sandbox):
    env.setenv("GREENAPI_API_TOKEN_INSTANCE", sandbox.token)
    book, caller = shipped_book_with(apiUrl=sandbox.api_url, idInstance=sandbox.id_instance)
    assert udfs.ARCHIVECHAT(OPEN_CHATS[0], caller=caller) == st.ARCHIVED
    assert OPEN_CHATS[0] in sandbox.archived_ids()


# --- worksheet functions never hold up recalculation for long (issue 14) --------------------------------

def test_a_range_beyond_a_few_seconds_of_calls_answers_at_once_pointing_to_the_button(box):
    chats = [[f"7900600{i:04d}@c.us"] for i in range(udf.UDF_CALL_LIMIT + 1)]
    answer = udfs.ARCHIVECHAT(chats)
    assert box.calls("archiveChat") == []          # not a single call: the whole range would take too long
    texts = {row[0] for row in answer}
    [text] = texts
    assert text.startswith(f"{st.NOT_RUN}: {udf.UDF_CALL_LIMIT + 1} chats to call is more than a worksheet function")
    assert "press Archive chats on the GreenApi tab" in text


def test_cells_filled_down_one_chat_each_share_one_budget(box):
    answers = [udfs.ARCHIVECHAT(OPEN_CHATS[i % len(OPEN_CHATS)] if i < len(OPEN_CHATS) else f"7900601{i:04d}@c.us")
               for i in range(udf.UDF_CALL_LIMIT + 3)]
    assert len(box.calls("archiveChat")) == udf.UDF_CALL_LIMIT
    assert all(a.startswith(st.NOT_RUN + ": 1 chat to call") for a in answers[udf.UDF_CALL_LIMIT:])
    # A chat done already answers from the journal, beyond the budget too: it needs no call.
    assert udfs.ARCHIVECHAT(OPEN_CHATS[0]).startswith("Archived (")


def test_a_range_within_the_budget_is_called_as_before(box):
    assert udfs.ARCHIVECHAT([[chat] for chat in OPEN_CHATS[:udf.UDF_CALL_LIMIT]])[0][0] in (st.ARCHIVED,)


def test_a_lid_is_a_chat_id_in_the_functions_and_chatstatus_finds_it_by_either_id(env, make_sandbox):
    """Issue 19: WhatsApp's own ID for a person, as getChats lists it, in a worksheet function."""
    sandbox = make_sandbox(lid_chats=1, rps=1000, read_rps=1000)
    env.setenv("GREENAPI_API_URL", sandbox.api_url)
    env.setenv("GREENAPI_ID_INSTANCE", sandbox.id_instance)
    env.setenv("GREENAPI_API_TOKEN_INSTANCE", sandbox.token)
    lid = sandbox.lid_of(OPEN_CHATS[0])
    assert udfs.ARCHIVECHAT(lid) == st.ARCHIVED
    assert [c["chatId"] for c in sandbox.calls("archiveChat")] == [lid]
    assert OPEN_CHATS[0] in sandbox.archived_ids()
    assert udfs.CHATSTATUS(lid) == st.ARCHIVED          # getChats lists it by its lid
    # By the number: found once the journal knows which lid is that number's (a run learns it with checkWhatsapp).
    assert udfs.CHATSTATUS(OPEN_CHATS[0]).startswith(st.CHAT_NOT_FOUND)
    from greenapi_excel.chat_identity import Link
    from greenapi_excel.journal import Journal

    with Journal() as journal:
        journal.add_links(sandbox.id_instance, [Link(OPEN_CHATS[0], lid, "checkWhatsapp")])
    assert udfs.CHATSTATUS(OPEN_CHATS[0]) == st.ARCHIVED

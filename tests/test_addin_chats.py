"""Issue 13 in Excel (the xlwings stand-in): filters, Load chats, Check connection's fix, Undo last run."""

from __future__ import annotations

import sys
from datetime import datetime

import pytest

import addin
from greenapi_excel.excel import live
import xlwings_standin as xls
from greenapi_excel import statuses as st
from greenapi_excel.sandbox import DEFAULT_CHATS
from test_addin import env, keychain, make_book, reads_of, sandbox_env  # noqa: F401 - fixtures

# The ribbon's runs go to a worker process; here it runs in this process (see conftest.inline_worker).
pytestmark = pytest.mark.usefixtures("inline_worker")

PEOPLE = [c["id"] for c in DEFAULT_CHATS if not c["archive"] and c["incoming"] > 0 and c["id"].endswith("@c.us")]


@pytest.fixture(params=["win", "mac"])
def platform(request, monkeypatch):
    """Both platforms: Windows answers through COM, the Mac through appscript (stood in for here)."""
    if request.param == "mac":
        module, reference = xls.fake_appscript()
        monkeypatch.setitem(sys.modules, "appscript", module)
        monkeypatch.setitem(sys.modules, "appscript.reference", reference)
    monkeypatch.setattr(live, "is_mac", lambda: request.param == "mac")
    return request.param


def book_on(platform, rows):
    book, chats = make_book(rows)
    book.app.platform = platform
    return book, chats


# --- filters: the visible rows only, from one read ------------------------------------------------------


def test_filtered_sheet_archives_visible_rows_only_with_one_read(sandbox_env, platform):
    book, chats = book_on(platform, [["Chat ID"]] + [[chat] for chat in PEOPLE[:8]])
    chats.hidden_rows = {3, 4, 7}                      # rows 3, 4, 7 filtered out
    addin.archive_chats(book)
    called = {c["chatId"] for c in sandbox_env.calls("archiveChat")}
    assert called == {PEOPLE[r - 2] for r in (2, 5, 6, 8, 9)}
    assert all(chats.stored(f"B{r}") is None for r in (3, 4, 7))           # hidden rows: no status
    assert [chats.stored(f"B{r}") for r in (2, 5, 6, 8, 9)] == [st.ARCHIVED] * 5
    assert reads_of(book, "Chats") == ["Chats!$A$1:$F$9", "Chats!$A$1:$A$9 visible"]   # used range (How-to in F); one visible read
    assert "Skipped 3 hidden rows" in book.app.alerts[-1]["prompt"]


def test_dry_run_on_a_filter_and_every_row_hidden(sandbox_env, platform):
    book, chats = book_on(platform, [["Chat ID"]] + [[chat] for chat in PEOPLE[:3]])
    chats.hidden_rows = {2}
    addin.dry_run(book)
    assert chats.stored("B2") is None and chats.stored("B3") == st.WOULD_ARCHIVE
    chats.hidden_rows = {2, 3, 4}
    addin.archive_chats(book)
    assert "hidden" in book.app.alerts[-1]["prompt"] and sandbox_env.calls("archiveChat") == []


def test_header_row_hidden_too_and_a_single_data_row(sandbox_env, platform):
    book, chats = book_on(platform, [["Chat ID"], [PEOPLE[0]]])
    chats.hidden_rows = {1, 2}                          # SpecialCells finds nothing at all
    addin.archive_chats(book)
    assert sandbox_env.calls("archiveChat") == []
    chats.hidden_rows = set()
    addin.archive_chats(book)                           # two cells queried: never the one-cell quirk
    assert chats.stored("B2") == st.ARCHIVED


def test_a_cut_address_is_read_area_by_area(sandbox_env, monkeypatch):
    monkeypatch.setattr(live, "is_mac", lambda: False)
    rows = 200
    book, chats = make_book([["Chat ID"]] + [[f"7900{i:07d}@c.us"] for i in range(rows)])
    chats.hidden_rows = set(range(3, rows + 2, 2))      # every other row: 100 areas, a long address
    book.app.address_limit = 255
    assert live.hidden_rows(chats, 1, rows + 1) == chats.hidden_rows


def test_visible_rows_parses_both_platforms_addresses():
    assert live.visible_rows("$A$1:$A$3,$A$7,Chats!$A$9:$A$10") == {1, 2, 3, 7, 9, 10}
    with pytest.raises(ValueError):
        live.visible_rows("R1C1")


# --- Load chats -----------------------------------------------------------------------------------------


def test_load_chats_then_reload_then_filter_and_archive(sandbox_env, platform):
    sandbox = sandbox_env
    book, example = book_on(platform, [["Chat ID", "Status"], ["79001234567"]])   # the workbook's own example
    addin.load_chats(book)
    assert "Chat list" in book.sheets and example.stored("A2") == "79001234567"   # the example is left alone
    sheet = book.sheets["Chat list"]
    assert book.sheets.active is sheet
    assert [sheet.stored(f"{c}1") for c in "ABCDEFG"] == ["Chat ID", "Name", "Type", "Archived", "Last incoming",
                                                          "Last outgoing", "Idle days"]
    rows = {sheet.stored(f"A{r}"): r for r in range(2, len(sandbox.chats) + 2)}
    assert set(rows) == set(sandbox.chats)
    assert [w for w in book.writes if w.startswith("Chat list!")] == [f"Chat list!$A$1:$G${len(rows) + 1}"]
    anna = rows["79001234567@c.us"]
    assert isinstance(sheet.stored(f"E{anna}"), datetime) and sheet.stored(f"C{anna}") == "person"
    ivan = rows["79852223344@c.us"]                                   # no incoming message at all
    assert sheet.stored(f"E{ivan}") == "none in 30 days"
    assert sheet.number_formats[(2, 5)] == "yyyy-mm-dd hh:mm" and sheet.number_formats[(2, 7)] == '[<30]0;"over "0'
    assert sheet.frozen == "1:1" and sheet.autofilter_on
    assert {r["kind"] for r in sheet.conditional_formats} == {"custom", "cell_value", "color_scale"}
    assert len(sandbox.calls("lastIncomingMessages")) == 1 and len(sandbox.calls("lastOutgoingMessages")) == 1
    # The one look (chatlist.look) the file side renders too: a gone row greyed, in italics and, where Excel's
    # rule takes it (COM, on Windows), struck through.
    [gone_rule] = [r for r in sheet.conditional_formats if r["kind"] == "custom"]
    assert gone_rule["formula"] == '=$D2="gone"' and gone_rule["font_italic"] and gone_rule["stop_if_true"]
    assert gone_rule.get("strikethrough", False) == (platform == "win")

    # The analyst adds a column, a chat goes, Load chats again: same rows, notes kept, the gone one marked.
    sheet.cells[(1, 8)] = "Owner"
    sheet.cells[(anna, 8)] = "Olga"
    gone = "79161234567@c.us"
    del sandbox.chats[gone]
    addin.load_chats(book)
    assert sheet.stored(f"A{anna}") == "79001234567@c.us" and sheet.stored(f"H{anna}") == "Olga"
    assert sheet.stored(f"D{rows[gone]}") == "gone" and sheet.stored(f"B{rows[gone]}") == "Дмитрий Иванов"
    assert len(sheet.conditional_formats) == 3 and sheet.autofilter_on                # replaced, not piled up

    # Filter: groups only; Archive acts on the visible rows only.
    groups = {chat for chat, r in rows.items() if chat.endswith("@g.us")}
    sheet.hidden_rows = {r for chat, r in rows.items() if chat not in groups}
    before = sandbox.archived_ids()
    addin.archive_chats(book)
    assert {c["chatId"] for c in sandbox.calls("archiveChat")} == groups
    assert sandbox.archived_ids() == before | groups


# --- Check connection: the incomingWebhook setting ------------------------------------------------------


@pytest.mark.parametrize("answer", ["yes", "no"])
def test_check_connection_offers_to_switch_the_webhook_on(env, make_sandbox, answer):
    sandbox = make_sandbox(rps=1000, read_rps=1000, incoming_webhook="no")
    env.setenv("GREENAPI_API_URL", sandbox.api_url)
    env.setenv("GREENAPI_ID_INSTANCE", sandbox.id_instance)
    env.setenv("GREENAPI_API_TOKEN_INSTANCE", sandbox.token)
    book, chats = make_book([["Chat ID"], [PEOPLE[0]]])
    addin.archive_chats(book)                                   # the run stops before its first change
    assert sandbox.calls("archiveChat") == [] and chats.stored("B2") == st.NOT_RUN
    assert "Receive webhooks on incoming messages and files" in book.app.alerts[-1]["prompt"]

    book.app.answers = [answer]
    addin.check_connection(book)
    prompt = next(a for a in book.app.alerts if a["buttons"] == "yes_no")
    assert "5 minutes" in prompt["prompt"] and "GREEN-API console" in prompt["prompt"]
    assert sandbox.incoming_webhook == answer
    assert len(sandbox.calls("setSettings")) == (answer == "yes")
    assert ("5 minutes" in book.app.alerts[-1]["prompt"]) == (answer == "yes")


# --- Undo last run --------------------------------------------------------------------------------------


def test_undo_last_run_walks_back_like_ctrl_z(sandbox_env):
    """Each press takes back the newest run not yet taken back: never the undo it just made."""
    sandbox = sandbox_env
    archived = next(c["id"] for c in DEFAULT_CHATS if c["archive"])
    book, chats = make_book([["Chat ID"]] + [[chat] for chat in PEOPLE[:4]] + [[archived]])
    before = sandbox.archived_ids()
    addin.archive_chats(book)                                        # run 1: the first four
    assert sandbox.archived_ids() == before | set(PEOPLE[:4])
    later, later_chats = make_book([["Chat ID"]] + [[chat] for chat in PEOPLE[4:6]], name="Later.xlsm")
    addin.archive_chats(later)                                       # run 2, in another book
    assert sandbox.archived_ids() == before | set(PEOPLE[:6])

    book.app.answers = ["no"]
    addin.undo_last_run(book)
    assert sandbox.calls("unarchiveChat") == [] and "Nothing was changed" in book.app.alerts[-1]["prompt"]
    assert "unarchive those 2 chats" in book.app.alerts[-2]["prompt"]   # the newest run first

    book.app.answers = ["yes"]
    addin.undo_last_run(book)                                        # takes run 2 back, printed here
    assert {c["chatId"] for c in sandbox.calls("unarchiveChat")} == set(PEOPLE[4:6])
    assert sandbox.archived_ids() == before | set(PEOPLE[:4])
    assert [chats.stored(f"B{r}") for r in range(2, 7)] == [st.ARCHIVED] * 4 + [st.ALREADY_ARCHIVED]

    book.app.answers = ["yes"]
    addin.undo_last_run(book)                                        # a second press: run 1, never the undo
    assert sandbox.archived_ids() == before
    assert [chats.stored(f"B{r}") for r in range(2, 7)] == [st.UNARCHIVED] * 4 + [st.ALREADY_ARCHIVED]

    book.app.answers = ["yes"]
    addin.undo_last_run(book)                                        # nothing left to take back
    assert sandbox.archived_ids() == before
    assert "left to undo" in book.app.alerts[-1]["prompt"]
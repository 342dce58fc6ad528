"""The placement rules shared by the add-in and the file side (greenapi_excel/layout.py)."""

import re
from pathlib import Path

import pytest
from hypothesis import given, strategies as strats

from greenapi_excel import layout
from greenapi_excel.errors import ConfigError

# The ribbon's runs go to a worker process; here it runs in this process (see conftest.inline_worker).
pytestmark = pytest.mark.usefixtures("inline_worker")


@pytest.mark.parametrize("number,letters", [(1, "A"), (26, "Z"), (27, "AA"), (52, "AZ"), (703, "AAA"), (16384, "XFD")])
def test_column_letters_both_ways(number, letters):
    assert layout.column_letter(number) == letters
    assert layout.column_number(letters.lower()) == number


@given(strats.integers(min_value=1, max_value=layout.MAX_COLUMN))
def test_column_letter_round_trips(number):
    assert layout.column_number(layout.column_letter(number)) == number


@pytest.mark.parametrize("text", ["", "A1", "XFE", "ABCD", "1", "Chat"])
def test_column_number_refuses_what_is_not_a_column(text):
    assert layout.column_number(text) is None


def test_column_letter_refuses_out_of_range():
    with pytest.raises(ValueError):
        layout.column_letter(0)


def test_chat_column_from_header_any_case_and_spaces():
    assert layout.find_chat_column(["Name", "  CHAT id "]) == 2
    assert layout.find_chat_column(["Name", "x", "chatId"]) == 3
    assert layout.find_chat_column(["Name", "Phone"]) == 2


def test_chat_column_defaults_to_a():
    assert layout.find_chat_column(["Name", "Notes"]) == 1
    assert layout.find_chat_column([]) == 1


def test_setting_wins_over_selection_and_header():
    headers = ["Chat ID", "Mobile", "Tel"]
    assert layout.find_chat_column(headers, setting="mobile", selection=3) == 2
    assert layout.find_chat_column(headers, setting="D", selection=3) == 4
    # A header named like a column letter is taken as the header.
    assert layout.find_chat_column(headers, setting="tel") == 3


def test_setting_that_names_nothing_is_a_config_error():
    with pytest.raises(ConfigError, match="neither a header"):
        layout.find_chat_column(["Chat ID"], setting="Phone number")


def test_blank_setting_is_ignored():
    assert layout.find_chat_column(["x", "Chat ID"], setting="  ") == 2


def test_explicit_chat_column_is_the_flag_then_the_settings_sheet():
    assert layout.explicit_chat_column("B", {"chat column": "Phone"}) == "B"
    assert layout.explicit_chat_column(None, {"chat column": " Phone "}) == "Phone"
    assert layout.explicit_chat_column("  ", {"chat column": None}) is None
    assert layout.explicit_chat_column(None, {}) is None and layout.explicit_chat_column() is None


@pytest.mark.parametrize("value", [None, "", "  ", "Chat ID", "Phone", "Телефон", "#", "No.", "=A1&B1", "ID 2024"])
def test_a_header_is_a_label_or_nothing(value):
    layout.check_header_row(value, 1)


@pytest.mark.parametrize("value,shown", [
    (79001234567.0, "79001234567"), (79001234567, "79001234567"), ("79001234567@c.us", "79001234567@c.us"),
    ("+7 900 123-45-67", "+7 900 123-45-67"), ("8 (900) 123-45-67", "8 (900) 123-45-67"), (12.5, "12.5"),
])
def test_a_value_no_one_writes_as_a_label_is_no_header(value, shown):
    with pytest.raises(ConfigError, match=r"row 1 of column C holds .*" + re.escape(shown) + r".*, not a header: "
                                          r"insert a header row with Chat ID in C1 above the chats"):
        layout.check_header_row(value, 3)


def test_selection_wins_over_header():
    assert layout.find_chat_column(["Chat ID", "Other"], selection=2) == 2


@pytest.mark.parametrize("top,bottom,left,right,expected", [
    (2, 10, 3, 3, 3),            # cells in one column below the header
    (1, 1048576, 2, 2, 2),       # a whole column
    (1, 10, 2, 2, 2),            # header and cells
    (5, 5, 2, 2, None),          # one cell: where the cursor was left
    (1, 1, 2, 2, None),          # the header alone
    (2, 10, 2, 3, None),         # two columns
])
def test_selected_column(top, bottom, left, right, expected):
    assert layout.selected_column(top, bottom, left, right) == expected


def test_results_go_right_of_chat_column_when_free():
    placement = layout.place_results(["Chat ID"], 1, {})
    assert placement.columns == (2, 3, 4)
    assert placement.note is None and not placement.reuses_earlier


def test_results_reuse_an_earlier_runs_columns():
    headers = ["Chat ID", "Status", "Details", "Updated"]
    values = {2: ["Archived", None, "Failed: boom"], 3: ["done", "", "x"]}
    placement = layout.place_results(headers, 1, values)
    assert placement.columns == (2, 3, 4)
    assert placement.reuses_earlier


def test_user_data_right_of_chat_column_is_never_overwritten():
    headers = ["Chat ID", "Name", None, None, "Notes"]
    placement = layout.place_results(headers, 1, {2: ["Anna"]}, last_used_column=5)
    assert placement.columns == (6, 7, 8)
    assert "F:H" in placement.note and "B:D" in placement.note


def test_a_user_column_named_status_is_not_ours():
    headers = ["Chat ID", "Status", "Details", "Updated"]
    placement = layout.place_results(headers, 1, {2: ["VIP customer"]})
    assert placement.columns == (5, 6, 7)


def test_headerless_values_right_of_chat_column_push_results_out():
    placement = layout.place_results(["Chat ID"], 1, {3: ["something"]}, last_used_column=3)
    assert placement.columns == (4, 5, 6)


def test_rerun_finds_results_an_earlier_run_moved_out():
    headers = ["Chat ID", "Name", "City", "Age", "Status", "Details", "Updated"]
    values = {2: ["Anna"], 5: ["Archived"], 6: ["done"]}
    placement = layout.place_results(headers, 1, values, last_used_column=7)
    assert placement.columns == (5, 6, 7)
    assert placement.reuses_earlier


def test_chat_column_beyond_used_range():
    placement = layout.place_results(["Name"], 4, {}, last_used_column=1)
    assert placement.columns == (5, 6, 7)


def test_no_room_left_is_a_config_error():
    with pytest.raises(ConfigError):
        layout.place_results(["x"] * layout.MAX_COLUMN, layout.MAX_COLUMN - 1, {})


# --- the xlwings stand-in follows xlwings' documented conversions -------------------------------

from datetime import date, datetime  # noqa: E402

import keyring  # noqa: E402
from keyring.backend import KeyringBackend  # noqa: E402

import xlwings_standin as xls  # noqa: E402


def test_standin_reads_like_xlwings():
    book = xls.Book()
    sheet = book.add_sheet("S", [[1, "x", None], [date(2026, 1, 2), xls.CellError("#N/A"), True]])
    assert sheet.range("A1").value == 1.0 and isinstance(sheet.range("A1").value, float)
    assert sheet.range("A1:C1").value == [1.0, "x", None]
    assert sheet.range("A1:A2").value == [1.0, datetime(2026, 1, 2)]
    assert sheet.range("B2").value is None
    assert sheet.range("B2").options(err_to_str=True).value == "#N/A"
    assert sheet.range("A1").options(ndim=2).value == [[1.0]]
    assert sheet.range("A1:C2").value == [[1.0, "x", None], [datetime(2026, 1, 2), None, True]]
    assert len(book.reads) == 8  # every .value is one read


def test_standin_writes_like_excel():
    book = xls.Book()
    sheet = book.add_sheet("S")
    sheet.range("A1").value = [["=1+1", "'=text", "-x"], [None, 2, "plain"]]
    assert isinstance(sheet.stored("A1"), xls.Formula)
    assert sheet.stored("B1") == "=text"
    assert isinstance(sheet.stored("C1"), xls.Formula)
    assert sheet.stored("C2") == "plain"
    assert book.writes == ["S!$A$1"]


# --- the macros, against the real sandbox -----------------------------------------------------

import addin  # noqa: E402
from greenapi_excel import texts  # noqa: E402
from greenapi_excel.excel import live, macros  # noqa: E402
from greenapi_excel import statuses as st  # noqa: E402
from greenapi_excel.sandbox import DEFAULT_CHATS  # noqa: E402

OPEN_CHATS = [c["id"] for c in DEFAULT_CHATS if not c["archive"] and c["incoming"] > 0 and c["id"].endswith("@c.us")]


class MemoryKeyring(KeyringBackend):
    """A keychain inside this process: the tests never touch the user's real one."""

    priority = 1

    def __init__(self):
        super().__init__()
        self.secrets = {}

    def get_password(self, service, username):
        return self.secrets.get((service, username))

    def set_password(self, service, username, password):
        self.secrets[(service, username)] = password

    def delete_password(self, service, username):
        self.secrets.pop((service, username), None)


@pytest.fixture
def keychain():
    previous = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    yield memory
    keyring.set_keyring(previous)


@pytest.fixture
def env(tmp_path, monkeypatch, keychain):
    """No credentials anywhere but where a test puts them; journal and config in tmp_path."""
    for name in ("GREENAPI_API_URL", "GREENAPI_ID_INSTANCE", "GREENAPI_API_TOKEN_INSTANCE", "GREENAPI_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GREENAPI_JOURNAL", str(tmp_path / "journal.sqlite"))
    monkeypatch.setenv("GREENAPI_CONFIG", str(tmp_path / "config.ini"))
    return monkeypatch


@pytest.fixture
def sandbox_env(env, sandbox):
    env.setenv("GREENAPI_API_URL", sandbox.api_url)
    env.setenv("GREENAPI_ID_INSTANCE", sandbox.id_instance)
    env.setenv("GREENAPI_API_TOKEN_INSTANCE", sandbox.token)
    return sandbox


SHIPPED_BOOK = Path(__file__).resolve().parents[1] / "GreenApi.xlsm"


def set_setting(book, label: str, value) -> int:
    """Type ``value`` beside the Settings row whose label starts with ``label`` (any case); its row number."""
    settings = book.sheets["Settings"]
    for (row, column), text in settings.cells.items():
        if column == 1 and isinstance(text, str) and text.lower().startswith(label.lower()):
            settings.range((row, 2)).value = value
            return row
    raise KeyError(label)


def make_book(chat_rows, *, settings=None, settings_rows=None, name=None, folder=None):
    """GreenApi.xlsm as shipped (read from the built file), its example chats replaced by ``chat_rows``
    (the How-to column stays), ``settings`` (label -> value) typed into its Settings sheet, or the Settings
    sheet's rows replaced by ``settings_rows``. ``name`` / ``folder``: another book's file name and folder."""
    book = xls.Book.from_file(SHIPPED_BOOK)
    if name is not None or folder is not None:
        book.name = name or book.name
        book.fullname = str(Path(folder or Path(book.fullname).parent) / book.name)
    chats = book.sheets["Chats"]
    for key in [key for key in chats.cells if key[1] <= 4]:
        del chats.cells[key]
    for r, row in enumerate(chat_rows, start=1):
        for c, value in enumerate(row, start=1):
            if value is not None:
                chats.cells[(r, c)] = value
    if settings_rows is not None:
        book.sheets["Settings"].cells.clear()
        for r, row in enumerate(settings_rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is not None:
                    book.sheets["Settings"].cells[(r, c)] = value
    for label, value in (settings or {}).items():
        set_setting(book, label, value)
    book.sheets._active = chats
    book.reads.clear()
    book.writes.clear()
    return book, chats


def all_text(book):
    """Everything the analyst can see: cells of every sheet, the status bar's history, the alerts."""
    texts = [str(v) for sheet in book.sheets for v in sheet.cells.values()]
    texts += [str(v) for v in book.app.status_bar_history]
    texts += [a["prompt"] for a in book.app.alerts]
    return "\n".join(texts)


def reads_of(book, sheet_name):
    return [r for r in book.reads if r.startswith(sheet_name + "!")]


def test_archive_one_read_block_writes_every_row_a_status(sandbox_env):
    sandbox = sandbox_env
    rows = [["Chat ID", "Status", "Details", "Updated"]]
    rows += [[chat] for chat in OPEN_CHATS[:12]]
    rows += [
        [float(OPEN_CHATS[12].split("@")[0])],   # a phone number Excel holds as a number
        ["not a phone"],
        [OPEN_CHATS[0]],                         # a duplicate
        [None],                                  # an empty row: no status
        [xls.CellError("#N/A")],                 # a formula that failed
        [OPEN_CHATS[13], "Archived", "=done earlier", datetime(2026, 1, 1)],  # an earlier run's row
    ]
    book, chats = make_book(rows)

    addin.archive_chats(book)

    # the used range (the How-to column F too), then which rows are hidden
    assert reads_of(book, "Chats") == ["Chats!$A$1:$F$19", "Chats!$A$1:$A$19 visible"]
    assert len(reads_of(book, "Settings")) == 1
    # A block per burst of results (the empty row 17 is never written over: it splits one), never per cell.
    assert 1 <= len(book.writes) <= 6, book.writes
    assert all(w.startswith("Chats!$B$") and ":$D$" in w for w in book.writes)
    statuses = {r: chats.stored(f"B{r}") for r in range(2, 20)}
    assert [statuses[r] for r in range(2, 15)] == [st.ARCHIVED] * 13
    assert statuses[15] == st.INVALID
    assert statuses[16] == st.DUPLICATE
    assert statuses[17] is None
    assert statuses[18] == st.INVALID
    assert statuses[19] == "Archived"  # kept: no second call
    assert len(sandbox.calls("archiveChat")) == 13
    assert all(isinstance(chats.stored(f"D{r}"), datetime) for r in range(2, 17))
    # Once per run: the date-time format, and widths that show a status, its details and the whole date-time.
    assert book.format_writes == [("Chats!$D$2:$D$19", "yyyy-mm-dd hh:mm:ss"), ("Chats!$B$1", "width 20"),
                                  ("Chats!$C$1", "width 60"), ("Chats!$D$1", "width 20")]
    # Earlier text that looks like a formula was written back as text, not as a formula.
    assert chats.formulas() == {}
    assert chats.stored("C19") == "=done earlier"
    assert book.app.status_bar_history[-1] is False
    assert any(isinstance(s, str) and s.startswith("GreenApi: ") and " of 16" in s
               for s in book.app.status_bar_history)
    [alert] = book.app.alerts
    assert alert["title"] == "GreenApi" and "Archived 14" in alert["prompt"]
    assert alert["status_bar"] is False   # the run is over while its summary waits for OK, not "16 of 16"
    assert sandbox.token not in all_text(book)


def test_headers_are_written_when_missing(sandbox_env):
    book, chats = make_book([["Chat ID"], [OPEN_CHATS[0]], [OPEN_CHATS[1]]])
    addin.archive_chats(book)
    assert [chats.stored(a) for a in ("B1", "C1", "D1")] == ["Status", "Details", "Updated"]
    assert chats.stored("B2") == st.ARCHIVED and chats.stored("B3") == st.ARCHIVED
    assert len(book.writes) == 1


def test_rerun_makes_no_second_call(sandbox_env):
    book, chats = make_book([["Chat ID"], [OPEN_CHATS[0]], [OPEN_CHATS[1]]])
    addin.archive_chats(book)
    addin.archive_chats(book)
    assert len(sandbox_env.calls("archiveChat")) == 2
    assert chats.stored("B2") == st.ARCHIVED


def test_selected_column_is_used(sandbox_env):
    book, chats = make_book([["Name", "Mobile"], ["Anna", OPEN_CHATS[0]], ["Dima", OPEN_CHATS[1]]])
    book.select(chats, "B2:B3")
    addin.archive_chats(book)
    assert chats.stored("C2") == st.ARCHIVED and chats.stored("C3") == st.ARCHIVED
    assert chats.stored("A2") == "Anna"


def test_user_columns_are_not_overwritten(sandbox_env):
    book, chats = make_book([["Chat ID", "Name", "City"], [OPEN_CHATS[0], "Anna", "Moscow"]])
    addin.archive_chats(book)
    assert chats.stored("B2") == "Anna" and chats.stored("C2") == "Moscow"
    # D:F would cover the shipped How-to column F: the results go after the sheet's data.
    assert chats.stored("G1") == "Status" and chats.stored("G2") == st.ARCHIVED
    assert str(chats.stored("F1")) == "How to"
    assert "G:I" in book.app.alerts[-1]["prompt"]


def test_formula_like_text_is_written_as_text():
    assert live.live_value("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert live.live_value("+7 900") == "'+7 900"
    assert live.live_value("-1") == "'-1"
    assert live.live_value("@me") == "'@me"
    assert live.live_value("'quoted") == "''quoted"
    assert live.live_value("ok\x00\x1b\nline") == "ok line"  # the file side's rule: control characters out, spaces folded
    assert live.live_value(1.5) == 1.5
    assert len(live.live_value("x" * 40_000)) <= 300  # a server's whole page never fills a live cell


def test_formula_like_input_never_becomes_a_formula(sandbox_env):
    book, chats = make_book([["Chat ID"], ["=cmd|' /C calc'!A0"], ["@SUM(1)"], ["-2+3"], [OPEN_CHATS[0]]])
    addin.archive_chats(book)
    assert chats.formulas() == {}
    assert [chats.stored(f"B{r}") for r in range(2, 6)] == [st.INVALID, st.INVALID, st.INVALID, st.ARCHIVED]


def test_dry_run_changes_nothing(sandbox_env):
    book, chats = make_book([["Chat ID"], [OPEN_CHATS[0]], [OPEN_CHATS[1]]])
    addin.dry_run(book)
    assert sandbox_env.calls("archiveChat") == []
    assert chats.stored("B2") == st.WOULD_ARCHIVE
    assert "Dry run" in book.app.alerts[-1]["prompt"]


def test_unarchive(sandbox_env):
    archived = [c["id"] for c in DEFAULT_CHATS if c["archive"] and c["id"].endswith("@c.us")]
    book, chats = make_book([["Chat ID"]] + [[chat] for chat in archived])
    addin.unarchive_chats(book)
    assert [chats.stored(f"B{r}") for r in range(2, 2 + len(archived))] == [st.UNARCHIVED] * len(archived)


def test_wrong_token_is_one_clear_alert_and_rows_say_not_run(env, sandbox):
    env.setenv("GREENAPI_API_URL", sandbox.api_url)
    env.setenv("GREENAPI_ID_INSTANCE", sandbox.id_instance)
    env.setenv("GREENAPI_API_TOKEN_INSTANCE", "f" * 50)
    book, chats = make_book([["Chat ID"], [OPEN_CHATS[0]]])
    addin.archive_chats(book)
    assert chats.stored("B2") == st.NOT_RUN
    [alert] = book.app.alerts
    assert alert["mode"] == "critical" and "Traceback" not in alert["prompt"]
    assert "f" * 50 not in all_text(book) and sandbox.token not in all_text(book)
    assert sandbox.calls("archiveChat") == []


def test_missing_credentials_alert_and_touch_nothing(env):
    book, chats = make_book([["Chat ID"], [OPEN_CHATS[0]]])
    addin.archive_chats(book)
    [alert] = book.app.alerts
    assert "idInstance" in alert["prompt"] and alert["mode"] == "critical"
    assert book.writes == [] and reads_of(book, "Chats") == []
    assert book.app.status_bar_history[-1] is False


def test_empty_sheet_says_so(sandbox_env):
    book, chats = make_book([["Chat ID"]])
    addin.archive_chats(book)
    assert "No chat IDs" in book.app.alerts[-1]["prompt"]
    assert book.writes == []


def test_check_connection(sandbox_env):
    book, _ = make_book([["Chat ID"]])
    addin.check_connection(book)
    assert "authorized" in book.app.alerts[-1]["prompt"]
    assert len(sandbox_env.calls("getStateInstance")) == 1


def test_settings_moves_the_token_to_the_keychain(env, sandbox, keychain, tmp_path):
    settings = {"apiUrl": sandbox.api_url, "idInstance": float(sandbox.id_instance), "Region": "ru",
                "Token": sandbox.token}
    book, chats = make_book([["Chat ID"], [OPEN_CHATS[0]]], settings=settings)
    token_row = set_setting(book, "Token", sandbox.token)
    addin.settings(book)
    assert keychain.secrets[("GreenApiExcel", sandbox.id_instance)] == sandbox.token
    assert book.sheets["Settings"].stored(f"B{token_row}") is None
    assert sandbox.token not in all_text(book)
    assert sandbox.token not in (tmp_path / "config.ini").read_text()
    assert "keychain" in book.app.alerts[-1]["prompt"]
    # The next run finds everything without the workbook holding the token.
    addin.archive_chats(book)
    assert chats.stored("B2") == st.ARCHIVED


def test_archive_moves_a_typed_token_first(env, sandbox, keychain):
    settings_rows = [["APIURL", sandbox.api_url], ["idinstance", sandbox.id_instance], ["token", sandbox.token]]
    book, chats = make_book([["Chat ID"], [OPEN_CHATS[0]]], settings_rows=settings_rows)
    addin.archive_chats(book)
    assert chats.stored("B2") == st.ARCHIVED
    assert book.sheets["Settings"].stored("B3") is None
    assert keychain.secrets[("GreenApiExcel", sandbox.id_instance)] == sandbox.token
    assert sandbox.token not in all_text(book)


def test_paced_run_writes_one_block_per_burst(env, make_sandbox):
    sandbox = make_sandbox(rps=1000, read_rps=1000)
    env.setenv("GREENAPI_API_URL", sandbox.api_url)
    env.setenv("GREENAPI_ID_INSTANCE", sandbox.id_instance)
    env.setenv("GREENAPI_API_TOKEN_INSTANCE", sandbox.token)
    chats = OPEN_CHATS[:16]   # the client paces 10 a second: results arrive in several bursts
    book, sheet = make_book([["Chat ID"]] + [[chat] for chat in chats])
    addin.archive_chats(book)
    assert [sheet.stored(f"B{r}") for r in range(2, 2 + len(chats))] == [st.ARCHIVED] * len(chats)
    assert 2 <= len(book.writes) < len(chats), book.writes
    assert reads_of(book, "Chats") == ["Chats!$A$1:$F$17", "Chats!$A$1:$A$17 visible"]
    progress = [s for s in book.app.status_bar_history if isinstance(s, str)]
    assert progress[0] == f"GreenApi: starting ({len(chats)} rows)..."
    assert progress[-1].startswith(f"GreenApi: {len(chats)} of {len(chats)}")


def test_settings_button_reads_the_built_workbooks_own_labels(env, sandbox, keychain):
    """The labels are the ones the build wrote into GreenApi.xlsm's Settings sheet."""
    book, _ = make_book([["Chat ID"], [OPEN_CHATS[0]]],
                        settings={"apiUrl": sandbox.api_url, "idInstance": sandbox.id_instance})
    token_row = set_setting(book, "Token", sandbox.token)
    addin.settings(book)
    assert keychain.secrets[("GreenApiExcel", sandbox.id_instance)] == sandbox.token
    assert book.sheets["Settings"].stored(f"B{token_row}") is None
    assert sandbox.token not in all_text(book)


# --- the analyst's own sheet, in the shipped workbook ------------------------------------------------

def customers_book(rows, *, at="A1"):
    """The shipped book with the analyst's own sheet added and active (as if pasted in)."""
    book, _ = make_book([["Chat ID"]])
    top, left = xls._parse_address(at)[:2]
    sheet = book.add_sheet("Customers")
    for r, row in enumerate(rows, start=top):
        for c, value in enumerate(row, start=left):
            if value is not None:
                sheet.cells[(r, c)] = value
    book.sheets._active = sheet
    return book, sheet


ANALYST_ROWS = [
    ["Name", "Phone", "Notes"],
    ["Anna", "+7 900 123-45-67", "VIP"],
    ["Dmitry", float(OPEN_CHATS[1].split("@")[0]), "call back"],
    ["Olga", OPEN_CHATS[2], None],
]


def test_phones_selected_on_the_analysts_sheet_are_archived(sandbox_env):
    book, sheet = customers_book(ANALYST_ROWS)
    book.select(sheet, "B2:B4")
    addin.archive_chats(book)
    assert [sheet.stored(f"D{r}") for r in range(2, 5)] == [st.ARCHIVED] * 3
    assert {"79001234567@c.us", OPEN_CHATS[1], OPEN_CHATS[2]} <= sandbox_env.archived_ids()
    # The analyst's columns are as they were; Notes in C keeps the results out of C:E.
    assert [[sheet.stored(f"{c}{r}") for c in "ABC"] for r in range(1, 5)] == \
        [[v if not isinstance(v, float) else v for v in row] for row in ANALYST_ROWS]
    assert [sheet.stored(f"{c}1") for c in "DEF"] == ["Status", "Details", "Updated"]
    assert "D:F" in book.app.alerts[-1]["prompt"] and "C:E" in book.app.alerts[-1]["prompt"]


def test_the_phone_header_names_the_chat_column_without_a_selection(sandbox_env):
    book, sheet = customers_book(ANALYST_ROWS)
    book.select(sheet, "A1")   # one cell: where the cursor was left, no choice
    addin.archive_chats(book)
    assert [sheet.stored(f"D{r}") for r in range(2, 5)] == [st.ARCHIVED] * 3


def test_a_sheet_whose_data_starts_right_of_a_is_read_where_it_is(sandbox_env):
    book, sheet = customers_book(ANALYST_ROWS, at="C1")
    assert sheet.used_range.address == "$C$1:$E$4"   # as Excel's UsedRange, not from A1
    addin.archive_chats(book)
    assert [sheet.stored(f"F{r}") for r in range(2, 5)] == [st.ARCHIVED] * 3
    assert reads_of(book, "Customers") == ["Customers!$C$1:$E$4", "Customers!$D$1:$D$4 visible"]


def test_a_settings_chat_column_outranks_the_selection(sandbox_env):
    book, sheet = customers_book([["Name", "Mobile", "Other"], ["Anna", OPEN_CHATS[0], OPEN_CHATS[1]]])
    set_setting(book, "chat column", "Other")
    book.select(sheet, "B1:B2")
    addin.archive_chats(book)
    assert sandbox_env.archived_ids() >= {OPEN_CHATS[1]} and OPEN_CHATS[0] not in sandbox_env.archived_ids()


def test_a_headerless_column_is_refused_as_the_command_line_refuses_it(sandbox_env, tmp_path):
    from greenapi_excel.errors import WorkbookError
    from greenapi_excel.sheets import SheetFile

    rows = [[float(chat.split("@")[0])] for chat in OPEN_CHATS[:3]]
    book, sheet = customers_book(rows)
    addin.archive_chats(book)
    [alert] = book.app.alerts
    assert alert["mode"] == "critical"
    assert "not a header: insert a header row with Chat ID in A1 above the chats" in alert["prompt"]
    assert book.writes == [] and sandbox_env.calls("archiveChat") == []   # no row skipped in silence

    import openpyxl

    wb = openpyxl.Workbook()
    for row in rows:
        wb.active.append(row)
    wb.save(tmp_path / "nohead.xlsx")
    with pytest.raises(WorkbookError, match="not a header: insert a header row with Chat ID in A1 above the chats"):
        SheetFile.open(tmp_path / "nohead.xlsx")


def test_a_local_number_in_row_one_is_no_header_either(sandbox_env):
    book, sheet = customers_book([["8 (900) 123-45-67"], ["8 (916) 123-45-67"]])
    addin.archive_chats(book)
    assert "not a header" in book.app.alerts[-1]["prompt"] and book.writes == []


def test_region_from_the_environment_outranks_the_books_settings(env, sandbox_env):
    book, chats = make_book([["Chat ID"], ["8 (900) 123-45-67"]], settings={"region": "DE"})
    env.setenv("GREENAPI_REGION", "RU")
    addin.archive_chats(book)
    assert chats.stored("B2") == st.ARCHIVED
    assert "79001234567@c.us" in sandbox_env.archived_ids()


def test_region_from_the_books_settings_sheet(sandbox_env):
    book, chats = make_book([["Chat ID"], ["8 (900) 123-45-67"]], settings={"region": "RU"})
    addin.archive_chats(book)
    assert chats.stored("B2") == st.ARCHIVED


# --- the stand-in tells the truth ---------------------------------------------------------------

def test_standin_opens_the_shipped_book_as_excel_shows_it():
    book = xls.Book.from_file(SHIPPED_BOOK)
    assert [sheet.name for sheet in book.sheets] == ["Chats", "Settings", "xlwings.conf"]
    assert book.sheets.active.name == "Chats"
    settings = book.sheets["Settings"].range("A1:B6").value
    assert settings[2] == ["idInstance", "1101000001"]   # written as text by the build, read as text
    assert [row[0] for row in settings] == ["Setting", "apiUrl", "idInstance", "region", "chat column",
                                            "Token (moved to the keychain by the Settings button)"]
    assert settings[4][1] is None


def test_standin_reads_a_formula_as_its_value(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active["A1"] = 79001234567
    wb.active["A2"] = "=A1"
    wb.save(tmp_path / "f.xlsx")
    book = xls.Book.from_file(tmp_path / "f.xlsx")
    sheet = book.sheets[0]
    assert isinstance(sheet.stored("A2"), xls.Formula)
    assert sheet.range("A2").value is None   # openpyxl never calculated it: no saved value
    sheet.cells[(2, 1)] = xls.Formula("=A1", 79001234567)
    assert sheet.range("A1:A2").value == [79001234567.0, 79001234567.0]


# --- delivery and alert text (issue 12) --------------------------------------------------------------

def test_results_written_into_live_cells_are_marked_delivered(sandbox_env, tmp_path):
    import sqlite3

    book, chats = make_book([["Chat ID"], [OPEN_CHATS[0]]])
    addin.archive_chats(book)
    assert chats.stored("B2") == st.ARCHIVED
    conn = sqlite3.connect(tmp_path / "journal.sqlite")
    try:
        assert [r[0] is not None for r in conn.execute("SELECT delivered_at FROM calls")] == [True]
    finally:
        conn.close()
    # The sheet decides from here: a cleared Status cell sends the chat again.
    sandbox_env.chats[OPEN_CHATS[0]].archive = False
    chats.range("B2").value = None
    addin.archive_chats(book)
    assert chats.stored("B2") == st.ARCHIVED and len(sandbox_env.calls("archiveChat")) == 2
    assert OPEN_CHATS[0] in sandbox_env.archived_ids()


def test_alert_text_follows_the_cell_rule():
    assert texts.alert_text("Stopped\u202e early\u200b.\nRun again\x07.") == "Stopped early.\nRun again ."

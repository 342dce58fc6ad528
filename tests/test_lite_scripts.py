"""The xlwings Lite edition at work: GreenApi-Lite.xlsx as built, its main.py run by the Lite stand-in in real
Pyodide (npm's, under Node), with nothing installed but what the book's requirements.txt names (the engine comes
out of main.py itself), its buttons pressed and its functions called against the sandbox over loopback.

Each test opens the book afresh (a new Python session, as Lite's restart gives one) unless it says it keeps
the session; the sandbox and the book's cells are the truth the tests read."""

from __future__ import annotations

import json
import textwrap
import threading
import time

import openpyxl
import pytest

from greenapi_excel import i18n, statuses as st
from greenapi_excel.lite.book import PROGRESS_CELL, STOP_CELL
from greenapi_excel.workbook import lite
from lite_harness import start_host

ANNA, DMITRY, OLGA, SERGEY, IVAN = ("79001234567@c.us", "79161234567@c.us", "79262345678@c.us",
                                    "79031112233@c.us", "79852223344@c.us")
TOKEN = "lite0token0of0the0sandbox0xyz"

HELPERS = r'''
import asyncio, json
import lite_addin
from lite_addin import Excel, Cells

def open_book(cells, hidden, main_py, env):
    """The book opened (or Lite restarted): a fresh Python session for its main.py."""
    global excel
    import sys
    for name in [n for n in sys.modules if n == "greenapi_excel" or n.startswith("greenapi_excel.")]:
        del sys.modules[name]
    import os
    for name in [n for n in os.environ if n.startswith("GREENAPI_")]:
        del os.environ[name]        # a new session: only what this book's Lite sets
    excel = Excel(cells, hidden_sheets=hidden, local_environment=env)
    excel.start(main_py)
    return excel

def values(sheet, area):
    """The cells as JSON can carry them (a date-time as its text)."""
    return json.loads(json.dumps(excel.values(sheet, area), default=str))

def restart(main_py):
    """Lite restarted (a reload of the add-in): Python forgets everything; the book keeps what was flushed."""
    import sys
    for name in [n for n in sys.modules if n == "greenapi_excel" or n.startswith("greenapi_excel.")]:
        del sys.modules[name]
    excel.start(main_py)

def journal_rows():
    sheet = next(name for name in excel.sheets if name.startswith(("GreenApi journal", "Журнал")))
    cells = excel.sheets[sheet]
    return [[cells.get((r, c)) for c in (1, 2)] for r in range(3, 1 + max([r for r, _c in cells] + [2]))]
'''


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """GreenApi-Lite.xlsx in each language: its main.py and its cells as an independent reader (openpyxl) sees them."""
    books = {}
    for language in ("en", "ru"):
        path = lite.build_lite(tmp_path_factory.mktemp("book") / f"GreenApi-Lite-{language}.xlsx", language=language)
        workbook = openpyxl.load_workbook(path)
        cells = {sheet.title: {cell.coordinate: cell.value for row in sheet.iter_rows() for cell in row
                               if cell.value is not None} for sheet in workbook.worksheets}
        hidden = [sheet.title for sheet in workbook.worksheets if sheet.sheet_state != "visible"]
        books[language] = (lite.read_lite_properties(path)["main.py"], cells, hidden,
                           lite.read_lite_properties(path)["requirements.txt"])
    return books


@pytest.fixture(scope="module")
def lite_book_host(lite_build_dir, built):
    """Pyodide with what the book's requirements.txt installs (phonenumbers; xlwings is the stand-in), no engine."""
    assert [line.split("=")[0].split("<")[0] for line in built["en"][3].splitlines()] == ["xlwings", "phonenumbers"]
    host = start_host(lite_build_dir, only=("phonenumbers",), with_engine=False)
    host.run(HELPERS)
    yield host
    host.close()


class Book:
    """The analyst's side of one opened book: its cells, alerts and clicks, through the Pyodide host."""

    def __init__(self, host, built, sandbox, *, chats, language="en", env=None, settings=None):
        self.host = host
        self.main_py, cells, hidden, _requirements = built[language]
        cells = json.loads(json.dumps(cells))
        self.chats_sheet, self.settings_sheet = ("Chats", "Settings") if language == "en" else ("Чаты", "Настройки")
        chats_cells = cells[self.chats_sheet]
        for address in [a for a in chats_cells if a[0] in "ABCD" and a[1:] != "1"]:
            del chats_cells[address]
        for row, chat in enumerate(chats, start=2):
            if chat is not None:
                chats_cells[f"A{row}"] = chat
        cells[self.settings_sheet].update({"B2": sandbox.api_url, "B3": sandbox.id_instance, **(settings or {})})
        environment = {"GREENAPI_API_TOKEN_INSTANCE": sandbox.token, "GREENAPI_MAX_RATE": "1000"}
        environment.update(env or {})
        environment = {k: v for k, v in environment.items() if v is not None}
        host.run(f"open_book(json.loads({json.dumps(json.dumps(cells))}), {hidden!r}, {json.dumps(self.main_py)}, "
                 f"{environment!r}) and None")

    def run(self, code: str, timeout: float = 120.0):
        return self.host.run(textwrap.dedent(code), timeout=timeout)

    def click(self, shape: str, timeout: float = 120.0) -> None:
        self.run(f"await excel.click({shape!r})", timeout=timeout)

    def restart(self) -> None:
        self.run(f"restart({json.dumps(self.main_py)})")

    def call(self, function: str, *arguments: str):
        """A formula in a cell: =FUNCTION(Chats!A2:A3), the arguments as areas of the Chats sheet or values."""
        parts = [f"Cells({self.chats_sheet!r}, {a[1:]!r})" if a.startswith("@") else repr(a) for a in arguments]
        return self.run(f"await excel.call({function!r}, {', '.join(parts)})")

    def results(self, last_row: int) -> dict[int, list]:
        rows = self.run(f"values({self.chats_sheet!r}, 'A2:D{last_row}')")
        return {row: values for row, values in enumerate(rows, start=2)}

    def statuses(self, last_row: int) -> dict[int, str | None]:
        return {row: values[1] for row, values in self.results(last_row).items()}

    def alerts(self) -> list[dict]:
        return self.run("excel.alerts")

    def cell(self, address: str, sheet: str | None = None):
        return self.run(f"excel.value({(sheet or self.chats_sheet)!r}, {address!r})")


@pytest.fixture
def open_book(lite_book_host, built):
    def opened(sandbox, **options) -> Book:
        return Book(lite_book_host, built, sandbox, **options)
    return opened


# --- a run -----------------------------------------------------------------------------------------

def test_archive_writes_every_row_a_status_and_the_journal_into_the_book(open_book, sandbox):
    book = open_book(sandbox, chats=[ANNA, "+7 916 123-45-67", SERGEY, "not a chat", IVAN, ANNA, "79990001122"])
    book.click("btnArchiveChats")
    results = book.results(8)
    assert {row: values[1] for row, values in results.items()} == {
        2: st.ARCHIVED, 3: st.ARCHIVED, 4: st.ALREADY_ARCHIVED, 5: st.INVALID, 6: st.NO_INCOMING, 7: st.DUPLICATE,
        8: st.CHAT_NOT_FOUND}
    assert results[7][2] == "same chat as row 2" and results[2][3] is not None
    assert {ANNA, DMITRY} <= sandbox.archived_ids()
    assert sorted(c["chatId"] for c in sandbox.calls("archiveChat")) == sorted([ANNA, DMITRY, SERGEY, IVAN,
                                                                               "79990001122@c.us"])
    [alert] = book.alerts()
    assert alert["prompt"].startswith("Archive: 7 rows in column A of sheet Chats") and alert["mode"] == "info"
    assert "Archived 2" in alert["prompt"] and sandbox.token not in book.run("repr(excel.sheets)")
    records = [json.loads(cell) for cell, _run in book.run("journal_rows()") if cell]
    assert sorted(record[5] for record in records) == sorted([ANNA, DMITRY, SERGEY, IVAN, "79990001122@c.us"])
    assert all(record[6] == "answered" and record[12] is not None for record in records)   # delivered
    assert book.cell(PROGRESS_CELL).startswith("GreenApi: 7 of 7")



def test_a_rerun_skips_finished_rows_and_a_dry_run_changes_nothing(open_book, sandbox):
    book = open_book(sandbox, chats=[ANNA, OLGA])
    book.click("btnDryRun")
    assert book.statuses(3) == {2: st.WOULD_ARCHIVE, 3: st.WOULD_ARCHIVE}
    assert sandbox.calls("archiveChat") == [] and ANNA not in sandbox.archived_ids()
    book.click("btnArchiveChats")
    book.run(f"excel.type({book.chats_sheet!r}, 'A4', {DMITRY!r})")    # the analyst adds a row meanwhile
    book.click("btnArchiveChats")
    assert book.statuses(4) == {2: st.ARCHIVED, 3: st.ARCHIVED, 4: st.ARCHIVED}
    assert sorted(c["chatId"] for c in sandbox.calls("archiveChat")) == sorted([ANNA, OLGA, DMITRY])   # none twice
    dry, first, second = book.alerts()
    assert dry["prompt"].startswith("Dry run: 2 rows") and "Archived 3" in second["prompt"]   # kept rows count


def test_rows_a_filter_hides_are_skipped_and_counted(open_book, sandbox):
    book = open_book(sandbox, chats=[ANNA, OLGA, DMITRY])
    book.run(f"excel.hide_rows({book.chats_sheet!r}, [3])")
    book.click("btnArchiveChats")
    assert book.statuses(4) == {2: st.ARCHIVED, 3: None, 4: st.ARCHIVED}
    assert OLGA not in [c["chatId"] for c in sandbox.calls("archiveChat")]
    assert "Skipped 1 hidden row" in book.alerts()[0]["prompt"]


def _long_run(open_book, make_sandbox, prefix: str, count: int = 60, latency_ms: float = 200):
    """A book of ``count`` chats at GREEN-API's pace against a sandbox that answers after ``latency_ms``."""
    chats = [f"{prefix}{r:04d}@c.us" for r in range(count)]
    sandbox = make_sandbox([{"id": c, "incoming": 1} for c in chats], rps=1000, read_rps=1000, latency_ms=latency_ms)
    return chats, sandbox, open_book(sandbox, chats=chats, env={"GREENAPI_MAX_RATE": "10"})


def test_stop_ends_the_run_and_rows_not_reached_say_not_run(open_book, make_sandbox):
    chats, sandbox, book = _long_run(open_book, make_sandbox, "7900444")
    book.run('''
        run = asyncio.ensure_future(excel.click("btnArchiveChats"))
        await asyncio.sleep(2.0)
        await excel.click("btnStopRun")
        await run
    ''')
    statuses = book.statuses(61)
    called = {c["chatId"] for c in sandbox.calls("archiveChat")}
    assert set(statuses.values()) == {st.ARCHIVED, st.NOT_RUN}          # every row a status
    not_run = [row for row, status in statuses.items() if status == st.NOT_RUN]
    assert len(not_run) > 20 and not {chats[row - 2] for row in not_run} & called
    run_alert = next(a for a in book.alerts() if a["prompt"].startswith("Archive"))
    assert "Stopped early: Stopped on request" in run_alert["prompt"] and run_alert["mode"] == "critical"
    assert book.cell(STOP_CELL) == "stop"


def test_typing_into_the_stop_cell_stops_the_run_too(open_book, make_sandbox):
    chats, sandbox, book = _long_run(open_book, make_sandbox, "7900555")
    book.run(f'''
        run = asyncio.ensure_future(excel.click("btnArchiveChats"))
        await asyncio.sleep(2.0)
        excel.type({book.chats_sheet!r}, {STOP_CELL!r}, "please stop")
        await run
    ''')
    statuses = book.statuses(61)
    assert st.NOT_RUN in statuses.values() and None not in statuses.values()
    assert len(sandbox.calls("archiveChat")) < len(chats)
    book.click("btnArchiveChats")                   # the next run clears the stop cell and finishes the rest
    assert set(book.statuses(61).values()) == {st.ARCHIVED} and book.cell(STOP_CELL) is None
    assert sorted(c["chatId"] for c in sandbox.calls("archiveChat")) == sorted(chats)   # none twice


def test_the_journal_survives_a_restart_and_undo_takes_the_run_back_on_a_second_press(open_book, sandbox):
    book = open_book(sandbox, chats=[ANNA, OLGA, SERGEY])
    book.click("btnArchiveChats")
    book.restart()                                   # Python forgets; the book keeps its journal sheet
    book.click("btnUndoLastRun")
    question = book.alerts()[-1]["prompt"]
    assert question.startswith("Undo the last run?") and "unarchive those 2 chats" in question
    assert "Press Undo last run again within 60 seconds" in question and sandbox.calls("unarchiveChat") == []
    book.click("btnUndoLastRun")
    assert sorted(c["chatId"] for c in sandbox.calls("unarchiveChat")) == [ANNA, OLGA]   # not Sergey: already so
    assert book.statuses(4) == {2: st.UNARCHIVED, 3: st.UNARCHIVED, 4: st.ALREADY_ARCHIVED}
    assert book.alerts()[-1]["prompt"].startswith("Undo of run ")
    book.click("btnUndoLastRun")                     # Ctrl+Z: the next one back would be... nothing left
    assert "no run on instance" in book.alerts()[-1]["prompt"].lower()


def test_a_killed_script_leaves_what_it_flushed_and_a_rerun_sends_nothing_twice(open_book, make_sandbox):
    chats, sandbox, book = _long_run(open_book, make_sandbox, "7900666", count=40, latency_ms=100)
    book.run('''
        run = asyncio.ensure_future(excel.click("btnArchiveChats"))
        await asyncio.sleep(2.0)
        run.cancel()
        try:
            await run
        except asyncio.CancelledError:
            pass
    ''')
    statuses = book.statuses(41)
    assert st.ARCHIVED in statuses.values() and st.NOT_RUN in statuses.values()
    finished = {chats[row - 2] for row, status in statuses.items() if status == st.ARCHIVED}
    book.restart()
    book.click("btnArchiveChats")
    assert set(book.statuses(41).values()) == {st.ARCHIVED}
    sent = [c["chatId"] for c in sandbox.calls("archiveChat")]
    assert sorted(set(sent)) == sorted(chats)
    twice = {chat for chat in sent if sent.count(chat) > 1}
    unanswered = {record[5] for record in (json.loads(cell) for cell, _run in book.run("journal_rows()") if cell)
                  if record[6] in ("sent", "uncertain")}
    assert not twice & finished and twice <= unanswered    # only calls cut off in flight were asked again


# --- the network as the browser sees it ------------------------------------------------------------------

def test_a_first_read_that_cannot_reach_green_api_says_so_and_nothing_is_sent(open_book, sandbox):
    import socket

    with socket.socket() as probe:      # a port nobody listens on: fetch fails as a refused preflight does
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    book = open_book(sandbox, chats=[ANNA, OLGA], settings={"B2": f"http://127.0.0.1:{port}"})
    book.click("btnArchiveChats")
    [alert] = book.alerts()
    assert "Excel's browser engine could not reach GREEN-API at 127.0.0.1" in alert["prompt"]
    assert "desktop edition" in alert["prompt"] and alert["mode"] == "critical"
    results = book.results(3)
    assert [values[1] for values in results.values()] == [st.NOT_RUN, st.NOT_RUN]
    assert "Excel's browser engine could not reach GREEN-API" in results[2][2]
    assert sandbox.token not in alert["prompt"] and str(port) not in results[2][2].replace(f"127.0.0.1:{port}", "")


def test_already_archived_after_a_lost_reply_is_this_runs_doing(open_book, sandbox):
    """The browser says Failed to fetch; the retry hears "already archived": as on the desktop, Archived."""
    sandbox.inject("applied_drop")
    book = open_book(sandbox, chats=[ANNA])
    book.click("btnArchiveChats")
    [[_chat, status, details, _when]] = book.results(2).values()
    assert status == st.ARCHIVED and "lost" in details
    assert [c["fault"] for c in sandbox.calls("archiveChat")] == ["applied_drop", None]


def test_a_429_without_a_readable_retry_after_falls_back_to_the_clients_backoff(open_book):
    from types import SimpleNamespace

    from hostile_server import HostileServer, playing

    answers = iter([(429, "Too Many Requests")])
    answer = playing(archiveChat=lambda url: next(answers, (200, "")),
                     getSettings=(200, '{"incomingWebhook": "yes"}', "application/json"))
    with HostileServer(answer) as server:
        where = SimpleNamespace(api_url=server.url, id_instance="1101000001", token=TOKEN)
        book = open_book(where, chats=[ANNA])
        book.click("btnArchiveChats")
        archive_calls = [path for _verb, path in server.requests if "/archiveChat/" in path]
    assert book.statuses(2) == {2: st.ARCHIVED} and len(archive_calls) == 2


# --- the token, the settings, the other buttons ----------------------------------------------------------

def test_without_the_token_nothing_is_sent_and_the_analyst_is_told_where_to_set_it(open_book, sandbox):
    book = open_book(sandbox, chats=[ANNA], env={"GREENAPI_API_TOKEN_INSTANCE": None})
    book.click("btnArchiveChats")
    [alert] = book.alerts()
    assert "Environment Variables" in alert["prompt"] and "GREENAPI_API_TOKEN_INSTANCE" in alert["prompt"]
    assert sandbox.log == [] and book.statuses(2) == {2: None}


def test_a_token_typed_into_settings_is_emptied_refused_and_never_shown(open_book, sandbox):
    book = open_book(sandbox, chats=[ANNA], settings={"B6": "typed0token0value0in0the0cell0x"})
    book.click("btnArchiveChats")
    [alert] = book.alerts()
    assert "typed into the Settings sheet" in alert["prompt"] and "typed0token" not in alert["prompt"]
    assert book.cell("B6", "Settings") is None and sandbox.log == []


def test_check_connection_says_what_it_found(open_book, make_sandbox):
    book = open_book(make_sandbox(rps=1000, read_rps=1000), chats=[])
    book.click("btnCheckConnection")
    assert book.alerts()[-1]["prompt"].startswith("Connected: instance 1101000001")
    off = make_sandbox(rps=1000, read_rps=1000, incoming_webhook="no")
    book = open_book(off, chats=[])
    book.click("btnCheckConnection")
    alert = book.alerts()[-1]
    assert "incomingWebhook" in alert["prompt"] and alert["mode"] == "critical"
    assert off.calls("setSettings") == []                     # Lite cannot ask: it says how instead


def test_load_chats_fills_a_chat_list_sheet(open_book, sandbox):
    book = open_book(sandbox, chats=[ANNA])
    book.click("btnLoadChats")
    header, *rows = book.run("values('Chat list', 'A1:G60')")
    assert header[:4] == ["Chat ID", "Name", "Type", "Archived"]
    assert ANNA in [row[0] for row in rows] and "Loaded" in book.alerts()[-1]["prompt"]
    assert book.run("excel.formats[('Chat list', '$A$1:$G$1', 'bold')]") is True


def test_a_russian_book_speaks_russian(open_book, sandbox):
    book = open_book(sandbox, chats=[ANNA, "не номер"], language="ru")
    book.click("btnArchiveChats")
    assert book.statuses(3) == {2: i18n.in_language("ru", st.ARCHIVED), 3: i18n.in_language("ru", st.INVALID)}
    assert book.alerts()[0]["prompt"].startswith("Архивация")


# --- the worksheet functions --------------------------------------------------------------------------

def test_the_functions_follow_the_desktops_rules_and_land_in_the_books_journal(open_book, sandbox):
    book = open_book(sandbox, chats=[ANNA, OLGA, "not a chat"])
    book.click("btnCheckConnection")                         # the functions take the Settings a button read
    first = book.call("ARCHIVECHAT", "@A2:A4")
    assert first == [[st.ARCHIVED], [st.ARCHIVED], [first[2][0]]] and first[2][0].startswith(st.INVALID)
    again = book.call("ARCHIVECHAT", "@A2")                  # a recalculation answers from the journal
    assert again[0][0].startswith(f"{st.ARCHIVED} (") and len(sandbox.calls("archiveChat")) == 2
    assert book.call("CHATSTATUS", "@A2:A3") == [[st.ARCHIVED], [st.ARCHIVED]]
    book.click("btnCheckConnection")                         # any button writes the functions' calls into the book
    records = [json.loads(cell) for cell, _run in book.run("journal_rows()") if cell]
    assert sorted(r[5] for r in records) == [ANNA, OLGA] and {r[10] for r in records} == {"lite udf"}


def test_the_functions_keep_to_the_budget(open_book, sandbox):
    book = open_book(sandbox, chats=[])
    book.click("btnCheckConnection")
    many = [[f"7900777{r:04d}@c.us"] for r in range(31)]
    answer = book.run(f"await excel.call('ARCHIVECHAT', {many!r})")
    assert all(text.startswith(st.NOT_RUN) and "press Archive chats" in text for [text] in answer)
    assert sandbox.calls("archiveChat") == []


def test_the_functions_before_any_button_need_the_instance(open_book, sandbox):
    book = open_book(sandbox, chats=[ANNA])
    [[text]] = book.call("ARCHIVECHAT", "@A2")
    assert text.startswith(st.FAILED) and "Check connection" in text and sandbox.log == []
    book = open_book(sandbox, chats=[ANNA], env={"GREENAPI_ID_INSTANCE": sandbox.id_instance,
                                                  "GREENAPI_API_URL": sandbox.api_url})
    [[text]] = book.call("ARCHIVECHAT", "@A2")
    assert text == st.ARCHIVED

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

def journal_rows(columns=(1, 2)):
    """The journal sheet's records: by default the calls (A) and runs (B); (3,) the links, (4,) the settings."""
    sheet = next(name for name in excel.sheets if name.startswith(("GreenApi journal", "Журнал")))
    cells = excel.sheets[sheet]
    return [[cells.get((r, c)) for c in columns] for r in range(3, 1 + max([r for r, _c in cells] + [2]))]

def age_journal(seconds):
    """As if the calls the book's journal holds were made ``seconds`` earlier (getChats shows a change at most a
    minute later): the analyst saved, and came back later."""
    sheet = next(name for name in excel.sheets if name.startswith(("GreenApi journal", "Журнал")))
    cells = excel.sheets[sheet]
    for key, text in list(cells.items()):
        if key[1] == 1 and key[0] >= 3 and isinstance(text, str) and text.startswith("["):
            record = json.loads(text)
            for field in (1, 2, 12):        # sent_at, updated_at, delivered_at
                if record[field] is not None:
                    record[field] -= seconds
            cells[key] = json.dumps(record)

def shorten_waits(**waits):
    """GREEN-API's documented waits (a restart's poll, getChats' minute) shortened for the sandbox, on the
    clients the book's Python made (as the desktop's tests shorten the ribbon's)."""
    import sys
    from dataclasses import replace
    for client in sys.modules["greenapi_excel.lite.scripts"].session.clients.values():
        client.endpoint.waits = replace(client.endpoint.waits, **waits)

async def click_watching(shape, sheet, address):
    """Click a button and note each value the cell shows while the script runs (what the analyst sees)."""
    seen = []
    script = asyncio.ensure_future(excel.click(shape))
    while not script.done():
        value = excel.value(sheet, address)
        if not seen or seen[-1] != value:
            seen.append(value)
        await asyncio.sleep(0.02)
    await script
    return seen + [excel.value(sheet, address)]
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


def test_a_sheet_with_no_chat_says_so_and_nothing_is_sent(open_book, sandbox):
    book = open_book(sandbox, chats=[])
    book.click("btnArchiveChats")
    [alert] = book.alerts()
    assert alert["prompt"].startswith("No chat IDs found in") and sandbox.log == []
    assert book.run("journal_rows()") == []                  # no run recorded either


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
    assert off.calls("setSettings") == []                     # a first press only asks


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


# --- the account as it is (issue 19) -----------------------------------------------------------------------

def test_verify_marks_what_does_not_hold_and_a_second_press_sends_it_again(open_book, make_sandbox):
    """Anna's archiveChat is answered 200 and never applied (green-api #488, #744). Right after the run Verify
    waits for getChats' refresh in the progress cell; a second press within a minute sends Anna again, with
    GREEN-API's unarchive-then-archive."""
    sandbox = make_sandbox(silent_failure_chats=[ANNA], rps=1000, read_rps=1000)
    book = open_book(sandbox, chats=[ANNA, DMITRY])
    book.click("btnArchiveChats")
    assert book.statuses(3) == {2: st.ARCHIVED, 3: st.ARCHIVED} and ANNA not in sandbox.archived_ids()

    book.run("shorten_waits(list_refresh=1.5)")            # GREEN-API's minute, shortened for the sandbox
    seen = book.run(f"await click_watching('btnVerify', {book.chats_sheet!r}, {PROGRESS_CELL!r})")
    assert any("waiting for GREEN-API's chat list to refresh" in str(text) for text in seen), (seen, book.alerts())
    results = book.results(3)
    assert results[2][1] == st.NOT_ARCHIVED and results[2][2].startswith("checked ") and results[3][1] == st.ARCHIVED
    question = book.alerts()[-1]
    assert "1 does not" in question["prompt"] and "Send that 1 chat again now?" in question["prompt"]
    assert "Press Verify again within 60 seconds" in question["prompt"]
    assert len(sandbox.calls("getChats")) == 1 and sandbox.calls("unarchiveChat") == []   # one read, no change
    records = [json.loads(cell) for cell, _run in book.run("journal_rows()") if cell]
    assert [(r[5], r[10]) for r in records if r[7] == st.NOT_ARCHIVED] == [(ANNA, "lite verify")]   # in the book

    book.click("btnVerify")                                  # within the minute: the same row found, and sent
    assert book.statuses(3) == {2: st.ARCHIVED, 3: st.ARCHIVED} and ANNA in sandbox.archived_ids()
    assert "unarchived and archived again" in book.results(2)[2][2]
    assert [c["chatId"] for c in sandbox.calls("unarchiveChat")] == [ANNA]      # the workaround, for Anna only
    assert [c["chatId"] for c in sandbox.calls("archiveChat")] == [ANNA, DMITRY, ANNA, ANNA]
    assert book.alerts()[-1]["prompt"].startswith("Archive: 1 row")


def test_what_verify_found_stays_in_the_book_and_a_plain_rerun_after_a_restart_sends_it(open_book, make_sandbox):
    sandbox = make_sandbox(silent_failure_chats=[ANNA], rps=1000, read_rps=1000)
    book = open_book(sandbox, chats=[ANNA, OLGA])
    book.click("btnArchiveChats")
    book.run("age_journal(120)")                             # the run was two minutes ago: getChats shows it
    book.click("btnVerify")
    assert book.statuses(3) == {2: st.NOT_ARCHIVED, 3: st.ARCHIVED}
    book.restart()                                           # Python forgets; the journal sheet keeps Verify's word
    book.click("btnArchiveChats")
    assert book.statuses(3) == {2: st.ARCHIVED, 3: st.ARCHIVED} and ANNA in sandbox.archived_ids()
    assert [c["chatId"] for c in sandbox.calls("unarchiveChat")] == [ANNA]    # "already archived" not believed
    assert [c["chatId"] for c in sandbox.calls("archiveChat")].count(OLGA) == 1   # Olga was done: not sent


def test_verify_on_a_sheet_with_nothing_to_check_says_so_and_reads_nothing(open_book, sandbox):
    book = open_book(sandbox, chats=[ANNA])
    book.click("btnVerify")
    assert "nothing to verify" in book.alerts()[-1]["prompt"] and sandbox.log == []


def test_a_run_waits_out_a_restart_in_the_progress_cell(open_book, sandbox):
    book = open_book(sandbox, chats=[ANNA, OLGA])
    book.click("btnCheckConnection")
    book.run("shorten_waits(restart_poll=0.2)")            # re-asked every 5 s in the product
    sandbox.begin_restart(1.0)                               # as setSettings or a reboot does
    seen = book.run(f"await click_watching('btnArchiveChats', {book.chats_sheet!r}, {PROGRESS_CELL!r})")
    waits = [text for text in seen if "the instance is restarting: waiting" in str(text)]
    assert waits and waits[0].startswith("GreenApi: 0 of 2") and "(at most 6 min)" in waits[0], seen
    assert book.statuses(3) == {2: st.ARCHIVED, 3: st.ARCHIVED}
    assert book.cell(PROGRESS_CELL).startswith("GreenApi: 2 of 2")
    assert "Archived 2" in book.alerts()[-1]["prompt"]


def test_check_connection_switches_the_settings_on_by_a_second_press_and_the_book_keeps_since_when(
        open_book, make_sandbox):
    sandbox = make_sandbox(rps=1000, read_rps=1000, fresh_instance=True, restart_s=1.0)
    book = open_book(sandbox, chats=[])
    book.click("btnCheckConnection")
    question = book.alerts()[-1]
    assert "incomingWebhook" in question["prompt"] and "outgoingMessageWebhook" in question["prompt"]
    assert "Press Check connection again within 60 seconds" in question["prompt"] and question["mode"] == "critical"
    assert sandbox.calls("setSettings") == []

    book.run("shorten_waits(restart_poll=0.2)")
    seen = book.run(f"await click_watching('btnCheckConnection', {book.chats_sheet!r}, {PROGRESS_CELL!r})")
    assert len(sandbox.calls("setSettings")) == 1
    assert any(str(text).startswith("GreenApi: the instance is restarting: waiting") for text in seen), seen
    done = book.alerts()[-1]["prompt"]
    assert "GREEN-API shows them on now" in done and "never reach the journals" in done
    switched = [json.loads(cell) for [cell] in book.run("journal_rows((4,))") if cell]
    assert sorted((r[0], r[1]) for r in switched) == [(sandbox.id_instance, "incomingWebhook"),
                                                      (sandbox.id_instance, "outgoingMessageWebhook")]

    book.restart()                                           # what the book keeps, read again
    book.click("btnLoadChats")
    _header, *rows = book.run("values('Chat list', 'A1:G60')")
    idle = [row[6] for row in rows if row[0]]
    assert idle and all(isinstance(text, str) and text.startswith("unknown") for text in idle), idle


def test_the_links_load_chats_learns_stay_in_the_book_and_one_chat_on_two_rows_is_called_once(
        open_book, make_sandbox):
    sandbox = make_sandbox(lid_chats=2, chat_list_ids="lid", journal_ids="phone", rps=1000, read_rps=1000)
    anna_lid = sandbox.lid_of(ANNA)
    book = open_book(sandbox, chats=[ANNA, anna_lid])
    book.click("btnLoadChats")
    asked = [c["chatId"] for c in sandbox.calls("checkWhatsapp")]
    assert ANNA in asked                                     # named by the journals, listed by its @lid
    links = [json.loads(cell) for [cell] in book.run("journal_rows((3,))") if cell]
    assert [sandbox.id_instance, ANNA, anna_lid, "checkWhatsapp"] in [link[:4] for link in links]

    book.restart()
    book.run(f"excel.active = {book.chats_sheet!r}")        # back to the Chats sheet from the chat list
    book.click("btnArchiveChats")
    results = book.results(3)
    assert results[2][1] == st.ARCHIVED and results[3][1] == st.DUPLICATE and "row 2" in results[3][2]
    assert len(sandbox.calls("checkWhatsapp")) == len(asked)   # the book knew the link: nothing asked again
    assert [c["chatId"] for c in sandbox.calls("archiveChat")] == [ANNA]


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

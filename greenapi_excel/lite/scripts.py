"""The xlwings Lite edition's buttons and worksheet functions, behind the book's main.py: each gathers its inputs
from the book (one read of the Settings sheet, one of the sheet), calls its job on the asyncio driver and
shows what it returns, in words from ``texts``: the desktop's ``excel.macros`` for a book in the browser.

What differs from the desktop, and why:
- the token comes from xlwings Lite's environment variables (``GREENAPI_API_TOKEN_INSTANCE``, Local scope),
  never from a cell: a token typed into the Settings sheet is emptied and the run refused;
- the calls go through the browser (``lite.transport``): the first call of every run is a read, and when it
  cannot reach GREEN-API the analyst is told that Excel's browser engine could not (no network, or GREEN-API
  not allowing browser calls) and to use the desktop edition;
- the journal is in the book (``lite.journal``); results count as delivered once flushed;
- there is no status bar: the progress line goes into a cell under the buttons, and so does each wait for
  GREEN-API (an instance restarting, getChats' refresh), flushed at once; Stop sets the running script's
  cancel event, and the running script also polls the stop cell, so typing into it stops a run (or a wait)
  even where Lite runs one script at a time;
- a script may wait (the pane stays free): Check connection, Load chats and Verify wait out a restart and
  getChats' minute, where the desktop's buttons, which run in Excel's own process, say when to press again;
- alerts cannot ask (they are queued): Undo last run, Verify's sending again and Check connection's
  switching the settings on ask by a first press and act on a second press within CONFIRM_SECONDS;
- the worksheet functions get no book: they use the Settings sheet the last button read in this session.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from greenapi_excel import i18n, jobs, layout, livebook, pacing, statuses as st, texts, udf
from greenapi_excel import settings as config
from greenapi_excel.errors import BookBusy, ConfigError, ConnectionFailed, GreenApiExcelError, RetriesExhausted
from greenapi_excel.lite import book as lite_book
from greenapi_excel.lite import transport
from greenapi_excel.lite.journal import BookJournal

CONFIRM_SECONDS = 60.0   # a second press within this does what the first one asked about


@dataclass
class Running:
    """The run going on in this book (Lite runs Python for one book)."""

    cancel: asyncio.Event
    cells: lite_book.ChatsCells


@dataclass
class Session:
    """What the book's Python keeps between presses: the language it was built in, the run going on, the
    journal as last read (plus the functions' calls since), the Settings sheet as last read (the functions
    have no book to read it from), the instances reached, what a first press asked about (undo, verify's
    sending again, switching settings on: what and when), the clients."""

    language: str = i18n.ENGLISH
    running: Running | None = None
    journal: BookJournal | None = None
    settings: livebook.SheetSettings | None = None
    reached: set = field(default_factory=set)
    undo_asked: tuple[str, float] | None = None
    verify_asked: tuple[tuple, float] | None = None
    switch_asked: tuple[tuple, float] | None = None
    clients: dict = field(default_factory=dict)


def confirmed(asked: tuple | None, about) -> bool:
    """A first press asked about ``about`` within CONFIRM_SECONDS: this press goes ahead."""
    return asked is not None and asked[0] == about and time.monotonic() - asked[1] <= CONFIRM_SECONDS


session = Session()


def start(language: str) -> None:
    """main.py, when Lite runs it: the language the book was built in (its Settings sheet may change it)."""
    session.language = i18n.normalize(language) or i18n.ENGLISH


# --- one press ------------------------------------------------------------------------------------

class Press:
    """One press of a button: the book, the tokens its alerts must never show."""

    def __init__(self, book) -> None:
        self.book = book
        self.tokens: set[str] = {os.environ.get(config.ENV_API_TOKEN, "")}

    def alert(self, text: str, *, critical: bool = False) -> None:
        self.book.app.alert(texts.alert_text(text, *self.tokens), title=texts.TITLE,
                            mode="critical" if critical else "info")

    def settings(self) -> livebook.SheetSettings:
        """The one read of the Settings sheet; its Language row, when set, is the language of this press. A
        token typed into it is emptied (it never stays in the book) and refused."""
        found = livebook.read_settings(self.book)
        i18n.set_language(layout.settings_language(found.values) or session.language)
        token = found.token
        if found.token_row is not None and not (token is None or (isinstance(token, str) and not token.strip())):
            self.tokens.add(str(token).strip())
            self.book.sheets[found.sheet_name].range((found.token_row, 2)).value = None
            raise ConfigError(texts.lite_token_in_a_cell())
        session.settings = found
        return found

    def credentials(self, found: livebook.SheetSettings):
        found_credentials = credentials(found.for_engine())
        self.tokens.add(found_credentials.api_token)
        return found_credentials


async def press(book, action) -> None:
    """Run one button's ``action(press)``: in the book's language, any failure shown as one sentence."""
    pressed = Press(book)
    language = i18n.language()
    i18n.set_language(session.language)
    try:
        for step in (lambda: action(pressed), lambda: _keep_function_calls(book)):
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the analyst gets one sentence, never a traceback
                pressed.alert(texts.failure(error), critical=True)
    finally:
        i18n.set_language(language)


async def _keep_function_calls(book) -> None:
    """The worksheet functions' calls since the last press go into the book's journal with this press's
    writes (functions get no book to write to)."""
    if session.journal is not None and session.journal.changed:
        sheet, journal = _journal(book)
        sheet.queue(journal)


def credentials(sheet_settings: dict | None):
    """apiUrl and idInstance by the engine's order (the environment, then the Settings sheet); the token only
    in the environment variables xlwings Lite sets."""
    if not os.environ.get(config.ENV_API_TOKEN, "").strip():
        raise ConfigError(texts.lite_token_missing(config.ENV_API_TOKEN))
    given = [(sheet_settings or {}).get(key) for key in ("id_instance", "idinstance")]
    if not os.environ.get(config.ENV_ID_INSTANCE, "").strip() and not any(str(v or "").strip() for v in given):
        raise ConfigError(texts.lite_id_instance_missing(config.ENV_ID_INSTANCE))
    return config.resolve_credentials(sheet_settings=sheet_settings)


def client_for(found_credentials):
    """One client per instance and token for the session (its pacers remember the instance's pace)."""
    from greenapi_excel.client_async import AsyncGreenApiClient

    digest = hashlib.sha256(found_credentials.api_token.encode("utf-8")).hexdigest()
    key = (found_credentials.api_url, found_credentials.id_instance, digest)
    client = session.clients.get(key)
    if client is None:
        client = session.clients[key] = AsyncGreenApiClient(found_credentials, transport, rate=pacing.max_rate())
    return client


# --- the browser's network ----------------------------------------------------------------------------

def unreachable(error: BaseException | None) -> bool:
    """The browser could not reach GREEN-API at all: never sent, or every try ended in ``Failed to fetch``
    (a refused CORS preflight and no network look the same), with no HTTP answer."""
    return isinstance(error, ConnectionFailed) or (isinstance(error, RetriesExhausted) and error.status is None)


def browser_error(client) -> ConnectionFailed:
    return ConnectionFailed(texts.browser_cannot_reach(client.endpoint.host()))


async def first_read(client) -> GreenApiExcelError | None:
    """The run's first call, a read (getStateInstance, then getSettings): what stops the run before any
    change, in the browser's words when GREEN-API could not be reached at all."""
    problem = (await client.drive(jobs.preflight_flow(client.endpoint))).problem
    if unreachable(problem):
        return browser_error(client)
    if problem is None:
        session.reached.add(client.endpoint.id_instance)
    return problem


async def reading(client, job):
    """Await a job whose first call is a read; GREEN-API unreachable from the browser is said so."""
    try:
        return await job
    except GreenApiExcelError as error:
        if unreachable(error):
            raise browser_error(client) from None
        raise


# --- the buttons --------------------------------------------------------------------------------------

async def check_connection(pressed: Press) -> None:
    """The state (each with its sentence) and both settings the journals need. A setting that is off is
    offered on as the desktop's Yes/No does it, by a second press within CONFIRM_SECONDS, which switches
    them on (setSettings), waits until the instance is back and shows them on, and keeps when in the book's
    journal (Load chats' idle days count from then)."""
    found = pressed.settings()
    found_credentials = pressed.credentials(found)
    instance = found_credentials.id_instance
    client = client_for(found_credentials)
    journal_sheet, journal = _journal(pressed.book)
    asked, session.switch_asked = session.switch_asked, None
    questions: list[tuple[tuple, str]] = []

    def ask(question: str) -> bool:
        about = (instance, question)    # the question names the settings that are off
        questions.append((about, question))
        return confirmed(asked, about)

    async with talking(pressed, client) as talk:
        talk.cells.show(texts.asking(instance))
        await talk.flush()
        outcome = await reading(client, jobs.check_async(client, ask=ask, journal=journal))
        journal_sheet.queue(journal)           # when the settings were switched on, if they were
    if questions and not outcome.switched_on:
        session.switch_asked = (questions[-1][0], time.monotonic())
        pressed.alert(questions[-1][1] + "\n\n" + texts.lite_check_press_again(int(CONFIRM_SECONDS)),
                      critical=outcome.webhook == "no")
    elif outcome.switched_on:
        pressed.alert(texts.switched_on_alert(instance, outcome), critical=outcome.restarting)
    elif outcome.restarting:
        pressed.alert(texts.still_restarting_alert(instance, outcome), critical=True)
    elif not outcome.state_works:
        pressed.alert(texts.state_problem(instance, outcome.state), critical=True)
    elif outcome.webhook == "no":
        pressed.alert(texts.sentence(texts.webhook_off()), critical=True)
    elif outcome.state != "authorized":
        pressed.alert(texts.state_problem(instance, outcome.state))
    else:
        pressed.alert(texts.connected(instance, found_credentials.api_url) + "\n\n" + texts.idle_rule(outcome))


async def load_chats(pressed: Press) -> None:
    """One row per chat, with how far back the journals reach (the book's journal knows when this tool
    switched their settings on) and which @lid is which number (kept in the book's journal)."""
    from greenapi_excel import chatlist

    found = pressed.settings()
    client = client_for(pressed.credentials(found))
    journal_sheet, journal = _journal(pressed.book)
    async with talking(pressed, client) as talk:
        talk.cells.show(texts.reading_chats(client.endpoint.id_instance))
        await talk.flush()
        try:
            rows = await reading(client, jobs.fetch_chat_list_async(client, chatlist.DEFAULT_DAYS, journal))
        finally:
            journal_sheet.queue(journal)       # the links learnt, also when the list came back empty
    sheet, laid, window = livebook.write_chat_list(pressed.book, rows, chatlist.DEFAULT_DAYS, look=_plain_look)
    pressed.alert(texts.chats_loaded_alert(laid.describe(), sheet.name, window, rows[0].reach if rows else None))


def _plain_look(sheet, last: int, days: int) -> None:
    try:
        livebook.plain_look(sheet, last, days)
    except Exception:  # noqa: BLE001 - the look is a courtesy; the cells are what counts
        pass


async def _read_active_sheet(pressed: Press):
    """What a press that acts on the rows reads, once, when no other press holds the book: the Settings sheet,
    the credentials, and the active sheet (the Chats sheet when Settings is active) by ``layout``'s rules.
    Returns (settings, credentials, sheet, SheetRead, UsedRange)."""
    book = pressed.book
    _refuse_if_busy(book)
    found = pressed.settings()
    found_credentials = pressed.credentials(found)
    sheet = livebook.target_sheet(book)
    read, grid = await lite_book.read_sheet(book, sheet, found, selection=livebook.selected_column(book, sheet))
    return found, found_credentials, sheet, read, grid


async def run(pressed: Press, method: str, *, dry_run: bool) -> None:
    found, found_credentials, sheet, read, grid = await _read_active_sheet(pressed)
    prepared = jobs.prepare(read, method=method, dry_run=dry_run, region=config.resolve_region(None, found.values))
    if prepared.nothing_to_do:
        pressed.alert(prepared.nothing_to_do)
        return
    rows = {row for row, _chat in prepared.plan.todo} | {r.row for r in prepared.plan.decided}
    target = lite_book.LiteTarget(sheet, livebook.result_cells(grid, read.status_column, rows))
    outcome = await carry_out(pressed, prepared, found_credentials, target, source="lite")
    pressed.alert(texts.run_summary(outcome), critical=outcome.summary.stopped is not None)


async def undo_last_run(pressed: Press) -> None:
    """The first press says what the undo would do; a second press within CONFIRM_SECONDS does it."""
    book = pressed.book
    _refuse_if_busy(book)
    found = pressed.settings()
    found_credentials = pressed.credentials(found)
    opened = _journal(book)
    undo = jobs.find_undo(opened[1], found_credentials.id_instance)
    asked, session.undo_asked = session.undo_asked, None
    if not confirmed(asked, undo.run.id):
        session.undo_asked = (undo.run.id, time.monotonic())
        pressed.alert(texts.undo_question(undo) + "\n\n" + texts.lite_undo_press_again(int(CONFIRM_SECONDS)))
        return
    read = target = None
    if undo.run.sheet and undo.run.sheet in [s.name for s in book.sheets]:
        # The run's own sheet (the journal is in this book, so the run was on it), read as Archive reads it.
        read, grid = await lite_book.read_sheet(book, book.sheets[undo.run.sheet], found,
                                                column=undo.run.chat_column, with_hidden=False)
    prepared = jobs.prepare_undo(undo, read, region=config.resolve_region(None, found.values), journal=opened[1])
    if read is not None:
        cells = livebook.result_cells(grid, read.status_column, [row for row, _chat in prepared.plan.todo])
        target = lite_book.LiteTarget(book.sheets[undo.run.sheet], cells)
    outcome = await carry_out(pressed, prepared, found_credentials, target, source="lite undo", opened=opened)
    elsewhere = [f"{outcome.chats.get(r.row, '')}: {st.localised(r.status)}" for r in outcome.elsewhere]
    pressed.alert(texts.undo_summary(outcome, elsewhere), critical=outcome.summary.stopped is not None)


async def stop_run(pressed: Press) -> None:
    """Stop the run going on: at once through its cancel event, and through the stop cell it polls."""
    running = session.running
    if running is None:
        pressed.alert(texts.nothing_to_stop(pressed.book.name))
        return
    running.cancel.set()
    cells = lite_book.ChatsCells(pressed.book)
    cells.request_stop()
    cells.show(texts.stopping())


async def verify(pressed: Press) -> None:
    """Every row whose Status says a chat was archived or unarchived (or that verify found otherwise before)
    checked against one getChats read, once it can show this tool's last change (the wait shown in the
    progress cell); the rows it contradicts say Not archived / Not unarchived at once. Sending them again
    (the desktop's Yes) is a second press within CONFIRM_SECONDS that finds the same rows: a run of those
    rows in which an "already" answer is not believed (GREEN-API's unarchive-then-archive)."""
    book = pressed.book
    found, found_credentials, sheet, read, grid = await _read_active_sheet(pressed)
    checks = jobs.prepare_verify(read, region=config.resolve_region(None, found.values))
    opened = _journal(book)
    journal = opened[1]
    client = client_for(found_credentials)
    target = lite_book.LiteTarget(sheet, livebook.result_cells(grid, read.status_column, [c.row for c in checks]))
    async with talking(pressed, client, flush=_results_flush(book, opened, target)) as talk:
        talk.cells.show(texts.reading_chats(found_credentials.id_instance))
        await talk.flush()
        outcome = await reading(client, jobs.verify_async(read, checks, client, journal, target,
                                                          after_block=talk.flush))
    summary = texts.verify_summary(outcome)
    runs = outcome.fix(read)
    asked, session.verify_asked = session.verify_asked, None
    if not runs:
        pressed.alert(summary)
        return
    contradicted = (sheet.name, tuple(sorted((r.row, r.status) for r in outcome.verified.contradicted)))
    if not confirmed(asked, contradicted):
        session.verify_asked = (contradicted, time.monotonic())
        pressed.alert(summary + "\n\n" + texts.verify_question(len(outcome.verified.contradicted)) + " "
                      + texts.lite_verify_press_again(int(CONFIRM_SECONDS)))
        return
    prepared = runs[0]
    cells = livebook.result_cells(grid, read.status_column, [row for row, _chat in prepared.plan.todo])
    sent = await carry_out(pressed, prepared, found_credentials, lite_book.LiteTarget(sheet, cells),
                           source="lite verify", opened=opened)
    later = "\n\n" + texts.verify_other_method_later(runs[1].method) if len(runs) > 1 else ""
    pressed.alert(texts.run_summary(sent) + later, critical=sent.summary.stopped is not None)


def _refuse_if_busy(book) -> None:
    if session.running is not None:
        raise BookBusy(texts.busy(book.name))


def _journal(book) -> tuple[lite_book.JournalSheet, BookJournal]:
    """The book's journal sheet and the journal it holds (with the functions' calls not yet in it)."""
    sheet = lite_book.JournalSheet(book)
    session.journal = sheet.journal(session.journal)
    return sheet, session.journal


def _results_flush(book, opened: tuple[lite_book.JournalSheet, BookJournal], target):
    """The flush of a press that writes results into ``target`` (a LiteTarget, or None): the journal's changed
    records queued after the cells, and a result counted delivered only once the flush that carried it went
    through (a write queued while it goes waits for the next)."""
    journal_sheet, journal = opened

    async def flush() -> None:
        journal_sheet.queue(journal)
        carried = target.flushing() if target is not None else 0
        await book.flush()
        if target is not None:
            target.flushed(carried)
    return flush


@dataclass
class Talk:
    """A press talking to GREEN-API (``talking``): its progress and stop cells, its progress line, its cancel
    event, its flush (one at a time) and what shows a wait."""

    cells: lite_book.ChatsCells
    line: livebook.ProgressLine
    cancel: asyncio.Event
    flush: Callable[[], Awaitable[None]]
    on_wait: Callable[[str, float, float], None]


@contextlib.asynccontextmanager
async def talking(pressed: Press, client, *, rows: int | None = None, flush=None):
    """While a press talks to GREEN-API: it holds the book (a second press is refused: they would share the
    session's client); each wait for GREEN-API (an instance restarting, getChats' refresh) is shown in the
    progress cell, beside a run's progress when ``rows`` says it is a run of that many rows (``Talk.line``),
    and flushed at once, since no result moves meanwhile; Stop and the stop cell set its cancel event, which
    ends a pacing wait, a restart's or getChats'. ``flush`` (default: the book's) is what ``Talk.flush``
    does, one flush at a time. A press that is not a run leaves the progress cell empty."""
    book = pressed.book
    _refuse_if_busy(book)
    cells = lite_book.ChatsCells(book)
    cells.clear_stop()
    line = livebook.ProgressLine(cells.show)
    line.total = rows or 0
    cancel = asyncio.Event()
    one_at_a_time = asyncio.Lock()
    pending: set = set()

    async def flush_now() -> None:
        async with one_at_a_time:
            await (flush or book.flush)()

    def on_wait(reason: str, waited: float, limit: float) -> None:
        if rows is None:
            cells.show(texts.wait_line(reason, waited, limit))
        else:
            line.wait(reason, waited, limit)
        task = asyncio.ensure_future(flush_now())
        pending.add(task)
        task.add_done_callback(pending.discard)

    session.running = Running(cancel, cells)
    kept = client.cancel, client.on_wait
    client.cancel, client.on_wait = cancel, on_wait
    watcher = asyncio.ensure_future(lite_book.watch_stop(cells, cancel))
    try:
        yield Talk(cells, line, cancel, flush_now, on_wait)
    finally:
        watcher.cancel()
        client.cancel, client.on_wait = kept
        session.running = None
        await asyncio.gather(*pending, return_exceptions=True)
        if rows is None:
            cells.show("")


async def carry_out(pressed: Press, prepared: jobs.Prepared, found_credentials, target, *, source: str,
                    opened: tuple[lite_book.JournalSheet, BookJournal] | None = None):
    """The run on asyncio: the first read, the calls, a block of results flushed every half second with
    the journal's records behind it, the progress cell (with any wait for GREEN-API in it), Stop; the
    journal's last records flushed at the end."""
    book = pressed.book
    opened = opened or _journal(book)
    journal_sheet, journal = opened
    client = client_for(found_credentials)
    async with talking(pressed, client, rows=prepared.plan.rows, flush=_results_flush(book, opened, target)) as talk:
        talk.cells.show(texts.starting(texts.rows_count(prepared.plan.rows)))
        await talk.flush()
        problem = await first_read(client)
        outcome = await jobs.execute_async(prepared, client, journal, target, progress=talk.line.show,
                                           cancel=talk.cancel, source=source, preflight=False, stopped_by=problem,
                                           after_block=talk.flush, on_wait=talk.on_wait)
    outcome.summary.calls += 1   # the first read, counted as the desktop's preflight is
    journal_sheet.queue(journal)
    await book.flush()
    return outcome


# --- the worksheet functions ----------------------------------------------------------------------------

async def function(value, method: str | None):
    """=ARCHIVECHAT / =UNARCHIVECHAT / =CHATSTATUS in Lite: the desktop's rules and budget (``udf``), on
    asyncio; the Settings sheet as the last button read it, the journal as the last button read it."""
    found = session.settings
    sheet_settings = {**found.values, **found.for_engine()} if found is not None else {}
    if not layout.settings_language(sheet_settings):
        sheet_settings[layout.LANGUAGE_SETTING] = session.language

    def ready() -> None:
        credentials(sheet_settings)   # the Lite words for what is missing

    def journal() -> BookJournal:
        if session.journal is None:
            session.journal = BookJournal()
        return session.journal

    return await udf.answer_async(value, method, sheet_settings, carry_out=_function_need, journal=journal,
                                  before=ready, too_many=texts.too_many_for_a_lite_function)


async def _function_need(need):
    client = client_for(need.credentials)
    problem = None
    if client.endpoint.id_instance not in session.reached:
        problem = await first_read(client)
    if isinstance(need, udf.ReadChats):
        if problem is not None:
            raise problem
        return await reading(client, client.get_chats())
    return await jobs.execute_async(need.prepared, client, need.journal, source="lite udf", preflight=False,
                                    stopped_by=problem)

"""The ribbon's buttons, behind ``addin.py``: each gathers its inputs from the live book (one read of the
Settings sheet, one of the sheet), calls its job and shows what it returns, in words from ``texts``.

Archive, Unarchive, Dry run and Undo read and plan here, in Excel's Python, and return at once: a worker
process (``work``) makes the calls and writes the results back in blocks. Every alert goes through
``texts.alert_text`` (the token out, the cell rule); every failure is one sentence, never a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import xlwings as xw

from greenapi_excel import background, i18n, jobs, layout, statuses as st, texts
from greenapi_excel import settings as config
from greenapi_excel.errors import BookBusy, ConfigError
from greenapi_excel.excel import live


class Macro:
    """One press of a button: the book it acts on, the tokens its alerts must never show, whether a
    worker took the run over (the status bar is the worker's then)."""

    def __init__(self, book) -> None:
        self.book = book
        self.tokens: set[str] = {os.environ.get(config.ENV_API_TOKEN, "")}
        self.started = False

    def alert(self, text: str, *, critical: bool = False, buttons: str = "ok"):
        return self.book.app.alert(texts.alert_text(text, *self.tokens), title=texts.TITLE,
                                   mode="critical" if critical else "info", buttons=buttons)

    def ask(self, question: str) -> bool:
        return str(self.alert(question, buttons="yes_no")).lower() == "yes"

    def status(self, text: str) -> None:
        live.quietly(lambda: setattr(self.book.app, "status_bar", text))


def press(book, action) -> None:
    """Run one button's ``action(macro)``: in the book's language (its Settings sheet's Language row), with
    any failure shown as one sentence after the status bar is cleared."""
    macro = Macro(book)
    language = i18n.language()
    i18n.set_language(i18n.choose())   # until the Settings sheet's Language row is read
    try:
        failure = None
        try:
            action(macro)
        except Exception as error:  # noqa: BLE001 - the analyst gets one sentence, never a traceback
            failure = texts.failure(error)
        if not macro.started:   # a started run's worker owns the status bar from then on
            live.quietly(lambda: setattr(book.app, "status_bar", False))
        if failure is not None:   # after the status bar: not "asking instance ..." under the failure
            live.quietly(lambda: macro.alert(failure, critical=True))
    finally:
        i18n.set_language(language)


def _settings(macro: Macro) -> live.SheetSettings:
    """The one read of the Settings sheet; its Language row, when set, is the language of this press."""
    found = live.read_settings(macro.book)
    i18n.set_language(layout.settings_language(found.values) or i18n.choose())
    return found


def _move_token(macro: Macro, found: live.SheetSettings) -> str | None:
    """A token typed into the Settings sheet goes to the keychain, under the idInstance the runs will
    look it up by (``settings.resolve_id_instance``), and its cell is emptied. Returns that idInstance."""
    token = found.token
    if token is None or (isinstance(token, str) and not token.strip()):
        return None
    if not isinstance(token, str):
        raise ConfigError(texts.token_is_a_number())
    macro.tokens.add(token.strip())
    instance = config.resolve_id_instance(None, found.values)
    config.store_token(instance, token.strip())
    live.clear_token_cell(macro.book, found)
    return instance


def _credentials(macro: Macro, found: live.SheetSettings):
    moved = _move_token(macro, found)
    credentials = config.resolve_credentials(sheet_settings=found.for_engine())
    macro.tokens.add(credentials.api_token)
    return credentials, moved


def _client(credentials):
    from greenapi_excel import pacing
    from greenapi_excel.client import GreenApiClient

    # As fast as the instance allows: GREEN-API's 10 a second (GREENAPI_MAX_RATE for a local emulator).
    return GreenApiClient(credentials, rate=pacing.max_rate())


# --- the buttons --------------------------------------------------------------------------------------

def settings(macro: Macro) -> None:
    found = _settings(macro)
    moved = _move_token(macro, found)
    region = found.get("region")
    region = str(region).strip() if region not in (None, "") else None
    if region:
        from greenapi_excel import chat_ids

        region = chat_ids.check_region(region)
    instance = found.get("idinstance")
    path = config.save_config(api_url=found.for_engine()["api_url"],
                              id_instance=instance if instance not in (None, "") else None, region=region)
    macro.alert(texts.settings_saved(moved, texts.keychain_name(sys.platform), path))


def check_connection(macro: Macro) -> None:
    """The state (each with its sentence), both settings the journals need, offered on; never a wait in
    Excel's process: a restart is said, with when to press again."""
    from greenapi_excel.journal import Journal

    found = _settings(macro)
    credentials, _moved = _credentials(macro, found)
    macro.status(texts.asking(credentials.id_instance))
    with _client(credentials) as client, Journal() as journal:
        client.endpoint.waits = _no_waiting(client.endpoint.waits)
        outcome = jobs.check(client, ask=macro.ask, journal=journal, wait=False)
    instance = credentials.id_instance
    if outcome.switched_on:
        macro.alert(texts.switched_on_alert(instance, outcome))
    elif outcome.restarting:
        macro.alert(texts.still_restarting_alert(instance, outcome), critical=True)
    elif not outcome.state_works:
        macro.alert(texts.state_problem(instance, outcome.state), critical=True)
    elif outcome.webhook == "no":
        macro.alert(texts.webhook_left_off(), critical=True)
    elif outcome.state != "authorized":
        macro.alert(texts.state_problem(instance, outcome.state))
    else:
        macro.alert(texts.connected(instance, credentials.api_url) + "\n\n" + texts.idle_rule(outcome))


def _no_waiting(waits):
    """A button's macro runs in Excel's process: it never sits out a restart (Excel would hang meanwhile)."""
    from dataclasses import replace

    return replace(waits, restart=0.0)


def run(macro: Macro, method: str, *, dry_run: bool) -> None:
    """Read and plan here, at once; the calls and the block writes happen in the worker process."""
    book = macro.book
    _refuse_if_busy(book)
    found = _settings(macro)
    moved = _credentials(macro, found)[1]   # missing credentials fail here, before any read
    sheet = live.target_sheet(book)
    read, grid = live.read_sheet(book, sheet, found, selection=live.selected_column(book, sheet))
    prepared = jobs.prepare(read, method=method, dry_run=dry_run, region=config.resolve_region(None, found.values))
    prepared.token_moved = moved
    if prepared.nothing_to_do:
        macro.alert(prepared.nothing_to_do)
        return
    rows = {row for row, _chat in prepared.plan.todo} | {r.row for r in prepared.plan.decided}
    _start_worker(macro, prepared, found, live.result_cells(grid, read.status_column, rows),
                  texts.rows_count(prepared.plan.rows))


def undo_last_run(macro: Macro) -> None:
    """Ask here; the opposite calls and the block writes happen in the worker process, as for Archive."""
    from greenapi_excel.journal import Journal

    book = macro.book
    _refuse_if_busy(book)
    found = _settings(macro)
    credentials, _moved = _credentials(macro, found)
    with Journal() as journal:
        undo = jobs.find_undo(journal, credentials.id_instance)
        if not macro.ask(texts.undo_question(undo)):
            macro.alert(texts.nothing_changed())
            return
        read = cells = None
        if jobs.undo_reads_book(undo, live.book_identity(book)) and undo.run.sheet in [s.name for s in book.sheets]:
            # The run's own sheet, read as Archive reads a sheet: the chat column by the same rule.
            read, grid = live.read_sheet(book, book.sheets[undo.run.sheet], found, column=undo.run.chat_column)
        prepared = jobs.prepare_undo(undo, read, region=config.resolve_region(None, found.values), journal=journal)
    if read is not None:
        cells = live.result_cells(grid, read.status_column, [row for row, _chat in prepared.plan.todo])
    _start_worker(macro, prepared, found, cells, texts.undo_starting(undo))


def load_chats(macro: Macro) -> None:
    from greenapi_excel import chatlist
    from greenapi_excel.journal import Journal

    book = macro.book
    found = _settings(macro)
    credentials, _moved = _credentials(macro, found)
    macro.status(texts.reading_chats(credentials.id_instance))
    with _client(credentials) as client, Journal() as journal:
        client.endpoint.waits = _no_waiting(client.endpoint.waits)
        rows = jobs.fetch_chat_list(client, chatlist.DEFAULT_DAYS, journal)
    sheet, laid, window = live.write_chat_list(book, rows, chatlist.DEFAULT_DAYS)
    macro.alert(texts.chats_loaded_alert(laid.describe(), sheet.name, window, rows[0].reach if rows else None))


def verify(macro: Macro) -> None:
    """One getChats read here (it is one call); rows it contradicts get Not archived / Not unarchived at once;
    sending them again, after a Yes, goes to the worker process as Archive does."""
    from greenapi_excel.journal import Journal

    book = macro.book
    _refuse_if_busy(book)
    found = _settings(macro)
    credentials, _moved = _credentials(macro, found)
    sheet = live.target_sheet(book)
    read, grid = live.read_sheet(book, sheet, found, selection=live.selected_column(book, sheet))
    checks = jobs.prepare_verify(read, region=config.resolve_region(None, found.values))
    macro.status(texts.reading_chats(credentials.id_instance))
    rows = [check.row for check in checks]
    target = live.LiveTarget(sheet, live.result_cells(grid, read.status_column, rows))
    with _client(credentials) as client, Journal() as journal:
        client.endpoint.waits = _no_waiting(client.endpoint.waits)
        outcome = jobs.verify(read, checks, client, journal, target, wait=False, source="addin verify")
    if outcome.too_soon is not None:
        macro.alert(texts.verify_too_soon(outcome.too_soon))
        return
    summary = texts.verify_summary(outcome)
    runs = outcome.fix(read)
    if not runs:
        macro.alert(summary)
        return
    count = len(outcome.verified.contradicted)
    if not macro.ask(summary + "\n\n" + texts.verify_question(count)):
        macro.alert(texts.verify_fix_hint())
        return
    prepared = runs[0]
    if len(runs) > 1:
        macro.alert(texts.verify_other_method_later(runs[1].method))
    cells = live.result_cells(grid, read.status_column, [row for row, _chat in prepared.plan.todo])
    _start_worker(macro, prepared, found, cells, texts.rows_count(len(prepared.plan.todo)))


def stop_run(macro: Macro) -> None:
    book = macro.book
    identity = live.book_identity(book)
    if not background.book_busy(identity):
        macro.alert(texts.nothing_to_stop(book.name))
        return
    background.RunFiles.for_book(identity).request_stop()
    macro.status(texts.stopping())


def _refuse_if_busy(book) -> None:
    if background.book_busy(live.book_identity(book)):
        raise BookBusy(texts.busy(book.name))


# --- the worker process -----------------------------------------------------------------------------

WORKER_CODE = "import sys, addin; addin.work(sys.argv[1])"


def _start_worker(macro: Macro, prepared: jobs.Prepared, found: live.SheetSettings, cells, what: str) -> None:
    """Write the job, start the worker (a separate Python process) and return: Excel stays usable."""
    book = macro.book
    # The token stays out of the job file: the worker finds it where the macro did (keychain, environment).
    job = background.WorkerJob(prepared, background.LiveBook(book.name, live.book_identity(book), book.app.pid),
                               i18n.language(), found.for_engine(), cells)
    files = background.RunFiles.for_book(job.book.identity)
    files.write_job(job)
    macro.status(texts.starting(what))
    macro.started = True   # the status bar is the worker's now
    spawn(files)


def spawn(files: background.RunFiles) -> None:
    """``python -c WORKER_CODE JOB``: detached, no console window, output to the run's private log."""
    here = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH", ""), here) if p)
    options = {"stdin": subprocess.DEVNULL, "close_fds": True, "cwd": here, "env": env}
    if sys.platform.startswith("win"):
        options["creationflags"] = subprocess.CREATE_NO_WINDOW | subprocess.CREATE_NEW_PROCESS_GROUP
    else:
        options["start_new_session"] = True   # RunPython's shell returns; Excel quitting does not kill the run
    with files.open_log() as log:
        subprocess.Popen([sys.executable, "-c", WORKER_CODE, str(files.job)], stdout=log, stderr=log, **options)


def calling_book():
    """The book a button acts on, as RunPython names it: GreenApi.xlsm itself, or, from the add-in (built on
    xlwings' custom add-in module), the active workbook, on Windows and on a Mac."""
    return xw.Book.caller()


def attach(ident: background.LiveBook):
    """The running Excel's book the macro was started from (open-source xlwings: apps by pid, books by name)."""
    try:
        return xw.apps[ident.pid].books[ident.name]
    except Exception:  # noqa: BLE001 - Excel quit, or the book closed
        return None


def work(job_path: str) -> None:
    """The worker process: attach to the Excel that started it, carry the job out, write results in blocks."""
    files = background.RunFiles.of_job(job_path)
    job = files.read_job()
    book = attach(job.book)
    if book is None:   # the book closed before the worker started: nothing was sent
        files.finished()
        return
    carry_out(book, job, files)


def carry_out(book, job: background.WorkerJob, files: background.RunFiles) -> None:
    """Carry ``job`` out on ``book`` holding the book's lock; Stop (``files.stop``) ends it within a second."""
    from greenapi_excel.paths import book_lock

    macro = Macro(book)
    macro.started = True
    i18n.set_language(job.language or i18n.choose())
    try:
        with book_lock(job.book.identity):
            try:
                with background.StopWatcher(files) as cancel:
                    summary_text, critical = _carry_out(macro, job, cancel)
            finally:
                files.finished()
    except Exception as error:  # noqa: BLE001 - the analyst gets one sentence, never a traceback
        summary_text, critical = texts.failure(error), True
    finally:
        live.quietly(lambda: setattr(book.app, "status_bar", False))
    # The run is over (lock released, job gone, progress cleared) before the summary waits for its OK button.
    live.quietly(lambda: macro.alert(summary_text, critical=critical))


def _carry_out(macro: Macro, job: background.WorkerJob, cancel) -> tuple[str, bool]:
    from greenapi_excel.journal import Journal

    credentials = config.resolve_credentials(sheet_settings=job.settings)
    macro.tokens.add(credentials.api_token)
    prepared = job.prepared
    sheet = macro.book.sheets[prepared.sheet] if job.cells is not None else None
    target = live.LiveTarget(sheet, job.cells) if sheet is not None else None
    with _client(credentials) as client, Journal() as journal:
        status = live.StatusBar(macro.book)
        outcome = jobs.execute(prepared, client, journal, target, progress=status.show, on_wait=status.wait,
                               cancel=cancel, source="addin undo" if prepared.undo_of else "addin")
    if prepared.undo_of:
        elsewhere = [f"{outcome.chats.get(r.row, '')}: {st.localised(r.status)}" for r in outcome.elsewhere]
        return texts.undo_summary(outcome, elsewhere), outcome.summary.stopped is not None
    return texts.run_summary(outcome), outcome.summary.stopped is not None

"""The ribbon's macros: Archive, Unarchive, Dry run, Load chats, Undo last run, Stop, Check connection, Settings.

The ribbon calls ``RunPython "import addin; addin.archive_chats()"``. Each macro works on the book
that called it, or with the add-in GreenApi.xlam on the active workbook (``book`` is there for tests).
Archive, Unarchive, Dry run and Undo read and plan here and return at once: a worker process
(``work``) makes the calls and writes the results back in blocks through xlwings. This layer only reads and writes Excel; the engine
(``greenapi_excel.bulk``) decides everything else. Excel is touched in one read and block writes,
never cell by cell: over COM each touch costs milliseconds, and 50,000 cells one by one take minutes.

Open-source xlwings only: ``Book.caller()``, ``Range.value``/``options``, ``App.status_bar``/``alert``.
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import xlwings as xw

from greenapi_excel import bulk, i18n, layout, statuses as st
from greenapi_excel import settings as config
from greenapi_excel.errors import BookBusy, ConfigError, GreenApiExcelError
from greenapi_excel.i18n import _, ngettext
from greenapi_excel.results import DETAILS_LIMIT, STATUS_LIMIT, call_ids, cell_text

TITLE = "GreenApi"
CHATS_SHEET = i18n.N_("Chats")   # "Чаты" in a Russian book: _chats_sheet_name finds either
SETTINGS_SHEET = layout.SETTINGS_SHEET
SETTINGS_BLOCK = f"A1:B{layout.SETTINGS_ROWS}"
UPDATED_FORMAT = "yyyy-mm-dd hh:mm"
STATUS_BAR_SECONDS = 0.25  # each status bar update is a round trip to Excel
CELL_LIMITS = (STATUS_LIMIT, DETAILS_LIMIT, DETAILS_LIMIT)  # Status, Details, Updated
ALERT_LIMIT = 4000  # a message box: a summary of a few lines, never a server's whole page

# The strings xlwings gives for cell errors with err_to_str=True.
EXCEL_ERRORS = frozenset({
    "#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA", "#SPILL!",
    "#CONNECT!", "#BLOCKED!", "#UNKNOWN!", "#FIELD!", "#CALC!", "#BUSY!", "#PYTHON!",
})
# Text starting with one of these becomes a formula when written into a live cell.
FORMULA_STARTS = ("=", "+", "-", "@")


# --- the macros -------------------------------------------------------------------------

def archive_chats(book=None) -> None:
    """Archive the chats listed on the active sheet; results beside them."""
    _macro(book, lambda b, ctx: _run(b, ctx, bulk.ARCHIVE, dry_run=False))


def unarchive_chats(book=None) -> None:
    """Unarchive the chats listed on the active sheet; results beside them."""
    _macro(book, lambda b, ctx: _run(b, ctx, bulk.UNARCHIVE, dry_run=False))


def dry_run(book=None) -> None:
    """Say what Archive would do (one getChats read), changing nothing in WhatsApp."""
    _macro(book, lambda b, ctx: _run(b, ctx, bulk.ARCHIVE, dry_run=True))


def check_connection(book=None) -> None:
    """One getStateInstance call: are the credentials right and is WhatsApp linked?"""
    _macro(book, _check_connection)


def settings(book=None) -> None:
    """Move a token typed into the Settings sheet into the OS keychain, empty its cell, and save
    apiUrl / idInstance / Region to the user config file."""
    _macro(book, _settings)


def load_chats(book=None) -> None:
    """One row per chat of the instance on the Chats sheet (getChats and two journal reads)."""
    _macro(book, _load_chats)


def undo_last_run(book=None) -> None:
    """Take the newest run that changed a chat back, after a Yes/No prompt with the count."""
    _macro(book, _undo_last_run)


# --- shared frame ---------------------------------------------------------------------------

@dataclass
class _Context:
    """What one macro learnt that its alerts must know (the token, to keep it out of them)."""

    tokens: set[str] = field(default_factory=set)
    started: bool = False   # a worker process took the run over

    def redact(self, text: str) -> str:
        for token in self.tokens | {os.environ.get(config.ENV_API_TOKEN, "")}:
            if token:
                text = text.replace(token, "***")
        return text


def calling_book(caller):
    """The book a button acts on: the caller, or, when the caller is the add-in GreenApi.xlam (its RunPython
    names the add-in itself), the workbook active in that Excel."""
    if str(caller.name).lower().endswith(".xlam"):
        return caller.app.books.active
    return caller


def _macro(book, action) -> None:
    book = book if book is not None else calling_book(xw.Book.caller())
    context = _Context()
    language = i18n.language()
    i18n.set_language(i18n.choose())   # until _read_settings finds the book's Language row
    try:
        failure = None
        try:
            action(book, context)
        except Exception as error:  # the analyst gets one sentence, never a traceback
            failure = _failure_text(error)
        if not context.started:   # a started run's worker owns the status bar from then on
            _excel_quietly(lambda: setattr(book.app, "status_bar", False))
        if failure is not None:   # after the status bar: not "asking instance ..." under the failure
            _alert(book, context, failure, critical=True)
    finally:
        i18n.set_language(language)


def _failure_text(error: Exception) -> str:
    """What an alert says of an error: our own errors' sentence, else its kind and sentence."""
    if isinstance(error, GreenApiExcelError):
        return _sentence(str(error))
    return _("Something went wrong ({error}): {details}").format(
        error=type(error).__name__, details=_sentence(str(error)))


def _alert(book, context: _Context, text: str, *, critical: bool = False) -> None:
    book.app.alert(context.redact(_plain(text, lines=True)), title=TITLE, mode="critical" if critical else "info")


def _sentence(text: str) -> str:
    text = text.strip() or _("no details")
    first = text.split(" ", 1)[0]
    if first.islower() and first.isalpha():  # "idInstance ..." stays as written
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


# --- settings sheet ---------------------------------------------------------------------------

@dataclass
class _SheetSettings:
    values: dict[str, object]  # lower-case label -> value
    token_row: int | None
    token: object
    sheet_name: str = SETTINGS_SHEET   # as the book spells it

    def get(self, label: str):
        value = self.values.get(label)
        return value.strip() if isinstance(value, str) else value

    def for_engine(self) -> dict:
        return {"api_url": _text_or_none(self.get("apiurl")), "id_instance": self.get("idinstance")}


def _read_settings(book) -> _SheetSettings:
    """One read of Settings!A1:B20 (Настройки in a Russian book): labels in A (any case, either language),
    values in B. Its Language row, when set, is the language of this macro's alerts and cell texts."""
    name = layout.settings_sheet_name([s.name for s in book.sheets])
    if name is None:
        return _SheetSettings({}, None, None)
    rows = book.sheets[name].range(SETTINGS_BLOCK).options(ndim=2).value
    found = layout.read_settings_rows((row + [None, None])[:2] for row in rows)
    i18n.set_language(layout.settings_language(found.values) or i18n.choose())
    return _SheetSettings(found.values, found.token_row, found.token, name)


def _typed_token(sheet_settings: _SheetSettings) -> str | None:
    token = sheet_settings.token
    if token is None or (isinstance(token, str) and not token.strip()):
        return None
    if not isinstance(token, str):
        raise ConfigError(_("the Token cell holds a number, not the token text: format it as Text and paste again"))
    return token.strip()


def _move_token(book, context: _Context, sheet_settings: _SheetSettings) -> str | None:
    """Store a token typed into the Settings sheet in the keychain and empty its cell; the idInstance."""
    token = _typed_token(sheet_settings)
    if token is None:
        return None
    context.tokens.add(token)
    instance = sheet_settings.get("idinstance")
    if instance is None or instance == "":
        instance = os.environ.get(config.ENV_ID_INSTANCE) or config.load_config().get("id_instance")
    if instance is None or instance == "":
        raise ConfigError(_("fill in idInstance on the Settings sheet first: the token is stored under it"))
    instance = config.normalize_id_instance(instance, "the Settings sheet's idInstance")
    config.store_token(instance, token)
    book.sheets[sheet_settings.sheet_name].range((sheet_settings.token_row, 2)).value = None
    sheet_settings.token = None
    return instance


def _credentials(book, context: _Context, sheet_settings: _SheetSettings):
    moved = _move_token(book, context, sheet_settings)
    credentials = config.resolve_credentials(sheet_settings=sheet_settings.for_engine())
    context.tokens.add(credentials.api_token)
    return credentials, moved


def _region(sheet_settings: _SheetSettings) -> str | None:
    return config.resolve_region(None, sheet_settings.values)


def _settings(book, context: _Context) -> None:
    sheet_settings = _read_settings(book)
    moved = _move_token(book, context, sheet_settings)
    region = _text_or_none(sheet_settings.get("region"))
    if region:
        from greenapi_excel import chat_ids

        region = chat_ids.check_region(region)
    instance = sheet_settings.get("idinstance")
    path = config.save_config(
        api_url=_text_or_none(sheet_settings.get("apiurl")),
        id_instance=instance if instance not in (None, "") else None,
        region=region,
    )
    lines = []
    if moved:
        lines.append(_("The token for instance {instance} is now in the OS keychain ({keychain}); its cell is "
                       "empty, and the workbook does not keep it.").format(instance=moved, keychain=_keychain_name()))
    else:
        lines.append(_("No token was typed in the Settings sheet; a token stored earlier stays in the keychain."))
    lines.append(_("apiUrl, idInstance and Region are saved to {path}.").format(path=path))
    _alert(book, context, " ".join(lines))


def _keychain_name() -> str:
    import sys

    if sys.platform.startswith("win"):
        return _("Windows Credential Manager")
    if sys.platform == "darwin":
        return _("macOS Keychain")
    return _("the system keyring")


def _check_connection(book, context: _Context) -> None:
    from greenapi_excel.client import GreenApiClient

    sheet_settings = _read_settings(book)
    credentials, _moved = _credentials(book, context, sheet_settings)
    book.app.status_bar = f"{TITLE}: " + _("asking instance {instance}...").format(instance=credentials.id_instance)
    with GreenApiClient(credentials) as client:
        state = client.get_state_instance()
        if state != "authorized":
            _alert(book, context, _("Instance {instance} answers, but its state is {state!r}: link WhatsApp to it "
                                    "in the GREEN-API console.").format(instance=credentials.id_instance, state=state),
                   critical=True)
            return
        if bulk.incoming_webhook(client) == "no":
            _offer_webhook_fix(book, context, client, credentials)
            return
    _alert(book, context, _("Connected: instance {instance} at {url} is authorized and ready.").format(
        instance=credentials.id_instance, url=credentials.api_url))


def _offer_webhook_fix(book, context: _Context, client, credentials) -> None:
    """incomingWebhook is off: say so, and switch it on (setSettings) when the analyst says Yes."""
    question = _("Instance {instance} is authorized, but {problem}\n\nSwitch \"{setting}\" on now?").format(
        instance=credentials.id_instance, problem=_sentence(bulk.webhook_off()), setting=_(bulk.WEBHOOK_SETTING))
    answer = book.app.alert(context.redact(_plain(question, lines=True)), title=TITLE, buttons="yes_no",
                            mode="critical")
    if str(answer).lower() != "yes":
        _alert(book, context, _("Left off. Archive chats will stop before changing anything until \"{setting}\" "
                                "is on.").format(setting=_(bulk.WEBHOOK_SETTING)), critical=True)
        return
    bulk.switch_incoming_webhook_on(client)
    _alert(book, context, _("\"{setting}\" is switched on for instance {instance}. GREEN-API applies it within 5 "
                            "minutes: wait that long before archiving.").format(
        setting=_(bulk.WEBHOOK_SETTING), instance=credentials.id_instance))


# --- the run ------------------------------------------------------------------------------------

class _SheetGrid:
    """The used range, read once; cells outside it are empty."""

    def __init__(self, sheet) -> None:
        used = sheet.used_range
        self.top, self.left = used.row, used.column
        rows, columns = used.shape
        self.bottom, self.right = self.top + rows - 1, self.left + columns - 1
        self.rows = used.options(ndim=2, err_to_str=True).value

    def cell(self, row: int, column: int):
        r, c = row - self.top, column - self.left
        if 0 <= r < len(self.rows) and 0 <= c < len(self.rows[r]):
            return self.rows[r][c]
        return None

    def headers(self) -> list:
        return [self.cell(1, c) for c in range(1, self.right + 1)]

    def column(self, column: int) -> list:
        """Values from row 2 down to the last used row."""
        return [self.cell(r, column) for r in range(2, self.bottom + 1)]


def _target_sheet(book):
    sheet = book.sheets.active
    chats = _chats_sheet_name(book)
    if layout.is_settings_sheet(sheet.name) and chats is not None:
        return book.sheets[chats]
    return sheet


def _chats_sheet_name(book) -> str | None:
    """The Chats sheet as the book spells it (Chats, or Чаты in a Russian book), or None."""
    spellings = i18n.spellings(CHATS_SHEET)
    return next((s.name for s in book.sheets if s.name in spellings), None)


def _selected_column(book, sheet) -> int | None:
    try:
        selection = book.selection
    except Exception:  # no selection (a chart is selected, ...)
        return None
    if selection is None or selection.sheet.name != sheet.name:
        return None
    last = selection.last_cell
    return layout.selected_column(selection.row, last.row, selection.column, last.column)


def _as_cell_value(value):
    """xlwings gives cell errors as "#N/A"-like strings (err_to_str): make them chat_ids.CellError."""
    from greenapi_excel import chat_ids

    if isinstance(value, str) and value in EXCEL_ERRORS:
        return chat_ids.CellError(value)
    return value


def _run(book, context: _Context, method: str, *, dry_run: bool) -> None:
    """Read and plan here, at once; the calls and the block writes happen in the worker process."""
    _refuse_if_busy(book)
    sheet_settings = _read_settings(book)
    moved = _credentials(book, context, sheet_settings)[1]   # missing credentials fail here, before any read
    region = _region(sheet_settings)
    sheet = _target_sheet(book)

    grid = _SheetGrid(sheet)  # the one read
    headers = grid.headers()
    chat_column = layout.find_chat_column(
        headers, setting=layout.explicit_chat_column(None, sheet_settings.values),
        selection=_selected_column(book, sheet),
    )
    layout.check_header_row(grid.cell(1, chat_column), chat_column)
    values = {c: grid.column(c) for c in range(chat_column + 1, grid.right + 1)}
    placement = layout.place_results(headers, chat_column, values, last_used_column=grid.right)
    status_column = placement.status_column

    cells = [(r, _as_cell_value(grid.cell(r, chat_column))) for r in range(2, grid.bottom + 1)]
    previous = {}
    if placement.reuses_earlier:
        previous = {r: v for r in range(2, grid.bottom + 1) if isinstance(v := grid.cell(r, status_column), str)}
    hidden = hidden_rows(sheet, chat_column, grid.bottom)  # the one read of which rows the filter hides
    plan = bulk.plan(cells, method=method, region=region, previous=previous, hidden=hidden)
    where = _("column {column} of sheet {sheet}").format(column=layout.column_letter(chat_column), sheet=sheet.name)
    if plan.rows == 0 and plan.hidden:
        _alert(book, context, ngettext("Every row with a chat in {where} is hidden ({n} row): clear the filter, or "
                                       "show the row, to act on it.",
                                       "Every row with a chat in {where} is hidden ({n} rows): clear the filter, or "
                                       "show the rows, to act on them.", plan.hidden).format(where=where, n=plan.hidden))
        return
    if plan.rows == 0:
        _alert(book, context, _("No chat IDs found in {where}. Select the chat IDs, or head their column "
                                "Chat ID.").format(where=where))
        return
    job = {"kind": "run", "method": method, "dry_run": dry_run, "where": where, "note": placement.note,
           "settings": sheet_settings.for_engine(), "sheet": sheet.name,
           "plan": _plan_to_job(plan), "writer": _writer_to_job(grid, status_column, plan), "moved": moved}
    _start_worker(book, context, job, ngettext("{n} row", "{n} rows", plan.rows).format(n=f"{plan.rows:,}"))


# --- the worker process ----------------------------------------------------------------------------------

def stop_run(book=None) -> None:
    """The Stop button: the run on the active book ends within a second; rows not reached say Not run."""
    _macro(book, _stop_run)


def _stop_run(book, context: _Context) -> None:
    from greenapi_excel import background

    path = _book_path(book)
    if not background.book_busy(path):
        _alert(book, context, _("No GreenApi run is going on {book}: there is nothing to stop.").format(book=book.name))
        return
    background.RunFiles.for_book(path).request_stop()
    book.app.status_bar = f"{TITLE}: " + _("stopping...")


def _refuse_if_busy(book) -> None:
    from greenapi_excel import background

    if background.book_busy(_book_path(book)):
        raise BookBusy(_("a GreenApi run is already going on {book}: wait for its summary, or press Stop "
                         "to end it, then start again").format(book=book.name))


def _start_worker(book, context: _Context, job: dict, what: str) -> None:
    """Write the job, start the worker (a separate Python process) and return: Excel stays usable."""
    from greenapi_excel import background

    # The token stays out of the job file: the worker finds it where the macro did (keychain, environment).
    job["book"] = {"name": book.name, "fullname": _book_path(book), "pid": book.app.pid}
    job["language"] = i18n.language()   # the book's: the worker's statuses and alerts follow it
    files = background.RunFiles.for_book(job["book"]["fullname"])
    files.write_job(job)
    book.app.status_bar = _("{title}: starting ({what})...").format(title=TITLE, what=what)
    context.started = True   # the status bar is the worker's now
    _spawn(files)


def _spawn(files) -> None:
    """``python -c WORKER_CODE JOB``: detached, no console window, output to the run's log file."""
    import subprocess

    here = str(Path(__file__).resolve().parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH", ""), here) if p)
    options = {"stdin": subprocess.DEVNULL, "close_fds": True, "cwd": here, "env": env}
    if sys.platform.startswith("win"):
        options["creationflags"] = subprocess.CREATE_NO_WINDOW | subprocess.CREATE_NEW_PROCESS_GROUP
    else:
        options["start_new_session"] = True   # RunPython's shell returns; Excel quitting does not kill the run
    with open(files.log, "wb") as log:
        subprocess.Popen([sys.executable, "-c", WORKER_CODE, str(files.job)], stdout=log, stderr=log, **options)


WORKER_CODE = "import sys, addin; addin.work(sys.argv[1])"


def work(job_path: str) -> None:
    """The worker process: attach to the Excel that started it, run the job, write results in blocks."""
    from greenapi_excel import background

    path = Path(job_path)
    files = background.RunFiles(path.parent, path.name.split(".", 1)[0])
    job = files.read_job()
    book = _attach(job["book"])
    if book is None:   # the book closed before the worker started: nothing was sent
        files.finished()
        return
    carry_out(book, job, files)


def _attach(ident: dict):
    """The running Excel's book the macro was started from (open-source xlwings: apps by pid, books by name)."""
    try:
        app = xw.apps[ident["pid"]]
        return app.books[ident["name"]]
    except Exception:  # noqa: BLE001 - Excel quit, or the book closed
        return None


def carry_out(book, job: dict, files) -> None:
    """Run ``job`` on ``book`` holding the book's lock; Stop (``files.stop``) ends it within a second."""
    from greenapi_excel import background
    from greenapi_excel.sheets import book_lock

    context = _Context()
    i18n.set_language(job.get("language") or i18n.choose())
    try:
        with book_lock(job["book"]["fullname"]):
            try:
                with background.StopWatcher(files) as cancel:
                    summary_text, critical = _carry_out(book, job, context, cancel)
            finally:
                files.finished()
    except Exception as error:  # the analyst gets one sentence, never a traceback
        summary_text, critical = _failure_text(error), True
    finally:
        _excel_quietly(lambda: setattr(book.app, "status_bar", False))
    # The run is over (lock released, job gone, progress cleared) before the summary waits for its OK button.
    _safe_alert(book, context, summary_text, critical=critical)


def _carry_out(book, job: dict, context: _Context, cancel) -> tuple[str, bool]:
    """Run the job; the summary's text and whether it is critical."""
    from greenapi_excel.client import GreenApiClient
    from greenapi_excel.journal import Journal

    credentials = config.resolve_credentials(sheet_settings=job["settings"])
    context.tokens.add(credentials.api_token)
    plan = _plan_from_job(job["plan"])
    if job["kind"] == "undo":
        return _carry_out_undo(book, job, context, cancel, credentials, plan)
    sheet = book.sheets[job["sheet"]]
    writer = _ResultWriter(sheet, job["writer"], cancel)
    progress = _StatusBar(book)
    with GreenApiClient(credentials) as client, Journal() as journal:
        def write(results) -> None:
            if writer.write(results):
                journal.mark_delivered(call_ids(results))  # in the live cells now: the sheet decides from here

        summary = bulk.run(plan, client, journal, dry_run=job["dry_run"], on_progress=progress.show,
                           on_results=write, source="addin", book=job["book"]["fullname"], sheet=sheet.name,
                           cancel=cancel, resume=job.get("resume", True))
    text = _summary_text(summary, plan, job["method"], job["dry_run"], job["where"], job["note"], job["moved"])
    return text + _gone_note(writer), summary.stopped is not None


def _gone_note(writer) -> str:
    if writer is None or writer.gone is None:
        return ""
    return "\n" + _("The book closed (or Excel stopped answering) during the run, so the run stopped there. "
                     "Every finished result is in the journal: press the same button on the book again to fill "
                     "in the statuses (finished chats are answered from the journal, not sent again).")


def _safe_alert(book, context: _Context, text: str, *, critical: bool = False) -> None:
    _excel_quietly(lambda: _alert(book, context, text, critical=critical))


def _excel_quietly(action) -> None:
    """Status bar and alerts: when the book or Excel is gone, there is no one left to tell."""
    try:
        action()
    except Exception:  # noqa: BLE001
        pass


def _plan_to_job(plan) -> dict:
    return {"method": plan.method, "todo": plan.todo, "hidden": plan.hidden,
            "decided": [[r.row, r.status, r.details, r.updated] for r in plan.decided],
            "kept": [[row, status] for row, status in plan.kept.items()]}


def _plan_from_job(saved: dict):
    from greenapi_excel import background
    from greenapi_excel.results import RowResult

    plan = bulk.Plan(saved["method"])
    plan.todo = [(int(row), chat) for row, chat in saved["todo"]]
    plan.decided = [RowResult(int(row), status, details, background.revive(updated))
                    for row, status, details, updated in saved["decided"]]
    plan.kept = {int(row): status for row, status in saved["kept"]}
    plan.hidden = int(saved["hidden"])
    return plan


def _writer_to_job(grid: _SheetGrid, status_column: int, plan) -> dict:
    """What the worker's writer needs of the one read: the result cells of the rows it will write."""
    rows = sorted({row for row, _chat in plan.todo} | {r.row for r in plan.decided})
    header = [grid.cell(1, status_column + i) for i in range(3)]
    headers = st.result_headers(header)   # an earlier run's, in its language, else this run's
    return {"column": status_column, "bottom": max(grid.bottom, 2),
            "header_missing": header != headers, "headers": headers,
            "cells": [[row, [grid.cell(row, status_column + i) for i in range(3)]] for row in rows]}


class _StatusBar:
    """``GreenApi: 312 of 1,000 · 9.7/s · about 1 min 11 s left``, at most every STATUS_BAR_SECONDS."""

    def __init__(self, book) -> None:
        from greenapi_excel import background

        self.book = book
        self.pace = background.Pace()
        self.last = 0.0

    def show(self, done: int, total: int) -> None:
        from greenapi_excel import background

        pace = self.pace.add(done)
        now = time.monotonic()
        if now - self.last < STATUS_BAR_SECONDS and done < total:
            return
        self.last = now
        text = background.progress_text(done, total, pace, TITLE)
        _excel_quietly(lambda: setattr(self.book.app, "status_bar", text))


# Windows: COM answers RPC_E_CALL_REJECTED / RPC_E_SERVERCALL_RETRYLATER while the analyst edits a cell or a
# dialog is open, or DISP_E_EXCEPTION carrying VBA_E_IGNORE (0x800AC472) for a click into a cell. xlwings'
# COM wrapper already retries some of these on some paths; the rest reach us. Mac: an Apple event times out
# (-1712) while Excel is busy the same way.
CALL_REJECTED = frozenset({0x80010001, 0x8001010A})
VBA_E_IGNORE = 0x800AC472
MAC_BUSY = frozenset({-1712})
REJECTED_RETRY_SECONDS = 0.2
REJECTED_PATIENCE_SECONDS = 600.0   # an analyst may sit in a cell for minutes; the calls stop meanwhile


def call_rejected(error: BaseException) -> bool:
    """True for Excel's "busy, call again" answers (pywintypes.com_error's hresult, appscript's errornumber)."""
    code = getattr(error, "hresult", None)
    if code is None and error.args and isinstance(error.args[0], int):
        code = error.args[0]
    if isinstance(code, int) and (code & 0xFFFFFFFF) in CALL_REJECTED:
        return True
    detail = error.args[2] if len(error.args) > 2 else None   # com_error's excepinfo: scode is its last item
    if isinstance(detail, tuple) and len(detail) == 6 and isinstance(detail[5], int) \
            and (detail[5] & 0xFFFFFFFF) == VBA_E_IGNORE:
        return True
    return getattr(error, "errornumber", None) in MAC_BUSY


class _ResultWriter:
    """Status / Details / Updated, written one block per batch of results (never cell by cell). A block
    covers only rows of the batch and rows this run will still write (``background.write_runs``): a cell
    the analyst edits meanwhile, elsewhere, is never written back over. A write Excel rejects while the
    analyst edits a cell is tried again; a book that is gone stops the run (``cancel``)."""

    def __init__(self, sheet, saved: dict, cancel=None) -> None:
        from greenapi_excel import background

        self.sheet = sheet
        self.column = int(saved["column"])
        self.bottom = int(saved["bottom"])
        self.rows = {int(row): [background.revive(v) for v in values] for row, values in saved["cells"]}
        self.pending = set(self.rows)
        self.header_missing = bool(saved["header_missing"])
        # An earlier run's headers, in its language, else this run's (st.result_headers in the macro).
        self.headers = list(saved.get("headers") or st.result_headers())
        self.format_set = False
        self.cancel = cancel
        self.gone: BaseException | None = None
        self.writes = 0

    def write(self, results) -> bool:
        """True when the block is in the sheet (then the journal may mark it delivered)."""
        from greenapi_excel import background

        if not results or self.gone is not None:
            return False
        for result in results:
            self.rows[result.row] = [st.localised(result.status), result.details, result.updated]
            self.pending.discard(result.row)
        wanted = [r.row for r in results]
        if self.header_missing:
            self.rows[1] = list(self.headers)
            wanted.append(1)
        try:
            if not self.format_set:
                updated = self.column + 2
                self._excel(lambda: setattr(self.sheet.range((2, updated), (self.bottom, updated)),
                                            "number_format", UPDATED_FORMAT))
                self.format_set = True
            for top, bottom in background.write_runs(wanted, self.pending):
                block = [[_safe(v, limit) for v, limit in zip(self.rows[r], CELL_LIMITS)]
                         for r in range(top, bottom + 1)]
                first, last = (top, self.column), (bottom, self.column + 2)
                self._excel(lambda: setattr(self.sheet.range(first, last), "value", block))
                self.writes += 1
            self.header_missing = False
            return True
        except Exception as error:  # noqa: BLE001 - the book closed, Excel quit: stop, the journal keeps all
            self.gone = error
            if self.cancel is not None:
                self.cancel.set()
            return False

    def _excel(self, action) -> None:
        deadline = time.monotonic() + REJECTED_PATIENCE_SECONDS
        while True:
            try:
                return action()
            except Exception as error:  # noqa: BLE001
                if not call_rejected(error) or time.monotonic() > deadline:
                    raise
                time.sleep(REJECTED_RETRY_SECONDS)


def _safe(value, limit: int = DETAILS_LIMIT):
    """A value ready for a live cell: the file side's text rule (results.cell_text), and text never
    becomes a formula."""
    if not isinstance(value, str):
        return value
    text = cell_text(value, limit)
    if text.startswith(FORMULA_STARTS) or text.startswith("'"):
        return "'" + text  # Excel keeps what follows an apostrophe as text, and does not show it
    return text


def _plain(text: str, *, lines: bool = False) -> str:
    """Alert text by the cell rule (results.cell_text), its line breaks kept."""
    return cell_text(text, ALERT_LIMIT, lines=lines)


def _text_or_none(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _summary_text(summary, plan, method, dry_run, where, note, moved) -> str:
    verb = _("Dry run") if dry_run else (_("Archive") if method == bulk.ARCHIVE else _("Unarchive"))
    counts = ", ".join(f"{st.localised(word)} {summary.counts[word]}" for word in st.ALL if summary.counts.get(word))
    rows = ngettext("{verb}: {n} row in {where}", "{verb}: {n} rows in {where}", plan.rows).format(
        verb=verb, n=plan.rows, where=where)
    calls = ngettext("{n} call to GREEN-API", "{n} calls to GREEN-API", summary.calls).format(n=summary.calls)
    lines = [f"{rows}, {summary.seconds:.1f} s, {calls}.", counts + "."]
    if summary.stopped:
        lines.append(_("Stopped early: {reason} Rows not reached say {status}; run again to finish.").format(
            reason=_sentence(summary.stopped), status=_(st.NOT_RUN)))
    if getattr(plan, "hidden", 0):
        lines.append(ngettext("Skipped {n} hidden row (filtered out or hidden); clear the filter to include it.",
                              "Skipped {n} hidden rows (filtered out or hidden); clear the filter to include them.",
                              plan.hidden).format(n=plan.hidden))
    if note:
        lines.append(_sentence(note))
    if moved:
        lines.append(_("The token typed in Settings is now in the OS keychain for instance {instance}; its cell is "
                       "empty.").format(instance=moved))
    return "\n".join(lines)


# --- which rows the sheet hides: one read ------------------------------------------------------------

XL_CELL_TYPE_VISIBLE = 12          # Excel's xlCellTypeVisible
ADDRESS_LIMIT = 250                # a multi-area Address may be cut near 255 characters: then ask the Areas
_AREA = re.compile(r"\$?[A-Za-z]{1,3}\$?(\d+)(?::\$?[A-Za-z]{1,3}\$?(\d+))?")


def _is_mac() -> bool:
    return sys.platform == "darwin"


def hidden_rows(sheet, column: int, bottom: int) -> set[int]:
    """Rows 2..bottom the sheet hides (a filter or by hand), from one query of the visible cells.

    Windows: ``SpecialCells(xlCellTypeVisible)`` through ``.api`` and its ``Address``; Mac: AppleScript's
    ``special cells ... type cell type visible`` and ``get address``, as xlwings' own Mac code does. The
    query covers rows 1..bottom of the chat column: at least two cells, because SpecialCells sent to one
    cell searches the whole sheet. Never a call per row.
    """
    if bottom < 2:
        return set()
    cells = sheet.range((1, column), (bottom, column))
    address = _visible_address(cells)
    visible = visible_rows(address) if address else set()
    return set(range(2, bottom + 1)) - visible


def _visible_address(cells) -> str | None:
    """The visible cells' address ("$A$1:$A$4,$A$9"), or None when no cell is visible."""
    if _is_mac():
        from appscript import k
        from appscript.reference import CommandError

        try:
            return cells.api.special_cells(type=k.cell_type_visible).get_address()
        except CommandError as error:
            if getattr(error, "errornumber", None) == -50:   # what Excel for Mac answers when none is visible
                return None
            raise
    try:
        visible = cells.api.SpecialCells(XL_CELL_TYPE_VISIBLE)
    except Exception as error:  # pywintypes.com_error: "No cells were found." when every row is hidden
        if "no cells were found" in str(error).lower():
            return None
        raise
    address = visible.Address
    if len(address) >= ADDRESS_LIMIT:
        areas = visible.Areas
        count = areas.Count
        if count != address.count(",") + 1:   # cut short: one read per visible block, still never per row
            address = ",".join(areas.Item(i).Address for i in range(1, count + 1))
    return address


def visible_rows(address: str) -> set[int]:
    """Row numbers covered by an address such as "$A$1:$A$4,$A$9" or "Chats!$A$2:$A$3"."""
    rows: set[int] = set()
    for part in address.split(","):
        match = _AREA.fullmatch(part.strip().split("!")[-1])
        if not match:
            raise ValueError(f"Excel gave an address this add-in cannot read: {part!r}")
        top = int(match.group(1))
        rows.update(range(top, int(match.group(2) or top) + 1))
    return rows


def _book_path(book) -> str:
    return str(getattr(book, "fullname", "") or book.name)


# --- Load chats --------------------------------------------------------------------------------------

def _load_chats(book, context: _Context) -> None:
    from greenapi_excel import chatlist
    from greenapi_excel.client import GreenApiClient

    sheet_settings = _read_settings(book)
    credentials, _moved = _credentials(book, context, sheet_settings)
    days = chatlist.DEFAULT_DAYS
    book.app.status_bar = f"{TITLE}: " + _("reading the chats of instance {instance}...").format(
        instance=credentials.id_instance)
    with GreenApiClient(credentials) as client:
        bulk.check_instance(client)
        rows = chatlist.fetch(client, days)
    sheet, grid = _chat_list_sheet(book)
    width = len(chatlist.HEADERS)
    existing = [(r, [grid.cell(r, c) for c in range(1, width + 1)]) for r in range(2, grid.bottom + 1)]
    laid = chatlist.refresh(existing, rows)
    days = chatlist.window_of(rows, days)
    last = max(laid.last_row, 2)
    rows_to_write = {1: chatlist.headers(), **laid.cells}   # in the run's language
    for top, bottom in _runs(sorted(rows_to_write)):   # one write, unless rows without a chat lie between
        block = [[_safe(v) for v in rows_to_write[r]] for r in range(top, bottom + 1)]
        sheet.range((top, 1), (bottom, width)).value = block
    _format_chat_list(sheet, last, days)
    sheet.activate()
    cut = (" " + ngettext("GREEN-API's journals hold its last {limit:,} messages, which reach back only {n} day.",
                          "GREEN-API's journals hold its last {limit:,} messages, which reach back only {n} days.",
                          days).format(limit=chatlist.JOURNAL_LIMIT, n=days) if days < chatlist.DEFAULT_DAYS else "")
    _alert(book, context, ngettext("Loaded {chats} into sheet {sheet} (message times over the last {n} day).",
                                   "Loaded {chats} into sheet {sheet} (message times over the last {n} days).",
                                   days).format(chats=laid.describe(), sheet=sheet.name, n=days)
           + cut + " " + _("Filter it, then press Dry run or Archive chats: they act on the visible rows only."))


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Sorted row numbers -> (top, bottom) runs of consecutive rows."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and runs[-1][1] == row - 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs


def _chat_list_sheet(book):
    """The sheet Load chats writes, and its used range (one read): Chats when it was loaded before or holds
    nothing below its header, else a "Chat list" sheet (made when missing)."""
    from greenapi_excel import chatlist

    for name in (chatlist.DEFAULT_SHEET, chatlist.FALLBACK_SHEET):
        spellings = i18n.spellings(name)   # Chats / Чаты: the book's, else a new one in this run's language
        found = next((s.name for s in book.sheets if s.name in spellings), None)
        if found is None:
            sheet = book.sheets.add(_(name), after=book.sheets[len(book.sheets) - 1])
            return sheet, _SheetGrid(sheet)
        sheet = book.sheets[found]
        grid = _SheetGrid(sheet)
        first = [grid.cell(1, c) for c in range(1, len(chatlist.HEADERS) + 1)]
        if chatlist.is_loaded_header(first) or grid.bottom <= 1:
            return sheet, grid
    raise ConfigError(_("the sheets {first} and {second} both hold lists Load chats did not make: rename one of "
                        "them and press Load chats again").format(first=_(chatlist.DEFAULT_SHEET),
                                                                   second=_(chatlist.FALLBACK_SHEET)))


def _format_chat_list(sheet, last: int, days: int) -> None:
    """Header, widths, dates, frozen first row, autofilter, conditional formats: a handful of calls."""
    from greenapi_excel import chatlist

    width = len(chatlist.HEADERS)
    sheet.range((1, 1), (1, width)).font.bold = True
    first_date, last_date = chatlist.DATE_COLUMNS[0], chatlist.DATE_COLUMNS[-1]
    sheet.range((2, first_date), (last, last_date)).number_format = chatlist.DATE_FORMAT
    idle = sheet.range((2, chatlist.IDLE_COLUMN), (last, chatlist.IDLE_COLUMN))
    idle.number_format = chatlist.idle_format(days)
    for column, characters in enumerate(chatlist.WIDTHS, start=1):
        sheet.range((1, column)).column_width = characters
    sheet.freeze_panes.freeze_at("1:1")
    table = sheet.range((1, 1), (last, width))
    table.conditional_formats.clear()
    table.conditional_formats.add_custom(f'=${layout.column_letter(chatlist.ARCHIVED_COLUMN)}2="{chatlist.GONE}"',
                                         fill_color="#f2f2f2", font_color="#808080", font_italic=True,
                                         stop_if_true=True)
    archived = sheet.range((2, chatlist.ARCHIVED_COLUMN), (last, chatlist.ARCHIVED_COLUMN))
    archived.conditional_formats.add_cell_value("equal_to", f'="{chatlist.YES}"', fill_color="#d9d9d9",
                                                font_color="#595959")
    idle.conditional_formats.add_color_scale(["#63be7b", "#ffeb84", "#f8696b"],
                                             thresholds=list(chatlist.color_scale(days)))
    _autofilter_on(sheet, table)


def _autofilter_on(sheet, table) -> None:
    """Show the filter buttons on the header, keeping a filter the analyst set."""
    if _is_mac():
        try:
            if not sheet.api.autofilter_mode.get():   # never disturb a filter the analyst set
                table.api.autofilter_range(field=1)
        except Exception:  # noqa: BLE001 - the buttons are a convenience; Data > Filter does the same
            pass
        return
    if not sheet.api.AutoFilterMode:
        table.api.AutoFilter()


# --- Undo last run -----------------------------------------------------------------------------------

def _undo_last_run(book, context: _Context) -> None:
    """Ask here; the opposite calls and the block writes happen in the worker process, as for Archive."""
    from greenapi_excel import undo as undoing
    from greenapi_excel.journal import Journal

    _refuse_if_busy(book)
    sheet_settings = _read_settings(book)
    credentials, _moved = _credentials(book, context, sheet_settings)
    region = _region(sheet_settings)
    with Journal() as journal:
        found = undoing.find(journal, credentials.id_instance)
    count = len(found.chats)
    question = (_("Undo the last run? {run}").format(run=_sentence(found.describe())) + "\n\n"
                + ngettext("This will {verb} that {n} chat.", "This will {verb} those {n} chats.", count).format(
                    verb=found.verb, n=count))
    if str(book.app.alert(_plain(question, lines=True), title=TITLE, buttons="yes_no")).lower() != "yes":
        _alert(book, context, _("Nothing was changed."))
        return
    sheet = _run_sheet(book, found.run)
    writer, cells, where = None, (), _("printed here (the run's book is not this one)")
    if sheet is not None:
        grid = _SheetGrid(sheet)  # the one read
        headers = grid.headers()
        chat_column = layout.find_chat_column(headers, setting=sheet_settings.get("chat column"))
        values = {c: grid.column(c) for c in range(chat_column + 1, grid.right + 1)}
        placement = layout.place_results(headers, chat_column, values, last_used_column=grid.right)
        cells = [(r, _as_cell_value(grid.cell(r, chat_column))) for r in range(2, grid.bottom + 1)]
        where = _("on sheet {sheet}").format(sheet=sheet.name)
    planned = undoing.plan(found, cells, region=region)
    if sheet is not None:
        in_sheet = bulk.Plan(planned.method, todo=[(r, c) for r, c in planned.todo if r >= 2])
        writer = _writer_to_job(grid, placement.status_column, in_sheet)
    job = {"kind": "undo", "method": planned.method, "dry_run": False, "where": where, "note": None,
           "settings": sheet_settings.for_engine(), "sheet": sheet.name if sheet is not None else None,
           "plan": _plan_to_job(planned), "writer": writer, "moved": None, "undo_of": found.run.id}
    _start_worker(book, context, job, ngettext("undo of run {run}, {n} chat", "undo of run {run}, {n} chats",
                                               count).format(run=found.run.id, n=f"{count:,}"))


def _carry_out_undo(book, job: dict, context: _Context, cancel, credentials, planned) -> tuple[str, bool]:
    from greenapi_excel.client import GreenApiClient
    from greenapi_excel.journal import Journal

    sheet = book.sheets[job["sheet"]] if job["sheet"] is not None else None
    writer = _ResultWriter(sheet, job["writer"], cancel) if sheet is not None else None
    elsewhere = []

    with GreenApiClient(credentials) as client, Journal() as journal:
        def on_results(results):
            in_sheet = [r for r in results if r.row >= 2]
            if writer is not None and in_sheet and writer.write(in_sheet):
                journal.mark_delivered(call_ids(in_sheet))  # in the live cells now
            elsewhere.extend(r for r in results if writer is None or r.row < 2)

        summary = bulk.run(planned, client, journal, on_progress=_StatusBar(book).show, on_results=on_results,
                           source="addin undo", book=job["book"]["fullname"] if sheet is not None else None,
                           sheet=job["sheet"], undo_of=job["undo_of"], cancel=cancel)
    counts = ", ".join(f"{st.localised(word)} {summary.counts[word]}" for word in st.ALL if summary.counts.get(word))
    lines = [_("Undo of run {run}: {counts}. Statuses are {where}.").format(
        run=job["undo_of"], counts=counts or _("nothing done"), where=job["where"])]
    chats = dict(planned.todo)
    lines += [f"{chats.get(r.row, '')}: {st.localised(r.status)}" for r in elsewhere[:20]]
    if len(elsewhere) > 20:
        lines.append(ngettext("... and {n} more (greenapi-excel journal lists them all)",
                              "... and {n} more (greenapi-excel journal lists them all)",
                              len(elsewhere) - 20).format(n=len(elsewhere) - 20))
    if summary.stopped:
        lines.append(_("Stopped early: {reason}").format(reason=_sentence(summary.stopped)))
    return "\n".join(lines) + _gone_note(writer), summary.stopped is not None


def _run_sheet(book, run):
    """The run's sheet when the run was made on this book, else None."""
    if not run.book or not run.sheet:
        return None
    from pathlib import PurePath

    mine = _book_path(book)
    same = run.book == mine or PurePath(run.book).name == PurePath(mine).name
    if not same or run.sheet not in [s.name for s in book.sheets]:
        return None
    return book.sheets[run.sheet]

"""The ribbon's macros: Archive, Unarchive, Dry run, Check connection, Settings.

The ribbon calls ``RunPython "import addin; addin.archive_chats()"``. Each macro works on the book
that called it (``book`` is there for tests). This layer only reads and writes Excel; the engine
(``greenapi_excel.bulk``) decides everything else. Excel is touched in one read and block writes,
never cell by cell: over COM each touch costs milliseconds, and 50,000 cells one by one take minutes.

Open-source xlwings only: ``Book.caller()``, ``Range.value``/``options``, ``App.status_bar``/``alert``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import xlwings as xw

from greenapi_excel import bulk, layout, statuses as st
from greenapi_excel import settings as config
from greenapi_excel.errors import ConfigError, GreenApiExcelError
from greenapi_excel.results import DETAILS_LIMIT, STATUS_LIMIT, call_ids, cell_text

TITLE = "GreenApi"
CHATS_SHEET = "Chats"
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


# --- shared frame ---------------------------------------------------------------------------

@dataclass
class _Context:
    """What one macro learnt that its alerts must know (the token, to keep it out of them)."""

    tokens: set[str] = field(default_factory=set)

    def redact(self, text: str) -> str:
        for token in self.tokens | {os.environ.get(config.ENV_API_TOKEN, "")}:
            if token:
                text = text.replace(token, "***")
        return text


def _macro(book, action) -> None:
    book = book if book is not None else xw.Book.caller()
    context = _Context()
    try:
        action(book, context)
    except GreenApiExcelError as error:
        _alert(book, context, f"{_sentence(str(error))}", critical=True)
    except Exception as error:  # the analyst gets one sentence, never a traceback
        _alert(book, context, f"Something went wrong ({type(error).__name__}): {_sentence(str(error))}",
               critical=True)
    finally:
        try:
            book.app.status_bar = False
        except Exception:
            pass


def _alert(book, context: _Context, text: str, *, critical: bool = False) -> None:
    book.app.alert(context.redact(_plain(text, lines=True)), title=TITLE, mode="critical" if critical else "info")


def _sentence(text: str) -> str:
    text = text.strip() or "no details"
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

    def get(self, label: str):
        value = self.values.get(label)
        return value.strip() if isinstance(value, str) else value

    def for_engine(self) -> dict:
        return {"api_url": _text_or_none(self.get("apiurl")), "id_instance": self.get("idinstance")}


def _read_settings(book) -> _SheetSettings:
    """One read of Settings!A1:B20: labels in A (any case), values in B."""
    if SETTINGS_SHEET not in [s.name for s in book.sheets]:
        return _SheetSettings({}, None, None)
    rows = book.sheets[SETTINGS_SHEET].range(SETTINGS_BLOCK).options(ndim=2).value
    found = layout.read_settings_rows((row + [None, None])[:2] for row in rows)
    return _SheetSettings(found.values, found.token_row, found.token)


def _typed_token(sheet_settings: _SheetSettings) -> str | None:
    token = sheet_settings.token
    if token is None or (isinstance(token, str) and not token.strip()):
        return None
    if not isinstance(token, str):
        raise ConfigError("the Token cell holds a number, not the token text: format it as Text and paste again")
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
        raise ConfigError("fill in idInstance on the Settings sheet first: the token is stored under it")
    instance = config.normalize_id_instance(instance, "the Settings sheet's idInstance")
    config.store_token(instance, token)
    book.sheets[SETTINGS_SHEET].range((sheet_settings.token_row, 2)).value = None
    sheet_settings.token = None
    return instance


def _credentials(book, context: _Context, sheet_settings: _SheetSettings):
    moved = _move_token(book, context, sheet_settings)
    credentials = config.resolve_credentials(sheet_settings=sheet_settings.for_engine())
    context.tokens.add(credentials.api_token)
    return credentials, moved


def _region(sheet_settings: _SheetSettings) -> str | None:
    from greenapi_excel import chat_ids

    region = _text_or_none(sheet_settings.get("region")) or config.load_config().get("region")
    return chat_ids.check_region(region or None)


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
        lines.append(f"The token for instance {moved} is now in the OS keychain ({_keychain_name()}); "
                     "its cell is empty, and the workbook does not keep it.")
    else:
        lines.append("No token was typed in the Settings sheet; a token stored earlier stays in the keychain.")
    lines.append(f"apiUrl, idInstance and Region are saved to {path}.")
    _alert(book, context, " ".join(lines))


def _keychain_name() -> str:
    import sys

    if sys.platform.startswith("win"):
        return "Windows Credential Manager"
    if sys.platform == "darwin":
        return "macOS Keychain"
    return "the system keyring"


def _check_connection(book, context: _Context) -> None:
    from greenapi_excel.client import GreenApiClient

    sheet_settings = _read_settings(book)
    credentials, _ = _credentials(book, context, sheet_settings)
    book.app.status_bar = f"{TITLE}: asking instance {credentials.id_instance}..."
    with GreenApiClient(credentials) as client:
        state = client.get_state_instance()
    if state == "authorized":
        _alert(book, context, f"Connected: instance {credentials.id_instance} at {credentials.api_url} "
                              "is authorized and ready.")
    else:
        _alert(book, context, f"Instance {credentials.id_instance} answers, but its state is {state!r}: "
                              "link WhatsApp to it in the GREEN-API console.", critical=True)


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
    if sheet.name.lower() == SETTINGS_SHEET.lower() and CHATS_SHEET in [s.name for s in book.sheets]:
        return book.sheets[CHATS_SHEET]
    return sheet


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
    from greenapi_excel.client import GreenApiClient
    from greenapi_excel.journal import Journal

    sheet_settings = _read_settings(book)
    credentials, moved = _credentials(book, context, sheet_settings)
    region = _region(sheet_settings)
    sheet = _target_sheet(book)

    grid = _SheetGrid(sheet)  # the one read
    headers = grid.headers()
    chat_column = layout.find_chat_column(
        headers, setting=sheet_settings.get("chat column"), selection=_selected_column(book, sheet)
    )
    values = {c: grid.column(c) for c in range(chat_column + 1, grid.right + 1)}
    placement = layout.place_results(headers, chat_column, values, last_used_column=grid.right)
    status_column = placement.status_column

    cells = [(r, _as_cell_value(grid.cell(r, chat_column))) for r in range(2, grid.bottom + 1)]
    previous = {}
    if placement.reuses_earlier:
        previous = {r: v for r in range(2, grid.bottom + 1) if isinstance(v := grid.cell(r, status_column), str)}
    plan = bulk.plan(cells, method=method, region=region, previous=previous)
    where = f"column {layout.column_letter(chat_column)} of sheet {sheet.name}"
    if plan.rows == 0:
        _alert(book, context, f"No chat IDs found in {where}. Select the chat IDs, or head their column Chat ID.")
        return

    writer = _ResultWriter(sheet, grid, status_column)
    progress = _StatusBar(book)
    with GreenApiClient(credentials) as client, Journal() as journal:
        def write(results) -> None:
            writer.write(results)
            journal.mark_delivered(call_ids(results))  # in the live cells now: the sheet decides from here

        summary = bulk.run(plan, client, journal, dry_run=dry_run, on_progress=progress.show,
                           on_results=write, source="addin")
    _alert(book, context, _summary_text(summary, plan, method, dry_run, where, placement.note, moved),
           critical=summary.stopped is not None)


class _StatusBar:
    def __init__(self, book) -> None:
        self.book = book
        self.started = time.monotonic()
        self.last = 0.0

    def show(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < STATUS_BAR_SECONDS and done < total:
            return
        self.last = now
        pace = done / max(now - self.started, 1e-6)
        self.book.app.status_bar = f"{TITLE}: {done} of {total} rows, {pace:.1f}/s"


class _ResultWriter:
    """An in-memory copy of Status / Details / Updated; each block of results is one Range write."""

    def __init__(self, sheet, grid: _SheetGrid, status_column: int) -> None:
        self.sheet = sheet
        self.column = status_column
        self.bottom = max(grid.bottom, 2)
        self.rows = {r: [grid.cell(r, status_column + i) for i in range(3)] for r in range(1, self.bottom + 1)}
        self.header_missing = self.rows[1] != list(st.RESULT_HEADERS)
        self.rows[1] = list(st.RESULT_HEADERS)
        self.format_set = False

    def write(self, results) -> None:
        if not results:
            return
        for result in results:
            self.rows[result.row] = [result.status, result.details, result.updated]
        top = min(r.row for r in results)
        bottom = max(r.row for r in results)
        if self.header_missing:
            top, self.header_missing = 1, False
        if not self.format_set:
            updated = self.column + 2
            self.sheet.range((2, updated), (self.bottom, updated)).number_format = UPDATED_FORMAT
            self.format_set = True
        block = [[_safe(v, limit) for v, limit in zip(self.rows[r], CELL_LIMITS)] for r in range(top, bottom + 1)]
        self.sheet.range((top, self.column), (bottom, self.column + 2)).value = block


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
    verb = "Dry run" if dry_run else ("Archive" if method == bulk.ARCHIVE else "Unarchive")
    counts = ", ".join(f"{word} {summary.counts[word]}" for word in st.ALL if summary.counts.get(word))
    lines = [f"{verb}: {plan.rows} rows in {where}, {summary.seconds:.1f} s, {summary.calls} call{'' if summary.calls == 1 else 's'} to GREEN-API.", counts + "."]
    if summary.stopped:
        lines.append(f"Stopped early: {_sentence(summary.stopped)} Rows not reached say Not run; run again to finish.")
    if note:
        lines.append(_sentence(note))
    if moved:
        lines.append(f"The token typed in Settings is now in the OS keychain for instance {moved}; its cell is empty.")
    return "\n".join(lines)

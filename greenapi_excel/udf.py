"""The engine side of the worksheet functions ARCHIVECHAT, UNARCHIVECHAT and CHATSTATUS.

``udfs/__init__.py`` declares them for xlwings and calls these; nothing here imports xlwings. The rules
(parse, de-duplicate, answer from the journal, the budget, the calls as a run, the words) are written once,
as a flow that names what it needs done (``CallChats``, ``ReadChats``): ``archive`` / ``unarchive`` /
``status`` carry it out on threads for the desktop; xlwings Lite's functions (``greenapi_excel.lite``) carry
the same flow out on asyncio with ``answer_async``.
Excel recalculates freely (opening the book, F9, editing a neighbour), so a chat this tool already
archived is answered from the journal with no second call. Nothing here raises: every problem comes
back as status text, and the apiTokenInstance never appears in it.

A value is one cell's value (answer: one string) or a 2-D list of rows (answer: one ``[status]`` row
per input row, so a range gives a column). Empty cells give "".
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from greenapi_excel import chat_ids, methods, statuses as st, texts
from greenapi_excel.i18n import _
from greenapi_excel.results import call_ids, cell_text, redact

# CHATSTATUS reads getChats (1 request per second on GREEN-API) once per this many seconds.
CHATS_CACHE_SECONDS = 30.0


# Worksheet functions never hold up recalculation for long: at GREEN-API's 10 calls a second, the calls
# of all cells together within UDF_WINDOW_SECONDS stay at or below UDF_CALL_LIMIT (about 3 s of Excel
# waiting, whether one cell holds the range or a formula is filled down a column). Cells beyond that answer at once with a status that points to the ribbon's Archive button.
UDF_CALL_LIMIT = 30
UDF_WINDOW_SECONDS = 30.0
_recent_calls: list[float] = []   # monotonic times of the calls the functions made, newest last
UDF_TEXT_LIMIT = 500  # a status word and its details in one cell
ANSWERED_WITH_DETAILS = (st.INVALID, st.FAILED, st.CHAT_NOT_FOUND, st.NO_INCOMING, st.QUOTA_EXCEEDED, st.NOT_RUN)

# Excel may evaluate several cells at once: one lock keeps a chat from being sent twice.
_lock = threading.RLock()
_clients: dict[tuple, Any] = {}
_journals: dict[str, Any] = {}
_chats_cache: dict[tuple, tuple[float, dict[str, dict]]] = {}


def archive(value: Any, sheet_settings: dict | None = None) -> Any:
    """=ARCHIVECHAT: archive once; a chat already archived by this tool answers from the journal.
    ``sheet_settings``: the calling book's Settings sheet (lower-case labels -> values), as the ribbon reads it."""
    return _answer(value, methods.ARCHIVE, sheet_settings)


def unarchive(value: Any, sheet_settings: dict | None = None) -> Any:
    """=UNARCHIVECHAT: unarchive once; a chat already unarchived by this tool answers from the journal."""
    return _answer(value, methods.UNARCHIVE, sheet_settings)


def status(value: Any, sheet_settings: dict | None = None) -> Any:
    """=CHATSTATUS: Archived / Not archived / Chat not found / Invalid chat ID: ..., changing nothing."""
    return _answer(value, None, sheet_settings)


def status_text(status_word: str, details: str = "") -> str:
    """The text a UDF shows: the status word, with its details where the word alone does not explain."""
    if details and status_word in ANSWERED_WITH_DETAILS:
        return f"{status_word}: {details}"
    return status_word


def reset() -> None:
    """Forget the cached clients, journals and chat lists (new credentials, tests)."""
    with _lock:
        for client in _clients.values():
            _quietly(client.close)
        for journal in _journals.values():
            _quietly(journal.close)
        _clients.clear()
        _journals.clear()
        _chats_cache.clear()
        _recent_calls.clear()


# --- what the rules need done (each driver carries it out its own way) --------------------------------

@dataclass(frozen=True)
class CallChats:
    """Carry this prepared run out (no preflight: one cell is one call, and a wrong token answers 401
    itself), journaled in ``journal``; the answer is its ``jobs.RunOutcome``."""

    credentials: Any
    prepared: Any
    journal: Any


@dataclass(frozen=True)
class ReadChats:
    """getChats; the answer is the list of chats (or the error raised)."""

    credentials: Any


# --- shape ---------------------------------------------------------------------------

def _answer(value: Any, method: str | None, sheet_settings: dict | None = None) -> Any:
    """In the calling book's language: its Settings sheet's Language row, else GREENAPI_LANG or the locale."""
    from greenapi_excel import i18n, layout

    with i18n.using(layout.settings_language(sheet_settings) or i18n.choose()):
        rows, cells = _cells(value)
        try:
            with _lock:
                texts = _drive(_statuses([cell for cell, _problem in cells], method, sheet_settings, _journal))
        except Exception as error:  # a UDF never raises: Excel would show #VALUE! and no reason
            texts = _failed_texts(error, len(cells))
        return _shaped(texts, rows, cells)


_async_lock = None   # Lite's functions: one evaluation at a time, so a chat is never sent twice


async def answer_async(value: Any, method: str | None, sheet_settings: dict | None, *,
                       carry_out: Callable[[Any], Awaitable[Any]], journal: Callable[[], Any],
                       before: Callable[[], None] | None = None,
                       too_many: Callable[[int, str, int, float], str] | None = None) -> Any:
    """The same answer as the desktop's functions, for an edge on asyncio (xlwings Lite): ``carry_out``
    awaits what the rules need (a ``CallChats`` or ``ReadChats``), ``journal`` gives the journal to answer
    repeats from, ``before`` may refuse first (its ConfigError is every cell's answer), ``too_many`` words
    the budget's refusal for the edge (``texts.too_many_for_a_function``'s arguments). Never raises (but
    CancelledError)."""
    import asyncio

    from greenapi_excel import i18n, layout

    global _async_lock
    if _async_lock is None:
        _async_lock = asyncio.Lock()
    with i18n.using(layout.settings_language(sheet_settings) or i18n.choose()):
        rows, cells = _cells(value)
        try:
            async with _async_lock:
                if before is not None:
                    before()
                flow = _statuses([cell for cell, _problem in cells], method, sheet_settings, journal,
                                 too_many or texts.too_many_for_a_function)
                answer = None
                while True:
                    try:
                        need = flow.send(answer)
                    except StopIteration as finished:
                        answers = finished.value
                        break
                    answer = await carry_out(need)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a function never raises: Excel would show #VALUE! and no reason
            answers = _failed_texts(error, len(cells))
        return _shaped(answers, rows, cells)


def _drive(flow) -> list[str]:
    """The desktop's driver: each need carried out on this thread."""
    answer = None
    while True:
        try:
            need = flow.send(answer)
        except StopIteration as finished:
            return finished.value
        client = _client(need.credentials)
        if isinstance(need, ReadChats):
            answer = client.get_chats()
        else:
            from greenapi_excel import jobs

            answer = jobs.execute(need.prepared, client, need.journal, source="udf", preflight=False)


def _cells(value: Any) -> tuple[list | None, list[tuple[Any, str | None]]]:
    rows = value if _is_rows(value) else None
    return rows, ([_one_cell(row) for row in rows] if rows is not None else [(value, None)])


def _failed_texts(error: BaseException, count: int) -> list[str]:
    return [_clean(_failed(error), os.environ.get("GREENAPI_API_TOKEN_INSTANCE"))] * count


def _shaped(texts: list[str], rows, cells) -> Any:
    texts = [st.localised(problem if problem is not None else text) for text, (_cell, problem) in zip(texts, cells)]
    if rows is None:
        return texts[0]
    return [[text] for text in texts]


def _is_rows(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(row, (list, tuple)) for row in value)


def _one_cell(row) -> tuple[Any, str | None]:
    """A row of a range holds one chat ID: its only non-empty cell."""
    filled = [cell for cell in row if not (cell is None or (isinstance(cell, str) and not cell.strip()))]
    if len(filled) > 1:
        return None, status_text(st.INVALID, texts.one_column_please())
    return (filled[0] if filled else None), None


# --- the work ------------------------------------------------------------------------

def _statuses(values: list[Any], method: str | None, sheet_settings: dict | None, journal_of,
              too_many=texts.too_many_for_a_function):
    """The rules, as a flow: yields what it needs done, returns one text per value."""
    from greenapi_excel import settings  # late: a broken config must come back as text, not an import error

    credentials = settings.resolve_credentials(sheet_settings=sheet_settings)
    region = settings.resolve_region(None, sheet_settings)
    parsed = [chat_ids.parse_cell(v, region) for v in values]
    texts: list[str | None] = [None] * len(values)
    wanted: dict[str, list[int]] = {}  # chat ID -> indexes of the cells naming it
    for index, cell in enumerate(parsed):
        if cell.empty:
            texts[index] = ""
        elif cell.chat_id is None:
            texts[index] = status_text(st.INVALID, cell.reason or _("not a chat ID"))
        else:
            wanted.setdefault(cell.chat_id, []).append(index)
    if wanted:
        if method is None:
            answers = yield from _read_states(credentials, list(wanted), journal_of)
        else:
            answers = yield from _change(journal_of(), credentials, method, list(wanted), region, too_many)
        for chat_id, indexes in wanted.items():
            for index in indexes:
                texts[index] = answers[chat_id]
    return [_clean(t or "", credentials.api_token) for t in texts]


def _change(journal, credentials, method: str, chats: list[str], region, too_many=texts.too_many_for_a_function):
    """Journal answers for chats already done; one paced call per remaining chat, a run like any other."""
    answers: dict[str, str] = {}
    todo: list[str] = []
    # The engine's one rule of what counts as done (a run's resume uses it too).
    done_before = journal.done_before(credentials.id_instance, method, chats)
    for chat_id in chats:
        done = done_before.get(chat_id)
        if done is not None:
            answers[chat_id] = f"{done.status} ({done.time:%Y-%m-%d %H:%M})"
        else:
            todo.append(chat_id)
    if todo and not _within_budget(len(todo)):
        for chat_id in todo:
            answers[chat_id] = status_text(st.NOT_RUN, too_many(len(todo), method, UDF_CALL_LIMIT, UDF_WINDOW_SECONDS))
        todo = []
    if todo:
        from greenapi_excel import jobs
        from greenapi_excel.run import plan as make_plan

        planned = make_plan(list(enumerate(todo)), method=method, region=region)
        prepared = jobs.Prepared(method=method, dry_run=False, plan=planned, book=None, sheet=None, where="")
        outcome = yield CallChats(credentials, prepared, journal)
        journal.mark_delivered(call_ids(outcome.results))  # the answers go into the cells now
        _chats_cache.pop(_instance_key(credentials), None)  # CHATSTATUS must not show the old state
        results = {r.row: (r.status, r.details) for r in outcome.results}
        for index, chat_id in enumerate(todo):
            word, details = results.get(index, (st.NOT_RUN, texts.no_answer()))
            answers[chat_id] = status_text(word, details)
    return answers


def _within_budget(count: int) -> bool:
    """Take ``count`` calls from the budget shared by every cell, or none when they do not fit."""
    now = time.monotonic()
    _recent_calls[:] = [t for t in _recent_calls if now - t < UDF_WINDOW_SECONDS]
    if len(_recent_calls) + count > UDF_CALL_LIMIT:
        return False
    _recent_calls.extend([now] * count)
    return True


def _read_states(credentials, chats: list[str], journal_of):
    key = _instance_key(credentials)
    cached = _chats_cache.get(key)
    if cached is None or time.monotonic() - cached[0] > CHATS_CACHE_SECONDS:
        listed = yield ReadChats(credentials)
        book = {c.get("id"): c for c in listed if isinstance(c, dict)}
        cached = (time.monotonic(), book)
        _chats_cache[key] = cached
    # A chat getChats lists by its @lid is found by its number too, once the journal links them (issue 19).
    from greenapi_excel import jobs

    identities = jobs.known_identities(journal_of(), credentials.id_instance)
    book = {identities.key(chat_id): chat for chat_id, chat in cached[1].items() if isinstance(chat_id, str)}
    answers = {}
    for chat_id in chats:
        chat = book.get(identities.key(chat_id))
        if chat is None:
            answers[chat_id] = status_text(st.CHAT_NOT_FOUND, texts.not_in_chat_list())
        else:
            answers[chat_id] = st.ARCHIVED if chat.get("archive") else _(st.NOT_ARCHIVED)
    return answers


# --- process-wide caches ---------------------------------------------------------------

def _instance_key(credentials) -> tuple:
    # The token is part of the key only as a digest: a changed token gets a new client.
    digest = hashlib.sha256(credentials.api_token.encode("utf-8")).hexdigest()
    return (credentials.api_url, str(credentials.id_instance), digest)


def _client(credentials):
    from greenapi_excel.client import GreenApiClient

    key = _instance_key(credentials)
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = GreenApiClient(credentials)
    return client


def _journal():
    from greenapi_excel.journal import Journal, default_journal_path

    path = str(default_journal_path())
    journal = _journals.get(path)
    if journal is None:
        journal = _journals[path] = Journal(path)
    return journal


# --- text ----------------------------------------------------------------------------

def _failed(error: BaseException) -> str:
    return status_text(st.FAILED, texts.failure(error))


def _clean(text: str, token: str | None) -> str:
    return cell_text(redact(text, token), UDF_TEXT_LIMIT)


def _quietly(action) -> None:
    try:
        action()
    except Exception:
        pass

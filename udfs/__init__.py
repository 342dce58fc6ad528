"""The worksheet functions of GreenApi.xlsm: =ARCHIVECHAT, =UNARCHIVECHAT and =CHATSTATUS.

Thin declarations for xlwings; the work happens in ``greenapi_excel.udf``. Every chat_id argument
arrives as a 2-D list (``ndim=2``): one cell is ``[[value]]``, a column of N cells is N one-item rows.
A 2-D list returned to Excel spills down a column in dynamic-array Excel, and a 1x1 list shows as a
plain value. ``call_in_wizard=False`` because the Insert Function dialog evaluates the formula while the
analyst types it, and that must never archive a chat; ``volatile=False`` so a recalculation of the book
does not call GREEN-API again.

``caller`` is xlwings' reserved argument: the calling cell (Excel never shows it as an argument). The
calling book's Settings sheet gives the region and the instance, as the ribbon's do (``settings``);
it is read once per few seconds, not once per cell.
"""

import threading
import time

import xlwings as xw

from greenapi_excel import layout, udf

CHAT_ID_DOC = "A chat ID (79001234567@c.us), a phone number, or a range of them"
SETTINGS_SECONDS = 5.0   # a recalculation of a thousand cells reads the Settings sheet once

_settings_lock = threading.Lock()
_settings_cache: dict = {}   # book -> (monotonic time, lower-case label -> value)


def _book_settings(caller):
    """The calling book's Settings!A1:B20 as lower-case label -> value (never the token), or None."""
    if caller is None:
        return None
    try:
        book = caller.sheet.book
        key = getattr(book, "fullname", None) or book.name
        with _settings_lock:
            cached = _settings_cache.get(key)
            if cached is not None and time.monotonic() - cached[0] < SETTINGS_SECONDS:
                return cached[1]
            values = {}
            name = layout.settings_sheet_name([sheet.name for sheet in book.sheets])   # Settings / Настройки
            if name is not None:
                block = f"A1:B{layout.SETTINGS_ROWS}"
                rows = book.sheets[name].range(block).options(ndim=2).value
                values = layout.read_settings_rows((row + [None, None])[:2] for row in rows).values
            _settings_cache[key] = (time.monotonic(), values)
            return values
    except Exception:  # a UDF never raises: without the sheet, the environment and config file still count
        return None


@xw.func(category="GreenApi", call_in_wizard=False, volatile=False)
@xw.arg("chat_id", ndim=2, doc=CHAT_ID_DOC)
def ARCHIVECHAT(chat_id, caller=None):
    """Archives the WhatsApp chat and returns its status (Archived, Already archived, Chat not found, ...).
    Given a range, archives each chat and returns a column of statuses."""
    return udf.archive(chat_id, sheet_settings=_book_settings(caller))


@xw.func(category="GreenApi", call_in_wizard=False, volatile=False)
@xw.arg("chat_id", ndim=2, doc=CHAT_ID_DOC)
def UNARCHIVECHAT(chat_id, caller=None):
    """Unarchives the WhatsApp chat and returns its status (Unarchived, Already unarchived, ...).
    Given a range, unarchives each chat and returns a column of statuses."""
    return udf.unarchive(chat_id, sheet_settings=_book_settings(caller))


@xw.func(category="GreenApi", call_in_wizard=False, volatile=False)
@xw.arg("chat_id", ndim=2, doc=CHAT_ID_DOC)
def CHATSTATUS(chat_id, caller=None):
    """Reads whether the WhatsApp chat is archived; changes nothing.
    Given a range, returns a column of statuses."""
    return udf.status(chat_id, sheet_settings=_book_settings(caller))


if __name__ == "__main__":
    xw.serve()

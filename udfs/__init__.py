"""The worksheet functions of GreenApi.xlsm: =ARCHIVECHAT, =UNARCHIVECHAT and =CHATSTATUS.

Thin declarations for xlwings; the work happens in ``greenapi_excel.udf``. Every chat_id argument
arrives as a 2-D list (``ndim=2``): one cell is ``[[value]]``, a column of N cells is N one-item rows.
A 2-D list returned to Excel spills down a column in dynamic-array Excel, and a 1x1 list shows as a
plain value. ``call_in_wizard=False`` because the Insert Function dialog evaluates the formula while the
analyst types it, and that must never archive a chat; ``volatile=False`` so a recalculation of the book
does not call GREEN-API again.

``caller`` is xlwings' reserved argument: the calling cell (Excel never shows it as an argument). The
calling book's Settings sheet gives the region and the instance, as the ribbon's do.
"""

import xlwings as xw

from greenapi_excel import udf
from greenapi_excel.excel.live import caller_settings

CHAT_ID_DOC = "A chat ID (79001234567@c.us), a phone number, or a range of them"


@xw.func(category="GreenApi", call_in_wizard=False, volatile=False)
@xw.arg("chat_id", ndim=2, doc=CHAT_ID_DOC)
def ARCHIVECHAT(chat_id, caller=None):
    """Archives the WhatsApp chat and returns its status (Archived, Already archived, Chat not found, ...).
    Given a range, archives each chat and returns a column of statuses."""
    return udf.archive(chat_id, sheet_settings=caller_settings(caller))


@xw.func(category="GreenApi", call_in_wizard=False, volatile=False)
@xw.arg("chat_id", ndim=2, doc=CHAT_ID_DOC)
def UNARCHIVECHAT(chat_id, caller=None):
    """Unarchives the WhatsApp chat and returns its status (Unarchived, Already unarchived, ...).
    Given a range, unarchives each chat and returns a column of statuses."""
    return udf.unarchive(chat_id, sheet_settings=caller_settings(caller))


@xw.func(category="GreenApi", call_in_wizard=False, volatile=False)
@xw.arg("chat_id", ndim=2, doc=CHAT_ID_DOC)
def CHATSTATUS(chat_id, caller=None):
    """Reads whether the WhatsApp chat is archived; changes nothing.
    Given a range, returns a column of statuses."""
    return udf.status(chat_id, sheet_settings=caller_settings(caller))


if __name__ == "__main__":
    xw.serve()

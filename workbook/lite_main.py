"""GreenApi for Excel, xlwings Lite edition: the main.py this workbook carries (written by
`greenapi-excel workbook PATH --lite`; edit the source in the project, not here).

The buttons on the Chats sheet run the scripts below; =ARCHIVECHAT, =UNARCHIVECHAT and =CHATSTATUS are the
worksheet functions. The engine (the Python package greenapi_excel) is carried at the end of this file,
zipped: it is unpacked on first use, so nothing but the xlwings Lite add-in has to be installed. The token
comes from xlwings Lite's environment variables (GREENAPI_API_TOKEN_INSTANCE, Scope Local), never from a cell.
"""

import xlwings as xw
from xlwings import arg, func, script

LANGUAGE = "@LANGUAGE@"           # the language the book was built in (its Settings sheet may change it)
ENGINE_VERSION = "@ENGINE_VERSION@"
CHAT_ID_DOC = "A chat ID (79001234567@c.us), a phone number, or a range of them"


def _engine():
    """Make the engine this workbook carries importable: unpacked once per Python session into its own
    folder, first on sys.path; an engine of another version imported earlier is forgotten."""
    import base64
    import hashlib
    import io
    import os
    import sys
    import zipfile

    folder = "/tmp/greenapi-excel-" + _ENGINE_SHA256[:16]
    if not os.path.exists(os.path.join(folder, ".complete")):
        data = base64.b64decode("".join(_ENGINE))
        if hashlib.sha256(data).hexdigest() != _ENGINE_SHA256:
            raise RuntimeError("the engine this workbook carries is damaged: build the workbook again")
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            archive.extractall(folder)
        open(os.path.join(folder, ".complete"), "w").close()
    if folder not in sys.path:
        sys.path.insert(0, folder)
    for name in [name for name in sys.modules if name == "greenapi_excel" or name.startswith("greenapi_excel.")]:
        if not (getattr(sys.modules[name], "__file__", None) or "").startswith(folder + "/"):
            del sys.modules[name]
    import greenapi_excel

    return greenapi_excel


def _lite():
    """The engine's Lite edge (greenapi_excel.lite.scripts), told once which language this book speaks."""
    _engine()
    from greenapi_excel.lite import scripts

    scripts.start(LANGUAGE)
    return scripts


def _press(book, action_name, *arguments, **options):
    scripts = _lite()
    action = getattr(scripts, action_name)
    return scripts.press(book, lambda pressed: action(pressed, *arguments, **options))


# --- the buttons (each one's shape on the Chats sheet links to the cell named here) -------------------

@script(button="[btnCheckConnection]@CHATS@!F2")
async def check_connection(book: xw.Book):
    """getStateInstance and getSettings: are the credentials right, is WhatsApp linked, can it archive? A setting
    that is off is switched on by a second press within a minute."""
    await _press(book, "check_connection")


@script(button="[btnLoadChats]@CHATS@!F3")
async def load_chats(book: xw.Book):
    """One row per chat of the instance (getChats and two journal reads)."""
    await _press(book, "load_chats")


@script(button="[btnDryRun]@CHATS@!F4")
async def dry_run(book: xw.Book):
    """Say what Archive would do (one getChats read), changing nothing in WhatsApp."""
    await _press(book, "run", "archiveChat", dry_run=True)


@script(button="[btnArchiveChats]@CHATS@!F5")
async def archive_chats(book: xw.Book):
    """Archive the chats listed on the active sheet; results beside them."""
    await _press(book, "run", "archiveChat", dry_run=False)


@script(button="[btnUnarchiveChats]@CHATS@!F6")
async def unarchive_chats(book: xw.Book):
    """Unarchive the chats listed on the active sheet; results beside them."""
    await _press(book, "run", "unarchiveChat", dry_run=False)


@script(button="[btnVerify]@CHATS@!F7")
async def verify(book: xw.Book):
    """Check the rows that say Archived (or Unarchived) against GREEN-API's chat list (one getChats read); rows it
    contradicts say Not archived (Not unarchived). A second press within a minute sends them again."""
    await _press(book, "verify")


@script(button="[btnUndoLastRun]@CHATS@!F8")
async def undo_last_run(book: xw.Book):
    """Take back the newest run not yet taken back (press twice: the first press says what it would do)."""
    await _press(book, "undo_last_run")


@script(button="[btnStopRun]@CHATS@!F9")
async def stop_run(book: xw.Book):
    """The run going on ends within a second or two; rows not reached say Not run."""
    await _press(book, "stop_run")


# --- the worksheet functions -----------------------------------------------------------------------------

@func
@arg("chat_id", ndim=2, doc=CHAT_ID_DOC)
async def ARCHIVECHAT(chat_id):
    """Archives the WhatsApp chat and returns its status (Archived, Already archived, Chat not found, ...).
    Given a range, archives each chat and returns a column of statuses."""
    return await _lite().function(chat_id, "archiveChat")


@func
@arg("chat_id", ndim=2, doc=CHAT_ID_DOC)
async def UNARCHIVECHAT(chat_id):
    """Unarchives the WhatsApp chat and returns its status (Unarchived, Already unarchived, ...).
    Given a range, unarchives each chat and returns a column of statuses."""
    return await _lite().function(chat_id, "unarchiveChat")


@func
@arg("chat_id", ndim=2, doc=CHAT_ID_DOC)
async def CHATSTATUS(chat_id):
    """Reads whether the WhatsApp chat is archived; changes nothing. Given a range, returns a column of statuses."""
    return await _lite().function(chat_id, None)


# --- the engine: greenapi_excel, zipped and base64-encoded (generated) ---------------------------------
_ENGINE_SHA256 = "@ENGINE_SHA256@"
_ENGINE = "@ENGINE@"

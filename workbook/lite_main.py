"""GreenApi for Excel, xlwings Lite edition: the main.py this workbook carries (written by
`greenapi-excel workbook PATH --lite`; edit the source in the project, not here).

The buttons on the Chats sheet run the scripts below. The engine (the Python package greenapi_excel) is
carried at the end of this file, zipped: it is unpacked on first use, so nothing but the xlwings Lite
add-in has to be installed. The token comes from xlwings Lite's environment variables
(GREENAPI_API_TOKEN_INSTANCE), never from a cell.
"""

import xlwings as xw
from xlwings import script

LANGUAGE = "@LANGUAGE@"           # the language the book was built in (its Settings sheet may change it)
ENGINE_VERSION = "@ENGINE_VERSION@"


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


async def _not_yet(book):
    # Placeholder until the Lite scripts arrive (issue 22, phase 2): it shows the engine loads from the book.
    _engine()
    from greenapi_excel.i18n import _, set_language

    set_language(LANGUAGE)
    book.app.alert(_("GreenApi for Excel {version} is loaded from this workbook. This button's script comes "
                     "with the next version.").format(version=ENGINE_VERSION), title="GreenApi")


@script(button="[btnCheckConnection]@CHATS@!F2")
async def check_connection(book: xw.Book):
    await _not_yet(book)


@script(button="[btnLoadChats]@CHATS@!F3")
async def load_chats(book: xw.Book):
    await _not_yet(book)


@script(button="[btnDryRun]@CHATS@!F4")
async def dry_run(book: xw.Book):
    await _not_yet(book)


@script(button="[btnArchiveChats]@CHATS@!F5")
async def archive_chats(book: xw.Book):
    await _not_yet(book)


@script(button="[btnUnarchiveChats]@CHATS@!F6")
async def unarchive_chats(book: xw.Book):
    await _not_yet(book)


@script(button="[btnUndoLastRun]@CHATS@!F7")
async def undo_last_run(book: xw.Book):
    await _not_yet(book)


@script(button="[btnStopRun]@CHATS@!F8")
async def stop_run(book: xw.Book):
    await _not_yet(book)


# --- the engine: greenapi_excel, zipped and base64-encoded (generated) ---------------------------------
_ENGINE_SHA256 = "@ENGINE_SHA256@"
_ENGINE = "@ENGINE@"

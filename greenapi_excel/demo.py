"""`greenapi-excel demo`: the whole job on a built-in sandbox, with no account and no network.

It writes a book with the kind of messy column analysts really paste, archives it through the sandbox
over real HTTP on loopback, and leaves the book for the user to open.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path


def messy_column(chats: list[dict]) -> list[object]:
    """Cell values as analysts paste them: formatted numbers, floats, ready IDs, and some mistakes."""
    import phonenumbers

    users = [c for c in chats if c["id"].endswith("@c.us")]
    groups = [c for c in chats if c["id"].endswith("@g.us")]
    cells: list[object] = []
    for i, chat in enumerate(users):
        digits = chat["id"].split("@")[0]
        number = phonenumbers.parse("+" + digits)
        styles = (
            lambda: phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
            lambda: float(digits),                       # typed into a number-formatted cell
            lambda: chat["id"],                          # a ready chat ID
            lambda: "00 " + phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)[1:],
            lambda: f"  +{digits}  ",                    # pasted with spaces around
            lambda: int(digits),
        )
        cells.append(styles[i % len(styles)]())
    cells += [g["id"] for g in groups]
    first = users[0]["id"].split("@")[0]
    cells += [
        f"+{first[:1]} {first[1:]}",     # the first chat again: a duplicate
        "",                               # an empty row: skipped
        "8 (900) 123-45-67",             # a Russian local number: invalid without --region
        "ask Maria",                      # a note, not a number
        dt.datetime(2026, 11, 25, 9, 30),  # a date in the wrong column
        1.2036304396806656e17,           # a group ID typed as a number: lost its digits
        "+44 7911 123457",               # a valid number that has no chat: not found
        "=HYPERLINK(\"http://example.com\")",  # formula-looking text stays text
    ]
    return cells


def write_demo_book(path: Path, chats: list[dict]) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from greenapi_excel import layout, statuses
    from greenapi_excel.i18n import _

    wb = Workbook()
    ws = wb.active
    ws.title = _("Chats")   # the demo book in the run's language, as the workbook build makes it
    ws.append([_(layout.CHAT_HEADER), *statuses.result_headers()])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for value in messy_column(chats):
        ws.append([value])
        if isinstance(value, str) and value.startswith("="):
            ws.cell(ws.max_row, 1).data_type = "s"  # keep it text, as it was pasted
    ws.column_dimensions["A"].width = 30
    ws.column_dimensions["B"].width = 22
    ws.column_dimensions["C"].width = 60
    ws.column_dimensions["D"].width = 20
    wb.save(path)
    return path


def run_demo(out: Path, *, progress: bool = True) -> int:
    """Write the messy demo book, start the built-in sandbox and archive the book through it: the very
    run ``greenapi-excel archive`` makes (``console.archive_book``), with the demo's own journal."""
    from greenapi_excel import console, methods
    from greenapi_excel.client import Credentials, GreenApiClient
    from greenapi_excel.i18n import _
    from greenapi_excel.journal import Journal
    from greenapi_excel.sandbox import DEFAULT_CHATS, Sandbox

    out = out.resolve()
    write_demo_book(out, DEFAULT_CHATS)
    with Sandbox(rps=10) as sandbox, tempfile.TemporaryDirectory(prefix="greenapi-demo-") as tmp:
        console.info(_("Sandbox GREEN-API at {url}, idInstance {instance} ({n} chats, 10 archive calls per second "
                       "like the real one)").format(url=sandbox.api_url, instance=sandbox.id_instance,
                                                    n=len(sandbox.chats)))
        credentials = Credentials(sandbox.api_url, str(sandbox.id_instance), sandbox.token)
        # The demo keeps its own journal: the sandbox forgets everything when it stops.
        code = console.archive_book(out, method=methods.ARCHIVE, progress=progress,
                                    credentials_of=lambda _settings: credentials,
                                    client_of=lambda found: GreenApiClient(found),
                                    journal=Journal(Path(tmp) / "journal.sqlite3"))
    console.say("\n" + _("Open {path} to see a status beside every row.").format(path=out))
    # A demo that shows invalid rows on purpose succeeded when it ran to the end.
    return 0 if code in (0, 1) else code

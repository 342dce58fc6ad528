"""`greenapi-excel demo`: the whole job on a built-in sandbox, with no account and no network.

It writes a book with the kind of messy column analysts really paste, archives it through the sandbox
over real HTTP on loopback, and leaves the book for the user to open.
"""

from __future__ import annotations

import datetime as dt
import sys
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
    from greenapi_excel import cli, i18n
    from greenapi_excel.i18n import _
    from greenapi_excel.sandbox import DEFAULT_CHATS, Sandbox

    out = out.resolve()
    write_demo_book(out, DEFAULT_CHATS)
    with Sandbox(rps=10) as sandbox, tempfile.TemporaryDirectory(prefix="greenapi-demo-") as tmp:
        print(_("Sandbox GREEN-API at {url}, idInstance {instance} ({n} chats, 10 archive calls per second like "
                "the real one)").format(url=sandbox.api_url, instance=sandbox.id_instance, n=len(sandbox.chats)),
              file=sys.stderr)
        # The demo keeps its own journal: the sandbox forgets everything when it stops.
        code = cli.main([
            "archive", str(out),
            "--api-url", sandbox.api_url, "--id-instance", str(sandbox.id_instance),
            "--api-token", sandbox.token,
            "--journal", str(Path(tmp) / "journal.sqlite3"),
            *([] if progress else ["--no-progress"]),
            "--lang", i18n.language(),
        ])
    print("\n" + _("Open {path} to see a status beside every row.").format(path=out))
    # A demo that shows invalid rows on purpose succeeded when it ran to the end.
    return 0 if code in (0, 1) else code

"""One rule for text that reaches a cell, an alert or the journal (results.cell_text): no control or
format character (Unicode Cc and Cf, bidi overrides and zero-width joiners included), no noncharacter and
nothing else XML 1.0 forbids gets through."""

from __future__ import annotations

import unicodedata

import openpyxl
from cli_helpers import run_cli, sandbox_env
from hypothesis import given, settings, strategies as hs

from greenapi_excel import results
from greenapi_excel.journal import Journal
from greenapi_excel.results import cell_text

INVISIBLE = "\u202e\u202d\u2066\u2069\u200b\u200d\u200e\ufeff\u00ad\u0000\u0007\u001b\u0085\u2028\u2029\U000e0001"


def noncharacter(char: str) -> bool:
    return 0xFDD0 <= ord(char) <= 0xFDEF or ord(char) & 0xFFFE == 0xFFFE


def invisible(text: str) -> list[str]:
    return [f"U+{ord(c):04X}" for c in text
            if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") or noncharacter(c)]


def xml_allowed(char: str) -> bool:
    """XML 1.0's Char production."""
    code = ord(char)
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or code >= 0x10000


def test_every_character_xml_forbids_is_removed():
    forbidden = [chr(c) for c in [*range(0x20), 0xD800, 0xDBFF, 0xDC00, 0xDFFF, 0xFFFE, 0xFFFF]]
    assert [c for c in forbidden if not xml_allowed(c)]          # the list is what XML forbids
    for char in forbidden:
        for lines in (False, True):
            cleaned = cell_text(f"Anna{char}Smith", 10_000, lines=lines)
            assert all(xml_allowed(c) for c in cleaned), (hex(ord(char)), cleaned)
            assert cleaned.replace(" ", "").replace("\n", "") == "AnnaSmith"
    assert cell_text("group \uffff\ufffe\U0001fffe name\ufdd0") == "group name"


def test_bidi_overrides_and_format_characters_are_removed():
    assert cell_text("Anna\u202e evil\u202c") == "Anna evil"
    assert cell_text("in\u200bvisible\u2060join") == "invisiblejoin"
    assert cell_text("line\nbreak\ttab\r\x00end") == "line break tab end"
    assert cell_text("\U0001f468\u200d\U0001f469\u200d\U0001f467 family") == "\U0001f468\U0001f469\U0001f467 family"
    assert cell_text("Ольга Смирнова, 李小龍, مرحبا") == "Ольга Смирнова, 李小龍, مرحبا"


@settings(max_examples=300, deadline=None)
@given(hs.text(alphabet=hs.one_of(hs.characters(), hs.sampled_from(INVISIBLE)), max_size=80))
def test_no_control_or_format_character_survives(text):
    cleaned = cell_text(text)
    assert not invisible(cleaned), (text, cleaned)
    assert all(xml_allowed(c) for c in cleaned), (text, cleaned)
    assert len(cleaned) <= results.DETAILS_LIMIT
    # Every visible character is kept, in order.
    kept = "".join(c for c in text if not invisible(c) and not c.isspace())
    assert cleaned.replace(" ", "") == kept.replace(" ", "")


def test_alert_text_keeps_its_line_breaks_and_nothing_else_invisible():
    assert cell_text("Archive: 3 rows\u202e.\nStopped\u200d early.", 10_000, lines=True) == \
        "Archive: 3 rows.\nStopped early."


def test_journal_details_go_through_the_same_rule(tmp_path):
    with Journal(tmp_path / "j.sqlite3") as journal:
        call = journal.begin(instance="1", method="archiveChat", chat_id="1@c.us")
        journal.finish(call, status="Failed", details="server said \u202eevil\u0007 \x00thing")
        assert journal.entries()[0].details == "server said evil thing"


def test_a_contact_name_from_getchats_reaches_the_dry_runs_details_clean(make_sandbox, tmp_path):
    chats = [{"id": "79001234567@c.us", "name": "Anna\u202e\u2066 gro\u200bup\u0007\x1b[31m", "incoming": 2}]
    sandbox = make_sandbox(chats=chats, rps=1000, read_rps=1000)
    book = tmp_path / "dry.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["Chat ID"])
    wb.active.append(["79001234567"])
    wb.save(book)
    proc = run_cli("archive", book, "--dry-run", "--no-progress", env=sandbox_env(sandbox, tmp_path))
    assert proc.returncode == 0, proc.stderr
    ws = openpyxl.load_workbook(book).active
    assert ws["B2"].value == "Would archive"
    assert "Anna group" in ws["C2"].value and not invisible(ws["C2"].value), ascii(ws["C2"].value)
    assert "[31m" in ws["C2"].value  # the escape character went, the visible letters stay


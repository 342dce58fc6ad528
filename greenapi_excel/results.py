"""What a run produces (one result per row, and a summary), and the text rules every edge applies:
``cell_text`` (the one cleaning rule), ``redact`` (the one redaction of the token) and ``formula_safe``
(the one formula guard for live cells)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

# How long the text in a result cell may be: a status word and a sentence, never a server's whole page.
STATUS_LIMIT = 100
DETAILS_LIMIT = 300

# The Updated cell's number format, on every edge (files, live Excel, Lite, the chat list's dates).
UPDATED_FORMAT = "yyyy-mm-dd hh:mm:ss"
# Widths (Excel's character units) that show a status word, a sentence of details and the whole
# Updated date-time instead of ###: set once per run on Status, Details and Updated.
RESULT_WIDTHS = (20, 60, 20)

# ASCII text needs only its controls out (the common case, and the fast one).
_ASCII_CONTROL = re.compile("[\x00-\x1f\x7f]")
# Control characters (Cc: C0, DEL, C1) and line/paragraph separators break a line: they become a space.
# Format characters (Cf: bidi overrides and isolates such as U+202E, zero-width spaces and joiners, soft
# hyphens, BOMs, tags) and lone surrogates (Cs) are removed: they are invisible, can make a cell read
# otherwise than it is (U+202E turns "exe.txt" around), and a lone surrogate breaks the save.
# Zero-width joiners go too, although they glue emoji sequences and some scripts' ligatures: the
# letters stay, only their joining is lost, and a status cell is no place for invisible glyph control.
# Noncharacters (U+FFFE, U+FFFF, U+FDD0..U+FDEF and the last two of every plane) are removed: XML 1.0
# forbids U+FFFE and U+FFFF, so one in a contact's name would leave a sheet that is not well-formed.
# With the C0 controls and lone surrogates, that is every character XML 1.0 forbids.
_TO_SPACE = frozenset(("Cc", "Zl", "Zp"))
_REMOVED = frozenset(("Cf", "Cs"))


def _noncharacter(char: str) -> bool:
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def _visible(text: str, lines: bool) -> str:
    if text.isascii():
        if lines:
            return "\n".join(_ASCII_CONTROL.sub(" ", line) for line in text.split("\n"))
        return _ASCII_CONTROL.sub(" ", text)
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        if category in _REMOVED or (category == "Cn" and _noncharacter(ch)):
            continue
        if category in _TO_SPACE and not (lines and ch == "\n"):
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def cell_text(value: object, limit: int = DETAILS_LIMIT, *, lines: bool = False, fold: bool = True) -> str:
    """Plain text for a result cell, an alert or the journal, the same rule for files and live Excel:
    control characters out (Unicode Cc, Zl, Zp become a space), format characters out (Cf, bidi
    overrides included, lone surrogates and noncharacters such as U+FFFE and U+FFFF are removed),
    whitespace folded, at most ``limit`` characters. No character XML 1.0 forbids is left. ``lines``
    keeps line breaks (an alert's lines), folding each line on its own; ``fold=False`` keeps runs of spaces
    (a terminal's aligned table), the characters taken out all the same."""
    text = _visible("" if value is None else str(value), lines)
    if fold and lines:
        text = "\n".join(" ".join(line.split()) for line in text.split("\n")).strip("\n")
    elif fold:
        text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "\u2026"
    return text


REDACTED = "***"
# Any GREEN-API style URL, whatever token it carries (a hostile server may echo another one).
_TOKEN_IN_URL = re.compile(r"(/waInstance[^/\s]*/[A-Za-z]+/)[^\s/?#\"'<>]+")


def redact(text: object, *tokens: str | None) -> str:
    """``text`` with each token (as written, or URL-quoted) and any token-like URL segment replaced by ***."""
    text = str(text)
    for token in tokens:
        if token:
            text = text.replace(token, REDACTED)
            quoted = quote(token, safe="")
            if quoted != token:
                text = text.replace(quoted, REDACTED)
    return _TOKEN_IN_URL.sub(lambda m: m.group(1) + REDACTED, text)


# Text starting with one of these becomes a formula when written into a live cell.
FORMULA_STARTS = ("=", "+", "-", "@")


def formula_safe(value: object) -> object:
    """A value ready for a live cell (Excel through xlwings, or Lite): text that Excel would read as a
    formula, or whose leading apostrophe it would swallow, gets an apostrophe in front, which Excel keeps
    out of the value and does not show. The text itself is kept whole: never cut, never stripped.
    (A file's cells are written as inline strings, which are never formulas: no guard is needed there.)"""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS + ("'",)):
        return "'" + value
    return value


@dataclass(frozen=True)
class RowResult:
    """The outcome for one sheet row: the three cells written beside the chat ID."""

    row: int
    status: str
    details: str = ""
    updated: datetime | None = None
    call_id: int | None = None  # the journal's call this result answers; marked delivered once written


def call_ids(results) -> list[int]:
    """The journal calls behind these results (for ``Journal.mark_delivered`` once they are written)."""
    return [r.call_id for r in results if r.call_id is not None]


@dataclass
class RunSummary:
    """Counts per status word, how long it took, how many calls it made, and why it stopped early (if so)."""

    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    calls: int = 0
    stopped: str | None = None
    stop_error: Exception | None = None
    run_id: str | None = None   # the run's id in the journal (journal --runs, undo --run)
    hidden: int = 0             # rows skipped because the sheet hides them (filter or by hand)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

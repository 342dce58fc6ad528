"""What a run produces: one result per row, and a summary."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

# How long the text in a result cell may be: a status word and a sentence, never a server's whole page.
STATUS_LIMIT = 100
DETAILS_LIMIT = 300

# Control characters, C1 controls, line/paragraph separators and lone surrogates: openpyxl refuses some,
# a lone surrogate breaks the save, and the rest garble a filter.
_UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def cell_text(value: object, limit: int = DETAILS_LIMIT) -> str:
    """Plain one-line text for a result cell, the same rule for files and live Excel: control characters
    out, whitespace folded, at most ``limit`` characters."""
    text = _UNSAFE_TEXT.sub(" ", "" if value is None else str(value))
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "\u2026"
    return text


@dataclass(frozen=True)
class RowResult:
    """The outcome for one sheet row: the three cells written beside the chat ID."""

    row: int
    status: str
    details: str = ""
    updated: datetime | None = None


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

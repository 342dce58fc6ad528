"""What a run produces: one result per row, and a summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


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

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

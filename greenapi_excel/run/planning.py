"""What a run will do, decided without any network call: parse every cell, keep the first row of each
chat, set aside rows an earlier run finished and rows the sheet hides."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Collection, Iterable, Mapping

from greenapi_excel import chat_ids, methods, statuses as st
from greenapi_excel.i18n import _
from greenapi_excel.results import RowResult


@dataclass
class Plan:
    """What a run will do, decided without any network call."""

    method: str
    todo: list[tuple[int, str]] = field(default_factory=list)  # (row, chat ID): one row per distinct chat
    decided: list[RowResult] = field(default_factory=list)  # invalid and duplicate rows
    kept: dict[int, str] = field(default_factory=dict)  # row -> status an earlier run wrote (left as is)
    hidden: int = 0  # non-empty rows skipped because the sheet hides them
    # Chats verify found otherwise than done (the row says Not archived / Not unarchived): an answer that they
    # are so already is not believed (run.decisions.workaround).
    recheck: set[str] = field(default_factory=set)

    @property
    def rows(self) -> int:
        return len(self.todo) + len(self.decided) + len(self.kept)

    def describe(self) -> str:
        from greenapi_excel import texts

        return texts.plan_line(self)


def plan(
    cells: Iterable[tuple[int, object]],
    *,
    method: str,
    region: str | None = None,
    previous: Mapping[int, str] | None = None,
    hidden: Collection[int] = (),
) -> Plan:
    """Parse every cell, keep the first row of each chat, and set aside rows already done in the book.

    ``previous`` maps a row to the Status text an earlier run left there; a row whose status says the
    job is done for this method is kept as it is and makes no call. Rows in ``hidden`` (hidden by a
    filter or by hand: in Excel the filter is the rule) are skipped without a status and counted in
    ``Plan.hidden``.
    """
    methods.of(method)
    previous = previous or {}
    result = Plan(method)
    first_row: dict[str, int] = {}
    now = datetime.now()
    for row, value in cells:
        parsed = chat_ids.parse_cell(value, region)
        if parsed.empty:
            continue
        if row in hidden:
            result.hidden += 1
            continue
        if parsed.chat_id is None:
            result.decided.append(RowResult(row, st.INVALID, parsed.reason or _("not a chat ID"), now))
            continue
        seen = first_row.get(parsed.chat_id)
        if seen is not None:
            result.decided.append(RowResult(row, st.DUPLICATE, _("same chat as row {row}").format(row=seen), now))
            continue
        first_row[parsed.chat_id] = row
        earlier = previous.get(row)
        if methods.is_done(earlier, method):   # in either language: an English book re-run in Russian, ...
            result.kept[row] = earlier
        else:
            result.todo.append((row, parsed.chat_id))
            if st.canonical(earlier) == methods.of(method).not_done:
                result.recheck.add(parsed.chat_id)
    return result

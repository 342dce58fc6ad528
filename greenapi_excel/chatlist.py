"""The instance's chats as sheet rows: what Load chats, ``greenapi-excel chats`` and ``--all-chats`` show.

One getChats and two journal reads (lastIncomingMessages, lastOutgoingMessages over the last N days) for
the whole list, never a call per chat. The rows' content is decided here, once, for the CLI and the add-in:
``fetch`` asks GREEN-API, ``build_rows`` turns the answers into rows (pure), ``refresh`` lays rows over a
sheet that was loaded before (pure), ``choose`` is the rule of ``--all-chats --type --idle-days``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterable, Sequence

from greenapi_excel.i18n import N_, NP_, _, pgettext, spellings, spellings_in

# The headers in English; headers() gives them in the run's language ("Archived" as a column, not the status).
HEADER_CONTEXT = "chat list"
HEADERS = (NP_("chat list", "Chat ID"), NP_("chat list", "Name"), NP_("chat list", "Type"),
           NP_("chat list", "Archived"), NP_("chat list", "Last incoming"), NP_("chat list", "Last outgoing"),
           NP_("chat list", "Idle days"))
DEFAULT_SHEET = N_("Chats")          # "Чаты" in Russian (i18n): the add-in finds either
FALLBACK_SHEET = N_("Chat list")     # when "Chats" holds a list Load chats did not make
DEFAULT_DAYS = 30
MAX_DAYS = 3650
PERSON, GROUP = "person", "group"
YES, NO, GONE = "yes", "no", "gone"
DATE_FORMAT = "yyyy-mm-dd hh:mm"    # the message times (minutes: the journals' own precision is seconds)
WIDTHS = (28, 28, 9, 10, 17, 17, 10)   # characters, one per header
# The docs: a journal answer holds at most the last 10,000 messages. A full answer reaches back less far than
# asked, and then the window is cut to what both journals cover: "none in N days" must stay true.
JOURNAL_LIMIT = 10_000

# Column numbers (1-based) of the cells whose look depends on their value.
ARCHIVED_COLUMN = HEADERS.index("Archived") + 1
IDLE_COLUMN = HEADERS.index("Idle days") + 1
DATE_COLUMNS = (HEADERS.index("Last incoming") + 1, HEADERS.index("Last outgoing") + 1)


def none_text(days: int) -> str:
    """What a time cell says when the journals hold no such message in the window: never a made-up date."""
    return f"none in {days} days"


def idle_format(days: int) -> str:
    """Idle days below the window show as a number; a chat with no message in the window holds the number
    of days of the window and shows "over N" (a filter "greater than or equal to N" picks it)."""
    return f'[<{days}]0;"over "0'


def color_scale(days: int) -> tuple[float, float, float]:
    """Idle days' colour thresholds (green, yellow, red): 0, half the window, the window; strictly increasing."""
    end = max(days, 2)
    return 0, end / 2, end


def check_days(days) -> int:
    from greenapi_excel.errors import ConfigError

    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ConfigError(_("the number of days must be a whole number from 1 to {most}, got {days!r}").format(
            most=MAX_DAYS, days=days))
    return days


@dataclass(frozen=True)
class ChatRow:
    """One chat as a row. Times are local (Excel has no time zones); None: no such message in the window."""

    chat_id: str
    name: str
    type: str                          # "person" | "group"
    archived: bool
    last_incoming: datetime | None
    last_outgoing: datetime | None
    idle_days: int | None              # whole days since the newest message; None: none in the window
    window: int = DEFAULT_DAYS         # the days the journals cover (the days asked for, or fewer when full)

    def cells(self) -> list:
        """The seven cell values, in HEADERS order."""
        return [
            self.chat_id, self.name, self.type, YES if self.archived else NO,
            self.last_incoming if self.last_incoming is not None else none_text(self.window),
            self.last_outgoing if self.last_outgoing is not None else none_text(self.window),
            self.idle_days if self.idle_days is not None else self.window,
        ]

    def idle_for(self, days: int) -> bool:
        """Known to have no message, in or out, within the last ``days`` days."""
        if self.idle_days is not None:
            return self.idle_days >= days
        return self.window >= days


def window_of(rows: Sequence[ChatRow], days: int) -> int:
    """The days the rows' journals cover: ``days``, or fewer when a journal answer was full."""
    return min((row.window for row in rows), default=days)


def build_rows(chats: Iterable[dict], incoming: Sequence[dict], outgoing: Sequence[dict], *,
               days: int = DEFAULT_DAYS, now: datetime | None = None) -> list[ChatRow]:
    """getChats' list and the two journals over ``days`` days -> one row per chat, in getChats' order (pure).

    When a journal answer is full (JOURNAL_LIMIT messages), it reaches back only to its oldest message: the
    window shrinks to the whole days both journals cover, and messages older than that are left out, so
    that "none in N days" and "over N" stay true.
    """
    now = now or datetime.now()
    window = days
    for journal in (incoming, outgoing):
        if len(journal) >= JOURNAL_LIMIT:
            oldest = min((m["timestamp"] for m in journal if _stamp(m) is not None), default=None)
            if oldest is not None:
                covered = int((now - datetime.fromtimestamp(int(oldest))).total_seconds() // 86_400)
                window = max(0, min(window, covered))
    since = now.timestamp() - window * 86_400
    newest_in = _newest(m for m in incoming if (_stamp(m) or 0) >= since)
    newest_out = _newest(m for m in outgoing if (_stamp(m) or 0) >= since)
    rows, seen = [], set()
    for chat in chats:
        if not isinstance(chat, dict):
            continue
        chat_id = chat.get("id")
        if not isinstance(chat_id, str) or not chat_id or chat_id in seen:
            continue
        seen.add(chat_id)
        last_in, last_out = newest_in.get(chat_id), newest_out.get(chat_id)
        known = [t for t in (last_in, last_out) if t is not None]
        idle = max(0, int((now - max(known)).total_seconds() // 86_400)) if known else None
        name = chat.get("name")
        rows.append(ChatRow(
            chat_id=chat_id, name=name if isinstance(name, str) else "",
            type=GROUP if chat_id.endswith("@g.us") or chat.get("type") == "group" else PERSON,
            archived=bool(chat.get("archive")), last_incoming=last_in, last_outgoing=last_out, idle_days=idle,
            window=window))
    return rows


def _stamp(message) -> float | None:
    stamp = message.get("timestamp") if isinstance(message, dict) else None
    return None if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) else float(stamp)


def _newest(messages: Iterable[dict]) -> dict[str, datetime]:
    """chat ID -> local time of its newest message in a journal answer."""
    newest: dict[str, float] = {}
    for message in messages:
        if not isinstance(message, dict):
            continue
        chat_id, stamp = message.get("chatId"), _stamp(message)
        if not isinstance(chat_id, str) or stamp is None:
            continue
        if stamp > newest.get(chat_id, float("-inf")):
            newest[chat_id] = float(stamp)
    return {chat_id: datetime.fromtimestamp(int(stamp)) for chat_id, stamp in newest.items()}


def fetch(client, days: int = DEFAULT_DAYS) -> list[ChatRow]:
    """getChats, then lastIncomingMessages and lastOutgoingMessages over ``days`` days: three reads, each
    paced at its limit of 1 a second by the client."""
    days = check_days(days)
    chats = client.get_chats()
    minutes = days * 1440
    incoming = client.last_incoming_messages(minutes)
    outgoing = client.last_outgoing_messages(minutes)
    return build_rows(chats, incoming, outgoing, days=days)


def choose(rows: Sequence[ChatRow], *, chat_type: str | None = None, idle_days: int | None = None) -> list[ChatRow]:
    """The rule of ``--all-chats``: people or groups, and idle for ``idle_days`` days or more."""
    return [row for row in rows
            if (chat_type is None or row.type == chat_type)
            and (idle_days is None or row.idle_for(idle_days))]


@dataclass
class Refresh:
    """How loaded rows land on a sheet: sheet row -> the seven values, and what changed. A gone row's
    values are the sheet's own with Archived "gone": only that cell changes (``gone_rows``)."""

    cells: dict[int, list]
    updated: int = 0
    added: int = 0
    gone: int = 0
    gone_rows: set[int] = field(default_factory=set)

    @property
    def last_row(self) -> int:
        return max(self.cells, default=1)

    def describe(self) -> str:
        parts = [f"{self.updated + self.added} chats", f"{self.added} new" if self.updated else ""]
        if self.gone:
            parts.append(f"{self.gone} gone (marked, not deleted)")
        return ", ".join(p for p in parts if p)


def headers() -> list[str]:
    """HEADERS in the language in force: what Load chats writes in row 1."""
    return [pgettext(HEADER_CONTEXT, header) for header in HEADERS]


def is_loaded_header(first_row: Sequence) -> bool:
    """True when row 1 starts with the Load chats headers (the sheet was loaded before), in any language."""
    cells = [str(v).strip().casefold() if v is not None else "" for v in list(first_row)[:len(HEADERS)]]
    return len(cells) == len(HEADERS) and all(
        cell in {s.casefold() for s in spellings_in(HEADER_CONTEXT, header)} for cell, header in zip(cells, HEADERS))


def refresh(existing: Sequence[tuple[int, Sequence]], rows: Sequence[ChatRow]) -> Refresh:
    """Lay ``rows`` over a sheet loaded before (pure).

    ``existing`` holds (sheet row, its first seven values) for the rows below the header. A chat already
    on the sheet is updated on its own row, so the analyst's columns to the right stay with it; a new chat
    is added below the last row; a chat no longer in the list keeps its row, marked "gone" in Archived.
    """
    by_id = {row.chat_id: row for row in rows}
    result = Refresh({})
    placed: set[str] = set()
    last = 1
    for sheet_row, values in existing:
        last = max(last, sheet_row)
        values = list(values) + [None] * (len(HEADERS) - len(values))
        chat_id = values[0].strip() if isinstance(values[0], str) else values[0]
        row = by_id.get(chat_id) if isinstance(chat_id, str) else None
        if row is not None:
            result.cells[sheet_row] = row.cells()
            if chat_id not in placed:
                result.updated += 1
            placed.add(chat_id)
        elif isinstance(chat_id, str) and chat_id:
            marked = list(values[:len(HEADERS)])
            marked[ARCHIVED_COLUMN - 1] = GONE
            result.cells[sheet_row] = marked
            result.gone += 1
            result.gone_rows.add(sheet_row)
    for row in rows:
        if row.chat_id not in placed:
            last += 1
            result.cells[last] = row.cells()
            result.added += 1
    return result


# --- the sheet it goes to -------------------------------------------------------------------------

@dataclass(frozen=True)
class SheetChoice:
    """The sheet Load chats writes: its name as the book spells it (or the new sheet's), and whether it is new."""

    name: str
    new: bool


def choose_sheet(names: Sequence[str], look: Callable[[str], tuple[Sequence, bool]],
                 wanted: str | None = None) -> SheetChoice:
    """The one rule of Load chats' sheet, for the file and for live Excel (pure but for ``look``).

    ``names`` are the book's sheets; ``look(name)`` gives a sheet's first row (its first seven values) and
    whether anything lies below it. The sheet is ``wanted`` when given, else Chats, else Chat list, each
    found in any language we ship (Chats / Чаты) and taken when Load chats made it (its headers, in either
    language) or nothing lies below its first row; a missing one is made, named in the run's language.
    ConfigError when every candidate holds a list of the analyst's own."""
    from greenapi_excel.errors import ConfigError

    if wanted is not None and str(wanted).strip():
        given = str(wanted).strip()
        candidates = [(given, (given,))]
    else:
        candidates = [(_(name), spellings(name)) for name in (DEFAULT_SHEET, FALLBACK_SHEET)]
    for new_name, spelled in candidates:
        folded = {s.strip().casefold() for s in spelled}
        found = next((name for name in names if name.strip().casefold() in folded), None)
        if found is None:
            return SheetChoice(new_name, True)
        first_row, below = look(found)
        if is_loaded_header(first_row) or not below:
            return SheetChoice(found, False)
    if len(candidates) == 1:
        raise ConfigError(_("the sheet {sheet!r} holds a list Load chats did not make; give another sheet name "
                            "(--sheet) so that nothing of yours is overwritten").format(sheet=candidates[0][0]))
    raise ConfigError(_("the sheets {first} and {second} both hold lists Load chats did not make: rename one of "
                        "them and load the chats again").format(first=candidates[0][0], second=candidates[1][0]))


# --- how it looks ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CellLook:
    """What a highlight does to a cell: font colour, italic, struck through, fill (colours "#RRGGBB")."""

    font: str | None = None
    italic: bool = False
    strike: bool = False
    fill: str | None = None


GONE_LOOK = CellLook(font="#808080", italic=True, strike=True, fill="#F2F2F2")
ARCHIVED_LOOK = CellLook(font="#595959", fill="#D9D9D9")
IDLE_COLOURS = ("#63BE7B", "#FFEB84", "#F8696B")    # green, yellow, red


@dataclass(frozen=True)
class Highlight:
    """One conditional format over rows 2..last of columns ``first``..``last`` (1-based).

    kind "formula": ``formula`` (written for row 2, as Excel's custom rules are) decides, and the look
    applies; kind "equals": cells equal to ``value`` (a formula: '"yes"'); kind "scale": a three-colour
    scale of ``colours`` at ``thresholds``. ``stop``: no rule below applies to a cell this one matched."""

    kind: str
    first: int
    last: int
    formula: str = ""
    value: str = ""
    look: CellLook = CellLook()
    colours: tuple[str, ...] = ()
    thresholds: tuple[float, ...] = ()
    stop: bool = False


@dataclass(frozen=True)
class Look:
    """How the chat list looks, on every edge: the file writer (chatsheet) and live Excel (the add-in)
    render this one description."""

    header_bold: bool
    widths: tuple[float, ...]            # characters, columns A.. in order
    date_columns: tuple[int, ...]
    date_format: str
    idle_column: int
    idle_format: str
    freeze_header: bool
    autofilter: bool
    highlights: tuple[Highlight, ...]


def look(days: int) -> Look:
    """The chat list's look for a window of ``days`` days: bold headers, widths, real dates, Idle days as
    "over N" beyond the window, the header frozen, filter buttons, and three highlights: a gone chat's row
    greyed and struck through, Archived "yes" greyed, Idle days from green to red."""
    width = len(HEADERS)
    archived = chr(64 + ARCHIVED_COLUMN)
    return Look(
        header_bold=True, widths=WIDTHS, date_columns=DATE_COLUMNS, date_format=DATE_FORMAT,
        idle_column=IDLE_COLUMN, idle_format=idle_format(days), freeze_header=True, autofilter=True,
        highlights=(
            Highlight("formula", 1, width, formula=f'${archived}2="{GONE}"', look=GONE_LOOK, stop=True),
            Highlight("equals", ARCHIVED_COLUMN, ARCHIVED_COLUMN, value=f'"{YES}"', look=ARCHIVED_LOOK),
            Highlight("scale", IDLE_COLUMN, IDLE_COLUMN, colours=IDLE_COLOURS, thresholds=color_scale(days)),
        ))

"""The instance's chats as sheet rows: what Load chats, ``greenapi-excel chats`` and ``--all-chats`` show.

One getChats and two journal reads (lastIncomingMessages, lastOutgoingMessages over the last N days) for
the whole list, never a call per chat. The rows' content is decided here, once, for the CLI and the add-in:
``fetch`` asks GREEN-API, ``build_rows`` turns the answers into rows (pure), ``refresh`` lays rows over a
sheet that was loaded before (pure), ``choose`` is the rule of ``--all-chats --type --idle-days``.
``journal_reach`` says how far back the journals hold every message (the ``--days`` asked, their
10,000-message cap, the settings that feed them and since when): a chat with none in a reach shorter
than N days is unknown, never idle (docs/GREEN-API.md, "The journals").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterable, Sequence

from greenapi_excel.chat_identity import Identities
from greenapi_excel.chat_ids import LID, PHONE, kind
from greenapi_excel.i18n import N_, NP_, _, ngettext, pgettext, spellings, spellings_in

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
# asked (journal_reach), and a chat with no message in it is then idle only that long, as far as is known.
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


# What bounds how far back the journals hold every message, in or out (Reach.cause), most telling first.
SETTINGS_UNKNOWN = "settings unknown"   # getSettings could not be read: which messages reach the journals is unknown
INCOMING_OFF = "incoming off"           # incomingWebhook off: incoming messages never reach the journal
OUTGOING_OFF = "outgoing off"           # outgoingMessageWebhook off: messages sent from the phone never do
INCOMING_SINCE = "incoming since"       # incomingWebhook was switched on then: nothing older reaches the journal
OUTGOING_SINCE = "outgoing since"       # the same for outgoingMessageWebhook
JOURNAL_FULL = "journal full"           # an answer held the journal's last JOURNAL_LIMIT messages
WINDOW = "window"                       # the days asked for (--days)
UNMATCHED = "unmatched"                 # (one row) the journals name some chats by an ID not matched to the list
_CAUSE_ORDER = (SETTINGS_UNKNOWN, INCOMING_OFF, OUTGOING_OFF, INCOMING_SINCE, OUTGOING_SINCE, JOURNAL_FULL, WINDOW)
# ChatRow.activity(days)
ACTIVE, IDLE, UNKNOWN = "active", "idle", "unknown"
_DAY = 86_400


@dataclass(frozen=True)
class Reach:
    """How far back an instance's journals hold every message, for the idle rule (journal_reach)."""

    asked: int                         # the days asked for (--days)
    incoming: int                      # whole days the incoming journal holds every incoming message for
    outgoing: int                      # the same for the outgoing journal, messages sent from the phone included
    cause: str = WINDOW                # what bounds the shorter of the two
    # Seconds both journals hold every message for (None: ``days`` whole days): finer than days, so that a
    # message an hour after a setting was switched on is known to be the newest.
    span: float | None = field(default=None, compare=False)

    @property
    def seconds(self) -> float:
        return self.span if self.span is not None else self.days * _DAY

    @property
    def days(self) -> int:
        """Whole days both journals hold every message for: a chat with none in them is idle that long."""
        return min(self.incoming, self.outgoing)

    @property
    def short(self) -> bool:
        return self.days < self.asked

    def describe(self) -> str:
        """Why the journals reach back as far as they do, as a sentence for summaries (language in force)."""
        return _describe(self.cause, self.days)


# The console's names of the two settings that feed the journals.
_SETTING_NAMES = {INCOMING_SINCE: N_('"Receive webhooks on incoming messages and files" (incomingWebhook)'),
                  OUTGOING_SINCE: N_('"Receive webhooks on messages sent from phone" (outgoingMessageWebhook)')}


def _describe(cause: str, days: int) -> str:
    if cause == SETTINGS_UNKNOWN:
        return _("the instance's settings (getSettings) could not be read, so it is not known which messages "
                 "reach the journals")
    if cause == INCOMING_OFF:
        return _('"Receive webhooks on incoming messages and files" (incomingWebhook) is off: incoming '
                 "messages do not reach the journal")
    if cause == OUTGOING_OFF:
        return _('"Receive webhooks on messages sent from phone" (outgoingMessageWebhook) is off: messages '
                 "sent from the phone do not reach the journal")
    if cause in (INCOMING_SINCE, OUTGOING_SINCE):
        setting = _(_SETTING_NAMES[cause])
        return ngettext("the journals reach back {n} day: {setting} was switched on then, and older messages never "
                        "reach them",
                        "the journals reach back {n} days: {setting} was switched on then, and older messages never "
                        "reach them", days).format(n=days, setting=setting)
    if cause == JOURNAL_FULL:
        return ngettext("the journals reach back {n} day: they hold only their last {limit:,} messages",
                        "the journals reach back {n} days: they hold only their last {limit:,} messages",
                        days).format(n=days, limit=JOURNAL_LIMIT)
    if cause == UNMATCHED:
        return _("the journals name some chats by another ID (@lid or phone number) that could not be matched "
                 "to the chat list")
    return ngettext("the journals cover the {n} day asked for", "the journals cover the {n} days asked for",
                    days).format(n=days)


def _unknown_text(cause: str, days: int) -> str:
    """The Idle days cell of a chat whose idleness the journals cannot tell (language in force)."""
    if cause == SETTINGS_UNKNOWN:
        return _("unknown: the instance's settings could not be read")
    if cause == INCOMING_OFF:
        return _("unknown: incoming messages are not in the journal")
    if cause == OUTGOING_OFF:
        return _("unknown: messages sent from the phone are not in the journal")
    if cause == UNMATCHED:
        return _("unknown: the journal names some chats by an ID that cannot be matched to this one")
    return ngettext("unknown: the journal reaches back {n} day", "unknown: the journal reaches back {n} days",
                    days).format(n=days)


def _whole_days(seconds: float) -> int:
    return max(0, int(seconds // _DAY))


def _timestamp(value: datetime | float | None) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else value


def journal_reach(days: int, incoming: Sequence[dict] = (), outgoing: Sequence[dict] = (), *,
                  now: datetime | None = None, incoming_webhook: str | None = "yes",
                  outgoing_message_webhook: str | None = "yes", incoming_since: datetime | float | None = None,
                  outgoing_since: datetime | float | None = None) -> Reach:
    """How far back the two journal answers (over ``days`` days) hold every message (pure).

    Bounded by the ``days`` asked; by the JOURNAL_LIMIT cap (a full answer reaches back to its oldest
    message); by the settings as getSettings gave them (``"yes"``/``"no"``; None: not readable, nothing
    is known) for incomingWebhook and outgoingMessageWebhook; and by when each was switched on
    (``*_since``: a local datetime or epoch seconds, where known, for instance because this tool switched
    it on), since GREEN-API's journals never hold messages from before. The defaults (both on, since
    ever) say what the journal answers alone tell.
    """
    now_ts = (now or datetime.now()).timestamp()
    # Per journal: (seconds it holds every message for, cause); only bounds shorter than the days asked count.
    bounds: dict[str, list[tuple[float, str]]] = {"in": [(days * _DAY, WINDOW)], "out": [(days * _DAY, WINDOW)]}
    for side, journal in (("in", incoming), ("out", outgoing)):
        if len(journal) >= JOURNAL_LIMIT:
            stamps = [stamp for stamp in map(_stamp, journal) if stamp is not None]
            if stamps:
                bounds[side].append((max(0.0, now_ts - min(stamps)), JOURNAL_FULL))
    for side, setting, off, since, since_cause in (
            ("in", incoming_webhook, INCOMING_OFF, incoming_since, INCOMING_SINCE),
            ("out", outgoing_message_webhook, OUTGOING_OFF, outgoing_since, OUTGOING_SINCE)):
        if setting is None:
            bounds[side].append((0.0, SETTINGS_UNKNOWN))
        elif setting != "yes":
            bounds[side].append((0.0, off))
        elif _timestamp(since) is not None:
            bounds[side].append((max(0.0, now_ts - _timestamp(since)), since_cause))
    rank = {cause: place for place, cause in enumerate(_CAUSE_ORDER)}

    def shortest(candidates):
        return min((bound for bound in candidates if bound[0] < days * _DAY or bound[1] == WINDOW),
                   key=lambda bound: (_whole_days(bound[0]), rank[bound[1]]))

    reach_in, reach_out = shortest(bounds["in"]), shortest(bounds["out"])
    return Reach(days, _whole_days(reach_in[0]), _whole_days(reach_out[0]), shortest([reach_in, reach_out])[1],
                 span=min(reach_in[0], reach_out[0]))


@dataclass(frozen=True)
class ChatRow:
    """One chat as a row. Times are local (Excel has no time zones); None: no such message in the journals."""

    chat_id: str
    name: str
    type: str                          # "person" | "group"
    archived: bool
    last_incoming: datetime | None
    last_outgoing: datetime | None
    idle_days: int | None              # whole days since the newest message, when the journals tell it exactly
    window: int = DEFAULT_DAYS         # whole days the journals hold every message for (the reach's days)
    reach: Reach | None = None         # the instance's reach (None: every message of the ``window`` days)
    newest_days: int | None = None     # whole days since the newest message the journals hold (None: none)
    unmatched: bool = False            # the journals name some chats by the other form (@lid / number), unmatched

    def _reach(self) -> Reach:
        return self.reach if self.reach is not None else Reach(self.window, self.window, self.window)

    def cells(self) -> list:
        """The seven cell values, in HEADERS order (the Idle days text in the language in force)."""
        reach = self._reach()
        return [
            self.chat_id, self.name, self.type, YES if self.archived else NO,
            self.last_incoming if self.last_incoming is not None else none_text(reach.incoming),
            self.last_outgoing if self.last_outgoing is not None else none_text(reach.outgoing),
            self._idle_cell(reach),
        ]

    def _idle_cell(self, reach: Reach):
        if self.idle_days is not None:
            return self.idle_days
        if self.activity(reach.asked) == IDLE:
            return reach.asked                     # shown as "over N": idle the whole window
        return self.unknown_text()

    def unknown_text(self) -> str:
        """What the Idle days cell says when the journals cannot tell: "unknown: the journal reaches back 5 days"."""
        reach = self._reach()
        return _unknown_text(UNMATCHED if self.unmatched else reach.cause, reach.days)

    def activity(self, days: int) -> str:
        """ACTIVE (a message within the last ``days`` days), IDLE (known to have none, in or out) or UNKNOWN
        (none in the journals, but they do not reach back ``days`` days, or may name the chat otherwise)."""
        newest = self.newest_days if self.newest_days is not None else self.idle_days
        if newest is not None and newest < days:
            return ACTIVE
        if not self.unmatched and self._reach().days >= days:
            return IDLE
        return UNKNOWN

    def idle_for(self, days: int) -> bool:
        """Known to have no message, in or out, within the last ``days`` days."""
        return self.activity(days) == IDLE


def window_of(rows: Sequence[ChatRow], days: int) -> int:
    """The days the rows' journals hold every message for: ``days``, or fewer (journal_reach)."""
    return min((row.window for row in rows), default=days)


def build_rows(chats: Iterable[dict], incoming: Sequence[dict], outgoing: Sequence[dict], *,
               days: int = DEFAULT_DAYS, now: datetime | None = None, reach: Reach | None = None,
               identities: Identities | None = None) -> list[ChatRow]:
    """getChats' list and the two journals over ``days`` days -> one row per chat, in getChats' order (pure).

    ``reach`` is journal_reach's answer for these journals (None: what the answers alone tell, both
    settings taken as on since ever). A chat's times are the newest messages the journals hold within
    ``days``; its idle days are exact only when both journals hold every message back to that time;
    otherwise the row knows only that it is active (a message within N days) or, when the journals reach
    back N days and hold none, idle. ``identities`` (chat_identity) names one chat by both its IDs: a
    message a journal names by the chat's other ID counts for the chat. A journal message whose chat is
    in no row, named by the other form (``@lid`` for a phone-number row, or the other way), may be any
    person's: person rows without a message of their own are then unknown, never idle.
    """
    now = now or datetime.now()
    reach = reach or journal_reach(days, incoming, outgoing, now=now)
    key = identities.key if identities is not None else _same
    now_ts = now.timestamp()
    since = now_ts - reach.asked * _DAY
    newest_in = _newest(incoming, key, since)
    newest_out = _newest(outgoing, key, since)
    listed = [chat for chat in chats if isinstance(chat, dict) and isinstance(chat.get("id"), str) and chat["id"]]
    listed_keys = {key(chat["id"]) for chat in listed}
    strays = {kind(chat_key) for chat_key in newest_in.keys() | newest_out.keys() if chat_key not in listed_keys}
    rows, seen = [], set()
    for chat in listed:
        chat_id = chat["id"]
        chat_key = key(chat_id)
        if chat_key in seen:
            continue
        seen.add(chat_key)
        last_in, last_out = newest_in.get(chat_key), newest_out.get(chat_key)
        known = [stamp for stamp in (last_in, last_out) if stamp is not None]
        newest_days = _whole_days(now_ts - max(known)) if known else None
        # Exact only when both journals hold every message back to the newest one's time.
        exact = bool(known) and now_ts - max(known) <= reach.seconds
        unmatched = {LID: PHONE, PHONE: LID}.get(kind(chat_id)) in strays
        name = chat.get("name")
        rows.append(ChatRow(
            chat_id=chat_id, name=name if isinstance(name, str) else "",
            type=GROUP if chat_id.endswith("@g.us") or chat.get("type") == "group" else PERSON,
            archived=bool(chat.get("archive")), last_incoming=_local(last_in), last_outgoing=_local(last_out),
            idle_days=newest_days if exact and not unmatched else None, window=reach.days, reach=reach,
            newest_days=newest_days, unmatched=unmatched))
    return rows


def _same(chat_id: str) -> str:
    return chat_id


def _local(stamp: float | None) -> datetime | None:
    return None if stamp is None else datetime.fromtimestamp(int(stamp))


def _stamp(message) -> float | None:
    stamp = message.get("timestamp") if isinstance(message, dict) else None
    return None if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) else float(stamp)


def _newest(messages: Iterable[dict], key, since: float) -> dict[str, float]:
    """chat key -> epoch seconds of its newest message in a journal answer, from ``since`` on."""
    newest: dict[str, float] = {}
    for message in messages:
        if not isinstance(message, dict):
            continue
        chat_id, stamp = message.get("chatId"), _stamp(message)
        if not isinstance(chat_id, str) or stamp is None or stamp < since:
            continue
        chat_key = key(chat_id)
        if stamp > newest.get(chat_key, float("-inf")):
            newest[chat_key] = stamp
    return newest


def fetch(client, days: int = DEFAULT_DAYS) -> list[ChatRow]:
    """getChats, then lastIncomingMessages and lastOutgoingMessages over ``days`` days: three reads, each
    paced at its limit of 1 a second by the client (the bare reads; Load chats is ``jobs.chat_list_flow``)."""
    days = check_days(days)
    chats = client.get_chats()
    minutes = days * 1440
    incoming = client.last_incoming_messages(minutes)
    outgoing = client.last_outgoing_messages(minutes)
    return build_rows(chats, incoming, outgoing, days=days)


class Choice(list):
    """The rows ``choose`` took (a list, in getChats' order), and what the idle rule could not tell:
    ``unknown`` (how many chats of the type asked for the journals cannot call idle or active),
    ``causes`` (cause -> how many of them), ``included`` (whether they were taken all the same)."""

    def __init__(self, rows: Iterable[ChatRow], unknown: Sequence[ChatRow] = (), *, included: bool = False):
        super().__init__(rows)
        self.unknown = len(unknown)
        self.included = included
        self.causes: Counter[str] = Counter(UNMATCHED if row.unmatched else row._reach().cause for row in unknown)
        self._days = {UNMATCHED if row.unmatched else row._reach().cause: row._reach().days for row in unknown}

    def describe_unknown(self) -> str:
        """A sentence for the summary: how many chats the journals could not tell, and why ("" when none)."""
        if not self.unknown:
            return ""
        why = "; ".join(_describe(cause, self._days[cause]) for cause in _by_rank(self.causes))
        if self.included:
            return ngettext("{n} chat is not known to be idle and was included as asked ({why})",
                            "{n} chats are not known to be idle and were included as asked ({why})",
                            self.unknown).format(n=self.unknown, why=why)
        return ngettext("{n} chat is not known to be idle and was left alone: {why}",
                        "{n} chats are not known to be idle and were left alone: {why}",
                        self.unknown).format(n=self.unknown, why=why)


def _by_rank(causes: Iterable[str]) -> list[str]:
    order = (UNMATCHED,) + _CAUSE_ORDER
    return sorted(causes, key=order.index)


def choose(rows: Sequence[ChatRow], *, chat_type: str | None = None, idle_days: int | None = None,
           include_unknown: bool = False) -> Choice:
    """The rule of ``--all-chats``: people or groups, and known to be idle ``idle_days`` days or more.

    A chat the journals cannot tell about (ChatRow.activity UNKNOWN) is never taken unless
    ``include_unknown``; either way the Choice counts them and says why.
    """
    typed = [row for row in rows if chat_type is None or row.type == chat_type]
    if idle_days is None:
        return Choice(typed)
    unknown = [row for row in typed if row.activity(idle_days) == UNKNOWN]
    taken = [row for row in typed if row.activity(idle_days) == IDLE or (include_unknown and row in unknown)]
    return Choice(taken, unknown, included=include_unknown)


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
    No rows at all (getChats kept answering ``[]``) while the sheet lists chats: ``EmptyChatList``, and the
    sheet is left as it is (an empty answer is far more likely a glitch than an emptied account).
    """
    if not rows and any(isinstance(values[0], str) and values[0].strip() for _row, values in existing if values):
        from greenapi_excel.errors import EmptyChatList

        raise EmptyChatList(_("GREEN-API's chat list (getChats) came back empty, also when asked again, while the "
                              "sheet lists chats loaded earlier: that is far more likely a glitch than an emptied "
                              "account, so the sheet was left as it was. Try again in a few minutes"))
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

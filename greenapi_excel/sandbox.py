"""A local HTTP emulator of GREEN-API for the methods this project uses.

Routes ``{apiUrl}/waInstance{idInstance}/{method}/{apiTokenInstance}`` like the real
service, answers with the texts of GREEN-API's documentation, enforces its per-method
rate limits, and can fail the ways the real service and real networks fail.

By default it is kinder than the documented service; options make it behave as the documentation says
the real one does (docs/GREEN-API.md names the page each follows, and says "assumption" where the docs
are silent): ``@lid`` chat IDs, journals that hold only what arrived while a setting was on, the restart
after setSettings, instance states, an empty first getChats, archive calls that answer 200 and change
nothing, getContactInfo refusing groups, and journals full at their 10,000-message cap.

Importable for tests (``with Sandbox() as sb: ...``) and runnable as
``greenapi-excel sandbox``. The apiTokenInstance never reaches a log line or the console,
except the one start-up line that hands a generated token to its user.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import random
import re
import secrets
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import parse_qs, urlsplit

from greenapi_excel import i18n
from greenapi_excel.errors import ConfigError
from greenapi_excel.i18n import _, ngettext

# --- the methods we emulate ------------------------------------------------------
# Spelled here from GREEN-API's docs, not imported from the client's calls.py: the emulator must not
# follow a client's misspelling, or the tests would pass against a server that does not exist.

ARCHIVE = "archiveChat"
UNARCHIVE = "unarchiveChat"
GET_CHATS = "getChats"
GET_CONTACT_INFO = "getContactInfo"
GET_STATE_INSTANCE = "getStateInstance"
GET_SETTINGS = "getSettings"
SET_SETTINGS = "setSettings"
LAST_INCOMING = "lastIncomingMessages"
LAST_OUTGOING = "lastOutgoingMessages"
CHECK_WHATSAPP = "checkWhatsapp"
READ_METHODS = (GET_CHATS, GET_CONTACT_INFO, GET_STATE_INSTANCE, GET_SETTINGS, SET_SETTINGS, LAST_INCOMING,
                LAST_OUTGOING, CHECK_WHATSAPP)

# Docs' spelling by lower-case name: the real service matches method names without case.
METHODS = {name.lower(): name for name in (ARCHIVE, UNARCHIVE) + READ_METHODS}
HTTP_VERBS = {ARCHIVE: "POST", UNARCHIVE: "POST", GET_CONTACT_INFO: "POST", GET_CHATS: "GET", GET_STATE_INSTANCE: "GET",
              GET_SETTINGS: "GET", SET_SETTINGS: "POST", LAST_INCOMING: "GET", LAST_OUTGOING: "GET",
              CHECK_WHATSAPP: "POST"}
STATE_CHANGING = (ARCHIVE, UNARCHIVE)

# --- faults ----------------------------------------------------------------------

FAULTS = ("429", "499", "500", "502", "drop", "slow", "applied_502", "applied_drop")
APPLIED_FAULTS = ("applied_502", "applied_drop")   # the change is made, the client cannot tell
READ_FAULTS = tuple(name for name in FAULTS if name not in APPLIED_FAULTS)
# Not a network fault: the log's "fault" of an archiveChat that answered 200 and archived nothing.
SILENT_FAILURE = "silent_failure"

REASONS = {
    200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 413: "Payload Too Large", 429: "Too Many Requests", 466: "Quota Exceeded",
    499: "Client Closed Request", 500: "Internal Server Error", 502: "Bad Gateway",
}

QUOTA_DESCRIPTION = ("Monthly quota has been exceeded. Please go to your personal account and change "
                     "the tariff to business https://console.green-api.com")

MAX_BODY_BYTES = 1 << 20

# CORS (--cors): what a browser page may call and read. Every call carries Content-Type: application/json,
# so a browser preflights it; Retry-After is exposed so a page can honour it.
CORS_METHODS = "GET, POST"
CORS_REQUEST_HEADERS = "Content-Type"
CORS_EXPOSED_HEADERS = "Retry-After"
CORS_MAX_AGE_S = 600

# User chats are digits@c.us or, by WhatsApp's own ID, digits@lid; groups digits@g.us, old groups digits-digits@g.us.
CHAT_ID_SHAPE = re.compile(r"^(\d{5,20}@c\.us|\d{5,20}@lid|\d{5,20}(-\d{5,20})?@g\.us)$")
LID_SHAPE = re.compile(r"^\d{5,20}@lid$")

# --- instance states (docs: account/GetStateInstance; common-errors) ------------------

AUTHORIZED, NOT_AUTHORIZED, BLOCKED, SLEEP_MODE, STARTING, YELLOW_CARD, SUSPENDED = (
    "authorized", "notAuthorized", "blocked", "sleepMode", "starting", "yellowCard", "suspended")
STATES = (AUTHORIZED, NOT_AUTHORIZED, BLOCKED, SLEEP_MODE, STARTING, YELLOW_CARD, SUSPENDED)
NOT_AUTHORIZED_TEXT = "instance account not authorized"              # docs: common errors
STARTING_TEXT = "instance in starting process try later"             # docs: common errors
CHECK_WHATSAPP_REFUSAL = "instance is starting or not authorized"    # docs: service/CheckWhatsapp
# What every method but getStateInstance answers in a state (None: it is served). notAuthorized and starting
# follow the docs' common errors; the others are assumptions: a banned account does nothing, and archiving
# is not sending, so the states that stop sending (yellowCard, renamed suspended in release 5.44.37.12) and
# the stale sleepMode serve it.
STATE_REFUSALS = {AUTHORIZED: None, NOT_AUTHORIZED: NOT_AUTHORIZED_TEXT, BLOCKED: NOT_AUTHORIZED_TEXT,
                  SLEEP_MODE: None, STARTING: STARTING_TEXT, YELLOW_CARD: None, SUSPENDED: None}
# getSettings and setSettings work before a phone is linked (docs: recommendations "Creating and configuring
# an instance" sets them while notAuthorized); not while the instance restarts.
SETTINGS_SERVED_IN = (NOT_AUTHORIZED, BLOCKED)

DEFAULT_CHATS: list[dict] = [
    # Russia
    {"id": "79001234567@c.us", "name": "Anna", "incoming": 3, "archive": False},
    {"id": "79161234567@c.us", "name": "Дмитрий Иванов", "incoming": 12, "archive": False},
    {"id": "79262345678@c.us", "name": "Ольга Смирнова", "incoming": 5, "archive": False},
    {"id": "79031112233@c.us", "name": "Sergey Kuznetsov", "incoming": 1, "archive": True},
    {"id": "79517654321@c.us", "name": "Elena Popova", "incoming": 27, "archive": False},
    {"id": "79852223344@c.us", "name": "Ivan Sokolov", "incoming": 0, "archive": False},
    {"id": "79214445566@c.us", "name": "Maria Volkova", "incoming": 8, "archive": False},
    # Kazakhstan
    {"id": "77012345678@c.us", "name": "Aigerim Nurlanova", "incoming": 4, "archive": False},
    {"id": "77071234567@c.us", "name": "Nurlan Abenov", "incoming": 9, "archive": False},
    {"id": "77775551234@c.us", "name": "Dana Serikova", "incoming": 2, "archive": False},
    {"id": "77019876543@c.us", "name": "Arman Tulegenov", "incoming": 6, "archive": False},
    # Germany
    {"id": "4915123456789@c.us", "name": "Lukas Müller", "incoming": 14, "archive": False},
    {"id": "4917612345678@c.us", "name": "Hannah Schmidt", "incoming": 3, "archive": False},
    {"id": "4916098765432@c.us", "name": "Jonas Becker", "incoming": 1, "archive": True},
    {"id": "4915209876543@c.us", "name": "Lea Fischer", "incoming": 7, "archive": False},
    {"id": "4917198765432@c.us", "name": "Felix Wagner", "incoming": 2, "archive": False},
    # United Kingdom
    {"id": "447700123456@c.us", "name": "Oliver Smith", "incoming": 11, "archive": False},
    {"id": "447912345678@c.us", "name": "Amelia Jones", "incoming": 4, "archive": False},
    {"id": "447400123456@c.us", "name": "Harry Taylor", "incoming": 2, "archive": False},
    {"id": "447824567890@c.us", "name": "Isla Brown", "incoming": 6, "archive": False},
    {"id": "447312345678@c.us", "name": "", "incoming": 1, "archive": False},
    # United States
    {"id": "12025550143@c.us", "name": "Emily Johnson", "incoming": 9, "archive": False},
    {"id": "14155552671@c.us", "name": "Michael Davis", "incoming": 3, "archive": False},
    {"id": "13125550198@c.us", "name": "Sarah Miller", "incoming": 15, "archive": True},
    {"id": "16175550134@c.us", "name": "David Garcia", "incoming": 2, "archive": False},
    {"id": "17135550177@c.us", "name": "Jessica Martinez", "incoming": 5, "archive": False},
    # Brazil
    {"id": "5511987654321@c.us", "name": "Lucas Silva", "incoming": 21, "archive": False},
    {"id": "5521998765432@c.us", "name": "Ana Souza", "incoming": 4, "archive": False},
    {"id": "5531987651234@c.us", "name": "Gabriel Oliveira", "incoming": 1, "archive": False},
    {"id": "5541991234567@c.us", "name": "Beatriz Santos", "incoming": 6, "archive": False},
    {"id": "5561981234567@c.us", "name": "Rafael Costa", "incoming": 2, "archive": False},
    # India
    {"id": "919876543210@c.us", "name": "Priya Sharma", "incoming": 8, "archive": False},
    {"id": "919812345678@c.us", "name": "Rahul Verma", "incoming": 3, "archive": False},
    {"id": "917012345678@c.us", "name": "Ananya Iyer", "incoming": 5, "archive": False},
    {"id": "918123456789@c.us", "name": "Arjun Patel", "incoming": 1, "archive": False},
    {"id": "919988776655@c.us", "name": "Sneha Reddy", "incoming": 10, "archive": False},
    # United Arab Emirates
    {"id": "971501234567@c.us", "name": "Omar Al Mansoori", "incoming": 7, "archive": False},
    {"id": "971521234567@c.us", "name": "Fatima Al Hashimi", "incoming": 2, "archive": False},
    {"id": "971561234567@c.us", "name": "Khalid Haddad", "incoming": 4, "archive": False},
    {"id": "971551234567@c.us", "name": "Layla Nasser", "incoming": 1, "archive": False},
    # Groups
    {"id": "120363043968066561@g.us", "name": "Sales team", "incoming": 42, "archive": False},
    {"id": "120363025948372615@g.us", "name": "Warehouse shift B", "incoming": 18, "archive": False},
    {"id": "120363147258369147@g.us", "name": "Marketing EMEA", "incoming": 9, "archive": False},
    {"id": "120363198765432101@g.us", "name": "Project Atlas", "incoming": 33, "archive": True},
    {"id": "120363111222333444@g.us", "name": "Book club", "incoming": 5, "archive": False},
    {"id": "120363555666777888@g.us", "name": "Семья", "incoming": 60, "archive": False},
    {"id": "79001234567-1581234048@g.us", "name": "Дача 2020", "incoming": 7, "archive": False},
]


# Days since each built-in chat's last incoming and last outgoing message (None: no such message in the
# journals), in DEFAULT_CHATS order: some chats are active today, some have been idle for months.
DEFAULT_ACTIVITY: list[tuple[float | None, float | None]] = [
    (0.2, 0.1), (1.5, 2), (45, 44), (130, 131), (0.05, 0.3), (None, 60), (8, 9),          # Russia
    (3, 3.2), (75, 80), (0.4, None), (200, 199),                                          # Kazakhstan
    (0.7, 0.6), (33, 40), (95, 96), (12, 11), (160, None),                                # Germany
    (0.02, 0.01), (21, 25), (61, 61.5), (5, 6), (110, None),                              # United Kingdom
    (2.2, 2.1), (38, 52), (15, 16), (88, 90), (0.9, 1.1),                                 # United States
    (0.1, 0.15), (29, 31), (140, 141), (7, 7.5), (55, None),                              # Brazil
    (0.3, 0.5), (19, 18), (67, 70), (180, 185), (4, 4.5),                                 # India
    (1, 1.2), (100, 101), (26, 27), (150, None),                                          # United Arab Emirates
    (0.01, 0.05), (0.6, 3), (42, 50), (120, 125), (64, 70), (0.08, 0.2), (210, 220),      # Groups
]


# What getSettings answers (the docs' fields); incomingWebhook follows the sandbox's flag.
DEFAULT_SETTINGS: dict[str, Any] = {
    "wid": "11001234567@c.us", "countryInstance": "", "typeAccount": "", "webhookUrl": "", "webhookUrlToken": "",
    "delaySendMessagesMilliseconds": 1000, "markIncomingMessagesReaded": "no",
    "markIncomingMessagesReadedOnReply": "no", "sharedSession": "no", "outgoingWebhook": "yes",
    "outgoingMessageWebhook": "yes", "outgoingAPIMessageWebhook": "yes", "incomingWebhook": "yes",
    "deviceWebhook": "no", "statusInstanceWebhook": "no", "stateWebhook": "no", "enableMessagesHistory": "no",
    "keepOnlineStatus": "no", "pollMessageWebhook": "no", "incomingBlockWebhook": "no", "incomingCallWebhook": "no",
}
YES_NO_SETTINGS = frozenset(k for k, v in DEFAULT_SETTINGS.items() if v in ("yes", "no"))
# The two settings that feed the journals (docs: journals/LastIncomingMessages, LastOutgoingMessages).
INCOMING_WEBHOOK, OUTGOING_MESSAGE_WEBHOOK = "incomingWebhook", "outgoingMessageWebhook"
JOURNAL_SETTINGS = (INCOMING_WEBHOOK, OUTGOING_MESSAGE_WEBHOOK)

# The docs: the journals hold at most the last 10,000 messages.
JOURNAL_LIMIT = 10_000
DAY_SECONDS = 86_400.0
PHONE_IDS, LID_IDS = "phone", "lid"       # which ID a chat that has a @lid is named by (getChats, journals)


def builtin_chats(now: float | None = None) -> list[dict]:
    """DEFAULT_CHATS with message times (the --state format) relative to ``now`` (epoch seconds)."""
    now = time.time() if now is None else now
    chats = []
    for chat, (incoming_days, outgoing_days) in zip(DEFAULT_CHATS, DEFAULT_ACTIVITY):
        entry = dict(chat)
        if incoming_days is not None and chat.get("incoming", 1) > 0:
            entry["last_incoming"] = _iso(now - incoming_days * DAY_SECONDS)
        if outgoing_days is not None:
            entry["last_outgoing"] = _iso(now - outgoing_days * DAY_SECONDS)
        chats.append(entry)
    return chats


def made_up_lid(chat_id: str) -> str:
    """A believable 15-digit ``@lid`` for a phone-number chat, the same every time for the same number."""
    digits = str(int(hashlib.sha256(chat_id.encode()).hexdigest(), 16))[:11]
    return f"1206{digits}@lid"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any, chat_id: str, field: str) -> float | None:
    """An ISO time such as "2026-10-01T12:00:00Z" (UTC when no offset is given) -> epoch seconds."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(_('chat {chat}: {field} must be a time like "2026-10-01T12:00:00Z"').format(
            chat=chat_id, field=field))
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(_('chat {chat}: {field} {value!r} is not a time like "2026-10-01T12:00:00Z"').format(
            chat=chat_id, field=field, value=value)) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


@dataclass
class Chat:
    """One chat of the sandbox's address book; message times are epoch seconds (None: none in the journals)."""

    id: str
    name: str = ""
    incoming: int = 1
    archive: bool = False
    last_incoming: float | None = None
    last_outgoing: float | None = None
    lid: str | None = None             # WhatsApp's own ID for the person (docs: FAQ lid-important-differences)
    # The instance took an archiveChat that WhatsApp never applied (green-api issues #488, #744): it answers
    # "already archive=true" while getChats shows the chat unarchived, until an unarchiveChat.
    stale_archive: bool = False

    @property
    def type(self) -> str:
        return "group" if self.id.endswith("@g.us") else "user"

    @property
    def last_activity(self) -> float | None:
        times = [t for t in (self.last_incoming, self.last_outgoing) if t is not None]
        return max(times) if times else None


def chats_from_dicts(chats: Iterable[dict]) -> dict[str, Chat]:
    """The --state format (list of dicts) -> chat_id -> Chat; ConfigError on a malformed entry."""
    book: dict[str, Chat] = {}
    lids: set[str] = set()
    for number, entry in enumerate(chats, start=1):
        if not isinstance(entry, dict):
            raise ConfigError(_("chat {number}: expected an object with an id, got {kind}").format(
                number=number, kind=type(entry).__name__))
        chat_id = entry.get("id")
        if not isinstance(chat_id, str) or not CHAT_ID_SHAPE.match(chat_id) or chat_id.endswith("@lid"):
            raise ConfigError(_("chat {number}: id {id!r} is not a chat ID like 79001234567@c.us").format(
                number=number, id=chat_id))
        name = entry.get("name", "")
        incoming = entry.get("incoming", 1)
        archive = entry.get("archive", False)
        lid = entry.get("lid")
        if not isinstance(name, str):
            raise ConfigError(_("chat {chat}: name must be text").format(chat=chat_id))
        if isinstance(incoming, bool) or not isinstance(incoming, int) or incoming < 0:
            raise ConfigError(_("chat {chat}: incoming must be a whole number >= 0").format(chat=chat_id))
        if not isinstance(archive, bool):
            raise ConfigError(_("chat {chat}: archive must be true or false").format(chat=chat_id))
        if lid is not None and (not isinstance(lid, str) or not LID_SHAPE.match(lid) or not chat_id.endswith("@c.us")
                                or lid in lids):
            raise ConfigError(_("chat {chat}: lid must be a person's own ID like 120650379300963@lid, "
                                "one per chat").format(chat=chat_id))
        last_incoming = _parse_time(entry.get("last_incoming"), chat_id, "last_incoming")
        last_outgoing = _parse_time(entry.get("last_outgoing"), chat_id, "last_outgoing")
        if last_incoming is not None and incoming == 0:
            raise ConfigError(_("chat {chat}: incoming is 0, so it cannot have a last_incoming time").format(
                chat=chat_id))
        if lid is not None:
            lids.add(lid)
        book[chat_id] = Chat(chat_id, name, incoming, archive, last_incoming, last_outgoing, lid)
    return book


def load_state(path: str | Path) -> list[dict]:
    """Read a --state file: ``{"chats": [...]}``. ConfigError with a clear text when it cannot."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(_("cannot read state file {path}: {reason}").format(
            path=path, reason=exc.strerror or exc)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(_("state file {path} is not valid JSON: {reason}").format(path=path, reason=exc)) from None
    if not isinstance(data, dict) or not isinstance(data.get("chats"), list):
        raise ConfigError(_('state file {path} must hold {{"chats": [...]}}').format(path=path))
    chats_from_dicts(data["chats"])  # validate now, with the file's name in the story
    return data["chats"]


def go_type_name(value: Any) -> str:
    """How Go's encoding/json names a decoded JSON value: what the real service's 500 text shows."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "float64"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    return "string"


class RateLimiter:
    """Sliding one-second window of accepted requests per method; rejected ones do not count."""

    def __init__(self, limits: dict[str, float]):
        self._limits = limits
        self._windows: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()

    def accept(self, method: str) -> bool:
        rate = self._limits[method]
        # Below 1 per second the window widens so that one call per 1/rate seconds passes.
        window_s, capacity = (1.0, rate) if rate >= 1 else (1.0 / rate, 1)
        now = time.monotonic()
        with self._lock:
            window = self._windows[method]
            while window and window[0] <= now - window_s:
                window.popleft()
            if len(window) >= capacity:
                return False
            window.append(now)
            return True


class _Reply:
    """What the handler sends: status, body bytes, extra headers; or a dropped connection."""

    def __init__(self, status: int | None, body: bytes | str = b"", *, content_type: str = "text/plain; charset=utf-8",
                 headers: dict[str, str] | None = None, note: str | None = None):
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.content_type = content_type
        self.headers = headers or {}
        self.note = note          # for the log's "fault" field: what the answer hides (SILENT_FAILURE)

    @classmethod
    def json(cls, status: int, value: Any) -> "_Reply":
        return cls(status, json.dumps(value, ensure_ascii=False), content_type="application/json")

    @classmethod
    def reason(cls, status: int, headers: dict[str, str] | None = None) -> "_Reply":
        return cls(status, REASONS[status], headers=headers)


DROP = _Reply(None)


class Sandbox:
    """A GREEN-API emulator on a local port, served from background threads.

    ``with Sandbox() as sb:`` starts it (``port=0`` picks a free port) and stops it on exit.
    ``sb.api_url``, ``sb.id_instance`` and ``sb.token`` are what a client needs; ``sb.chats``
    is the live address book (by phone-number or group ID), ``sb.log`` the request log (same dicts as
    the JSONL file).

    Every option below defaults to the kind service the demo and the README's walk-through use; each makes
    the sandbox behave as GREEN-API's documentation says the real one does (docs/GREEN-API.md):

    - ``lid_chats``: the first N person chats (and any with a ``lid`` in ``chats``) also have a ``@lid``;
      ``chat_list_ids`` / ``journal_ids`` ("lid" or "phone") say which ID getChats and the journals name
      them by. Every method takes either ID; checkWhatsapp gives a number's ``@lid``.
    - ``fresh_instance`` (every setting off), ``outgoing_message_webhook``, ``incoming_webhook`` and
      ``webhooks_since_days``: the journals hold only messages that arrived while their setting was on,
      phone-sent messages only with outgoingMessageWebhook on.
    - ``restart_s``: setSettings restarts the instance: for that long every method answers 400
      ``instance in starting process try later`` and getStateInstance ``starting``; then the settings apply.
    - ``state_instance``: the state getStateInstance answers, and what the other methods answer in it.
    - ``empty_chat_lists``: the first N getChats answers are ``[]``.
    - ``silent_failures`` (a fraction) and ``silent_failure_chats`` (chat IDs, the first archiveChat of each):
      archiveChat answers 200 and archives nothing; the next one answers "already archive=true" until an
      unarchiveChat (the maintainers' workaround).
    - ``group_contact_info="refuse"``: getContactInfo answers a group with 400 ``Validation failed``.
    - ``messages_per_chat`` / ``message_gap_minutes``: each chat's journal holds that many messages, the
      newest at its last message time; the journals keep the newest 10,000.
    - ``chats_refresh_s``: getChats answers a list refreshed at most that often (docs: once a minute).
    - ``keep_chats_archived=False``: ``deliver`` (a new incoming message) brings an archived chat back.
    """

    def __init__(self, chats: Iterable[dict] | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 id_instance: str = "1101000001", api_token: str | None = None, latency_ms: float = 0,
                 rps: float = 10, read_rps: float = 1, faults: float = 0.0, seed: int | None = None,
                 log_path: str | Path | None = None, slow_reply_s: float = 40.0, quota: int | None = None,
                 state_instance: str = AUTHORIZED, incoming_webhook: str = "yes",
                 outgoing_message_webhook: str = "yes", fresh_instance: bool = False,
                 webhooks_since_days: float | None = None, lid_chats: int = 0, chat_list_ids: str = LID_IDS,
                 journal_ids: str = LID_IDS, restart_s: float = 0.0, empty_chat_lists: int = 0,
                 silent_failures: float = 0.0, silent_failure_chats: Iterable[str] = (),
                 group_contact_info: str = "answer", messages_per_chat: int = 1, message_gap_minutes: float = 60.0,
                 chats_refresh_s: float = 0.0, keep_chats_archived: bool = True, cors: Iterable[str] = ()):
        if not 0.0 <= faults <= 1.0:
            raise ConfigError(_("faults must be a fraction between 0 and 1, got {value}").format(value=faults))
        if not 0.0 <= silent_failures <= 1.0:
            raise ConfigError(_("silent failures must be a fraction between 0 and 1, got {value}").format(
                value=silent_failures))
        if rps <= 0 or read_rps <= 0:
            raise ConfigError(_("rps and read_rps must be above 0"))
        if latency_ms < 0 or slow_reply_s < 0 or restart_s < 0 or chats_refresh_s < 0 or message_gap_minutes < 0:
            raise ConfigError(_("latency, delays, restart and refresh times cannot be negative"))
        if (webhooks_since_days is not None and webhooks_since_days < 0) or min(
                lid_chats, empty_chat_lists, quota if quota is not None else 0) < 0:
            raise ConfigError(_("quota, lid chats, empty chat lists and days cannot be negative"))
        if not 1 <= messages_per_chat <= JOURNAL_LIMIT:
            raise ConfigError(_("messages per chat must be a whole number from 1 to {limit}").format(
                limit=JOURNAL_LIMIT))
        if not str(id_instance).isdigit():
            raise ConfigError(_("idInstance must be digits, got {value!r}").format(value=id_instance))
        for name, value, allowed in (("incoming_webhook", incoming_webhook, ("yes", "no")),
                                     ("outgoing_message_webhook", outgoing_message_webhook, ("yes", "no")),
                                     ("state_instance", state_instance, STATES),
                                     ("chat_list_ids", chat_list_ids, (LID_IDS, PHONE_IDS)),
                                     ("journal_ids", journal_ids, (LID_IDS, PHONE_IDS)),
                                     ("group_contact_info", group_contact_info, ("answer", "refuse"))):
            if value not in allowed:
                raise ConfigError(_("{name} must be one of {allowed}, got {value!r}").format(
                    name=name, allowed=", ".join(allowed), value=value))
        self.host = host
        self.port = port
        self.id_instance = str(id_instance)
        self.generated_token = api_token is None
        self.token = api_token if api_token is not None else secrets.token_hex(25)
        self.chats: dict[str, Chat] = chats_from_dicts(builtin_chats() if chats is None else chats)
        for chat in [c for c in self.chats.values() if c.type == "user" and c.lid is None][:lid_chats]:
            chat.lid = made_up_lid(chat.id)
        self._by_lid = {chat.lid: chat.id for chat in self.chats.values() if chat.lid}
        self.chat_list_ids, self.journal_ids = chat_list_ids, journal_ids
        # The instance's settings (getSettings / setSettings). A fresh instance has every setting off (docs:
        # account/SetSettings); setSettings applies at once unless restart_s is set.
        self.settings: dict[str, Any] = {**DEFAULT_SETTINGS, INCOMING_WEBHOOK: incoming_webhook,
                                         OUTGOING_MESSAGE_WEBHOOK: outgoing_message_webhook}
        if fresh_instance:
            self.settings.update({key: "no" for key in YES_NO_SETTINGS})
        # When each journal setting was switched on (epoch seconds; None: before any message): the journals
        # hold no message from before (docs: journals/LastIncomingMessages).
        since = None if webhooks_since_days is None else time.time() - webhooks_since_days * DAY_SECONDS
        self.settings_since: dict[str, float | None] = {key: since for key in JOURNAL_SETTINGS}
        self.latency_s = latency_ms / 1000.0
        self.faults = faults
        self.seed = seed
        self.slow_reply_s = slow_reply_s
        self.quota = quota
        self.state_instance = state_instance
        self.restart_s = restart_s
        self.empty_chat_lists = empty_chat_lists
        self.silent_failures = silent_failures
        self.silent_failure_chats = {self._phone_id(chat_id) for chat_id in silent_failure_chats}
        self.group_contact_info = group_contact_info
        self.messages_per_chat = messages_per_chat
        self.message_gap_s = message_gap_minutes * 60.0
        self.chats_refresh_s = chats_refresh_s
        self.keep_chats_archived = keep_chats_archived
        # Origins whose browser pages may call (CORS); empty: none, as a service that does not allow browsers.
        self.cors: tuple[str, ...] = cors_origins(cors)
        self.preflights: list[dict] = []       # the OPTIONS a browser sent first: {"origin", "allowed"}
        self.log: list[dict] = []
        self.log_path = Path(log_path) if log_path is not None else None

        self._limiter = RateLimiter({ARCHIVE: rps, UNARCHIVE: rps, **{name: read_rps for name in READ_METHODS}})
        self._rng = random.Random(seed)
        self._silent_rng = random.Random(seed)   # its own draws: the fault sequence of a seed stays as it was
        self._injected: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._state_lock = threading.Lock()      # the address book, the settings, the counters
        self._fault_lock = threading.Lock()      # draws happen in arrival order
        self._log_lock = threading.Lock()
        self._log_file = None
        self._changes_done = 0
        self._chat_lists_served = 0
        self._chat_list_snapshot: tuple[float, list[tuple[dict, float | None]]] | None = None
        self._silently_failed: set[str] = set()
        self._restart_until: float | None = None
        self._pending_settings: dict[str, Any] = {}
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    # --- life cycle -----------------------------------------------------------

    @property
    def api_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self._server.server_address[1]}"

    def method_url(self, method: str) -> str:
        """The full request URL for a method (it carries the token: keep it out of logs)."""
        return f"{self.api_url}/waInstance{self.id_instance}/{method}/{self.token}"

    def start(self) -> "Sandbox":
        if self._server is not None:
            return self
        if self.log_path is not None:
            self._log_file = open(self.log_path, "a", encoding="utf-8")
        server_class = _IPv6Server if ":" in self.host else _Server
        try:
            self._server = server_class((self.host, self.port), _Handler)
        except OSError:
            if self._log_file:
                self._log_file.close()
            raise
        self._server.sandbox = self
        self._stopping.clear()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="greenapi-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()            # wakes replies that wait for latency or a slow fault
        self._server.shutdown()
        self._server.server_close()
        with self._connections_lock:
            open_connections = list(self._connections)
        for connection in open_connections:   # idle kept-alive connections would otherwise linger
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
        with self._log_lock:
            if self._log_file:
                self._log_file.close()
                self._log_file = None

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # --- what tests ask -----------------------------------------------------------

    def inject(self, *fault_names: str, method: str = ARCHIVE) -> None:
        """Queue faults for the next requests of ``method``, one per request, in order."""
        canonical = METHODS.get(method.lower())
        if canonical is None:
            raise ValueError(f"unknown method {method!r}")
        for name in fault_names:
            if name not in FAULTS:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
            if name in APPLIED_FAULTS and canonical not in STATE_CHANGING:
                raise ValueError(f"fault {name!r} only applies to archiveChat and unarchiveChat")
        with self._fault_lock:
            self._injected[canonical].extend(fault_names)

    @property
    def incoming_webhook(self) -> str:
        """The instance's incomingWebhook setting: "yes" or "no"."""
        with self._state_lock:
            return self.settings[INCOMING_WEBHOOK]

    def archived_ids(self) -> set[str]:
        """The chats WhatsApp shows archived (by phone-number or group ID)."""
        with self._state_lock:
            return {chat_id for chat_id, chat in self.chats.items() if chat.archive}

    def calls(self, method: str | None = None) -> list[dict]:
        """Log entries, all or those of one method (any spelling)."""
        with self._log_lock:
            entries = list(self.log)
        if method is None:
            return entries
        wanted = METHODS.get(method.lower(), method)
        return [entry for entry in entries if entry["method"] == wanted]

    def lid_of(self, chat_id: str) -> str | None:
        """The ``@lid`` of a person chat (by either ID), None when it has none."""
        chat = self._find(chat_id)
        return chat.lid if chat is not None else None

    def begin_restart(self, seconds: float | None = None) -> None:
        """Restart the instance now, for ``seconds`` (default ``restart_s``), as setSettings or a reboot does."""
        with self._state_lock:
            self._restart_until = time.monotonic() + (self.restart_s if seconds is None else seconds)

    def deliver(self, chat_id: str, when: float | None = None) -> None:
        """A new incoming message in ``chat_id`` (either ID) at ``when`` (epoch seconds, default now). WhatsApp
        keeps an archived chat archived unless "Keep chats archived" is off on the phone (WhatsApp's FAQ)."""
        with self._state_lock:
            chat = self._find(chat_id)
            if chat is None:
                raise KeyError(chat_id)
            chat.incoming += 1
            chat.last_incoming = time.time() if when is None else when
            if not self.keep_chats_archived:
                chat.archive = chat.stale_archive = False

    # --- serving -------------------------------------------------------------------

    def cors_headers(self, origin: str | None) -> dict[str, str]:
        """The CORS headers of an answer to a page of ``origin``: none unless --cors allows that origin."""
        if not self.cors or not (origin and origin in self.cors or "*" in self.cors):
            return {}
        return {"Access-Control-Allow-Origin": "*" if "*" in self.cors else origin,
                "Access-Control-Expose-Headers": CORS_EXPOSED_HEADERS, "Vary": "Origin"}

    def preflight(self, origin: str | None) -> _Reply:
        """A browser's OPTIONS before a call: allowed origins get methods, headers and how long to cache it;
        others an answer without CORS headers, so the browser never sends the call."""
        allowed = bool(self.cors_headers(origin))   # the handler adds those to every answer
        with self._log_lock:
            self.preflights.append({"origin": origin, "allowed": allowed})
        headers = {"Allow": CORS_METHODS + ", OPTIONS"}
        if allowed:
            headers.update({"Access-Control-Allow-Methods": CORS_METHODS,
                            "Access-Control-Allow-Headers": CORS_REQUEST_HEADERS,
                            "Access-Control-Max-Age": str(CORS_MAX_AGE_S)})
        return _Reply(204, b"", headers=headers)

    def _record(self, entry: dict) -> None:
        with self._log_lock:
            self.log.append(entry)
            if self._log_file:
                self._log_file.write(json.dumps(entry, ensure_ascii=False) + "\n")
                self._log_file.flush()

    def _draw_fault(self, method: str) -> str | None:
        with self._fault_lock:
            queued = self._injected.get(method)
            if queued:
                return queued.popleft()
            if self.faults <= 0:
                return None
            if self._rng.random() >= self.faults:
                return None
            return self._rng.choice(FAULTS if method in STATE_CHANGING else READ_FAULTS)

    def _wait(self, seconds: float) -> bool:
        """Sleep without holding anyone else back; False when the sandbox is stopping."""
        if seconds <= 0:
            return not self._stopping.is_set()
        return not self._stopping.wait(seconds)

    def serve(self, verb: str, path: str, body: bytes | None) -> tuple[_Reply, dict]:
        """Answer one request. Returns the reply and the log entry (status and ms filled in later)."""
        entry: dict = {"time": time.time(), "method": None, "chatId": None, "status": None, "fault": None, "ms": 0.0}
        parts = urlsplit(path).path.split("/")
        if len(parts) == 5 and parts[4] == "":       # a trailing slash
            parts = parts[:4]
        if len(parts) != 4 or parts[0] != "" or not parts[1].startswith("waInstance"):
            entry["method"] = parts[2] if len(parts) > 2 else ""
            return _Reply.reason(404), entry
        _root, instance_part, sent_method, token = parts
        canonical = METHODS.get(sent_method.lower())
        entry["method"] = canonical or sent_method
        if body is not None and canonical in (ARCHIVE, UNARCHIVE, GET_CONTACT_INFO, CHECK_WHATSAPP):
            entry["chatId"] = _chat_id_for_log(body)

        if instance_part[len("waInstance"):] != self.id_instance:
            return _Reply.reason(403), entry
        if not secrets.compare_digest(token.encode("utf-8", "replace"), self.token.encode("utf-8", "replace")):
            return _Reply.reason(401), entry
        if canonical is None:
            return _Reply.reason(404), entry
        if verb != HTTP_VERBS[canonical]:
            return _Reply.reason(405, {"Allow": HTTP_VERBS[canonical]}), entry
        if not self._limiter.accept(canonical):
            return _Reply.reason(429, {"Retry-After": "1"}), entry

        fault = self._draw_fault(canonical)
        entry["fault"] = fault
        if fault in ("429", "499", "500", "502"):
            status = int(fault)
            return _Reply.reason(status, {"Retry-After": "1"} if status == 429 else None), entry
        if fault == "drop":
            return DROP, entry
        if fault == "slow" and not self._wait(self.slow_reply_s):
            return DROP, entry

        reply = self._call(canonical, body or b"", urlsplit(path).query)
        if fault == "applied_502":
            return _Reply.reason(502), entry
        if fault == "applied_drop":
            return DROP, entry
        if reply.note is not None:
            entry["fault"] = reply.note
        return reply, entry

    def _state(self) -> str:
        """The instance's state now; a restart that has run its time ends here and applies its settings."""
        with self._state_lock:
            if self._restart_until is not None:
                if time.monotonic() < self._restart_until:
                    return STARTING
                self._restart_until = None
                self._apply_settings(self._pending_settings)
                self._pending_settings = {}
            return self.state_instance

    def _call(self, method: str, body: bytes, query: str = "") -> _Reply:
        state = self._state()
        if method == GET_STATE_INSTANCE:
            return _Reply.json(200, {"stateInstance": state})
        refusal = STATE_REFUSALS[state]
        if refusal is not None and not (method in (GET_SETTINGS, SET_SETTINGS) and state in SETTINGS_SERVED_IN):
            return _Reply(400, CHECK_WHATSAPP_REFUSAL if method == CHECK_WHATSAPP else refusal)
        if method == GET_SETTINGS:
            with self._state_lock:
                return _Reply.json(200, dict(self.settings))
        if method == SET_SETTINGS:
            return self._set_settings(body)
        if method in (LAST_INCOMING, LAST_OUTGOING):
            return self._journal(method, query)
        if method == GET_CHATS:
            return self._chat_list(query)
        if method == CHECK_WHATSAPP:
            return self._check_whatsapp(body)
        if method in STATE_CHANGING and self.quota is not None:
            with self._state_lock:
                if self._changes_done >= self.quota:
                    return _Reply.json(466, {"invokeStatus": {
                        "method": method.lower(), "used": self._changes_done, "total": self.quota,
                        "status": "QUOTE_EXCEEDED", "description": QUOTA_DESCRIPTION}})

        chat_id, problem = _parse_chat_id(body)
        if problem is not None:
            return problem
        if method == GET_CONTACT_INFO:
            return self._contact_info(chat_id)
        return self._set_archive(chat_id, archive=(method == ARCHIVE))

    # --- the address book by either ID -------------------------------------------------

    def _phone_id(self, chat_id: str) -> str:
        return self._by_lid.get(chat_id, chat_id)

    def _find(self, chat_id: str) -> Chat | None:
        return self.chats.get(self._phone_id(chat_id))

    def _named(self, chat: Chat, ids: str) -> str:
        """The ID ``chat`` goes by where ``ids`` (LID_IDS / PHONE_IDS) is the rule."""
        return chat.lid if chat.lid and ids == LID_IDS else chat.id

    # --- the methods ---------------------------------------------------------------------

    def _chat_list(self, query: str) -> _Reply:
        """getChats (docs: service/GetChats): the optional ``count`` gives that many chats, newest activity
        first; the list is refreshed at most every ``chats_refresh_s`` seconds."""
        count_text = parse_qs(query).get("count", [None])[-1]
        if count_text is not None and not count_text.isdigit():
            return _Reply(400, "Validation failed")       # an assumption: the docs list no error for it
        with self._state_lock:
            self._chat_lists_served += 1
            if self._chat_lists_served <= self.empty_chat_lists:
                return _Reply.json(200, [])
            now = time.monotonic()
            if self._chat_list_snapshot is None or now - self._chat_list_snapshot[0] >= self.chats_refresh_s:
                listed = [({"id": self._named(c, self.chat_list_ids), "name": c.name, "type": c.type,
                            "archive": c.archive}, c.last_activity) for c in self.chats.values()]
                self._chat_list_snapshot = (now, listed)
            listed = self._chat_list_snapshot[1]
        if count_text is not None:
            by_activity = sorted(listed, key=lambda item: -(item[1] if item[1] is not None else float("-inf")))
            return _Reply.json(200, [entry for entry, _when in by_activity[:int(count_text)]])
        return _Reply.json(200, [entry for entry, _when in listed])

    def _check_whatsapp(self, body: bytes) -> _Reply:
        """checkWhatsapp (docs: service/CheckWhatsapp): ``chatId`` (digits, @c.us or @lid) or the older
        ``phoneNumber``; answers whether WhatsApp has the account and, in ``chatId``, the person's @lid."""
        value, problem = _json_object(body)
        if problem is not None:
            return problem
        if len({"chatId", "phoneNumber"} & set(value)) != 1:
            return _Reply(400, "Validation failed")
        if "phoneNumber" in value:
            number = value["phoneNumber"]
            if isinstance(number, bool) or not isinstance(number, int):
                return _Reply(400, "Validation failed. Details: Wrong format. 'phoneNumber' must contain only digits")
            asked = f"{number}@c.us"
        else:
            asked = value["chatId"]
            if isinstance(asked, str) and asked.isascii() and asked.isdigit():
                asked = f"{asked}@c.us"
            if not isinstance(asked, str) or not CHAT_ID_SHAPE.match(asked) or asked.endswith("@g.us"):
                return _Reply(400, "Validation failed")
        if asked.endswith("@c.us") and not 11 <= len(asked) - len("@c.us") <= 16:
            return _Reply(400, "bad phone number, valid from 11 to 16 digits")
        with self._state_lock:
            chat = self._find(asked)
            if chat is None:
                return _Reply.json(200, {"existsWhatsapp": False})
            # The docs: chatId "returns the lid of the found user"; a person with none keeps the number (assumption).
            return _Reply.json(200, {"existsWhatsapp": True, "chatId": chat.lid or chat.id})

    def _contact_info(self, chat_id: str) -> _Reply:
        with self._state_lock:
            chat = self._find(chat_id)
            if chat is None:
                return _Reply(400, f"GetContactInfoError: chat with id {chat_id} not found")
            if chat.type == "group" and self.group_contact_info == "refuse":
                return _Reply(400, "Validation failed")    # docs: chatId is a correspondent's; the text assumed
            info = {"avatar": "", "name": chat.name, "contactName": chat.name, "email": "", "category": "",
                    "description": "", "products": [], "chatId": chat_id, "lastSeen": None,
                    "isArchive": chat.archive, "isDisappearing": False, "isMute": False,
                    "messageExpiration": 0, "muteExpiration": None, "isBusiness": False}
        return _Reply.json(200, info)

    def _set_settings(self, body: bytes) -> _Reply:
        value, problem = _json_object(body)
        if problem is not None:
            return problem
        for key, setting in value.items():
            if key in YES_NO_SETTINGS and setting not in ("yes", "no"):
                return _Reply(400, f"Validation failed. Details: '{key}' must be one of [yes, no]")
        wanted = {k: v for k, v in value.items() if k in DEFAULT_SETTINGS}
        with self._state_lock:
            if self.restart_s > 0:
                # The docs (account/SetSettings): the instance restarts and applies them within 5 minutes.
                self._pending_settings.update(wanted)
                self._restart_until = time.monotonic() + self.restart_s
            else:
                self._apply_settings(wanted)
        return _Reply.json(200, {"saveSettings": True})

    def _apply_settings(self, wanted: dict[str, Any]) -> None:
        """Take ``wanted`` in (the state lock held); a journal setting switched on starts its journal now."""
        for key in JOURNAL_SETTINGS:
            if wanted.get(key) == "yes" and self.settings[key] != "yes":
                self.settings_since[key] = time.time()
        self.settings.update(wanted)

    def _journal(self, method: str, query: str) -> _Reply:
        """lastIncomingMessages / lastOutgoingMessages: the messages within ``minutes`` that arrived while the
        setting that feeds the journal was on, newest first, at most the last JOURNAL_LIMIT."""
        minutes_text = parse_qs(query).get("minutes", ["1440"])[-1]
        if not minutes_text.isdigit():
            return _Reply(400, "Validation failed. Details: 'minutes' must be a number")
        incoming = method == LAST_INCOMING
        setting = INCOMING_WEBHOOK if incoming else OUTGOING_MESSAGE_WEBHOOK
        with self._state_lock:
            if self.settings[setting] != "yes":
                # Incoming: none seen; outgoing: the journal keeps only API-sent messages, and the book has none.
                return _Reply.json(200, [])
            since = max(time.time() - int(minutes_text) * 60, self.settings_since[setting] or float("-inf"))
            latest = [(c.last_incoming if incoming else c.last_outgoing, c) for c in self.chats.values()]
        messages = []
        for when, chat in latest:
            if when is None:
                continue
            for number in range(self.messages_per_chat):
                stamp = when - number * self.message_gap_s
                if stamp < since:
                    break
                messages.append(_message(chat, self._named(chat, self.journal_ids), stamp, incoming))
        messages.sort(key=lambda m: m["timestamp"], reverse=True)
        return _Reply.json(200, messages[:JOURNAL_LIMIT])

    def _set_archive(self, chat_id: str, *, archive: bool) -> _Reply:
        prefix = "ArchiveChatError" if archive else "UnarchiveChatError"
        # The docs give unarchiveChat the very words of archiveChat: "UnarchiveChatError: cannot archive chat ...".
        no_message = f"{prefix}: cannot archive chat cause last message not found in chat"
        with self._state_lock:
            chat = self._find(chat_id)
            if chat is None:
                return _Reply(400, f"{prefix}: chat with id {chat_id} not found")
            if self.settings[INCOMING_WEBHOOK] != "yes":
                # The docs say the method needs incomingWebhook on but not what it answers without it;
                # an assumption: the same answer as a chat with no incoming message.
                return _Reply(400, no_message)
            if not archive and chat.stale_archive:
                # The maintainers' workaround for #488/#744 starts here: unarchive what the instance believes.
                chat.stale_archive = chat.archive = False
                self._changes_done += 1
                return _Reply(200, b"")
            if chat.archive == archive or (archive and chat.stale_archive):
                return _Reply(400, f"{prefix}: chat with id {chat_id} already archive={'true' if archive else 'false'}")
            if chat.incoming <= 0:
                return _Reply(400, no_message)
            self._changes_done += 1
            if archive and self._fails_silently(chat):
                chat.stale_archive = True
                return _Reply(200, b"", note=SILENT_FAILURE)
            chat.archive = archive
        return _Reply(200, b"")

    def _fails_silently(self, chat: Chat) -> bool:
        """green-api issues #488, #744 (fixed in 5.44.32.1242): an archiveChat answered 200, nothing archived."""
        if chat.id in self.silent_failure_chats and chat.id not in self._silently_failed:
            self._silently_failed.add(chat.id)
            return True
        return self.silent_failures > 0 and self._silent_rng.random() < self.silent_failures

def cors_origins(values: Iterable[str]) -> tuple[str, ...]:
    """--cors values (each may be a comma-separated list) -> normalised origins; "*" allows every origin.
    ConfigError for anything that is not scheme://host[:port]."""
    origins = []
    for value in values:
        for item in str(value).split(","):
            item = item.strip()
            if not item:
                continue
            if item == "*":
                origins.append(item)
                continue
            parts = urlsplit(item)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/") \
                    or parts.query or parts.fragment or parts.username:
                raise ConfigError(_("--cors {item!r} is not an origin like https://addin.xlwings.org").format(item=item))
            origins.append(f"{parts.scheme}://{parts.netloc.lower()}")
    return tuple(dict.fromkeys(origins))


def _message(chat: Chat, chat_id: str, when: float, incoming: bool) -> dict:
    """One journal entry with the docs' fields, naming the chat ``chat_id``."""
    stamp = int(when)
    kind = "incoming" if incoming else "outgoing"
    message = {
        "type": kind,
        "idMessage": hashlib.md5(f"{chat.id}/{kind}/{stamp}".encode()).hexdigest().upper(),
        "timestamp": stamp,
        "typeMessage": "textMessage",
        "chatId": chat_id,
    }
    if incoming:
        sender = chat_id if chat.type == "user" else "79001234567@c.us"
        message.update(senderId=sender, senderName=chat.name if chat.type == "user" else "Anna",
                       senderContactName=chat.name if chat.type == "user" else "", textMessage="Hello!",
                       isForwarded=False, forwardingScore=0)
    else:
        message.update(statusMessage="read", sendByApi=False, textMessage="Thank you, see you soon",
                       isForwarded=False, forwardingScore=0)
    return message


def _chat_id_for_log(body: bytes) -> str | None:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    chat_id = value.get("chatId") if isinstance(value, dict) else None
    return chat_id if isinstance(chat_id, str) else None


def _json_object(body: bytes) -> tuple[dict, None] | tuple[None, _Reply]:
    """A request body's JSON object, or the real service's answer to a body that is not one."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, _Reply(400, "Validation failed")
    if value == {}:
        return None, _Reply(400, "Validation failed. Details: 'value' must have at least 1 key")
    if not isinstance(value, dict):
        return None, _Reply(400, "Validation failed")
    return value, None


def _parse_chat_id(body: bytes) -> tuple[str | None, _Reply | None]:
    """The chatId of a ``{"chatId": ...}`` body, or the real service's answer to a bad body."""
    value, problem = _json_object(body)
    if problem is not None:
        return None, problem
    if "chatId" not in value:
        return None, _Reply(400, "Validation failed")
    chat_id = value["chatId"]
    if not isinstance(chat_id, str):
        return None, _Reply(500, f"interface conversion: interface {{}} is {go_type_name(chat_id)}, not string")
    if not CHAT_ID_SHAPE.match(chat_id):
        return None, _Reply(400, "Validation failed")
    return chat_id, None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024      # bursts of hundreds of connects must not be refused
    allow_reuse_address = True
    sandbox: Sandbox

    def handle_error(self, request, client_address) -> None:
        # Clients hang up mid-reply all the time (timeouts, drops); that is not the server's error.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        print(f"greenapi-excel sandbox: error serving a request: {type(exc).__name__}", file=sys.stderr)


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"          # keep-alive
    server: _Server
    timeout = 300                          # idle kept-alive connections are closed eventually

    def version_string(self) -> str:
        return "GreenApiSandbox"

    def setup(self) -> None:
        super().setup()
        with self.server.sandbox._connections_lock:
            self.server.sandbox._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.sandbox._connections_lock:
            self.server.sandbox._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args) -> None:
        pass  # the stdlib line carries the request path, and the path carries the token

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY_BYTES:
            raise ValueError("body too large")
        return self.rfile.read(length) if length else None

    def _handle(self) -> None:
        sandbox = self.server.sandbox
        started = time.perf_counter()
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            sandbox._record({"time": time.time(), "method": None, "chatId": None, "status": 413, "fault": None,
                             "ms": round((time.perf_counter() - started) * 1000.0, 3)})
            self._send(_Reply.reason(413))
            return
        reply, entry = sandbox.serve(self.command, self.path, body)
        if reply.status is not None and not sandbox._wait(sandbox.latency_s):
            reply = DROP
        entry["status"] = reply.status
        # Recorded before the client can see the answer, so a test reading the log right after it is not racing.
        entry["ms"] = round((time.perf_counter() - started) * 1000.0, 3)
        sandbox._record(entry)
        if reply is DROP:
            self._drop()
        else:
            self._send(reply)

    def _send(self, reply: _Reply) -> None:
        self.send_response(reply.status, REASONS.get(reply.status, ""))
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        for name, value in self.server.sandbox.cors_headers(self.headers.get("Origin")).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body)
        self.wfile.flush()

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def do_OPTIONS(self) -> None:
        """A CORS preflight: never an API call, never in the call log (``sandbox.preflights`` counts it)."""
        try:
            self._read_body()
        except ValueError:
            self.close_connection = True
        self._send(self.server.sandbox.preflight(self.headers.get("Origin")))


# --- command line -------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """``greenapi-excel sandbox``'s flags, their help in the language in force."""
    parser = argparse.ArgumentParser(
        prog="greenapi-excel sandbox",
        description=_("A local GREEN-API emulator for demos, tests and benchmarks (archiveChat, unarchiveChat, "
                      "getChats, getContactInfo, getStateInstance, getSettings, setSettings, lastIncomingMessages, "
                      "lastOutgoingMessages, checkWhatsapp). By default it is kinder than the real service; the "
                      "flags of the second group make it behave as GREEN-API's documentation says the real one "
                      "does (docs/GREEN-API.md names each page, and says \"assumption\" where the docs are silent)."))
    parser.add_argument("--lang", choices=i18n.LANGUAGES, default=None,
                        help=_("language of this help and of the messages (en, ru; default GREENAPI_LANG, else the "
                               "locale, else en); GREEN-API's own answers stay as the service gives them"))
    parser.add_argument("--host", default="127.0.0.1", help=_("address to listen on (default 127.0.0.1)"))
    parser.add_argument("--port", type=int, default=7700, help=_("port (default 7700; 0 picks a free one)"))
    parser.add_argument("--id-instance", default="1101000001", help=_("the idInstance it answers to"))
    parser.add_argument("--api-token", default=None,
                        help=_("the apiTokenInstance it accepts (default: a random one, printed once)"))
    parser.add_argument("--state", default=None,
                        help=_('JSON file {"chats": [...]} (default: a built-in book); a chat may have a "lid"'))
    parser.add_argument("--log", default=None, help=_("JSON Lines file, one line per request"))
    parser.add_argument("--latency-ms", type=float, default=0, help=_("delay every reply by this much"))
    parser.add_argument("--rps", type=float, default=10,
                        help=_("archiveChat / unarchiveChat requests per second accepted (default 10)"))
    parser.add_argument("--read-rps", type=float, default=1,
                        help=_("getChats / getContactInfo / getStateInstance / getSettings / setSettings / "
                               "lastIncomingMessages / lastOutgoingMessages / checkWhatsapp per second, each "
                               "(default 1)"))
    parser.add_argument("--faults", type=float, default=0.0, help=_("fraction of requests that fail (0..1)"))
    parser.add_argument("--seed", type=int, default=None, help=_("makes the fault sequence repeatable"))
    parser.add_argument("--quota", type=int, default=None,
                        help=_("after this many archive/unarchive changes, answer 466 (quota used up)"))
    parser.add_argument("--slow-reply-s", type=float, default=40.0, help=_("how late a 'slow' fault replies"))
    parser.add_argument("--cors", action="append", default=[], metavar="ORIGIN",
                        help=_("let browser pages of ORIGIN call it (CORS), e.g. https://addin.xlwings.org for xlwings "
                             "Lite; repeatable or comma-separated, * for any. Without it browsers are refused, as a "
                             "service that does not allow them"))
    parser.add_argument("--incoming-webhook", choices=("yes", "no"), default="yes",
                        help=_("the instance's 'Receive webhooks on incoming messages and files' setting "
                               "(incomingWebhook; default yes). With no, archiveChat fails as on a fresh instance"))

    documented = parser.add_argument_group(
        _("as the documented service"),
        _("Each follows a page of GREEN-API's documentation (docs/GREEN-API.md); the defaults keep the demo "
          "and the README's walk-through working."))
    documented.add_argument("--outgoing-message-webhook", choices=("yes", "no"), default="yes",
                            help=_("'Receive webhooks on messages sent from phone' (outgoingMessageWebhook; default "
                                   "yes). With no, the outgoing journal holds no message sent from the phone "
                                   "(docs: journals/LastOutgoingMessages)"))
    documented.add_argument("--fresh-instance", action="store_true",
                            help=_("start with every setting off, as GREEN-API creates an instance (docs: "
                                   "account/SetSettings); overrides the two settings above"))
    documented.add_argument("--webhooks-since-days", type=float, default=None, metavar="DAYS",
                            help=_("incomingWebhook and outgoingMessageWebhook were switched on this many days "
                                   "ago: the journals hold no older message (docs: journals/LastIncomingMessages). "
                                   "A setting switched on with setSettings starts its journal then"))
    documented.add_argument("--restart-s", type=float, default=0.0, metavar="S",
                            help=_("setSettings restarts the instance: for S seconds every method answers 400 "
                                   "'instance in starting process try later' and getStateInstance 'starting', then "
                                   "the settings apply (docs: account/SetSettings, up to 5 minutes; common errors). "
                                   "Default 0: at once"))
    documented.add_argument("--state-instance", choices=STATES, default=AUTHORIZED,
                            help=_("what getStateInstance answers (default authorized), and what the other methods "
                                   "answer in that state (docs: account/GetStateInstance)"))
    documented.add_argument("--lid-chats", type=int, default=0, metavar="N",
                            help=_("the first N person chats also have WhatsApp's own ID, digits@lid (docs: "
                                   "service/GetChats, FAQ lid-important-differences); every method takes either "
                                   "ID and checkWhatsapp gives a number's @lid"))
    documented.add_argument("--chat-list-ids", choices=(LID_IDS, PHONE_IDS), default=LID_IDS,
                            help=_("which ID getChats names a chat with a @lid by (default lid)"))
    documented.add_argument("--journal-ids", choices=(LID_IDS, PHONE_IDS), default=LID_IDS,
                            help=_("which ID the journals name a chat with a @lid by (default lid)"))
    documented.add_argument("--empty-chat-lists", type=int, default=0, metavar="N",
                            help=_("the first N getChats answers are [] (docs: service/GetContacts says to ask "
                                   "again on an empty answer)"))
    documented.add_argument("--chats-refresh-s", type=float, default=0.0, metavar="S",
                            help=_("getChats answers a list refreshed at most every S seconds (docs: "
                                   "service/GetChats, at most once a minute). Default 0: always current"))
    documented.add_argument("--silent-failures", type=float, default=0.0, metavar="F",
                            help=_("fraction of archiveChat calls that answer 200 and archive nothing; the next "
                                   "archiveChat answers 'already archive=true' until an unarchiveChat (green-api "
                                   "issues #488, #744, fixed in release 5.44.32.1242)"))
    documented.add_argument("--silent-failure-chat", action="append", default=[], metavar="CHAT_ID",
                            help=_("the first archiveChat of this chat fails silently the same way (repeatable)"))
    documented.add_argument("--group-contact-info", choices=("answer", "refuse"), default="answer",
                            help=_("with refuse, getContactInfo answers a group 400 'Validation failed' (docs: "
                                   "service/GetContactInfo takes a correspondent's ID; the answer is an assumption)"))
    documented.add_argument("--messages-per-chat", type=int, default=1, metavar="N",
                            help=_("each chat's journals hold N messages, the newest at its last message time "
                                   "(default 1); the journals give at most their last 10,000 "
                                   "(docs: journals/LastIncomingMessages)"))
    documented.add_argument("--message-gap-minutes", type=float, default=60.0, metavar="M",
                            help=_("minutes between a chat's journal messages (default 60)"))
    return parser


def _language_flag(argv: list[str]) -> str | None:
    """The ``--lang`` of ``argv``, known before the parser is built (its help is translated too)."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--lang", default=None)
    return early.parse_known_args(argv)[0].lang


def main(argv: list[str] | None = None) -> int:
    """``greenapi-excel sandbox ...``: serve until Ctrl+C or SIGTERM, then exit 0."""
    argv = list(sys.argv[1:] if argv is None else argv)
    i18n.set_language(i18n.choose(_language_flag(argv)))
    # argparse's own words ("usage:", its errors) from our catalogue, as the other commands have them.
    argparse._ = _
    argparse.ngettext = ngettext
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:       # argparse has printed usage and the reason
        return int(exc.code or 0)
    try:
        chats = load_state(args.state) if args.state else None
        sandbox = Sandbox(chats, host=args.host, port=args.port, id_instance=args.id_instance,
                          api_token=args.api_token, latency_ms=args.latency_ms, rps=args.rps,
                          read_rps=args.read_rps, faults=args.faults, seed=args.seed, log_path=args.log,
                          slow_reply_s=args.slow_reply_s, quota=args.quota, incoming_webhook=args.incoming_webhook,
                          outgoing_message_webhook=args.outgoing_message_webhook,
                          fresh_instance=args.fresh_instance, webhooks_since_days=args.webhooks_since_days,
                          restart_s=args.restart_s, state_instance=args.state_instance, lid_chats=args.lid_chats,
                          chat_list_ids=args.chat_list_ids, journal_ids=args.journal_ids,
                          empty_chat_lists=args.empty_chat_lists, chats_refresh_s=args.chats_refresh_s,
                          silent_failures=args.silent_failures, silent_failure_chats=args.silent_failure_chat,
                          group_contact_info=args.group_contact_info, messages_per_chat=args.messages_per_chat,
                          message_gap_minutes=args.message_gap_minutes,
                          cors=args.cors)
        sandbox.start()
    except ConfigError as exc:
        print(f"greenapi-excel sandbox: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print("greenapi-excel sandbox: " + _("cannot listen on {host}:{port} or open the log: {reason}").format(
            host=args.host, port=args.port, reason=exc.strerror or exc), file=sys.stderr)
        return 1

    stop = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(signal_number, lambda *_args: stop.set())
        except ValueError:
            pass  # not the main thread: the caller stops us another way

    # apiUrl= and idInstance= stay as they are in every language: scripts and tests read them.
    print("GREEN-API sandbox: apiUrl={url} idInstance={instance} ".format(url=sandbox.api_url,
                                                                         instance=sandbox.id_instance)
          + ngettext("({n} chat; Ctrl+C stops it)", "({n} chats; Ctrl+C stops it)", len(sandbox.chats)).format(
              n=len(sandbox.chats)), flush=True)
    if sandbox.generated_token:
        # Printed once, on purpose: it is the user's own key to this sandbox only.
        print(f"apiTokenInstance={sandbox.token}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    print(_("GREEN-API sandbox stopped"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One GREEN-API request, decided without I/O: what to send, how to read the answer, when to retry.

A *flow* is a generator. It yields effects (``Pace``, ``Send``, ``Sleep``, ``Throttled``, ``Recovered``),
receives what carrying each out gave, and returns the final value or the error (returned, never
raised). It does no I/O, reads no clock and starts no thread, so the same flow runs under the threads
driver (``client.GreenApiClient``: ``requests``, ``time.sleep``), under the asyncio driver
(``client_async.AsyncGreenApiClient``: any async transport, ``asyncio.sleep``; xlwings Lite), and in a
test that feeds it canned answers. Anchor: python-hyper/h11, "bring your own I/O".

Every request goes to ``{apiUrl}/waInstance{idInstance}/{method}/{apiTokenInstance}``: the token is in
the URL. Answers are redacted here, as soon as a flow sees them; errors are returned as values and the
driver raises them from a frame that no longer holds the request.
"""

from __future__ import annotations

import ipaddress
import json
import random
import re
import threading
from dataclasses import dataclass
from typing import Any, Generator
from urllib.parse import urlencode, urlsplit

from greenapi_excel.errors import (
    ApiError,
    AuthError,
    ConfigError,
    ConnectionFailed,
    InstanceError,
    InstanceStarting,
    NotAuthorized,
    OutcomeUnknown,
    QuotaExceeded,
    RetriesExhausted,
    Stopped,
)
from greenapi_excel.i18n import _, ngettext
from greenapi_excel.methods import ARCHIVE, UNARCHIVE
from greenapi_excel.results import REDACTED, cell_text, redact
from greenapi_excel.transport import Ambiguous, BadAddress, HttpRequest, NeverSent

GET_CHATS = "getChats"
GET_CONTACT_INFO = "getContactInfo"
GET_STATE_INSTANCE = "getStateInstance"
GET_SETTINGS = "getSettings"
SET_SETTINGS = "setSettings"
LAST_INCOMING = "lastIncomingMessages"
LAST_OUTGOING = "lastOutgoingMessages"
CHECK_WHATSAPP = "checkWhatsapp"
STATE_CHANGING = (ARCHIVE, UNARCHIVE)

# docs (common errors): "400 instance in starting process try later": the instance restarts (setSettings, a
# reboot), "please try again in a few seconds". getStateInstance says "starting" meanwhile.
STARTING_TEXT = "instance in starting process"
STARTING_STATE = "starting"
# docs (common errors): "400 instance account not authorized": no WhatsApp account is linked (any more).
NOT_AUTHORIZED_TEXT = "instance account not authorized"
# What a flow is waiting for (``Waiting.reason``), for the edge's progress line.
RESTART, LIST_REFRESH = "restart", "list refresh"

RETRY_STATUSES = {429, 499, 500, 502, 503, 504}
CONNECT_TRIES = 3                 # a refused or unresolvable address rarely heals within seconds
MAX_ANSWER_BYTES = 64 * 1024      # archive/unarchive answers are a line of text
MAX_READ_BYTES = 64 * 1024 * 1024  # getChats of a large account
TEXT_LIMIT = 300                  # the server's words kept in an error or a Details cell

# A long run of letters and digits in a host name: the shape of an apiTokenInstance pasted there.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9]{32,}")

# Why an attempt failed, in words for exceptions.
_WHY = {
    429: "GREEN-API said too many requests (HTTP 429)",
    499: "the request was cut off before GREEN-API answered (HTTP 499)",
    500: "GREEN-API had an internal error (HTTP 500)",
    502: "GREEN-API's gateway failed (HTTP 502)",
    503: "GREEN-API is unavailable (HTTP 503)",
    504: "GREEN-API's gateway timed out (HTTP 504)",
}


# --- the effects a flow asks its driver to carry out -------------------------------------------------

@dataclass(frozen=True)
class Pace:
    """Wait for this method's next pacing slot. The driver answers True when the run was stopped while
    it waited (only a ``cancellable`` wait, a first try, may be called off: a retry repeats a call that
    may already have arrived)."""

    method: str
    cancellable: bool


@dataclass(frozen=True)
class Send:
    """Send the request; the driver answers with a ``transport.Outcome``."""

    request: HttpRequest


@dataclass(frozen=True)
class Sleep:
    """Wait this long before the next try (backoff). A ``cancellable`` sleep (nothing of this call can be
    under way) ends early when the run is stopped: the driver then answers True."""

    seconds: float
    cancellable: bool = False


@dataclass(frozen=True)
class Waiting:
    """The flow waits for GREEN-API (an instance restarting, a chat list not refreshed yet): the driver shows
    it where progress shows (the progress line, the status bar) and answers with its monotonic clock's
    reading, by which the flow tells how long it has waited. ``started`` is that reading when the wait began
    (None: it begins now); ``limit`` how long the flow waits at most."""

    reason: str           # RESTART | LIST_REFRESH
    started: float | None
    limit: float

    def waited(self, now: float) -> float:
        return 0.0 if self.started is None else max(0.0, now - self.started)


@dataclass(frozen=True)
class Throttled:
    """A 429: the method's pacer slows down and takes no slot before ``retry_after`` seconds."""

    method: str
    retry_after: float | None


@dataclass(frozen=True)
class Recovered:
    """An answer that was not a 429: the method's pacer wins back a little of the full rate."""

    method: str


Flow = Generator[Any, Any, Any]


# --- configuration ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Waits:
    """How long the flows wait for what GREEN-API documents as slow; tests make them short."""

    # docs (account/GetStateInstance, SetSettings): a restart takes up to 5 minutes; a margin on top.
    restart: float = 360.0
    restart_poll: float = 5.0        # between two re-asks while the instance restarts
    # docs (service/GetContacts): "If an empty data array is received - repeat the method call"; getChats
    # alike (assumption). Asked this many times in all, this far apart (each paced as a read).
    empty_list_tries: int = 4
    empty_list_pause: float = 3.0
    # docs (service/GetChats): the list "is updated no more than once every minute"; a margin on top.
    list_refresh: float = 65.0
    # checkWhatsapp asks a run may make to learn which @lid is which number (1 a second, paced as a read;
    # plans may limit them per month).
    link_lookups: int = 20


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_api_url(url: str) -> str:
    """The apiUrl normalised (no trailing '/'); ConfigError unless https, or http to a loopback address."""
    normalised, problem = _checked_api_url(url)
    del url  # the apiUrl may carry a pasted token: keep it out of the traceback's frames
    if problem is not None:
        raise ConfigError(problem)
    return normalised


def _checked_api_url(url) -> tuple[str, str | None]:
    """(the normalised apiUrl, None) or ("", why it is refused); never raises, so that no error chain
    from urlsplit (which quotes the URL) can follow a ConfigError out of here."""
    if not isinstance(url, str) or not url.strip():
        return "", _("the apiUrl is empty: copy it from the GREEN-API console (https://....api.green-api.com)")
    text = url.strip()
    parts = host = None
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = None
    if parts is None:
        return "", _("the apiUrl is not a valid address: copy it from the GREEN-API console")
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not host or any(c.isspace() for c in text):
        return "", _("the apiUrl must look like https://1101.api.green-api.com: copy it from the GREEN-API console")
    if parts.username or parts.password or parts.query or parts.fragment:
        return "", _("the apiUrl must be just the address (https://host), without a login, ? or #")
    if "/waInstance" in parts.path:
        return "", _("the apiUrl is only the address (https://host): the idInstance and token are set apart")
    if scheme == "http" and not _is_loopback(host):
        shown = cell_text(_TOKEN_SHAPE.sub(REDACTED, host), 80)
        return "", _("the apiUrl must use https (plain http to {host} would expose the token)").format(host=shown)
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}", None


def checked_timeout(timeout) -> tuple[float, float]:
    """(connect, read) seconds, both finite and above 0; ConfigError otherwise."""
    pair = (timeout, timeout) if isinstance(timeout, (int, float)) else tuple(timeout)
    try:
        connect, read = (float(x) for x in pair)
    except (TypeError, ValueError):
        connect = read = float("nan")
    if not (0 < connect < float("inf") and 0 < read < float("inf")):
        raise ConfigError(_("the timeout must be a number of seconds above 0, such as 30"))
    return connect, read


@dataclass(frozen=True)
class Credentials:
    """Where and as whom to call GREEN-API. The repr shows the token as ***."""

    api_url: str
    id_instance: str
    api_token: str

    def __repr__(self) -> str:
        # The apiUrl is shown redacted too: a token pasted into the wrong field must not surface here.
        shown_url = redact(str(self.api_url), str(self.api_token or ""))
        return f"Credentials(api_url={shown_url!r}, id_instance={self.id_instance!r}, api_token='{REDACTED}')"

    __str__ = __repr__


class Endpoint:
    """One instance as the flows address it: checked credentials, timeouts and the retry policy.

    Its repr never shows the token; the URL that carries it is formed only in ``request``.
    """

    def __init__(self, credentials: Credentials, *, timeout=(5.0, 30.0), max_attempts: int = 5,
                 backoff_base: float = 0.5, backoff_cap: float = 20.0, seed: int | None = None,
                 waits: Waits | None = None):
        self.api_url = check_api_url(credentials.api_url)
        self._token = str(credentials.api_token or "")
        instance = str(credentials.id_instance or "").strip()
        if not instance.isascii() or not instance.isdigit():
            raise ConfigError(_("the idInstance must be digits only, as shown in the GREEN-API console"))
        if not self._token.strip() or any(c in self._token for c in "/?#%") or not self._token.isprintable() \
                or any(c.isspace() for c in self._token):
            raise ConfigError(_("the apiTokenInstance is empty or has characters a token never has: copy it again"))
        self.id_instance = instance
        self.timeout = checked_timeout(timeout)
        if max_attempts < 1:
            raise ConfigError("max_attempts must be at least 1")
        self.max_attempts = int(max_attempts)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.waits = waits if waits is not None else Waits()
        self._random = random.Random(seed)
        self._random_lock = threading.Lock()   # the threads driver's workers share one endpoint

    def __repr__(self) -> str:
        # Also for an endpoint whose __init__ refused its settings (a traceback's frames show it half made).
        api_url, instance = getattr(self, "api_url", "?"), getattr(self, "id_instance", "?")
        return f"Endpoint(api_url={api_url!r}, id_instance={instance!r}, api_token='{REDACTED}')"

    def redact(self, text: object) -> str:
        """``text`` without this endpoint's token (as written or URL-quoted), nor any token-like URL segment."""
        return redact(str(text), self._token)

    def clean(self, text: object, limit: int = TEXT_LIMIT) -> str:
        # Redact before and after cleaning: cleaning may join a split token, cutting may split one.
        return cell_text(self.redact(self.redact(text)), limit)

    def request(self, verb: str, method: str, body: dict | None, params: dict | None, limit: int) -> HttpRequest:
        """The only place the URL with the token is formed."""
        url = f"{self.api_url}/waInstance{self.id_instance}/{method}/{self._token}"
        if params:
            url += "?" + urlencode(params)
        data = json.dumps(body).encode("utf-8") if body is not None else None
        return HttpRequest(verb, url, data, self.timeout, limit)

    def backoff(self, attempts: int) -> float:
        """Exponential backoff with full jitter, so that many workers do not retry in step."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (attempts - 1)))
        with self._random_lock:
            return self._random.uniform(0, ceiling)

    def host(self) -> str:
        return cell_text(urlsplit(self.api_url).netloc, 120)


def display_url(method: str) -> str:
    """The URL as texts show it: ``.../archiveChat/***``."""
    return f".../{method}/{REDACTED}"


# --- one request, tried until its answer is final --------------------------------------------------------

@dataclass(frozen=True)
class Final:
    """The answer a request came to: its status and redacted text, how many tries it took and how many
    of them may have been carried out without an answer (a state-changing call's ambiguity)."""

    status: int
    text: str
    attempts: int
    uncertain: int


def attempts(endpoint: Endpoint, method: str, verb: str, body: dict | None = None, *,
             state_changing: bool, params: dict | None = None) -> Flow:
    """Paced tries until an answer that is final: a ``Final``, or the ``ApiError`` to raise.

    Retries 429 (Retry-After honoured through the pacer), 499, 5xx, timeouts, dropped connections and
    cut-off answers, with backoff; a 400 is never retried; 401/403/466 end at once, carrying the count of
    earlier ambiguous tries so the caller can settle the outcome.
    """
    shown_url = display_url(method)
    limit = MAX_ANSWER_BYTES if state_changing else MAX_READ_BYTES
    tries = uncertain = connect_failures = 0
    last_problem, last_ambiguous, last_status = "", False, None
    restart_began: float | None = None   # the driver's clock when "instance in starting process" was first seen
    while True:
        tries += 1
        # A first try, or a re-ask after refusals only, leaves nothing under way: it may be called off.
        stopped = yield Pace(method, cancellable=tries == 1 and not uncertain)
        if stopped:
            return Stopped(f"stopped before {shown_url} was sent")
        outcome = yield Send(endpoint.request(verb, method, body, params, limit))
        if isinstance(outcome, BadAddress):
            return ConfigError(_("the apiUrl, idInstance or token cannot form a valid address"))
        if isinstance(outcome, NeverSent):
            connect_failures += 1
            last_problem, last_ambiguous, last_status = endpoint.clean(outcome.reason, 160), False, None
            if connect_failures >= CONNECT_TRIES or tries >= endpoint.max_attempts or outcome.hopeless:
                if state_changing and uncertain:
                    break
                return ConnectionFailed(_("could not reach GREEN-API at {host}: {problem}").format(
                    host=endpoint.host(), problem=last_problem))
            yield Sleep(endpoint.backoff(tries))
            continue
        if isinstance(outcome, Ambiguous):
            last_problem, last_ambiguous, last_status = endpoint.clean(outcome.reason, 160), True, None
            uncertain += 1 if state_changing else 0
            if tries >= endpoint.max_attempts:
                break
            yield Sleep(endpoint.backoff(tries))
            continue
        status = outcome.status
        text = endpoint.redact(outcome.text)
        retry_after = outcome.headers.get("retry-after")
        del outcome
        # 401 / 403 / 466 stop a run; after an ambiguous attempt they say nothing about that attempt,
        # so the error carries the count: the caller must settle the outcome or call it unknown.
        if status == 401:
            return AuthError(_("GREEN-API refused the apiTokenInstance (HTTP 401) for {url}: check the token in "
                               "the GREEN-API console").format(url=shown_url), status=401,
                             text=endpoint.clean(text), uncertain_attempts=uncertain)
        if status == 403:
            return InstanceError(_("GREEN-API refused the idInstance or apiUrl (HTTP 403) for {url}: check both "
                                   "in the GREEN-API console").format(url=shown_url), status=403,
                                 text=endpoint.clean(text), uncertain_attempts=uncertain)
        if status == 466:
            return QuotaExceeded(_("GREEN-API quota exceeded: {explanation}").format(
                                     explanation=_quota_explanation(text, endpoint)),
                                 status=466, text=endpoint.clean(text), uncertain_attempts=uncertain)
        if status not in RETRY_STATUSES:
            yield Recovered(method)
            if status == 400 and is_starting(text):
                # The instance restarts (docs: up to 5 minutes): the request was refused, nothing was done.
                # Re-ask, paced, until it is back or the wait is over; these answers are not tries.
                now = yield Waiting(RESTART, restart_began, endpoint.waits.restart)
                restart_began = now if restart_began is None else restart_began
                if now - restart_began >= endpoint.waits.restart:
                    from greenapi_excel import texts

                    return InstanceStarting(texts.still_restarting(now - restart_began), status=400,
                                            text=endpoint.clean(text), uncertain_attempts=uncertain)
                tries -= 1
                if (yield Sleep(endpoint.waits.restart_poll, cancellable=not uncertain)):
                    return Stopped(f"stopped while {shown_url} waited for the instance to restart")
                continue
            if state_changing and uncertain and status >= 300 and status != 400:
                # An unusual final answer after ambiguous tries: the first may still have worked.
                last_problem, last_ambiguous, last_status = f"HTTP {status}", True, status
                break
            return Final(status, text, tries, uncertain)
        last_status = status
        last_problem = _WHY.get(status, f"HTTP {status}")
        if status == 429:
            from greenapi_excel.pacing import parse_retry_after

            yield Throttled(method, parse_retry_after(retry_after))
            last_ambiguous = False
        else:
            last_ambiguous = True
            uncertain += 1 if state_changing else 0
        if tries >= endpoint.max_attempts:
            break
        if status != 429 or retry_after is None:
            yield Sleep(endpoint.backoff(tries))

    tried = ngettext("{n} attempt", "{n} attempts", tries).format(n=tries)
    if state_changing and (last_ambiguous or uncertain):
        return OutcomeUnknown(
            _("no clear answer from GREEN-API to {url} after {tried} ({problem}); the change may or may not have "
              "been made").format(url=shown_url, tried=tried, problem=last_problem),
            status=last_status, text=last_problem, uncertain_attempts=uncertain)
    return RetriesExhausted(_("GREEN-API did not answer {url} usefully after {tried} ({problem})").format(
                                url=shown_url, tried=tried, problem=last_problem),
                            status=last_status, text=last_problem)


# --- the methods ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChatCallResult:
    """Outcome of archive_chat / unarchive_chat after retries."""

    outcome: str            # "done" | "already" | "not_found" | "no_messages" | "rejected"
    http_status: int        # the final answer's status
    text: str               # the final answer's text, redacted and cleaned ("" on success)
    attempts: int
    uncertain_attempts: int  # earlier attempts whose outcome was unknown (timeout, drop, 5xx/499)


def change(endpoint: Endpoint, method: str, chat_id) -> Flow:
    """archiveChat / unarchiveChat: a ``ChatCallResult`` (a 400 is an answer, not an error) or the error.

    "400 instance account not authorized" (docs: common errors) is ``NotAuthorized``: the account is not
    linked, every call would answer so, and the run stops."""
    if not isinstance(chat_id, str) or not chat_id.strip():
        return ChatCallResult("rejected", 0, _("the chat ID must be text such as 79001234567@c.us"), 0, 0)
    final = yield from attempts(endpoint, method, "POST", {"chatId": chat_id}, state_changing=True)
    if isinstance(final, BaseException):
        return final
    text = endpoint.clean(final.text)
    if 200 <= final.status < 300:
        return ChatCallResult("done", final.status, "", final.attempts, final.uncertain)
    if final.status == 400 and NOT_AUTHORIZED_TEXT in text.lower():
        from greenapi_excel import texts

        return NotAuthorized(texts.instance_state("notAuthorized"), status=400, text=text,
                             uncertain_attempts=final.uncertain)
    if final.status == 400:
        return ChatCallResult(outcome_of_400(text), 400, text, final.attempts, final.uncertain)
    return ApiError(f"GREEN-API answered HTTP {final.status} to {display_url(method)}"
                    + (f": {text}" if text else ""), status=final.status, text=text)


def read(endpoint: Endpoint, method: str, verb: str, body: dict | None = None, *, params: dict | None = None) -> Flow:
    """A read (or setSettings, which sets rather than toggles): the JSON value, or the error."""
    final = yield from attempts(endpoint, method, verb, body, state_changing=False, params=params)
    if isinstance(final, BaseException):
        return final
    if not 200 <= final.status < 300:
        shown = endpoint.clean(final.text)
        return ApiError(f"GREEN-API answered HTTP {final.status} to {display_url(method)}"
                        + (f": {shown}" if shown else ""), status=final.status, text=shown)
    value, readable = json_or_nothing(final.text)
    if not readable:
        return ApiError(f"GREEN-API's {method} answer is not JSON", status=final.status, text=endpoint.clean(final.text))
    return value


def get_chats(endpoint: Endpoint) -> Flow:
    """getChats once: the list (possibly empty), or the error."""
    value = yield from read(endpoint, GET_CHATS, "GET")
    if not isinstance(value, (list, BaseException)):
        return ApiError("GREEN-API's getChats answer is not a list of chats", status=200)
    return value


def chat_list(endpoint: Endpoint) -> Flow:
    """getChats, asked again (paced, ``Waits.empty_list_tries`` times in all) while it answers ``[]``: the
    list, possibly still empty (the caller decides what an empty list may mean), or the error."""
    for attempt in range(max(1, endpoint.waits.empty_list_tries)):
        if attempt:
            if (yield Sleep(endpoint.waits.empty_list_pause, cancellable=True)):
                return Stopped("stopped while getChats was asked again")
        chats = yield from get_chats(endpoint)
        if isinstance(chats, BaseException) or chats:
            return chats
    return []


def fresh_chat_list(endpoint: Endpoint, changed_ago: float | None) -> Flow:
    """``chat_list`` once it can show a change made ``changed_ago`` seconds ago (None: no change of this
    tool's lately): getChats is refreshed at most once a minute (docs), so the flow waits out the rest,
    shown as a ``Waiting`` of LIST_REFRESH (the driver may call it off: then ``Stopped``)."""
    left = 0.0 if changed_ago is None else endpoint.waits.list_refresh - changed_ago
    if left > 0:
        started = yield Waiting(LIST_REFRESH, None, left)
        while True:
            step = min(1.0, left)
            if (yield Sleep(step, cancellable=True)):
                return Stopped("stopped while waiting for getChats to refresh")
            now = yield Waiting(LIST_REFRESH, started, left)
            if now - started >= left:
                break
    return (yield from chat_list(endpoint))


def check_whatsapp(endpoint: Endpoint, chat_id: str) -> Flow:
    """checkWhatsapp about a phone-number chat ID (docs, the newer page: ``chatId``; the answer's ``chatId``
    is the person's ``@lid``): the answer (a dict), or the error."""
    value = yield from read(endpoint, CHECK_WHATSAPP, "POST", {"chatId": str(chat_id)})
    if not isinstance(value, (dict, BaseException)):
        return ApiError("GREEN-API's checkWhatsapp answer is not a JSON object", status=200)
    return value


def get_contact_info(endpoint: Endpoint, chat_id) -> Flow:
    value = yield from read(endpoint, GET_CONTACT_INFO, "POST", {"chatId": str(chat_id)})
    if not isinstance(value, (dict, BaseException)):
        return ApiError("GREEN-API's getContactInfo answer is not a JSON object", status=200)
    return value


def get_state_instance(endpoint: Endpoint) -> Flow:
    value = yield from read(endpoint, GET_STATE_INSTANCE, "GET")
    if isinstance(value, BaseException):
        return value
    state = value.get("stateInstance") if isinstance(value, dict) else None
    if not isinstance(state, str):
        return ApiError("GREEN-API's getStateInstance answer has no stateInstance", status=200)
    return endpoint.clean(state, 60)


def settled_state(endpoint: Endpoint) -> Flow:
    """getStateInstance, asked again (paced, ``Waits.restart_poll`` apart) while it says "starting", for at
    most ``Waits.restart``, each wait shown as a ``Waiting`` of RESTART: the state, ``InstanceStarting`` when
    it is still starting then, or the error."""
    began: float | None = None
    while True:
        state = yield from get_state_instance(endpoint)
        if state != STARTING_STATE:
            return state
        now = yield Waiting(RESTART, began, endpoint.waits.restart)
        began = now if began is None else began
        if now - began >= endpoint.waits.restart:
            from greenapi_excel import texts

            return InstanceStarting(texts.still_restarting(now - began))
        if (yield Sleep(endpoint.waits.restart_poll, cancellable=True)):
            return Stopped("stopped while waiting for the instance to restart")


def get_settings(endpoint: Endpoint) -> Flow:
    value = yield from read(endpoint, GET_SETTINGS, "GET")
    if not isinstance(value, (dict, BaseException)):
        return ApiError("GREEN-API's getSettings answer is not a JSON object", status=200)
    return value


def set_settings(endpoint: Endpoint, settings: dict) -> Flow:
    value = yield from read(endpoint, SET_SETTINGS, "POST", dict(settings))
    if isinstance(value, BaseException):
        return value
    if not isinstance(value, dict) or value.get("saveSettings") is not True:
        return ApiError("GREEN-API did not confirm setSettings (no saveSettings: true)", status=200)
    return value


def journal(endpoint: Endpoint, method: str, minutes: int) -> Flow:
    """lastIncomingMessages / lastOutgoingMessages of the last ``minutes``: the messages (dicts)."""
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1:
        return ConfigError("minutes must be a whole number of at least 1")
    value = yield from read(endpoint, method, "GET", params={"minutes": minutes})
    if isinstance(value, BaseException):
        return value
    if not isinstance(value, list):
        return ApiError(f"GREEN-API's {method} answer is not a list of messages", status=200)
    return [message for message in value if isinstance(message, dict)]


def json_or_nothing(text: str):
    """(value, True) for JSON text, (None, False) otherwise; never raises."""
    try:
        return json.loads(text), True
    except ValueError:
        return None, False


def is_starting(text: str) -> bool:
    """The 400 of an instance that is restarting (docs: common errors)."""
    return STARTING_TEXT in text.lower()


def outcome_of_400(text: str) -> str:
    lowered = text.lower()
    if "already archive=" in lowered:
        return "already"
    if "last message not found" in lowered or "cannot archive" in lowered or "cannot unarchive" in lowered:
        return "no_messages"
    if "not found" in lowered:
        return "not_found"
    return "rejected"


def _quota_explanation(text: str, endpoint: Endpoint) -> str:
    """GREEN-API's own words from a 466 body (invokeStatus / correspondentsStatus), cleaned."""
    body, _parsed = json_or_nothing(text)
    parts = []
    if isinstance(body, dict):
        for key in ("invokeStatus", "correspondentsStatus"):
            status = body.get(key)
            if not isinstance(status, dict):
                continue
            description = status.get("description") or status.get("status") or ""
            used, total = status.get("used"), status.get("total")
            counts = f" (used {used} of {total})" if used is not None and total is not None else ""
            if description or counts:
                parts.append(f"{description}{counts}")
    explanation = "; ".join(str(p) for p in parts) or text or "the instance's quota is used up"
    return endpoint.clean(explanation)

"""GREEN-API HTTP client: one pooled session, paced calls, retries, and errors that never carry the token.

Every request goes to ``{apiUrl}/waInstance{idInstance}/{method}/{apiTokenInstance}``: the token is
in the URL, so ``requests``/``urllib3`` exceptions (which quote the URL) are translated at this edge
into ``errors.*`` with redacted text, built where they happen and raised outside any ``except``
block from a frame without the URL: no error chain or traceback frame leads back to the token.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import random
import re
import threading
import time
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from greenapi_excel import pacing
from greenapi_excel.results import cell_text
from greenapi_excel.i18n import _, ngettext
from greenapi_excel.errors import (
    ApiError,
    AuthError,
    ConfigError,
    ConnectionFailed,
    InstanceError,
    OutcomeUnknown,
    QuotaExceeded,
    RetriesExhausted,
    Stopped,
)

log = logging.getLogger("greenapi_excel")

REDACTED = "***"

ARCHIVE = "archiveChat"
UNARCHIVE = "unarchiveChat"
GET_CHATS = "getChats"
GET_CONTACT_INFO = "getContactInfo"
GET_STATE_INSTANCE = "getStateInstance"
GET_SETTINGS = "getSettings"
SET_SETTINGS = "setSettings"
LAST_INCOMING = "lastIncomingMessages"
LAST_OUTGOING = "lastOutgoingMessages"

RETRY_STATUSES = {429, 499, 500, 502, 503, 504}
CONNECT_TRIES = 3                 # a refused or unresolvable address rarely heals within seconds
MAX_ANSWER_BYTES = 64 * 1024      # archive/unarchive answers are a line of text
MAX_READ_BYTES = 64 * 1024 * 1024  # getChats of a large account

# Any GREEN-API style URL, whatever token it carries (a hostile server may echo another one).
_TOKEN_IN_URL = re.compile(r"(/waInstance[^/\s]*/[A-Za-z]+/)[^\s/?#\"'<>]+")
_SPACES = re.compile(r"\s+")
# A long run of letters and digits in a host name: the shape of an apiTokenInstance pasted there.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9]{32,}")


# --- texts -------------------------------------------------------------------------------------------

def redact(text: str, token: str) -> str:
    """``text`` with the token (as written, or URL-quoted) and any token-like URL segment replaced by ***."""
    text = str(text)
    if token:
        text = text.replace(token, REDACTED)
        quoted = quote(token, safe="")
        if quoted != token:
            text = text.replace(quoted, REDACTED)
    return _TOKEN_IN_URL.sub(lambda m: m.group(1) + REDACTED, text)


def clean_text(text: str, limit: int = 300) -> str:
    """One plain line: control and invisible characters out, whitespace folded, shortened to ``limit``.

    A leading = + - @ is dropped too: these texts end up in cells, where Excel would read a formula.
    """
    # The cell rule (results.cell_text) first: these texts end up in cells, alerts and the journal.
    text = cell_text(text, 1 << 30)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text) if not text.isascii() else text
    text = _SPACES.sub(" ", text).strip()
    text = text.lstrip("=+-@ \t")
    if len(text) > limit:
        text = text[: max(limit - 1, 0)].rstrip() + "…"
    return text


def _safe(text: object, token: str, limit: int = 300) -> str:
    # Redact before and after cleaning: cleaning may join a split token, cutting may split one.
    return clean_text(redact(redact(str(text), token), token), limit)


# --- configuration --------------------------------------------------------------------------------

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
        return "", "the apiUrl is empty: copy it from the GREEN-API console (https://....api.green-api.com)"
    text = url.strip()
    parts = host = None
    try:
        parts = urlsplit(text)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = None
    if parts is None:
        return "", "the apiUrl is not a valid address: copy it from the GREEN-API console"
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not host or any(c.isspace() for c in text):
        return "", "the apiUrl must look like https://1101.api.green-api.com: copy it from the GREEN-API console"
    if parts.username or parts.password or parts.query or parts.fragment:
        return "", "the apiUrl must be just the address (https://host), without a login, ? or #"
    if "/waInstance" in parts.path:
        return "", "the apiUrl is only the address (https://host): the idInstance and token are set apart"
    if scheme == "http" and not _is_loopback(host):
        shown = clean_text(_TOKEN_SHAPE.sub(REDACTED, host), 80)
        return "", f"the apiUrl must use https (plain http to {shown} would expose the token)"
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}", None


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


@dataclass(frozen=True)
class ChatCallResult:
    """Outcome of archive_chat / unarchive_chat after retries."""

    outcome: str            # "done" | "already" | "not_found" | "no_messages" | "rejected"
    http_status: int        # the final answer's status
    text: str               # the final answer's text, redacted and cleaned ("" on success)
    attempts: int
    uncertain_attempts: int  # earlier attempts whose outcome was unknown (timeout, drop, 5xx/499)


@dataclass(frozen=True)
class _Answer:
    """One HTTP answer as the client keeps it: the body already decoded and redacted, the headers
    redacted and looked up without regard to case (``retry-after`` is ``Retry-After``)."""

    status: int
    text: str
    headers: CaseInsensitiveDict


class _Ambiguous(Exception):
    """An attempt that may have reached the server, with no answer (internal)."""


class _NeverSent(Exception):
    """An attempt that certainly never reached the server (internal); ``hopeless``: retrying cannot help."""

    def __init__(self, message: str, *, hopeless: bool = False):
        super().__init__(message)
        self.hopeless = hopeless


def _chain(error: BaseException):
    """The exception, its args that are exceptions, urllib3's ``reason`` and the cause chain."""
    seen, todo = set(), [error]
    while todo:
        item = todo.pop()
        if id(item) in seen or not isinstance(item, BaseException):
            continue
        seen.add(id(item))
        yield item
        todo.extend(a for a in getattr(item, "args", ()) if isinstance(a, BaseException))
        todo.extend(x for x in (getattr(item, "reason", None), item.__cause__, item.__context__) if x is not None)


def _never_left(error: BaseException) -> bool:
    return any(isinstance(e, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError,
                              ConnectionRefusedError, urllib3.exceptions.ProxyError))
               for e in _chain(error))


# Why an attempt failed, in words for exceptions.
_WHY = {
    429: "GREEN-API said too many requests (HTTP 429)",
    499: "the request was cut off before GREEN-API answered (HTTP 499)",
    500: "GREEN-API had an internal error (HTTP 500)",
    502: "GREEN-API's gateway failed (HTTP 502)",
    503: "GREEN-API is unavailable (HTTP 503)",
    504: "GREEN-API's gateway timed out (HTTP 504)",
}


class GreenApiClient:
    """Thread-safe: one pooled session serves every thread; pacing is shared per instance and method."""

    def __init__(self, credentials: Credentials, *, timeout=(5.0, 30.0), max_attempts: int = 5,
                 rate: float = pacing.DEFAULT_RATE, read_rate: float = pacing.DEFAULT_READ_RATE,
                 pool_size: int = 32, session: requests.Session | None = None,
                 backoff_base: float = 0.5, backoff_cap: float = 20.0):
        self.credentials = credentials
        self.api_url = check_api_url(credentials.api_url)
        self._token = str(credentials.api_token or "")
        instance = str(credentials.id_instance or "").strip()
        if not instance.isascii() or not instance.isdigit():
            raise ConfigError(_("the idInstance must be digits only, as shown in the GREEN-API console"))
        if not self._token.strip() or any(c in self._token for c in "/?#%") or not self._token.isprintable() \
                or any(c.isspace() for c in self._token):
            raise ConfigError(_("the apiTokenInstance is empty or has characters a token never has: copy it again"))
        self.id_instance = instance
        self.timeout = _checked_timeout(timeout)
        if max_attempts < 1:
            raise ConfigError("max_attempts must be at least 1")
        self.max_attempts = int(max_attempts)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._rates = {ARCHIVE: rate, UNARCHIVE: rate}
        self._read_rate = read_rate
        for method in (ARCHIVE, UNARCHIVE, GET_CHATS, GET_CONTACT_INFO, GET_STATE_INSTANCE):
            self._pacer(method)  # validate the rates now, and set the shared pacers' limits
        self._random = random.Random()
        self._random_lock = threading.Lock()
        if session is None:
            session = requests.Session()
            # Retries are ours (they must know what is safe to repeat): urllib3's are off.
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self._session = session
        # Set by a run that can be told to stop (bulk.run's ``cancel``): a first try not yet sent leaves
        # its pacing slot at once and raises Stopped; a retry of a call already sent still goes out.
        self.cancel: threading.Event | None = None

    def __repr__(self) -> str:
        # Also for a client whose __init__ refused its settings (a traceback's frames show it half made).
        api_url, instance = getattr(self, "api_url", "?"), getattr(self, "id_instance", "?")
        return f"GreenApiClient(api_url={api_url!r}, id_instance={instance!r}, api_token='{REDACTED}')"

    # --- public calls ------------------------------------------------------------------------------

    def archive_chat(self, chat_id) -> ChatCallResult:
        return self._change(ARCHIVE, chat_id)

    def unarchive_chat(self, chat_id) -> ChatCallResult:
        return self._change(UNARCHIVE, chat_id)

    def get_chats(self) -> list[dict]:
        value = self._read(GET_CHATS, "GET")
        if not isinstance(value, list):
            raise ApiError("GREEN-API's getChats answer is not a list of chats", status=200)
        return value

    def get_contact_info(self, chat_id) -> dict:
        value = self._read(GET_CONTACT_INFO, "POST", {"chatId": str(chat_id)})
        if not isinstance(value, dict):
            raise ApiError("GREEN-API's getContactInfo answer is not a JSON object", status=200)
        return value

    def get_state_instance(self) -> str:
        value = self._read(GET_STATE_INSTANCE, "GET")
        state = value.get("stateInstance") if isinstance(value, dict) else None
        if not isinstance(state, str):
            raise ApiError("GREEN-API's getStateInstance answer has no stateInstance", status=200)
        return clean_text(redact(state, self._token), 60)

    def get_settings(self) -> dict:
        """The instance's settings (getSettings), e.g. ``{"incomingWebhook": "yes", ...}``."""
        value = self._read(GET_SETTINGS, "GET")
        if not isinstance(value, dict):
            raise ApiError("GREEN-API's getSettings answer is not a JSON object", status=200)
        return value

    def set_settings(self, settings: dict) -> dict:
        """setSettings with only the given fields; GREEN-API applies them within 5 minutes.

        Repeating it is harmless (it sets, it does not toggle), so it is retried like a read.
        """
        value = self._read(SET_SETTINGS, "POST", dict(settings))
        if not isinstance(value, dict) or value.get("saveSettings") is not True:
            raise ApiError("GREEN-API did not confirm setSettings (no saveSettings: true)", status=200)
        return value

    def last_incoming_messages(self, minutes: int = 1440) -> list[dict]:
        """The journal of incoming messages of the last ``minutes`` (lastIncomingMessages), all chats at once."""
        return self._journal(LAST_INCOMING, minutes)

    def last_outgoing_messages(self, minutes: int = 1440) -> list[dict]:
        """The journal of outgoing messages of the last ``minutes`` (lastOutgoingMessages), all chats at once."""
        return self._journal(LAST_OUTGOING, minutes)

    def _journal(self, method: str, minutes: int) -> list[dict]:
        if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1:
            raise ConfigError("minutes must be a whole number of at least 1")
        value = self._read(method, "GET", params={"minutes": minutes})
        if not isinstance(value, list):
            raise ApiError(f"GREEN-API's {method} answer is not a list of messages", status=200)
        return [message for message in value if isinstance(message, dict)]

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "GreenApiClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- the work ----------------------------------------------------------------------------------

    def display_url(self, method: str) -> str:
        """The URL as texts show it: ``.../archiveChat/***``."""
        return f".../{method}/{REDACTED}"

    def _pacer(self, method: str) -> pacing.Pacer:
        rate = self._rates.get(method, self._read_rate)
        if not (isinstance(rate, (int, float)) and rate > 0):
            raise ConfigError(f"the rate for {method} must be a positive number of calls a second")
        return pacing.pacer_for(self.api_url, self.id_instance, method, rate)

    def _change(self, method: str, chat_id) -> ChatCallResult:
        if not isinstance(chat_id, str) or not chat_id.strip():
            return ChatCallResult("rejected", 0, "the chat ID must be text such as 79001234567@c.us", 0, 0)
        status, text, attempts, uncertain = self._send(method, "POST", {"chatId": chat_id}, state_changing=True)
        text = _safe(text, self._token)
        if 200 <= status < 300:
            return ChatCallResult("done", status, "", attempts, uncertain)
        if status == 400:
            return ChatCallResult(_outcome_of_400(text), 400, text, attempts, uncertain)
        raise ApiError(f"GREEN-API answered HTTP {status} to {self.display_url(method)}"
                       + (f": {text}" if text else ""), status=status, text=text)

    def _read(self, method: str, verb: str, body: dict | None = None, *, params: dict | None = None):
        status, text, _attempts, _uncertain = self._send(method, verb, body, state_changing=False, params=params)
        if not 200 <= status < 300:
            shown = _safe(text, self._token)
            raise ApiError(f"GREEN-API answered HTTP {status} to {self.display_url(method)}"
                           + (f": {shown}" if shown else ""), status=status, text=shown)
        value, readable = _json_or_nothing(text)
        if not readable:
            # Raised here, outside any except block: the JSON error (which quotes the text) is not chained.
            raise ApiError(f"GREEN-API's {method} answer is not JSON", status=status, text=_safe(text, self._token))
        return value

    def _send(self, method: str, verb: str, body: dict | None, *, state_changing: bool,
              params: dict | None = None):
        """Paced tries until an answer that is final; returns (status, redacted text, attempts, uncertain).

        Every error is built by ``_tries`` and raised here, in a frame that holds neither the URL nor
        a raw answer, outside any ``except`` block: nothing chained to it, nothing in its frames,
        can carry the token.
        """
        outcome = self._tries(method, verb, body, state_changing, params)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _tries(self, method: str, verb: str, body: dict | None, state_changing: bool, params: dict | None = None):
        """(status, text, attempts, uncertain_attempts) of the final answer, or the ApiError to raise."""
        shown_url = self.display_url(method)
        pacer = self._pacer(method)
        limit = MAX_ANSWER_BYTES if state_changing else MAX_READ_BYTES
        attempts = uncertain = connect_failures = 0
        last_problem, last_ambiguous, last_status = "", False, None
        while True:
            attempts += 1
            started = time.monotonic()
            # Only a first try can be called off: a retry repeats a call that may already have arrived.
            answer = self._attempt(method, verb, body, pacer, limit, params,
                                   cancel=self.cancel if attempts == 1 else None)
            if isinstance(answer, (ConfigError, Stopped)):
                return answer
            if isinstance(answer, _NeverSent):
                connect_failures += 1
                last_problem, last_ambiguous, last_status = str(answer), False, None
                log.info("%s %s: %s (attempt %d)", verb, shown_url, last_problem, attempts)
                if connect_failures >= CONNECT_TRIES or attempts >= self.max_attempts or answer.hopeless:
                    if state_changing and uncertain:
                        break
                    return ConnectionFailed(_("could not reach GREEN-API at {host}: {problem}").format(
                        host=self._host(), problem=last_problem))
                self._backoff(attempts)
                continue
            if isinstance(answer, _Ambiguous):
                last_problem, last_ambiguous, last_status = str(answer), True, None
                uncertain += 1 if state_changing else 0
                log.info("%s %s: %s (attempt %d)", verb, shown_url, last_problem, attempts)
                if attempts >= self.max_attempts:
                    break
                self._backoff(attempts)
                continue
            elapsed_ms = (time.monotonic() - started) * 1000
            log.debug("%s %s -> %d in %.0f ms (attempt %d)", verb, shown_url, answer.status, elapsed_ms, attempts)
            status = answer.status
            # 401 / 403 / 466 stop a run; after an ambiguous attempt they say nothing about that attempt,
            # so the error carries the count: the caller must settle the outcome or call it unknown.
            if status == 401:
                return AuthError(_("GREEN-API refused the apiTokenInstance (HTTP 401) for {url}: check the token in "
                                   "the GREEN-API console").format(url=shown_url), status=401,
                                 text=_safe(answer.text, self._token), uncertain_attempts=uncertain)
            if status == 403:
                return InstanceError(_("GREEN-API refused the idInstance or apiUrl (HTTP 403) for {url}: check both "
                                       "in the GREEN-API console").format(url=shown_url), status=403,
                                     text=_safe(answer.text, self._token), uncertain_attempts=uncertain)
            if status == 466:
                return QuotaExceeded(_("GREEN-API quota exceeded: {explanation}").format(
                                         explanation=_quota_explanation(answer.text, self._token)),
                                     status=466, text=_safe(answer.text, self._token), uncertain_attempts=uncertain)
            if status not in RETRY_STATUSES:
                pacer.succeeded()
                if state_changing and uncertain and status >= 300 and status != 400:
                    # An unusual final answer after ambiguous tries: the first may still have worked.
                    last_problem, last_ambiguous, last_status = f"HTTP {status}", True, status
                    break
                return status, answer.text, attempts, uncertain
            last_status = status
            last_problem = _WHY.get(status, f"HTTP {status}")
            retry_after = answer.headers.get("Retry-After")
            if status == 429:
                pacer.throttled(pacing.parse_retry_after(retry_after))
                last_ambiguous = False
            else:
                last_ambiguous = True
                uncertain += 1 if state_changing else 0
            log.info("%s %s -> %d (attempt %d of %d)", verb, shown_url, status, attempts, self.max_attempts)
            if attempts >= self.max_attempts:
                break
            if status != 429 or retry_after is None:
                self._backoff(attempts)

        tried = ngettext("{n} attempt", "{n} attempts", attempts).format(n=attempts)
        if state_changing and (last_ambiguous or uncertain):
            return OutcomeUnknown(
                _("no clear answer from GREEN-API to {url} after {tried} ({problem}); the change may or may not have "
                  "been made").format(url=shown_url, tried=tried, problem=last_problem),
                status=last_status, text=last_problem,
                uncertain_attempts=uncertain)
        return RetriesExhausted(_("GREEN-API did not answer {url} usefully after {tried} ({problem})").format(
                                    url=shown_url, tried=tried, problem=last_problem),
                                status=last_status, text=last_problem)

    def _attempt(self, method: str, verb: str, body: dict | None, pacer, limit: int, params: dict | None = None,
                 cancel: threading.Event | None = None):
        """One paced HTTP request: an _Answer, or the _NeverSent / _Ambiguous / ConfigError it came to.

        Problems are returned, not raised: the URL (and so the token) lives only in this frame and in
        requests' objects, and both are gone once this returns.
        """
        prepared = self._prepare(verb, method, body, params)
        if isinstance(prepared, ConfigError):
            return prepared
        request, options = prepared
        # Built before the pacer lets us go, so that the call leaves as close to its slot as it can.
        pacer.wait(cancel)
        if cancel is not None and cancel.is_set():   # the run was stopped while this call waited: never sent
            return Stopped(f"stopped before {self.display_url(method)} was sent")
        problem = None
        response = None
        try:
            response = self._session.send(request, **options)
        except requests.exceptions.SSLError as error:
            if _failed_while_reading(error):   # the request had arrived: whatever it did is unknown
                problem = _Ambiguous(f"TLS failed while the answer was read ({_safe(_tls_reason(error), self._token, 120)})")
            else:
                problem = _NeverSent(f"TLS failed ({_safe(_tls_reason(error), self._token, 120)})", hopeless=True)
        except requests.exceptions.ConnectTimeout:
            problem = _NeverSent("connecting timed out")
        except requests.exceptions.ReadTimeout:
            problem = _Ambiguous(f"no answer within {self.timeout[1]:g} s")
        except requests.exceptions.ConnectionError as error:
            problem = self._never_sent(error) if _never_left(error) else \
                _Ambiguous("the connection dropped before the answer")
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
            problem = _Ambiguous("the answer was cut off")
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidHeader,
                requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema, UnicodeError, ValueError):
            problem = ConfigError("the apiUrl, idInstance or token cannot form a valid address")
        except requests.exceptions.RequestException as error:
            problem = _Ambiguous(f"the request failed ({type(error).__name__})")
        del request, prepared
        if problem is not None:
            return problem
        # The request has been answered: anything that breaks from here on broke after it arrived.
        try:
            data = bytearray()
            for chunk in response.iter_content(16384):
                data += chunk
                if len(data) > limit:
                    del data[limit:]
                    break
            status, raw_headers = response.status_code, response.headers
        except requests.exceptions.SSLError as error:
            problem = _Ambiguous(f"TLS failed while the answer was read ({_safe(_tls_reason(error), self._token, 120)})")
        except (requests.exceptions.RequestException, OSError, ValueError) as error:
            problem = _Ambiguous(f"the answer was cut off ({type(error).__name__})")
        finally:
            response.close()
        del response
        if problem is not None:
            return problem
        token = self._token
        headers = CaseInsensitiveDict({name: redact(value, token) for name, value in raw_headers.items()})
        return _Answer(status, redact(bytes(data).decode("utf-8", "replace"), token), headers)

    def _prepare(self, verb: str, method: str, body: dict | None, params: dict | None = None):
        """(prepared request, send options) as Session.request would build them (proxies, CA bundle from
        the environment), or a ConfigError to return. The only place the URL with the token is formed."""
        problem = None
        try:
            prepared = self._session.prepare_request(requests.Request(
                verb, f"{self.api_url}/waInstance{self.id_instance}/{method}/{self._token}", json=body,
                params=params))
            options = self._session.merge_environment_settings(prepared.url, {}, True, None, None)
        except (requests.exceptions.RequestException, UnicodeError, ValueError):
            problem = ConfigError("the apiUrl, idInstance or token cannot form a valid address")
        if problem is not None:
            return problem
        options.update(timeout=self.timeout, allow_redirects=False)
        return prepared, options

    def _never_sent(self, error: BaseException) -> _NeverSent:
        for item in _chain(error):
            if isinstance(item, getattr(urllib3.exceptions, "NameResolutionError", ())):
                return _NeverSent("the name does not resolve (DNS)")
        if any(isinstance(e, ConnectionRefusedError) for e in _chain(error)) or "refused" in str(error).lower():
            return _NeverSent("the connection was refused")
        if any(isinstance(e, urllib3.exceptions.ConnectTimeoutError) and
               not isinstance(e, urllib3.exceptions.NewConnectionError) for e in _chain(error)):
            return _NeverSent("connecting timed out")
        if "resolution" in str(error).lower() or "name or service" in str(error).lower():
            return _NeverSent("the name does not resolve (DNS)")
        return _NeverSent("could not connect")

    def _backoff(self, attempts: int) -> None:
        """Exponential backoff with full jitter, so that many threads do not retry in step."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (attempts - 1)))
        with self._random_lock:
            delay = self._random.uniform(0, ceiling)
        if delay > 0:
            time.sleep(delay)

    def _host(self) -> str:
        return clean_text(urlsplit(self.api_url).netloc, 120)


def _failed_while_reading(error: BaseException) -> bool:
    """True when a TLS error struck after the request was written: while the status line and headers
    were read (``getresponse``), not during the handshake. Told apart by where it was raised."""
    for item in _chain(error):
        tb = item.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_name in ("getresponse", "_read_status", "begin"):
                return True
            tb = tb.tb_next
    return False


def _checked_timeout(timeout) -> tuple[float, float]:
    """(connect, read) seconds, both finite and above 0; ConfigError otherwise."""
    pair = (timeout, timeout) if isinstance(timeout, (int, float)) else tuple(timeout)
    try:
        connect, read = (float(x) for x in pair)
    except (TypeError, ValueError):
        connect = read = float("nan")
    if not (0 < connect < float("inf") and 0 < read < float("inf")):
        raise ConfigError(_("the timeout must be a number of seconds above 0, such as 30"))
    return connect, read


def _json_or_nothing(text: str):
    """(value, True) for JSON text, (None, False) otherwise; never raises."""
    try:
        return json.loads(text), True
    except ValueError:
        return None, False


def _tls_reason(error: BaseException) -> str:
    for item in _chain(error):
        reason = getattr(item, "reason", None)
        if isinstance(reason, str) and reason:
            return reason.replace("_", " ").lower()
        if getattr(item, "verify_message", None):
            return str(item.verify_message)
    return "handshake or certificate problem"


def _outcome_of_400(text: str) -> str:
    lowered = text.lower()
    if "already archive=" in lowered:
        return "already"
    if "last message not found" in lowered or "cannot archive" in lowered or "cannot unarchive" in lowered:
        return "no_messages"
    if "not found" in lowered:
        return "not_found"
    return "rejected"


def _quota_explanation(text: str, token: str) -> str:
    """GREEN-API's own words from a 466 body (invokeStatus / correspondentsStatus), cleaned."""
    body, _parsed = _json_or_nothing(text)
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
    return _safe(explanation, token)


class _RedactUrlsInLogs(logging.Filter):
    """urllib3 logs request lines (URL and token) at DEBUG: take the token out before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is urllib3's problem, not a reason to leak
            return True
        redacted = redact(message, "")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


for _name in ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry", "urllib3.response"):
    logging.getLogger(_name).addFilter(_RedactUrlsInLogs())

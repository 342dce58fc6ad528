"""GREEN-API over ``requests``, on the calling thread: the threads driver of ``calls``' flows.

``calls`` decides everything about a request (what to send, how to read the answer, when to retry);
this module carries its effects out: a pooled ``requests`` session sends (``RequestsTransport``), the
shared pacer spaces the calls, ``time.sleep`` backs off. Every ``requests``/``urllib3`` exception is
turned into a plain ``transport`` outcome where it happens: it quotes the URL, and the URL holds the
token. Errors are raised by ``_drive``, outside any ``except`` block, from a frame that no longer holds
the request: no error chain or traceback frame leads back to the token.
"""

from __future__ import annotations

import logging
import threading
import time

import requests
import urllib3
from requests.adapters import HTTPAdapter

from greenapi_excel import calls, pacing
from greenapi_excel.calls import (  # noqa: F401 - the client's public names
    GET_CHATS, GET_CONTACT_INFO, GET_SETTINGS, GET_STATE_INSTANCE, LAST_INCOMING, LAST_OUTGOING, SET_SETTINGS,
    ChatCallResult, Credentials, check_api_url,
)
from greenapi_excel.methods import ARCHIVE, UNARCHIVE
from greenapi_excel.results import REDACTED, redact
from greenapi_excel.transport import Ambiguous, BadAddress, HttpReply, HttpRequest, NeverSent, Outcome

log = logging.getLogger("greenapi_excel")


class RequestsTransport:
    """Sends one ``HttpRequest`` through a pooled ``requests`` session and says what came of it.

    Proxies and the CA bundle come from the environment as ``Session.request`` would take them; TLS
    certificates are always verified; redirects are never followed (a redirect would carry the token
    elsewhere).
    """

    def __init__(self, pool_size: int = 32, session: requests.Session | None = None):
        if session is None:
            session = requests.Session()
            # Retries are the flows' (they must know what is safe to repeat): urllib3's are off.
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self._session = session

    def close(self) -> None:
        self._session.close()

    def send(self, request: HttpRequest) -> Outcome:
        """The answer, or why there is none. Problems are returned, not raised: the URL (and so the
        token) lives only in this frame and in requests' objects, and both are gone once this returns."""
        prepared = self._prepare(request)
        if prepared is None:
            return BadAddress()
        sendable, options = prepared
        problem = None
        response = None
        try:
            response = self._session.send(sendable, **options)
        except requests.exceptions.SSLError as error:
            if _failed_while_reading(error):   # the request had arrived: whatever it did is unknown
                problem = Ambiguous(f"TLS failed while the answer was read ({_tls_reason(error)})")
            else:
                problem = NeverSent(f"TLS failed ({_tls_reason(error)})", hopeless=True)
        except requests.exceptions.ConnectTimeout:
            problem = NeverSent("connecting timed out")
        except requests.exceptions.ReadTimeout:
            problem = Ambiguous(f"no answer within {request.timeout[1]:g} s")
        except requests.exceptions.ConnectionError as error:
            problem = _never_sent(error) if _never_left(error) else Ambiguous("the connection dropped before the answer")
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
            problem = Ambiguous("the answer was cut off")
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidHeader,
                requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema, UnicodeError, ValueError):
            problem = BadAddress()
        except requests.exceptions.RequestException as error:
            problem = Ambiguous(f"the request failed ({type(error).__name__})")
        del sendable, prepared
        if problem is not None:
            return problem
        # The request has been answered: anything that breaks from here on broke after it arrived.
        try:
            data = bytearray()
            for chunk in response.iter_content(16384):
                data += chunk
                if len(data) > request.limit:
                    del data[request.limit:]
                    break
            status, headers = response.status_code, {k.lower(): v for k, v in response.headers.items()}
        except requests.exceptions.SSLError as error:
            problem = Ambiguous(f"TLS failed while the answer was read ({_tls_reason(error)})")
        except (requests.exceptions.RequestException, OSError, ValueError) as error:
            problem = Ambiguous(f"the answer was cut off ({type(error).__name__})")
        finally:
            response.close()
        del response
        if problem is not None:
            return problem
        return HttpReply(status, bytes(data).decode("utf-8", "replace"), headers)

    def _prepare(self, request: HttpRequest):
        """(prepared request, send options) as Session.request would build them, or None."""
        prepared = None
        try:
            headers = {"Content-Type": "application/json"} if request.body is not None else {}
            prepared = self._session.prepare_request(requests.Request(
                request.verb, request.url, data=request.body, headers=headers))
            options = self._session.merge_environment_settings(prepared.url, {}, True, None, None)
        except (requests.exceptions.RequestException, UnicodeError, ValueError):
            prepared = None
        if prepared is None:
            return None
        options.update(timeout=request.timeout, allow_redirects=False)   # verify: True or the CA bundle set
        return prepared, options


class GreenApiClient:
    """Thread-safe: one pooled session serves every thread; pacing is shared per instance and method
    (and, through ``pacing.SharedSlots``, by every process of this user)."""

    def __init__(self, credentials: Credentials, *, timeout=(5.0, 30.0), max_attempts: int = 5,
                 rate: float = pacing.DEFAULT_RATE, read_rate: float = pacing.DEFAULT_READ_RATE,
                 pool_size: int = 32, session: requests.Session | None = None,
                 backoff_base: float = 0.5, backoff_cap: float = 20.0, waits: calls.Waits | None = None):
        self.credentials = credentials
        self.endpoint = calls.Endpoint(credentials, timeout=timeout, max_attempts=max_attempts,
                                       backoff_base=backoff_base, backoff_cap=backoff_cap, waits=waits)
        self.api_url, self.id_instance, self.timeout = self.endpoint.api_url, self.endpoint.id_instance, \
            self.endpoint.timeout
        self._pacers = pacing.Pacers(self.api_url, self.id_instance, rate=rate, read_rate=read_rate)
        self._transport = RequestsTransport(pool_size, session)
        # Set by a run that can be told to stop (the run's ``cancel``): a first try not yet sent leaves
        # its pacing slot at once and comes back as Stopped; a retry of a call already sent still goes out.
        self.cancel: threading.Event | None = None
        # Told of each wait for GREEN-API (an instance restarting, getChats' refresh): (reason, waited, limit)
        # seconds; the edges show it in the progress line or the status bar.
        self.on_wait = None

    def __repr__(self) -> str:
        # Also for a client whose __init__ refused its settings (a traceback's frames show it half made).
        api_url, instance = getattr(self, "api_url", "?"), getattr(self, "id_instance", "?")
        return f"GreenApiClient(api_url={api_url!r}, id_instance={instance!r}, api_token='{REDACTED}')"

    # --- public calls ------------------------------------------------------------------------------

    def archive_chat(self, chat_id) -> ChatCallResult:
        return self.drive(calls.change(self.endpoint, ARCHIVE, chat_id))

    def unarchive_chat(self, chat_id) -> ChatCallResult:
        return self.drive(calls.change(self.endpoint, UNARCHIVE, chat_id))

    def get_chats(self) -> list[dict]:
        return self.drive(calls.get_chats(self.endpoint))

    def get_contact_info(self, chat_id) -> dict:
        return self.drive(calls.get_contact_info(self.endpoint, chat_id))

    def get_state_instance(self) -> str:
        return self.drive(calls.get_state_instance(self.endpoint))

    def check_whatsapp(self, chat_id: str) -> dict:
        """checkWhatsapp about a phone-number chat ID: ``{"existsWhatsapp": ..., "chatId": its @lid}``."""
        return self.drive(calls.check_whatsapp(self.endpoint, chat_id))

    def get_settings(self) -> dict:
        """The instance's settings (getSettings), e.g. ``{"incomingWebhook": "yes", ...}``."""
        return self.drive(calls.get_settings(self.endpoint))

    def set_settings(self, settings: dict) -> dict:
        """setSettings with only the given fields. Repeating it is harmless (it sets, it does not toggle),
        so it is retried like a read."""
        return self.drive(calls.set_settings(self.endpoint, settings))

    def last_incoming_messages(self, minutes: int = 1440) -> list[dict]:
        """The journal of incoming messages of the last ``minutes`` (lastIncomingMessages), all chats at once."""
        return self.drive(calls.journal(self.endpoint, LAST_INCOMING, minutes))

    def last_outgoing_messages(self, minutes: int = 1440) -> list[dict]:
        """The journal of outgoing messages of the last ``minutes`` (lastOutgoingMessages), all chats at once."""
        return self.drive(calls.journal(self.endpoint, LAST_OUTGOING, minutes))

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> "GreenApiClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def display_url(self, method: str) -> str:
        return calls.display_url(method)

    # --- the driver ---------------------------------------------------------------------------------

    def drive(self, flow):
        """Carry out ``flow``'s effects until it returns; raise what it returned if that is an error.

        Raised here, outside any ``except`` block, after the effect and its answer are gone: nothing
        chained to the error, nothing in this frame, holds the URL or a raw answer.
        """
        answer = None
        while True:
            try:
                effect = flow.send(answer)
            except StopIteration as finished:
                result = finished.value
                break
            answer = self.carry_out(effect)
        effect = answer = None
        del flow, effect, answer
        if isinstance(result, BaseException):
            raise result
        return result

    def carry_out(self, effect):
        """Carry out one effect of a ``calls`` flow on this thread; what it gave."""
        if isinstance(effect, calls.Send):
            return self._transport.send(effect.request)
        if isinstance(effect, calls.Pace):
            cancel = self.cancel if effect.cancellable else None
            self._pacers.of(effect.method).wait(cancel)
            return cancel is not None and cancel.is_set()
        if isinstance(effect, calls.Sleep):
            cancel = self.cancel if effect.cancellable else None
            if cancel is not None:
                return cancel.wait(max(0.0, effect.seconds))
            if effect.seconds > 0:
                time.sleep(effect.seconds)
            return False
        if isinstance(effect, calls.Waiting):
            now = time.monotonic()
            if self.on_wait is not None:
                self.on_wait(effect.reason, effect.waited(now), effect.limit)
            else:
                log.info("waiting for GREEN-API (%s): %.0f s of at most %.0f s", effect.reason,
                         effect.waited(now), effect.limit)
            return now
        if isinstance(effect, calls.Throttled):
            log.info("%s: HTTP 429, slowing down", calls.display_url(effect.method))
            self._pacers.of(effect.method).throttled(effect.retry_after)
            return None
        if isinstance(effect, calls.Recovered):
            self._pacers.of(effect.method).succeeded()
            return None
        raise TypeError(f"unknown effect {type(effect).__name__}")


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


def _never_sent(error: BaseException) -> NeverSent:
    for item in _chain(error):
        if isinstance(item, getattr(urllib3.exceptions, "NameResolutionError", ())):
            return NeverSent("the name does not resolve (DNS)")
    if any(isinstance(e, ConnectionRefusedError) for e in _chain(error)) or "refused" in str(error).lower():
        return NeverSent("the connection was refused")
    if any(isinstance(e, urllib3.exceptions.ConnectTimeoutError) and
           not isinstance(e, urllib3.exceptions.NewConnectionError) for e in _chain(error)):
        return NeverSent("connecting timed out")
    if "resolution" in str(error).lower() or "name or service" in str(error).lower():
        return NeverSent("the name does not resolve (DNS)")
    return NeverSent("could not connect")


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


def _tls_reason(error: BaseException) -> str:
    for item in _chain(error):
        reason = getattr(item, "reason", None)
        if isinstance(reason, str) and reason:
            return reason.replace("_", " ").lower()
        if getattr(item, "verify_message", None):
            return str(item.verify_message)
    return "handshake or certificate problem"


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

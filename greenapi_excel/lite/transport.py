"""One ``transport.HttpRequest`` sent with ``pyodide.http.pyfetch``: the network seam of the asyncio driver.

``await send(request)`` returns exactly one of ``HttpReply`` / ``NeverSent`` / ``Ambiguous`` and never
raises (``asyncio.CancelledError`` aside, which aborts the fetch). What a caller may rely on:

- Every request carries ``Content-Type: application/json``, also a GET without a body: a browser then
  preflights every call (OPTIONS), so a server that does not allow browsers refuses it before the call is
  sent, and the same rule holds for reads and changes.
- The whole exchange (connect, send, answer) is bounded by an ``AbortSignal`` that fires after
  ``connect + read`` seconds of ``request.timeout``. It needs no JSPI, so it works in every browser.
- A rejected fetch is ``Ambiguous``: a browser reports every failure the same way (``Failed to fetch``: a
  refused CORS preflight, no network, a connection cut after the request left), so a request that may
  have left is never called unsent. A timeout abort is ``Ambiguous`` too, and so is an answer cut off while
  it was read. Only a request that cannot be sent at all (not an http(s) URL) is ``NeverSent``.
- ``HttpReply.headers`` holds what the browser lets a page read: with CORS, only the safelisted headers
  and those the server exposes. A ``Retry-After`` the server does not expose is simply absent.
- At most ``request.limit`` bytes of the answer are read; the rest is cancelled.
- The URL carries the token: no outcome's text, and no exception, holds the URL or a message of the
  browser's (those can quote the URL).
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from greenapi_excel.transport import Ambiguous, HttpReply, HttpRequest, NeverSent, Outcome

JSON_HEADERS = {"Content-Type": "application/json"}


def _sendable(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _timeout_signal(milliseconds: int):
    """An AbortSignal that fires after ``milliseconds``: AbortSignal.timeout where the engine has it, else
    an AbortController and setTimeout (older WebKit)."""
    from js import AbortController, AbortSignal, setTimeout
    from pyodide.ffi import create_once_callable

    if hasattr(AbortSignal, "timeout"):
        return AbortSignal.timeout(milliseconds)
    controller = AbortController.new()
    setTimeout(create_once_callable(lambda: controller.abort()), milliseconds)
    return controller.signal


async def _read_text(response, limit: int) -> str:
    """At most ``limit`` bytes of the body, decoded as UTF-8 (undecodable bytes replaced)."""
    body = response.js_response.body
    if body is None:
        return ""
    reader = body.getReader()
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        part = await reader.read()
        if part.done:
            break
        data = part.value.to_bytes()
        chunks.append(data)
        size += len(data)
    else:
        await reader.cancel()   # the rest is not wanted: do not wait for it
    return b"".join(chunks)[:limit].decode("utf-8", errors="replace")


async def send(request: HttpRequest) -> Outcome:
    """Send ``request`` once; see the module's docstring for what each outcome means."""
    from pyodide.http import pyfetch

    if not _sendable(request.url):
        return NeverSent("the address is not an http or https URL", hopeless=True)
    seconds = sum(request.timeout)
    signal = _timeout_signal(max(1, round(seconds * 1000)))
    options = {"method": request.verb, "headers": JSON_HEADERS, "signal": signal,
               "redirect": "manual", "cache": "no-store", "credentials": "omit"}
    if request.body is not None:
        options["body"] = request.body.decode("utf-8")
    try:
        response = await pyfetch(request.url, **options)
    except asyncio.CancelledError:
        raise
    except Exception:   # pyodide's AbortError / OSError / JsException: their message may quote the URL
        if signal.aborted:
            return Ambiguous(f"no answer within {seconds:g} s")
        return Ambiguous("the browser could not complete the request (Failed to fetch: no network, the server "
                         "does not allow browser calls, or the connection was cut)")
    if response.type == "opaqueredirect":
        return Ambiguous("the server answered with a redirect, which is not followed")
    headers = {name.lower(): value for name, value in response.headers.items()}
    try:
        text = await _read_text(response, request.limit)
    except asyncio.CancelledError:
        raise
    except Exception:
        if signal.aborted:
            return Ambiguous(f"the answer did not arrive within {seconds:g} s")
        return Ambiguous("the connection was cut while the answer was read")
    return HttpReply(response.status, text, headers)

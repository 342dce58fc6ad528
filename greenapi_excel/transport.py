"""What a driver hands to the network and gets back: plain values, no I/O here.

The run's decisions (which request next, how to read an answer, when to retry) never touch a socket.
A driver turns an ``HttpRequest`` into one of three outcomes and hands it back:

- ``HttpReply``: the server answered (any status);
- ``NeverSent``: the request certainly did not reach the server (refused connection, DNS, a CORS
  preflight refused in a browser, a TLS handshake that failed): safe to repeat;
- ``Ambiguous``: it may have arrived and done its work (timeout after sending, dropped connection,
  cut-off answer, a browser's ``Failed to fetch`` after the request left).

Drivers: ``requests`` on threads (desktop, CLI), and ``pyodide.http.pyfetch`` on asyncio (xlwings Lite).
The URL carries the apiTokenInstance: a transport never logs it and never puts it in an outcome's text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class HttpRequest:
    verb: str                      # "GET" or "POST"
    url: str                       # holds the token: never shown
    body: bytes | None = None      # JSON, always sent as application/json (a browser preflights it)
    timeout: tuple[float, float] = (5.0, 30.0)   # (connect, read) seconds
    limit: int = 64 * 1024         # at most this many bytes of the answer are read

    def __repr__(self) -> str:     # a frame or a log line that shows a request never shows the token
        return f"HttpRequest({self.verb} .../***)"


@dataclass(frozen=True)
class HttpReply:
    status: int
    text: str                                                   # decoded, at most ``limit`` bytes of it
    headers: Mapping[str, str] = field(default_factory=dict)    # names lower-case


@dataclass(frozen=True)
class NeverSent:
    reason: str            # plain words, no URL
    hopeless: bool = False  # retrying cannot help (a TLS certificate problem, a refused CORS preflight)


@dataclass(frozen=True)
class Ambiguous:
    reason: str            # plain words, no URL


@dataclass(frozen=True)
class BadAddress:
    """The apiUrl, idInstance and token cannot form a request at all (nothing was sent)."""


Outcome = HttpReply | NeverSent | Ambiguous | BadAddress

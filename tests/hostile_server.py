"""A tiny loopback HTTP server that answers the way no honest GREEN-API would: for tests only.

``HostileServer(answer)`` calls ``answer(method, path, body)`` for every request and sends back the
``(status, headers, body)`` it returns; ``answer`` may return ``None`` to hang up without a reply, or
``SILENT`` to keep the connection open and say nothing until the server stops (a timeout).
It binds 127.0.0.1 only: these tests never contact anything but loopback.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

SILENT = object()

Answer = Callable[[str, str, bytes], object]


def gateway_method(path: str) -> str:
    """The GREEN-API method named in ``/waInstance{id}/{method}/{token}`` ('' when the path is other)."""
    parts = path.split("?")[0].split("/")
    return parts[2] if len(parts) >= 4 else ""


def playing(state: str = "authorized", **by_method) -> Answer:
    """An answer function: getStateInstance says ``state``; other methods answer from ``by_method``.

    Each value is ``(status, body)`` or ``(status, body, content_type)``, or a callable taking the
    full request URL and returning one of those (to echo the URL, token and all).
    """

    def answer(verb: str, path: str, body: bytes, *, url: str = ""):
        method = gateway_method(path)
        if method == "getStateInstance" and method not in by_method:
            return 200, {"Content-Type": "application/json"}, ('{"stateInstance": "%s"}' % state).encode()
        reply = by_method.get(method, (404, "Not Found"))
        if callable(reply):
            reply = reply(url)
        if reply is None or reply is SILENT:
            return reply
        status, text, *rest = reply
        content_type = rest[0] if rest else "text/plain; charset=utf-8"
        data = text if isinstance(text, bytes) else str(text).encode("utf-8", "surrogatepass")
        return status, {"Content-Type": content_type}, data

    answer.wants_url = True  # type: ignore[attr-defined]
    return answer


class HostileServer:
    """``with HostileServer(answer) as server:`` serves on ``server.url`` (http://127.0.0.1:PORT)."""

    def __init__(self, answer: Answer):
        self.answer = answer
        self.requests: list[tuple[str, str]] = []   # (verb, path): the paths carry the token
        self.request_headers: list[dict[str, str]] = []   # each request's headers, names lower-case
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def start(self) -> "HostileServer":
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.hostile = self  # type: ignore[attr-defined]
        server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> "HostileServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def calls(self, method: str) -> int:
        return sum(gateway_method(path) == method for _, path in self.requests)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # the path holds the token: never print it
        pass

    def _handle(self) -> None:
        hostile: HostileServer = self.server.hostile  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        hostile.requests.append((self.command, self.path))
        hostile.request_headers.append({name.lower(): value for name, value in self.headers.items()})
        if getattr(hostile.answer, "wants_url", False):
            url = f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"
            reply = hostile.answer(self.command, self.path, body, url=url)  # type: ignore[call-arg]
        else:
            reply = hostile.answer(self.command, self.path, body)
        if reply is SILENT:
            hostile._stopping.wait(60)
            self.close_connection = True
            return
        if reply is None:
            self.close_connection = True
            return
        status, headers, data = reply
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _handle

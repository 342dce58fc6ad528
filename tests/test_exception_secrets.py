"""No exception that leaves client.py can reach the apiTokenInstance: not its text or args, not its
``__cause__`` / ``__context__`` chain, not the locals of its traceback frames (as error reporters,
debuggers and ``traceback.TracebackException(capture_locals=True)`` see them). Every error path, over
real HTTP: the sandbox, tests/hostile_server.py, a dead port and a TLS server that breaks its reply."""

from __future__ import annotations

import functools
import socket
import traceback

import pytest

from greenapi_excel import errors, pacing
from greenapi_excel.client import Credentials, GreenApiClient

from hostile_server import SILENT, HostileServer, playing
from tls_server import BreakingTlsServer, make_certificate

TOKEN = "d75b3a66374942c5b3c019c698abc2067e151558acbd412584"
OTHER = "e86c4b77485053d6c4d02a7a9bcd3178f262669bdce523695"   # what a wrong-token client holds
FAST = dict(rate=1000, read_rate=1000, backoff_base=0.005, backoff_cap=0.01, timeout=(1.0, 1.0), max_attempts=2)
CHAT = "79001234567@c.us"


@pytest.fixture(autouse=True)
def fresh_pacers():
    pacing.forget_pacers()
    yield
    pacing.forget_pacers()


def reachable_texts(error: BaseException) -> list[str]:
    """Every text an error reporter could find from ``error``: str/repr/args of it and of everything in its
    chain, the attributes of each exception, the locals of every frame of every traceback (containers and
    requests' objects opened up), and the formatted TracebackException with captured locals."""
    texts: list[str] = []
    seen: set[int] = set()

    def visit(value, depth: int = 0) -> None:
        if value is None or id(value) in seen or depth > 8:
            return
        seen.add(id(value))
        if isinstance(value, (str, bytes, bytearray)):
            texts.append(value.decode("utf-8", "replace") if not isinstance(value, str) else value)
            return
        try:
            texts.append(repr(value))
        except Exception:  # noqa: BLE001 - a repr that fails hides nothing
            pass
        if isinstance(value, BaseException):
            texts.append(str(value))
            for item in value.args:
                visit(item, depth + 1)
            for item in vars(value).values():
                visit(item, depth + 1)
            visit(value.__cause__, depth + 1)
            visit(value.__context__, depth + 1)
            tb = value.__traceback__
            while tb is not None:
                for name, local in tb.tb_frame.f_locals.items():
                    visit(name, depth + 1)
                    visit(local, depth + 1)
                tb = tb.tb_next
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(key, depth + 1)
                visit(item, depth + 1)
        elif isinstance(value, (list, tuple, set, frozenset)):
            for item in value:
                visit(item, depth + 1)
        else:  # requests' PreparedRequest / Response and urllib3's objects keep the URL in attributes
            for attribute in ("url", "path", "body", "headers", "request", "reason", "args"):
                if hasattr(type(value), "__dict__") and attribute in getattr(value, "__dict__", {}):
                    visit(getattr(value, attribute, None), depth + 1)

    visit(error)
    texts.append("".join(traceback.TracebackException.from_exception(error, capture_locals=True).format()))
    return texts


def raised_by(action) -> BaseException:
    """The exception ``action`` raises, caught in a frame that holds no token of its own."""
    try:
        action()
    except Exception as error:  # noqa: BLE001
        return error
    raise AssertionError("no exception")


def assert_unreachable(error: BaseException, *tokens: str) -> None:
    for text in reachable_texts(error):
        for token in tokens:
            assert token not in text, f"{type(error).__name__} reaches the token: ...{text[max(0, text.find(token) - 120):text.find(token) + 60]}..."


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def echo(status: int):
    """A server whose every answer quotes the request URL (token and all) in its body and a header."""
    def answer(verb, path, body):
        url = f"http://127.0.0.1{path}"
        return status, {"Location": url, "X-Echo": url}, f"error at {url}".encode()
    return answer


def on(url: str, token: str = TOKEN, **options) -> GreenApiClient:
    return GreenApiClient(Credentials(url, "1101000001", token), **{**FAST, **options})


SANDBOX_PATHS = {
    # name: (client token, sandbox setup, call, expected error)
    "401": (OTHER, lambda sb: None, "archive_chat", errors.AuthError),
    "401 on a read": (OTHER, lambda sb: None, "get_chats", errors.AuthError),
    "403": (TOKEN, "wrong instance", "archive_chat", errors.InstanceError),
    "429 exhausted": (TOKEN, lambda sb: sb.inject("429", "429"), "archive_chat", errors.RetriesExhausted),
    "466": (TOKEN, lambda sb: setattr(sb, "quota", 0), "archive_chat", errors.QuotaExceeded),
    "466 after a lost reply": (TOKEN, lambda sb: (setattr(sb, "quota", sb._changes_done + 1),
                                                  sb.inject("applied_drop")), "archive_chat", errors.QuotaExceeded),
    "5xx on a change": (TOKEN, lambda sb: sb.inject("500", "502"), "archive_chat", errors.OutcomeUnknown),
    "5xx on a read": (TOKEN, lambda sb: sb.inject("500", "502", method="getChats"), "get_chats",
                      errors.RetriesExhausted),
    "dropped connections": (TOKEN, lambda sb: sb.inject("drop", "applied_drop"), "archive_chat",
                            errors.OutcomeUnknown),
    "dropped on a read": (TOKEN, lambda sb: sb.inject("drop", "drop", method="getContactInfo"),
                          "get_contact_info", errors.ApiError),
}


@pytest.mark.parametrize("name", list(SANDBOX_PATHS))
def test_sandbox_error_paths_keep_the_token_out_of_reach(make_sandbox, name):
    token, setup, call, expected = SANDBOX_PATHS[name]
    sandbox = make_sandbox(rps=1000, read_rps=1000, api_token=TOKEN)
    instance = sandbox.id_instance
    if setup == "wrong instance":
        instance = "1101999999"
    else:
        setup(sandbox)
    client = GreenApiClient(Credentials(sandbox.api_url, instance, token), **FAST)
    arguments = () if call == "get_chats" else (CHAT,)
    error = raised_by(lambda: getattr(client, call)(*arguments))
    assert isinstance(error, expected), repr(error)
    assert_unreachable(error, TOKEN, OTHER)


HOSTILE_PATHS = {
    "404 echoing the URL": (echo(404), "archive_chat", errors.ApiError),
    "500 echoing the URL on a read": (echo(500), "get_chats", errors.RetriesExhausted),
    "401 echoing the URL": (echo(401), "archive_chat", errors.AuthError),
    "403 echoing the URL": (echo(403), "get_state_instance", errors.InstanceError),
    "466 echoing the URL": (echo(466), "archive_chat", errors.QuotaExceeded),
    "429 echoing the URL": (echo(429), "archive_chat", errors.RetriesExhausted),
    "bad JSON echoing the URL": (playing(getChats=lambda url: (200, "<html>" + url)), "get_chats", errors.ApiError),
    "timeout": (lambda verb, path, body: SILENT, "archive_chat", errors.OutcomeUnknown),
    "timeout on a read": (lambda verb, path, body: SILENT, "get_state_instance", errors.ApiError),
    "hang-up": (lambda verb, path, body: None, "archive_chat", errors.OutcomeUnknown),
}


@pytest.mark.parametrize("name", list(HOSTILE_PATHS))
def test_hostile_error_paths_keep_the_token_out_of_reach(name):
    answer, call, expected = HOSTILE_PATHS[name]
    with HostileServer(answer) as server:
        client = on(server.url)
        arguments = (CHAT,) if call in ("archive_chat", "get_contact_info") else ()
        error = raised_by(lambda: getattr(client, call)(*arguments))
        assert any(TOKEN in path for _, path in server.requests)   # the server had the token to echo
    assert isinstance(error, expected), repr(error)
    assert_unreachable(error, TOKEN)


def test_connection_refused_keeps_the_token_out_of_reach():
    error = raised_by(lambda: on(f"http://127.0.0.1:{dead_port()}").archive_chat(CHAT))
    assert isinstance(error, errors.ConnectionFailed)
    assert_unreachable(error, TOKEN)


def test_a_tls_handshake_failure_keeps_the_token_out_of_reach():
    with HostileServer(lambda verb, path, body: (200, {}, b"plain")) as server:
        error = raised_by(lambda: on(f"https://127.0.0.1:{server.port}").get_chats())
    assert isinstance(error, errors.ConnectionFailed)
    assert_unreachable(error, TOKEN)


@pytest.mark.parametrize("headers_first", [False, True])
def test_a_tls_error_in_the_reply_keeps_the_token_out_of_reach(tmp_path, monkeypatch, headers_first):
    cert, key = make_certificate(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    server = BreakingTlsServer(cert, key, headers_first=headers_first)
    try:
        for call, arguments in (("archive_chat", (CHAT,)), ("get_chats", ())):
            error = raised_by(lambda: getattr(on(f"https://127.0.0.1:{server.port}"), call)(*arguments))
            assert isinstance(error, errors.ApiError), repr(error)
            assert_unreachable(error, TOKEN)
    finally:
        server.close()


@pytest.mark.parametrize("url", [f"https://x/waInstance1/archiveChat/{TOKEN}",
                                 f"https://{TOKEN}:-1", f"ftp://{TOKEN}", f"http://{TOKEN}.example"])
def test_a_refused_api_url_keeps_the_token_out_of_reach(url):
    # A partial, not a lambda: a lambda's frame would show the test's own ``url`` among its locals.
    error = raised_by(functools.partial(GreenApiClient, Credentials(url, "1101000001", TOKEN)))
    assert isinstance(error, errors.ConfigError)
    assert_unreachable(error, TOKEN)

"""The GREEN-API client over real HTTP: the sandbox on loopback, and tiny hostile servers where needed."""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from greenapi_excel import errors, pacing
from greenapi_excel.client import (
    ChatCallResult,
    Credentials,
    GreenApiClient,
    check_api_url,
)
from greenapi_excel.results import cell_text, formula_safe, redact

FAST = dict(rate=1000, read_rate=1000, backoff_base=0.01, backoff_cap=0.05, timeout=(2.0, 5.0))


@pytest.fixture(autouse=True)
def fresh_pacers():
    pacing.forget_pacers()   # a port reused by a later test must not inherit a slowed-down pacer
    yield
    pacing.forget_pacers()


def client_for(sandbox, **overrides) -> GreenApiClient:
    options = {**FAST, **overrides}
    return GreenApiClient(Credentials(sandbox.api_url, sandbox.id_instance, sandbox.token), **options)


def all_texts(error: BaseException) -> str:
    return " ".join([str(error), repr(error), getattr(error, "text", "") or "", repr(error.__cause__),
                     repr(error.__context__) if not error.__suppress_context__ else ""])


# --- outcomes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, chat_id, outcome", [
    ("archive_chat", "79001234567@c.us", "done"),
    ("archive_chat", "79031112233@c.us", "already"),
    ("archive_chat", "79990000000@c.us", "not_found"),
    ("archive_chat", "79852223344@c.us", "no_messages"),
    ("archive_chat", "not a chat", "rejected"),
    ("unarchive_chat", "79031112233@c.us", "done"),
    ("unarchive_chat", "79001234567@c.us", "already"),
    ("unarchive_chat", "79990000000@c.us", "not_found"),
])
def test_every_answer_maps_to_an_outcome(sandbox, method, chat_id, outcome):
    with client_for(sandbox) as client:
        result = getattr(client, method)(chat_id)
    assert result.outcome == outcome
    assert result.attempts == 1 and result.uncertain_attempts == 0
    assert result.http_status == (200 if outcome == "done" else 400)
    assert (result.text == "") == (outcome == "done")
    if outcome == "done":
        assert sandbox.chats[chat_id].archive == (method == "archive_chat")


def test_unarchive_of_a_chat_without_messages_is_no_messages(make_sandbox):
    sandbox = make_sandbox([{"id": "79001112233@c.us", "incoming": 0, "archive": True}], rps=1000, read_rps=1000)
    with client_for(sandbox) as client:
        assert client.unarchive_chat("79001112233@c.us").outcome == "no_messages"


def test_a_chat_id_that_is_not_text_is_rejected_without_a_call(sandbox):
    with client_for(sandbox) as client:
        assert client.archive_chat(79001234567).outcome == "rejected"
        assert client.archive_chat("  ").outcome == "rejected"
    assert sandbox.calls("archiveChat") == []


def test_reads(sandbox):
    with client_for(sandbox) as client:
        assert client.get_state_instance() == "authorized"
        chats = client.get_chats()
        assert {c["id"]: c["archive"] for c in chats}["79031112233@c.us"] is True
        assert client.get_contact_info("79031112233@c.us")["isArchive"] is True
        with pytest.raises(errors.ApiError) as caught:
            client.get_contact_info("79990000000@c.us")
        assert caught.value.status == 400 and "not found" in caught.value.text


def test_state_instance_is_returned_as_it_is(make_sandbox):
    sandbox = make_sandbox(state_instance="notAuthorized", rps=1000, read_rps=1000)
    with client_for(sandbox) as client:
        assert client.get_state_instance() == "notAuthorized"


# --- errors that stop a run: raised at once, never retried -----------------------------------------

def test_wrong_token_is_an_auth_error_at_the_first_answer(sandbox):
    client = GreenApiClient(Credentials(sandbox.api_url, sandbox.id_instance, "wrongtoken123"), **FAST)
    with pytest.raises(errors.AuthError) as caught:
        client.archive_chat("79001234567@c.us")
    assert caught.value.status == 401
    assert len(sandbox.calls("archiveChat")) == 1
    assert "wrongtoken123" not in all_texts(caught.value)


def test_wrong_instance_is_an_instance_error_at_the_first_answer(sandbox):
    client = GreenApiClient(Credentials(sandbox.api_url, "999", sandbox.token), **FAST)
    with pytest.raises(errors.InstanceError) as caught:
        client.get_state_instance()
    assert caught.value.status == 403
    assert len(sandbox.log) == 1


def test_quota_exceeded_carries_green_apis_explanation_and_is_not_retried(make_sandbox):
    sandbox = make_sandbox(quota=0, rps=1000, read_rps=1000)
    with client_for(sandbox) as client, pytest.raises(errors.QuotaExceeded) as caught:
        client.archive_chat("79001234567@c.us")
    assert caught.value.status == 466
    message = str(caught.value)
    assert "quota exceeded" in message.lower() and "used 0 of 0" in message
    assert len(sandbox.calls("archiveChat")) == 1


# --- retries -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("fault, uncertain", [
    ("429", 0), ("499", 1), ("500", 1), ("502", 1), ("drop", 1), ("applied_502", 1), ("applied_drop", 1),
])
def test_a_fault_is_retried_then_the_call_succeeds(sandbox, fault, uncertain):
    sandbox.inject(fault)
    with client_for(sandbox) as client:
        result = client.archive_chat("79001234567@c.us")
    applied = fault.startswith("applied_")
    # An applied fault changed the chat before failing: the retry hears "already".
    assert result.outcome == ("already" if applied else "done")
    assert result.attempts == 2
    assert result.uncertain_attempts == uncertain
    assert sandbox.chats["79001234567@c.us"].archive
    assert [c["fault"] for c in sandbox.calls("archiveChat")] == [fault, None]


def test_a_429_slows_the_shared_pacer_down(sandbox):
    sandbox.inject("429")
    with client_for(sandbox) as client:
        client.archive_chat("79001234567@c.us")
    pacer = pacing.pacer_for(sandbox.api_url, sandbox.id_instance, "archiveChat")
    assert pacer.rate < pacer.full_rate


def test_a_slow_reply_counts_as_uncertain(make_sandbox):
    sandbox = make_sandbox(rps=1000, read_rps=1000, slow_reply_s=2)
    sandbox.inject("slow")
    with client_for(sandbox, timeout=(2.0, 0.5)) as client:
        result = client.archive_chat("79001234567@c.us")
    assert result.attempts == 2 and result.uncertain_attempts == 1
    assert result.outcome in ("done", "already")


def test_retries_run_out_on_ambiguous_answers_outcome_unknown(sandbox):
    sandbox.inject("502", "drop", "499")
    with client_for(sandbox, max_attempts=3) as client, pytest.raises(errors.OutcomeUnknown) as caught:
        client.archive_chat("79001234567@c.us")
    assert len(sandbox.calls("archiveChat")) == 3
    assert "3 attempts" in str(caught.value)
    assert sandbox.token not in all_texts(caught.value)


def test_retries_run_out_on_429s_retries_exhausted(sandbox):
    sandbox.inject("429", "429")
    with client_for(sandbox, max_attempts=2) as client, pytest.raises(errors.RetriesExhausted) as caught:
        client.archive_chat("79001234567@c.us")
    assert caught.value.status == 429
    assert not sandbox.chats["79001234567@c.us"].archive


def test_429_then_ambiguous_is_outcome_unknown_even_if_the_last_was_a_429(sandbox):
    sandbox.inject("drop", "429")
    with client_for(sandbox, max_attempts=2) as client, pytest.raises(errors.OutcomeUnknown):
        client.archive_chat("79001234567@c.us")


def test_a_400_is_never_retried(sandbox):
    with client_for(sandbox) as client:
        client.archive_chat("79990000000@c.us")
    assert len(sandbox.calls("archiveChat")) == 1


def test_the_real_rate_limit_is_respected_without_429s(make_sandbox):
    sandbox = make_sandbox(rps=50, read_rps=1000)
    chats = list(sandbox.chats)[:30]
    with client_for(sandbox, rate=50) as client:
        threads = [threading.Thread(target=client.archive_chat, args=(chat,)) for chat in chats]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    statuses = [c["status"] for c in sandbox.calls("archiveChat")]
    assert 429 not in statuses and len(statuses) == 30


# --- unreachable and refused ------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_dead_port_is_connection_failed():
    client = GreenApiClient(Credentials(f"http://127.0.0.1:{free_port()}", "1101", "secrettoken42"), **FAST)
    with pytest.raises(errors.ConnectionFailed) as caught:
        client.archive_chat("79001234567@c.us")
    assert "refused" in str(caught.value)
    assert "secrettoken42" not in all_texts(caught.value)


def test_plain_http_to_another_host_is_refused_before_any_call():
    with pytest.raises(errors.ConfigError, match="https"):
        GreenApiClient(Credentials("http://example.com", "1101", "secrettoken42"))


@pytest.mark.parametrize("url, expected", [
    ("https://1101.api.green-api.com/", "https://1101.api.green-api.com"),
    (" https://api.green-api.com ", "https://api.green-api.com"),
    ("http://127.0.0.1:7700", "http://127.0.0.1:7700"),
    ("http://127.5.6.7:7700/", "http://127.5.6.7:7700"),
    ("http://localhost:7700", "http://localhost:7700"),
    ("http://[::1]:7700", "http://[::1]:7700"),
])
def test_accepted_api_urls(url, expected):
    assert check_api_url(url) == expected


@pytest.mark.parametrize("url", [
    "http://example.com", "http://10.0.0.1", "ftp://api.green-api.com", "api.green-api.com", "", "https://",
    "https://host:notaport", "https://user:pw@api.green-api.com", "https://api.green-api.com/?x=1",
    "https://api.green-api.com/waInstance1101/archiveChat/secrettoken42", "http://127.0.0.1.example.com",
])
def test_refused_api_urls(url):
    with pytest.raises(errors.ConfigError) as caught:
        check_api_url(url)
    assert "secrettoken42" not in str(caught.value)


@pytest.mark.parametrize("instance, token", [("", "abc"), ("11/01", "abc"), ("1101", ""), ("1101", "a/b"),
                                             ("1101", "tok en")])
def test_bad_credentials_are_config_errors(instance, token):
    with pytest.raises(errors.ConfigError) as caught:
        GreenApiClient(Credentials("https://api.green-api.com", instance, token))
    assert not token or token not in str(caught.value)


# --- the token stays secret --------------------------------------------------------------------------

def test_token_is_absent_from_reprs_exceptions_and_logs(sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    credentials = Credentials(sandbox.api_url, sandbox.id_instance, sandbox.token)
    assert sandbox.token not in repr(credentials) and sandbox.token not in str(credentials)
    sandbox.inject("502", "drop", "429", "502")
    with client_for(sandbox, max_attempts=4) as client:
        assert sandbox.token not in repr(client)
        with pytest.raises(errors.OutcomeUnknown) as caught:
            client.archive_chat("79001234567@c.us")
        client.get_chats()
    assert sandbox.token not in all_texts(caught.value)
    assert caplog.records, "the client logs its attempts"
    for record in caplog.records:
        assert sandbox.token not in record.getMessage()
    assert sandbox.token not in caplog.text
    assert ".../archiveChat/***" in caplog.text
    assert "/archiveChat/***" in " ".join(r.getMessage() for r in caplog.records if r.name.startswith("urllib3"))


def test_redact_and_the_one_text_rule():
    assert redact("GET https://h/waInstance1/getChats/s3cr3t x s3cr3t", "s3cr3t") == \
        "GET https://h/waInstance1/getChats/*** x ***"
    assert redact("POST /waInstance1/archiveChat/someothertoken", "s3cr3t") == "POST /waInstance1/archiveChat/***"
    assert redact("a%2Fb", "a/b") == "***"
    cleaned = cell_text("=HYPERLINK(\"x\")\x00\x1b[2J\r\n\u202e  " + "y" * 1000)
    # The text is kept as text (never stripped to avoid a formula: the guard is the live cell's apostrophe).
    assert cleaned.startswith("=HYPERLINK(\"x\")") and len(cleaned) <= 300
    assert not any(ord(c) < 32 or c == "\u202e" for c in cleaned)
    assert formula_safe(cleaned) == "'" + cleaned and formula_safe("-1 chats left") == "'-1 chats left"
    assert formula_safe("Archived") == "Archived" and formula_safe(3) == 3


class Hostile:
    """A one-answer loopback server: every request gets ``status`` and the body ``make_body(path)``."""

    def __init__(self, status: int, make_body, headers=None):
        answer = (status, make_body, headers or {})

        class Handler(BaseHTTPRequestHandler):
            def _reply(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                status, make, extra = answer
                data = make(self.path).encode("utf-8", "surrogatepass")
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _reply

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


TOKEN = "hostile0token0secret"


@pytest.mark.parametrize("status", [400, 418])
def test_a_hostile_answer_comes_back_cleaned_and_redacted(status):
    def body(path):
        return ("=cmd|' /C calc'!A0 \x00\x07\x1b[31m echo: http://127.0.0.1" + path + " "
                + "\u202e" + "z" * 40000)

    server = Hostile(status, body)
    try:
        client = GreenApiClient(Credentials(server.url, "1101", TOKEN), **FAST)
        if status == 400:
            result = client.archive_chat("79001234567@c.us")
            assert result.outcome == "rejected"
            texts = [result.text]
        else:
            with pytest.raises(errors.ApiError) as caught:
                client.archive_chat("79001234567@c.us")
            texts = [str(caught.value), caught.value.text]
        for text in texts:
            assert TOKEN not in text and "/archiveChat/***" in text
            assert len(text) <= 400
            assert "=cmd|' /C calc'!A0" in text   # the server's words, kept as text (a live cell guards them)
            assert not any(ord(c) < 32 or c == "\u202e" for c in text)
    finally:
        server.close()


def test_a_hostile_quota_answer_is_cleaned():
    body = json.dumps({"invokeStatus": {"description": f"=1+1 \x07 see /waInstance1/x/{TOKEN}", "used": 5,
                                        "total": 5}})
    server = Hostile(466, lambda path: body)
    try:
        client = GreenApiClient(Credentials(server.url, "1101", TOKEN), **FAST)
        with pytest.raises(errors.QuotaExceeded) as caught:
            client.unarchive_chat("79001234567@c.us")
        assert TOKEN not in all_texts(caught.value) and "\x07" not in str(caught.value)
        assert "used 5 of 5" in str(caught.value)
    finally:
        server.close()


def test_an_answer_that_is_not_json_is_an_api_error():
    server = Hostile(200, lambda path: "<html>" + path)
    try:
        client = GreenApiClient(Credentials(server.url, "1101", TOKEN), **FAST)
        with pytest.raises(errors.ApiError, match="not JSON") as caught:
            client.get_chats()
        assert TOKEN not in all_texts(caught.value)
    finally:
        server.close()


def test_429s_from_a_server_end_in_retries_exhausted():
    server = Hostile(429, lambda path: "slow down", {"Retry-After": "0"})
    try:
        client = GreenApiClient(Credentials(server.url, "1101", TOKEN), **{**FAST, "max_attempts": 3})
        with pytest.raises(errors.RetriesExhausted, match="3 attempts"):
            client.archive_chat("79001234567@c.us")
    finally:
        server.close()


def test_result_type_is_the_contract():
    result = ChatCallResult("done", 200, "", 1, 0)
    assert (result.outcome, result.http_status, result.text, result.attempts, result.uncertain_attempts) == \
        ("done", 200, "", 1, 0)

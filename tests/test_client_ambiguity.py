"""What the client makes of answers that follow an ambiguous attempt, of TLS errors after the request
left, of a lower-case Retry-After and of a timeout that is not positive. Real HTTP on loopback: the
sandbox, tests/hostile_server.py, and a small TLS server that breaks its reply on purpose."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from greenapi_excel import errors, pacing
from greenapi_excel.client import Credentials, GreenApiClient

from hostile_server import HostileServer
from tls_server import BreakingTlsServer, make_certificate

FAST = dict(rate=1000, read_rate=1000, backoff_base=0.01, backoff_cap=0.05, timeout=(2.0, 3.0))
CHAT = "79001234567@c.us"


@pytest.fixture(autouse=True)
def fresh_pacers():
    pacing.forget_pacers()
    yield
    pacing.forget_pacers()


def client_at(url: str, token: str = "tok3n0f0ur0wn", instance: str = "1101000001", **overrides) -> GreenApiClient:
    return GreenApiClient(Credentials(url, instance, token), **{**FAST, **overrides})


# --- an answer after an ambiguous attempt keeps the attempt's uncertainty ------------------------

@pytest.mark.parametrize("first", ["applied_drop", "applied_502"])
def test_a_466_after_a_lost_reply_says_the_earlier_attempt_may_have_worked(make_sandbox, first):
    sandbox = make_sandbox(rps=1000, read_rps=1000)
    sandbox.quota = 1                      # the first attempt is the last change the quota allows
    sandbox.inject(first, method="archiveChat")
    client = GreenApiClient(Credentials(sandbox.api_url, sandbox.id_instance, sandbox.token), **FAST)
    with pytest.raises(errors.QuotaExceeded) as caught:
        client.archive_chat(CHAT)
    assert CHAT in sandbox.archived_ids()   # the first attempt did it
    assert caught.value.uncertain_attempts == 1


def test_a_401_after_a_timeout_carries_the_uncertainty():
    replies = iter([None, 401])           # hang up without a reply, then refuse the token

    def answer(verb, path, body):
        reply = next(replies)
        return None if reply is None else (reply, {}, b"Unauthorized")

    with HostileServer(answer) as server:
        with pytest.raises(errors.AuthError) as caught:
            client_at(server.url).archive_chat(CHAT)
    assert caught.value.uncertain_attempts == 1


# --- TLS errors after the request left are ambiguous, not "never sent" ---------------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.mark.parametrize("headers_first", [False, True], ids=["while the status line is read",
                                                              "while the body is read"])
def test_a_tls_error_after_the_request_arrived_is_outcome_unknown(certificate, monkeypatch, headers_first):
    cert, key = certificate
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))   # verification stays on: we trust our own CA
    server = BreakingTlsServer(cert, key, headers_first=headers_first)
    try:
        client = client_at(f"https://127.0.0.1:{server.port}", max_attempts=2)
        with pytest.raises(errors.OutcomeUnknown):
            client.archive_chat(CHAT)
        assert server.requests == 2            # each attempt arrived, so each is ambiguous (and retried)
    finally:
        server.close()


def test_a_tls_handshake_failure_is_still_never_sent():
    with HostileServer(lambda verb, path, body: (200, {}, b"plain")) as server:  # plain HTTP on the port
        with pytest.raises(errors.ConnectionFailed, match="TLS"):
            client_at(f"https://127.0.0.1:{server.port}").archive_chat(CHAT)
        assert server.requests == []


# --- headers ---------------------------------------------------------------------------------------

def test_a_lower_case_retry_after_is_honoured():
    times = []

    def answer(verb, path, body):
        times.append(time.monotonic())
        if len(times) == 1:
            return 429, {"retry-after": "2"}, b"Too Many Requests"
        return 200, {}, b""

    with HostileServer(answer) as server:
        result = client_at(server.url).archive_chat(CHAT)
    assert result.outcome == "done" and len(times) == 2
    assert times[1] - times[0] >= 1.9, times   # the backoff alone would retry within 0.05 s


# --- timeouts ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("timeout", [0, -1, (5.0, 0), float("nan")])
def test_a_timeout_that_is_not_positive_is_a_clear_config_error(timeout):
    with pytest.raises(errors.ConfigError, match="timeout"):
        GreenApiClient(Credentials("https://api.green-api.com", "1101", "tok3n"), timeout=timeout)

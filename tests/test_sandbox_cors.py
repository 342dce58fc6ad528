"""The sandbox speaks CORS only when told to (--cors ORIGIN), as GREEN-API would if it allows browsers.

A browser preflights every call of the Lite edition (it always sends Content-Type: application/json): an
OPTIONS with Origin and Access-Control-Request-Method/-Headers. These tests send what a browser sends,
with requests over loopback; tests/test_lite_browser.py shows a real Chromium obeying the answers.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from greenapi_excel.errors import ConfigError
from greenapi_excel.sandbox import Sandbox, cors_origins

LITE_ORIGIN = "https://addin.xlwings.org"
ANNA = "79001234567@c.us"


def _preflight(sandbox, origin, method="archiveChat"):
    return requests.options(sandbox.method_url(method), timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})


def _cors(response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name.lower().startswith("access-control-")}


def test_without_cors_a_preflight_gets_no_cors_headers_and_no_call_is_made(make_sandbox):
    sandbox = make_sandbox()
    answer = _preflight(sandbox, LITE_ORIGIN)
    assert answer.status_code == 204
    assert _cors(answer) == {}
    assert sandbox.preflights == [{"origin": LITE_ORIGIN, "allowed": False}]
    assert sandbox.calls() == []          # a preflight is no API call
    # A page that ignored the refusal would still read nothing: no answer carries CORS headers.
    call = requests.post(sandbox.method_url("archiveChat"), json={"chatId": ANNA}, headers={"Origin": LITE_ORIGIN},
                         timeout=10)
    assert call.status_code == 200 and _cors(call) == {}


def test_with_cors_the_preflight_allows_json_posts_from_that_origin(make_sandbox):
    sandbox = make_sandbox(cors=[LITE_ORIGIN])
    answer = _preflight(sandbox, LITE_ORIGIN)
    assert answer.status_code == 204
    cors = _cors(answer)
    assert cors["Access-Control-Allow-Origin"] == LITE_ORIGIN
    assert {m.strip() for m in cors["Access-Control-Allow-Methods"].split(",")} >= {"GET", "POST"}
    assert "content-type" in cors["Access-Control-Allow-Headers"].lower()
    assert int(cors["Access-Control-Max-Age"]) > 0
    assert answer.headers["Vary"] == "Origin"
    assert sandbox.preflights == [{"origin": LITE_ORIGIN, "allowed": True}]
    assert sandbox.calls() == []


def test_with_cors_every_answer_carries_the_headers_and_exposes_retry_after(make_sandbox):
    sandbox = make_sandbox(cors=[LITE_ORIGIN], rps=1)
    origin = {"Origin": LITE_ORIGIN}
    url = sandbox.method_url("archiveChat")
    done = requests.post(url, json={"chatId": ANNA}, headers=origin, timeout=10)
    limited = requests.post(url, json={"chatId": "79161234567@c.us"}, headers=origin, timeout=10)
    wrong_token = requests.post(url.replace(sandbox.token, "wrong"), json={"chatId": ANNA}, headers=origin, timeout=10)
    read = requests.get(sandbox.method_url("getStateInstance"), headers=origin, timeout=10)
    assert [done.status_code, limited.status_code, wrong_token.status_code, read.status_code] == [200, 429, 401, 200]
    for answer in (done, limited, wrong_token, read):
        assert answer.headers["Access-Control-Allow-Origin"] == LITE_ORIGIN
        assert answer.headers["Access-Control-Expose-Headers"] == "Retry-After"
    assert limited.headers["Retry-After"] == "1"


def test_another_origin_is_refused_and_star_allows_any(make_sandbox):
    only_lite = make_sandbox(cors=[LITE_ORIGIN])
    refused = _preflight(only_lite, "https://evil.example")
    assert refused.status_code == 204 and _cors(refused) == {}
    assert only_lite.preflights == [{"origin": "https://evil.example", "allowed": False}]

    anyone = make_sandbox(cors=["*"])
    allowed = _preflight(anyone, "http://127.0.0.1:8123")
    assert allowed.headers["Access-Control-Allow-Origin"] == "*"


def test_origins_are_comma_separated_repeatable_and_checked():
    assert cors_origins(["https://addin.xlwings.org, http://127.0.0.1:8000", "HTTPS://Example.COM/"]) == (
        "https://addin.xlwings.org", "http://127.0.0.1:8000", "https://example.com")
    for bad in ("addin.xlwings.org", "ftp://x.org", "https://x.org/path", "https://user@x.org"):
        with pytest.raises(ConfigError, match="is not an origin"):
            Sandbox(cors=[bad])


def _cli(*args):
    script = Path(sys.executable).with_name("greenapi-excel")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "greenapi_excel"]
    return command + ["sandbox", "--port", "0", "--api-token", "t" * 50, *args]


def test_cli_cors_option_answers_preflights():
    process = subprocess.Popen(_cli("--cors", f"{LITE_ORIGIN},http://127.0.0.1:9", "--cors", "http://localhost:9"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        url = f"{fields['apiUrl']}/waInstance{fields['idInstance']}/archiveChat/{'t' * 50}"
        for origin in (LITE_ORIGIN, "http://127.0.0.1:9", "http://localhost:9"):
            answer = requests.options(url, headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
                                      timeout=10)
            assert answer.headers.get("Access-Control-Allow-Origin") == origin
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)
    assert process.returncode == 0


def test_cli_bad_origin_is_a_clear_message():
    done = subprocess.run(_cli("--cors", "addin.xlwings.org"), capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "is not an origin like https://addin.xlwings.org" in done.stderr and "Traceback" not in done.stderr

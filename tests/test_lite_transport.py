"""greenapi_excel.lite.transport.send in real Pyodide (Node's fetch underneath), against the sandbox and a
hostile server over loopback: one outcome per request, the right one, and never the token in it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hostile_server import SILENT, HostileServer, playing
from lite_harness import start_host

ANNA = "79001234567@c.us"

HELPERS = r'''
import json
from greenapi_excel.lite.transport import send
from greenapi_excel.transport import HttpRequest

async def outcome(verb, url, body=None, timeout=(5.0, 30.0), limit=64 * 1024):
    data = None if body is None else json.dumps(body).encode()
    result = await send(HttpRequest(verb, url, data, tuple(timeout), limit))
    fields = {name: dict(value) if name == "headers" else value for name, value in vars(result).items()}
    return {"kind": type(result).__name__, **fields}
'''


@pytest.fixture(scope="module")
def pyodide(lite_pyodide):
    lite_pyodide.run(HELPERS)
    return lite_pyodide


def _outcome(pyodide, verb, url, body=None, **options) -> dict:
    arguments = ", ".join([repr(verb), repr(url), repr(body)] + [f"{k}={v!r}" for k, v in options.items()])
    return pyodide.run(f"await outcome({arguments})")


def test_archive_is_a_reply_and_changes_the_chat(pyodide, sandbox):
    result = _outcome(pyodide, "POST", sandbox.method_url("archiveChat"), {"chatId": ANNA})
    assert result["kind"] == "HttpReply" and result["status"] == 200 and result["text"] == ""
    assert ANNA in sandbox.archived_ids()
    again = _outcome(pyodide, "POST", sandbox.method_url("archiveChat"), {"chatId": ANNA})
    assert (again["status"], again["text"]) == (400, f"ArchiveChatError: chat with id {ANNA} already archive=true")
    assert [call["chatId"] for call in sandbox.calls("archiveChat")] == [ANNA, ANNA]


def test_a_read_comes_back_whole_with_lower_case_headers(pyodide, sandbox):
    result = _outcome(pyodide, "GET", sandbox.method_url("getStateInstance"))
    assert result["kind"] == "HttpReply" and json.loads(result["text"]) == {"stateInstance": "authorized"}
    assert result["headers"]["content-type"] == "application/json"


def test_every_request_goes_as_json_reads_too(pyodide):
    answer = playing(archiveChat=(200, ""), getChats=(200, "[]", "application/json"))
    with HostileServer(answer) as server:
        _outcome(pyodide, "GET", f"{server.url}/waInstance1/getChats/token")
        _outcome(pyodide, "POST", f"{server.url}/waInstance1/archiveChat/token", {"chatId": ANNA})
    assert [headers.get("content-type") for headers in server.request_headers] == ["application/json"] * 2


def test_retry_after_is_read_when_the_server_shows_it(pyodide, make_sandbox):
    sandbox = make_sandbox(rps=1)
    _outcome(pyodide, "POST", sandbox.method_url("archiveChat"), {"chatId": ANNA})
    limited = _outcome(pyodide, "POST", sandbox.method_url("archiveChat"), {"chatId": "79161234567@c.us"})
    assert limited["status"] == 429 and limited["headers"]["retry-after"] == "1"


def test_at_most_limit_bytes_of_an_answer_are_read(pyodide):
    with HostileServer(playing(getChats=(200, "x" * 500_000, "application/json"))) as server:
        result = _outcome(pyodide, "GET", f"{server.url}/waInstance1/getChats/token", limit=1000)
    assert result["kind"] == "HttpReply" and result["text"] == "x" * 1000


def test_a_reply_lost_after_the_change_is_ambiguous_and_the_chat_did_change(pyodide, sandbox):
    sandbox.inject("applied_drop")
    result = _outcome(pyodide, "POST", sandbox.method_url("archiveChat"), {"chatId": ANNA})
    assert result["kind"] == "Ambiguous"
    assert ANNA in sandbox.archived_ids()
    assert sandbox.token not in json.dumps(result)


def test_a_timeout_after_sending_is_ambiguous_the_call_had_arrived(pyodide):
    with HostileServer(playing(archiveChat=SILENT)) as server:
        url = f"{server.url}/waInstance1/archiveChat/secret-token-in-the-url"
        result = _outcome(pyodide, "POST", url, {"chatId": ANNA}, timeout=(0.3, 0.4))
        assert server.calls("archiveChat") == 1
    assert result == {"kind": "Ambiguous", "reason": "no answer within 0.7 s"}


def test_a_refused_connection_is_ambiguous_and_quotes_no_url(pyodide):
    import socket

    with socket.socket() as probe:     # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _outcome(pyodide, "POST", f"http://127.0.0.1:{port}/waInstance1/archiveChat/secret-token", {"chatId": ANNA})
    assert result["kind"] == "Ambiguous" and "Failed to fetch" in result["reason"]
    assert "secret-token" not in json.dumps(result) and str(port) not in json.dumps(result)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/waInstance1/getChats/secret", "not a url secret"])
def test_what_cannot_be_sent_is_never_sent_and_hopeless(pyodide, url):
    result = _outcome(pyodide, "GET", url)
    assert result == {"kind": "NeverSent", "reason": "the address is not an http or https URL", "hopeless": True}


def test_without_jspi_the_timeout_and_the_reply_still_work(lite_build_dir, sandbox):
    """Safari and Excel for Mac have no JSPI: pyfetch and its AbortSignal must not need it."""
    host = start_host(lite_build_dir, jspi=False, with_standin=False)
    try:
        host.run(HELPERS)
        assert host.run("from pyodide.ffi import can_run_sync\ncan_run_sync()") is False
        reply = _outcome(host, "POST", sandbox.method_url("archiveChat"), {"chatId": ANNA})
        with HostileServer(playing(getChats=SILENT)) as server:
            late = _outcome(host, "GET", f"{server.url}/waInstance1/getChats/t", timeout=(0.2, 0.3))
    finally:
        host.close()
    assert reply["kind"] == "HttpReply" and reply["status"] == 200 and ANNA in sandbox.archived_ids()
    assert late == {"kind": "Ambiguous", "reason": "no answer within 0.5 s"}


def test_the_desktop_engine_never_imports_the_lite_runtime():
    """The desktop (engine, add-in, functions, the workbook builder) imports none of Lite's runtime: the transport
    (pyodide's fetch) and the scripts. The builder shares only the book's layout: the journal sheet's records and
    the cells under the buttons (``lite.journal``, ``lite.book``), plain Python that needs no Pyodide."""
    probe = (
        "import importlib, pkgutil, sys, greenapi_excel, greenapi_excel.workbook, addin, udfs\n"
        "for package in (greenapi_excel, greenapi_excel.workbook):\n"
        "    for info in pkgutil.iter_modules(package.__path__, package.__name__ + '.'):\n"
        "        if info.name not in ('greenapi_excel.lite', 'greenapi_excel.__main__'):\n"
        "            importlib.import_module(info.name)\n"
        "print(sorted(name for name in sys.modules if name.startswith('greenapi_excel.lite')))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().replace("'", '"')) == ["greenapi_excel.lite", "greenapi_excel.lite.book",
                                                                   "greenapi_excel.lite.journal"]

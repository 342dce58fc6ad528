"""What Excel's browser engine does to the Lite edition's calls, shown in headless Chromium (Debian's
``chromium``, driven by playwright-core from tests/lite; no browser is downloaded).

A page on one loopback origin calls the sandbox on another, as Lite's pane (https://addin.xlwings.org) calls
GREEN-API: a JSON POST is preflighted, so without --cors it never reaches the server; with it, it arrives;
and a reply lost after the change looks to the page exactly like the refusal: ``Failed to fetch``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lite_harness import LITE, _skip_or_fail, ensure_node_modules, node_executable

ANNA = "79001234567@c.us"
FAILED_TO_FETCH = "TypeError: Failed to fetch"


class _Page(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<!doctype html><title>Lite pane stand-in</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def page_origin():
    """A blank page served from a loopback origin of our own (another port than the sandbox's)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    if chromium is None:
        _skip_or_fail("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    node = node_executable()
    ensure_node_modules()
    return node, chromium


def _in_page(browser, tmp_path, page, calls) -> list[dict]:
    node, chromium = browser
    config = {"chromium": chromium, "profile": str(tmp_path / "profile"), "page": page + "/", "calls": calls}
    done = subprocess.run([node, str(LITE / "browser_probe.mjs"), json.dumps(config)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["origin"] == page
    return answer["results"]


def _archive(sandbox, chat=ANNA) -> dict:
    return {"method": "POST", "url": sandbox.method_url("archiveChat"), "body": json.dumps({"chatId": chat})}


def test_without_cors_the_preflight_is_refused_and_the_call_never_reaches_the_server(
        browser, page_origin, make_sandbox, tmp_path):
    sandbox = make_sandbox()
    [result] = _in_page(browser, tmp_path, page_origin, [_archive(sandbox)])
    assert result == {"error": FAILED_TO_FETCH}
    assert sandbox.preflights == [{"origin": page_origin, "allowed": False}]
    assert sandbox.calls() == [] and ANNA not in sandbox.archived_ids()


def test_with_cors_the_call_arrives_and_retry_after_is_readable(browser, page_origin, make_sandbox, tmp_path):
    sandbox = make_sandbox(cors=[page_origin], rps=1)
    done, limited = _in_page(browser, tmp_path, page_origin, [_archive(sandbox), _archive(sandbox, "79161234567@c.us")])
    assert (done["status"], done["text"]) == (200, "")
    assert ANNA in sandbox.archived_ids()
    assert limited["status"] == 429 and limited["retryAfter"] == "1"     # exposed by the sandbox
    assert [call["chatId"] for call in sandbox.calls("archiveChat")] == [ANNA, "79161234567@c.us"]


def test_a_reply_lost_after_the_change_is_failed_to_fetch_while_the_chat_changed(
        browser, page_origin, make_sandbox, tmp_path):
    sandbox = make_sandbox(cors=[page_origin])
    # The change is made and the connection cut; Chromium sends the POST again by itself (below), and that
    # second connection is cut too.
    sandbox.inject("applied_drop", "drop")
    [result] = _in_page(browser, tmp_path, page_origin, [_archive(sandbox)])
    assert result == {"error": FAILED_TO_FETCH}      # the same words as the refused preflight above
    assert ANNA in sandbox.archived_ids()
    assert [call["fault"] for call in sandbox.calls("archiveChat")] == ["applied_drop", "drop"]


def test_chromium_silently_sends_a_post_again_when_a_reused_connection_is_cut(
        browser, page_origin, make_sandbox, tmp_path):
    """A page's one fetch() reached the server twice: the first attempt changed the chat, the page saw only
    the second answer, "already archived". A Lite run cannot tell this from a chat archived before."""
    sandbox = make_sandbox(cors=[page_origin])
    sandbox.inject("applied_drop")
    [result] = _in_page(browser, tmp_path, page_origin, [_archive(sandbox)])
    assert result["status"] == 400 and result["text"] == f"ArchiveChatError: chat with id {ANNA} already archive=true"
    assert [call["fault"] for call in sandbox.calls("archiveChat")] == ["applied_drop", None]
    assert ANNA in sandbox.archived_ids()


# --- the Lite edge itself in the browser: Pyodide in a Chromium page, as Lite runs it --------------------------

class _Files(BaseHTTPRequestHandler):
    """The page, Pyodide (npm's, under /pyodide/) and the wheels (/wheels/), from one loopback origin."""

    TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
             ".json": "application/json", ".zip": "application/zip", ".whl": "application/zip"}

    def do_GET(self):
        folders = self.server.folders
        prefix, _, name = self.path.lstrip("/").partition("/")
        if not prefix:
            return _Page.do_GET(self)
        folder = folders.get(prefix)
        path = (folder / name) if folder is not None and "/" not in name and name not in ("", "..") else None
        if path is None or not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", self.TYPES.get(path.suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def python_page(browser, lite_build_dir):
    """A page whose origin serves Pyodide, phonenumbers (the book's requirement) and this checkout's engine."""
    from pathlib import Path

    from lite_harness import NODE_MODULES, engine_wheel, pure_wheels

    wheels = [w for w in pure_wheels() if w.name.lower().startswith("phonenumbers")]
    built = lite_build_dir / "engine-wheel"
    built.mkdir(exist_ok=True)
    engine = engine_wheel(built)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    server.folders = {"pyodide": NODE_MODULES / "pyodide", "wheels": wheels[0].parent, "engine": Path(engine).parent}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    yield origin, [f"/wheels/{w.name}" for w in wheels] + [f"/engine/{engine.name}"]
    server.shutdown()
    server.server_close()


def _python_in_page(browser, tmp_path, page, wheels, code):
    node, chromium = browser
    config = {"chromium": chromium, "profile": str(tmp_path / "profile"), "page": page + "/", "wheels": wheels,
              "code": code}
    done = subprocess.run([node, str(LITE / "browser_python.mjs"), json.dumps(config)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["origin"] == page and "error" not in answer, answer
    return answer["value"]


LITE_RUN = r'''
import json
from greenapi_excel import jobs, methods
from greenapi_excel.calls import Credentials
from greenapi_excel.lite import scripts
from greenapi_excel.lite.journal import BookJournal
from greenapi_excel.run import plan

async def first_read(url, instance, token):
    client = scripts.client_for(Credentials(url, instance, token))
    problem = await scripts.first_read(client)
    return None if problem is None else str(problem)

async def archive(url, instance, token, chats):
    client = scripts.client_for(Credentials(url, instance, token))
    problem = await scripts.first_read(client)
    prepared = jobs.Prepared(methods.ARCHIVE, False, plan(list(enumerate(chats, start=2)), method=methods.ARCHIVE),
                             "GreenApi-Lite.xlsx", "Chats", "column A of sheet Chats")
    outcome = await jobs.execute_async(prepared, client, BookJournal(), preflight=False, stopped_by=problem)
    return [[r.row, r.status, r.details] for r in sorted(outcome.results, key=lambda r: r.row)]
'''


def test_in_the_browser_a_refused_first_read_says_so_and_a_reply_lost_after_the_change_is_settled(
        browser, python_page, make_sandbox, tmp_path):
    origin, wheels = python_page
    closed = make_sandbox()                                   # no --cors: the browser refuses every call
    open_ = make_sandbox(cors=[origin], rps=1000, read_rps=1000)
    # The change is made and the connection cut; Chromium sends the POST again by itself and that connection is cut
    # too: the page sees Failed to fetch, the client tries again and hears "already archived".
    open_.inject("applied_drop", "drop")
    code = LITE_RUN + f'''
refused = await first_read({closed.api_url!r}, {closed.id_instance!r}, {closed.token!r})
rows = await archive({open_.api_url!r}, {open_.id_instance!r}, {open_.token!r}, [{ANNA!r}])
json.loads(json.dumps({{"refused": refused, "rows": rows}}))
'''
    found = _python_in_page(browser, tmp_path, origin, wheels, code)
    assert found["refused"].startswith("Excel's browser engine could not reach GREEN-API at 127.0.0.1")
    assert closed.calls() == [] and len(closed.preflights) >= 1               # never sent: the preflight was refused
    [[row, status, details]] = found["rows"]
    assert (row, status) == (2, "Archived") and "lost" in details              # settled as the desktop settles it
    assert [c["fault"] for c in open_.calls("archiveChat")] == ["applied_drop", "drop", None]
    assert ANNA in open_.archived_ids()

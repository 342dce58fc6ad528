"""The apiTokenInstance never leaves the process: not on stdout or stderr, not in a cell, not in the
journal, not in any file the run leaves behind, whichever way the run fails. Real CLI processes,
real books, loopback only (names that must not resolve use the reserved .invalid TLD)."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import zipfile
from pathlib import Path

import openpyxl
from cli_helpers import cli_env, run_cli

from hostile_server import SILENT, HostileServer, playing

TOKEN = "d75b3a66374942c5b3c019c698abc2067e151558acbd412584"  # the shape of a real apiTokenInstance
ID_INSTANCE = "1101000001"
CHATS = [{"id": "79001234567@c.us", "incoming": 3}, {"id": "79001234568@c.us", "incoming": 1}]


def make_book(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Chats"
    for value in ("Chat ID", "79001234567", "79001234568", "not a number"):
        ws.append([value])
    wb.save(path)
    return path


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nobody listens there


def every_text_in(folder: Path) -> str:
    """All bytes of every file under ``folder``, xlsx members unzipped, sqlite rows dumped, as text."""
    texts = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        texts.append(data.decode("utf-8", "replace"))
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                texts += [z.read(name).decode("utf-8", "replace") for name in z.namelist()]
        if data.startswith(b"SQLite format 3"):
            conn = sqlite3.connect(path)
            try:
                for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
                    texts += [repr(row) for row in conn.execute(f'SELECT * FROM "{table}"').fetchall()]
            finally:
                conn.close()
    return "\n".join(texts)


def run_archive(folder: Path, api_url: str, token: str = TOKEN, id_instance: str = ID_INSTANCE,
                timeout: float = 2.0) -> subprocess.CompletedProcess:
    folder.mkdir()
    book = make_book(folder / "book.xlsx")
    env = cli_env(folder, api_url=api_url, id_instance=id_instance, token=token,
                  HOME=str(folder),  # any per-user file the run writes lands here, where we grep it
                  XDG_STATE_HOME=str(folder / "state"), XDG_CONFIG_HOME=str(folder / "config"))
    return run_cli("archive", book, "--no-progress", "--timeout", timeout, env=env, timeout=120)


def test_token_appears_in_no_output_on_any_error_path(tmp_path, make_sandbox):
    sandbox = make_sandbox(chats=CHATS, rps=1000, read_rps=1000, api_token=TOKEN, id_instance=ID_INSTANCE)
    other_token = "a" * 10 + TOKEN[10:]
    echo_url = playing(archiveChat=lambda url: (400, f"bad request to {url}"),
                       getContactInfo=lambda url: (500, f"<html><body>{url}</body></html>", "text/html"))
    echo_on_state = playing(getStateInstance=lambda url: (500, f"upstream failed: {url}"))
    silent = HostileServer(lambda verb, path, body: SILENT).start()
    plain_http = HostileServer(playing()).start()   # speaks HTTP where the client expects TLS
    echo = HostileServer(echo_url).start()
    echo_state = HostileServer(echo_on_state).start()
    try:
        paths = {
            # name: (apiUrl, token the client is given, idInstance, allowed exit codes)
            "plain http to a remote host": ("http://api.green-api.invalid", TOKEN, ID_INSTANCE, {2}),
            "malformed url": ("https//api green-api com:-1", TOKEN, ID_INSTANCE, {2}),
            "url carrying the token": (f"https://api.green-api.invalid/{TOKEN}", TOKEN, ID_INSTANCE, {2}),
            "dead port": (f"http://127.0.0.1:{dead_port()}", TOKEN, ID_INSTANCE, {2}),
            "name that does not resolve": ("https://api.green-api.invalid", TOKEN, ID_INSTANCE, {2}),
            "tls failure": (f"https://127.0.0.1:{plain_http.port}", TOKEN, ID_INSTANCE, {1, 2}),
            "timeout": (silent.url, TOKEN, ID_INSTANCE, {1, 2}),
            "401 wrong token": (sandbox.api_url, other_token, ID_INSTANCE, {2}),
            "403 wrong instance": (sandbox.api_url, TOKEN, "1101999999", {2}),
            "server echoes the url in a 400 and a 500": (echo.url, TOKEN, ID_INSTANCE, {1}),
            "server echoes the url on getStateInstance": (echo_state.url, TOKEN, ID_INSTANCE, {1, 2}),
        }
        leaks, codes = [], {}
        for number, (name, (api_url, token, id_instance, allowed)) in enumerate(paths.items()):
            folder = tmp_path / f"path{number}"
            proc = run_archive(folder, api_url, token, id_instance, timeout=1.0)
            codes[name] = proc.returncode
            outputs = {"stdout": proc.stdout, "stderr": proc.stderr, "files": every_text_in(folder)}
            for where, text in outputs.items():
                if token in text or TOKEN in text:
                    leaks.append(f"{name}: token in {where}")
            assert "Traceback" not in proc.stderr, (name, proc.stderr)
            assert proc.returncode in allowed, (name, proc.returncode, proc.stdout, proc.stderr)
            if proc.returncode == 2:
                error_lines = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
                assert len(error_lines) == 1, (name, proc.stderr)
            else:  # a run that went ahead gives every non-empty row a status
                ws = openpyxl.load_workbook(folder / "book.xlsx").active
                assert all(ws.cell(r, 2).value for r in range(2, 5)), (name, [ws.cell(r, 2).value for r in range(2, 5)])
        print("\nexit codes:", codes)
        assert not leaks, leaks
        # The echoing server got the token in its URLs (so the test had something to leak) ...
        assert any(TOKEN in path for _, path in echo.requests)
        # ... and a wrong token was refused once, not hammered.
        assert len([c for c in sandbox.calls() if c["status"] == 401]) <= 2
    finally:
        for server in (silent, plain_http, echo, echo_state):
            server.stop()

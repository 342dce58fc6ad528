"""The GREEN-API sandbox, exercised over real HTTP on loopback (requests, curl, the official SDK, the CLI)."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import phonenumbers
import pytest
import requests

from greenapi_excel.sandbox import DEFAULT_CHATS, FAULTS, Sandbox, load_state
from greenapi_excel.errors import ConfigError

LOG_KEYS = {"time", "method", "chatId", "status", "fault", "ms"}
ANNA = "79001234567@c.us"            # built-in, incoming 3, not archived
SERGEY = "79031112233@c.us"          # built-in, archived
IVAN_NO_MESSAGES = "79852223344@c.us"  # built-in, incoming 0
DOCS_GROUP = "120363043968066561@g.us"  # the docs' example chatId, built-in
UNKNOWN = "79990001122@c.us"


def post(sandbox, method, body=None, *, data=None, timeout=10):
    return requests.post(sandbox.method_url(method), json=body, data=data, timeout=timeout)


# --- the built-in address book ---------------------------------------------------------


def test_default_chats_are_believable():
    assert 40 <= len(DEFAULT_CHATS) <= 60
    ids = [chat["id"] for chat in DEFAULT_CHATS]
    assert len(set(ids)) == len(ids)
    users = [i for i in ids if i.endswith("@c.us")]
    for chat_id in users:
        number = phonenumbers.parse("+" + chat_id.split("@")[0])
        assert phonenumbers.is_valid_number(number), chat_id
    regions = {phonenumbers.region_code_for_number(phonenumbers.parse("+" + i.split("@")[0])) for i in users}
    assert {"RU", "KZ", "DE", "GB", "US", "BR", "IN", "AE"} <= regions
    groups = [i for i in ids if i.endswith("@g.us")]
    assert any("-" in g for g in groups) and sum(len(g.split("@")[0]) >= 18 for g in groups) >= 3
    assert 2 <= sum(chat.get("archive", False) for chat in DEFAULT_CHATS) <= 8
    assert [chat["id"] for chat in DEFAULT_CHATS if chat.get("incoming", 1) == 0] == [IVAN_NO_MESSAGES]


# --- archiveChat / unarchiveChat: every text of the docs -----------------------------------


def test_archive_success_is_200_with_empty_body(sandbox):
    answer = post(sandbox, "archiveChat", {"chatId": ANNA})
    assert (answer.status_code, answer.text) == (200, "")
    assert sandbox.chats[ANNA].archive is True
    assert ANNA in sandbox.archived_ids()


@pytest.mark.parametrize("method, prefix, chat_id, text", [
    ("archiveChat", "ArchiveChatError", SERGEY, f"chat with id {SERGEY} already archive=true"),
    ("unarchiveChat", "UnarchiveChatError", ANNA, f"chat with id {ANNA} already archive=false"),
    ("archiveChat", "ArchiveChatError", UNKNOWN, f"chat with id {UNKNOWN} not found"),
    ("unarchiveChat", "UnarchiveChatError", UNKNOWN, f"chat with id {UNKNOWN} not found"),
    ("archiveChat", "ArchiveChatError", IVAN_NO_MESSAGES, "cannot archive chat cause last message not found in chat"),
])
def test_chat_errors_use_the_docs_texts(sandbox, method, prefix, chat_id, text):
    answer = post(sandbox, method, {"chatId": chat_id})
    assert answer.status_code == 400
    assert answer.text == f"{prefix}: {text}"


def test_unarchive_without_incoming_message_answers_the_docs_words(make_sandbox):
    # docs service/unarchiveChat: "UnarchiveChatError: cannot archive chat cause last message not found in chat"
    sb = make_sandbox([{"id": "79001112233@c.us", "incoming": 0, "archive": True}])
    answer = post(sb, "unarchiveChat", {"chatId": "79001112233@c.us"})
    assert (answer.status_code, answer.text) == (
        400, "UnarchiveChatError: cannot archive chat cause last message not found in chat")


def test_unarchive_undoes_archive(sandbox):
    assert post(sandbox, "unarchiveChat", {"chatId": SERGEY}).status_code == 200
    assert sandbox.chats[SERGEY].archive is False
    assert SERGEY not in sandbox.archived_ids()


@pytest.mark.parametrize("method", ["archiveChat", "unarchiveChat"])
@pytest.mark.parametrize("raw, status, text", [
    ("{}", 400, "Validation failed. Details: 'value' must have at least 1 key"),
    ("not json", 400, "Validation failed"),
    ("", 400, "Validation failed"),
    ('["79001234567@c.us"]', 400, "Validation failed"),
    ('{"chat": "79001234567@c.us"}', 400, "Validation failed"),
    ('{"chatId": "79001234567"}', 400, "Validation failed"),
    ('{"chatId": "+7 900 123-45-67@c.us"}', 400, "Validation failed"),
    ('{"chatId": true}', 500, "interface conversion: interface {} is bool, not string"),
    ('{"chatId": 79001234567}', 500, "interface conversion: interface {} is float64, not string"),
    ('{"chatId": null}', 500, "interface conversion: interface {} is nil, not string"),
    ('{"chatId": ["x"]}', 500, "interface conversion: interface {} is []interface {}, not string"),
])
def test_bad_bodies_get_the_real_services_answers(sandbox, method, raw, status, text):
    answer = requests.post(sandbox.method_url(method), data=raw.encode(),
                           headers={"Content-Type": "application/json"}, timeout=10)
    assert (answer.status_code, answer.text) == (status, text)
    assert sandbox.archived_ids() == {c["id"] for c in DEFAULT_CHATS if c.get("archive")}


# --- the other methods ---------------------------------------------------------------------


def test_get_chats_lists_the_address_book(sandbox):
    post(sandbox, "archiveChat", {"chatId": ANNA})
    chats = requests.get(sandbox.method_url("getChats"), timeout=10).json()
    assert len(chats) == len(DEFAULT_CHATS)
    assert all(set(chat) == {"id", "name", "type", "archive"} for chat in chats)
    by_id = {chat["id"]: chat for chat in chats}
    assert by_id[ANNA] == {"id": ANNA, "name": "Anna", "type": "user", "archive": True}
    assert by_id[DOCS_GROUP]["type"] == "group"


def test_get_contact_info_shows_is_archive(sandbox):
    info = post(sandbox, "getContactInfo", {"chatId": SERGEY}).json()
    assert info["chatId"] == SERGEY and info["isArchive"] is True
    assert post(sandbox, "getContactInfo", {"chatId": ANNA}).json()["isArchive"] is False
    assert post(sandbox, "getContactInfo", {"chatId": UNKNOWN}).status_code == 400


def test_get_state_instance(make_sandbox):
    assert requests.get(make_sandbox().method_url("getStateInstance"), timeout=10).json() == {
        "stateInstance": "authorized"}
    sb = make_sandbox(state_instance="notAuthorized", rps=100)
    assert requests.get(sb.method_url("getStateInstance"), timeout=10).json() == {"stateInstance": "notAuthorized"}
    assert post(sb, "archiveChat", {"chatId": ANNA}).status_code == 400


# --- routing, auth, verbs ------------------------------------------------------------------


def test_method_names_ignore_case_and_log_in_docs_spelling(sandbox):
    # The docs' VBA example calls ArchiveChat.
    url = f"{sandbox.api_url}/waInstance{sandbox.id_instance}/ArchiveChat/{sandbox.token}"
    answer = requests.post(url, data=json.dumps({"chatId": ANNA}), headers={"Content-Type": "application/json"},
                           timeout=10)
    assert answer.status_code == 200 and sandbox.chats[ANNA].archive
    assert sandbox.log[-1]["method"] == "archiveChat"
    assert requests.get(sandbox.method_url("GETSTATEINSTANCE"), timeout=10).status_code == 200


def test_wrong_instance_403_wrong_token_401_unknown_method_404_wrong_verb_405(sandbox):
    base = sandbox.api_url
    body = {"chatId": ANNA}
    assert requests.post(f"{base}/waInstance1101000002/archiveChat/{sandbox.token}", json=body).status_code == 403
    assert requests.post(f"{base}/waInstance1101000002/archiveChat/wrong", json=body).status_code == 403
    assert requests.post(f"{base}/waInstance{sandbox.id_instance}/archiveChat/wrong", json=body).status_code == 401
    assert requests.post(sandbox.method_url("sendMessage"), json=body).status_code == 404
    assert requests.get(f"{base}/somewhere/else").status_code == 404
    assert requests.get(sandbox.method_url("archiveChat")).status_code == 405
    assert requests.post(sandbox.method_url("getChats")).status_code == 405
    assert sandbox.archived_ids() == {c["id"] for c in DEFAULT_CHATS if c.get("archive")}


def test_docs_curl_example_verbatim(sandbox):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    command = (
        f"curl --location '{sandbox.api_url}/waInstance{sandbox.id_instance}/archiveChat/{sandbox.token}' \\\n"
        "--header 'Content-Type: application/json' \\\n"
        "--data-raw '{\n"
        f'    "chatId": "{DOCS_GROUP}"\n'
        "}'"
    )
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout == ""
    assert sandbox.chats[DOCS_GROUP].archive is True
    assert sandbox.calls("archiveChat")[-1]["status"] == 200


def test_official_sdk_talks_to_the_sandbox(sandbox):
    from whatsapp_api_client_python.API import GreenAPI

    sdk = GreenAPI(sandbox.id_instance, sandbox.token, host=sandbox.api_url)
    archived = sdk.serviceMethods.archiveChat(ANNA)
    assert archived.code == 200
    assert sandbox.chats[ANNA].archive is True
    state = sdk.account.getStateInstance()
    assert state.code == 200 and state.data["stateInstance"] == "authorized"


# --- rate limits ---------------------------------------------------------------------------


def test_burst_of_30_archive_calls_about_10_accepted_rest_429(make_sandbox):
    ids = [c["id"] for c in DEFAULT_CHATS if not c.get("archive") and c.get("incoming", 1) > 0][:30]
    sb = make_sandbox()                           # default rps=10
    start = threading.Barrier(len(ids))

    def call(chat_id):
        with requests.Session() as session:
            start.wait()
            return session.post(sb.method_url("archiveChat"), json={"chatId": chat_id}, timeout=10)

    with ThreadPoolExecutor(len(ids)) as pool:
        answers = list(pool.map(call, ids))
    accepted = [a for a in answers if a.status_code == 200]
    limited = [a for a in answers if a.status_code == 429]
    assert len(accepted) + len(limited) == 30
    # A sliding one-second window: 10, a few more only if the burst itself took over a second.
    assert 10 <= len(accepted) <= 15
    assert all(a.headers.get("Retry-After") == "1" for a in limited)
    assert len(sb.archived_ids()) == len(accepted) + sum(c.get("archive", False) for c in DEFAULT_CHATS)


def test_read_methods_are_limited_to_one_per_second_each(make_sandbox):
    sb = make_sandbox()
    first = requests.get(sb.method_url("getStateInstance"), timeout=10)
    second = requests.get(sb.method_url("getStateInstance"), timeout=10)
    other_method = requests.get(sb.method_url("getChats"), timeout=10)
    assert (first.status_code, second.status_code, other_method.status_code) == (200, 429, 200)
    assert sb.calls("getStateInstance")[-1]["status"] == 429


# --- faults --------------------------------------------------------------------------------


def _fault_run(make_sandbox, seed):
    sb = make_sandbox(rps=1000, read_rps=1000, faults=0.5, seed=seed, slow_reply_s=0.01)
    chat_ids = [c["id"] for c in DEFAULT_CHATS if not c.get("archive") and c.get("incoming", 1) > 0]
    statuses = []
    for chat_id in chat_ids:
        try:
            statuses.append(post(sb, "archiveChat", {"chatId": chat_id}).status_code)
        except requests.ConnectionError:
            statuses.append("dropped")
    return [entry["fault"] for entry in sb.log], statuses, sb.archived_ids()


def test_faults_repeat_with_the_same_seed(make_sandbox):
    faults_a, statuses_a, archived_a = _fault_run(make_sandbox, 7)
    faults_b, statuses_b, archived_b = _fault_run(make_sandbox, 7)
    faults_c, _, _ = _fault_run(make_sandbox, 8)
    assert (faults_a, statuses_a, archived_a) == (faults_b, statuses_b, archived_b)
    assert faults_a != faults_c
    assert 0 < sum(f is not None for f in faults_a) < len(faults_a)
    assert set(faults_a) - {None} <= set(FAULTS)


def test_applied_faults_change_the_chat_but_the_client_sees_a_failure(sandbox):
    sandbox.inject("applied_502", "applied_drop", "502", "drop")
    assert post(sandbox, "archiveChat", {"chatId": ANNA}).status_code == 502
    with pytest.raises(requests.ConnectionError):
        post(sandbox, "archiveChat", {"chatId": "79161234567@c.us"})
    assert post(sandbox, "archiveChat", {"chatId": "79262345678@c.us"}).status_code == 502
    with pytest.raises(requests.ConnectionError):
        post(sandbox, "archiveChat", {"chatId": "79517654321@c.us"})
    archived = sandbox.archived_ids()
    assert {ANNA, "79161234567@c.us"} <= archived
    assert not {"79262345678@c.us", "79517654321@c.us"} & archived
    assert [e["fault"] for e in sandbox.calls("archiveChat")] == ["applied_502", "applied_drop", "502", "drop"]
    assert [e["status"] for e in sandbox.calls("archiveChat")] == [502, None, 502, None]
    # The queue is used up: the next call is served normally.
    assert post(sandbox, "archiveChat", {"chatId": "79517654321@c.us"}).status_code == 200


def test_simple_error_faults_and_slow_reply(make_sandbox):
    sb = make_sandbox(rps=1000, read_rps=1000, slow_reply_s=0.5)
    sb.inject("429", "499", "500", method="getStateInstance")
    codes = [requests.get(sb.method_url("getStateInstance"), timeout=10).status_code for _ in range(4)]
    assert codes == [429, 499, 500, 200]
    sb.inject("slow")
    with pytest.raises(requests.Timeout):
        post(sb, "archiveChat", {"chatId": ANNA}, timeout=0.1)
    deadline = time.monotonic() + 10
    while ANNA not in sb.archived_ids() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ANNA in sb.archived_ids()         # the slow reply still did the work


def test_inject_refuses_unknown_faults(sandbox):
    with pytest.raises(ValueError):
        sandbox.inject("boom")
    with pytest.raises(ValueError):
        sandbox.inject("applied_502", method="getChats")


def test_quota_answers_466_with_greenapi_body(make_sandbox):
    sb = make_sandbox(rps=1000, quota=2)
    assert post(sb, "archiveChat", {"chatId": ANNA}).status_code == 200
    assert post(sb, "unarchiveChat", {"chatId": ANNA}).status_code == 200
    answer = post(sb, "archiveChat", {"chatId": ANNA})
    assert answer.status_code == 466
    status = answer.json()["invokeStatus"]
    assert status["status"] == "QUOTE_EXCEEDED" and status["total"] == 2
    assert status["description"].startswith("Monthly quota has been exceeded.")
    assert ANNA not in sb.archived_ids()


# --- concurrency ---------------------------------------------------------------------------


def test_holds_300_concurrent_kept_alive_connections(make_sandbox):
    sb = make_sandbox(rps=100000, read_rps=100000, latency_ms=100)
    port = int(sb.api_url.rsplit(":", 1)[1])
    path = f"/waInstance{sb.id_instance}/getStateInstance/{sb.token}"
    connected = threading.Barrier(300)

    def two_calls_on_one_connection(_):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.connect()
            first_socket = connection.sock
            connected.wait()
            results = []
            for _ in range(2):
                connection.request("GET", path)
                answer = connection.getresponse()
                results.append((answer.status, answer.read()))
            return results, connection.sock is first_socket
        finally:
            connection.close()

    with ThreadPoolExecutor(300) as pool:
        outcomes = list(pool.map(two_calls_on_one_connection, range(300)))
    assert all(results == [(200, b'{"stateInstance": "authorized"}')] * 2 for results, _ in outcomes)
    assert all(same_socket for _, same_socket in outcomes)
    # Latency delays replies side by side: many log intervals overlap.
    spans = sorted((e["time"], e["time"] + e["ms"] / 1000) for e in sb.log)
    most_in_flight = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert most_in_flight > 10


# --- files and the command line ------------------------------------------------------------


def test_state_file_defaults_and_errors(tmp_path):
    state = tmp_path / "chats.json"
    state.write_text(json.dumps({"chats": [{"id": "79001234567@c.us", "name": "Anna", "incoming": 3,
                                            "archive": False}, {"id": "120363043968066561@g.us"}]}))
    with Sandbox(load_state(state)) as sb:
        group = sb.chats["120363043968066561@g.us"]
        assert (group.name, group.incoming, group.archive, group.type) == ("", 1, False, "group")
    for bad in ('{"chats": [{"id": "Anna"}]}', "[]", "{not json", '{"chats": [{"id": "79001234567@c.us", '
                '"incoming": "x"}]}'):
        state.write_text(bad)
        with pytest.raises(ConfigError):
            load_state(state)
    with pytest.raises(ConfigError):
        load_state(tmp_path / "missing.json")


def _cli(*args):
    script = Path(sys.executable).with_name("greenapi-excel")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "greenapi_excel"]
    return command + ["sandbox", *args]


def _start_cli(*args):
    process = subprocess.Popen(_cli(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert "apiUrl=" in line, line + process.stderr.read()
    fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
    return process, line, fields


def test_cli_serves_logs_and_stops_cleanly_on_sigterm(tmp_path):
    token = "f" * 10 + "secret-token-value" + "0" * 20
    state = tmp_path / "chats.json"
    state.write_text(json.dumps({"chats": [{"id": ANNA, "name": "Anna", "incoming": 3}]}))
    log = tmp_path / "requests.jsonl"
    process, line, fields = _start_cli("--port", "0", "--id-instance", "1101000077", "--api-token", token,
                                       "--state", str(state), "--log", str(log))
    try:
        assert fields["idInstance"] == "1101000077"
        assert not fields["apiUrl"].endswith(":0")
        url = f"{fields['apiUrl']}/waInstance1101000077/archiveChat/{token}"
        assert requests.post(url, json={"chatId": ANNA}, timeout=10).status_code == 200
        assert requests.post(url, json={"chatId": ANNA}, timeout=10).status_code == 400
        assert requests.post(url.replace(token, "wrong"), json={"chatId": ANNA}, timeout=10).status_code == 401
        records = [json.loads(row) for row in log.read_text().splitlines()]  # flushed as it goes
        assert len(records) == 3
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0
    assert all(set(record) == LOG_KEYS for record in records)
    assert [(r["method"], r["chatId"], r["status"], r["fault"]) for r in records] == [
        ("archiveChat", ANNA, 200, None), ("archiveChat", ANNA, 400, None), ("archiveChat", ANNA, 401, None)]
    assert all(isinstance(r["time"], float) and isinstance(r["ms"], float) for r in records)
    assert token not in line + out + err + log.read_text()
    assert "Traceback" not in err


def test_cli_generates_a_token_and_prints_it_once():
    process, _, fields = _start_cli("--port", "0")
    try:
        token_line = process.stdout.readline()
        assert token_line.startswith("apiTokenInstance=")
        token = token_line.strip().split("=", 1)[1]
        url = f"{fields['apiUrl']}/waInstance{fields['idInstance']}/getStateInstance/{token}"
        assert requests.get(url, timeout=10).json() == {"stateInstance": "authorized"}
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0
    assert token not in out + err


@pytest.mark.parametrize("args, says", [
    (["--state", "/nonexistent/chats.json"], "cannot read state file"),
    (["--faults", "1.5"], "faults"),
    (["--port", "seven"], "invalid int value"),
])
def test_cli_bad_input_is_a_clear_message(args, says):
    done = subprocess.run(_cli("--port", "0", *args) if "--port" not in args else _cli(*args),
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert says in done.stderr and "Traceback" not in done.stderr


def test_log_file_never_holds_the_token(tmp_path, make_sandbox):
    log = tmp_path / "log.jsonl"
    sb = make_sandbox(rps=1000, read_rps=1000, log_path=log, faults=0.3, seed=1, slow_reply_s=0.01)
    for chat in DEFAULT_CHATS[:10]:
        try:
            post(sb, "archiveChat", {"chatId": chat["id"]})
        except requests.ConnectionError:
            pass
    requests.get(f"{sb.api_url}/waInstance{sb.id_instance}/getChats/{sb.token}x", timeout=10)
    sb.stop()
    text = log.read_text()
    assert sb.token not in text
    rows = [json.loads(row) for row in text.splitlines()]
    assert len(rows) == 11 and rows == sb.log
    assert all(set(row) == LOG_KEYS for row in rows)

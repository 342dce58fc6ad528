"""The sandbox's options that make it behave as GREEN-API's documentation says the real service does
(docs/GREEN-API.md), each exercised over real HTTP on loopback, in process and through its command line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
import requests
from cli_helpers import run_cli, sandbox_env

from greenapi_excel import chatlist
from greenapi_excel.sandbox import (CHECK_WHATSAPP_REFUSAL, DEFAULT_CHATS, JOURNAL_LIMIT, SILENT_FAILURE, STARTING_TEXT,
                                    STATE_REFUSALS, STATES, YES_NO_SETTINGS, Sandbox, made_up_lid)
from greenapi_excel.errors import ConfigError

ANNA = "79001234567@c.us"                   # built-in: the first person chat, incoming 3, active today
DMITRY = "79161234567@c.us"                 # built-in: the second one
SERGEY = "79031112233@c.us"                 # built-in, archived
GROUP = "120363043968066561@g.us"
FAST = {"rps": 1000, "read_rps": 1000}


def post(sandbox, method, body):
    return requests.post(sandbox.method_url(method), json=body, timeout=10)


def get(sandbox, method, **params):
    return requests.get(sandbox.method_url(method), params=params, timeout=10)


def until(condition, what, seconds=20.0):
    """Ask again until ``condition()`` holds (the sandbox's clock runs on its own); fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"still not {what} after {seconds} s")
        time.sleep(0.05)


# --- @lid chats ----------------------------------------------------------------------------------


def test_lid_chats_are_listed_by_lid_and_every_method_takes_either_id(make_sandbox):
    sb = make_sandbox(lid_chats=2, **FAST)
    anna_lid, dmitry_lid = made_up_lid(ANNA), made_up_lid(DMITRY)
    assert re.fullmatch(r"\d{15}@lid", anna_lid) and anna_lid != dmitry_lid and sb.lid_of(ANNA) == anna_lid
    listed = [chat["id"] for chat in get(sb, "getChats").json()]
    assert listed[:2] == [anna_lid, dmitry_lid] and listed[2:] == [c["id"] for c in DEFAULT_CHATS[2:]]
    answer = post(sb, "archiveChat", {"chatId": anna_lid})
    assert (answer.status_code, answer.text) == (200, "") and ANNA in sb.archived_ids()
    assert post(sb, "archiveChat", {"chatId": ANNA}).text == f"ArchiveChatError: chat with id {ANNA} already archive=true"
    info = post(sb, "getContactInfo", {"chatId": anna_lid}).json()
    assert (info["chatId"], info["isArchive"]) == (anna_lid, True)
    assert post(sb, "unarchiveChat", {"chatId": ANNA}).status_code == 200 and ANNA not in sb.archived_ids()
    unknown = "120650379300999@lid"
    assert post(sb, "archiveChat", {"chatId": unknown}).text == f"ArchiveChatError: chat with id {unknown} not found"


def test_check_whatsapp_gives_a_numbers_lid_as_its_docs_say(make_sandbox):
    sb = make_sandbox(lid_chats=1, **FAST)
    anna_lid = made_up_lid(ANNA)
    for body in ({"phoneNumber": 79001234567}, {"chatId": "79001234567"}, {"chatId": ANNA}, {"chatId": anna_lid}):
        assert post(sb, "checkWhatsapp", body).json() == {"existsWhatsapp": True, "chatId": anna_lid}, body
    assert post(sb, "checkWhatsapp", {"chatId": DMITRY}).json() == {"existsWhatsapp": True, "chatId": DMITRY}
    assert post(sb, "checkWhatsapp", {"phoneNumber": 79990001122}).json() == {"existsWhatsapp": False}
    for body, text in (({"phoneNumber": 7900}, "bad phone number, valid from 11 to 16 digits"),
                       ({"phoneNumber": "7900x"}, "Validation failed. Details: Wrong format. 'phoneNumber' must "
                                                  "contain only digits"),
                       ({"phoneNumber": 79001234567, "chatId": ANNA}, "Validation failed"),
                       ({"chatId": GROUP}, "Validation failed"),
                       ({}, "Validation failed. Details: 'value' must have at least 1 key")):
        answer = post(sb, "checkWhatsapp", body)
        assert (answer.status_code, answer.text) == (400, text), body


@pytest.mark.parametrize("chat_list_ids, journal_ids", [("lid", "lid"), ("phone", "lid"), ("lid", "phone")])
def test_getchats_and_the_journals_each_name_a_lid_chat_as_asked(make_sandbox, chat_list_ids, journal_ids):
    sb = make_sandbox(lid_chats=1, chat_list_ids=chat_list_ids, journal_ids=journal_ids, **FAST)
    anna_lid = made_up_lid(ANNA)
    named = {"lid": anna_lid, "phone": ANNA}
    assert get(sb, "getChats").json()[0]["id"] == named[chat_list_ids]
    incoming = [m for m in get(sb, "lastIncomingMessages", minutes=1440).json() if m["chatId"] in named.values()]
    outgoing = get(sb, "lastOutgoingMessages", minutes=1440).json()
    assert [(m["chatId"], m["senderId"]) for m in incoming] == [(named[journal_ids], named[journal_ids])]
    assert set(named.values()) & {m["chatId"] for m in outgoing} == {named[journal_ids]}


def test_a_state_file_may_give_a_chat_its_lid_and_bad_ones_are_refused(make_sandbox):
    lid = "120650379300963@lid"
    sb = make_sandbox([{"id": ANNA, "name": "Anna", "lid": lid}, {"id": GROUP}], **FAST)
    assert [c["id"] for c in get(sb, "getChats").json()] == [lid, GROUP]
    for chats in ([{"id": ANNA, "lid": "12@lid"}], [{"id": GROUP, "lid": lid}], [{"id": lid}],
                  [{"id": ANNA, "lid": lid}, {"id": DMITRY, "lid": lid}]):
        with pytest.raises(ConfigError, match="lid|chat ID"):
            Sandbox(chats)


# --- the journals: what reaches them, and since when ------------------------------------------------


def test_a_fresh_instance_has_every_setting_off_and_empty_journals(make_sandbox):
    sb = make_sandbox(fresh_instance=True, **FAST)
    settings = get(sb, "getSettings").json()
    assert {key: settings[key] for key in YES_NO_SETTINGS} == {key: "no" for key in YES_NO_SETTINGS}
    assert get(sb, "lastIncomingMessages", minutes=525600).json() == []
    assert get(sb, "lastOutgoingMessages", minutes=525600).json() == []
    assert post(sb, "archiveChat", {"chatId": ANNA}).status_code == 400


def test_switching_the_settings_on_starts_the_journals_then_and_not_before(make_sandbox):
    sb = make_sandbox(fresh_instance=True, **FAST)
    switched = time.time()
    assert post(sb, "setSettings", {"incomingWebhook": "yes", "outgoingMessageWebhook": "yes"}).json() == {
        "saveSettings": True}
    # Anna wrote today, before the switch: that message never reaches the journal (docs: LastIncomingMessages).
    assert get(sb, "lastIncomingMessages", minutes=525600).json() == []
    assert get(sb, "lastOutgoingMessages", minutes=525600).json() == []
    sb.deliver(DMITRY)
    (message,) = get(sb, "lastIncomingMessages", minutes=60).json()
    assert message["chatId"] == DMITRY and message["timestamp"] >= int(switched)
    assert sb.settings_since["incomingWebhook"] >= switched


def test_with_outgoing_message_webhook_off_no_phone_message_is_journaled(make_sandbox):
    sb = make_sandbox(outgoing_message_webhook="no", **FAST)
    assert get(sb, "getSettings").json()["outgoingMessageWebhook"] == "no"
    assert get(sb, "lastOutgoingMessages", minutes=525600).json() == []
    assert get(sb, "lastIncomingMessages", minutes=525600).json() != []


def test_webhooks_switched_on_days_ago_bound_both_journals(make_sandbox):
    sb = make_sandbox(webhooks_since_days=5, **FAST)
    oldest_allowed = time.time() - 5 * 86_400 - 60
    for method in ("lastIncomingMessages", "lastOutgoingMessages"):
        stamps = [m["timestamp"] for m in get(sb, method, minutes=43200).json()]
        assert stamps and min(stamps) >= oldest_allowed, method
    everything = make_sandbox(**FAST)
    assert min(m["timestamp"] for m in get(everything, "lastIncomingMessages", minutes=43200).json()) < oldest_allowed


def test_many_messages_a_chat_fill_the_journal_to_its_cap_and_reach_back_less(make_sandbox):
    sb = make_sandbox(messages_per_chat=600, message_gap_minutes=5, **FAST)
    now = datetime.now()
    incoming = get(sb, "lastIncomingMessages", minutes=30 * 1440).json()
    outgoing = get(sb, "lastOutgoingMessages", minutes=30 * 1440).json()
    assert len(incoming) == JOURNAL_LIMIT and len(outgoing) == JOURNAL_LIMIT
    stamps = [m["timestamp"] for m in incoming]
    assert stamps == sorted(stamps, reverse=True) and len(set((m["chatId"], m["timestamp"]) for m in incoming)) == len(
        incoming)
    per_chat = {}
    for message in incoming:
        per_chat[message["chatId"]] = per_chat.get(message["chatId"], 0) + 1
    assert max(per_chat.values()) == 600
    reach = chatlist.journal_reach(30, incoming, outgoing, now=now)
    assert reach.cause == chatlist.JOURNAL_FULL and reach.days < 30
    assert reach.incoming == int((now.timestamp() - min(stamps)) // 86_400)


# --- the restart after setSettings, and the instance's states -------------------------------------------


def test_set_settings_restarts_the_instance_and_every_method_waits(make_sandbox):
    sb = make_sandbox(incoming_webhook="no", restart_s=1.0, **FAST)
    assert post(sb, "setSettings", {"incomingWebhook": "yes"}).json() == {"saveSettings": True}
    assert get(sb, "getStateInstance").json() == {"stateInstance": "starting"}
    for answer in (post(sb, "archiveChat", {"chatId": ANNA}), get(sb, "getChats"), get(sb, "getSettings"),
                   get(sb, "lastIncomingMessages"), post(sb, "setSettings", {"incomingWebhook": "yes"})):
        assert (answer.status_code, answer.text) == (400, STARTING_TEXT)
    assert post(sb, "checkWhatsapp", {"chatId": ANNA}).text == CHECK_WHATSAPP_REFUSAL
    assert sb.incoming_webhook == "no"                                 # applied when the restart ends
    until(lambda: get(sb, "getStateInstance").json() == {"stateInstance": "authorized"}, "authorized again")
    assert get(sb, "getSettings").json()["incomingWebhook"] == "yes"
    assert post(sb, "archiveChat", {"chatId": ANNA}).status_code == 200
    sb.begin_restart(0.3)                                              # a reboot, as a test can start one
    assert get(sb, "getStateInstance").json() == {"stateInstance": "starting"}


@pytest.mark.parametrize("state", STATES)
def test_each_state_is_answered_and_the_other_methods_answer_as_in_it(make_sandbox, state):
    sb = make_sandbox(state_instance=state, **FAST)
    assert get(sb, "getStateInstance").json() == {"stateInstance": state}
    archived = post(sb, "archiveChat", {"chatId": ANNA})
    settings = get(sb, "getSettings")
    if STATE_REFUSALS[state] is None:
        assert archived.status_code == 200 and settings.status_code == 200
    else:
        assert (archived.status_code, archived.text) == (400, STATE_REFUSALS[state])
        assert settings.status_code == (400 if state == "starting" else 200)


# --- getChats: empty first answers, count, refresh ---------------------------------------------------------


def test_the_first_chat_lists_can_come_back_empty(make_sandbox):
    sb = make_sandbox(empty_chat_lists=2, **FAST)
    answers = [get(sb, "getChats").json() for _ in range(3)]
    assert answers[:2] == [[], []] and len(answers[2]) == len(DEFAULT_CHATS)


def test_getchats_count_gives_the_chats_with_the_newest_activity(make_sandbox):
    from whatsapp_api_client_python.API import GreenAPI

    sb = make_sandbox(**FAST)
    newest = sorted(sb.chats.values(), key=lambda c: -max(t for t in (c.last_incoming, c.last_outgoing) if t))[:3]
    assert [c["id"] for c in get(sb, "getChats", count=3).json()] == [c.id for c in newest]
    sdk = GreenAPI(sb.id_instance, sb.token, host=sb.api_url)          # the official SDK asks ?count= the same way
    assert [c["id"] for c in sdk.serviceMethods.getChats(3).data] == [c.id for c in newest]
    assert get(sb, "getChats", count="x").status_code == 400
    assert len(get(sb, "getChats").json()) == len(DEFAULT_CHATS)


def test_getchats_answers_a_list_refreshed_at_most_as_often_as_set(make_sandbox):
    stale = make_sandbox(chats_refresh_s=600, **FAST)
    assert not next(c for c in get(stale, "getChats").json() if c["id"] == ANNA)["archive"]
    assert post(stale, "archiveChat", {"chatId": ANNA}).status_code == 200
    assert not next(c for c in get(stale, "getChats").json() if c["id"] == ANNA)["archive"]   # not refreshed yet
    fresh = make_sandbox(chats_refresh_s=0.2, **FAST)
    get(fresh, "getChats")
    post(fresh, "archiveChat", {"chatId": ANNA})
    until(lambda: next(c for c in get(fresh, "getChats").json() if c["id"] == ANNA)["archive"], "refreshed")


# --- archive calls that change nothing, and chats that come back ----------------------------------------------


def test_a_silent_failure_answers_200_archives_nothing_and_yields_to_unarchive_then_archive(make_sandbox):
    sb = make_sandbox(silent_failure_chats=[made_up_lid(ANNA)], lid_chats=1, **FAST)
    answer = post(sb, "archiveChat", {"chatId": ANNA})
    assert (answer.status_code, answer.text) == (200, "") and sb.calls("archiveChat")[-1]["fault"] == SILENT_FAILURE
    assert ANNA not in sb.archived_ids()
    assert not next(c for c in get(sb, "getChats").json() if c["id"] == made_up_lid(ANNA))["archive"]
    assert post(sb, "getContactInfo", {"chatId": ANNA}).json()["isArchive"] is False
    assert post(sb, "archiveChat", {"chatId": ANNA}).text == f"ArchiveChatError: chat with id {ANNA} already archive=true"
    # The maintainers' workaround (green-api issues #488, #744): unarchive, then archive again.
    assert post(sb, "unarchiveChat", {"chatId": ANNA}).status_code == 200
    assert post(sb, "archiveChat", {"chatId": ANNA}).status_code == 200 and ANNA in sb.archived_ids()
    assert sb.calls("archiveChat")[-1]["fault"] is None


def test_a_fraction_of_archive_calls_fails_silently_the_same_way_for_a_seed(make_sandbox):
    def run(seed):
        sb = make_sandbox(silent_failures=0.5, seed=seed, **FAST)
        chats = [c["id"] for c in DEFAULT_CHATS if not c.get("archive") and c.get("incoming", 1) > 0]
        assert all(post(sb, "archiveChat", {"chatId": chat}).status_code == 200 for chat in chats)
        return set(chats) - sb.archived_ids()

    first, again, other = run(5), run(5), run(6)
    assert first == again and first != other and 0 < len(first) < 40


def test_a_group_is_refused_by_getcontactinfo_when_asked(make_sandbox):
    refusing = make_sandbox(group_contact_info="refuse", **FAST)
    answer = post(refusing, "getContactInfo", {"chatId": GROUP})
    assert (answer.status_code, answer.text) == (400, "Validation failed")
    assert post(refusing, "getContactInfo", {"chatId": ANNA}).status_code == 200
    assert post(make_sandbox(**FAST), "getContactInfo", {"chatId": GROUP}).json()["chatId"] == GROUP


def test_a_new_message_brings_an_archived_chat_back_only_without_keep_chats_archived(make_sandbox):
    kept, back = make_sandbox(**FAST), make_sandbox(keep_chats_archived=False, **FAST)
    for sb in (kept, back):
        sb.deliver(SERGEY)
    assert SERGEY in kept.archived_ids() and SERGEY not in back.archived_ids()
    assert not next(c for c in get(back, "getChats").json() if c["id"] == SERGEY)["archive"]


# --- the engine: @lid cells archived end to end ---------------------------------------------------------------


def test_lid_rows_of_a_book_are_archived(make_sandbox, tmp_path):
    sb = make_sandbox(lid_chats=2, **FAST)
    listed = [c["id"] for c in get(sb, "getChats").json()][:2]
    book = tmp_path / "lids.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["Chat ID"])
    for chat_id in listed + ["120650379300999@lid"]:
        wb.active.append([chat_id])
    wb.save(book)
    done = run_cli("archive", book, "--no-progress", env=sandbox_env(sb, tmp_path))
    statuses = [row[1] for row in openpyxl.load_workbook(book).active.iter_rows(min_row=2, values_only=True)]
    assert statuses == ["Archived", "Archived", "Chat not found"], done.stdout + done.stderr
    assert {ANNA, DMITRY} <= sb.archived_ids()


# --- the command line -------------------------------------------------------------------------------------------


def _sandbox_cli(*args):
    return [sys.executable, "-m", "greenapi_excel", "sandbox", *map(str, args)]


def test_every_option_is_a_flag_and_takes_effect(tmp_path):
    process = subprocess.Popen(
        _sandbox_cli("--port", "0", "--api-token", "t" * 30, "--lid-chats", "1", "--chat-list-ids", "lid",
                     "--journal-ids", "phone", "--empty-chat-lists", "1", "--state-instance", "sleepMode",
                     "--outgoing-message-webhook", "no", "--restart-s", "0.2", "--silent-failure-chat", ANNA,
                     "--group-contact-info", "refuse", "--messages-per-chat", "2", "--message-gap-minutes", "10",
                     "--chats-refresh-s", "0", "--webhooks-since-days", "30", "--silent-failures", "0",
                     "--rps", "1000", "--read-rps", "1000"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        base = f"{fields['apiUrl']}/waInstance{fields['idInstance']}"

        def url(method):
            return f"{base}/{method}/{'t' * 30}"

        assert requests.get(url("getChats"), timeout=10).json() == []
        assert requests.get(url("getChats"), timeout=10).json()[0]["id"] == made_up_lid(ANNA)
        assert requests.get(url("getStateInstance"), timeout=10).json() == {"stateInstance": "sleepMode"}
        assert requests.get(url("lastOutgoingMessages"), timeout=10).json() == []
        anna = [m for m in requests.get(url("lastIncomingMessages"), timeout=10).json() if m["chatId"] == ANNA]
        assert len(anna) == 2 and anna[0]["timestamp"] - anna[1]["timestamp"] == 600
        assert requests.post(url("getContactInfo"), json={"chatId": GROUP}, timeout=10).status_code == 400
        assert requests.post(url("archiveChat"), json={"chatId": ANNA}, timeout=10).status_code == 200
        assert not requests.post(url("getContactInfo"), json={"chatId": ANNA}, timeout=10).json()["isArchive"]
        requests.post(url("setSettings"), json={"outgoingMessageWebhook": "yes"}, timeout=10)
        assert requests.get(url("getStateInstance"), timeout=10).json() == {"stateInstance": "starting"}
    finally:
        process.terminate()
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0 and "Traceback" not in err


def test_lang_ru_is_accepted_and_speaks_russian(tmp_path):
    helped = subprocess.run(_sandbox_cli("--help", "--lang", "ru"), capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and re.search("[а-я]{5}", helped.stdout)
    for flag in ("--lid-chats", "--restart-s", "--state-instance", "--empty-chat-lists", "--silent-failures",
                 "--group-contact-info", "--messages-per-chat", "--fresh-instance", "--webhooks-since-days",
                 "--outgoing-message-webhook", "--chats-refresh-s", "--journal-ids", "--chat-list-ids"):
        assert flag in helped.stdout
    refused = subprocess.run(_sandbox_cli("--lang", "ru", "--faults", "2"), capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 2 and re.search("[а-я]{5}", refused.stderr) and "Traceback" not in refused.stderr
    process = subprocess.Popen(_sandbox_cli("--lang", "ru", "--port", "0"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert "apiUrl=http://" in line and "idInstance=1101000001" in line and re.search("[а-я]{4}", line)
    finally:
        process.terminate()
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0 and re.search("[а-я]{4}", out)

"""Issue 19: the GREEN-API account as its documentation says it is (docs/GREEN-API.md), with each behaviour of
the sandbox switched on: @lid chats, journals that know less than they seem, restarts, states, an empty
getChats, statuses that may not hold (verify, --fix, --keep-archived).

Real CLI processes (and, where a wait of minutes must be shortened, the jobs in this process) against the
sandbox over loopback; books read back with openpyxl; the sandbox's own state and call log read back after
each step. The scenario table of tests/test_drivers.py holds both drivers to the same run decisions."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from cli_helpers import run_cli, sandbox_env

from greenapi_excel import chatsheet, filebook, jobs, methods, pacing, statuses as st
from greenapi_excel.calls import Waits
from greenapi_excel.chat_identity import from_check_whatsapp
from greenapi_excel.client import Credentials, GreenApiClient
from greenapi_excel.journal import Journal

DAY = 86_400
ANNA = "79001234567@c.us"          # built-in book: active today, incoming 3
DMITRY = "79161234567@c.us"
OLGA = "79262345678@c.us"
GROUP = "120363043968066561@g.us"
FAST = {"rps": 1000, "read_rps": 1000}


def iso(days_ago: float) -> str:
    return datetime.utcfromtimestamp(time.time() - days_ago * DAY).strftime("%Y-%m-%dT%H:%M:%SZ")


# A small account: some chats active, some idle for a long time, one never written to.
CHATS = [
    {"id": ANNA, "name": "Anna", "incoming": 3, "last_incoming": iso(0.2), "last_outgoing": iso(0.1)},
    {"id": "79001234568@c.us", "name": "Boris", "incoming": 1, "last_incoming": iso(45), "last_outgoing": iso(50)},
    {"id": "4917012345670@c.us", "name": "Jonas", "incoming": 5, "last_outgoing": iso(70)},
    {"id": "77011234567@c.us", "name": "Aigerim", "incoming": 1},
    {"id": "120363025948372615@g.us", "name": "Old project", "incoming": 4, "last_incoming": iso(90)},
]


def cli(*args, env, code=None):
    proc = run_cli(*args, env=env)
    if code is not None:
        assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def book_of(path: Path, chats, *, statuses=None) -> Path:
    wb = openpyxl.Workbook()
    wb.active.title = "Chats"
    wb.active.append(["Chat ID", "Status", "Details", "Updated"] if statuses else ["Chat ID"])
    for index, chat in enumerate(chats):
        wb.active.append([chat] + ([statuses[index]] if statuses else []))
    wb.save(path)
    return path


def column(path: Path, col: int, sheet: str = "Chats") -> list:
    ws = openpyxl.load_workbook(path)[sheet]
    return [ws.cell(r, col).value for r in range(2, ws.max_row + 1)]


def age_journal(path: Path, seconds: float = 120) -> None:
    """As if the calls so far were made ``seconds`` ago (getChats shows a change at most a minute later)."""
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE calls SET sent_at = sent_at - ?, updated_at = updated_at - ?", (seconds, seconds))


def client_of(sandbox, **waits) -> GreenApiClient:
    pacing.forget_pacers()
    return GreenApiClient(Credentials(sandbox.api_url, sandbox.id_instance, sandbox.token), rate=1000,
                          read_rate=1000, waits=Waits(**waits))


# --- 1. @lid end to end ----------------------------------------------------------------------------------


def test_lid_rows_are_archived_and_one_chat_on_two_rows_is_called_once(make_sandbox, tmp_path):
    sandbox = make_sandbox(lid_chats=2, **FAST)
    anna_lid, dmitry_lid = sandbox.lid_of(ANNA), sandbox.lid_of(DMITRY)
    env = sandbox_env(sandbox, tmp_path)
    book = book_of(tmp_path / "lids.xlsx", [ANNA, anna_lid, dmitry_lid, GROUP])

    cli("archive", book, "--no-progress", env=env, code=0)
    assert column(book, 2) == [st.ARCHIVED, st.DUPLICATE, st.ARCHIVED, st.ARCHIVED]
    assert "row 2" in column(book, 3)[1]
    assert sorted(c["chatId"] for c in sandbox.calls("archiveChat")) == sorted([ANNA, dmitry_lid, GROUP])
    assert {ANNA, DMITRY, GROUP} <= sandbox.archived_ids()
    assert [c["chatId"] for c in sandbox.calls("checkWhatsapp")] == [ANNA]   # the one documented mapping

    # The journal keeps the link: sending again asks checkWhatsapp nothing more, and still calls Anna once.
    cli("unarchive", book, "--no-progress", env=env, code=0)
    assert column(book, 2) == [st.UNARCHIVED, st.DUPLICATE, st.UNARCHIVED, st.UNARCHIVED]
    assert len(sandbox.calls("checkWhatsapp")) == 1 and len(sandbox.calls("unarchiveChat")) == 3


def test_a_dry_run_finds_a_number_that_getchats_lists_by_its_lid(make_sandbox, tmp_path):
    sandbox = make_sandbox(lid_chats=3, chat_list_ids="lid", **FAST)
    env = sandbox_env(sandbox, tmp_path)
    book = book_of(tmp_path / "numbers.xlsx", [ANNA, DMITRY, "79990001122@c.us"])
    cli("archive", book, "--dry-run", "--no-progress", env=env, code=1)
    assert column(book, 2) == [st.WOULD_ARCHIVE, st.WOULD_ARCHIVE, st.CHAT_NOT_FOUND]
    assert sandbox.archived_ids().isdisjoint({ANNA, DMITRY})


def test_load_chats_counts_messages_the_journals_name_by_lid_for_the_number_listed(make_sandbox, tmp_path):
    sandbox = make_sandbox(lid_chats=2, chat_list_ids="phone", journal_ids="lid", **FAST)
    env = sandbox_env(sandbox, tmp_path)
    book = tmp_path / "account.xlsx"
    cli("chats", book, env=env, code=0)
    ws = openpyxl.load_workbook(book)["Chats"]
    rows = {ws.cell(r, 1).value: [ws.cell(r, c).value for c in range(1, 8)] for r in range(2, ws.max_row + 1)}
    assert set(rows) >= {ANNA, DMITRY} and not any(chat.endswith("@lid") for chat in rows)   # IDs as listed
    assert isinstance(rows[ANNA][4], datetime) and rows[ANNA][6] == 0         # Anna's lid messages are Anna's
    assert not any(isinstance(row[6], str) and "cannot be matched" in row[6] for row in rows.values())
    assert [c["chatId"] for c in sandbox.calls("checkWhatsapp")] == [ANNA, DMITRY]


def test_undo_finds_the_chat_on_the_row_that_names_it_by_its_other_id(make_sandbox, tmp_path):
    sandbox = make_sandbox(lid_chats=1, **FAST)
    anna_lid = sandbox.lid_of(ANNA)
    journal = Journal(tmp_path / "journal.sqlite3")
    book = book_of(tmp_path / "run.xlsx", [anna_lid, OLGA])
    with client_of(sandbox) as client:
        read, opened = filebook.read(book)
        outcome = jobs.execute(jobs.prepare(read, method=methods.ARCHIVE), client, journal,
                               filebook.FileTarget(opened))
        assert outcome.summary.counts == {st.ARCHIVED: 2}
        # The analyst's row now names Anna by her number; checkWhatsapp told which lid is hers (kept).
        learnt = client.check_whatsapp(ANNA)
        assert learnt["chatId"] == anna_lid
        journal.add_links(sandbox.id_instance, [from_check_whatsapp(ANNA, learnt)])
        book_of(book, [ANNA, OLGA], statuses=[st.ARCHIVED, st.ARCHIVED])
        found = jobs.find_undo(journal, sandbox.id_instance)
        read, opened = filebook.read(book)
        undo = jobs.prepare_undo(found, read, journal=journal)
        assert sorted(undo.plan.todo) == [(2, anna_lid), (3, OLGA)]     # on the book's rows, not printed
        jobs.execute(undo, client, journal, filebook.FileTarget(opened))
    journal.close()
    assert column(book, 2) == [st.UNARCHIVED, st.UNARCHIVED]
    assert sandbox.archived_ids().isdisjoint({ANNA, OLGA})


# --- 2. idle only when known --------------------------------------------------------------------------------


def test_right_after_check_fix_no_chat_is_archived_as_idle(make_sandbox, tmp_path):
    sandbox = make_sandbox(CHATS, fresh_instance=True, **FAST)
    env = sandbox_env(sandbox, tmp_path)

    proc = cli("check", env=env, code=2)
    assert "(incomingWebhook): off" in proc.stdout and "(outgoingMessageWebhook): off" in proc.stdout
    assert "Idle rule" in proc.stdout and "not supported" in proc.stdout

    proc = cli("check", "--fix", env=env, code=0)
    assert sandbox.settings["incomingWebhook"] == sandbox.settings["outgoingMessageWebhook"] == "yes"
    assert len(sandbox.calls("setSettings")) == 1           # both at once
    assert "never reach the journals" in proc.stdout and "shows them on now" in proc.stdout
    proc = cli("check", env=env, code=0)
    assert proc.stdout.count("switched on by this tool") == 2

    proc = cli("archive", "--all-chats", "--idle-days", "30", "--no-progress", env=env, code=0)
    assert sandbox.calls("archiveChat") == []                # the journals know nothing older than the switch
    assert "5 chats are not known to be idle and were left alone" in proc.stdout
    assert "switched on then" in proc.stdout

    report = tmp_path / "report.xlsx"
    proc = cli("archive", "--all-chats", "--idle-days", "30", "--include-unknown", "--dry-run", "--report", report,
               "--no-progress", env=env, code=0)
    assert column(report, 8, "Report") == [st.WOULD_ARCHIVE] * 5
    assert sandbox.calls("archiveChat") == []

    book = tmp_path / "account.xlsx"
    cli("chats", book, env=env, code=0)
    assert set(column(book, 7)) == {"unknown: the journal reaches back 0 days"}


def test_with_phone_messages_out_of_the_journal_a_quiet_chat_is_unknown_not_idle(make_sandbox, tmp_path):
    sandbox = make_sandbox(CHATS, outgoing_message_webhook="no", **FAST)
    env = sandbox_env(sandbox, tmp_path)
    report = tmp_path / "report.xlsx"
    proc = cli("archive", "--all-chats", "--idle-days", "30", "--report", report, "--no-progress", env=env, code=0)
    # Anna wrote today (active); the others wrote nothing in 30 days that the journals hold, but their phone
    # may have: unknown, left alone, and listed in the report below the chosen ones with the reason.
    assert sandbox.calls("archiveChat") == []
    assert "4 chats are not known to be idle and were left alone" in proc.stdout
    assert "outgoingMessageWebhook" in proc.stdout
    ws = openpyxl.load_workbook(report)["Report"]
    assert [ws.cell(r, 7).value for r in range(2, ws.max_row + 1)] == [
        "unknown: messages sent from the phone are not in the journal"] * 4
    assert all(ws.cell(r, 8).value is None for r in range(2, ws.max_row + 1))   # no status: nothing was sent


# --- 3. restarts and states ---------------------------------------------------------------------------------


def test_a_run_waits_out_a_restart_and_shows_it(make_sandbox, tmp_path):
    sandbox = make_sandbox(CHATS, **FAST)
    env = sandbox_env(sandbox, tmp_path)
    book = book_of(tmp_path / "restart.xlsx", [chat["id"] for chat in CHATS[:4]])
    sandbox.begin_restart(2.0)
    proc = cli("archive", book, "--no-progress", env=env, code=0)
    assert column(book, 2) == [st.ARCHIVED] * 4
    assert "the instance is restarting: waiting" in proc.stderr


def test_a_restart_longer_than_the_wait_stops_the_run_with_every_row_not_run(make_sandbox, tmp_path):
    sandbox = make_sandbox(CHATS, **FAST)
    book = book_of(tmp_path / "long.xlsx", [chat["id"] for chat in CHATS[:3]])
    journal = Journal(tmp_path / "journal.sqlite3")
    waits = []
    with client_of(sandbox, restart=0.6, restart_poll=0.1) as client:
        read, opened = filebook.read(book)
        prepared = jobs.prepare(read, method=methods.ARCHIVE)
        sandbox.begin_restart(60)
        outcome = jobs.execute(prepared, client, journal, filebook.FileTarget(opened), preflight=False,
                               on_wait=lambda *wait: waits.append(wait))
    journal.close()
    assert column(book, 2) == [st.NOT_RUN] * 3
    assert all("still restarting" in details for details in column(book, 3))
    assert "still restarting" in outcome.summary.stopped and waits[-1][1] >= 0.6
    assert sandbox.archived_ids().isdisjoint(chat["id"] for chat in CHATS)


@pytest.mark.parametrize("state, code, words", [
    ("blocked", 2, "WhatsApp has banned this number"),
    ("sleepMode", 0, "Switch the phone on"),
    ("yellowCard", 0, "Archiving is not sending"),
    ("notAuthorized", 2, "scan the QR code"),
])
def test_check_says_what_each_state_means_and_a_run_stops_only_where_archiving_cannot_work(
        make_sandbox, tmp_path, state, code, words):
    sandbox = make_sandbox(CHATS, state_instance=state, **FAST)
    env = sandbox_env(sandbox, tmp_path)
    proc = cli("check", env=env, code=code)
    assert words in proc.stdout
    book = book_of(tmp_path / "state.xlsx", [ANNA])
    proc = cli("archive", book, "--no-progress", env=env)
    assert column(book, 2) == [st.ARCHIVED if code == 0 else st.NOT_RUN]
    if code:
        assert words in proc.stderr and sandbox.calls("archiveChat") == []


def test_every_state_has_its_own_sentence_and_remedy_in_both_languages():
    from greenapi_excel import i18n, texts
    from greenapi_excel.sandbox import STATES

    said = {}
    for language in ("en", "ru"):
        with i18n.using(language):
            said[language] = {state: texts.instance_state(state) for state in STATES + ("someNewState",)}
        assert len(set(said[language].values())) == len(STATES) + 1, language   # one sentence each
    assert all(said["en"][state] != said["ru"][state] for state in said["en"])
    assert "someNewState" in said["ru"]["someNewState"]


def test_check_fix_waits_until_the_instance_is_back_and_shows_the_settings_on(make_sandbox, tmp_path):
    sandbox = make_sandbox(CHATS, fresh_instance=True, restart_s=1.0, **FAST)
    journal = Journal(tmp_path / "journal.sqlite3")
    waits = []
    with client_of(sandbox, restart_poll=0.1) as client:
        client.on_wait = lambda *wait: waits.append(wait)
        outcome = jobs.check(client, fix=True, journal=journal)
    assert outcome.switched_on and not outcome.restarting and outcome.ready
    assert (outcome.webhook, outcome.outgoing) == ("yes", "yes") and sandbox.incoming_webhook == "yes"
    assert waits and waits[-1][0] == "restart" and waits[-1][1] > 0.5     # it waited, and said so
    assert set(journal.switched_on(sandbox.id_instance)) == {"incomingWebhook", "outgoingMessageWebhook"}
    journal.close()


def test_check_fix_says_plainly_when_the_instance_is_still_restarting(make_sandbox, tmp_path):
    sandbox = make_sandbox(CHATS, incoming_webhook="no", restart_s=30, **FAST)
    journal = Journal(tmp_path / "journal.sqlite3")
    with client_of(sandbox, restart=0.5, restart_poll=0.1) as client:
        outcome = jobs.check(client, fix=True, journal=journal)
    assert outcome.switched_on and outcome.restarting and outcome.retry_at > datetime.now()
    assert not outcome.ready
    assert "incomingWebhook" in journal.switched_on(sandbox.id_instance)
    journal.close()


# --- 4. an empty getChats ---------------------------------------------------------------------------------


def test_an_empty_chat_list_changes_nothing_on_a_loaded_sheet(make_sandbox, tmp_path):
    sandbox = make_sandbox(CHATS, **FAST)
    book = tmp_path / "account.xlsx"
    cli("chats", book, env=sandbox_env(sandbox, tmp_path), code=0)
    before = book.read_bytes()
    glitch = make_sandbox(CHATS, empty_chat_lists=100, api_token=sandbox.token, id_instance=sandbox.id_instance,
                          **FAST)
    proc = cli("chats", book, env=sandbox_env(glitch, tmp_path), code=2)
    assert "came back empty" in proc.stderr and "left as it was" in proc.stderr
    assert book.read_bytes() == before                     # no chat marked gone
    assert len(glitch.calls("getChats")) == 4              # asked again, paced, before giving up


def test_an_empty_answer_is_asked_again_and_the_list_loads(make_sandbox, tmp_path):
    sandbox = make_sandbox(CHATS, empty_chat_lists=2, **FAST)
    book = tmp_path / "account.xlsx"
    with client_of(sandbox, empty_list_pause=0.05) as client:
        rows = jobs.fetch_chat_list(client, 30)
    chatsheet.write(book, rows, 30)
    assert len(sandbox.calls("getChats")) == 3
    assert {chat["id"] for chat in CHATS} == set(column(book, 1))


def test_a_dry_run_on_an_empty_chat_list_calls_no_row_chat_not_found(make_sandbox, tmp_path):
    sandbox = make_sandbox(CHATS, empty_chat_lists=100, **FAST)
    book = book_of(tmp_path / "dry.xlsx", [ANNA, "79001234568@c.us"])
    journal = Journal(tmp_path / "journal.sqlite3")
    with client_of(sandbox, empty_list_pause=0.05) as client:
        read, opened = filebook.read(book)
        outcome = jobs.execute(jobs.prepare(read, method=methods.ARCHIVE, dry_run=True), client, journal,
                               filebook.FileTarget(opened))
    journal.close()
    assert column(book, 2) == [st.NOT_RUN, st.NOT_RUN]
    assert all("came back empty" in details for details in column(book, 3))
    assert "came back empty" in outcome.summary.stopped and len(sandbox.calls("getChats")) == 4


# --- 5. verify, --fix, --keep-archived ----------------------------------------------------------------------


def test_verify_finds_what_does_not_hold_and_fix_sends_it_again(make_sandbox, tmp_path):
    # Anna's archiveChat is answered 200 and never applied (green-api #488, #744); Dmitry's chat is brought
    # back by a new message while "Keep chats archived" is off.
    sandbox = make_sandbox(silent_failure_chats=[ANNA], keep_chats_archived=False, **FAST)
    env = sandbox_env(sandbox, tmp_path)
    journal = tmp_path / "journal.sqlite3"
    book = book_of(tmp_path / "book.xlsx", [ANNA, DMITRY, OLGA])
    cli("archive", book, "--no-progress", env=env, code=0)
    assert column(book, 2) == [st.ARCHIVED] * 3 and ANNA not in sandbox.archived_ids()
    age_journal(journal)

    sent = len(sandbox.calls("archiveChat"))
    proc = cli("verify", book, env=env, code=1)
    assert column(book, 2) == [st.NOT_ARCHIVED, st.ARCHIVED, st.ARCHIVED]
    details = column(book, 3)[0]
    assert details.startswith("checked ") and "Keep chats archived" in details and "did not apply" in details
    assert "2 hold" in proc.stdout and "1 does not" in proc.stdout
    assert len(sandbox.calls("getChats")) == 1 and len(sandbox.calls("archiveChat")) == sent   # one read, no change

    sandbox.deliver(DMITRY)
    calls_before = len(sandbox.calls("archiveChat"))
    cli("verify", book, "--fix", "--no-progress", env=env, code=0)
    assert column(book, 2) == [st.ARCHIVED] * 3
    assert "unarchived and archived again" in column(book, 3)[0]
    assert {ANNA, DMITRY, OLGA} <= sandbox.archived_ids()
    assert [c["chatId"] for c in sandbox.calls("unarchiveChat")] == [ANNA]   # the workaround, for Anna only
    assert sorted(c["chatId"] for c in sandbox.calls("archiveChat")[calls_before:]) == [ANNA, ANNA, DMITRY]

    cli("archive", book, "--no-progress", env=env, code=0)   # nothing left to do
    assert len(sandbox.calls("archiveChat")) == calls_before + 3


def test_not_archived_counts_as_not_done_and_a_plain_rerun_sends_it(make_sandbox, tmp_path):
    sandbox = make_sandbox(silent_failure_chats=[ANNA], **FAST)
    env = sandbox_env(sandbox, tmp_path)
    book = book_of(tmp_path / "book.xlsx", [ANNA, OLGA])
    cli("archive", book, "--no-progress", env=env, code=0)
    age_journal(tmp_path / "journal.sqlite3")
    cli("verify", book, env=env, code=1)
    assert column(book, 2) == [st.NOT_ARCHIVED, st.ARCHIVED]
    cli("archive", book, "--no-progress", env=env, code=0)
    assert column(book, 2) == [st.ARCHIVED, st.ARCHIVED] and ANNA in sandbox.archived_ids()
    assert [c["chatId"] for c in sandbox.calls("archiveChat")].count(OLGA) == 1   # Olga was done: not sent


def test_a_chat_archived_by_hand_after_verify_found_it_says_so_and_is_left_alone(make_sandbox, tmp_path):
    sandbox = make_sandbox(silent_failure_chats=[ANNA], **FAST)
    env = sandbox_env(sandbox, tmp_path)
    book = book_of(tmp_path / "book.xlsx", [ANNA, OLGA])
    cli("archive", book, "--no-progress", env=env, code=0)
    age_journal(tmp_path / "journal.sqlite3")
    cli("verify", book, env=env, code=1)
    assert column(book, 2) == [st.NOT_ARCHIVED, st.ARCHIVED]
    sandbox.chats[ANNA].archive, sandbox.chats[ANNA].stale_archive = True, False   # archived on the phone
    proc = cli("verify", book, env=env, code=0)
    assert column(book, 2) == [st.ALREADY_ARCHIVED, st.ARCHIVED]
    assert "not by this tool" in column(book, 3)[0] and "as wanted now" in proc.stdout
    sent = len(sandbox.calls("archiveChat"))
    cli("archive", book, "--no-progress", env=env, code=0)
    assert len(sandbox.calls("archiveChat")) == sent                           # nothing left to send


def test_verify_right_after_a_run_waits_for_the_chat_list_to_refresh(make_sandbox, tmp_path):
    sandbox = make_sandbox(chats_refresh_s=1.0, **FAST)
    journal = Journal(tmp_path / "journal.sqlite3")
    book = book_of(tmp_path / "book.xlsx", [ANNA, OLGA])
    waits = []
    with client_of(sandbox, list_refresh=1.3) as client:
        client.on_wait = lambda *wait: waits.append(wait)
        client.get_chats()                                   # the list's snapshot: neither chat archived
        read, opened = filebook.read(book)
        jobs.execute(jobs.prepare(read, method=methods.ARCHIVE), client, journal, filebook.FileTarget(opened))
        read, opened = filebook.read(book)
        checks = jobs.prepare_verify(read)
        soon = jobs.verify(read, checks, client, journal, wait=False)
        assert soon.too_soon is not None and 0 < soon.too_soon <= 1.3 and soon.verified is None
        assert len(sandbox.calls("getChats")) == 1           # not read: it could still show the old snapshot
        outcome = jobs.verify(read, checks, client, journal, filebook.FileTarget(opened))
    journal.close()
    assert outcome.verified.confirmed == 2 and outcome.verified.contradicted == []
    assert waits and all(reason == "list refresh" for reason, _waited, _limit in waits)
    assert column(book, 2) == [st.ARCHIVED, st.ARCHIVED]


def test_keep_archived_archives_again_what_whatsapp_brought_back(make_sandbox, tmp_path):
    sandbox = make_sandbox(keep_chats_archived=False, **FAST)
    env = sandbox_env(sandbox, tmp_path)
    book = book_of(tmp_path / "book.xlsx", [ANNA, DMITRY])
    cli("archive", book, "--no-progress", env=env, code=0)
    age_journal(tmp_path / "journal.sqlite3")
    sandbox.deliver(ANNA)                                    # a new message: back in the chat list
    assert ANNA not in sandbox.archived_ids()
    report = tmp_path / "kept.xlsx"
    proc = cli("archive", "--all-chats", "--keep-archived", "--report", report, "--no-progress", env=env, code=0)
    assert ANNA in sandbox.archived_ids() and DMITRY in sandbox.archived_ids()
    assert [c["chatId"] for c in sandbox.calls("archiveChat")] == [ANNA, DMITRY, ANNA]
    assert "2 chats archived by this tool" in proc.stdout and "1 of them is back" in proc.stdout
    assert column(report, 1, "Report") == [ANNA] and column(report, 8, "Report") == [st.ARCHIVED]

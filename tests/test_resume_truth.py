"""A row's status is what the server has, as far as this tool can know: a cleared Status cell or
--resend sends again, the journal answers only what a book lost, a later change the journal records
(from any edge, whatever its outcome) is never covered up, and an answer after an ambiguous attempt
keeps that attempt's uncertainty. Real CLI processes, real books, the sandbox on loopback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import keyring
import openpyxl
import pytest
from cli_helpers import run_cli, sandbox_env
from keyring.backends import fail

import udfs
from greenapi_excel import methods, run as running, statuses as st, udf
from greenapi_excel.client import Credentials, GreenApiClient
from greenapi_excel.journal import Journal

CHAT = "79001234567"
CHATS = [{"id": f"{CHAT}@c.us", "incoming": 3}, {"id": "79001234568@c.us", "incoming": 2}]


def make_book(path: Path, values) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Chats"
    ws.append(["Chat ID", "Status", "Details", "Updated"])
    for value in values:
        ws.append([value])
    wb.save(path)
    return path


def rows(path: Path) -> list[tuple]:
    ws = openpyxl.load_workbook(path).active
    return [(ws.cell(r, 2).value, ws.cell(r, 3).value) for r in range(2, ws.max_row + 1)]


def clear_status(path: Path, row: int = 2) -> None:
    wb = openpyxl.load_workbook(path)
    wb.active.cell(row, 2).value = None
    wb.save(path)


def archive(book: Path, env: dict, *extra) -> None:
    proc = run_cli("archive", book, "--no-progress", "--timeout", 2, *extra, env=env)
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr


def unarchive_by_hand(sandbox, chat_id: str = f"{CHAT}@c.us") -> None:
    sandbox.chats[chat_id].archive = False   # in WhatsApp, behind the tool's back


# --- a cleared Status cell, --resend -------------------------------------------------------------

def test_a_cleared_status_cell_sends_the_chat_again(make_sandbox, tmp_path):
    sandbox = make_sandbox(chats=CHATS, rps=1000, read_rps=1000)
    book, env = make_book(tmp_path / "b.xlsx", [CHAT]), sandbox_env(sandbox, tmp_path)
    archive(book, env)
    assert rows(book)[0][0] == st.ARCHIVED
    unarchive_by_hand(sandbox)
    clear_status(book)
    archive(book, env)
    assert rows(book)[0][0] == st.ARCHIVED and "journal" not in rows(book)[0][1], rows(book)
    assert len(sandbox.calls("archiveChat")) == 2
    assert f"{CHAT}@c.us" in sandbox.archived_ids()


def test_resend_sends_rows_that_say_archived(make_sandbox, tmp_path):
    sandbox = make_sandbox(chats=CHATS, rps=1000, read_rps=1000)
    book, env = make_book(tmp_path / "b.xlsx", [CHAT, "79001234568"]), sandbox_env(sandbox, tmp_path)
    archive(book, env)
    unarchive_by_hand(sandbox)
    archive(book, env)                       # without --resend the book's word stands: no call
    assert len(sandbox.calls("archiveChat")) == 2
    archive(book, env, "--resend")
    assert [s for s, _ in rows(book)] == [st.ARCHIVED, st.ALREADY_ARCHIVED]
    assert len(sandbox.calls("archiveChat")) == 4
    assert sandbox.archived_ids() == {c["id"] for c in CHATS}


def test_the_journal_answers_what_the_book_lost(make_sandbox, tmp_path):
    """A run killed after its calls and before its save: the book never got the results."""
    sandbox = make_sandbox(chats=CHATS, rps=1000, read_rps=1000)
    book, env = make_book(tmp_path / "b.xlsx", [CHAT]), sandbox_env(sandbox, tmp_path)
    with Journal(tmp_path / "journal.sqlite3") as journal, \
            GreenApiClient(Credentials(sandbox.api_url, sandbox.id_instance, sandbox.token)) as client:
        planned = running.plan([(2, CHAT)], method=methods.ARCHIVE)
        running.run(planned, client, journal)   # no on_results, no save: what a kill leaves behind
    archive(book, env)
    status, details = rows(book)[0]
    assert status == st.ARCHIVED and "from the journal" in details, details
    assert len(sandbox.calls("archiveChat")) == 1
    # Once the book has it, the book decides: a cleared cell sends again.
    unarchive_by_hand(sandbox)
    clear_status(book)
    archive(book, env)
    assert rows(book)[0][0] == st.ARCHIVED and len(sandbox.calls("archiveChat")) == 2
    assert f"{CHAT}@c.us" in sandbox.archived_ids()


# --- a later change the journal records is never covered up -----------------------------------

@pytest.fixture
def udf_env(tmp_path, monkeypatch, make_sandbox):
    sandbox = make_sandbox(chats=CHATS, rps=1000, read_rps=1000)
    for name, value in (("GREENAPI_API_URL", sandbox.api_url), ("GREENAPI_ID_INSTANCE", sandbox.id_instance),
                        ("GREENAPI_API_TOKEN_INSTANCE", sandbox.token),
                        ("GREENAPI_JOURNAL", str(tmp_path / "journal.sqlite3")),
                        ("GREENAPI_CONFIG", str(tmp_path / "config.ini"))):
        monkeypatch.setenv(name, value)
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    udf.reset()
    yield sandbox
    udf.reset()
    keyring.set_keyring(previous)


@pytest.mark.parametrize("unarchive_faults, contact_faults", [
    (["applied_drop"] * 5, ["500"] * 5),      # the unarchive's outcome is unknown (and it did happen)
    (["429"] * 5, []),                        # the unarchive failed: nothing changed
], ids=["unknown", "failed"])
def test_archivechat_after_an_unarchive_of_any_outcome_asks_the_server_again(udf_env, unarchive_faults,
                                                                             contact_faults):
    sandbox = udf_env
    assert udfs.ARCHIVECHAT(CHAT) == st.ARCHIVED
    sandbox.inject(*unarchive_faults, method="unarchiveChat")
    sandbox.inject(*contact_faults, method="getContactInfo")
    assert udfs.UNARCHIVECHAT(CHAT).startswith(st.FAILED)
    sandbox.chats[f"{CHAT}@c.us"].archive = False   # whatever the unarchive did, the chat is open now
    again = udfs.ARCHIVECHAT(CHAT)
    assert again == st.ARCHIVED, again              # sent again, not "Archived (date)" from the journal
    assert f"{CHAT}@c.us" in sandbox.archived_ids()


def test_a_book_run_never_resumes_an_archive_that_a_udf_unarchive_followed(udf_env, tmp_path):
    sandbox = udf_env
    with Journal(tmp_path / "journal.sqlite3") as journal, \
            GreenApiClient(Credentials(sandbox.api_url, sandbox.id_instance, sandbox.token)) as client:
        running.run(running.plan([(2, CHAT)], method=methods.ARCHIVE), client, journal)   # killed before its save
    sandbox.inject(*["applied_drop"] * 5, method="unarchiveChat")
    sandbox.inject(*["500"] * 5, method="getContactInfo")
    assert udfs.UNARCHIVECHAT(CHAT).startswith(st.FAILED)   # unknown outcome; it did unarchive
    book = make_book(tmp_path / "b.xlsx", [CHAT])
    archive(book, sandbox_env(sandbox, tmp_path))
    assert rows(book)[0][0] == st.ARCHIVED and "journal" not in rows(book)[0][1], rows(book)
    assert f"{CHAT}@c.us" in sandbox.archived_ids()


# --- an answer after an ambiguous attempt keeps its uncertainty -------------------------------

def test_a_466_after_a_lost_reply_is_settled_by_asking_the_server(make_sandbox, tmp_path):
    sandbox = make_sandbox(chats=CHATS, rps=1000, read_rps=1000)
    sandbox.quota = 1
    sandbox.inject("applied_drop", method="archiveChat")   # the change is made, its reply is lost; then 466
    book = make_book(tmp_path / "b.xlsx", [CHAT])
    archive(book, sandbox_env(sandbox, tmp_path))
    status, details = rows(book)[0]
    assert status == st.ARCHIVED, (status, details)
    assert "getContactInfo" in details


def test_a_466_after_a_lost_reply_that_cannot_be_settled_is_unknown_and_the_next_run_says_archived(
        make_sandbox, tmp_path):
    sandbox = make_sandbox(chats=CHATS, rps=1000, read_rps=1000)
    sandbox.quota = 1
    sandbox.inject("applied_drop", method="archiveChat")
    sandbox.inject(*["500"] * 5, method="getContactInfo")
    book, env = make_book(tmp_path / "b.xlsx", [CHAT]), sandbox_env(sandbox, tmp_path)
    archive(book, env)
    status, details = rows(book)[0]
    assert status == st.FAILED and "unknown" in details.lower(), (status, details)
    sandbox.quota = None
    archive(book, env)
    status, details = rows(book)[0]
    assert status == st.ARCHIVED, (status, details)      # never "Already archived": this tool did it


def test_a_later_answer_that_settles_nothing_keeps_an_earlier_runs_uncertainty(make_sandbox, tmp_path):
    sandbox = make_sandbox(chats=CHATS, rps=1000, read_rps=1000)
    book, env = make_book(tmp_path / "b.xlsx", [CHAT]), sandbox_env(sandbox, tmp_path)
    sandbox.inject(*["applied_drop"] * 5, method="archiveChat")
    sandbox.inject(*["500"] * 5, method="getContactInfo")
    archive(book, env)
    assert rows(book)[0][0] == st.FAILED
    sandbox.quota = 0                                    # the next run is refused outright: 466
    archive(book, env)
    assert rows(book)[0][0] == st.QUOTA_EXCEEDED
    sandbox.quota = None
    archive(book, env)
    status, details = rows(book)[0]
    assert status == st.ARCHIVED, (status, details)


def test_delivery_is_recorded_after_the_save(make_sandbox, tmp_path):
    sandbox = make_sandbox(chats=CHATS, rps=1000, read_rps=1000)
    book = make_book(tmp_path / "b.xlsx", [CHAT])
    archive(book, sandbox_env(sandbox, tmp_path))
    conn = sqlite3.connect(tmp_path / "journal.sqlite3")
    try:
        delivered = conn.execute("SELECT delivered_at FROM calls WHERE method = 'archiveChat'").fetchall()
    finally:
        conn.close()
    assert len(delivered) == 1 and delivered[0][0] is not None

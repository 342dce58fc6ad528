"""A property-based test of the journal and the resume rules, against the real sandbox.

Hypothesis generates interleavings of: archive and unarchive runs of the real CLI code
(``cli.main``, in this process for speed) on one book, some with ``--resend``; lost replies and
other faults queued in the sandbox (``inject``: applied_drop, applied_502, drop, 500, 429 runs, and
getContactInfo failures so that an outcome cannot be settled); a quota that runs out after the first
change of a run (a 466 after an ambiguous attempt); runs killed between their calls and their save
(the book's save never happens); UDF calls (=ARCHIVECHAT / =UNARCHIVECHAT) on the same journal; changes
made on the server behind the tool's back; and Status cells cleared or edited by hand.

What a row's status claims, checked after every step for the rows that step answered (a row whose
Status, Details or Updated changed, every row after ``--resend``) and for every UDF answer:

* ``Archived`` / ``Unarchived``: the sandbox has the chat so now;
* ``Already archived`` / ``Already unarchived``: the sandbox had it so before the step and still has,
  and this tool did not make it so without saying so (a change of the tool whose row or cell never
  said ``Archived``/``Unarchived``: a lost reply, a killed run, a settle that could not be made);
* ``Quota exceeded``, ``Not run``, ``No incoming messages``, and ``Failed`` without "unknown" in its
  details: the step did not change the chat on the sandbox;
* ``Failed`` with "unknown" in its details claims nothing; ``Chat not found``: the sandbox has no such chat.

An answer taken from the journal is the journal's knowledge: a resumed row (Details "from the
journal") whose result the book lost (the tool's last call on the chat was in a killed run), or a
UDF's repeat ("Archived (date)"), is checked unless the chat was changed behind the tool's back after
the tool's last call on it (what the README says it cannot know). A resumed row whose result the book
had is checked like any other: that is the cleared-cell rule.

Besides the random sequences, explicit examples replay each finding of issue 12.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from datetime import timedelta
from pathlib import Path

import keyring
import openpyxl
from hypothesis import HealthCheck, Phase, example, given, settings, strategies as hs
from keyring.backends import fail

from greenapi_excel import cli, client as client_module, pacing, statuses as st, udf
from greenapi_excel.sandbox import Sandbox
from greenapi_excel.sheets import SheetFile

CHATS = [
    {"id": "79001230001@c.us", "incoming": 2, "archive": False},
    {"id": "79001230002@c.us", "incoming": 1, "archive": True},
    {"id": "79001230003@c.us", "incoming": 0, "archive": False},
]
UNKNOWN = "79001230009@c.us"
BOOK_CHATS = [c["id"] for c in CHATS] + [UNKNOWN]          # rows 2..5
ARCHIVE, UNARCHIVE = "archiveChat", "unarchiveChat"

# Queued in arrival order: a run's calls run in parallel, so a fault strikes whichever call comes first
# (20 lost replies: every call of a 4-row run exhausts its 5 attempts).
FAULTS = [(), ("applied_drop",), ("applied_502",), ("applied_drop",) * 5, ("applied_drop",) * 20, ("drop",),
          ("500",), ("429",), ("applied_502", "500")]   # (each 429 waits its Retry-After: 1 s)

run_step = hs.tuples(hs.just("run"), hs.sampled_from(["archive", "unarchive"]), hs.booleans(),
                     hs.sampled_from(FAULTS), hs.booleans(), hs.sampled_from([None, "now", "after one"]),
                     hs.booleans())
udf_step = hs.tuples(hs.just("udf"), hs.sampled_from([ARCHIVE, UNARCHIVE]), hs.integers(0, 3),
                     hs.sampled_from(FAULTS), hs.booleans())
server_step = hs.tuples(hs.just("server"), hs.integers(0, 2), hs.booleans())
# Texts the tool writes (or a hand that copies them): any other text would make the column the analyst's.
cell_step = hs.tuples(hs.just("cell"), hs.integers(2, 5),
                      hs.sampled_from([None, "Archived", "Unarchived", "Failed", "Already archived"]))
steps = hs.lists(hs.one_of(run_step, run_step, udf_step, server_step, cell_step), min_size=1, max_size=7)


class _Killed(BaseException):
    """The process dies between its calls and its save."""


class _FastClient(client_module.GreenApiClient):
    """The CLI's client with short backoffs and no 1/s read pace (the sandbox allows far more)."""

    def __init__(self, credentials, **options):
        options.update(backoff_base=0.002, backoff_cap=0.004, read_rate=1000.0)
        options.setdefault("rate", 1000.0)
        super().__init__(credentials, **options)


class World:
    def __init__(self, folder: Path, sandbox: Sandbox):
        self.folder, self.sandbox = folder, sandbox
        self.book = folder / "book.xlsx"
        wb = openpyxl.Workbook()
        wb.active.append(["Chat ID", "Status", "Details", "Updated"])
        for chat_id in BOOK_CHATS:
            wb.active.append([chat_id])
        wb.save(self.book)
        self.unreported: dict[tuple[str, bool], bool] = {}   # (chat, archived) -> tool made it so, unsaid
        self.external: dict[str, bool] = {}                  # changed behind the tool's back since its last call
        self.lost: dict[str, bool] = {}                      # the tool's last call on it was in a killed run

    def state(self) -> dict[str, bool]:
        return {chat_id: chat.archive for chat_id, chat in self.sandbox.chats.items()}

    def cells(self) -> dict[int, tuple]:
        ws = openpyxl.load_workbook(self.book).active
        return {r: (ws.cell(r, 2).value, ws.cell(r, 3).value, ws.cell(r, 4).value) for r in range(2, 6)}

    def calls_on(self, start: int) -> set[str]:
        return {c["chatId"] for c in self.sandbox.calls()[start:] if c["method"] in (ARCHIVE, UNARCHIVE)}

    # --- steps ------------------------------------------------------------------------------------

    def step(self, step) -> None:
        kind = step[0]
        before, cells_before, log_start = self.state(), self.cells(), len(self.sandbox.calls())
        answers: dict[str, tuple[str, str, bool]] = {}   # chat -> (status word, details, from the journal)
        if kind == "server":
            chat_id = CHATS[step[1]]["id"]
            self.sandbox.chats[chat_id].archive = step[2]
            if before[chat_id] != step[2]:
                self.external[chat_id] = True
                self.unreported.pop((chat_id, True), None)
                self.unreported.pop((chat_id, False), None)
            return
        if kind == "cell":
            wb = openpyxl.load_workbook(self.book)
            wb.active.cell(step[1], 2).value = step[2]
            wb.save(self.book)
            return
        if kind == "run":
            answers = self.run(*step[1:], cells_before=cells_before)
        else:
            answers = self.udf(*step[1:])
        after = self.state()
        self.check(answers, before, after)
        for chat_id in self.calls_on(log_start):
            self.external[chat_id] = False
            self.lost[chat_id] = kind == "run" and step[-1]   # a run killed before its save
        for chat_id in after:
            if before.get(chat_id) != after[chat_id]:
                word = st.ARCHIVED if after[chat_id] else st.UNARCHIVED
                said = chat_id in answers and answers[chat_id][0] == word
                self.unreported[(chat_id, after[chat_id])] = not said
                self.unreported.pop((chat_id, not after[chat_id]), None)
        for chat_id, (word, _, _) in answers.items():
            if word in (st.ARCHIVED, st.UNARCHIVED):
                self.unreported.pop((chat_id, word == st.ARCHIVED), None)

    def queue(self, method: str, faults, contact_fails: bool, quota) -> None:
        if faults:
            self.sandbox.inject(*faults, method=method)
        if contact_fails:
            self.sandbox.inject(*["500"] * 25, method="getContactInfo")   # no settle of this step succeeds
        if quota == "now":
            self.sandbox.quota = self.sandbox._changes_done
        elif quota == "after one":
            self.sandbox.quota = self.sandbox._changes_done + 1

    def unqueue(self) -> None:
        self.sandbox._injected.clear()
        self.sandbox.quota = None

    def run(self, verb, resend, faults, contact_fails, quota, killed, *, cells_before):
        """One CLI run; the rows it answered as chat -> (word, details, from the journal)."""
        method = ARCHIVE if verb == "archive" else UNARCHIVE
        self.queue(method, faults, contact_fails, quota)
        argv = [verb, str(self.book), "--no-progress", "--rate", "1000", "--timeout", "2"] + \
            (["--resend"] if resend else [])
        try:
            with _killed_before_save(killed):
                cli.main(argv)
        except _Killed:
            pass
        finally:
            self.unqueue()
        if killed:
            return {}
        cells_after = self.cells()
        answers = {}
        for row, chat_id in enumerate(BOOK_CHATS, start=2):
            if resend or cells_after[row] != cells_before[row]:
                status, details, _ = cells_after[row]
                word = next((w for w in st.ALL if str(status or "").startswith(w)), str(status))
                answers[chat_id] = (word, str(details or ""), "from the journal" in str(details or ""))
        return answers

    def udf(self, method, index, faults, contact_fails):
        chat_id = BOOK_CHATS[index]
        self.queue(method, faults, contact_fails, None)
        try:
            text = (udf.archive if method == ARCHIVE else udf.unarchive)(chat_id)
        finally:
            self.unqueue()
        word = next((w for w in st.ALL if text.startswith(w)), text)
        # A UDF's repeat answers from the journal whatever the book did ("archives once"): "udf".
        journal = "udf" if re.match(r"\w[\w ]* \(\d{4}-\d\d-\d\d \d\d:\d\d\)$", text) else False
        return {chat_id: (word, text, journal)}

    # --- the property -------------------------------------------------------------------------------

    def check(self, answers, before, after) -> None:
        for chat_id, (word, details, from_journal) in answers.items():
            where = (chat_id, word, details)
            if chat_id not in after:
                assert word in (st.CHAT_NOT_FOUND, st.QUOTA_EXCEEDED, st.NOT_RUN, st.FAILED), where
                continue
            if from_journal and self.external.get(chat_id) and (from_journal == "udf" or self.lost.get(chat_id)):
                # The journal answers a result the book lost (or a UDF's repeat) with what it knows: a
                # change behind the tool's back since is what it cannot know (the README says so).
                continue
            unchanged = before[chat_id] == after[chat_id]
            if word == st.ARCHIVED:
                assert after[chat_id], where
            elif word == st.UNARCHIVED:
                assert not after[chat_id], where
            elif word in (st.ALREADY_ARCHIVED, st.ALREADY_UNARCHIVED):
                archived = word == st.ALREADY_ARCHIVED
                assert before[chat_id] == archived == after[chat_id], where
                assert not self.unreported.get((chat_id, archived)), ("this tool did it, unsaid",) + where
            elif word in (st.QUOTA_EXCEEDED, st.NOT_RUN, st.NO_INCOMING):
                assert unchanged, where
            elif word == st.FAILED:
                assert "unknown" in details.lower() or unchanged, where
            elif word == st.CHAT_NOT_FOUND:
                raise AssertionError(where)


@contextlib.contextmanager
def _killed_before_save(killed: bool):
    if not killed:
        yield
        return
    original = SheetFile.save

    def save(self, out=None):
        raise _Killed()

    SheetFile.save = save
    try:
        yield
    finally:
        SheetFile.save = original


@contextlib.contextmanager
def _environment(folder: Path, sandbox: Sandbox):
    saved = dict(os.environ)
    os.environ.update({
        "GREENAPI_API_URL": sandbox.api_url, "GREENAPI_ID_INSTANCE": sandbox.id_instance,
        "GREENAPI_API_TOKEN_INSTANCE": sandbox.token, "GREENAPI_JOURNAL": str(folder / "journal.sqlite3"),
        "GREENAPI_CONFIG": str(folder / "config.ini"), "GREENAPI_LOCK_DIR": str(folder / "locks"),
        "GREENAPI_MAX_RATE": "100000",
    })
    previous_keyring, previous_client = keyring.get_keyring(), client_module.GreenApiClient
    keyring.set_keyring(fail.Keyring())
    client_module.GreenApiClient = _FastClient   # what cli and udf construct (they import it when they run)
    udf.reset()
    try:
        yield
    finally:
        udf.reset()
        client_module.GreenApiClient = previous_client
        keyring.set_keyring(previous_keyring)
        os.environ.clear()
        os.environ.update(saved)
        pacing.forget_pacers()


R_ARCHIVE = ("run", "archive", False, (), False, None, False)


# Bounded: few examples, a deadline per example, and no shrinking (each step is a real run: shrinking a
# failure would take minutes); a failure names the whole sequence of steps instead.
@settings(max_examples=15, deadline=timedelta(seconds=30), suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@example([("run", "archive", False, ("applied_drop",), True, "after one", False), R_ARCHIVE])   # 466 after a lost reply
@example([("run", "archive", False, ("applied_502",), False, "after one", False)])           # ... settled
@example([R_ARCHIVE, ("server", 0, False), ("cell", 2, None), R_ARCHIVE])                   # a cleared cell
@example([R_ARCHIVE, ("server", 0, False), ("run", "archive", True, (), False, None, False)])  # --resend
@example([("run", "archive", False, (), False, None, True), ("udf", UNARCHIVE, 0, ("applied_drop",) * 5, True),
          R_ARCHIVE])                                                                            # later unknown unarchive
@example([("udf", ARCHIVE, 0, (), False), ("udf", UNARCHIVE, 0, ("429",) * 5, False), ("server", 0, False),
          ("udf", ARCHIVE, 0, (), False)])                                                       # a failed one
@example([("run", "archive", False, ("applied_drop",) * 20, True, None, False),
          ("run", "archive", False, (), False, "now", False), R_ARCHIVE])                       # 466 settles nothing
@given(steps)
def test_no_status_claims_what_the_server_contradicts(steps):
    with tempfile.TemporaryDirectory() as tmp, Sandbox([dict(c) for c in CHATS], rps=1000, read_rps=1000) as sandbox:
        folder = Path(tmp)
        with _environment(folder, sandbox):
            world = World(folder, sandbox)
            for number, step in enumerate(steps):
                try:
                    world.step(step)
                except AssertionError as error:
                    raise AssertionError(f"step {number} of {steps}: {error}") from None

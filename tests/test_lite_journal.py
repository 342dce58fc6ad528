"""The Lite edition's journal (``greenapi_excel.lite.journal.BookJournal``) answers as the desktop's SQLite journal
does: one random history of calls, runs, verify's findings, @lid links and settings switched on goes through both,
and every question a run, a check, Load chats, an undo, verify or a worksheet function asks gets the same answer
from each, also after the book journal went through its sheet and back."""

from __future__ import annotations

import time
import types
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings, strategies as hs

from greenapi_excel import journal as sqlite_journal, statuses as st
from greenapi_excel.chat_identity import Link
from greenapi_excel.journal import Journal
from greenapi_excel.lite import journal as book_journal
from greenapi_excel.lite.journal import FIRST_ROW, HEADERS, BookJournal, header_rows

ARCHIVE, UNARCHIVE = "archiveChat", "unarchiveChat"
INSTANCES = ("1101000001", "1101000002")
CHATS = ("79001110001@c.us", "79001110002@c.us", "120363043968066561@g.us", "120650379300963@lid")
STATUSES = (st.ARCHIVED, st.ALREADY_ARCHIVED, st.UNARCHIVED, st.ALREADY_UNARCHIVED, st.CHAT_NOT_FOUND,
            st.NO_INCOMING, st.FAILED, st.NOT_RUN, st.QUOTA_EXCEEDED)
PHONES = ("79001110001@c.us", "79001110002@c.us", "79001110003@c.us")
LIDS = ("120650379300963@lid", "120650379300964@lid")
SETTINGS = ("incomingWebhook", "outgoingMessageWebhook")
START = datetime(2026, 12, 1, 9, 0).timestamp()


class SheetCells:
    """A sheet as ``queue_writes`` sees it: ``range((r, c), (r2, c)).value = [[...], ...]``."""

    def __init__(self):
        self.cells: dict[tuple[int, int], object] = {}

    def range(self, first, last):
        sheet = self

        class Block:
            @property
            def value(self):
                raise AssertionError("the journal never reads through a range")

            @value.setter
            def value(self, grid):
                for offset, row in enumerate(grid):
                    for column_offset, value in enumerate(row):
                        sheet.cells[(first[0] + offset, first[1] + column_offset)] = value
        return Block()

    def rows(self):
        bottom = max((r for r, _c in self.cells), default=FIRST_ROW - 1)
        return [[self.cells.get((r, c)) for c in range(1, len(HEADERS) + 1)] for r in range(FIRST_ROW, bottom + 1)]


operations = hs.lists(hs.one_of(
    hs.tuples(hs.just("begin"), hs.sampled_from(INSTANCES), hs.sampled_from((ARCHIVE, UNARCHIVE)),
              hs.sampled_from(CHATS), hs.booleans()),
    hs.tuples(hs.just("finish"), hs.integers(0, 30), hs.sampled_from(STATUSES), hs.sampled_from((None, True, False))),
    hs.tuples(hs.just("uncertain"), hs.integers(0, 30)),
    hs.tuples(hs.just("delivered"), hs.lists(hs.integers(0, 30), max_size=4)),
    hs.tuples(hs.just("run"), hs.sampled_from(INSTANCES), hs.sampled_from((ARCHIVE, UNARCHIVE)), hs.booleans(),
              hs.integers(-1, 5)),
    hs.tuples(hs.just("finish_run"), hs.integers(0, 6)),
    hs.tuples(hs.just("adopt"), hs.integers(0, 6), hs.lists(hs.integers(0, 30), max_size=3)),
    hs.tuples(hs.just("changed"), hs.sampled_from(INSTANCES), hs.sampled_from((ARCHIVE, UNARCHIVE)),
              hs.sampled_from(CHATS)),
    hs.tuples(hs.just("check"), hs.integers(0, 30)),
    hs.tuples(hs.just("links"), hs.sampled_from(INSTANCES),
              hs.lists(hs.tuples(hs.sampled_from(PHONES), hs.sampled_from(LIDS)), max_size=3),
              hs.lists(hs.sampled_from(PHONES), max_size=2)),
    hs.tuples(hs.just("switched"), hs.sampled_from(INSTANCES), hs.sampled_from(SETTINGS), hs.integers(-3000, 3000)),
), min_size=8, max_size=40)   # about 16 steps on average (hypothesis aims at max(2 * min, min + 5))


class Clock:
    """``time`` for both journals: every step of a history happens at its own second, whichever journal
    replays it and however often it reads the clock (so their times can be compared too)."""

    def __init__(self):
        self.now = START

    def module(self):
        return types.SimpleNamespace(time=lambda: self.now, strftime=time.strftime, localtime=time.localtime)


def _replay(journal, steps, clock: Clock) -> None:
    calls: list[int] = []
    about: dict[int, tuple[str, str, str]] = {}     # call id -> (instance, method, chat)
    runs: list[str] = []
    for position, step in enumerate(steps):
        clock.now = START + position
        kind = step[0]
        if kind == "begin":
            _kind, instance, method, chat, in_run = step
            run_id = runs[-1] if in_run and runs else None
            calls.append(journal.begin(instance=instance, method=method, chat_id=chat, source="test", run_id=run_id))
            about[calls[-1]] = (instance, method, chat)
        elif kind == "finish" and calls:
            _kind, index, status, settled = step
            journal.finish(calls[index % len(calls)], status=status, details=f"{status} details", http_status=200,
                           settled=settled)
        elif kind == "uncertain" and calls:
            journal.mark_uncertain(calls[step[1] % len(calls)], "no answer")
        elif kind == "delivered" and calls:
            journal.mark_delivered([calls[i % len(calls)] for i in step[1]] + [None])
        elif kind == "run":
            _kind, instance, method, dry_run, undo_of = step
            undoes = runs[undo_of % len(runs)] if undo_of >= 0 and runs else None
            runs.append(journal.start_run(instance=instance, method=method, source="test", book="book.xlsx",
                                          sheet="Chats", dry_run=dry_run, undo_of=undoes, chat_column="A"))
        elif kind == "finish_run" and runs:
            journal.finish_run(runs[step[1] % len(runs)], {st.ARCHIVED: 1})
        elif kind == "adopt" and runs and calls:
            journal.adopt(runs[step[1] % len(runs)], [calls[i % len(calls)] for i in step[2]])
        elif kind == "changed":   # a call answered Archived / Unarchived: what verify and --keep-archived look at
            _kind, instance, method, chat = step
            calls.append(journal.begin(instance=instance, method=method, chat_id=chat, source="test"))
            about[calls[-1]] = (instance, method, chat)
            journal.finish(calls[-1], status=st.ARCHIVED if method == ARCHIVE else st.UNARCHIVED, http_status=200)
        elif kind == "check" and calls:   # verify finds a chat this tool called otherwise than its row says
            instance, method, chat = about[calls[step[1] % len(calls)]]
            status = st.NOT_ARCHIVED if method == ARCHIVE else st.NOT_UNARCHIVED
            calls.append(journal.record_check(instance=instance, method=method, chat_id=chat, status=status,
                                              details=f"checked {position}"))
            about[calls[-1]] = (instance, method, chat)
        elif kind == "links":
            _kind, instance, pairs, asked = step
            journal.add_links(instance, [Link(phone, lid, "checkWhatsapp") for phone, lid in pairs], asked)
        elif kind == "switched":
            _kind, instance, setting, offset = step
            journal.record_switched_on(instance, setting, datetime.fromtimestamp(START + offset))


def _answers(journal) -> dict:
    """Everything the engine asks a journal, with ids and times left out where the two stores differ only there."""
    found = {}
    past, future = datetime.now() - timedelta(days=1), datetime.now() + timedelta(days=1)
    for instance in INSTANCES:
        for method in (ARCHIVE, UNARCHIVE):
            key = f"{instance} {method}"
            for label, since in (("always", None), ("a day", past), ("tomorrow", future)):
                for undelivered in (False, True):
                    done = journal.done_before(instance, method, since=since, undelivered_only=undelivered)
                    found[f"{key} done {label} {undelivered}"] = {
                        chat: (e.status, e.state, e.details) for chat, e in done.items()}
                found[f"{key} unreported {label}"] = journal.unreported_changes(instance, method, since)
            found[f"{key} done of two"] = sorted(journal.done_before(instance, method, CHATS[:2]))
            found[f"{key} uncertain"] = journal.uncertain_chats(instance, method)
            found[f"{key} contradicted"] = journal.contradicted_chats(instance, method)
            found[f"{key} changed by tool"] = journal.changed_by_tool(instance, method)
            for chat in CHATS:
                found[f"{key} {chat} had"] = journal.had_uncertain(instance, method, chat)
                found[f"{key} {chat} had future"] = journal.had_uncertain(instance, method, chat, since=future)
        for label, chats in (("all", None), ("two", CHATS[:2]), ("none", [])):
            found[f"{instance} last change {label}"] = journal.last_change(instance, chats)
        known = journal.links(instance)
        found[f"{instance} links"] = (known.links, known.asked)
        found[f"{instance} switched on"] = journal.switched_on(instance)
        found[f"{instance} undo"] = [(r.method, r.dry_run, r.undo_of is None) for r in journal.undo_candidates(instance, 10)]
        found[f"{instance} entries"] = [(e.chat_id, e.state, e.status, e.details, e.source, e.run_id is None,
                                         e.time, e.sent_time) for e in journal.entries(instance=instance, limit=12)]
    runs = journal.runs()
    found["runs"] = [(r.instance, r.method, r.dry_run, r.counts, r.finished is None, r.chat_column) for r in runs]
    for position, run in enumerate(runs):
        for status in (st.ARCHIVED, st.UNARCHIVED):
            found[f"run {position} changed {status}"] = journal.changed_chats(run.id, status)
        undone = journal.undone_by(run.id)
        found[f"run {position} undone"] = None if undone is None else [r.id for r in runs].index(undone.id)
        found[f"run {position} get"] = journal.get_run(run.id).method
    return found


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=operations)
def test_the_book_journal_answers_as_the_sqlite_journal(tmp_path_factory, monkeypatch, steps):
    clock = Clock()
    monkeypatch.setattr(sqlite_journal, "time", clock.module())
    monkeypatch.setattr(book_journal, "time", clock.module())
    desktop = Journal(tmp_path_factory.mktemp("journal") / "journal.sqlite3")
    book = BookJournal()
    try:
        _replay(desktop, steps, clock)
        _replay(book, steps, clock)
        expected = _answers(desktop)
        assert _answers(book) == expected
        sheet = SheetCells()
        book.queue_writes(sheet)
        assert _answers(BookJournal.from_values(sheet.rows())) == expected   # what the book keeps, read back
    finally:
        desktop.close()


def test_only_what_changed_is_written_again_in_blocks_of_neighbouring_rows():
    journal, sheet = BookJournal(), SheetCells()
    ids = [journal.begin(instance=INSTANCES[0], method=ARCHIVE, chat_id=chat) for chat in CHATS]
    journal.start_run(instance=INSTANCES[0], method=ARCHIVE)
    assert journal.queue_writes(sheet) == 2                    # one block of calls, one of runs
    journal.finish(ids[0], status=st.ARCHIVED)
    journal.finish(ids[2], status=st.CHAT_NOT_FOUND)
    written = dict(sheet.cells)
    assert journal.queue_writes(sheet) == 2                    # rows 3 and 5: two blocks, the run untouched
    assert {key for key in sheet.cells if sheet.cells[key] != written.get(key)} == {(FIRST_ROW, 1), (FIRST_ROW + 2, 1)}
    assert journal.queue_writes(sheet) == 0


def test_cells_that_are_not_records_are_left_out_and_never_a_formula():
    journal = BookJournal()
    call = journal.begin(instance=INSTANCES[0], method=ARCHIVE, chat_id=CHATS[0])
    journal.finish(call, status=st.FAILED, details="=HYPERLINK(\"x\") the server's words")
    sheet = SheetCells()
    journal.queue_writes(sheet)
    assert all(isinstance(v, str) and v.startswith("[") for v in sheet.cells.values())
    rows = [["=1+1", "hand-written"], ["[1, 2]", None]] + sheet.rows()
    again = BookJournal.from_values(rows)
    [entry] = again.entries()
    assert entry.details == "=HYPERLINK(\"x\") the server's words" and entry.status == st.FAILED


def test_unsaved_function_calls_join_the_journal_a_script_reads():
    saved = BookJournal()
    first = saved.begin(instance=INSTANCES[0], method=ARCHIVE, chat_id=CHATS[0])
    saved.finish(first, status=st.ARCHIVED)
    sheet = SheetCells()
    saved.queue_writes(sheet)
    later = saved.begin(instance=INSTANCES[0], method=ARCHIVE, chat_id=CHATS[1], source="lite udf")   # a function
    saved.finish(later, status=st.ARCHIVED)
    saved.add_links(INSTANCES[0], [Link(PHONES[0], LIDS[0], "checkWhatsapp")], [PHONES[1]])   # its run's asks
    fresh = BookJournal.from_values(sheet.rows())
    fresh.take_unsaved(saved)
    assert sorted(fresh.done_before(INSTANCES[0], ARCHIVE)) == sorted(CHATS[:2])
    assert [e.id for e in fresh.entries()] == [2, 1]
    known = fresh.links(INSTANCES[0])
    assert known.links == (Link(PHONES[0], LIDS[0], "checkWhatsapp"),) and known.asked == {PHONES[0], PHONES[1]}
    fresh.queue_writes(sheet)
    assert BookJournal.from_values(sheet.rows()).links(INSTANCES[0]) == known   # and the sheet keeps them


@pytest.mark.parametrize("language, title", [("en", "GreenApi's journal"), ("ru", "Журнал GreenApi")])
def test_the_sheet_says_what_it_is_in_the_books_language(language, title):
    from greenapi_excel import i18n

    with i18n.using(language):
        rows = header_rows()
    assert rows[0][0].startswith(title) and rows[1] == ["calls", "runs", "links", "settings"]
    assert len(rows[0]) == len(rows[1]) == len(HEADERS)


def test_a_lite_block_counts_as_delivered_only_once_a_flush_carried_it():
    """LiteTarget queues each block and hands the journal only the results a flush already wrote into Excel."""
    from datetime import datetime

    from greenapi_excel.background import ResultCells
    from greenapi_excel.lite.book import LiteTarget
    from greenapi_excel.results import RowResult

    writes = []

    class Sheet:
        def range(self, first, last=None):
            class Cells:
                column_width = 8.43

                @property
                def value(self):
                    return None

                @value.setter
                def value(self, grid):
                    writes.append((first, grid))

                number_format = None
            return Cells()

    target = LiteTarget(Sheet(), ResultCells(2, 4, ["Status", "Details", "Updated"], False, {2: [None] * 3, 3: [None] * 3}))
    first, second = (RowResult(row, st.ARCHIVED, "done", datetime.now(), call_id=row) for row in (2, 3))
    assert target.write([first]) == [] and writes                      # queued, not yet in Excel
    target.flushed()
    assert target.write([second]) == [first]                           # the first block went out with that flush
    assert target.finish() == []                                       # the second one has not been flushed yet
    target.flushed()
    assert target.finish() == [second]

"""What both drivers do the same way with the run's bookkeeping effects: the journal's records (begin,
finish, uncertain, done before, adopt, the @lid links, verify's findings) and the start of a run. Synchronous: the journal is local (SQLite
on the desktop, the book itself in Lite); only requests differ between the drivers."""

from __future__ import annotations

from greenapi_excel.run import decisions
from greenapi_excel.run.decisions import Adopt, Begin, Checked, DoneBefore, Finish, KnownLinks, Learnt, MarkUncertain

_NOT_A_RECORD = object()


class Records:
    """One run's journal: every call it begins carries the run's id."""

    def __init__(self, journal, *, instance: str, source: str, run_id: str | None):
        self.journal, self.instance, self.source, self.run_id = journal, instance, source, run_id

    def carry_out(self, effect):
        """What the record effect gave, or ``NOT_A_RECORD`` for an effect the driver carries out itself."""
        journal = self.journal
        if isinstance(effect, Begin):
            return journal.begin(instance=self.instance, method=effect.method, chat_id=effect.chat_id,
                                 source=self.source, run_id=self.run_id)
        if isinstance(effect, Finish):
            journal.finish(effect.call_id, status=effect.status, details=effect.details,
                           http_status=effect.http_status, settled=effect.settled)
            return None
        if isinstance(effect, MarkUncertain):
            journal.mark_uncertain(effect.call_id, effect.details)
            return None
        if isinstance(effect, DoneBefore):
            return journal.done_before(self.instance, effect.method, since=effect.since, undelivered_only=True)
        if isinstance(effect, Adopt):
            journal.adopt(self.run_id, effect.call_ids)
            return None
        if isinstance(effect, KnownLinks):
            return journal.links(self.instance)
        if isinstance(effect, Learnt):
            journal.add_links(self.instance, effect.links, effect.asked)
            return None
        if isinstance(effect, Checked):
            journal.record_check(instance=self.instance, method=effect.method, chat_id=effect.chat_id,
                                 status=effect.status, details=effect.details, source=self.source)
            return None
        return NOT_A_RECORD




NOT_A_RECORD = _NOT_A_RECORD


def open_run(plan, client, journal, *, block_seconds: float, started: float, source: str, dry_run: bool,
             book, sheet, undo_of, chat_column) -> tuple[decisions.RunBook, Records]:
    """The run's tally and its journal, the run recorded as it starts."""
    tally = decisions.RunBook(plan, block_seconds=block_seconds, started=started)
    instance = client.endpoint.id_instance
    tally.summary.run_id = journal.start_run(instance=instance, method=plan.method, source=source, book=book,
                                             sheet=sheet, dry_run=dry_run, undo_of=undo_of, chat_column=chat_column)
    return tally, Records(journal, instance=instance, source=source, run_id=tally.summary.run_id)


def uncertain_chats(journal, instance: str, method: str) -> set[str]:
    """Calls an earlier run sent but never heard back from, and changes this tool made whose result never
    reached a book: if the server now says "already", that run did it. One query each for the whole run."""
    return journal.uncertain_chats(instance, method) | journal.unreported_changes(instance, method)

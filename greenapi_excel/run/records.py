"""The journal's side of a run's effects, carried out the same way by both drivers: the journal is a local
SQLite file, written in the driver's own thread or event loop (each write commits in well under a millisecond).

``run.decisions`` yields these effects; ``Records.record`` carries one out and returns what it gave, or
``NOT_A_RECORD`` for an effect that is the client's (a request, a pace, a wait).
"""

from __future__ import annotations

from greenapi_excel.run.decisions import Begin, Checked, Finish, KnownLinks, Learnt, MarkUncertain

NOT_A_RECORD = object()


class Records:
    """One run's journal records: every call it begins carries the run's id and its source."""

    def __init__(self, journal, *, instance: str, source: str, run_id: str | None):
        self.journal = journal
        self.instance, self.source, self.run_id = instance, source, run_id

    def record(self, effect):
        if isinstance(effect, Begin):
            return self.journal.begin(instance=self.instance, method=effect.method, chat_id=effect.chat_id,
                                      source=self.source, run_id=self.run_id)
        if isinstance(effect, Finish):
            self.journal.finish(effect.call_id, status=effect.status, details=effect.details,
                                http_status=effect.http_status, settled=effect.settled)
            return None
        if isinstance(effect, MarkUncertain):
            self.journal.mark_uncertain(effect.call_id, effect.details)
            return None
        if isinstance(effect, KnownLinks):
            return self.journal.links(self.instance)
        if isinstance(effect, Learnt):
            self.journal.add_links(self.instance, effect.links, effect.asked)
            return None
        if isinstance(effect, Checked):
            self.journal.record_check(instance=self.instance, method=effect.method, chat_id=effect.chat_id,
                                      status=effect.status, details=effect.details, source=self.source)
            return None
        return NOT_A_RECORD

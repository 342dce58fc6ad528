"""Taking a run back: the opposite call for exactly the chats that run changed.

The journal knows which calls each run made and what they answered. A run "changed" a chat when its
call was answered ``Archived`` (or ``Unarchived``), or when it reported such a call of a killed run
(resume: ``Journal.adopt``); rows that were already so are not touched by an undo. An undo is itself a
run (``undo_of`` names the run it undid). Undo without a run id walks back like Ctrl+Z: each one takes
back the newest run not yet taken back, never an undo itself; ``--run ID`` reaches any run, an undo too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from greenapi_excel import chat_ids, methods
from greenapi_excel.errors import ConfigError
from greenapi_excel.i18n import _, ngettext
from greenapi_excel.journal import RunRecord
from greenapi_excel.run import Plan

# How far back an undo without a run id looks for a run that changed something.
LAST_RUNS_SCANNED = 500


@dataclass(frozen=True)
class Undo:
    """What an undo will do: the run it takes back, the opposite method, and the chats."""

    run: RunRecord
    method: str          # the opposite of the run's method
    chats: list[str]     # the chats the run changed, in the order it changed them

    @property
    def where(self) -> str:
        return f"{_book_name(self.run.book)} [{self.run.sheet}]" if self.run.book else self.run.source

    @property
    def what(self) -> str:
        return _("an undo") if self.run.undo_of else _(methods.of(self.run.method).verb)

    def describe(self) -> str:
        where, what = self.where, self.what
        n = len(self.chats)
        text = (ngettext("run {run} ({what} from {where}, {started}) archived {n} chat",
                         "run {run} ({what} from {where}, {started}) archived {n} chats", n)
                if self.run.method == methods.ARCHIVE else
                ngettext("run {run} ({what} from {where}, {started}) unarchived {n} chat",
                         "run {run} ({what} from {where}, {started}) unarchived {n} chats", n))
        return text.format(run=self.run.id, what=what, where=where, started=f"{self.run.started:%Y-%m-%d %H:%M}", n=n)

    @property
    def verb(self) -> str:
        return _(methods.of(self.method).verb)


def find(journal, instance, run_id: str | None = None) -> Undo:
    """The undo of ``run_id``, or of the newest run on this instance not yet taken back that changed a chat.

    ConfigError, with what to do, when there is no such run, it was a dry run, it belongs to another
    instance, it changed nothing, or it was undone already.
    """
    instance = str(instance)
    if run_id is not None:
        run = journal.get_run(run_id.strip())
        if run is None:
            raise ConfigError(_("the journal has no run {run!r}: greenapi-excel journal --runs lists them").format(
                run=run_id))
        if run.dry_run:
            raise ConfigError(_("run {run} was a dry run: it changed nothing, so there is nothing to undo").format(
                run=run.id))
        if run.instance != instance:
            raise ConfigError(_("run {run} was on instance {other}, not {instance}: undo it with that instance's "
                                "credentials").format(run=run.id, other=run.instance, instance=instance))
        chats = _changed(journal, run)
        if not chats:
            raise ConfigError(_("run {run} changed no chat (every row was already so, or failed): nothing to "
                                "undo").format(run=run.id))
        later = journal.undone_by(run.id)
        if later is not None:
            raise ConfigError(_("run {run} was undone already by run {later} ({started}); to take that back, undo "
                                "run {later}").format(run=run.id, later=later.id,
                                                      started=f"{later.started:%Y-%m-%d %H:%M}"))
        return Undo(run, methods.of(run.method).opposite, chats)
    for run in journal.undo_candidates(instance, LAST_RUNS_SCANNED):
        if run.method in methods.TABLE and (chats := _changed(journal, run)):
            return Undo(run, methods.of(run.method).opposite, chats)
    raise ConfigError(_("no run on instance {instance} is left to undo: every run that changed a chat was taken back "
                        "already, or none changed one").format(instance=instance))


def _changed(journal, run: RunRecord) -> list[str]:
    return journal.changed_chats(run.id, methods.of(run.method).done) if run.method in methods.TABLE else []


def plan(undo: Undo, cells: Iterable[tuple[int, object]] = (), *, region: str | None = None,
         identities=None) -> Plan:
    """The undo as a Plan: each changed chat on the first row of ``cells`` (the run's book) that holds it
    (by the chat column's own rule, ``chat_ids.parse_cell``; under either of its IDs where ``identities``
    links a number and its @lid); chats no row holds any more get rows -1, -2, ... (printed, never written)."""
    key = identities.key if identities is not None else (lambda chat_id: chat_id)
    wanted = {key(chat_id) for chat_id in undo.chats}
    rows: dict[str, int] = {}
    for row, value in cells:
        try:
            parsed = chat_ids.parse_cell(value, region)
        except ConfigError:
            continue
        if parsed.chat_id is not None and key(parsed.chat_id) in wanted and key(parsed.chat_id) not in rows:
            rows[key(parsed.chat_id)] = row
    result = Plan(undo.method)
    missing = 0
    for chat_id in undo.chats:
        row = rows.get(key(chat_id))
        if row is None:
            missing += 1
            row = -missing
        result.todo.append((row, chat_id))
    result.todo.sort(key=lambda item: (item[0] < 0, abs(item[0])))
    return result


def _book_name(path: str | None) -> str:
    from pathlib import PurePath

    return PurePath(path).name if path else ""

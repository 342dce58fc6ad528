"""The terminal: what the command line and the demo show, and the run of a book on disk they share.

Text that came from elsewhere (a server's words, a contact name, a sheet name, a chat ID someone typed)
is printed through ``terminal``: no escape sequence reaches the terminal.
"""

from __future__ import annotations

import sys
from pathlib import Path

from greenapi_excel import texts
from greenapi_excel.i18n import _

EXIT_OK, EXIT_ROWS_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130

# Status words that mean the row did not get what was asked (exit code 1).
_FAILED_WORDS = ("Invalid chat ID", "Chat not found", "No incoming messages", "Quota exceeded", "Not run", "Failed",
                 "Not archived", "Not unarchived")


# --- showing -------------------------------------------------------------------------------------------

def terminal(text: object) -> str:
    """Text for a terminal: the cell rule (control characters, escape sequences and bidi tricks out),
    line breaks kept, never cut."""
    from greenapi_excel.results import cell_text

    return cell_text(text, 1 << 30, lines=True, fold=False)


def say(text: object) -> None:
    print(terminal(text))


def info(text: object) -> None:
    print(terminal(text), file=sys.stderr)


def error(message: str) -> None:
    print(terminal(texts.error_line(message)), file=sys.stderr)


class WaitLine:
    """Each wait for GREEN-API (an instance restarting, getChats' refresh) as a line on stderr: the first at
    once, then at most every ``every`` seconds (a terminal, a scheduler's log)."""

    def __init__(self, every: float = 15.0):
        self.every, self.last = every, None

    def __call__(self, reason: str, waited: float, limit: float) -> None:
        import time

        now = time.monotonic()
        if self.last is None or now - self.last >= self.every:
            self.last = now
            info(texts.waiting(reason, waited, limit))


class Progress:
    """A progress bar on stderr (tqdm), or nothing; a wait for GREEN-API shows beside it (``wait``)."""

    def __init__(self, total: int, enabled: bool, label: str):
        self.bar = None
        if enabled and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=terminal(label), unit="row", file=sys.stderr, dynamic_ncols=True,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} " + _("rows") +
                                       " [{elapsed}<{remaining}, {rate_fmt}{postfix}]")
        self.n = 0
        self.waiting = False
        self._lines = WaitLine()

    def update(self, done: int, total: int) -> None:
        if self.bar is not None:
            if self.waiting and done > self.n:
                self.bar.set_postfix_str("", refresh=False)
                self.waiting = False
            self.bar.update(done - self.n)
        self.n = done

    def wait(self, reason: str, waited: float, limit: float) -> None:
        """The run waits for GREEN-API: say what for and how long so far."""
        if self.bar is None:
            self._lines(reason, waited, limit)
            return
        self.waiting = True
        self.bar.set_postfix_str(terminal(texts.waiting(reason, waited, limit)), refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def exit_code(summary) -> int:
    from greenapi_excel.errors import AuthError, ConnectionFailed, InstanceError, NotAuthorized

    if isinstance(summary.stop_error, (AuthError, InstanceError, NotAuthorized)):
        error(str(summary.stop_error))
        return EXIT_CONFIG
    if isinstance(summary.stop_error, ConnectionFailed) and not summary.counts.get("Archived") \
            and not summary.counts.get("Unarchived"):
        error(str(summary.stop_error))
        return EXIT_CONFIG
    if any(summary.counts.get(word) for word in _FAILED_WORDS):
        return EXIT_ROWS_FAILED
    return EXIT_OK


def print_summary(outcome, target=None, sheet=None) -> None:
    from greenapi_excel import layout

    columns = None
    written = target.saved_to if target is not None else None
    if sheet is not None and written is not None:
        first = sheet.status_column_number
        columns = (layout.column_letter(first), layout.column_letter(first + 2))
    say(texts.summary_table(outcome.summary, written=written, sheet=sheet.sheet_name if sheet else None,
                            columns=columns, labels=getattr(sheet, "labels", 0),
                            nothing_written=bool(getattr(sheet, "nothing_written", False))))


def print_results(results, chats: dict) -> None:
    """One line per result: the chat as it came (``chats``: row -> chat), its status, its details."""
    for result in sorted(results, key=lambda r: (r.row < 0, abs(r.row))):
        say(texts.result_line(str(chats.get(result.row, "")), result.status, result.details))


def archive_book(book: Path, *, method: str, credentials_of, client_of, journal, out: Path | None = None,
                 sheet: str | None = None, column=None, region: str | None = None, dry_run: bool = False,
                 resend: bool = False, include_hidden: bool = False, progress: bool = True,
                 check_first: bool = False) -> int:
    """Archive (or unarchive) the chats of ``book`` in place (or into ``out``): the command line's run,
    and the demo's. ``check_first``: the instance is named outside the book, so it is checked before a
    large book is read (a wrong token fails fast)."""
    from greenapi_excel import filebook, jobs, methods
    from greenapi_excel.results import RunSummary
    from greenapi_excel.settings import resolve_region
    from greenapi_excel.sheets import book_lock, check_book

    client = None
    try:
        with book_lock(book):
            check_book(book, out=out)   # a book that cannot be read or written is refused before any request
            refusal, checked = None, False
            if check_first:
                client = client_of(credentials_of(None))
                client.on_wait = WaitLine()
                if not dry_run:
                    checked, refusal = True, jobs.check_before_changes(client)
            read, opened = filebook.read(book, sheet=sheet, column=column, out=out, include_hidden=include_hidden,
                                         resend=resend)
            if client is None:
                client = client_of(credentials_of(read.settings))
            prepared = jobs.prepare(read, method=method, dry_run=dry_run, resend=resend,
                                    region=resolve_region(region, read.settings))
            info(texts.book_line(book.name, read.sheet, opened.chat_column, prepared.plan))
            if read.note:
                info(read.note)
            target = filebook.FileTarget(opened, out)
            if prepared.nothing_to_do:   # a headless run on an empty sheet ends well, having changed nothing
                info(prepared.nothing_to_do)
                target.finish()
                say(texts.summary_table(RunSummary(), written=target.saved_to, sheet=read.sheet,
                                        nothing_written=True))
                return EXIT_OK
            bar = Progress(len(prepared.plan.todo) + len(prepared.plan.decided), progress,
                           _("dry run") if dry_run else _(methods.of(method).verb))
            try:
                outcome = jobs.execute(prepared, client, journal, target, progress=bar.update, source="cli",
                                       preflight=not checked, stopped_by=refusal, on_wait=bar.wait)
            finally:
                bar.close()
    finally:
        if client is not None:
            client.close()
        journal.close()
    print_summary(outcome, target, opened)
    return exit_code(outcome.summary)

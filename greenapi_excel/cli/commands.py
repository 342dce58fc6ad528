"""The commands of greenapi-excel: each gathers its inputs (flags, environment, the book), calls its job
(``greenapi_excel.jobs``) and prints what the job returns (``console``, in words from ``texts``).

Heavy modules (requests, openpyxl, phonenumbers) are imported inside the commands that need them, so
``--help`` and the first request start fast.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from greenapi_excel import texts
from greenapi_excel.console import (EXIT_CONFIG, EXIT_OK, EXIT_ROWS_FAILED, Progress, WaitLine, archive_book, error,
                                    exit_code, info, print_results, print_summary, say, terminal)
from greenapi_excel.i18n import _


def dispatch(args) -> int:
    if args.command in ("archive", "unarchive"):
        return command_all_chats(args) if args.all_chats else command_run(args)
    return {"undo": command_undo, "chats": command_chats, "check": command_check, "demo": command_demo,
            "workbook": command_workbook, "addin": command_addin, "journal": command_journal,
            "verify": command_verify}[args.command](args)


# --- inputs ----------------------------------------------------------------------------------------

def credentials(args, sheet_settings=None):
    from greenapi_excel.settings import resolve_credentials

    return resolve_credentials(api_url=args.api_url, id_instance=args.id_instance, api_token=args.api_token,
                               sheet_settings=sheet_settings)


def client_for(args, credentials):
    from greenapi_excel.client import GreenApiClient

    client = GreenApiClient(credentials, timeout=(5.0, args.timeout), rate=getattr(args, "rate", 10.0))
    client.on_wait = WaitLine()   # a wait for GREEN-API outside a run's progress bar: a line now and then
    return client


def journal_for(args):
    from greenapi_excel.journal import Journal

    return Journal(getattr(args, "journal", None))


def _instance_named_outside_book(args) -> bool:
    """The book's Settings sheet ranks below flags and the environment, above the config file."""
    import os

    return bool((args.api_url or os.environ.get("GREENAPI_API_URL"))
                and (args.id_instance or os.environ.get("GREENAPI_ID_INSTANCE")))


def _refuse_existing_out(args) -> None:
    from greenapi_excel.errors import ConfigError

    if args.out and not args.force and Path(args.out).exists() and \
            Path(args.out).resolve() != Path(args.book).resolve():
        raise ConfigError(texts.out_exists(args.out))


# --- archive / unarchive on a book --------------------------------------------------------------------

def command_run(args) -> int:
    from greenapi_excel import methods
    from greenapi_excel.errors import ConfigError
    from greenapi_excel.settings import resolve_region

    method = methods.BY_COMMAND[args.command]
    if args.region:
        resolve_region(args.region)   # a wrong --region fails before the book is read
    if not args.book:
        raise ConfigError(texts.give_book(args.command))
    if args.type or args.idle_days is not None or args.report:
        raise ConfigError(texts.all_chats_flags_alone())
    _refuse_existing_out(args)
    return archive_book(Path(args.book), method=method, out=Path(args.out) if args.out else None, sheet=args.sheet,
                        column=args.column, region=args.region, dry_run=args.dry_run, resend=args.resend,
                        include_hidden=args.include_hidden, progress=not args.no_progress,
                        credentials_of=lambda sheet_settings: credentials(args, sheet_settings),
                        client_of=lambda found: client_for(args, found),
                        journal=journal_for(args), check_first=_instance_named_outside_book(args))


# --- archive / unarchive --all-chats -----------------------------------------------------------------------

def command_all_chats(args) -> int:
    from greenapi_excel import chatlist, chatsheet, filebook, jobs, methods
    from greenapi_excel.errors import ConfigError
    from greenapi_excel.sheets import book_lock

    if args.book:
        raise ConfigError(texts.all_chats_no_book())
    if args.idle_days is not None:
        chatlist.check_days(args.idle_days)
    if args.include_unknown and args.idle_days is None:
        raise ConfigError(texts.include_unknown_alone())
    method = methods.BY_COMMAND[args.command]
    if args.keep_archived and (method != methods.ARCHIVE or args.type or args.idle_days is not None
                               or args.include_unknown):
        raise ConfigError(texts.keep_archived_alone())
    found = credentials(args)
    client = client_for(args, found)
    journal = journal_for(args)
    try:
        refusal = jobs.check_before_changes(client, webhook=not args.dry_run)
        if refusal is not None:
            error(str(refusal))
            return EXIT_CONFIG
        days = args.idle_days or chatlist.DEFAULT_DAYS
        left_alone, kept = [], None
        if args.keep_archived:
            prepared, kept, chosen = jobs.prepare_keep_archived(client, journal, dry_run=args.dry_run)
            info(texts.keep_archived_line(kept))
        else:
            fetched = jobs.read_chat_list(client, days, journal)
            reach = fetched[0].reach if fetched else None
            if args.idle_days is not None and reach is not None and reach.days < days:
                info(texts.all_chats_reach(reach.days, days, reach))
            prepared, chosen = jobs.prepare_all_chats(fetched, method=method, dry_run=args.dry_run,
                                                      chat_type=args.type, idle_days=args.idle_days,
                                                      include_unknown=args.include_unknown)
            info(texts.all_chats_chosen(found.id_instance, len(chosen), args.type, args.idle_days))
            left_alone = jobs.unknown_rows(fetched, chosen, chat_type=args.type, idle_days=args.idle_days)
        report = Path(args.report) if args.report else None
        target, opened = None, None
        with book_lock(report) if report else contextlib.nullcontext():
            if report is not None:
                sheet_name, _laid = chatsheet.write(report, [*chosen, *left_alone], days,
                                                    sheet=args.sheet or "Report")
                read, opened = filebook.read(report, sheet=sheet_name, column="Chat ID")
                prepared.book, prepared.sheet = read.book, read.sheet
                target = filebook.FileTarget(opened)
            bar = Progress(len(prepared.plan.todo), not args.no_progress,
                           _("dry run") if args.dry_run else _(methods.of(method).verb))
            try:
                outcome = jobs.execute(prepared, client, journal, target, progress=bar.update,
                                       source="cli --all-chats", preflight=False, on_wait=bar.wait)
            finally:
                bar.close()
        print_results(outcome.results, {number: row.chat_id for number, row in enumerate(chosen, start=2)})
        journal.mark_delivered(r.call_id for r in outcome.results)   # printed above: the analyst has them
        print_summary(outcome, target, opened)
        if getattr(chosen, "unknown", 0):
            say(texts.all_chats_unknown(chosen, report is not None))
        if kept is not None:
            say(texts.keep_archived_line(kept))
        return exit_code(outcome.summary)
    finally:
        client.close()
        journal.close()


# --- undo ---------------------------------------------------------------------------------------------

def command_undo(args) -> int:
    from greenapi_excel import filebook, jobs
    from greenapi_excel.errors import BookBusy, ConfigError, WorkbookError
    from greenapi_excel.settings import resolve_region
    from greenapi_excel.sheets import book_lock

    if args.region:
        resolve_region(args.region)   # a wrong --region fails before anything is asked
    found_credentials = credentials(args)
    journal = journal_for(args)
    client = None
    try:
        found = jobs.find_undo(journal, found_credentials.id_instance, args.run)
        info(texts.undo_line(found))
        book = Path(found.run.book) if found.run.book else None
        with book_lock(book) if book and not args.dry_run else contextlib.nullcontext():
            read = opened = None
            if book is not None and not args.dry_run:
                try:
                    read, opened = filebook.read(book, sheet=found.run.sheet, column=found.run.chat_column)
                except BookBusy:
                    raise   # open in Excel (or another run): refused before any call, the book says what is true
                except WorkbookError as problem:
                    info(texts.undo_statuses_printed(problem))
            if not args.dry_run and not args.yes:
                if not sys.stdin.isatty():
                    raise ConfigError(texts.undo_needs_yes())
                answer = input(terminal(texts.undo_prompt(found))).strip().lower()
                if answer not in ("y", "yes", _("y"), _("yes")):
                    say(texts.nothing_changed())
                    return EXIT_OK
            prepared = jobs.prepare_undo(found, read, region=resolve_region(args.region, read.settings if read else None),
                                         journal=journal)
            prepared.dry_run = args.dry_run
            client = client_for(args, found_credentials)
            target = filebook.FileTarget(opened) if opened is not None else None
            bar = Progress(len(prepared.plan.todo), not args.no_progress, _("undo"))
            try:
                outcome = jobs.execute(prepared, client, journal, target, progress=bar.update, source="cli undo")
            finally:
                bar.close()
        print_results([r for r in outcome.results if target is None or r.row < 2], outcome.chats)
        journal.mark_delivered(r.call_id for r in outcome.results if target is None)
        print_summary(outcome, target, opened)
        return exit_code(outcome.summary)
    finally:
        journal.close()
        if client is not None:
            client.close()


# --- check ----------------------------------------------------------------------------------------

def command_check(args) -> int:
    from greenapi_excel import jobs

    found = credentials(args)
    journal = journal_for(args)
    try:
        with client_for(args, found) as client:
            outcome = jobs.check(client, fix=args.fix, journal=journal)
    finally:
        journal.close()
    for line in texts.check_lines(found, outcome):
        say(line)
    if outcome.switched_on:
        say(texts.switched_on_line(outcome))
        return EXIT_OK if not outcome.restarting else EXIT_CONFIG
    if not outcome.state_works or outcome.restarting:
        error(texts.instance_state(outcome.state) if not outcome.restarting else texts.restarting(outcome.retry_at))
        return EXIT_CONFIG
    if outcome.webhook == "no":
        error(texts.webhook_off())
        return EXIT_CONFIG
    return EXIT_OK


# --- chats: load the instance's chat list into a sheet -----------------------------------------------

def command_chats(args) -> int:
    from greenapi_excel import chatlist, chatsheet, jobs
    from greenapi_excel.sheets import book_lock

    days = chatlist.check_days(args.days)
    book = Path(args.book)
    with book_lock(book):
        found = credentials(args)
        journal = journal_for(args)
        try:
            with client_for(args, found) as client:
                rows = jobs.fetch_chat_list(client, days, journal)
        finally:
            journal.close()
        sheet_name, laid = chatsheet.write(book, rows, days, sheet=args.sheet)
    window = chatlist.window_of(rows, days)
    quoted = f'"{sheet_name}"' if " " in sheet_name else sheet_name
    for line in texts.chats_loaded(laid.describe(), book, sheet_name, window, days,
                                   f"greenapi-excel archive {book} --sheet {quoted} --dry-run",
                                   rows[0].reach if rows else None):
        say(line)
    return EXIT_OK


# --- verify: do the statuses still hold? ----------------------------------------------------------------

def command_verify(args) -> int:
    from greenapi_excel import filebook, jobs, methods
    from greenapi_excel.settings import resolve_region
    from greenapi_excel.sheets import book_lock

    if args.region:
        resolve_region(args.region)
    book = Path(args.book)
    journal = journal_for(args)
    client = None
    try:
        with book_lock(book):
            read, opened = filebook.read(book, sheet=args.sheet, column=args.column)
            checks = jobs.prepare_verify(read, region=resolve_region(args.region, read.settings))
            client = client_for(args, credentials(args, read.settings))
            target = filebook.FileTarget(opened)
            outcome = jobs.verify(read, checks, client, journal, target)
            say(texts.verify_summary(outcome))
            runs = outcome.fix(read) if args.fix else []
            if outcome.verified.contradicted and not args.fix:
                say(texts.verify_fix_hint())
            code = EXIT_ROWS_FAILED if outcome.verified.contradicted else EXIT_OK
            for prepared in runs:
                bar = Progress(len(prepared.plan.todo), not args.no_progress, _(methods.of(prepared.method).verb))
                try:
                    fixed = jobs.execute(prepared, client, journal, target, progress=bar.update, source="cli verify",
                                         on_wait=bar.wait)
                finally:
                    bar.close()
                print_results(fixed.results, fixed.chats)
                print_summary(fixed, target, opened)
                code = exit_code(fixed.summary) if code != EXIT_CONFIG else code
            return code
    finally:
        journal.close()
        if client is not None:
            client.close()


# --- journal -----------------------------------------------------------------------------------------

def command_journal(args) -> int:
    journal = journal_for(args)
    try:
        if args.runs:
            runs = journal.runs(limit=args.limit)
            if not runs:
                say(texts.no_runs())
                return EXIT_OK
            say(texts.runs_header())
            for run in runs:
                say(texts.run_listing(run))
            return EXIT_OK
        entries = journal.entries(chat_id=_chat_as_typed(args), limit=args.limit)
    finally:
        journal.close()
    for entry in entries:
        say(texts.journal_listing(entry))
    if not entries:
        say(texts.journal_empty())
    return EXIT_OK


def _chat_as_typed(args) -> str | None:
    """--chat as the analyst types it, by the chat column's rule (``chat_ids.parse_cell``)."""
    if args.chat is None:
        return None
    from greenapi_excel import chat_ids
    from greenapi_excel.settings import resolve_region

    parsed = chat_ids.parse_cell(args.chat, resolve_region(getattr(args, "region", None)))
    return parsed.chat_id or args.chat.strip()


# --- set-up ----------------------------------------------------------------------------------------

def command_addin(args) -> int:
    from greenapi_excel import addin_install

    folder = addin_install.startup_folder(args.folder)
    lines = addin_install.install(folder) if args.action == "install" else addin_install.remove(folder)
    for line in lines:
        say(line)
    return EXIT_OK


def command_workbook(args) -> int:
    from greenapi_excel import i18n

    from greenapi_excel import setup_checks

    if args.lite:
        from greenapi_excel.workbook.lite import DEFAULT_LITE_OUT, build_lite

        target = setup_checks.workbook_target(args.path or DEFAULT_LITE_OUT, force=args.force, lite=True)
        say(texts.wrote_lite_workbook(build_lite(target, language=i18n.language())))
        return EXIT_OK
    from greenapi_excel.workbook.build import build

    target = setup_checks.workbook_target(args.path or "GreenApi.xlsm", force=args.force)
    path = build(target, interpreter=sys.executable, language=i18n.language())
    say(texts.wrote_workbook(path, sys.executable))
    for note in setup_checks.python_notes(sys.executable):
        say(note)
    return EXIT_OK


def command_demo(args) -> int:
    from greenapi_excel import demo

    return demo.run_demo(Path(args.out), progress=not args.no_progress)

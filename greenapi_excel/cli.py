"""greenapi-excel: archive WhatsApp chats listed in an Excel workbook, headless.

Exit codes: 0 every row succeeded or needed nothing; 1 some rows failed or were invalid; 2 a usage or
configuration error (missing credentials, refused apiUrl, unreadable book, 401/403 from the instance);
130 interrupted (what finished is saved). Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from greenapi_excel import i18n
from greenapi_excel.i18n import N_, _, ngettext

# Heavy modules (requests, openpyxl, phonenumbers) are imported inside the commands that need them,
# so `--help` and the first request start fast.

EXIT_OK, EXIT_ROWS_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130

# Status words that mean the row did not get what was asked (exit code 1).
_FAILED_WORDS = ("Invalid chat ID", "Chat not found", "No incoming messages", "Quota exceeded", "Not run", "Failed")

SAVE_EVERY_SECONDS = 5.0

EPILOG = N_("""\
credentials, first found wins, field by field:
  1. the flags;
  2. the environment: GREENAPI_API_URL (default https://api.green-api.com), GREENAPI_ID_INSTANCE,
     GREENAPI_API_TOKEN_INSTANCE;
  3. for apiUrl and idInstance only: the book's Settings sheet;
  4. the user config file, GREENAPI_CONFIG or {config};
  5. the OS keychain, where the workbook's Settings button puts the token.
The token is never read from or written to a workbook.

exit codes: 0 all rows done or nothing to do, 1 some rows failed or were invalid,
            2 usage/configuration error or 401/403 from the instance, 130 interrupted.
""")

# argparse's own words, in our catalogue (argparse looks them up through its module's ``_``: see _localise_argparse).
ARGPARSE_MESSAGES = (
    N_("usage: "), N_("positional arguments"), N_("options"), N_("show this help message and exit"),
    N_("show program's version number and exit"), N_("%(prog)s: error: %(message)s\n"),
    N_("the following arguments are required: %s"), N_("unrecognized arguments: %s"),
    N_("expected one argument"), N_("argument %(argument_name)s: %(message)s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"), N_("invalid %(type)s value: %(value)r"),
    N_("not allowed with argument %s"),
)

VERB_HELP = {"archive": N_("archive every chat listed in a workbook column"),
             "unarchive": N_("unarchive every chat listed in a workbook column")}
VERB_DESCRIPTION = {"archive": N_("Archive every chat listed in BOOK and write Status / Details / Updated beside "
                                  "each row."),
                    "unarchive": N_("Unarchive every chat listed in BOOK and write Status / Details / Updated "
                                    "beside each row.")}
LANG_HELP = N_("the language of the messages, the summary and the statuses written (en, ru; default: "
               "GREENAPI_LANG, else the locale, else en); for workbook, the language of the book")


def _seconds(text: str) -> float:
    """A --timeout value: a number of seconds above 0 (0 or less would wait for nothing)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(_("must be a number of seconds above 0, such as 30 (got {text!r})").format(
            text=text))
    return value


def _add_credentials(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(_("GREEN-API instance"))
    group.add_argument("--api-url", metavar="URL", help=_("apiUrl of the instance (default https://api.green-api.com)"))
    group.add_argument("--id-instance", metavar="ID", help=_("idInstance of the instance"))
    group.add_argument("--api-token", metavar="TOKEN",
                       help=_("apiTokenInstance (prefer GREENAPI_API_TOKEN_INSTANCE: flags show in process lists)"))
    group.add_argument("--timeout", type=_seconds, default=30.0, metavar="SECONDS",
                       help=_("how long to wait for one reply before retrying (default 30)"))


def _add_run_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    parser.add_argument("book", metavar="BOOK", nargs="?",
                        help=_("the .xlsx or .xlsm workbook with a column of chat IDs (not with --all-chats)"))
    parser.add_argument("--out", metavar="OUT", help=_("write the results to this file instead of updating BOOK in place"))
    parser.add_argument("--sheet", metavar="NAME", help=_("the sheet to read (default: the first)"))
    parser.add_argument("--column", metavar="LETTER|HEADER",
                        help=_("the chat column, by letter or header (default: the book's Settings sheet's "
                             "'chat column', else the column headed 'Chat ID', 'chatId' or 'Phone', else A)"))
    parser.add_argument("--region", metavar="CC",
                        help=_("read numbers without country code as this country's (e.g. RU, DE); default: "
                             "GREENAPI_REGION, else the book's Settings sheet's Region, else region in the "
                             "config file; without any, local numbers are reported invalid"))
    parser.add_argument("--resend", action="store_true",
                        help=_("send every chat again, whatever its Status cell or the journal says "
                               "(after changes made in WhatsApp itself)"))
    parser.add_argument("--dry-run", action="store_true",
                        help=_("change nothing: validate, read getChats once and write what {command} would "
                               "do").format(command=verb))
    parser.add_argument("--journal", metavar="PATH",
                        help=_("the SQLite journal of every call (default: GREENAPI_JOURNAL or the per-user data folder)"))
    parser.add_argument("--rate", type=float, default=10.0, metavar="N",
                        help=_("archive/unarchive calls per second, GREEN-API's limit per instance (default 10)"))
    parser.add_argument("--no-progress", action="store_true", help=_("no progress bar"))
    parser.add_argument("-v", "--verbose", action="store_true", help=_("log every retry and slow-down on stderr"))
    parser.add_argument("--include-hidden", action="store_true",
                        help=_("also act on rows the book hides (a filter, or hidden by hand); by default they "
                             "are skipped, as in Excel"))
    _add_all_chats_arguments(parser)
    _add_credentials(parser)


def _add_all_chats_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(_("without a book: the instance's own chat list (getChats)"))
    group.add_argument("--all-chats", action="store_true",
                       help=_("act on the instance's chats instead of a book's column (then BOOK is not given)"))
    group.add_argument("--type", choices=("person", "group"), help=_("with --all-chats: only people, or only groups"))
    group.add_argument("--idle-days", type=int, metavar="N",
                       help=_("with --all-chats: only chats with no message, in or out, in the last N days "
                            "(lastIncomingMessages / lastOutgoingMessages)"))
    group.add_argument("--report", metavar="REPORT.xlsx",
                       help=_("with --all-chats: write the chosen chats, as Load chats lays them out, with Status, "
                            "Details and Updated beside each"))


def build_parser() -> argparse.ArgumentParser:
    from greenapi_excel.paths import user_folder

    epilog = _(EPILOG).format(config=user_folder("config") / "config.ini")
    parser = argparse.ArgumentParser(
        prog="greenapi-excel",
        description=_("Archive or unarchive the WhatsApp chats listed in an Excel column through GREEN-API, "
                    "writing Status, Details and Updated beside every row."),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _add_lang(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    for verb in ("archive", "unarchive"):
        sub = commands.add_parser(verb, help=_(VERB_HELP[verb]), description=_(VERB_DESCRIPTION[verb]),
                                  epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
        _add_run_arguments(sub, verb)

    check = commands.add_parser("check", help=_("check the credentials, the instance's state and the incomingWebhook "
                                              "setting archiveChat needs (getStateInstance, getSettings)"),
                                epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("--fix", action="store_true",
                       help=_('switch "Receive webhooks on incoming messages and files" on (setSettings '
                            'incomingWebhook=yes) when it is off; GREEN-API applies it within 5 minutes'))
    _add_credentials(check)

    demo = commands.add_parser("demo", help=_("try it without an account: a built-in sandbox archives demo.xlsx"))
    demo.add_argument("--out", default="demo.xlsx", metavar="PATH", help=_("where to write the demo book (demo.xlsx)"))
    demo.add_argument("--no-progress", action="store_true", help=_("no progress bar"))

    commands.add_parser("sandbox", help=_("run the local GREEN-API emulator (see `greenapi-excel sandbox --help`)"),
                        add_help=False)

    workbook = commands.add_parser("workbook", help=_("write GreenApi.xlsm set up for this Python"))
    workbook.add_argument("path", nargs="?", default="GreenApi.xlsm", metavar="PATH",
                          help=_("where to write it (default ./GreenApi.xlsm)"))

    addin = commands.add_parser("addin", help=_("install GreenApi.xlam, the GreenApi tab in every workbook, where "
                                                "Excel loads add-ins at start (XLSTART), or remove it"))
    addin.add_argument("action", choices=("install", "remove"))
    addin.add_argument("--folder", metavar="DIR", default=None,
                       help=_("Excel's start-up folder (default: GREENAPI_XLSTART, else the user's XLSTART)"))

    journal = commands.add_parser("journal", help=_("show the audit trail of calls made from this computer"))
    journal.add_argument("--journal", metavar="PATH", help=_("the journal file (default: see archive --help)"))
    journal.add_argument("--chat", metavar="CHAT_ID", help=_("only this chat"))
    journal.add_argument("--limit", type=int, default=50, help=_("newest N entries (default 50)"))
    journal.add_argument("--runs", action="store_true",
                         help=_("list the runs instead: when, from where, which book, the count of each status"))

    undo = commands.add_parser(
        "undo", help=_("take a run back: the opposite call for exactly the chats that run changed"),
        description=_("Send the opposite call (unarchive for an archive run, and the other way) for exactly the "
                    "chats a run changed, never for rows that were already so. Statuses go into the run's "
                    "book when it had one, else they are printed. An undo is a run too: it can be undone."),
        epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = undo.add_mutually_exclusive_group()
    which.add_argument("--last", action="store_true",
                       help=_("the newest run on this instance that changed a chat (the default)"))
    which.add_argument("--run", metavar="ID", help=_("this run (greenapi-excel journal --runs lists them)"))
    undo.add_argument("--dry-run", action="store_true", help=_("say what the undo would do, change nothing"))
    undo.add_argument("--yes", action="store_true", help=_("do not ask before acting (for scripts)"))
    undo.add_argument("--region", metavar="CC", help=_("as for archive: to find the chats in the run's book"))
    undo.add_argument("--journal", metavar="PATH", help=_("the journal file (default: see archive --help)"))
    undo.add_argument("--rate", type=float, default=10.0, metavar="N", help=argparse.SUPPRESS)
    undo.add_argument("--no-progress", action="store_true", help=_("no progress bar"))
    _add_credentials(undo)

    chats = commands.add_parser(
        "chats", help=_("load the instance's chats into a sheet (one row per chat, with last message times)"),
        description=_("Write one row per chat of the instance (getChats) into a sheet: Chat ID, Name, Type, "
                    "Archived, Last incoming, Last outgoing, Idle days. Loading again refreshes the rows in "
                    "place by Chat ID and keeps your own columns to the right. The sheet is ready as the "
                    "input of archive, unarchive and --dry-run."),
        epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    chats.add_argument("book", metavar="BOOK", help=_("the .xlsx or .xlsm book to write (made when it does not exist)"))
    chats.add_argument("--sheet", metavar="NAME", default=None, help=_("the sheet (default Chats)"))
    chats.add_argument("--days", type=int, default=30, metavar="N",
                       help=_("how many days of message journals to read (default 30)"))
    _add_credentials(chats)
    for sub in commands.choices.values():
        if sub.prog.split()[-1] != "sandbox":
            _add_lang(sub)
    return parser


def _add_lang(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: a subcommand's default must not hide the --lang given before it.
    parser.add_argument("--lang", choices=i18n.LANGUAGES, default=argparse.SUPPRESS, help=_(LANG_HELP))


def language_of(argv: list[str]) -> str:
    """The run's language, known before the parser is built (its --help is translated too): the last
    ``--lang X`` / ``--lang=X`` of ``argv``, else GREENAPI_LANG, else the locale, else English."""
    flag = None
    for index, word in enumerate(argv):
        if word == "--":
            break
        if word == "--lang" and index + 1 < len(argv):
            flag = argv[index + 1]
        elif word.startswith("--lang="):
            flag = word.split("=", 1)[1]
    return i18n.choose(flag)


def _localise_argparse() -> None:
    """argparse's own words ("usage:", "options", its errors) from our catalogue: argparse calls the ``_``
    and ``ngettext`` of its module at the moment it formats, so these are looked up in the language in force."""
    argparse._ = _
    argparse.ngettext = ngettext


def _version() -> str:
    from greenapi_excel import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "sandbox":  # the sandbox owns its flags
        from greenapi_excel import sandbox

        return sandbox.main(argv[1:])
    i18n.set_language(language_of(argv))
    _localise_argparse()
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help(sys.stderr)
        return EXIT_CONFIG

    from greenapi_excel.errors import GreenApiExcelError

    if getattr(args, "verbose", False):
        import logging

        logging.basicConfig(level=logging.INFO, format="greenapi-excel: %(message)s", stream=sys.stderr)
    try:
        if args.command in ("archive", "unarchive") and args.all_chats:
            return command_all_chats(args)
        if args.command in ("archive", "unarchive"):
            return command_run(args)
        if args.command == "undo":
            return command_undo(args)
        if args.command == "chats":
            return command_chats(args)
        if args.command == "check":
            return command_check(args)
        if args.command == "demo":
            return command_demo(args)
        if args.command == "workbook":
            return command_workbook(args)
        if args.command == "addin":
            return command_addin(args)
        if args.command == "journal":
            return command_journal(args)
    except GreenApiExcelError as error:
        _error(str(error))
        return EXIT_CONFIG
    except KeyboardInterrupt:
        _error(_("interrupted"))
        return EXIT_INTERRUPTED
    return EXIT_CONFIG


def _error(message: str) -> None:
    print(_("greenapi-excel: error: {message}").format(message=message), file=sys.stderr)


# --- archive / unarchive ---------------------------------------------------------

def command_run(args) -> int:
    from greenapi_excel import bulk
    from greenapi_excel.errors import ConfigError
    from greenapi_excel.settings import resolve_region
    from greenapi_excel.sheets import SheetFile, book_lock, check_book

    method = bulk.METHODS[args.command]
    if args.region:
        resolve_region(args.region)   # a wrong --region fails before the book is read
    if not args.book:
        raise ConfigError(_("give the BOOK to {command}, or --all-chats for the instance's own chat "
                            "list").format(command=args.command))
    if args.type or args.idle_days is not None or args.report:
        raise ConfigError(_("--type, --idle-days and --report go with --all-chats"))
    book_path = Path(args.book)
    with book_lock(book_path):
        check_book(book_path, out=args.out)   # a book that cannot be read or written is refused before any request
        # When the book cannot change the credentials (flags or environment name the instance), check
        # the instance before loading the book: a wrong token fails fast, and the first request goes out
        # without waiting for a large book.
        credentials = _credentials(args) if _instance_named_outside_book(args) else None
        client, checked, refusal = None, False, None
        if credentials is not None:
            client = _client(args, credentials)
            if not args.dry_run:
                checked, refusal = True, _check_early(client)
        sheet = SheetFile.open(book_path, sheet=args.sheet, column=args.column, out=args.out)
        if client is None:
            client = _client(args, _credentials(args, sheet))
        region = resolve_region(args.region, sheet.settings)
        hidden = () if args.include_hidden else sheet.hidden_rows
        previous = {} if getattr(args, "resend", False) else sheet.previous
        planned = bulk.plan(sheet.chat_cells, method=method, region=region, previous=previous, hidden=hidden)
        _info(_("{book} [{sheet}] column {column}: {plan}").format(
            book=book_path.name, sheet=sheet.sheet_name, column=sheet.chat_column, plan=planned.describe()))
        if sheet.placement_note:
            _info(sheet.placement_note)
        try:
            return _execute(args, sheet, planned, client, checked, refusal)
        finally:
            client.close()


def _instance_named_outside_book(args) -> bool:
    """The book's Settings sheet ranks below flags and the environment, above the config file."""
    import os

    return bool((args.api_url or os.environ.get("GREENAPI_API_URL"))
                and (args.id_instance or os.environ.get("GREENAPI_ID_INSTANCE")))


def _client(args, credentials):
    from greenapi_excel.client import GreenApiClient

    return GreenApiClient(credentials, timeout=(5.0, args.timeout), rate=getattr(args, "rate", 10.0))


def _check_early(client):
    """None when the instance is ready, else the error that must stop the run before any change."""
    from greenapi_excel import bulk
    from greenapi_excel.errors import ApiError

    try:
        bulk.check_instance(client)
    except ApiError as error:
        return error
    return None


def _credentials(args, sheet=None):
    from greenapi_excel.settings import resolve_credentials

    sheet_settings = getattr(sheet, "settings", None) if sheet is not None else None
    return resolve_credentials(api_url=args.api_url, id_instance=args.id_instance, api_token=args.api_token,
                               sheet_settings=sheet_settings)


def _execute(args, sheet, planned, client, checked: bool, refusal) -> int:
    from greenapi_excel import bulk
    from greenapi_excel.journal import Journal

    out = Path(args.out) if args.out else None
    journal = Journal(args.journal)
    saver = _PeriodicSaver(sheet, out, journal)
    progress = _Progress(total=len(planned.todo) + len(planned.decided), enabled=not args.no_progress,
                         label=_("dry run") if args.dry_run else args.command)

    def on_results(results):
        sheet.write(results)
        saver.maybe_save(results)

    summary = None
    try:
        summary = bulk.run(planned, client, journal, dry_run=args.dry_run, on_progress=progress.update,
                           on_results=on_results, source="cli", preflight=not checked, stopped_by=refusal,
                           book=str(Path(out or sheet.path).resolve()), sheet=sheet.sheet_name,
                           resume=not getattr(args, "resend", False))
    finally:
        progress.close()
        try:
            written = saver.save()  # also on Ctrl+C: what finished is kept
        finally:
            journal.close()
    _print_summary(summary, written, sheet)
    return _exit_code(summary)


def _exit_code(summary) -> int:
    from greenapi_excel.errors import AuthError, ConnectionFailed, InstanceError, NotAuthorized

    if isinstance(summary.stop_error, (AuthError, InstanceError, NotAuthorized)):
        _error(str(summary.stop_error))
        return EXIT_CONFIG
    if isinstance(summary.stop_error, ConnectionFailed) and not summary.counts.get("Archived") \
            and not summary.counts.get("Unarchived"):
        _error(str(summary.stop_error))
        return EXIT_CONFIG
    if any(summary.counts.get(word) for word in _FAILED_WORDS):
        return EXIT_ROWS_FAILED
    return EXIT_OK


class _PeriodicSaver:
    """Saves the book as the run goes, so a crash loses at most a few seconds (the journal has the rest).

    After each save, the journal learns which calls' results the file now holds (``mark_delivered``):
    those are never answered from the journal again, and a cleared Status cell sends them again. The
    mark comes after the save: a kill between the two leaves a result both saved and resumable, never
    one marked delivered that the book does not hold.
    """

    def __init__(self, sheet, out: Path | None, journal=None):
        self.sheet, self.out, self.journal = sheet, out, journal
        self.last = time.monotonic()
        self.interval = SAVE_EVERY_SECONDS
        self.dirty = False
        self.unsaved: list[int] = []

    def maybe_save(self, results=()) -> None:
        from greenapi_excel.results import call_ids

        self.dirty = True
        self.unsaved.extend(call_ids(results))
        if time.monotonic() - self.last >= self.interval:
            self.save()

    def save(self) -> Path:
        began = time.monotonic()
        path = self.sheet.save(self.out)
        if self.journal is not None and self.unsaved:
            self.journal.mark_delivered(self.unsaved)
            self.unsaved = []
        took = time.monotonic() - began
        # A big book takes a while to save: never spend more than about a quarter of the run saving.
        self.interval = max(SAVE_EVERY_SECONDS, 3 * took)
        self.last = time.monotonic()
        self.dirty = False
        return Path(path) if path else (self.out or self.sheet.path)


class _Progress:
    def __init__(self, total: int, enabled: bool, label: str):
        self.bar = None
        if enabled and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=label, unit="row", file=sys.stderr, dynamic_ncols=True,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} " + _("rows") +
                                       " [{elapsed}<{remaining}, {rate_fmt}]")
        self.n = 0

    def update(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(done - self.n)
        self.n = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _info(message: str) -> None:
    print(message, file=sys.stderr)


def _print_summary(summary, written: Path, sheet) -> None:
    if summary is None:
        return
    from greenapi_excel import statuses

    order = [w for w in statuses.ALL if summary.counts.get(w)] + \
            [w for w in summary.counts if w not in statuses.ALL]
    shown = {word: statuses.localised(word) for word in order}
    title, rows_title, total = _("Status"), _("Rows"), _("Total")
    width = max([len(shown[w]) for w in order] + [6, len(title), len(total)])
    count_width = max(4, len(rows_title))
    lines = ["", f"{title:<{width}}  {rows_title:>{count_width}}", f"{'-' * width}  {'-' * count_width}"]
    lines += [f"{shown[word]:<{width}}  {summary.counts[word]:>{count_width}}" for word in order]
    lines.append(f"{'-' * width}  {'-' * count_width}")
    lines.append(f"{total:<{width}}  {summary.rows:>{count_width}}")
    rate = summary.calls / summary.seconds if summary.seconds > 0 else 0.0
    lines.append("")
    lines.append(ngettext("{n} call in {seconds:.1f} s ({rate:.1f}/s)", "{n} calls in {seconds:.1f} s ({rate:.1f}/s)",
                          summary.calls).format(n=summary.calls, seconds=summary.seconds, rate=rate))
    if getattr(summary, "hidden", 0):
        lines.append(ngettext("Skipped {n} hidden row (a filter, or hidden by hand); --include-hidden acts on it too",
                              "Skipped {n} hidden rows (a filter, or hidden by hand); --include-hidden acts on "
                              "them too", summary.hidden).format(n=summary.hidden))
    if getattr(summary, "run_id", None):
        lines.append(_("Run {run} (greenapi-excel undo --run {run} takes it back)").format(run=summary.run_id))
    if summary.stopped:
        lines.append(_("Stopped early: {reason}").format(reason=summary.stopped))
    if getattr(sheet, "labels", 0):
        lines.append(ngettext("Skipped {n} merged label (a merge from the chat column into the result columns): no "
                              "status, the merge kept", "Skipped {n} merged labels (merges from the chat column into "
                              "the result columns): no status, the merges kept", sheet.labels).format(n=sheet.labels))
    if written is None:   # no book: the statuses were printed above
        print("\n".join(lines))
        return
    if getattr(sheet, "nothing_written", False):
        lines.append(_("Nothing was written: no cell of {path} changed").format(path=written))
        print("\n".join(lines))
        return
    columns = _("the result columns")
    if getattr(sheet, "result_column", None):
        from greenapi_excel import layout

        first = layout.column_number(sheet.result_column)
        columns = _("columns {first}:{last}").format(first=sheet.result_column, last=layout.column_letter(first + 2))
    lines.append(_("Results written to {path} (sheet {sheet}, {columns})").format(
        path=written, sheet=sheet.sheet_name, columns=columns))
    print("\n".join(lines))


# --- check ------------------------------------------------------------------------

def command_check(args) -> int:
    from greenapi_excel import bulk

    credentials = _credentials(args)
    with _client(args, credentials) as client:
        state = client.get_state_instance()
        print(f"apiUrl {credentials.api_url}, idInstance {credentials.id_instance}: stateInstance {state}")
        if state != "authorized":
            _error(_("the instance is not authorized: link WhatsApp to it in the GREEN-API console"))
            return EXIT_CONFIG
        webhook = bulk.incoming_webhook(client)
        answer = webhook or _("unknown (getSettings did not say)")
        print(f"incomingWebhook ({_(bulk.WEBHOOK_SETTING)}): {answer}")
        if webhook != "no":
            return EXIT_OK
        if not getattr(args, "fix", False):
            _error(bulk.webhook_off())
            return EXIT_CONFIG
        bulk.switch_incoming_webhook_on(client)
    print(_('Switched "{setting}" on (setSettings incomingWebhook=yes). GREEN-API applies it within 5 minutes: '
            "wait that long before archiving.").format(setting=_(bulk.WEBHOOK_SETTING)))
    return EXIT_OK


# --- journal ------------------------------------------------------------------------

def command_journal(args) -> int:
    from greenapi_excel.journal import Journal

    if args.runs:
        return command_runs(args)
    journal = Journal(args.journal)
    try:
        entries = journal.entries(chat_id=args.chat, limit=args.limit)
    finally:
        journal.close()
    for e in entries:
        print(f"{e.time:%Y-%m-%d %H:%M:%S}  {e.instance}  {e.method:<13}  {e.chat_id:<28}  "
              f"{e.state:<9}  {e.status or '':<18}  {e.details or ''}")
    if not entries:
        print(_("the journal holds no calls yet"))
    return EXIT_OK


# --- addin install / remove -------------------------------------------------------------

def command_addin(args) -> int:
    from greenapi_excel import addin_install

    folder = addin_install.startup_folder(args.folder)
    lines = addin_install.install(folder) if args.action == "install" else addin_install.remove(folder)
    for line in lines:
        print(line)
    return EXIT_OK


# --- workbook -------------------------------------------------------------------------

def command_workbook(args) -> int:
    from greenapi_excel.workbook.build import build

    path = build(Path(args.path), interpreter=sys.executable, language=i18n.language())
    print(_("Wrote {path}: its xlwings.conf sheet points at {python}. Open it in Excel and enable "
            "macros.").format(path=path, python=sys.executable))
    return EXIT_OK


# --- demo -------------------------------------------------------------------------------

def command_demo(args) -> int:
    from greenapi_excel import demo

    return demo.run_demo(Path(args.out), progress=not args.no_progress)


# --- chats: load the instance's chat list into a sheet -----------------------------------------

def command_chats(args) -> int:
    from greenapi_excel import bulk, chatlist, chatsheet
    from greenapi_excel.sheets import book_lock

    days = chatlist.check_days(args.days)
    book_path = Path(args.book)
    with book_lock(book_path):
        credentials = _credentials(args)
        with _client(args, credentials) as client:
            bulk.check_instance(client)   # with incomingWebhook off the journals would be empty: say so instead
            rows = chatlist.fetch(client, days)
        sheet_name, laid = chatsheet.write(book_path, rows, days, sheet=args.sheet)
    window = chatlist.window_of(rows, days)
    print(ngettext("Loaded {chats} into {book} (sheet {sheet}); message times over the last {n} day.",
                   "Loaded {chats} into {book} (sheet {sheet}); message times over the last {n} days.",
                   window).format(chats=laid.describe(), book=book_path, sheet=sheet_name, n=window))
    if window < days:
        print(ngettext("GREEN-API's journals hold its last {limit:,} messages: they reach back {n} day, not "
                       "{days}, so the sheet says what is known for {n} day.",
                       "GREEN-API's journals hold its last {limit:,} messages: they reach back {n} days, not "
                       "{days}, so the sheet says what is known for {n} days.",
                       window).format(limit=chatlist.JOURNAL_LIMIT, n=window, days=days))
    print(_("Filter it, then: {command}").format(
        command=f"greenapi-excel archive {book_path} --sheet {_quoted(sheet_name)} --dry-run"))
    return EXIT_OK


def _quoted(text: str) -> str:
    return f'"{text}"' if " " in text else text


# --- archive / unarchive --all-chats ----------------------------------------------------------

def command_all_chats(args) -> int:
    from greenapi_excel import bulk, chatlist, chatsheet, statuses
    from greenapi_excel.errors import ConfigError
    from greenapi_excel.journal import Journal
    from greenapi_excel.results import RowResult, call_ids
    from greenapi_excel.sheets import SheetFile, book_lock

    if args.book:
        raise ConfigError(_("--all-chats acts on the instance's own chat list: give no BOOK (use --report to keep "
                            "one)"))
    if args.idle_days is not None:
        chatlist.check_days(args.idle_days)
    method = bulk.METHODS[args.command]
    credentials = _credentials(args)
    client = _client(args, credentials)
    try:
        refusal = _check_early(client) if not args.dry_run else None
        if refusal is not None:
            _error(str(refusal))
            return EXIT_CONFIG
        days = args.idle_days or chatlist.DEFAULT_DAYS
        fetched = chatlist.fetch(client, days)
        if chatlist.window_of(fetched, days) < days:
            window = chatlist.window_of(fetched, days)
            _info(ngettext("GREEN-API's journals reach back only {n} day (their last {limit:,} messages): chats not "
                           "known to be idle {days} days are left alone",
                           "GREEN-API's journals reach back only {n} days (their last {limit:,} messages): chats not "
                           "known to be idle {days} days are left alone",
                           window).format(n=window, limit=chatlist.JOURNAL_LIMIT, days=days))
        chosen = chatlist.choose(fetched, chat_type=args.type, idle_days=args.idle_days)
        rule = ", ".join(p for p in (args.type and _("type {type}").format(type=args.type),
                                     args.idle_days is not None and _("idle {n}+ days").format(n=args.idle_days))
                         if p)
        _info(ngettext("instance {instance}: {n} chat chosen", "instance {instance}: {n} chats chosen",
                       len(chosen)).format(instance=credentials.id_instance, n=len(chosen))
              + (f" ({rule})" if rule else ""))
        cells = [(row_number, row.chat_id) for row_number, row in enumerate(chosen, start=2)]
        planned = bulk.plan(cells, method=method)
        sheet = None
        report = Path(args.report) if args.report else None
        lock = book_lock(report) if report else contextlib.nullcontext()
        with lock:
            if report is not None:
                sheet_name, _laid = chatsheet.write(report, chosen, days, sheet=args.sheet or "Report")
                sheet = SheetFile.open(report, sheet=sheet_name, column="Chat ID")
            by_row = dict(cells)
            printed: list[RowResult] = []

            def on_results(results):
                if sheet is not None:
                    sheet.write(results)
                printed.extend(results)

            progress = _Progress(total=len(planned.todo), enabled=not args.no_progress,
                                 label=_("dry run") if args.dry_run else args.command)
            journal = Journal(args.journal)
            summary = None
            try:
                summary = bulk.run(planned, client, journal, dry_run=args.dry_run, on_progress=progress.update,
                                   on_results=on_results, source="cli --all-chats", preflight=False,
                                   book=str(report.resolve()) if report else None,
                                   sheet=sheet.sheet_name if sheet else None)
            finally:
                progress.close()
                try:
                    if sheet is not None:
                        sheet.save()
                    # Saved into the report, or printed just below: these results have reached the user.
                    journal.mark_delivered(call_ids(printed))
                finally:
                    journal.close()
        for result in sorted(printed, key=lambda r: r.row):
            print(f"{by_row.get(result.row, ''):<28}  {statuses.localised(result.status):<18}  {result.details}")
        _print_summary(summary, report, sheet)
        return _exit_code(summary)
    finally:
        client.close()


# --- journal --runs ------------------------------------------------------------------------------

def command_runs(args) -> int:
    from greenapi_excel import statuses
    from greenapi_excel.journal import Journal

    journal = Journal(args.journal)
    try:
        runs = journal.runs(limit=args.limit)
    finally:
        journal.close()
    if not runs:
        print(_("the journal holds no runs yet"))
        return EXIT_OK
    print(f"{'run':<21}  {'started':<16}  {'source':<16}  {'what':<17}  {'book [sheet]':<30}  counts")
    for run in runs:
        what = ("dry run " if run.dry_run else "") + {"archiveChat": "archive", "unarchiveChat": "unarchive"}.get(
            run.method, run.method)
        if run.undo_of:
            what += " (undo)"
        where = f"{Path(run.book).name} [{run.sheet}]" if run.book else "-"
        counts = ", ".join(f"{statuses.localised(word)} {n}" for word, n in run.counts.items()) or \
            ("(did not finish)" if run.finished is None else "nothing")
        undo = f"  undoes {run.undo_of}" if run.undo_of else ""
        print(f"{run.id:<21}  {run.started:%Y-%m-%d %H:%M}  {run.source[:16]:<16}  {what:<17}  {where[:30]:<30}  "
              f"{counts}{undo}")
    return EXIT_OK


# --- undo ------------------------------------------------------------------------------------------

def command_undo(args) -> int:
    from greenapi_excel import bulk, statuses, undo as undoing
    from greenapi_excel.errors import ConfigError, WorkbookError
    from greenapi_excel.journal import Journal
    from greenapi_excel.results import call_ids
    from greenapi_excel.settings import resolve_region
    from greenapi_excel.sheets import SheetFile, book_lock

    if args.region:
        resolve_region(args.region)   # a wrong --region fails before anything is asked
    credentials = _credentials(args)
    journal = Journal(args.journal)
    client = None
    try:
        found = undoing.find(journal, credentials.id_instance, args.run)
        _info(ngettext("Undo {run}: {verb} that {n} chat.", "Undo {run}: {verb} those {n} chats.",
                       len(found.chats)).format(run=found.describe(), verb=found.verb, n=len(found.chats)))
        if not args.dry_run and not args.yes:
            if not sys.stdin.isatty():
                raise ConfigError(_("undo asks before it acts, and there is no terminal to ask in: "
                                    "add --yes to go ahead (or --dry-run to see what it would do)"))
            answer = input(ngettext("{verb} {n} chat? [y/N] ", "{verb} {n} chats? [y/N] ", len(found.chats)).format(
                verb=found.verb.capitalize(), n=len(found.chats))).strip().lower()
            if answer not in ("y", "yes", _("y"), _("yes")):
                print(_("Nothing was changed."))
                return EXIT_OK
        client = _client(args, credentials)
        book = Path(found.run.book) if found.run.book else None
        lock = book_lock(book) if book and not args.dry_run else contextlib.nullcontext()
        with lock:
            sheet = None
            if book is not None and not args.dry_run:
                try:
                    sheet = SheetFile.open(book, sheet=found.run.sheet)
                except WorkbookError as error:
                    _info(_("the run's book cannot take the statuses ({error}); they are printed "
                            "instead").format(error=error))
            region = resolve_region(args.region, sheet.settings if sheet else None)
            planned = undoing.plan(found, sheet.chat_cells if sheet else (), region=region)
            by_row = dict(planned.todo)
            printed = []
            saver = _PeriodicSaver(sheet, None, journal) if sheet is not None else None

            def on_results(results):
                in_book = [r for r in results if r.row >= 2]
                if sheet is not None and in_book:
                    sheet.write(in_book)
                    saver.maybe_save(in_book)
                printed.extend(r for r in results if sheet is None or r.row < 2)

            progress = _Progress(total=len(planned.todo), enabled=not args.no_progress, label=_("undo"))
            summary = None
            try:
                summary = bulk.run(planned, client, journal, dry_run=args.dry_run, on_progress=progress.update,
                                   on_results=on_results, source="cli undo",
                                   book=str(book) if sheet is not None else None,
                                   sheet=sheet.sheet_name if sheet is not None else None, undo_of=found.run.id)
            finally:
                progress.close()
                written = saver.save() if saver is not None else None  # marks what the book now holds
        for result in sorted(printed, key=lambda r: (r.row < 0, abs(r.row))):
            print(f"{by_row.get(result.row, ''):<28}  {statuses.localised(result.status):<18}  {result.details}")
        journal.mark_delivered(call_ids(printed))
        _print_summary(summary, written, sheet)
        return _exit_code(summary)
    finally:
        journal.close()
        if client is not None:
            client.close()

"""The command line's words: the parser of ``greenapi-excel`` and its sub-commands, in the run's language."""

from __future__ import annotations

import argparse

from greenapi_excel import i18n
from greenapi_excel.i18n import N_, _, ngettext

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


def _rate(text: str) -> float:
    """A --rate value: calls a second above 0, at most GREEN-API's limit (``pacing.max_rate``)."""
    from greenapi_excel import pacing

    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    limit = pacing.max_rate()
    if not 0 < value <= limit:
        raise argparse.ArgumentTypeError(_("must be a number of calls a second above 0 and at most {limit:g}, "
                                           "GREEN-API's limit per instance (got {text!r})").format(limit=limit,
                                                                                                 text=text))
    return value


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
    parser.add_argument("--force", action="store_true", help=_("with --out: replace OUT when it exists"))
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
    parser.add_argument("--rate", type=_rate, default=10.0, metavar="N",
                        help=_("archive/unarchive calls per second, at most GREEN-API's limit per instance "
                               "(default 10)"))
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
    group.add_argument("--include-unknown", action="store_true",
                       help=_("with --idle-days: also take the chats the journals cannot call idle (they reach back "
                              "less than N days, or a setting that feeds them is off); by default they are left "
                              "alone and counted in the summary"))
    group.add_argument("--report", metavar="REPORT.xlsx",
                       help=_("with --all-chats: write the chosen chats, as Load chats lays them out, with Status, "
                            "Details and Updated beside each"))
    group.add_argument("--keep-archived", action="store_true",
                       help=_("archive --all-chats only: archive again the chats this tool archived that WhatsApp "
                              "has since brought back to the chat list (getChats), and report them"))


def build_parser() -> argparse.ArgumentParser:
    from greenapi_excel import paths

    epilog = _(EPILOG).format(config=paths.config_file())
    parser = argparse.ArgumentParser(
        prog="greenapi-excel",
        description=_("Archive or unarchive the WhatsApp chats listed in an Excel column through GREEN-API, "
                    "writing Status, Details and Updated beside every row."),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
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
                       help=_('switch on "Receive webhooks on incoming messages and files" (incomingWebhook, which '
                              'archiveChat needs) and "Receive webhooks on messages sent from phone" '
                              '(outgoingMessageWebhook; the idle rule needs both) when they are off, then wait '
                              "while the instance restarts to apply them (up to 5 minutes); messages from before "
                              "the switch never reach the journals"))
    _add_credentials(check)

    verify = commands.add_parser(
        "verify", help=_("check against GREEN-API's chat list that the chats a book says are archived (or "
                         "unarchived) still are"),
        description=_("Read getChats once and check every row whose Status says Archived or Already archived (or "
                      "Unarchived / Already unarchived). A row the chat list contradicts gets the status Not "
                      "archived (Not unarchived), with when it was checked and the likely causes in Details; "
                      "a plain re-run sends it again. Right after a run it first waits for the chat list to "
                      "refresh (at most once a minute)."),
        epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    verify.add_argument("book", metavar="BOOK", help=_("the .xlsx or .xlsm workbook an earlier run wrote statuses in"))
    verify.add_argument("--sheet", metavar="NAME", help=_("the sheet to read (default: the first)"))
    verify.add_argument("--column", metavar="LETTER|HEADER", help=_("the chat column, as for archive"))
    verify.add_argument("--region", metavar="CC", help=_("as for archive: how to read local numbers"))
    verify.add_argument("--fix", action="store_true",
                        help=_("send the chats found otherwise again (for a chat GREEN-API claims is archived "
                               "already: unarchive, then archive, as GREEN-API advises)"))
    verify.add_argument("--journal", metavar="PATH", help=_("the journal file (default: see archive --help)"))
    verify.add_argument("--no-progress", action="store_true", help=_("no progress bar"))
    verify.add_argument("--rate", type=_rate, default=10.0, metavar="N", help=argparse.SUPPRESS)
    _add_credentials(verify)

    demo = commands.add_parser("demo", help=_("try it without an account: a built-in sandbox archives demo.xlsx"))
    demo.add_argument("--out", default="demo.xlsx", metavar="PATH", help=_("where to write the demo book (demo.xlsx)"))
    demo.add_argument("--no-progress", action="store_true", help=_("no progress bar"))

    commands.add_parser("sandbox", help=_("run the local GREEN-API emulator (see `greenapi-excel sandbox --help`)"),
                        add_help=False)

    workbook = commands.add_parser("workbook", help=_("write GreenApi.xlsm set up for this Python"))
    workbook.add_argument("path", nargs="?", default=None, metavar="PATH",
                          help=_("where to write it (default ./GreenApi.xlsm, with --lite ./GreenApi-Lite.xlsx)"))
    workbook.add_argument("--lite", action="store_true",
                          help=_("write GreenApi-Lite.xlsx for xlwings Lite instead: no Python to install"))
    workbook.add_argument("--force", action="store_true",
                          help=_("replace a GreenApi workbook that is already at PATH (never any other file)"))

    addin = commands.add_parser("addin", help=_("install GreenApi.xlam, the GreenApi tab in every workbook, where "
                                                "Excel loads add-ins at start (XLSTART), or remove it"))
    addin.add_argument("action", choices=("install", "remove"))
    addin.add_argument("--folder", metavar="DIR", default=None,
                       help=_("Excel's start-up folder (default: GREENAPI_XLSTART, else the user's XLSTART)"))

    journal = commands.add_parser("journal", help=_("show the audit trail of calls made from this computer"))
    journal.add_argument("--journal", metavar="PATH", help=_("the journal file (default: see archive --help)"))
    journal.add_argument("--chat", metavar="CHAT", help=_("only this chat, as a chat ID or a phone number as you "
                                                          "would type it in the chat column"))
    journal.add_argument("--region", metavar="CC", help=_("as for archive: how to read a local number given to --chat"))
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
    undo.add_argument("--rate", type=_rate, default=10.0, metavar="N", help=argparse.SUPPRESS)
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
        if sub.prog.split()[-1] != "sandbox":   # the sandbox parses its own flags, --lang among them
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


def localise_argparse() -> None:
    """argparse's own words ("usage:", "options", its errors) from our catalogue: argparse calls the ``_``
    and ``ngettext`` of its module at the moment it formats, so these are looked up in the language in force."""
    argparse._ = _
    argparse.ngettext = ngettext


def version() -> str:
    from greenapi_excel import __version__

    return __version__



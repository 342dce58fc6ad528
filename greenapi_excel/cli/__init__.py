"""greenapi-excel: archive WhatsApp chats listed in an Excel workbook, headless.

Exit codes: 0 every row succeeded or needed nothing; 1 some rows failed or were invalid; 2 a usage or
configuration error (missing credentials, refused apiUrl, unreadable book, 401/403 from the instance);
130 interrupted (what finished is saved, the rows not reached say Not run). Errors are one line on
stderr, never a traceback.

``parser`` holds the words of the command line, ``commands`` gathers each command's inputs, calls its
job (``greenapi_excel.jobs``) and shows what it returns; this module dispatches.
"""

from __future__ import annotations

import os
import sys

from greenapi_excel import i18n
from greenapi_excel.console import EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_OK, EXIT_ROWS_FAILED  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    from greenapi_excel.cli import parser

    argv = list(sys.argv[1:] if argv is None else argv)
    command_at = _command_index(argv)
    if command_at is not None and argv[command_at] == "sandbox":  # the sandbox owns its flags (--lang too)
        from greenapi_excel import sandbox

        return sandbox.main(argv[:command_at] + argv[command_at + 1:])
    i18n.set_language(parser.language_of(argv))
    parser.localise_argparse()
    args = parser.build_parser().parse_args(argv)
    if args.command is None:
        parser.build_parser().print_help(sys.stderr)
        return EXIT_CONFIG

    from greenapi_excel import console, texts
    from greenapi_excel.cli import commands
    from greenapi_excel.errors import GreenApiExcelError

    if getattr(args, "verbose", False):
        import logging

        logging.basicConfig(level=logging.INFO, format="greenapi-excel: %(message)s", stream=sys.stderr)
    try:
        return commands.dispatch(args)
    except GreenApiExcelError as error:
        console.error(str(error))
        return EXIT_CONFIG
    except KeyboardInterrupt:
        console.error(texts.interrupted())
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`greenapi-excel journal | head`): nothing left to tell anyone.
        _quiet_stdout()
        return EXIT_OK


def _command_index(argv: list[str]) -> int | None:
    """Where the sub-command stands, past the global ``--lang X`` / ``--lang=X``."""
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "--lang":
            index += 2
        elif word.startswith("--lang="):
            index += 1
        else:
            return index
    return None


def _quiet_stdout() -> None:
    """Point stdout at the null device, so Python's own flush at exit does not fail on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass

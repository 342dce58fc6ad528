"""greenapi-excel: the command line (work in progress; subcommands are wired as they land)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "sandbox":
        from greenapi_excel import sandbox

        return sandbox.main(argv[1:])
    print("usage: greenapi-excel sandbox ...", file=sys.stderr)
    return 2

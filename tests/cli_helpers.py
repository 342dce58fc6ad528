"""Running greenapi-excel as a real process in tests: its environment and the call itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cli_env(folder: Path, *, api_url: str, id_instance: str, token: str, **extra: str) -> dict:
    """This process's environment without any GREENAPI_ setting of the developer's, pointed at ``folder``
    for the journal and the config file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENAPI_")}
    env.update({
        "GREENAPI_API_URL": api_url,
        "GREENAPI_ID_INSTANCE": str(id_instance),
        "GREENAPI_API_TOKEN_INSTANCE": token,
        "GREENAPI_JOURNAL": str(folder / "journal.sqlite3"),
        "GREENAPI_CONFIG": str(folder / "config.ini"),
        "PYTHONIOENCODING": "utf-8",
        "GREENAPI_LANG": "en",   # the English texts tests read, on a machine with any locale; extra may change it
        # The sandbox allows what a test sets; GREEN-API's own limit (10 a second) is refused without this.
        "GREENAPI_MAX_RATE": "100000",
    })
    env.update(extra)
    return env


def sandbox_env(sandbox, folder: Path, **extra: str) -> dict:
    """``cli_env`` for a running Sandbox."""
    return cli_env(folder, api_url=sandbox.api_url, id_instance=sandbox.id_instance, token=sandbox.token, **extra)


def cli_command(*args) -> list[str]:
    return [sys.executable, "-m", "greenapi_excel", *map(str, args)]


def run_cli(*args, env: dict, timeout: float = 180, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(*args), capture_output=True, text=True, env=env, timeout=timeout, **kwargs)

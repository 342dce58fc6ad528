"""The per-user folders this package keeps files in, by the conventions of each OS.

- "config": what a user may edit (config.ini): %APPDATA%\\GreenApiExcel, ~/Library/Application Support/
  GreenApiExcel, ${XDG_CONFIG_HOME:-~/.config}/greenapi-excel;
- "state": what the tool keeps for itself (the journal, book locks): %LOCALAPPDATA%\\GreenApiExcel,
  ~/Library/Application Support/GreenApiExcel, ${XDG_STATE_HOME:-~/.local/state}/greenapi-excel.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping

_WINDOWS = {"config": ("APPDATA", ("AppData", "Roaming")), "state": ("LOCALAPPDATA", ("AppData", "Local"))}
_XDG = {"config": ("XDG_CONFIG_HOME", (".config",)), "state": ("XDG_STATE_HOME", (".local", "state"))}


def user_folder(kind: str, platform: str | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The folder for ``kind`` ("config" or "state"); ``platform`` and ``environ`` default to this process's."""
    platform = sys.platform if platform is None else platform
    environ = os.environ if environ is None else environ
    home = Path.home()
    if platform.startswith("win"):
        variable, fallback = _WINDOWS[kind]
        return Path(environ.get(variable) or home.joinpath(*fallback)) / "GreenApiExcel"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "GreenApiExcel"
    variable, fallback = _XDG[kind]
    return Path(environ.get(variable) or home.joinpath(*fallback)) / "greenapi-excel"

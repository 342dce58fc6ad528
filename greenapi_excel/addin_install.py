"""``greenapi-excel addin install`` / ``addin remove``: GreenApi.xlam in the folder Excel opens at start.

Modelled on xlwings' own ``xlwings addin install`` (xlwings/cli.py): the add-in goes into the user's
XLSTART folder, so its GreenApi tab is there in every workbook. Unlike a copy of a shipped file, the
add-in is built here for this Python (its greenapi.conf sheet names this interpreter, and PYTHONPATH when
that interpreter would not find addin.py by itself), as ``greenapi-excel workbook`` does for the .xlsm.
It replaces or removes only a GreenApi.xlam this tool wrote (its mark, provenance.py), never through a link.

The folder: ``--folder``, else GREENAPI_XLSTART, else the user's XLSTART of Excel on this OS:
- Windows: %APPDATA%\\Microsoft\\Excel\\XLSTART (what Application.StartupPath gives);
- macOS: ~/Library/Group Containers/UBF8T346G9.Office/User Content.localized/Startup.localized/Excel.
Elsewhere (Linux: no Excel) there is none, and the command says so instead of guessing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from greenapi_excel import i18n, setup_checks
from greenapi_excel.errors import ConfigError, WorkbookError
from greenapi_excel.i18n import _

ADDIN_FILE = setup_checks.ADDIN_FILE
ENV_FOLDER = "GREENAPI_XLSTART"
MAC_STARTUP = ("Library", "Group Containers", "UBF8T346G9.Office", "User Content.localized",
               "Startup.localized", "Excel")


def startup_folder(explicit: str | None = None, *, platform: str | None = None,
                   environ: dict | None = None) -> Path:
    """Where Excel loads add-ins at start for this user; ConfigError when this computer has none."""
    platform = sys.platform if platform is None else platform
    environ = os.environ if environ is None else environ
    if explicit:
        return Path(explicit).expanduser()
    if environ.get(ENV_FOLDER, "").strip():
        return Path(environ[ENV_FOLDER].strip()).expanduser()
    if platform.startswith("win"):
        appdata = environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
        return Path(appdata) / "Microsoft" / "Excel" / "XLSTART"
    if platform == "darwin":
        return Path.home().joinpath(*MAC_STARTUP)
    raise ConfigError(_("no Excel start-up folder was found on this computer (Excel runs on Windows and macOS): "
                        "give one with --folder DIR or the {variable} environment variable").format(variable=ENV_FOLDER))


def install(folder: Path, *, mac_runpython: bool = True) -> list[str]:
    """Build GreenApi.xlam for this Python into ``folder``; the lines to print. An existing GreenApi.xlam is
    replaced (atomically, as a regular file) only when this tool wrote it; a link or another file of that name
    is left alone (WorkbookError). ``mac_runpython``: on a Mac, also set up RunPython for Excel (the installer
    does that step itself)."""
    from greenapi_excel.workbook.build import build

    folder.mkdir(parents=True, exist_ok=True)
    target = setup_checks.addin_target(folder)
    try:
        path = build(target, interpreter=sys.executable, language=i18n.language())
    except WorkbookError as error:
        raise WorkbookError(_("{error}; if Excel is running with the add-in loaded, quit Excel and try "
                              "again").format(error=error)) from None
    lines = [_("Installed {path}: its greenapi.conf sheet points at {python}.").format(path=path, python=sys.executable),
             _("Start Excel again (on a Mac: quit with Cmd-Q first): the GreenApi tab is in every workbook and "
               "acts on the active one.")]
    lines += setup_checks.python_notes(sys.executable)
    if sys.platform == "darwin" and mac_runpython:
        lines.append(_mac_runpython())
    return lines


def _mac_runpython() -> str:
    """RunPython on a Mac needs xlwings' AppleScript in Excel's script folder, as `xlwings addin install` does."""
    try:
        from greenapi_excel.excel.xlwings_setup import runpython_install

        runpython_install()
        return _("RunPython is set up for Excel (xlwings runpython install).")
    except Exception as error:  # noqa: BLE001 - the add-in is in place; this step can be run by hand
        return _("Run `xlwings runpython install` once: it could not be done here ({error}).").format(
            error=type(error).__name__)


def remove(folder: Path) -> list[str]:
    """Remove GreenApi.xlam from ``folder`` when this tool wrote it; the lines to print. A file of that name
    this tool did not write, or a link, is left alone (WorkbookError)."""
    path = setup_checks.removable_addin(folder)
    if path is None:
        return [_("{file} is not installed in {folder}: nothing to remove.").format(file=ADDIN_FILE, folder=folder)]
    try:
        path.unlink()
    except OSError as error:
        raise WorkbookError(_("cannot remove {path}: {error}; if Excel is running with the add-in loaded, quit "
                              "Excel and try again").format(path=path, error=error.strerror or error)) from None
    return [_("Removed {path}. Start Excel again: the GreenApi tab is gone (GreenApi.xlsm keeps its own).").format(
        path=path)]

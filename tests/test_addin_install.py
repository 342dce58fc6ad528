"""`greenapi-excel addin install` / `addin remove`: GreenApi.xlam built for this Python into Excel's start-up folder."""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

import pytest

from cli_helpers import run_cli
from greenapi_excel import addin_install
from greenapi_excel.errors import ConfigError
from test_workbook import ADDIN, as_workbook, built_modules, xlwings_conf_rows


def plain_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENAPI_")}
    env.update(extra)
    return env


def test_install_into_a_folder_writes_the_add_in_for_this_python_and_remove_takes_it_out(tmp_path):
    folder = tmp_path / "XLSTART"
    done = run_cli("addin", "install", "--folder", folder, env=plain_env())
    assert done.returncode == 0, done.stderr
    installed = folder / "GreenApi.xlam"
    assert f"Installed {installed}" in done.stdout
    with zipfile.ZipFile(installed) as package:
        assert b"application/vnd.ms-excel.addin.macroEnabled.main+xml" in package.read("[Content_Types].xml")
    assert built_modules(installed) == built_modules(ADDIN)   # the shipped add-in's project, ribbon callbacks and all
    conf = dict(xlwings_conf_rows(as_workbook(installed)))
    assert conf["Interpreter_Mac" if sys.platform == "darwin" else "Interpreter_Win"] == sys.executable

    done = run_cli("addin", "remove", "--folder", folder, env=plain_env())
    assert done.returncode == 0 and not installed.exists()
    again = run_cli("addin", "remove", "--folder", folder, env=plain_env())
    assert again.returncode == 0 and "not installed" in again.stdout


def test_the_environment_names_the_folder(tmp_path):
    done = run_cli("addin", "install", env=plain_env(GREENAPI_XLSTART=str(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "GreenApi.xlam").is_file()


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="Windows and macOS have an XLSTART folder")
def test_without_excel_it_says_no_start_up_folder_was_found(tmp_path):
    done = run_cli("addin", "install", env=plain_env(), cwd=tmp_path)
    assert done.returncode == 2
    assert "no Excel start-up folder was found" in done.stderr and "--folder" in done.stderr
    assert "Traceback" not in done.stderr and list(tmp_path.iterdir()) == []


def test_the_start_up_folder_of_each_platform():
    windows = addin_install.startup_folder(platform="win32", environ={"APPDATA": r"C:\Users\ann\AppData\Roaming"})
    assert windows == Path(r"C:\Users\ann\AppData\Roaming") / "Microsoft" / "Excel" / "XLSTART"
    mac = addin_install.startup_folder(platform="darwin", environ={})
    assert mac == Path.home() / "Library/Group Containers/UBF8T346G9.Office/User Content.localized/Startup.localized/Excel"
    assert addin_install.startup_folder("~/x", platform="linux", environ={}) == Path.home() / "x"
    with pytest.raises(ConfigError, match="no Excel start-up folder"):
        addin_install.startup_folder(platform="linux", environ={})

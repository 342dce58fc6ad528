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
from greenapi_excel import setup_checks
from test_workbook import ADDIN, BOOK, analysts_book, as_workbook, built_modules, without_mark, xlwings_conf_rows


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
    conf = dict(xlwings_conf_rows(as_workbook(installed), "greenapi.conf"))
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


# --- install and remove touch only GreenApi's own add-in (issue 21) ------------------------------------------

def test_install_again_updates_our_add_in_in_place(tmp_path):
    folder = tmp_path / "XLSTART"
    folder.mkdir()
    old = without_mark(ADDIN, folder / "GreenApi.xlam").read_bytes()   # an earlier version's, before the mark
    done = run_cli("addin", "install", "--folder", folder, env=plain_env())
    assert done.returncode == 0, done.stderr
    installed = folder / "GreenApi.xlam"
    assert built_modules(installed) == built_modules(ADDIN) and installed.read_bytes() != old
    assert installed.stat().st_mode & 0o777 == 0o644 and not installed.is_symlink()
    assert sorted(p.name for p in folder.iterdir()) == ["GreenApi.xlam"]   # no temporary file left behind


def test_install_never_writes_through_a_link_nor_over_another_add_in(tmp_path):
    folder = tmp_path / "XLSTART"
    folder.mkdir()
    elsewhere = tmp_path / "Shared.xlam"
    before = analysts_book(elsewhere)
    (folder / "GreenApi.xlam").symlink_to(elsewhere)
    done = run_cli("addin", "install", "--folder", folder, env=plain_env())
    assert done.returncode == 2 and "is a link to another file: it is left as it is" in done.stderr
    assert elsewhere.read_bytes() == before and (folder / "GreenApi.xlam").is_symlink()
    (folder / "GreenApi.xlam").unlink()
    foreign = analysts_book(folder / "GreenApi.xlam")   # someone else's add-in of that name
    done = run_cli("addin", "install", "--folder", folder, env=plain_env())
    assert done.returncode == 2 and "was not written by greenapi-excel: it is left as it is" in done.stderr
    assert (folder / "GreenApi.xlam").read_bytes() == foreign and "Traceback" not in done.stderr


def test_remove_takes_out_only_an_add_in_this_tool_wrote(tmp_path):
    folder = tmp_path / "XLSTART"
    folder.mkdir()
    foreign = analysts_book(folder / "GreenApi.xlam")
    done = run_cli("addin", "remove", "--folder", folder, env=plain_env())
    assert done.returncode == 2 and "was not written by greenapi-excel" in done.stderr
    assert (folder / "GreenApi.xlam").read_bytes() == foreign
    (folder / "GreenApi.xlam").write_bytes(BOOK.read_bytes())   # ours, but a workbook, not the add-in
    with pytest.raises(Exception, match="was not written by greenapi-excel"):
        addin_install.remove(folder)
    (folder / "GreenApi.xlam").unlink()
    (folder / "GreenApi.xlam").symlink_to(ADDIN)                 # a link, even to our own add-in
    with pytest.raises(Exception, match="is a link"):
        addin_install.remove(folder)
    assert ADDIN.exists()
    (folder / "GreenApi.xlam").unlink()
    without_mark(ADDIN, folder / "GreenApi.xlam")                # an earlier version's: recognised by its ribbon
    assert addin_install.remove(folder)[0].startswith("Removed ")
    assert list(folder.iterdir()) == []


# --- xlwings' DLL, for the worksheet functions: where Excel looks (xlwings' XLPyLoadDLL) -------------------

VERSION = "0.37.8"


def layout(root: Path, *files: str) -> None:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def test_the_dll_is_found_beside_the_interpreter_or_one_folder_up(tmp_path):
    # python.org, for all users or for one: pip puts the DLL beside python.exe.
    layout(tmp_path / "standard", "Python312/python.exe", f"Python312/xlwings64-{VERSION}.dll",
           f"Python312/xlwings32-{VERSION}.dll")
    assert setup_checks.dll_problem(tmp_path / "standard/Python312/python.exe", VERSION, []) is None
    # A virtual environment (the installer's): Scripts\python.exe, the DLL in the environment's folder.
    layout(tmp_path / "venv", "Scripts/python.exe", f"xlwings64-{VERSION}.dll")
    assert setup_checks.dll_problem(tmp_path / "venv/Scripts/python.exe", VERSION, []) is None
    # Two folders up is too far.
    layout(tmp_path / "deep", "a/b/python.exe", f"xlwings64-{VERSION}.dll")
    assert setup_checks.dll_problem(tmp_path / "deep/a/b/python.exe", VERSION, []) is not None
    # Another version's DLL does not count: the VBA declares the pinned one.
    layout(tmp_path / "other", "Python312/python.exe", "Python312/xlwings64-0.30.0.dll")
    assert setup_checks.dll_problem(tmp_path / "other/Python312/python.exe", VERSION, []) is not None


def test_a_per_user_pip_install_is_named_with_what_to_do(tmp_path):
    """pip falls back to a per-user install when Python was installed for all users (or from the Store): the
    DLL lands in the user's Python folder, where Excel never looks (xlwings #1803, #1538)."""
    layout(tmp_path, "Program Files/Python312/python.exe", f"AppData/Roaming/Python/Python312/xlwings64-{VERSION}.dll")
    dll = tmp_path / f"AppData/Roaming/Python/Python312/xlwings64-{VERSION}.dll"
    problem = setup_checks.dll_problem(tmp_path / "Program Files/Python312/python.exe", VERSION, [dll])
    assert problem.startswith("The worksheet functions (=ARCHIVECHAT and the others) will not work in this Excel")
    assert f"pip put it in {dll.parent}" in problem and "The buttons work" in problem
    assert "(an install for your user only)" in problem and "Install GreenApi.cmd" in problem
    notes = setup_checks.python_notes(tmp_path / "Program Files/Python312/python.exe", platform="win32",
                                      installed=[dll])
    assert notes == [problem.replace(VERSION, __import__("xlwings").__version__)]


def test_on_a_mac_a_python_path_with_a_space_is_named(tmp_path):
    assert setup_checks.python_notes("/Library/Frameworks/Python.framework/Versions/3.12/bin/python3",
                                     platform="darwin") == []
    [note] = setup_checks.python_notes("/Users/ann/Library/Application Support/x/bin/python", platform="darwin")
    assert "without quotes" in note and "Install GreenApi.command" in note
    assert setup_checks.python_notes("/home/ann/my env/bin/python", platform="linux") == []


def test_the_installed_dlls_come_from_xlwings_install_record():
    """On Linux and macOS the xlwings wheel carries no DLL: nothing to find, nothing to say."""
    if sys.platform.startswith("win"):
        assert {path.name for path in setup_checks.installed_dlls()} >= {f"xlwings64-{VERSION}.dll"}
    else:
        assert setup_checks.installed_dlls() == []
        assert setup_checks.python_notes(sys.executable) == []

"""The package a user installs holds everything each command needs: built as a wheel, installed into a fresh
virtual environment (not editable, dependencies from the index), and run from there, far from this clone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import openpyxl
import pytest
from oletools.olevba import VBA_Parser

REPO = Path(__file__).resolve().parent.parent
# What a download of the repository holds besides the sources: never part of a build.
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                     ".hypothesis", "demo.xlsx", "*.mo")   # .mo: the build must compile its own


def _run(command, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(part) for part in command], capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """One wheel and one fresh venv for the whole module (the install is the slow part)."""
    root = tmp_path_factory.mktemp("install")
    # Built from a copy of the sources: an in-tree build would reuse a stale build/lib of an earlier one.
    source = root / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCES)
    dist = root / "dist"
    built = _run([sys.executable, "-m", "pip", "wheel", source, "--no-deps", "--disable-pip-version-check",
                  "-q", "-w", dist], timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = dist.glob("greenapi_excel-*.whl")

    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    # This process's pip installs into the new venv (--python): no second pip to bootstrap.
    done = _run([sys.executable, "-m", "pip", "--python", python, "install", "--disable-pip-version-check", "-q",
                 wheel], timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr

    work = root / "elsewhere"   # no clone here: only the venv can provide the modules
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GREENAPI_", "PYTHON", "VIRTUAL_ENV"))}
    env.update({"GREENAPI_JOURNAL": str(work / "journal.sqlite3"), "GREENAPI_CONFIG": str(work / "config.ini"),
                "GREENAPI_LOCK_DIR": str(work / "locks"), "PYTHONIOENCODING": "utf-8"})
    return {"wheel": wheel, "python": python, "bin": bin_dir, "cwd": work, "env": env}


def _command(installed, *args, timeout=180) -> subprocess.CompletedProcess:
    exe = installed["bin"] / ("greenapi-excel.exe" if os.name == "nt" else "greenapi-excel")
    return _run([exe, *args], cwd=installed["cwd"], env=installed["env"], timeout=timeout)


def test_the_wheel_installs_no_generic_top_level_package(installed):
    with zipfile.ZipFile(installed["wheel"]) as wheel:
        names = wheel.namelist()
    tops = {name.split("/", 1)[0] for name in names if not name.split("/", 1)[0].endswith((".dist-info", ".data"))}
    assert tops == {"greenapi_excel", "udfs", "addin.py"}, tops
    assert "greenapi_excel/workbook/vba/RibbonCallbacks.bas" in names
    assert {"greenapi_excel/workbook/customUI14.xml", "greenapi_excel/workbook/sheets.json"} <= set(names)
    probe = _run([installed["python"], "-c", "import addin, udfs, greenapi_excel.workbook.build\n"
                  "import importlib.util; print(importlib.util.find_spec('workbook'))"],
                 cwd=installed["cwd"], env=installed["env"], timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "None"


def test_help_runs_from_the_installed_command(installed):
    done = _command(installed, "--help")
    assert done.returncode == 0, done.stderr
    assert "workbook" in done.stdout and "demo" in done.stdout


def test_the_wheel_carries_the_compiled_russian_catalogue(installed):
    with zipfile.ZipFile(installed["wheel"]) as wheel:
        names = set(wheel.namelist())
    assert "greenapi_excel/locale/ru/LC_MESSAGES/greenapi_excel.mo" in names   # compiled by the build (setup.py)
    done = _command(installed, "archive", "--help", "--lang", "ru")
    assert done.returncode == 0, done.stderr
    assert "не показывать индикатор выполнения" in done.stdout


def test_workbook_command_writes_a_whole_book_from_the_installed_package(installed):
    out = installed["cwd"] / "Excel" / "GreenApi.xlsm"
    done = _command(installed, "workbook", out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    parser = VBA_Parser(str(out))
    try:
        modules = {name.rsplit(".", 1)[0] for _, _, name, _ in parser.extract_macros()}
    finally:
        parser.close()
    assert {"RibbonCallbacks", "xlwings", "xlwings_udfs", "ThisWorkbook"} <= modules
    conf = {row[0]: row[1] for row in openpyxl.load_workbook(out)["xlwings.conf"].iter_rows(
        max_col=2, values_only=True) if row[0] is not None}
    key = "Interpreter_Mac" if sys.platform == "darwin" else "Interpreter_Win"
    assert conf[key] == str(installed["python"])
    # addin and udfs are importable by that interpreter as installed: no PYTHONPATH row is needed.
    assert "PYTHONPATH" not in conf


def test_demo_runs_from_the_installed_command(installed):
    out = installed["cwd"] / "demo.xlsx"
    done = _command(installed, "demo", "--out", out, "--no-progress", timeout=300)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    sheet = openpyxl.load_workbook(out).worksheets[0]
    assert [cell.value for cell in sheet[1][:4]] == ["Chat ID", "Status", "Details", "Updated"]
    assert any(row[1] == "Archived" for row in sheet.iter_rows(min_row=2, max_col=2, values_only=True))

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
    out.parent.mkdir()   # workbook makes no folder: a mistyped one would hide the book somewhere unexpected
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


# --- the installers an analyst double-clicks (issue 21) -------------------------------------------------------

COMMAND = REPO / "Install GreenApi.command"
CMD = REPO / "Install GreenApi.cmd"


def download(folder: Path) -> Path:
    """What the analyst unzips: the repository's files, nothing built."""
    target = folder / "greenapi-excel-main"
    shutil.copytree(REPO, target, ignore=NOT_SOURCES)
    return target


def pip_cache() -> str | None:
    """The developer's pip cache, handed to the installer's pip as a user's own pip setting would be."""
    done = _run([sys.executable, "-m", "pip", "cache", "dir"], timeout=60)
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def fake_mac_bin(folder: Path, python: str | None) -> Path:
    """A folder for the front of PATH: ``uname`` says Darwin (so the script takes its Mac paths and steps) and
    ``python3`` is ``python`` (None: no python3 here)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "uname").write_text("#!/bin/sh\necho Darwin\n")
    (folder / "uname").chmod(0o755)
    if python:
        (folder / "python3").symlink_to(python)
    return folder


def run_command(script: Path, home: Path, bin_folder: Path, **extra) -> subprocess.CompletedProcess:
    env = {"HOME": str(home), "PATH": f"{bin_folder}:/usr/bin:/bin", "LANG": "C.UTF-8",
           "GREENAPI_XLSTART": str(home / "XLSTART"), "GREENAPI_INSTALL_SKIP_MAC_STEPS": "1"}
    if pip_cache():
        env["PIP_CACHE_DIR"] = pip_cache()
    env.update(extra)
    return subprocess.run(["bash", str(script)], input="x", capture_output=True, text=True, env=env, timeout=900)


def conf_interpreter(book: Path) -> str:
    from greenapi_excel.installer import interpreter_of

    return interpreter_of(book)


def test_the_command_installs_into_a_fresh_home_and_updates_in_place(tmp_path):
    """Install GreenApi.command under bash, as a Mac runs it (uname says Darwin; the one Mac-only step is skipped
    and named): a real virtual environment, a real pip install of the download, the workbook and the add-in."""
    from greenapi_excel import provenance

    home = tmp_path / "home"
    home.mkdir()
    source = download(tmp_path)
    bin_folder = fake_mac_bin(tmp_path / "bin", sys._base_executable)
    first = run_command(source / COMMAND.name, home, bin_folder)
    assert first.returncode == 0, first.stdout + first.stderr
    steps = [line for line in first.stdout.splitlines() if line[:2] in ("1.", "2.", "3.", "4.", "5.")]
    assert [line[:2] for line in steps] == ["1.", "2.", "3.", "4.", "5."], first.stdout
    assert first.stdout.rstrip().endswith("Press any key to close this window.")

    state = home / "Library" / "GreenApiExcel"          # a Mac's place: no space anywhere in the path
    python = state / "venv" / "bin" / "python"
    assert python.exists()
    assert f"A Mac runs: {python} -m xlwings.cli runpython install" in first.stdout
    book = home / "Documents" / "GreenApi.xlsm"
    assert provenance.kind_of(book) == provenance.WORKBOOK and conf_interpreter(book) == str(python)
    assert provenance.kind_of(home / "XLSTART" / "GreenApi.xlam") == provenance.ADDIN
    imported = _run([python, "-c", "import addin, greenapi_excel; print(greenapi_excel.__file__)"],
                    cwd=tmp_path, timeout=60)
    assert imported.returncode == 0 and str(state / "venv") in imported.stdout   # installed, not the download
    log = (state / "install.log").read_text(encoding="utf-8")
    assert "Successfully installed" in log and "2. Making GreenApi's own Python environment" in log
    assert (state.stat().st_mode & 0o777, (state / "install.log").stat().st_mode & 0o777) == (0o700, 0o600)

    # The analyst pastes chats and saves; a newer download comes; the installer runs again.
    import openpyxl

    pasted = openpyxl.load_workbook(book, keep_vba=True)
    pasted["Chats"]["A2"] = "4915111111111"
    pasted.save(book)
    kept = book.read_bytes()
    with open(source / "addin.py", "a", encoding="utf-8") as stream:
        stream.write("\n# a newer download\n")
    again = run_command(source / COMMAND.name, home, bin_folder)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "It is there already: it will be updated." in again.stdout
    assert f"Your workbook: {book} (kept as it is: it is set up already)." in again.stdout
    assert book.read_bytes() == kept and not (home / "Documents" / "GreenApi 2.xlsm").exists()
    updated = _run([python, "-c", "import addin, inspect; print(inspect.getsource(addin)[-40:])"], cwd=tmp_path,
                   timeout=60)
    assert "# a newer download" in updated.stdout
    assert provenance.kind_of(home / "XLSTART" / "GreenApi.xlam") == provenance.ADDIN


def test_the_command_without_a_usable_python_says_where_to_get_it(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    source = tmp_path / "download"
    source.mkdir()
    shutil.copy(COMMAND, source)
    (source / "pyproject.toml").write_text("")
    too_old = tmp_path / "old-python"
    too_old.write_text("#!/bin/sh\nexit 1\n")           # fails the version check, as a Python 3.9 does
    too_old.chmod(0o755)
    done = run_command(source / COMMAND.name, home, fake_mac_bin(tmp_path / "bin", str(too_old)))
    assert done.returncode == 1
    assert "GreenApi needs Python 3.10 or newer, and this computer has none it can use." in done.stdout
    assert "https://www.python.org/downloads/macos/" in done.stdout and "Press any key" in done.stdout
    assert not (home / "Library" / "GreenApiExcel" / "venv").exists()
    assert "https://www.python.org/downloads/macos/" in (home / "Library/GreenApiExcel/install.log").read_text()
    (source / "pyproject.toml").unlink()                 # double-clicked inside the zip: nothing beside it
    done = run_command(source / COMMAND.name, home, fake_mac_bin(tmp_path / "bin2", str(too_old)))
    assert done.returncode == 1 and "must be run from the unzipped download" in done.stdout


# --- Install GreenApi.cmd under Wine's cmd.exe, with Python stood in for by .cmd files -------------------------

WINE = shutil.which("wine")
WINE_DID_NOT_START = "Application could not be started"   # what Wine prints when cmd.exe did not start


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    """A Wine prefix of its own; run(script, stubs) runs a batch file in its cmd.exe, stdin a key."""
    if WINE is None:
        if os.environ.get("CI"):
            pytest.fail("Wine is missing: .ci/run installs Debian's wine package")
        pytest.skip("Wine is not installed here (apt-get install wine; CI has it): the .cmd's flow is not run")
    prefix = tmp_path_factory.mktemp("wine") / "prefix"
    env = {**os.environ, "WINEPREFIX": str(prefix), "WINEDEBUG": "-all", "WINEDLLOVERRIDES": "mscoree,mshtml="}

    def run(script: Path, stubs: Path | None = None) -> subprocess.CompletedProcess:
        extra = {"WINEPATH": windows_path(stubs)} if stubs else {}
        for _ in range(3):
            done = subprocess.run([WINE, "cmd.exe", "/c", windows_path(script)], input="x\n", capture_output=True,
                                  text=True, env={**env, **extra}, timeout=300)
            # Under load Wine itself sometimes fails to start cmd.exe ("ShellExecuteEx failed: Internal error",
            # before the script's first line): that says nothing of the script, so it is started again.
            if not done.stdout.lstrip().startswith(WINE_DID_NOT_START):
                break
        return done

    # One wineserver for the module, kept alive between the runs: a server shutting down as the next run starts
    # is the likely cause of Wine failing to start cmd.exe now and then.
    server = shutil.which("wineserver")
    if server:
        subprocess.run([server, "-p"], env=env, capture_output=True, timeout=60)
    subprocess.run([WINE, "cmd.exe", "/c", "echo ready"], env=env, capture_output=True, timeout=300)
    [local] = list(prefix.glob("drive_c/users/*/AppData/Local"))
    run.local = local
    yield run
    if server:
        subprocess.run([server, "-k"], env=env, capture_output=True, timeout=60)



def windows_path(path) -> str:
    """A Unix path as Wine's Z: drive shows it."""
    return "Z:" + str(path).replace("/", "\\")


def python_stubs(folder: Path, calls: Path, *, version_ok: bool = True, venv_ok: bool = True) -> Path:
    """py.cmd (the launcher) and the venv's python.cmd it puts in place: each logs its arguments to ``calls``."""
    folder.mkdir(parents=True, exist_ok=True)
    log = windows_path(calls)
    version_check = "exit /b 0" if version_ok else "exit /b 1"
    (folder / "py.cmd").write_bytes((
        "@echo off\n"
        f'>>"{log}" echo py %*\n'
        f'if "%~2"=="-c" {version_check}\n'
        'if "%~2 %~3"=="-m venv" (\n'
        '  mkdir "%~5\\Scripts"\n'
        '  copy "%~dp0venv-python.cmd" "%~5\\Scripts\\python.cmd" >nul\n'
        '  >"%~5\\pyvenv.cfg" echo home = stub\n'
        ")\n"
        "exit /b 0\n").replace("\n", "\r\n").encode())
    (folder / "venv-python.cmd").write_bytes((
        "@echo off\n"
        f'>>"{log}" echo python %*\n'
        + ('if "%~1"=="-c" exit /b 1\n' if not venv_ok else "")
        + 'if "%~1 %~2"=="-m greenapi_excel.installer" echo    The last step, in Python.\n'
        "exit /b 0\n").replace("\n", "\r\n").encode())
    return folder


def cmd_download(folder: Path, *, unzipped: bool = True) -> Path:
    folder.mkdir(parents=True)
    shutil.copy(CMD, folder)
    if unzipped:
        (folder / "pyproject.toml").write_text("")
    return folder / CMD.name


def logged_calls(calls: Path) -> list[str]:
    return [line.strip() for line in calls.read_text().splitlines()] if calls.exists() else []


def test_the_cmd_is_plain_ascii_with_crlf_line_ends():
    data = CMD.read_bytes()
    assert data.isascii() and b"\r\n" in data
    assert data.count(b"\n") == data.count(b"\r\n"), "an LF without CR: cmd.exe misreads labels in such files"


def test_the_cmd_without_python_says_where_to_get_it_and_waits(wine, tmp_path):
    shutil.rmtree(wine.local / "GreenApiExcel", ignore_errors=True)
    script = cmd_download(tmp_path / "download")
    for stubs in (None, python_stubs(tmp_path / "old", tmp_path / "calls.txt", version_ok=False)):
        done = wine(script, stubs)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "GreenApi needs Python 3.10 or newer, and this computer has none it can use." in done.stdout
        assert "https://www.python.org/downloads/windows/" in done.stdout and "Add python.exe to PATH" in done.stdout
        assert "Press any key" in done.stdout
    assert logged_calls(tmp_path / "calls.txt") == [
        'py -3 -c "import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))"']
    assert not (wine.local / "GreenApiExcel" / "venv").exists()
    assert "Add python.exe to PATH" in (wine.local / "GreenApiExcel" / "install.log").read_text()


def test_the_cmd_makes_the_environment_installs_the_download_and_updates_in_place(wine, tmp_path):
    shutil.rmtree(wine.local / "GreenApiExcel", ignore_errors=True)
    script = cmd_download(tmp_path / "my download")
    calls = tmp_path / "calls.txt"
    stubs = python_stubs(tmp_path / "stubs", calls)
    done = wine(script, stubs)
    assert done.returncode == 0, done.stdout + done.stderr
    venv_folder = "C:\\users\\" + wine.local.parent.parent.name + "\\AppData\\Local\\GreenApiExcel\\venv"
    log = venv_folder.replace("\\venv", "\\install.log")
    source = windows_path(tmp_path / "my download")
    assert logged_calls(calls) == [
        'py -3 -c "import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))"',
        f'py -3 -m venv --clear "{venv_folder}"',
        f'python -m pip install --upgrade --disable-pip-version-check "{source}"',
        f'python -m greenapi_excel.installer --log "{log}"',
    ]
    lines = done.stdout.splitlines()
    assert [line[:2] for line in lines if line[:2] in ("1.", "2.", "3.", "4.")] == ["1.", "2.", "3.", "4."]
    assert "   The last step, in Python." in lines and "Done." in lines and "Press any key" in done.stdout
    assert "4. Writing your workbook" in (wine.local / "GreenApiExcel" / "install.log").read_text()

    calls.unlink()
    again = wine(script, stubs)
    assert again.returncode == 0 and "It is there already: it will be updated." in again.stdout
    assert logged_calls(calls) == [
        'py -3 -c "import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))"',
        'python -c "import sys; sys.exit(sys.version_info < (3, 10))"',
        f'python -m pip install --upgrade --disable-pip-version-check "{source}"',
        f'python -m greenapi_excel.installer --log "{log}"',
    ]


def test_the_cmd_remakes_a_broken_environment_and_refuses_to_run_inside_the_zip(wine, tmp_path):
    shutil.rmtree(wine.local / "GreenApiExcel", ignore_errors=True)
    venv_folder = wine.local / "GreenApiExcel" / "venv"
    (venv_folder / "Scripts").mkdir(parents=True)
    (venv_folder / "pyvenv.cfg").write_text("home = C:\\Python39\n")   # its Python was uninstalled since
    calls = tmp_path / "calls.txt"
    stubs = python_stubs(tmp_path / "stubs", calls, venv_ok=False)
    shutil.copy(stubs / "venv-python.cmd", venv_folder / "Scripts" / "python.cmd")
    done = wine(cmd_download(tmp_path / "download"), stubs)
    assert [call.split(" ")[:4] for call in logged_calls(calls)][:3] == [
        ["py", "-3", "-c", '"import'], ["python", "-c", '"import', "sys;"], ["py", "-3", "-m", "venv"]]
    assert "--clear" in logged_calls(calls)[2]
    inside_zip = wine(cmd_download(tmp_path / "zip", unzipped=False), stubs)
    assert inside_zip.returncode == 1 and "must be run from the unzipped download" in inside_zip.stdout


def test_the_installers_last_step_never_replaces_a_book_and_finds_the_one_it_wrote(tmp_path, monkeypatch, capsys):
    """A GreenApi.xlsm pointing at another Python (or someone else's file of that name) stays as it is: the
    analyst's new book is GreenApi 2.xlsm, and the next run finds that one again instead of writing a third."""
    from greenapi_excel import installer, provenance
    from greenapi_excel.workbook.build import build
    from test_workbook import analysts_book

    monkeypatch.setenv("GREENAPI_XLSTART", str(tmp_path / "XLSTART"))
    monkeypatch.setenv("GREENAPI_LANG", "en")
    documents = tmp_path / "Documents"
    documents.mkdir()
    elsewhere = build(documents / "GreenApi.xlsm", interpreter=str(tmp_path / "old" / "python.exe"), pythonpath="")
    before = elsewhere.read_bytes()
    log = tmp_path / "install.log"
    assert installer.main(["--documents", str(documents), "--log", str(log)]) == 0
    shown = capsys.readouterr().out
    second = documents / "GreenApi 2.xlsm"
    assert f"Your workbook: {second} (new, set up for this Python)." in shown
    assert "GreenApi.xlsm was left as it is: it is not set up for this installation." in shown
    assert elsewhere.read_bytes() == before and installer.interpreter_of(second) == sys.executable
    assert provenance.kind_of(tmp_path / "XLSTART" / "GreenApi.xlam") == provenance.ADDIN
    assert shown.strip().splitlines() == log.read_text(encoding="utf-8").strip().splitlines()

    assert installer.main(["--documents", str(documents)]) == 0
    assert f"Your workbook: {second} (kept as it is: it is set up already)." in capsys.readouterr().out
    assert sorted(p.name for p in documents.iterdir()) == ["GreenApi 2.xlsm", "GreenApi.xlsm"]

    foreign = tmp_path / "Other"
    foreign.mkdir()
    mine = analysts_book(foreign / "GreenApi.xlsm")
    assert installer.main(["--documents", str(foreign)]) == 0
    assert (foreign / "GreenApi.xlsm").read_bytes() == mine and (foreign / "GreenApi 2.xlsm").exists()


def test_the_installers_last_step_says_what_failed_and_goes_on(tmp_path, monkeypatch, capsys):
    from greenapi_excel import installer

    monkeypatch.delenv("GREENAPI_XLSTART", raising=False)
    monkeypatch.setenv("GREENAPI_LANG", "ru")
    documents = tmp_path / "Documents"
    documents.mkdir()
    code = installer.main(["--documents", str(documents)])
    shown = capsys.readouterr().out
    if sys.platform in ("win32", "darwin"):
        assert code == 0
    else:   # Linux has no Excel start-up folder: the add-in step fails, the workbook is there all the same
        assert code == 1 and "Вкладка GreenApi для всех книг (надстройка) не установлена" in shown
    assert (documents / "GreenApi.xlsm").exists() and "Ваша книга" in shown


def test_the_installer_speaks_the_locale_else_english():
    from greenapi_excel.installer import installer_language

    assert installer_language({"GREENAPI_LANG": "ru"}) == "ru"
    assert installer_language({"LANG": "ru_RU.UTF-8"}) == "ru"
    if not sys.platform.startswith("win"):   # Windows would fall back to the language of its menus
        assert installer_language({"LANG": "de_DE.UTF-8"}) == "en" and installer_language({}) == "en"

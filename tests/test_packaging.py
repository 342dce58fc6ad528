"""The two dependency lists agree, and `greenapi-excel --help` works as an installed command."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_requirements_txt_matches_pyproject():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    listed = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert sorted(listed) == sorted(declared)


def test_xlwings_pin_matches_the_workbook_module():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pin = next(d for d in declared if d.startswith("xlwings=="))
    import xlwings

    assert pin == f"xlwings=={xlwings.__version__}"


def test_help_names_every_command():
    proc = subprocess.run([sys.executable, "-m", "greenapi_excel", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for command in ("archive", "unarchive", "check", "demo", "sandbox", "workbook", "journal"):
        assert command in proc.stdout


def test_no_command_is_a_usage_error():
    proc = subprocess.run([sys.executable, "-m", "greenapi_excel"], capture_output=True, text=True)
    assert proc.returncode == 2 and "usage" in proc.stderr

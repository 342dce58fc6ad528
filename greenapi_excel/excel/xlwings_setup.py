"""xlwings' own set-up steps that GreenApi's set-up commands run (the engine's only other door to xlwings)."""

from __future__ import annotations


def runpython_install() -> None:
    """RunPython on a Mac needs xlwings' AppleScript in Excel's script folder, as `xlwings runpython install` does."""
    from xlwings import cli

    cli.runpython_install(None)

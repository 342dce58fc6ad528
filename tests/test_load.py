"""10,000 chats through the sandbox with faults on, as a real CLI process: every row gets a true status,
and memory stays flat (the process's peak RSS, measured by the kernel, grows little with the row count)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import openpyxl
from cli_helpers import cli_command, sandbox_env

MB = 1024 * 1024


def make_book(path: Path, ids) -> Path:
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("Chats")
    ws.append(["Chat ID"])
    for chat in ids:
        ws.append([chat])
    wb.save(path)
    return path


# Linux starts a process's peak RSS at its parent's when it is forked and exec'd, and pytest may be
# hundreds of MB by the time this runs: a small launcher in between makes the CLI's figure its own.
LAUNCHER = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[1:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "sys.stderr.write(f'\\nmaxrss_kb={usage.ru_maxrss}\\n')\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def run_measured(args, env) -> tuple[int, int, str]:
    """Run the CLI; return (exit code, peak RSS in bytes of that process alone, stderr)."""
    proc = subprocess.run([sys.executable, "-c", LAUNCHER, *cli_command(*args)], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=600)
    err, _, figure = proc.stderr.rstrip().rpartition("\n")
    assert figure.startswith("maxrss_kb="), proc.stderr[-2000:]
    return proc.returncode, int(figure.split("=")[1]) * 1024, err   # Linux reports kilobytes


def archive_many(make_sandbox, folder: Path, n: int, prefix: str) -> tuple[int, dict]:
    folder.mkdir()
    ids = [f"{prefix}{i:06d}" for i in range(n)]
    sandbox = make_sandbox(chats=[{"id": f"{i}@c.us", "incoming": 1} for i in ids], rps=3000, read_rps=3000,
                           faults=0.02, slow_reply_s=1.0, seed=3)
    book = make_book(folder / "load.xlsx", ids)
    env = sandbox_env(sandbox, folder)
    code, peak, err = run_measured(["archive", book, "--no-progress", "--rate", 3000, "--timeout", 0.5], env)
    assert code in (0, 1), err
    assert "Traceback" not in err

    ws = openpyxl.load_workbook(book, read_only=True)["Chats"]
    rows = {r[0].value: r[1].value for r in ws.iter_rows(min_row=2, max_col=2)}
    on_server = sandbox.archived_ids()
    assert len(rows) == n and all(rows.values())
    counts: dict = {}
    for chat, status in rows.items():
        counts[status] = counts.get(status, 0) + 1
        if status == "Archived":
            assert f"{chat}@c.us" in on_server, chat
        else:
            assert status == "Failed" and f"{chat}@c.us" not in on_server, (chat, status)
    assert {f"{c}@c.us" for c, s in rows.items() if s == "Archived"} == on_server
    assert sum(1 for c in sandbox.calls("archiveChat") if c["fault"]) > n // 100   # faults really struck
    sandbox.stop()
    return peak, counts


def test_ten_thousand_chats_with_faults_true_statuses_flat_memory(make_sandbox, tmp_path):
    peak_small, _ = archive_many(make_sandbox, tmp_path / "small", 1_000, "79005")
    peak_large, counts = archive_many(make_sandbox, tmp_path / "large", 10_000, "79006")
    print(f"\npeak RSS: 1,000 chats {peak_small / MB:.0f} MB; 10,000 chats {peak_large / MB:.0f} MB; "
          f"statuses {counts}")
    assert peak_large < 300 * MB
    # Flat: ten times the rows costs far less than ten times the memory (the book itself must be held).
    assert peak_large - peak_small < 120 * MB, (peak_small / MB, peak_large / MB)

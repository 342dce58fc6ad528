"""Pacing across the processes of this computer: one schedule per (host, instance, method) in the
per-user state folder, and pacing within the process when that folder cannot be written.
(How fast, and how many 429s two runs meet, is measured in benchmarks/cross_process_pacing.py.)"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import openpyxl
from cli_helpers import cli_command, sandbox_env

from greenapi_excel import pacing


def make_book(path: Path, ids: list[str]) -> Path:
    wb = openpyxl.Workbook()
    wb.active.append(["Chat ID"])
    for chat_id in ids:
        wb.active.append([chat_id.split("@")[0]])
    wb.save(path)
    return path


def test_two_handles_on_one_file_share_one_schedule(tmp_path):
    first, second = (pacing.SharedSlots(tmp_path / pacing.SHARED_FILE) for _ in range(2))
    slots: list[float] = []
    lock = threading.Lock()

    def take(store):
        for _ in range(20):
            slot = store.reserve("h|1|archiveChat", 0.05)
            with lock:
                slots.append(slot)

    threads = [threading.Thread(target=take, args=(s,)) for s in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    slots.sort()
    assert len(slots) == 40
    assert all(b - a >= 0.05 - 1e-6 for a, b in zip(slots, slots[1:]))   # never two in one slot
    assert first.reserve("h|1|unarchiveChat", 0.05) <= time.time() + 0.01  # keys are apart
    # The sliding window is shared too: the second handle sees the first one's starts.
    assert first.admit("h|1|getChats", 1, 1.0) == 0.0
    assert second.admit("h|1|getChats", 1, 1.0) > 0.9
    first.close()
    second.close()


def test_two_cli_runs_on_one_instance_stay_under_its_limit_together(make_sandbox, tmp_path):
    ids = [[f"7903{n}{i:06d}@c.us" for i in range(22)] for n in (1, 2)]
    sandbox = make_sandbox(chats=[{"id": c, "incoming": 1} for group in ids for c in group], rps=10,
                           read_rps=100)
    procs = []
    for n, group in enumerate(ids):
        folder = tmp_path / f"run{n}"
        folder.mkdir()
        env = sandbox_env(sandbox, folder, XDG_STATE_HOME=str(tmp_path / "state"),
                          GREENAPI_LOCK_DIR=str(folder / "locks"))
        procs.append(subprocess.Popen(cli_command("archive", make_book(folder / "b.xlsx", group), "--no-progress"),
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    calls = sandbox.calls("archiveChat")
    assert sum(c["status"] == 200 for c in calls) == 44
    assert [c for c in calls if c["status"] == 429] == []
    assert (tmp_path / "state" / "greenapi-excel" / pacing.SHARED_FILE).is_file()


def test_a_state_folder_that_cannot_be_written_paces_within_the_process(tmp_path, make_sandbox):
    blocker = tmp_path / "a-file"
    blocker.write_text("where the state folder would be")
    sandbox = make_sandbox(rps=1000, read_rps=1000)
    script = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)\n"
        "from greenapi_excel.client import Credentials, GreenApiClient\n"
        f"c = GreenApiClient(Credentials({sandbox.api_url!r}, {sandbox.id_instance!r}, {sandbox.token!r}))\n"
        "print(c.archive_chat('79001234567@c.us').outcome)\n"
    )
    env = sandbox_env(sandbox, tmp_path, XDG_STATE_HOME=str(blocker / "state"))
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"
    assert "pacing in this process only" in proc.stderr

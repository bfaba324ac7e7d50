"""A broker killed with SIGKILL leaves no initial program behind (parent-death signal)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from conftest import base_env, flux_exe
from proctree import kill_tree


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(pred, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def test_initial_program_dies_with_a_killed_broker(tmp_path):
    pidfile = tmp_path / "pid"
    proc = subprocess.Popen(
        [flux_exe(), "start", "-Srundir=" + str(tmp_path / "run"),
         "sh", "-c", f"echo $$ > {pidfile}.tmp && mv {pidfile}.tmp {pidfile} && exec sleep 300"],
        env=base_env(), start_new_session=True)
    try:
        assert _wait_for(pidfile.exists, 30), "the initial program did not start"
        program = int(pidfile.read_text())
        assert _alive(program)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert _wait_for(lambda: not _alive(program), 10), "the initial program outlived its broker"
    finally:
        kill_tree(proc.pid)
        proc.wait(timeout=10)

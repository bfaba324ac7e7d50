"""A broker killed with SIGKILL leaves no initial program behind (parent-death signal)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

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


def test_initial_program_and_its_children_die_with_a_killed_broker(tmp_path):
    pidfile = tmp_path / "pid"
    # sh forks sleep (not the last command): a grandchild of the broker
    script = (f"sleep 300 & echo $$ $! > {pidfile}.tmp && mv {pidfile}.tmp {pidfile}; "
              "sleep 301; true")
    proc = subprocess.Popen(
        [flux_exe(), "start", "-Srundir=" + str(tmp_path / "run"), "sh", "-c", script],
        env=base_env(), start_new_session=True)
    try:
        assert _wait_for(pidfile.exists, 30), "the initial program did not start"
        pids = [int(p) for p in pidfile.read_text().split()]
        assert all(_alive(p) for p in pids)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert _wait_for(lambda: not any(_alive(p) for p in pids), 10), \
            "the initial program or its children outlived their broker"
    finally:
        kill_tree(proc.pid)
        proc.wait(timeout=10)


def test_no_guardian_is_left_after_a_normal_exit(tmp_path):
    """The guardian is reaped with the program; a clean exit leaves nothing behind."""
    r = subprocess.run([flux_exe(), "start", "-Srundir=" + str(tmp_path / "run"), "sh", "-c",
                        "sleep 300 & echo $$ $!"], stdin=subprocess.DEVNULL,
                       env=base_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    pgid, child = (int(x) for x in r.stdout.split())
    assert _wait_for(lambda: not _alive(child), 10)
    guards = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(int(p)) ==
              f"flux-guard {pgid}"]
    assert guards == []


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


_GUARDED = """
import os, subprocess, sys, time
from flux import parentdeath
if sys.argv[1] == "prctl":
    del os.pidfd_open  # the kernel's parent-death signal instead of a pidfd
prog = subprocess.Popen(["sleep", "300"], process_group=0)
guard = parentdeath.guard_group(prog.pid)
print(prog.pid, guard, flush=True)
time.sleep(300)
"""


@pytest.mark.parametrize("how", ["pidfd", "prctl"])
def test_the_guardian_kills_the_group_when_its_parent_is_killed(how):
    proc = subprocess.Popen([sys.executable, "-c", _GUARDED, how], stdout=subprocess.PIPE,
                            text=True, env=base_env(), start_new_session=True)
    try:
        prog, guard = (int(x) for x in proc.stdout.readline().split())
        assert _wait_for(lambda: _cmdline(guard) == f"flux-guard {prog}", 10)
        assert _alive(prog)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert _wait_for(lambda: not _alive(prog) and not _alive(guard), 10)
    finally:
        kill_tree(proc.pid)
        proc.wait(timeout=10)
        proc.stdout.close()

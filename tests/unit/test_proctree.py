"""tests/proctree.py: a command that outlives its timeout takes everything it
started down with it, a child that made a session of its own included."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from conftest import pid_alive
from proctree import kill_tree, run_tree, tree_of


def _pids(path: str, n: int) -> list[int]:
    deadline = time.monotonic() + 20
    while True:
        words = open(path).read().split() if os.path.exists(path) else []
        if len(words) == n:
            return [int(w) for w in words]
        assert time.monotonic() < deadline, "the command did not start its children"
        time.sleep(0.01)


def test_timeout_kills_the_whole_tree(tmp_path):
    pidfile = tmp_path / "pids"
    script = (f"sleep 300 & echo $! >> {pidfile}; "
              f"setsid sleep 300 & echo $! >> {pidfile}; wait")
    with pytest.raises(subprocess.TimeoutExpired):
        run_tree(["sh", "-c", script], timeout=2)
    pids = _pids(str(pidfile), 2)
    deadline = time.monotonic() + 5
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [p for p in pids if pid_alive(p)] == []


def test_run_tree_returns_as_subprocess_run():
    r = run_tree(["sh", "-c", "cat; echo err >&2; exit 3"], input="in\n", capture_output=True,
                 text=True, timeout=20)
    assert (r.returncode, r.stdout, r.stderr) == (3, "in\n", "err\n")
    with pytest.raises(subprocess.CalledProcessError):
        run_tree(["false"], timeout=20, check=True)


def test_kill_tree_finds_orphans_of_the_session(tmp_path):
    pidfile = tmp_path / "pids"
    proc = subprocess.Popen(["sh", "-c", f"sleep 300 & echo $! > {pidfile}"],
                            start_new_session=True)
    proc.wait(timeout=20)  # the leader is gone, its child lives on in its session
    (orphan,) = _pids(str(pidfile), 1)
    try:
        assert orphan in tree_of(proc.pid)
        kill_tree(proc.pid)
        deadline = time.monotonic() + 5
        while pid_alive(orphan) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not pid_alive(orphan)
    finally:
        if pid_alive(orphan):
            os.kill(orphan, 9)

"""Run a command in its own session and, when its timeout fires, kill everything
it started, not only the command itself.

``subprocess.run(timeout=...)`` kills the one process it started: a launcher's
children (``mpiexec``'s hydra proxy and brokers, ``flux start``'s brokers, a
broker's initial program) would outlive the failed test and load the machine
for the tests after it.  ``run_tree`` starts the command as a session leader;
on timeout every process of that session, and every descendant of the command
(one that made a session of its own included), gets SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Any

__all__ = ["kill_marked", "kill_tree", "marked", "run_tree", "tree_of"]


def _table() -> dict[int, tuple[int, int, str]]:
    """pid -> (ppid, session id, state) of every process we can read."""
    procs: dict[int, tuple[int, int, str]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after "comm)": state ppid pgrp session ...
        procs[int(name)] = (int(fields[1]), int(fields[3]), fields[0])
    return procs


def tree_of(pid: int) -> set[int]:
    """``pid``, its live descendants and the live members of its session (when it
    leads one); zombies are left out (they are dead, their parent reaps them)."""
    procs = _table()
    found = {p for p, (_, sid, _) in procs.items() if sid == pid}
    found.add(pid)
    todo = list(found)
    while todo:
        parent = todo.pop()
        for p, (ppid, _, _) in procs.items():
            if ppid == parent and p not in found:
                found.add(p)
                todo.append(p)
    return {p for p in found if p in procs and procs[p][2] != "Z"}


def marked(mark: str) -> set[int]:
    """Live processes whose environment holds ``mark`` (``NAME=VALUE``): everything a
    command started inherits it, even what left its session or was reparented to init,
    so a test can tell that nothing of it is left."""
    needle = mark.encode() + b"\0"
    found = set()
    procs = _table()
    for pid, (_, _, state) in procs.items():
        if state == "Z" or pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if env.startswith(needle) or b"\0" + needle in env:
            found.add(pid)
    return found


def kill_marked(mark: str) -> None:
    """SIGKILL every live process that carries ``mark`` (see ``marked``)."""
    for _ in range(50):
        pids = marked(mark)
        if not pids:
            return
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)


def kill_tree(pid: int, rounds: int = 50) -> None:
    """SIGKILL ``pid``'s tree (see ``tree_of``), again until nothing of it is left
    (a process may fork between one look at /proc and the signal)."""
    for _ in range(rounds):
        members = tree_of(pid)
        if not members:
            return
        for p in members:
            try:
                os.kill(p, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)


def run_tree(args: Any, *, timeout: float, input: Any = None, check: bool = False,
             capture_output: bool = False, **kw: Any) -> subprocess.CompletedProcess:
    """``subprocess.run`` in a new session; on timeout the whole tree is killed
    before TimeoutExpired is raised (with what the command had written)."""
    if capture_output:
        kw["stdout"] = subprocess.PIPE
        kw["stderr"] = subprocess.PIPE
    if input is not None:
        kw["stdin"] = subprocess.PIPE
    kw.setdefault("start_new_session", True)
    with subprocess.Popen(args, **kw) as proc:
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            kill_tree(proc.pid)
            try:  # a process that escaped the tree may still hold a pipe
                exc.stdout, exc.stderr = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            raise
        except BaseException:
            kill_tree(proc.pid)
            raise
    result = subprocess.CompletedProcess(args, proc.returncode, out, err)
    if check:
        result.check_returncode()
    return result

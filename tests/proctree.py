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
import subprocess
from typing import Any

from flux.testing.proctree import _table, kill_tree, kill_until_gone, tree_of  # the plugin's

__all__ = ["kill_marked", "kill_tree", "marked", "run_tree", "tree_of"]


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
    kill_until_gone(lambda: marked(mark))


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

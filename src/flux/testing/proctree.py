"""Finding and killing every process an instance started, for the last resort of a stop.

``flux start`` runs in a session of its own; job shells and their tasks may
make sessions of their own too, so the tree is followed by parent pid as well
as by session id (from /proc).  Only the tree of the process we started is
touched.
"""

from __future__ import annotations

import os
import signal
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Callable

__all__ = ["kill_tree", "kill_until_gone", "tree_of"]


def _table() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, session id, state) of each process we can read."""
    table: dict[int, tuple[int, int, str]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return table
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        table[int(name)] = (int(fields[1]), int(fields[3]), fields[0])
    return table


def tree_of(pid: int) -> set[int]:
    """``pid``, the members of its session and their descendants, zombies left out."""
    table = _table()
    found = {p for p, (_, sid, _) in table.items() if sid == pid}
    found.add(pid)
    todo = list(found)
    while todo:
        parent = todo.pop()
        for p, (ppid, _, _) in table.items():
            if ppid == parent and p not in found:
                found.add(p)
                todo.append(p)
    return {p for p in found if p in table and table[p][2] != "Z"}


def kill_tree(pid: int, rounds: int = 50) -> None:
    """SIGKILL ``pid``'s tree until none of it is left (a process may fork meanwhile)."""
    kill_until_gone(lambda: tree_of(pid), rounds)


def kill_until_gone(find: Callable[[], set[int]], rounds: int = 50) -> None:
    """SIGKILL what ``find()`` names, again until it names nothing (or ``rounds`` ran out)."""
    for _ in range(rounds):
        members = find()
        if not members:
            return
        for p in members:
            try:
                os.kill(p, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)

"""Children that die with their parent: the kernel's parent-death signal.

A broker killed with SIGKILL cannot clean up; without this, the initial program
of ``flux start`` (and the rc scripts) would live on, adopted by init.  The
child asks the kernel for SIGKILL when the process that forked it ends
(``prctl(PR_SET_PDEATHSIG)``), between fork and exec.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Callable, Optional

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1


def die_with_parent(own_group: bool = False) -> Optional[Callable[[], None]]:
    """A ``preexec_fn`` for ``subprocess.Popen``: the child is killed when this process
    ends, and starts its own process group if ``own_group``.  None where the kernel has no
    parent-death signal (not Linux): the caller then spawns as before."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
        return None
    parent = os.getpid()

    def preexec() -> None:  # runs in the child, between fork and exec
        if own_group:
            os.setpgid(0, 0)
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return preexec

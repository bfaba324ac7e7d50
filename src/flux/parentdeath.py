"""Children that die with their parent: the kernel's parent-death signal.

A broker killed with SIGKILL cannot clean up; without this, the initial program
of ``flux start`` (and the rc scripts) would live on, adopted by init.  The
child asks the kernel for SIGKILL when the process that forked it ends
(``prctl(PR_SET_PDEATHSIG)``), between fork and exec.  That reaches the child
only, not what it started in turn (``sh -c 'a; b'`` forks ``a``): a guardian,
forked from the broker and otherwise idle, kills the program's whole process
group when the broker ends.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Callable, Optional

__all__ = ["die_with_parent", "guard_group"]

_PR_SET_PDEATHSIG = 1


def _prctl() -> Optional[Callable[..., int]]:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
        return None


def die_with_parent(own_group: bool = False) -> Optional[Callable[[], None]]:
    """A ``preexec_fn`` for ``subprocess.Popen``: the child is killed when this process
    ends, and starts its own process group if ``own_group``.  None where the kernel has no
    parent-death signal (not Linux): the caller then spawns as before."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:  # runs in the child, between fork and exec
        if own_group:
            os.setpgid(0, 0)
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return preexec


def guard_group(pgid: int) -> Optional[int]:
    """Fork a guardian that SIGKILLs process group ``pgid`` when this process ends (even
    by SIGKILL); its pid, for the caller to reap (None where the kernel cannot tell it).
    SIGTERM ends the guardian without touching the group: the caller, ending normally,
    kills what is left of the group itself.

    The guardian holds no descriptor of ours (a copy would keep peers' connections
    open), ignores the terminal's signals, and sleeps until this process ends: on a
    pidfd of it where the kernel has them (Linux 5.3), else by the parent-death signal
    (which needs ctypes: ~3 ms of CPU in each guardian).
    """
    if not sys.platform.startswith("linux"):
        return None
    parent = os.getpid()
    # the signals the broker handles are blocked across the fork: the child must never
    # run the broker's handlers (one would swallow a SIGTERM meant for it)
    ignored = {signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGTSTP}
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, ignored | {signal.SIGTERM})
    pid = os.fork()
    if pid:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        return pid
    try:  # the guardian: nothing here may return into the broker's code
        signal.set_wakeup_fd(-1)
        for signum in ignored:
            signal.signal(signum, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, 1 << 20)
        from .proctitle import set_proctitle

        set_proctitle("flux-guard", f"flux-guard {pgid}")
        _wait_for_parent(parent, ignored)
        os.killpg(pgid, signal.SIGKILL)
    except BaseException:  # noqa: BLE001 - the guardian ends here whatever happens
        pass
    os._exit(0)


def _wait_for_parent(parent: int, ignored: "set[signal.Signals]") -> None:
    """Return once process ``parent`` has ended (at once if it already has).  With a
    pidfd, a SIGTERM meanwhile ends this process (the default action, unblocked here);
    without, it returns too."""
    try:
        pidfd = os.pidfd_open(parent)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):
        pidfd = -1
    if pidfd >= 0:
        if os.getppid() != parent:  # it ended before we looked: the pidfd may be another's
            return
        signal.pthread_sigmask(signal.SIG_UNBLOCK, ignored | {signal.SIGTERM})
        import select

        select.select([pidfd], [], [])
        return
    prctl = _prctl()
    if prctl is None:
        os._exit(0)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, ignored)  # SIGTERM stays blocked
    prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() == parent:
        signal.sigwait({signal.SIGTERM})  # the parent's death, or the parent's own SIGTERM

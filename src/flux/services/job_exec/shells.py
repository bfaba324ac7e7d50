"""The job shells of one real job, and the interface that starts them.

``Launcher.launch(jobid, userid, rank, events)`` starts ``flux-shell JOBID`` on broker
``rank`` and returns a handle whose ``kill(signum)`` signals that shell; ``events`` is
told ``running(rank)``, ``output(rank, stream, data)``, ``exited(rank, wait_status)`` or
``failed(rank, errnum, text)`` (the shell could not be started).  On one broker the
wiring's launcher (``flux.broker.job_shell_launch``) runs a local process and refuses
other ranks; the multi-broker version (flux-core's rexec/bulk-exec over the overlay)
replaces only that object.
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional, Protocol

    class ShellProc(Protocol):
        def kill(self, signum: int) -> None: ...

    class ShellEvents(Protocol):
        def running(self, rank: int) -> None: ...
        def output(self, rank: int, stream: str, data: bytes) -> None: ...
        def exited(self, rank: int, wait_status: int) -> None: ...
        def failed(self, rank: int, errnum: int, text: str) -> None: ...

    class Launcher(Protocol):
        def launch(self, jobid: int, userid: int, rank: int,
                   events: ShellEvents) -> ShellProc: ...

__all__ = ["JobShells"]


class JobShells:
    """Which shells of a job run, which have exited, and the highest wait status."""

    __slots__ = ("ranks", "procs", "running", "exited", "wait_status", "barrier", "critical")

    def __init__(self, ranks: list[int]) -> None:
        self.ranks = sorted(ranks)
        #: shell ranks whose loss is fatal (None: all, flux-core's default)
        self.critical: Optional[set[int]] = None
        self.procs: dict[int, Any] = {}
        self.running: set[int] = set()
        self.exited: set[int] = set()
        self.wait_status = 0
        self.barrier: list[Any] = []  # shell-barrier requests waiting for the others

    @property
    def leader(self) -> int:
        """The broker rank of shell rank 0."""
        return self.ranks[0]

    def shell_rank(self, rank: int) -> int:
        """The shell rank of the shell on broker ``rank`` (its index in R)."""
        return self.ranks.index(rank)

    def is_critical(self, shell_rank: int) -> bool:
        return self.critical is None or shell_rank in self.critical

    @property
    def active(self) -> list[int]:
        return [r for r in self.ranks if r not in self.exited]

    def all_running(self) -> bool:
        return len(self.running | self.exited) == len(self.ranks)

    def exit(self, rank: int, wait_status: int) -> bool:
        """Record a shell's end; True once every shell has ended."""
        self.exited.add(rank)
        self.procs.pop(rank, None)
        if wait_status > self.wait_status:
            self.wait_status = wait_status
        return len(self.exited) == len(self.ranks)

    def kill(self, signum: int) -> None:
        for proc in list(self.procs.values()):
            proc.kill(signum)

    def barrier_enter(self, msg: Any) -> Optional[list[Any]]:
        """A shell entered the barrier: the requests to answer once all have, else None."""
        self.barrier.append(msg)
        if len(self.barrier) < len(self.ranks):
            return None
        done, self.barrier = self.barrier, []
        return done

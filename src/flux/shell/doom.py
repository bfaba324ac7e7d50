"""The first task exit of a job, and what follows from it (flux-core's ``task-exit``
shell plugin): the leader shell records the first task that exits anywhere in the job
(``shell.task-exit`` in the exec eventlog; other shells tell it through its ``doom``
service), and then

- with ``-o exit-on-error`` a nonzero exit ends the job at once;
- otherwise the rest of the job has ``-o exit-timeout`` (30 s by default, ``none``
  for no limit) to finish, after which the leader raises a fatal exception.

A lost shell (job-exec's ``lost-shell`` notice to the leader's ``exception`` service:
its node failed, or it was killed) counts as a failed exit of that shell rank: without
this, a job whose other shells still run would wait for them forever.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

    from flux.shell.info import ShellInfo

__all__ = ["Doom", "DEFAULT_TIMEOUT", "parse_timeout"]

DEFAULT_TIMEOUT = 30.0


def parse_timeout(value: object) -> Optional[float]:
    """``-o exit-timeout``: seconds, an FSD string, or ``none`` (None: no limit);
    ValueError with flux-core's text otherwise."""
    error = ValueError("exit-timeout is not a valid Flux Standard Duration")
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, bool):
        raise error
    if isinstance(value, (int, float)):
        if value < 0:
            raise error
        return float(value)
    if isinstance(value, str):
        if value.lower() == "none":
            return None
        from flux._util_duration import parse_fsd

        try:
            return parse_fsd(value)
        except ValueError:
            raise error from None
    raise error


def _exit_code(wait_status: int) -> int:
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)


class Doom:
    """One shell's part: ``task_exit(info)`` for each task of this shell that ends,
    ``lost(shell_rank)`` on the leader for a lost shell."""

    def __init__(self, h: Any, info: ShellInfo, service: str,
                 post: Callable[[str, dict], None],
                 die: Callable[[int, str, int], None]) -> None:
        self.h = h
        self.info = info
        self.service = service
        self.post = post  # an exec eventlog entry (leader)
        self.die = die  # FATAL log, exception (with the task's wait status), exit code
        self.leader = info.shell_rank == 0
        self.done = False
        self.timer: Any = None
        self.watcher: Any = None
        self.exit_rank = -1
        self.exit_rc = 0
        self.exit_wait_status = -1
        self.lost_shell = False
        self.timeout = parse_timeout(info.option("exit-timeout"))
        self.exit_on_error = info.option("exit-on-error") == 1

    def start(self) -> None:
        """The leader serves ``<service>.doom``: first task exits of the other shells."""
        if not self.leader:
            return
        from flux.constants import FLUX_MSGTYPE_REQUEST

        self.watcher = self.h.msg_watcher_create(self._notified, FLUX_MSGTYPE_REQUEST,
                                                 self.service + ".doom")
        self.watcher.start()

    def tasks_complete(self) -> None:
        """Every task of every shell has ended: nothing left for the timeout to guard."""
        if self.timer is not None:
            self.timer.stop()
            self.timer = None

    def stop(self) -> None:
        for w in (self.timer, self.watcher):
            if w is not None:
                w.stop()
        self.timer = self.watcher = None

    # -- the first task exit -----------------------------------------------------------

    def task_exit(self, task_info: dict) -> None:
        if self.done:
            return
        self.done = True
        if self.leader:
            self._record(task_info)
            return
        # no response asked for: the leader may be gone by now
        from flux.constants import FLUX_RPC_NORESPONSE

        self.h.rpc(self.service + ".doom", task_info, nodeid=self.info.ranks[0],
                   flags=FLUX_RPC_NORESPONSE)

    def _notified(self, h: Any, watcher: Any, msg: Any, args: Any) -> None:
        if self.done:
            return
        try:
            task_info = msg.payload_json()
        except ValueError:
            return
        if not isinstance(task_info, dict):
            return
        self.done = True
        self._record(task_info)

    def _record(self, task_info: dict) -> None:
        self.post("shell.task-exit", task_info)
        status = task_info.get("wait_status")
        self.exit_wait_status = status if isinstance(status, int) else -1
        rank = task_info.get("rank")
        self._check(rank if isinstance(rank, int) else -1,
                    _exit_code(status) if isinstance(status, int) else 1, False)

    def lost(self, shell_rank: int) -> None:
        """A shell of the job is gone (job-exec's ``lost-shell`` notice)."""
        self._check(shell_rank, 1, True)

    # -- the consequences -------------------------------------------------------------

    def _check(self, rank: int, exitcode: int, lost_shell: bool) -> None:
        self.exit_rank = rank
        self.exit_rc = exitcode
        self.lost_shell = lost_shell
        if self.exit_on_error and exitcode != 0:
            self._fatal("failed", "and exit-on-error is set")
        elif self.timeout is not None and self.timer is None:
            self.timer = self.h.timer_watcher_create(self.timeout, self._expired)
            self.timer.start()

    def _expired(self, *args: Any) -> None:
        from flux.fsd import format_duration

        assert self.timeout is not None
        self._fatal("exited", f"and exit-timeout={format_duration(self.timeout)} has expired")

    def _host(self) -> str:
        info = self.info
        if self.lost_shell:
            nth = self.exit_rank
        else:
            from flux.shell import taskmap

            nth = next((i for i, r in enumerate(taskmap.task_ranges(info.counts))
                        if self.exit_rank in r), -1)
        if 0 <= nth < len(info.ranks):
            return info.hosts.get(info.ranks[nth]) or "unknown"
        return "unknown"

    def _fatal(self, what: str, why: str) -> None:
        status = self.exit_wait_status
        disp = ""
        if status >= 0:
            if os.WIFSIGNALED(status):
                import signal

                disp = f" ({signal.strsignal(os.WTERMSIG(status))})"
            else:
                disp = f" (Exit {os.WEXITSTATUS(status)})"
        arg0 = os.path.basename(self.info.command[0]) if self.info.command else ""
        kind = "shell" if self.lost_shell else "task"
        self.die(self.exit_rc, f"{arg0}: {kind} rank {self.exit_rank} on host {self._host()} "
                               f"{what}{disp} {why}", status)

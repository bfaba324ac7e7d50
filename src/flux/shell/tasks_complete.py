"""When every task of the job has ended, on every shell (flux-core's ``tasks-complete``
shell plugin): each other shell tells the leader (``<service>.tasks-complete``
``{"shell_rank"}``, no response) once its own tasks have ended; a lost shell counts as
ended.  The leader does not exit before that (flux-core's leader stays for the other
shells' output), so its exit timeout still guards a job whose leader's tasks ended
first; the timeout stops once all have ended.
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable

    from flux.shell.info import ShellInfo

__all__ = ["TasksComplete"]


class TasksComplete:
    """``finish()`` when this shell's tasks have ended; ``lost(shell_rank)`` (leader);
    ``done`` is called once on the leader when every shell's tasks have ended."""

    def __init__(self, h: Any, info: ShellInfo, service: str,
                 done: Callable[[], None]) -> None:
        self.h = h
        self.info = info
        self.service = service
        self.done = done
        self.leader = info.shell_rank == 0
        #: leader: shell ranks that have not reported (None once all have)
        self.active: set[int] | None = set(range(info.shell_size)) if self.leader else None
        self.watcher: Any = None

    def start(self) -> None:
        if not self.leader or self.info.shell_size < 2:
            return
        from flux.constants import FLUX_MSGTYPE_REQUEST

        self.watcher = self.h.msg_watcher_create(self._reported, FLUX_MSGTYPE_REQUEST,
                                                 self.service + ".tasks-complete")
        self.watcher.start()

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None

    def _reported(self, h: Any, watcher: Any, msg: Any, args: Any) -> None:
        try:
            shell_rank = msg.payload_json()["shell_rank"]
        except (ValueError, KeyError, TypeError):
            return
        if isinstance(shell_rank, int):
            self._report(shell_rank)

    def _report(self, shell_rank: int) -> None:
        if self.active is None:
            return
        self.active.discard(shell_rank)
        if not self.active:
            self.active = None
            self.done()

    def lost(self, shell_rank: int) -> None:
        """A lost shell never reports: it is counted as ended."""
        self._report(shell_rank)

    def finish(self) -> None:
        """This shell's tasks have all ended."""
        if self.leader:
            self._report(0)
            return
        from flux.constants import FLUX_RPC_NORESPONSE

        self.h.rpc(self.service + ".tasks-complete", {"shell_rank": self.info.shell_rank},
                   nodeid=self.info.ranks[0], flags=FLUX_RPC_NORESPONSE)

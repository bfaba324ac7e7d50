"""The broker states that wait for other brokers (flux-core's state_machine.c):
join, quorum, run, shutdown and goodbye in an instance of many brokers.

- join (rank > 0): connect to the parent and say hello (``tbon.connect_timeout``,
  default 30 s, bounds the wait for its answer); once answered, follow
  the parent's state (``state-machine.monitor`` sent UPSTREAM); the parent in
  quorum or run lets us go on, the parent past run fails the join.
- quorum: rank 0 waits until its whole subtree is online (overlay status
  ``full``); another rank joins ``broker.online`` (a ``groups.update`` sent
  upstream, which is how a flux-core rank 0 counts its quorum) and waits until
  its parent has left quorum.
- run (rank > 0, no initial program): stay until the parent enters shutdown.
- shutdown: wait until every child has said goodbye or is lost (a leaf: at
  once); no child may say hello any more.
- goodbye (rank > 0): ``overlay.goodbye`` to the parent, answered before we exit.

A lost parent (its connection closed, or a DISCONNECT) is ``parent-fail``
(``quorum-fail`` in quorum), so a subtree whose parent died shuts down.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

from flux.severity import LOG_ERR, LOG_INFO

from ..internal_rpc import InternalClient
from ..state_machine import (
    CLEANUP, FINALIZE, GOODBYE, INIT, JOIN, QUORUM, RUN, SHUTDOWN,
)
from .overlay import FULL

if TYPE_CHECKING:  # pragma: no cover
    from ..loop import Loop
    from ..router import Router
    from ..state_machine import StateMachine
    from .overlay import Overlay

__all__ = ["TreeStates"]

GOODBYE_TIMEOUT = 10.0


class TreeStates:
    """Replaces the size-1 actions of a :class:`StateMachine` with ones that wait
    for the parent and the children."""

    def __init__(self, sm: "StateMachine", overlay: "Overlay", router: "Router",
                 loop: "Loop", owner: int, hostlist: list[str],
                 shutdown_timeout: float = -1.0, connect_timeout: float = 30.0) -> None:
        self.sm = sm
        self.overlay = overlay
        self.loop = loop
        self.rank = overlay.topology.rank
        self.hostlist = hostlist
        self.shutdown_timeout = shutdown_timeout
        self.connect_timeout = connect_timeout
        self.parent_state: Optional[int] = None
        self.parent_error = False
        self.client = InternalClient(router, "states", owner)
        self._timer: Any = None
        self._quorum_posted = False
        #: rank 0: called with a continuation before quorum-full is posted (the
        #: resource service holds the initial program until every rank has reported)
        self.quorum_gate: Optional[Callable[[Callable[[], None]], None]] = None
        #: ranks > 0: called once joined, in quorum (the resource report goes upstream)
        self.on_joined: Optional[Callable[[], None]] = None
        overlay.on_status = self._status_changed
        overlay.on_parent_ready = self._parent_ready
        overlay.on_parent_lost = self._parent_lost
        overlay.on_goodbye = lambda: self.sm.post("goodbye")
        if self.rank > 0:
            sm.actions[JOIN] = self._join
            sm.actions[GOODBYE] = self._goodbye
        sm.actions[QUORUM] = self._quorum
        sm.actions[SHUTDOWN] = self._shutdown
        original_run = sm.actions[RUN]
        sm.actions[RUN] = lambda: self._run(original_run)

    # -- parent ----------------------------------------------------------------------

    def _join(self) -> None:
        try:
            self.overlay.connect()
        except OSError as exc:
            self.sm.log(LOG_ERR, f"overlay connect: {exc.strerror or exc}")
            self.sm.post("parent-fail")
            return
        if self.connect_timeout > 0:
            self.loop.call_later(self.connect_timeout, self._join_timeout)

    def _join_timeout(self) -> None:
        """No answer to hello in time (parent down, or our key refused): give up."""
        if self.sm.state == JOIN and not self.overlay.parent_online:
            self.sm.log(LOG_ERR, f"timed out after {self.connect_timeout:g}s waiting for "
                                 "the parent to answer hello")
            self.parent_error = True
            self.sm.exit_rc = self.sm.exit_rc or 1
            self.sm.post("parent-fail")

    def _parent_ready(self) -> None:
        self.client.rpc("state-machine.monitor", {}, self._parent_state, streaming=True,
                        nodeid=self.rank, upstream=True)

    def _parent_state(self, errnum: int, payload: Any) -> None:
        if errnum:
            self.parent_error = True
        elif isinstance(payload, dict) and isinstance(payload.get("state"), int):
            self.parent_state = payload["state"]
        self._check_parent()

    def _parent_lost(self, why: str) -> None:
        self.sm.log(LOG_ERR, f"parent: {why}")
        self.parent_error = True
        self.sm.exit_rc = self.sm.exit_rc or 1  # as flux-core's: a broker cut off fails
        self._check_parent()

    def _check_parent(self) -> None:
        state = self.sm.state
        ps = self.parent_state
        if state == JOIN:
            if self.parent_error or (ps is not None and ps >= CLEANUP):
                self.sm.post("parent-fail")
            elif ps is not None and ps in (QUORUM, RUN):
                self.sm.post("parent-ready")
        elif state == QUORUM and self.rank > 0:
            if self.parent_error or (ps is not None and ps >= CLEANUP):
                self.sm.post("quorum-fail")
            elif ps is not None and ps in (INIT, RUN):
                self.sm.post("quorum-full")
        elif state == RUN and self.rank > 0:
            if self.parent_error or (ps is not None and ps >= FINALIZE):
                self.sm.post("parent-fail")
            elif ps == SHUTDOWN:
                self.sm.post("shutdown")

    # -- quorum ------------------------------------------------------------------------

    def _quorum(self) -> None:
        if self.rank > 0:
            # flux-core's rank 0 counts its quorum in the broker.online group: join it
            # as flux-core's groups module does it upstream (no response)
            self.client.rpc("groups.update",
                            {"update": {"broker.online": [{"ranks": str(self.rank),
                                                           "set": True}]}},
                            nodeid=self.rank, upstream=True)
            if self.on_joined is not None:
                self.on_joined()
            self._check_parent()
        else:
            self._status_changed(self.overlay.status)

    def _status_changed(self, status: int) -> None:
        state = self.sm.state
        if state == QUORUM and self.rank == 0 and status == FULL and not self._quorum_posted:
            self._quorum_posted = True
            n = len(self.hostlist)
            ranks = "0" if n == 1 else f"0-{n - 1}"
            self.sm.log(LOG_INFO, f"online: {_hosts(self.hostlist)} (ranks {ranks})")
            if self.quorum_gate is None:
                self.sm.post("quorum-full")
            else:
                self.quorum_gate(self._gate_open)
        elif state == SHUTDOWN and not self.overlay.has_online_children():
            self._children_done()

    def _gate_open(self) -> None:
        if self.sm.state == QUORUM:
            self.sm.post("quorum-full")

    # -- run ---------------------------------------------------------------------------

    def _run(self, original: Any) -> None:
        if self.rank == 0 or self.sm.start_program is not None:
            original()
        else:
            self._check_parent()

    # -- shutdown ------------------------------------------------------------------------

    def _shutdown(self) -> None:
        self.overlay.refuse_hello = True
        if not self.overlay.children:
            self.sm.post("children-none")
            return
        if not self.overlay.has_online_children():
            self.sm.post("children-complete")
            return
        if self.shutdown_timeout >= 0:
            self._timer = self.loop.call_later(self.shutdown_timeout, self._shutdown_timeout)

    def _shutdown_timeout(self) -> None:
        self.sm.log(LOG_ERR, "shutdown timeout")
        self._children_done()

    def _children_done(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.sm.state == SHUTDOWN:
            self.sm.post("children-complete")

    # -- goodbye ---------------------------------------------------------------------------

    def _goodbye(self) -> None:
        if not self.overlay.goodbye():
            self.sm.post("goodbye")
            return
        self.loop.call_later(GOODBYE_TIMEOUT, self._goodbye_timeout)

    def _goodbye_timeout(self) -> None:
        if self.sm.state == GOODBYE:
            self.sm.log(LOG_ERR, f"goodbye timeout after {GOODBYE_TIMEOUT:.1f}s")
            self.sm.post("goodbye")

    def close(self) -> None:
        self.client.close()


def _hosts(hosts: list[str]) -> str:
    from .boot_util import hostlist_encode

    return hostlist_encode(hosts)


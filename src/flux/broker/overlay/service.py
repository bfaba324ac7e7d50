"""The ``overlay`` service of an instance of many brokers: ``health``,
``stats-get``, ``topology``, ``disconnect-subtree``, the streaming
``monitor`` (each child's status and torpidity), ``trace`` (trace.py) and
``disconnect``."""

from __future__ import annotations

import errno
import time

from flux.message import Message

from .fields import OverlayFields
from .peers import _STREAMING, OFFLINE, STATUS_NAMES, _Child

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

__all__ = ["OverlayService"]


class OverlayService(OverlayFields):
    """The ``Overlay``'s part that answers the ``overlay`` service."""

    def _register_service(self) -> None:
        from flux.constants import FLUX_ROLE_USER

        svc = self.router.builtin("overlay")
        svc.method("health", self._health, FLUX_ROLE_USER)
        svc.method("stats-get", self._stats, FLUX_ROLE_USER)
        svc.method("topology", self._topology, FLUX_ROLE_USER)
        svc.method("disconnect-subtree", self._disconnect_subtree)
        svc.method("monitor", self._monitor)
        svc.method("trace", self.tracer.request)
        # open to guests, as flux-core's: it ends only the sender's own streams
        svc.method("disconnect", self._monitor_disconnect, FLUX_ROLE_USER)

    def _health(self, msg: Message) -> None:
        now = time.monotonic()
        children = []
        for c in self.children.values():
            entry: dict[str, Any] = {"rank": c.rank, "status": STATUS_NAMES[c.status],
                                     "duration": now - c.since}
            if not c.online and c.error:
                entry["error"] = c.error
            children.append(entry)
        self.router.respond(msg, {"rank": self.topology.rank,
                                  "status": STATUS_NAMES[self.status],
                                  "duration": now - self.status_since,
                                  "children": children})

    def _stats(self, msg: Message) -> None:
        self.router.respond(msg, {
            "child-count": len(self.children),
            "child-connected": self.online_children(),
            "parent-count": 1 if self.topology.has_parent else 0,
            "parent-rpc": len(self.parent_tracker.pending),
            "child-rpc": sum(len(c.tracker.pending) for c in self.children.values()),
            "interthread": {"sendq": 0, "recvq": 0},
        })

    def subtree_json(self, rank: int) -> dict[str, Any]:
        topo = self.topology
        return {"rank": rank, "size": topo.descendants(rank) + 1,
                "children": [self.subtree_json(c) for c in topo.children_of(rank)]}

    def _topology(self, msg: Message) -> None:
        from ..router import RequestError

        rank = msg.payload_json().get("rank")
        if not isinstance(rank, int):
            raise RequestError(errno.EPROTO)
        if rank != self.topology.rank and rank not in self.children:
            raise RequestError(errno.ENOENT,
                               "requested rank is not this broker or its direct child")
        self.router.respond(msg, self.subtree_json(rank))

    def _disconnect_subtree(self, msg: Message) -> None:
        from ..router import RequestError

        rank = msg.payload_json().get("rank")
        if not isinstance(rank, int):
            raise RequestError(errno.EPROTO)
        child = self.children.get(rank)
        if child is None:
            raise RequestError(errno.ENOENT, "requested rank is not this broker's direct child")
        if not child.online:
            raise RequestError(errno.EINVAL,
                               f"rank {rank} is already {STATUS_NAMES[child.status]}")
        self.disconnect_child(rank)
        self.router.respond(msg)

    # -- overlay.monitor -----------------------------------------------------------------

    @staticmethod
    def _monitor_entry(child: _Child) -> dict[str, Any]:
        return {"rank": child.rank, "status": STATUS_NAMES[child.status],
                "torpid": child.torpid}

    def _monitor(self, msg: Message) -> None:
        """``overlay.monitor`` (streaming): each child's status and torpidity now (those
        offline and not torpid left out, as flux-core's first batch), then every change."""
        from ..router import RequestError

        if not msg.flags & _STREAMING:
            raise RequestError(errno.EPROTO)
        for child in self.children.values():
            if child.status != OFFLINE or child.torpid:
                self.router.respond(msg, self._monitor_entry(child))
        self.monitors.append(msg)

    def _monitor_notify(self, child: _Child) -> None:
        if self.monitors:
            entry = self._monitor_entry(child)
            for msg in self.monitors:
                self.router.respond(msg, entry)

    def _monitor_disconnect(self, msg: Message) -> None:
        """``overlay.disconnect``: a client went away, its monitor and trace streams
        with it."""
        from ..router import from_sender

        self.monitors = [m for m in self.monitors if not from_sender(m, msg)]
        self.tracer.disconnect(msg)

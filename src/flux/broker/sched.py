"""The ``sched`` service inside the broker: flux.services.sched wired to the router.

flux-core loads a scheduler module (sched-simple) in rc1; here the FIFO scheduler is part
of the broker and starts when the loop runs: it acquires the resources and says hello to
the job-manager over the router (internal_rpc.py), with the messages a module would send.
"""

from __future__ import annotations

from .internal_rpc import InternalClient
from .kvs import KVS
from .loop import Loop
from .router import Router

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable

    from flux.services.sched.service import SchedService

__all__ = ["Sched"]

_METHODS = (
    ("alloc", "alloc", 0),
    ("free", "free", 0),
    ("cancel", "cancel", 0),
    ("prioritize", "prioritize", 0),
    ("resource-status", "resource_status", 0),  # guests: resource.sched-status
    ("disconnect", "disconnect", 0),
)


class Sched:
    """Registers ``sched.*``; the service itself starts with the loop."""

    def __init__(self, router: Router, loop: Loop, kvs: KVS, owner: int,
                 log: Callable[[int, str], Any]) -> None:
        from flux.services.sched.service import SchedService

        self.kvs = kvs
        self.client = InternalClient(router, "sched", owner)
        self.service: SchedService = SchedService(
            rpc=self.client.rpc, respond=router.respond, respond_error=router.respond_error,
            commit=self._commit, lookup=self._lookup, soon=loop.call_soon,
            log=lambda level, text: log(level, f"sched: {text}"))
        builtin = router.builtin("sched")
        for method, handler, roles in _METHODS:
            builtin.method(method, getattr(self.service, handler), roles)
        loop.call_soon(self.service.start)

    def _commit(self, ops: list, done: Callable[[int, Any], None]) -> None:
        self.kvs.service.commit_ops("primary", ops, 0, done)

    def _lookup(self, key: str) -> bytes:
        from flux.services.kvs.treeobj import decode_val

        return decode_val(self.kvs.service.lookup_at("primary", key))

    def close(self) -> None:
        self.service.close()
        self.client.close()

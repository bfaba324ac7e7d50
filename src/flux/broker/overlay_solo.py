"""The ``overlay`` service of an instance of one broker.

A broker alone has no ZeroMQ links (and never imports pyzmq), yet ``flux overlay
status`` and other tools ask its ``overlay`` service about the tree; flux-core's
broker answers them for a tree of one: rank 0, ``full``, no children.
"""

from __future__ import annotations

import errno
import time
from typing import TYPE_CHECKING

from flux.constants import FLUX_ROLE_USER
from flux.message import Message

if TYPE_CHECKING:
    from .router import Router

__all__ = ["register_solo_overlay"]


def register_solo_overlay(router: "Router") -> None:
    """Register ``overlay.health``, ``stats-get``, ``topology`` and the disconnects."""
    from .router import RequestError

    since = time.monotonic()

    def rank_of(msg: Message) -> int:
        rank = msg.payload_json().get("rank")
        if not isinstance(rank, int) or isinstance(rank, bool):
            raise RequestError(errno.EPROTO)
        return rank

    def health(msg: Message) -> None:
        router.respond(msg, {"rank": 0, "status": "full",
                             "duration": time.monotonic() - since, "children": []})

    def stats(msg: Message) -> None:
        router.respond(msg, {"child-count": 0, "child-connected": 0, "parent-count": 0,
                             "parent-rpc": 0, "child-rpc": 0,
                             "interthread": {"sendq": 0, "recvq": 0}})

    def topology(msg: Message) -> None:
        if rank_of(msg) != 0:
            raise RequestError(errno.ENOENT,
                               "requested rank is not this broker or its direct child")
        router.respond(msg, {"rank": 0, "size": 1, "children": []})

    def disconnect_subtree(msg: Message) -> None:
        rank_of(msg)
        raise RequestError(errno.ENOENT, "requested rank is not this broker's direct child")

    svc = router.builtin("overlay")
    svc.method("health", health, FLUX_ROLE_USER)
    svc.method("stats-get", stats, FLUX_ROLE_USER)
    svc.method("topology", topology, FLUX_ROLE_USER)
    svc.method("disconnect-subtree", disconnect_subtree)
    svc.method("disconnect", lambda msg: None, FLUX_ROLE_USER)

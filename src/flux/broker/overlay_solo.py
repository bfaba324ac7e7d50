"""The ``overlay`` service of an instance of one broker.

A broker alone has no ZeroMQ links (and never imports pyzmq), yet ``flux overlay
status`` and other tools ask its ``overlay`` service about the tree; flux-core's
broker answers them for a tree of one: rank 0, ``full``, no children.
"""

from __future__ import annotations

import errno
import time
from typing import TYPE_CHECKING

from flux.constants import FLUX_MSGFLAG_STREAMING, FLUX_ROLE_USER
from flux.message import Message

if TYPE_CHECKING:
    from .router import Router

__all__ = ["register_solo_overlay"]


def register_solo_overlay(router: "Router") -> None:
    """Register ``overlay.health``, ``stats-get``, ``topology``, ``monitor``, ``trace``
    and the disconnects."""
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

    # monitor and trace streams: a tree of one has no child to report on and no overlay
    # message to show, so they stay open, silent, until their sender goes
    streams: list[Message] = []

    def stream(msg: Message) -> None:
        if not msg.flags & FLUX_MSGFLAG_STREAMING:
            raise RequestError(errno.EPROTO)
        streams.append(msg)

    def disconnect(msg: Message) -> None:
        from .router import from_sender

        streams[:] = [m for m in streams if not from_sender(m, msg)]

    svc = router.builtin("overlay")
    svc.method("health", health, FLUX_ROLE_USER)
    svc.method("stats-get", stats, FLUX_ROLE_USER)
    svc.method("topology", topology, FLUX_ROLE_USER)
    svc.method("disconnect-subtree", disconnect_subtree)
    svc.method("monitor", stream)
    svc.method("trace", stream)
    svc.method("disconnect", disconnect, FLUX_ROLE_USER)

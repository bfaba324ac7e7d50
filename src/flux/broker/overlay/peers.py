"""What the overlay knows of its peers: the subtree statuses, the requests in
flight to a peer (flux-core's rpc_track), each child's state, and the router
peer that stands for the parent or a child."""

from __future__ import annotations

import time

from flux.constants import FLUX_MSGFLAG_NORESPONSE, FLUX_MSGFLAG_ROUTE, FLUX_MSGFLAG_STREAMING
from flux.message import Message

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

    from .fields import OverlayFields

__all__ = ["STATUS_NAMES", "UNKNOWN", "FULL", "PARTIAL", "DEGRADED", "LOST", "OFFLINE"]

STATUS_NAMES = ("unknown", "full", "partial", "degraded", "lost", "offline")
UNKNOWN, FULL, PARTIAL, DEGRADED, LOST, OFFLINE = range(6)
_ONLINE = (FULL, PARTIAL, DEGRADED)

_ROUTE = FLUX_MSGFLAG_ROUTE
_NORESPONSE = FLUX_MSGFLAG_NORESPONSE
_STREAMING = FLUX_MSGFLAG_STREAMING


class _Tracker:
    """Requests sent to one peer and not yet fully answered (flux-core's rpc_track)."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending: dict[tuple[tuple[str, ...], int], Message] = {}

    def sent(self, msg: Message) -> None:
        if not msg.flags & _NORESPONSE:
            self.pending[(tuple(msg.routes), msg.aux2)] = msg.copy(payload=False)

    def answered(self, msg: Message) -> None:
        if self.pending and (msg.aux1 or not msg.flags & _STREAMING):
            self.pending.pop((tuple(msg.routes), msg.aux2), None)

    def take(self) -> list[Message]:
        out = list(self.pending.values())
        self.pending.clear()
        return out


class _Child:
    __slots__ = ("rank", "uuid", "status", "since", "hostname", "fd", "last_seen",
                 "tracker", "error", "torpid")

    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.uuid: Optional[str] = None
        self.status = OFFLINE
        self.since = time.monotonic()
        self.hostname = ""
        self.fd = -1
        self.last_seen = 0.0
        self.tracker = _Tracker()
        self.error = ""
        #: online, but nothing heard from it for tbon.torpid_max
        self.torpid = False

    @property
    def online(self) -> bool:
        return self.status in _ONLINE


class _PeerLink:
    """A router peer standing for the parent or a child: what the router hands it
    (a response popped down to that peer's uuid) goes out on the overlay."""

    __slots__ = ("uuid", "overlay", "child")

    def __init__(self, uuid: str, overlay: "OverlayFields", child: Optional[_Child]) -> None:
        self.uuid = uuid
        self.overlay = overlay
        self.child = child

    def send(self, msg: Message) -> None:
        if self.child is None:
            msg.routes.append(self.uuid)  # P goes back on: the parent strips it
            msg.flags |= _ROUTE
            self.overlay.send_parent_raw(msg)
        else:
            self.overlay.send_child_raw(self.child, msg)

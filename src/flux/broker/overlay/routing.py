"""Sending over the tree: raw sends to the parent and to a child (traced, a
drain scheduled after each), responses handed back by the router's peer
links, requests forwarded up or down with their tracking, events fanned out
to every online child, and the control messages."""

from __future__ import annotations

import errno
import time

import zmq

from flux.codec import to_frames
from flux.constants import FLUX_MSGTYPE_CONTROL, FLUX_MSGTYPE_REQUEST
from flux.message import Message

from .fields import OverlayFields
from .peers import LOST, _ROUTE, _Child
from .zsock import send_parts

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

__all__ = ["Routing"]


class Routing(OverlayFields):
    """The ``Overlay``'s part that sends messages to its peers."""

    def _send_parent(self, msg: Message) -> bool:
        sock = self.parent_sock
        if sock is None or self.closed or self.goodbye_sent:  # nothing after goodbye
            return False
        try:
            send_parts(sock, to_frames(msg))
        except zmq.ZMQError:
            return False
        self.parent_last_send = time.monotonic()
        if self.traced:
            self.tracer.peer("tx", self.topology.parent, msg)
        self._schedule_drain()
        return True

    def _send_child(self, child: _Child, frames: list[bytes],
                    msg: Optional[Message] = None) -> bool:
        """``frames`` to ``child``; ``msg`` (what they encode) is traced when given."""
        sock = self.bind_sock
        if sock is None or child.uuid is None or self.closed:
            return False
        try:
            send_parts(sock, [child.uuid.encode()] + frames)
        except zmq.ZMQError:  # EHOSTUNREACH (ROUTER_MANDATORY): not connected
            if child.online:
                self.loop.call_soon(lambda: self._child_lost(child, "send failure", LOST)
                                    if child.online else None)
            return False
        if msg is not None and self.traced:
            self.tracer.peer("tx", child.rank, msg)
        self._schedule_drain()
        return True

    def send_parent_raw(self, msg: Message) -> None:
        """A response going back up (the router popped P, the link pushed it back)."""
        self.router.tx[msg.type] += 1
        self._send_parent(msg)

    def send_child_raw(self, child: _Child, msg: Message) -> None:
        """A response going down to ``child`` (its identity is the destination)."""
        if child.online:
            self.router.tx[msg.type] += 1
            self._send_child(child, to_frames(msg), msg)

    def forward_up(self, msg: Message) -> bool:
        """A request (or unpublished event) for the parent; False if it cannot go."""
        if not self.parent_online:
            return False
        msg.flags |= _ROUTE
        if msg.type == FLUX_MSGTYPE_REQUEST:
            self.parent_tracker.sent(msg)
        if not self._send_parent(msg):
            if msg.type == FLUX_MSGTYPE_REQUEST:
                self.parent_tracker.answered(_as_final(msg))
            return False
        return True

    def forward_down(self, rank: int, msg: Message) -> bool:
        """A request for ``rank`` (a descendant): to the child toward it."""
        child = self.children.get(self.topology.child_toward(rank))
        if child is None or not child.online:
            return False
        msg.routes.append(self.uuid)
        msg.flags |= _ROUTE
        child.tracker.sent(msg)
        if not self._send_child(child, to_frames(msg), msg):
            msg.routes.pop()
            child.tracker.answered(_as_final(msg))
            return False
        return True

    def fan_out_event(self, msg: Message) -> None:
        """A published event to every online child (encoded once)."""
        frames = None
        for child in self.children.values():
            if child.online:
                if frames is None:
                    frames = to_frames(msg)
                self._send_child(child, frames)
        if frames is not None and self.traced:  # once, to every child: flux-core's "*"
            self.tracer.peer("tx", -1, msg)

    def has_online_children(self) -> bool:
        return any(c.online for c in self.children.values())

    def _control(self, ctype: int, status: int) -> Message:
        msg = Message(FLUX_MSGTYPE_CONTROL)
        msg.flags = _ROUTE
        msg.aux1 = ctype
        msg.aux2 = status
        return msg


def _as_final(msg: Message) -> Message:
    """``msg`` seen as its own final response (to untrack a request that never left)."""
    resp = msg.copy(payload=False)
    resp.aux1 = errno.EHOSTUNREACH
    return resp

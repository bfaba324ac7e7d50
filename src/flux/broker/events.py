"""Event publication: sequence numbers, ``event.publish``, fan-out to sinks.

Rank 0 numbers every event from 1.  A published event carries its
publisher's credentials and gets the broker uuid pushed on its route stack
(``[B]`` for ``event.publish`` and broker events, ``[C, B]`` for a raw event
a client sent through the connector).  *Sinks* are the connector (which
matches client subscriptions) and, later, module links: anything with a
``send_event(msg)`` method.
"""

from __future__ import annotations

import base64
import binascii
import errno
from typing import Optional, Protocol

from flux.constants import (
    FLUX_MSGFLAG_PRIVATE,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGTYPE_EVENT,
    FLUX_ROLE_LOCAL,
    FLUX_ROLE_OWNER,
    FLUX_ROLE_USER,
)
from flux.message import Message

from .router import RequestError, Router

__all__ = ["Events", "EventSink"]


def subscribe(subs: dict[str, int], topic: str) -> None:
    """Count one more subscription to ``topic`` (a prefix) in ``subs``."""
    subs[topic] = subs.get(topic, 0) + 1


def unsubscribe(subs: dict[str, int], topic: str) -> bool:
    """Drop one subscription; ENOENT if there is none.  True when ``subs`` is now empty."""
    count = subs.get(topic)
    if count is None:
        raise RequestError(errno.ENOENT)
    if count > 1:
        subs[topic] = count - 1
    else:
        del subs[topic]
    return not subs


class EventSink(Protocol):
    def send_event(self, msg: Message) -> None: ...


class Events:
    """The ``event`` service and the broker's publisher."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.seq = 0
        self.sinks: list[EventSink] = []
        router.event_handler = self.publish_msg
        svc = router.builtin("event")
        svc.method("publish", self._publish, FLUX_ROLE_USER)

    def publish_msg(self, msg: Message) -> int:
        """Number ``msg`` and deliver it to every sink; returns its sequence."""
        if msg.topic is None:
            return 0
        self.seq += 1
        msg.type = FLUX_MSGTYPE_EVENT
        msg.aux1 = self.seq
        msg.aux2 = 0
        msg.routes.append(self.router.uuid)
        msg.flags |= FLUX_MSGFLAG_ROUTE
        self.router.tx[4] += 1
        for sink in self.sinks:
            sink.send_event(msg)
        return self.seq

    def publish(self, topic: str, payload: Optional[bytes] = None, private: bool = False,
                userid: Optional[int] = None, rolemask: int = FLUX_ROLE_OWNER | FLUX_ROLE_LOCAL) -> int:
        """Publish an event on behalf of the broker (owner credentials by default)."""
        msg = Message(FLUX_MSGTYPE_EVENT)
        msg.topic = topic
        msg.payload_bytes = payload
        if private:
            msg.flags |= FLUX_MSGFLAG_PRIVATE
        msg.userid = self.router.owner if userid is None else userid
        msg.rolemask = rolemask
        return self.publish_msg(msg)

    def _publish(self, req: Message) -> None:
        obj = req.payload_json()
        topic = obj.get("topic")
        flags = obj.get("flags", 0)
        encoded = obj.get("payload")
        if not isinstance(topic, str) or not isinstance(flags, int) or isinstance(flags, bool):
            raise RequestError(errno.EPROTO)
        if flags & ~FLUX_MSGFLAG_PRIVATE:
            raise RequestError(errno.EPROTO)
        payload = None
        if encoded is not None:
            if not isinstance(encoded, str):
                raise RequestError(errno.EPROTO)
            try:
                payload = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise RequestError(errno.EPROTO) from None
        seq = self.publish(topic, payload, bool(flags & FLUX_MSGFLAG_PRIVATE),
                           userid=req.userid, rolemask=req.rolemask)
        self.router.respond(req, {"seq": seq})

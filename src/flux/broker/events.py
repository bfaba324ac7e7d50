"""Event publication: sequence numbers, ``event.publish``, subscriptions, fan-out.

Rank 0 numbers every event from 1.  A published event carries its
publisher's credentials and gets the broker uuid pushed on its route stack
(``[B]`` for ``event.publish`` and broker events, ``[C, B]`` for a raw event
a client sent through the connector, ``[M, B]`` for one a module sent).

In an instance of many brokers only rank 0 numbers events: another rank
hands what its clients publish to its parent (``upstream``), and receives
numbered events from it (:meth:`Events.deliver`, which the overlay calls after
checking the sequence); each broker passes them on to its children
(``downstream``) before its own subscribers.

Subscribers are peer links (clients and modules alike, peerlink.py): each
holds reference-counted topic prefixes; an event is encoded once and queued
on every link with a matching prefix.  A private event reaches only its
owner among guests.
"""

from __future__ import annotations

import base64
import binascii
import errno
from typing import Any, Callable, Optional, Protocol, Sequence

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

__all__ = ["Events", "Subscriber"]

_PRIVATE = FLUX_MSGFLAG_PRIVATE
_ROUTE = FLUX_MSGFLAG_ROUTE


class Subscriber(Protocol):
    """What fan-out needs of a peer link."""

    subs: dict[str, int]
    guest: bool
    userid: int
    traced: Sequence[Any]

    def encode(self, msg: Message) -> bytes: ...

    def trace(self, prefix: str, msg: Message) -> None: ...

    def write(self, data: bytes) -> None: ...


class Events:
    """The ``event`` service and the broker's publisher."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.seq = 0
        self.subscribers: set[Subscriber] = set()
        self.internal: list[tuple[str, Callable[[Message], Any]]] = []
        # set by the overlay: where unpublished events go (rank > 0), and the
        # children that get every published one
        self.upstream: Optional[Callable[[Message], Any]] = None
        self.downstream: Optional[Callable[[Message], Any]] = None
        router.event_handler = self.publish_msg
        svc = router.builtin("event")
        svc.method("publish", self._publish, FLUX_ROLE_USER)

    def publish_msg(self, msg: Message) -> int:
        """Number ``msg`` and queue it on every subscribed link; returns its sequence."""
        if msg.topic is None:
            return 0
        if self.upstream is not None:  # not rank 0: rank 0 numbers and publishes it
            msg.type = FLUX_MSGTYPE_EVENT
            msg.flags |= _ROUTE
            self.upstream(msg)
            return 0
        self.seq += 1
        msg.type = FLUX_MSGTYPE_EVENT
        msg.aux1 = self.seq
        msg.aux2 = 0
        msg.routes.append(self.router.uuid)
        msg.flags |= _ROUTE
        self.deliver(msg)
        return self.seq

    def deliver(self, msg: Message) -> None:
        """A numbered event: to the children, the subscribed links, the broker's own."""
        self.seq = msg.aux1
        self.router.tx[4] += 1
        if self.downstream is not None:
            self.downstream(msg)
        if self.subscribers:
            self._fan_out(msg)
        # the broker's own subscribers act on owners' events only, as flux-core's
        # handlers (owner-only by default): a guest may publish any topic
        if self.internal and msg.rolemask & FLUX_ROLE_OWNER:
            topic = msg.topic or ""
            for prefix, callback in self.internal:
                if topic.startswith(prefix):
                    callback(msg)

    def _fan_out(self, msg: Message) -> None:
        topic = msg.topic or ""
        private = msg.flags & _PRIVATE
        data = None
        for link in tuple(self.subscribers):
            for prefix in link.subs:
                if topic.startswith(prefix):
                    break
            else:
                continue
            if private and link.guest and link.userid != msg.userid:
                continue
            if data is None:
                data = link.encode(msg)
            if link.traced:
                link.trace("rx", msg)
            link.write(data)

    # -- subscriptions ----------------------------------------------------------------

    def wanted(self, topic: str) -> bool:
        """Whether anyone (a link or the broker itself) subscribes to ``topic``: a
        service may skip building an event nobody would receive (``skip``)."""
        if self.downstream is not None:
            return True  # the children's subscribers are not known here
        for prefix, _ in self.internal:
            if topic.startswith(prefix):
                return True
        for link in self.subscribers:
            for prefix in link.subs:
                if topic.startswith(prefix):
                    return True
        return False

    def skip(self) -> int:
        """Count an event nobody receives without building it: the numbering stays as if
        it had been published.  Its sequence number."""
        self.seq += 1
        return self.seq

    def on(self, prefix: str, callback: Callable[[Message], Any]) -> None:
        """Call ``callback(msg)`` for each event whose topic starts with ``prefix``: a
        subscription of the broker's own services (after the links got theirs), to
        events published with the owner's credentials only."""
        self.internal.append((prefix, callback))

    def subscribe(self, link: Subscriber, topic: str) -> None:
        """Count one more subscription of ``link`` to the prefix ``topic``."""
        link.subs[topic] = link.subs.get(topic, 0) + 1
        self.subscribers.add(link)

    def unsubscribe(self, link: Subscriber, topic: str) -> None:
        """Drop one subscription of ``link`` to ``topic``; ENOENT if it has none."""
        subs = link.subs
        count = subs.get(topic)
        if count is None:
            raise RequestError(errno.ENOENT)
        if count > 1:
            subs[topic] = count - 1
        else:
            del subs[topic]
            if not subs:
                self.subscribers.discard(link)

    def forget(self, link: Subscriber) -> None:
        """``link`` is gone: drop all its subscriptions."""
        link.subs.clear()
        self.subscribers.discard(link)

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

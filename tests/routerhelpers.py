"""In-process helpers for unit tests of builtin broker services: a real
:class:`flux.broker.router.Router`, a peer that collects what it is sent, a
loop that runs ``call_soon`` callbacks when asked, and a request builder."""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Optional

from flux.broker.router import Router
from flux.broker.topology import Topology
from flux.constants import FLUX_MSGFLAG_ROUTE, FLUX_ROLE_LOCAL, FLUX_ROLE_OWNER, FLUX_ROLE_USER
from flux.message import Message

UID = os.getuid()
OWNER = FLUX_ROLE_OWNER | FLUX_ROLE_LOCAL
GUEST = FLUX_ROLE_USER | FLUX_ROLE_LOCAL


class FakePeer:
    """A client connection as the router sees it: responses land in ``sent``."""

    def __init__(self, uuid: str = "client-1") -> None:
        self.uuid = uuid
        self.sent: list[Message] = []

    def send(self, msg: Message) -> None:
        self.sent.append(msg)

    def take(self) -> list[Message]:
        out, self.sent = self.sent, []
        return out


class FakeLoop:
    """``call_soon``/``stop`` recorded; :meth:`drain` runs deferred callbacks."""

    def __init__(self) -> None:
        self.soon: list[Callable[[], Any]] = []
        self.stopped = False

    def call_soon(self, cb: Callable[[], Any]) -> None:
        self.soon.append(cb)

    def stop(self) -> None:
        self.stopped = True

    def drain(self, limit: int = 1000) -> int:
        """Run callbacks (and the ones they add) until none is left; returns how many."""
        n = 0
        while self.soon and n < limit:
            cb = self.soon.pop(0)
            cb()
            n += 1
        return n


def make_router() -> tuple[Router, FakePeer]:
    router = Router("b" * 32, Topology(), UID)
    peer = FakePeer()
    router.add_peer(peer)
    return router, peer


def request(topic: str, payload: Any = None, matchtag: int = 1, flags: int = 0,
            rolemask: int = OWNER, userid: int = UID, sender: str = "client-1",
            raw: Optional[bytes] = None) -> Message:
    """A request as the connector hands it to the router (sender's hop pushed)."""
    msg = Message()
    msg.topic = topic
    if raw is not None:
        msg.payload_bytes = raw
    elif payload is not None:
        msg.payload_bytes = json.dumps(payload).encode() + b"\0"
    msg.routes = [sender]
    msg.flags |= FLUX_MSGFLAG_ROUTE | flags
    msg.aux2 = matchtag
    msg.userid = userid
    msg.rolemask = rolemask
    return msg


def body(msg: Message) -> Any:
    """A response's JSON payload (None if it has none)."""
    data = msg.payload_bytes
    return json.loads(data[:-1]) if data else None


def error_text(msg: Message) -> Optional[str]:
    data = msg.payload_bytes
    return data[:-1].decode() if data else None

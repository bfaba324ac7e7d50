"""In-process pieces for the broker's unit tests (no broker process, no socket files).

``FakePeer`` (routerhelpers.py) keeps what it is sent; ``Parts`` builds a
router with its events, attributes and log the way the broker wires them,
with a fake connector C registered so that responses to ``[X, C]`` land in
``parts.connector.sent``.  ``client_request`` builds a request as the
connector hands it to the router; ``run_loop``/``run_until`` drive a real
:class:`flux.broker.loop.Loop` for a bounded time; ``PeerEnd`` is the far
end of a peer link's socketpair (what a client or a module process holds).
"""

from __future__ import annotations

import io
import os
import socket
import time
from typing import Any, Callable, Optional

from rawclient import request
from routerhelpers import FakePeer

from flux.broker.attrs import Attrs
from flux.broker.events import Events
from flux.broker.log import Log
from flux.broker.loop import Loop
from flux.broker.router import Router
from flux.broker.topology import Topology
from flux.codec import StreamDecoder, encode_stream
from flux.constants import FLUX_MSGFLAG_ROUTE, FLUX_ROLE_LOCAL, FLUX_ROLE_OWNER, FLUX_ROLE_USER
from flux.message import Message

OWNER = os.getuid()
OWNER_LOCAL = FLUX_ROLE_OWNER | FLUX_ROLE_LOCAL
GUEST_LOCAL = FLUX_ROLE_USER | FLUX_ROLE_LOCAL
BROKER_UUID = "b" * 36
CONNECTOR_UUID = "c" * 36
CLIENT_UUID = "x" * 36


class Parts:
    """Router + events + attrs + log, wired as broker.py does, plus a fake connector."""

    def __init__(self, rank: int = 0, size: int = 1, fake_connector: bool = True) -> None:
        self.topology = Topology(rank, size)
        self.router = Router(BROKER_UUID, self.topology, OWNER)
        self.attrs = Attrs()
        self.attrs.add("rank", str(rank))
        self.stderr = io.StringIO()
        self.log = Log(self.router, self.attrs, rank, stderr=self.stderr)
        self.attrs.register(self.router)
        self.events = Events(self.router)
        self.connector = FakePeer(CONNECTOR_UUID)
        if fake_connector:
            self.router.add_peer(self.connector)

    def rpc(self, topic: str, payload: Any = None, **kw: Any) -> list[Message]:
        """Send a client request through the router; return what reached the connector."""
        self.router.request(client_request(topic, payload, **kw))
        return self.connector.take()


def client_request(topic: str, payload: Any = None, matchtag: int = 1, flags: int = 0,
                   nodeid: Optional[int] = None, userid: int = OWNER,
                   rolemask: int = OWNER_LOCAL, sender: str = CLIENT_UUID) -> Message:
    """A request as the connector hands it to the router: stamped, ``[X, C]`` pushed."""
    msg = request(topic, payload, matchtag=matchtag, flags=flags, nodeid=nodeid)
    msg.userid = userid
    msg.rolemask = rolemask
    msg.routes = [sender, CONNECTOR_UUID]
    msg.flags |= FLUX_MSGFLAG_ROUTE
    return msg


def run_loop(loop: Loop, seconds: float = 0.02) -> None:
    """Run ``loop`` for about ``seconds``."""
    loop.call_later(seconds, loop.stop)
    loop.run()


def run_until(loop: Loop, cond: Callable[[], Any], timeout: float = 5.0) -> None:
    """Run ``loop`` in short slices until ``cond()`` is true (AssertionError after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        run_loop(loop, 0.01)


class PeerEnd:
    """The far end of a link's socketpair: reads the handshake byte, then messages."""

    def __init__(self, loop: Loop, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.loop = loop
        self.sock = sock
        self.decoder = StreamDecoder()
        self.inbox: list[Message] = []
        self.handshake = b""

    def _read(self) -> None:
        try:
            data = self.sock.recv(1 << 20)
        except BlockingIOError:
            return
        if data and not self.handshake:
            self.handshake, data = data[:1], data[1:]
        self.inbox.extend(self.decoder.feed(data))

    def wait_handshake(self) -> bytes:
        def arrived() -> bool:
            self._read()
            return bool(self.handshake)
        run_until(self.loop, arrived)
        return self.handshake

    def recv(self, count: int = 1) -> list[Message]:
        """Run the loop until ``count`` messages arrived here; return them."""
        def arrived() -> bool:
            self._read()
            return len(self.inbox) >= count
        run_until(self.loop, arrived)
        got, self.inbox = self.inbox[:count], self.inbox[count:]
        return got

    def send(self, msg: Message | bytes) -> None:
        self.sock.sendall(msg if isinstance(msg, bytes) else encode_stream(msg))

    def close(self) -> None:
        self.sock.close()

"""A raw ``local://`` client for broker tests, built on flux.codec only.

It does exactly what it is told (no matchtag pool, no credential stamping,
no ROUTE flag unless asked), so tests can put any bytes on the wire.
"""

from __future__ import annotations

import socket
import time
from typing import Any, Optional

from flux.codec import StreamDecoder, encode_stream
from flux.constants import (
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGTYPE_REQUEST,
)
from flux.message import Message

__all__ = ["RawClient", "request"]


def request(topic: str, payload: Any = None, matchtag: int = 1, flags: int = 0,
            nodeid: Optional[int] = None) -> Message:
    """A request the way libflux builds one (ROUTE set, no creds)."""
    msg = Message(FLUX_MSGTYPE_REQUEST)
    msg.flags |= FLUX_MSGFLAG_ROUTE | flags
    msg.topic = topic
    if isinstance(payload, (bytes, bytearray)):
        msg.payload_bytes = bytes(payload)
    elif payload is not None:
        msg.payload = payload
    msg.matchtag = matchtag
    if nodeid is not None:
        msg.nodeid = nodeid
    return msg


class RawClient:
    """connect, handshake byte, send(Message|bytes), recv(timeout) -> Message."""

    def __init__(self, uri_or_path: str, timeout: float = 5.0) -> None:
        path = uri_or_path[len("local://"):] if uri_or_path.startswith("local://") else uri_or_path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.handshake = self.sock.recv(1)
        self.decoder = StreamDecoder()
        self.pending: list[Message] = []
        self.timeout = timeout

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RawClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def send(self, msg: "Message | bytes") -> None:
        self.sock.sendall(msg if isinstance(msg, (bytes, bytearray)) else encode_stream(msg))

    def recv(self, timeout: Optional[float] = None) -> Message:
        """The next message; socket.timeout if none arrives in time, EOFError on close."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no message")
            self.sock.settimeout(left)
            data = self.sock.recv(1 << 20)
            if not data:
                raise EOFError("connection closed")
            self.pending.extend(self.decoder.feed(data))
        return self.pending.pop(0)

    def recv_raw(self, timeout: Optional[float] = None) -> bytes:
        """The next message's stream bytes exactly as the broker sent them."""
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        head = self._exact(8)
        return head + self._exact(int.from_bytes(head[4:8], "big"))

    def _exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            d = self.sock.recv(n - len(buf))
            if not d:
                raise EOFError("connection closed")
            buf += d
        return buf

    def rpc(self, topic: str, payload: Any = None, matchtag: int = 1, flags: int = 0,
            nodeid: Optional[int] = None, timeout: Optional[float] = None) -> Message:
        """Send a request and return the first message that answers it."""
        self.send(request(topic, payload, matchtag, flags, nodeid))
        while True:
            m = self.recv(timeout)
            if m.type == 2 and m.matchtag == matchtag:
                return m

    def stream(self, topic: str, payload: Any = None, matchtag: int = 1,
               timeout: Optional[float] = None) -> list[Message]:
        """A streaming RPC: every response up to and including the error that ends it."""
        self.send(request(topic, payload, matchtag, FLUX_MSGFLAG_STREAMING))
        out = []
        while True:
            m = self.recv(timeout)
            if m.type == 2 and m.matchtag == matchtag:
                out.append(m)
                if m.errnum:
                    return out

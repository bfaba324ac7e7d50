"""A minimal blocking ``local://`` client for the broker's own needs.

A starting broker asks its parent instance for ``instance-level`` with one
request.  That needs no full handle (reactor, futures, dispatch), and keeping
this tiny keeps broker start-up fast and independent of the client library.
"""

from __future__ import annotations

import errno
import os
import socket
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional

from flux.codec import StreamDecoder, encode_stream
from flux.constants import FLUX_MSGFLAG_ROUTE, FLUX_MSGTYPE_REQUEST, FLUX_MSGTYPE_RESPONSE
from flux.message import Message, encode_json

__all__ = ["SimpleClient", "uri_path"]


def uri_path(uri: str) -> str:
    """The socket path of a ``local://`` URI (OSError EINVAL for other schemes)."""
    if not uri.startswith("local://"):
        raise OSError(errno.EINVAL, f"unsupported URI {uri!r}")
    return uri[len("local://"):]


class SimpleClient:
    """Connect, read the handshake byte, send requests, read responses."""

    def __init__(self, uri: str, timeout: Optional[float] = 5.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(uri_path(uri))
            hs = self.sock.recv(1)
        except BaseException:
            self.sock.close()
            raise
        if hs != b"\x00":
            self.sock.close()
            raise OSError(hs[0] if hs else errno.ECONNRESET,
                          os.strerror(hs[0] if hs else errno.ECONNRESET))
        self.decoder = StreamDecoder()
        self.pending: list[Message] = []
        self.tag = 0

    def __enter__(self) -> "SimpleClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.sock.close()

    def recv(self) -> Message:
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                raise OSError(errno.ECONNRESET, "connection closed by the broker")
            self.pending.extend(self.decoder.feed(data))
        return self.pending.pop(0)

    def rpc(self, topic: str, payload: Any = None) -> Any:
        """Send one request, return the decoded JSON reply (or None); errors raise OSError."""
        self.tag += 1
        msg = Message(FLUX_MSGTYPE_REQUEST)
        msg.flags |= FLUX_MSGFLAG_ROUTE
        msg.topic = topic
        if payload is not None:
            msg.payload_bytes = encode_json(payload)  # as the broker writes JSON: compact
        msg.matchtag = self.tag
        self.sock.sendall(encode_stream(msg))
        while True:
            resp = self.recv()
            if resp.type == FLUX_MSGTYPE_RESPONSE and resp.matchtag == self.tag:
                break
        if resp.errnum:
            raise OSError(resp.errnum, resp.payload_str or os.strerror(resp.errnum))
        return resp.payload if resp.payload_bytes else None

"""The ZAP handler (RFC 27 of ZeroMQ) that admits CURVE clients by public key.

libzmq asks it, over ``inproc://zeromq.zap.01`` in the overlay's context,
whether a peer completing a CURVE handshake may connect.  It answers on the
broker's loop (the socket's FD in the poll set), not in a thread: 200 for a
public key that bootstrap authorized, 400 for anything else, as flux-core's
``libzmqutil/zap.c``.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import zmq
from zmq.utils import z85

from . import zsock

__all__ = ["ZapHandler", "ZAP_ENDPOINT"]

ZAP_ENDPOINT = "inproc://zeromq.zap.01"


class ZapHandler:
    """Answers ZAP requests; ``keys`` maps a Z85 public key to the peer's name."""

    def __init__(self, ctx: zmq.Context, log: Optional[Callable[[str], Any]] = None) -> None:
        self.keys: dict[bytes, str] = {}
        self.log = log
        self.sock = ctx.socket(zmq.REP)
        self.sock.linger = 0
        self.sock.bind(ZAP_ENDPOINT)
        self.denied = 0

    def authorize(self, name: str, pubkey: bytes | str) -> None:
        key = pubkey.encode() if isinstance(pubkey, str) else pubkey
        self.keys[key] = name

    def fd(self) -> int:
        return zsock.fd(self.sock)

    def process(self) -> None:
        """Answer every queued request."""
        sock = self.sock
        while zsock.readable(sock):
            try:
                parts = zsock.recv_parts(sock)
            except zmq.Again:
                return
            zsock.send_parts(sock, self.answer(parts))

    def answer(self, parts: list[bytes]) -> list[bytes]:
        if len(parts) < 6:
            return [b"1.0", parts[1] if len(parts) > 1 else b"", b"500", b"bad request", b"", b""]
        version, request_id, _domain, _address, _identity, mechanism = parts[:6]
        name = None
        if version == b"1.0" and mechanism == b"CURVE" and len(parts) >= 7:
            name = self.keys.get(z85.encode(parts[6]))
        if name is None:
            self.denied += 1
            if self.log is not None:
                self.log(f"overlay auth {mechanism.decode(errors='replace')}: denied")
            return [b"1.0", request_id, b"400", b"No access", b"", b""]
        return [b"1.0", request_id, b"200", b"OK", name.encode(), b""]

    def close(self) -> None:
        self.sock.close(0)

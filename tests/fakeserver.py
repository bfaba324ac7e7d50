"""A fake Flux server on the far end of an ``fd://`` handle, for client tests without a broker.

``FakeServer().h`` is a real ``flux.Flux`` handle; each request it sends is recorded
and answered from ``server.answer(topic, payload)``: a list of ``(errnum, payload)``
responses (payload a dict, an error text, or None), none for a NORESPONSE request.
"""

from __future__ import annotations

import errno
import socket
import threading

import flux
from flux.codec import StreamDecoder, encode_stream
from flux.constants import FLUX_MSGFLAG_NORESPONSE
from flux.message import encode_json
from flux.response import derive_response, error_payload

__all__ = ["FakeServer"]


class FakeServer:
    """See the module docstring."""

    def __init__(self) -> None:
        self.requests: list = []
        self.answer = lambda topic, payload: [(errno.ENOSYS, None)]
        self.lock = threading.Condition()
        mine, theirs = socket.socketpair()
        self.sock = mine
        self.sock.sendall(b"\0")
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        self.h = flux.Flux(f"fd://{theirs.detach()}")

    def _serve(self) -> None:
        decoder = StreamDecoder()
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            for msg in decoder.feed(data):
                with self.lock:
                    self.requests.append(msg)
                    self.lock.notify_all()
                payload = msg.payload_json() if msg.payload_bytes else None
                answers = self.answer(msg.topic, payload)
                if msg.flags & FLUX_MSGFLAG_NORESPONSE:
                    continue
                for errnum, body in answers:
                    if errnum:
                        raw = error_payload(body)
                    else:
                        raw = None if body is None else encode_json(body)
                    self.sock.sendall(encode_stream(derive_response(msg, errnum, raw)))

    def sent(self, topic: str | None = None) -> list:
        """The requests received so far (those of ``topic`` only, if given)."""
        with self.lock:
            return [m for m in self.requests if topic is None or m.topic == topic]

    def wait_count(self, count: int) -> None:
        """Until ``count`` requests have arrived (for those sent without waiting)."""
        with self.lock:
            assert self.lock.wait_for(lambda: len(self.requests) >= count, 5)

    def last(self):
        return self.sent()[-1]

    def close(self) -> None:
        self.h._close()
        self.sock.close()
        self.thread.join(5)

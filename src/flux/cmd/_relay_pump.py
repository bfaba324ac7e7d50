"""Byte pumps between a client and a broker connection (``flux relay``, ``flux proxy``).

Past the handshake byte, a relayed connection carries the broker's stream
framing unchanged in both directions, so a pump moves bytes, not messages: the
broker sees the relaying process's credentials, as flux-core's relay and proxy
present their own.  Every descriptor is non-blocking with a bounded buffer per
direction, so a peer that stops reading stalls only its own session.
"""

from __future__ import annotations

import errno
import os
import select
from typing import Callable, Optional

_CHUNK = 1 << 16
_CAP = 4 << 20  # stop reading a side while this much waits to be written to the other


class _Direction:
    __slots__ = ("src", "dst", "buf", "eof")

    def __init__(self, src: int, dst: int) -> None:
        self.src = src
        self.dst = dst
        self.buf = bytearray()
        self.eof = False


class Session:
    """Two directions between side A (``a_in``/``a_out``) and side B; ends on EOF or error."""

    def __init__(self, a_in: int, a_out: int, b_in: int, b_out: int,
                 on_end: Callable[["Session", str], None]) -> None:
        self.dirs = (_Direction(a_in, b_out), _Direction(b_in, a_out))
        self.on_end = on_end
        self.ended = False
        for fd in {a_in, a_out, b_in, b_out}:
            os.set_blocking(fd, False)

    def fds(self) -> set[int]:
        return {fd for d in self.dirs for fd in (d.src, d.dst)}


class Pump:
    """A poll loop over sessions and plain readable-callbacks (listening sockets, pidfds)."""

    def __init__(self) -> None:
        self.sessions: list[Session] = []
        self.readers: dict[int, Callable[[], None]] = {}

    def add_reader(self, fd: int, callback: Callable[[], None]) -> None:
        self.readers[fd] = callback

    def remove_reader(self, fd: int) -> None:
        self.readers.pop(fd, None)

    def add_session(self, a_in: int, a_out: int, b_in: int, b_out: int,
                    on_end: Callable[[Session, str], None]) -> Session:
        session = Session(a_in, a_out, b_in, b_out, on_end)
        self.sessions.append(session)
        return session

    def end(self, session: Session, why: str) -> None:
        """Stop pumping ``session`` and tell its owner (who closes the descriptors)."""
        if session.ended:
            return
        session.ended = True
        self.sessions.remove(session)
        session.on_end(session, why)

    def run_once(self, timeout: Optional[float]) -> None:
        masks: dict[int, int] = {}
        for fd in self.readers:
            masks[fd] = masks.get(fd, 0) | select.POLLIN
        for s in self.sessions:
            for d in s.dirs:
                if not d.eof and len(d.buf) < _CAP:
                    masks[d.src] = masks.get(d.src, 0) | select.POLLIN
                if d.buf:
                    masks[d.dst] = masks.get(d.dst, 0) | select.POLLOUT
        poller = select.poll()
        for fd, mask in masks.items():
            poller.register(fd, mask)
        ms = -1 if timeout is None else max(0, int(timeout * 1000))
        try:
            ready = dict(poller.poll(ms))
        except InterruptedError:
            return
        for fd, cb in list(self.readers.items()):
            if fd in ready and fd in self.readers:
                cb()
        for s in list(self.sessions):
            if not s.ended:
                self._service(s, ready)

    def _service(self, s: Session, ready: dict[int, int]) -> None:
        for d in s.dirs:
            rev = ready.get(d.src, 0)
            if not d.eof and rev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                try:
                    data = os.read(d.src, _CHUNK)
                except (BlockingIOError, InterruptedError):
                    data = None
                except OSError as exc:
                    if exc.errno not in (errno.ECONNRESET, errno.EPIPE):
                        self.end(s, exc.strerror or "read error")
                        return
                    data = b""
                if data == b"":
                    d.eof = True
                elif data:
                    d.buf += data
            if d.buf:
                try:
                    n = os.write(d.dst, d.buf)
                    del d.buf[:n]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as exc:
                    self.end(s, exc.strerror or "write error")
                    return
            if d.eof and not d.buf:
                # one side is gone: what it sent is delivered, the session is over
                self.end(s, "eof")
                return

"""Stream connections to a broker: ``local://PATH``, ``fd://N`` (and ``ssh://``, in ssh.py).

Moves encoded messages only; :mod:`flux.codec` does the bytes.  The socket
stays blocking for writes (``sendall``) and is read with ``MSG_DONTWAIT``, so
one descriptor serves both the blocking API and the reactor.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import time
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

from flux.codec import ProtocolError, StreamDecoder, encode_stream
from flux.message import Message

_DONTWAIT = socket.MSG_DONTWAIT
_perf_counter = time.perf_counter
_READ_SIZE = 1 << 18

# Spin on a non-blocking read this long before sleeping in poll(): the reply
# to a request usually arrives within tens of microseconds, and waking a
# sleeping process costs about as much (DESIGN.md, "Where the time goes").
SPIN_SECONDS = float(os.environ.get("FLUX_HANDLE_SPIN_US", "150")) / 1e6
# "adaptive" (default): spin only while it pays -- a client after a wait answered within
# the window, the broker's loop and module processes after SPIN_STREAK quick arrivals
# in a row; "always": after every wake-up.  docs/architecture.md "Waiting strategy".
SPIN_POLICY = os.environ.get("FLUX_SPIN_POLICY", "adaptive")
_ADAPTIVE = SPIN_POLICY != "always"
SPIN_STREAK = 3
#: an answer that came sooner than this after a blocking wait makes the next wait spin:
#: longer than the spin itself, since the wake-up it costs is part of what is measured
#: (a request/reply loop with some work on each side would otherwise never spin again)
QUICK_SECONDS = 0.001
try:
    from os import sched_yield as _sched_yield
except ImportError:  # pragma: no cover - not on every platform; unused then (_YIELD)
    _YIELD = False
else:
    _YIELD = os.environ.get("FLUX_HANDLE_SPIN_YIELD", "1") != "0"


class ConnectionLost(OSError):
    """The broker closed the connection."""


class Connection:
    """One stream connection, after the broker's handshake byte."""

    _quick = True  # the last wait was answered within SPIN_SECONDS (also for subclasses)
    #: :meth:`send_bytes` takes stream bytes (a connection that moves Messages says False)
    sends_bytes = True

    def __init__(self, sock: socket.socket, uri: str) -> None:
        self.sock = sock
        self.uri = uri
        self.decoder = StreamDecoder()
        self.closed = False
        self.eof = False
        self._fd = sock.fileno()
        # recv(N) allocates an N-byte object per call (an mmap/munmap at this
        # size); receiving into one reusable buffer copies only what arrived.
        self._rbuf = bytearray(_READ_SIZE)
        self._rview = memoryview(self._rbuf)
        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLIN)

    def fileno(self) -> int:
        return self._fd

    def _recv(self, flags: int = 0) -> bytes:
        n = self.sock.recv_into(self._rbuf, _READ_SIZE, flags)
        return bytes(self._rview[:n])

    def send(self, msg: Message) -> None:
        if self.closed or self.eof:
            raise OSError(errno.ECONNRESET, os.strerror(errno.ECONNRESET))
        try:
            self.sock.sendall(encode_stream(msg))
        except (BrokenPipeError, ConnectionResetError):
            self.eof = True
            raise OSError(errno.ECONNRESET, os.strerror(errno.ECONNRESET)) from None

    def send_bytes(self, data: bytes) -> None:
        """Send bytes already in the stream framing (flux.codec.fill_template)."""
        if self.closed or self.eof:
            raise OSError(errno.ECONNRESET, os.strerror(errno.ECONNRESET))
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            self.eof = True
            raise OSError(errno.ECONNRESET, os.strerror(errno.ECONNRESET)) from None

    def read_nowait(self) -> list[Message]:
        """Read whatever has arrived; return the whole messages in it.

        Raises :class:`ConnectionLost` at end of stream and
        :class:`~flux.codec.ProtocolError` on garbage.
        """
        if self.eof:
            raise ConnectionLost(errno.ECONNRESET, "Connection to the broker was lost")
        try:
            data = self._recv(_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return []
        except ConnectionResetError:
            data = b""
        return self._decode(data)

    def _decode(self, data: bytes) -> list[Message]:
        """The whole messages in ``data`` and in whatever else is already waiting."""
        if not data:
            self.eof = True
            raise ConnectionLost(errno.ECONNRESET, "Connection to the broker was lost")
        msgs = self.decoder.feed(data)
        while len(data) == _READ_SIZE:
            try:
                data = self._recv(_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            if not data:
                self.eof = True
                break
            msgs.extend(self.decoder.feed(data))
        return msgs

    def read_wait(self) -> list[Message]:
        """Block (no timeout) until at least one whole message has arrived.

        Polls (``poll(0)`` + ``sched_yield``, as :meth:`wait_readable`) for SPIN_SECONDS
        when :meth:`_spin_now` says it pays, then reads with a blocking ``recv``: at once
        if the poll saw data, else sleeping in it (one system call, not poll + recv).
        Spinning on a non-blocking ``recv`` instead costs an exception per empty try
        (0.8 µs against 0.26 for ``poll(0)`` here): round trips measured 2-3 % slower.
        (The hot path of a synchronous ``get()``: the reads are written out here.)
        """
        recv_into = self.sock.recv_into
        rbuf = self._rbuf
        while True:
            if self.eof:
                raise ConnectionLost(errno.ECONNRESET, "Connection to the broker was lost")
            spin = SPIN_SECONDS
            start = 0.0
            if spin > 0:  # with no window at all, nothing to time or decide
                start = _perf_counter()
                if self._quick or not _ADAPTIVE:
                    end = start + spin
                    poll = self._poll.poll
                    while not poll(0):
                        if _perf_counter() >= end:
                            break
                        if _YIELD:
                            _sched_yield()
            try:
                n = recv_into(rbuf, _READ_SIZE)
            except ConnectionResetError:
                n = 0
            if spin > 0:
                self._quick = _perf_counter() - start < QUICK_SECONDS
            if 0 < n < _READ_SIZE:  # all there was (the usual answer): no more to read
                msgs = self.decoder.feed(bytes(self._rview[:n]))
            else:
                msgs = self._decode(bytes(self._rview[:n]))
            if msgs:
                return msgs

    def _spin_now(self) -> bool:
        """Whether to poll before sleeping: with the adaptive policy only when the last
        wait was answered within the window (a slow service or a trickle costs no spin)."""
        return SPIN_SECONDS > 0 and (self._quick or not _ADAPTIVE)

    def wait_readable(self, timeout: Optional[float], spin: bool = True) -> bool:
        """Wait until data (or EOF) can be read; False on timeout."""
        window = SPIN_SECONDS
        if window <= 0:
            ms = -1 if timeout is None else max(0, int(timeout * 1000 + 0.999))
            return bool(self._poll.poll(ms))
        start = time.perf_counter()
        if spin and (self._quick or not _ADAPTIVE) and (timeout is None or timeout > 0):
            end = start + window
            poll = self._poll.poll
            while True:
                if poll(0):
                    self._quick = True
                    return True
                if time.perf_counter() >= end:
                    break
                if _YIELD:
                    # let the broker run if it waits for this CPU (a busy
                    # machine); returns at once when nothing else is runnable
                    _sched_yield()
        ms = -1 if timeout is None else max(0, int(timeout * 1000 + 0.999))
        ready = bool(self._poll.poll(ms))
        self._quick = ready and time.perf_counter() - start < QUICK_SECONDS
        return ready

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass


def handshake(sock: socket.socket) -> None:
    """Read the broker's (or a relay's) one handshake byte: 0, or an errno."""
    try:
        byte = sock.recv(1)
    except ConnectionResetError:
        byte = b""
    if not byte:
        raise OSError(errno.ECONNRESET, os.strerror(errno.ECONNRESET))
    if byte[0] != 0:
        raise OSError(byte[0], os.strerror(byte[0]))


def _connect_local(path: str, uri: str) -> Connection:
    retries = int(os.environ.get("FLUX_LOCAL_CONNECTOR_RETRY_COUNT", "5"))
    delay = 0.016
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            break
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            sock.close()
            if retries <= 0:
                raise OSError(exc.errno, f"{exc.strerror}: {path}") from None
            retries -= 1
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, f"{os.strerror(exc.errno or errno.EINVAL)}: {path}") from None
    try:
        handshake(sock)
    except OSError:
        sock.close()
        raise
    return Connection(sock, uri)


def _connect_fd(text: str, uri: str) -> Connection:
    try:
        fd = int(text)
    except ValueError:
        raise OSError(errno.EINVAL, f"invalid fd:// URI: {uri}") from None
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise OSError(exc.errno or errno.EBADF, f"{uri}: {os.strerror(exc.errno or errno.EBADF)}") from None
    sock.setblocking(True)
    handshake(sock)
    return Connection(sock, uri)


def connect(uri: str) -> Connection:
    """Open ``uri`` (``local://PATH``, ``fd://N``, ``ssh://...`` or ``loop://``)."""
    if uri.startswith("local://"):
        return _connect_local(uri[len("local://"):], uri)
    if uri.startswith("fd://"):
        return _connect_fd(uri[len("fd://"):], uri)
    if uri.startswith("ssh://"):
        from flux.core.ssh import connect_ssh

        return connect_ssh(uri)
    if uri.startswith("loop://"):
        from flux.core.loopback import LoopConnection

        return LoopConnection(uri)
    scheme = uri.split("://", 1)[0] if "://" in uri else uri
    raise OSError(errno.EINVAL, f"unsupported connector scheme '{scheme}'")


__all__ = ["Connection", "ConnectionLost", "ProtocolError", "connect", "handshake", "SPIN_SECONDS"]

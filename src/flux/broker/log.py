"""The broker log: ``log.append`` records in a ring buffer, ``log.dmesg``.

Records are kept exactly as clients send them (RFC 5424 style text,
``<PRI>1 TIMESTAMP HOSTNAME APPNAME PROCID - - MESSAGE`` with PRI =
severity*8), so dmesg returns them byte for byte.  Records at or below
``log-stderr-level`` are also printed on the broker's stderr in flux-core's
human format.

In an instance of many brokers, a rank other than 0 passes each record at or
below ``log-forward-level`` to its parent (``log.append`` UPSTREAM, no
response, as flux-core's broker does), so rank 0's ring holds every rank's
records and ``flux dmesg`` there shows them all (flux-core keeps only rank 0's
own in the ring; the default level here, debug, forwards everything).  Only
rank 0 echoes on stderr in ``leader`` mode, except critical records.
"""

from __future__ import annotations

import errno
import os
import sys
import time
from collections import deque
from datetime import datetime, timezone
from typing import Callable, Optional, TextIO

from flux.constants import FLUX_MSGFLAG_STREAMING, FLUX_ROLE_LOCAL
from flux.message import Message
from flux.severity import LOG_DEBUG, LOG_ERR, LOG_NOTICE
from flux.severity import name as severity_name

from .attrs import Attrs
from .router import RequestError, Router, from_sender

__all__ = ["Log", "format_record", "make_record", "record_fields"]


def make_record(severity: int, appname: str, text: str, hostname: str = "0",
                pid: Optional[int] = None, now: Optional[float] = None) -> bytes:
    """One log record as ``flux_log`` builds it (no NUL)."""
    t = time.time() if now is None else now
    stamp = datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    pid = os.getpid() if pid is None else pid
    return f"<{severity * 8}>1 {stamp} {hostname} {appname[:48]} {pid} - - {text}".encode()


def _severity(record: bytes) -> int:
    if record[:1] == b"<":
        end = record.find(b">", 1, 6)
        if end > 1:
            try:
                return min(LOG_DEBUG, int(record[1:end]) >> 3)
            except ValueError:
                pass
    return LOG_NOTICE  # for records we cannot parse


def record_fields(record: bytes) -> Optional[tuple[int, str, str, str]]:
    """``(severity, hostname, appname, text)`` of a record, None if it is not one."""
    parts = record.decode("utf-8", "replace").split(" ", 7)
    if len(parts) < 8 or not parts[0].startswith("<"):
        return None
    return _severity(record), parts[2], parts[3], parts[7]


def format_record(record: bytes) -> str:
    """``Nov 23 14:30:49.235180 UTC 2026 logger.err[0]: hello world``."""
    text = record.decode("utf-8", "replace")
    parts = text.split(" ", 7)
    if len(parts) < 8 or not parts[0].startswith("<"):
        return text
    sev = severity_name(_severity(record))
    try:
        dt = datetime.strptime(parts[1], "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        dt = datetime.now(timezone.utc).replace(tzinfo=None)
    stamp = dt.strftime("%b %d %H:%M:%S") + f".{dt.microsecond:06d} UTC {dt.year}"
    return f"{stamp} {parts[3]}.{sev}[{parts[2]}]: {parts[7]}"


class Log:
    """Ring buffer, followers, stderr echo, and the ``log`` service."""

    def __init__(self, router: Router, attrs: Attrs, rank: int = 0,
                 stderr: Optional[TextIO] = None) -> None:
        self.router = router
        self.rank = rank
        self.stderr = stderr if stderr is not None else sys.stderr
        self.ring: deque[bytes] = deque(maxlen=1024)
        self.followers: list[Message] = []
        #: the broker's own followers (``flux shutdown``'s stream): called with each record
        self.taps: list[Callable[[bytes], None]] = []
        self.count = 0
        self.stderr_level = LOG_ERR
        self.level = LOG_DEBUG
        self.forward_level = LOG_DEBUG
        self.remote = 0
        #: set on ranks > 0: hands a record to the parent's log service (False: it
        #: could not, there is no parent to hear it)
        self.forward: Optional[Callable[[bytes], bool]] = None
        attrs.add("log-ring-size", "1024", setter=self._set_ring_size)
        attrs.add("log-stderr-level", str(LOG_ERR), setter=self._set_stderr_level)
        attrs.add("log-level", str(LOG_DEBUG), setter=self._set_level)
        attrs.add("log-stderr-mode", "leader")
        attrs.add("log-forward-level", str(LOG_DEBUG), setter=self._set_forward_level)
        svc = router.builtin("log")
        svc.method("append", self._append)
        svc.method("dmesg", self._dmesg)
        svc.method("cancel", self._cancel)
        svc.method("disconnect", self._disconnect)
        svc.method("clear", self._clear)
        svc.method("stats-get", self._stats)

    # -- attribute setters ---------------------------------------------------------

    @staticmethod
    def _level(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise ValueError(f"invalid log level {value!r}") from None
        if not -1 <= n <= LOG_DEBUG:
            raise ValueError(f"log level out of range: {n}")
        return n

    def _set_ring_size(self, value: str) -> None:
        try:
            n = int(value)
        except ValueError:
            raise ValueError(f"invalid ring size {value!r}") from None
        if n < 1:
            raise ValueError("ring size must be positive")
        self.ring = deque(self.ring, maxlen=n)

    def _set_stderr_level(self, value: str) -> None:
        self.stderr_level = self._level(value)

    def _set_forward_level(self, value: str) -> None:
        self.forward_level = self._level(value)

    def _set_level(self, value: str) -> None:
        self.level = self._level(value)

    # -- recording ---------------------------------------------------------------------

    def log(self, severity: int, text: str, appname: str = "broker") -> None:
        """Log one of the broker's own messages."""
        for line in text.splitlines() or [""]:
            self.append(make_record(severity, appname, line, hostname=str(self.rank)))

    def append(self, record: bytes) -> None:
        severity = _severity(record)
        if severity > self.level:
            return
        self.count += 1
        self.ring.append(record)
        if self.forward is not None:
            sent = severity <= self.forward_level and self.forward(record)
            # rank 0 echoes what it receives (leader mode); what cannot reach it
            # (no parent yet, or lost) is echoed here
            echo = severity <= 2 or (not sent and severity <= self.stderr_level)
        else:
            echo = severity <= self.stderr_level
        if echo:
            try:
                print(format_record(record), file=self.stderr, flush=True)
            except (OSError, ValueError):
                pass
        if self.followers:
            data = record + b"\0"
            for req in self.followers:
                self.router.respond(req, data)
        for tap in list(self.taps):
            tap(record)

    # -- service methods ------------------------------------------------------------------

    def _append(self, msg: Message) -> None:
        record = msg.payload_bytes
        if record:
            if not msg.rolemask & FLUX_ROLE_LOCAL:  # from another broker
                self.remote += 1
            self.append(record.rstrip(b"\r\n\0"))
        if msg.aux2:
            self.router.respond(msg)

    def _dmesg(self, msg: Message) -> None:
        if not msg.flags & FLUX_MSGFLAG_STREAMING:
            raise RequestError(errno.EPROTO)
        obj = msg.payload_json()
        follow = obj.get("follow", False)
        nobacklog = obj.get("nobacklog", False)
        if not isinstance(follow, bool) or not isinstance(nobacklog, bool):
            raise RequestError(errno.EPROTO)
        respond = self.router.respond
        if not nobacklog:
            for record in list(self.ring):
                respond(msg, record + b"\0")
        if follow:
            self.followers.append(msg)
        else:
            self.router.respond_error(msg, errno.ENODATA)

    def _cancel(self, msg: Message) -> None:
        obj = msg.payload_json()
        tag = obj.get("matchtag")
        if not isinstance(tag, int):
            raise RequestError(errno.EPROTO)
        for req in list(self.followers):
            if req.aux2 == tag and from_sender(req, msg):
                self.followers.remove(req)
                self.router.respond_error(req, errno.ENODATA)
        self.router.respond(msg)

    def _disconnect(self, msg: Message) -> None:
        self.followers = [r for r in self.followers if not from_sender(r, msg)]

    def _clear(self, msg: Message) -> None:
        self.ring.clear()
        self.router.respond(msg)

    def _stats(self, msg: Message) -> None:
        self.router.respond(msg, {"ring-used": len(self.ring), "count": self.count,
                                  "local": self.count - self.remote, "remote": self.remote})

"""The broker log: ``log.append`` records in a ring buffer, ``log.dmesg``.

Records are kept exactly as clients send them (RFC 5424 style text,
``<PRI>1 TIMESTAMP HOSTNAME APPNAME PROCID - - MESSAGE`` with PRI =
severity*8), so dmesg returns them byte for byte.  Records at or below
``log-stderr-level`` are also printed on the broker's stderr in flux-core's
human format.

In an instance of many brokers, a rank other than 0 passes each record at or
below ``log-forward-level`` to its parent (``log.append`` UPSTREAM, no
response, as flux-core's broker does), so rank 0's ring holds every rank's
records and ``flux dmesg`` there shows them (flux-core keeps only rank 0's own
in the ring, and forwards up to err).  The default here, notice, forwards what
``flux logger`` writes and every warning and error; each broker's routine info
and debug records (its state changes: eight each in a start and stop, 60% of
rank 0's traffic as 16 brokers start) stay on its rank; ``-S
log-forward-level=7`` forwards everything.  Only
rank 0 echoes on stderr in ``leader`` mode (the default), except critical
records (``log-critical-level``), which each broker prints itself.  In
``local`` mode each broker prints its own records, in flux-core's form for
systemd's journal (``<3>broker.err[1]: ...``), and rank 0 only its own.
"""

from __future__ import annotations

import errno
import os
import sys
import time
from collections import deque
from typing import Callable, Optional, TextIO

from flux.constants import FLUX_MSGFLAG_STREAMING, FLUX_ROLE_LOCAL
from flux.message import Message
from flux.severity import LOG_CRIT, LOG_DEBUG, LOG_ERR, LOG_NOTICE
from flux.severity import name as severity_name

from .attrs import Attrs
from .router import RequestError, Router, from_sender

__all__ = ["Log", "format_record", "make_record", "record_fields"]


def make_record(severity: int, appname: str, text: str, hostname: str = "0",
                pid: Optional[int] = None, now: Optional[float] = None) -> bytes:
    """One log record as ``flux_log`` builds it (no NUL)."""
    t = time.time() if now is None else now
    # time, not datetime: every broker makes records, and datetime costs each
    # start-up ~2 ms of imports
    whole = int(t)
    micro = round((t - whole) * 1e6)
    if micro == 1000000:
        whole, micro = whole + 1, 0
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micro:06d}Z"
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


def record_fields(record: bytes) -> Optional[tuple[int, str, str, str, str]]:
    """``(severity, timestamp, hostname, appname, text)`` of a record, None if it is
    not one."""
    parts = record.decode("utf-8", "replace").split(" ", 7)
    if len(parts) < 8 or not parts[0].startswith("<"):
        return None
    return _severity(record), parts[1], parts[2], parts[3], parts[7]


def format_record(record: bytes, local: bool = False) -> str:
    """``Nov 23 14:30:49.235180 UTC 2026 logger.err[0]: hello world``; with
    ``local`` (``log-stderr-mode=local``), flux-core's form for systemd's journal:
    ``<3>logger.err[0]: hello world``."""
    fields = record_fields(record)
    if fields is None:
        return record.decode("utf-8", "replace")
    severity, timestamp, hostname, appname, text = fields
    sev = severity_name(severity)
    if local:
        return f"<{severity}>{appname}.{sev}[{hostname}]: {text}"
    from datetime import datetime, timezone  # only where records are printed

    try:
        dt = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        dt = datetime.now(timezone.utc).replace(tzinfo=None)
    stamp = dt.strftime("%b %d %H:%M:%S") + f".{dt.microsecond:06d} UTC {dt.year}"
    return f"{stamp} {appname}.{sev}[{hostname}]: {text}"


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
        self.critical_level = LOG_CRIT
        self.local_mode = False  # log-stderr-mode: leader (rank 0 prints every rank's) or local
        self.level = LOG_DEBUG
        self.forward_level = LOG_NOTICE
        self.remote = 0
        #: set on ranks > 0: hands a record to the parent's log service (False: it
        #: could not, there is no parent to hear it)
        self.forward: Optional[Callable[[bytes], bool]] = None
        attrs.add("log-ring-size", "1024", setter=self._set_ring_size)
        attrs.add("log-stderr-level", str(LOG_ERR), setter=self._set_stderr_level)
        attrs.add("log-level", str(LOG_DEBUG), setter=self._set_level)
        attrs.add("log-stderr-mode", "leader", setter=self._set_stderr_mode)
        attrs.add("log-critical-level", str(LOG_CRIT), setter=self._set_critical_level)
        attrs.add("log-forward-level", str(LOG_NOTICE), setter=self._set_forward_level)
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

    def _set_critical_level(self, value: str) -> None:
        self.critical_level = self._level(value)

    def _set_stderr_mode(self, value: str) -> None:
        if value not in ("leader", "local"):
            raise ValueError(f"invalid mode {value!r} (leader or local)")
        self.local_mode = value == "local"

    def _set_forward_level(self, value: str) -> None:
        self.forward_level = self._level(value)

    def _set_level(self, value: str) -> None:
        self.level = self._level(value)

    # -- recording ---------------------------------------------------------------------

    def log(self, severity: int, text: str, appname: str = "broker") -> None:
        """Log one of the broker's own messages."""
        for line in text.splitlines() or [""]:
            self.append(make_record(severity, appname, line, hostname=str(self.rank)))

    def append(self, record: bytes, remote: bool = False) -> None:
        """Keep one record; ``remote``: another broker's, forwarded here."""
        severity = _severity(record)
        if severity > self.level:
            return
        self.count += 1
        self.ring.append(record)
        echo = severity <= self.critical_level and not remote
        if self.local_mode:  # each broker prints its own records itself
            echo = echo or (severity <= self.stderr_level and not remote)
        if self.forward is not None:
            sent = severity <= self.forward_level and self.forward(record)
            # in leader mode rank 0 prints what it receives; what cannot reach it
            # (no parent yet, or lost) is printed here
            echo = echo or (not self.local_mode and not sent and severity <= self.stderr_level)
        elif not self.local_mode:
            echo = echo or severity <= self.stderr_level
        if echo:
            try:
                # one write: brokers of one instance often share the descriptor
                self.stderr.write(format_record(record, self.local_mode) + "\n")
                self.stderr.flush()
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
            remote = not msg.rolemask & FLUX_ROLE_LOCAL  # from another broker
            if remote:
                self.remote += 1
            self.append(record.rstrip(b"\r\n\0"), remote)
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

"""``job-info.eventlog-watch`` of a ``guest.*`` path: where the eventlog is depends on
how far the job is, read from its main eventlog (flux-core's guest watch):

* not started yet (no ``start`` event): follow the main eventlog until ``start``
  (the job's namespace ``job-<id>`` then exists), or its end (ENODATA);
* started: follow the path in the job's namespace; when the namespace is removed
  (kvs-watch answers ENOTSUP: its content was copied to ``job.<id>.guest``),
  go on from the main namespace;
* released (``release`` with ``final``): read ``job.<id>.guest.<path>`` in the
  main namespace, sending only what was not sent from the job's namespace.
"""

from __future__ import annotations

import errno
import json

from flux.constants import (
    FLUX_KVS_STREAM,
    FLUX_KVS_WAITCREATE,
    FLUX_KVS_WATCH,
    FLUX_KVS_WATCH_APPEND,
    FLUX_KVS_WATCH_INITIAL_SENTINEL,
)
from flux.job.kvs import kvs_key
from flux.services.job_info.keys import guest_namespace

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from flux.message import Message
    from flux.services.job_info.service import JobInfoService, _Watch

__all__ = ["GuestWatch", "whole_lines"]

_WAITCREATE, _INITIAL_SENTINEL = 1, 2  # the request's flags (RFC 41)


def whole_lines(text: str) -> list[str]:
    """The lines of ``text`` (whole lines: each ends with a newline)."""
    lines = text.split("\n")
    lines.pop()  # the "" after the last newline
    return [line + "\n" for line in lines]


def _status(eventlog: str) -> tuple[bool, bool]:
    """(started, released) from a main eventlog's text."""
    started = released = False
    for line in eventlog.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            raise OSError(errno.EINVAL, "invalid eventlog") from None
        name = entry.get("name") if isinstance(entry, dict) else None
        if name == "start":
            started = True
        elif name == "release":
            context = entry.get("context")
            if isinstance(context, dict) and context.get("final") is True:
                released = True
    return started, released


class GuestWatch:
    """One client's watch of a guest eventlog, moving between the places it is read."""

    def __init__(self, service: JobInfoService, msg: Message, jobid: int, path: str,
                 flags: int) -> None:
        self.service = service
        self.msg = msg
        self.jobid = jobid
        self.path = path  # without "guest."
        self.flags = flags
        self.state = ""
        self.current: _Watch | None = None
        self.sentinel_sent = False
        self.guest_offset = 0  # bytes sent from the job's namespace
        self.main_offset = 0  # bytes seen in the main namespace's copy

    def begin(self, eventlog: str) -> None:
        """Start from what the main eventlog says now."""
        try:
            started, released = _status(eventlog)
        except OSError as exc:
            self._finish(exc.errno or errno.EINVAL, None)
            return
        if released:
            self._main()
        elif started:
            self._guest()
        else:
            self._wait()

    def _wait(self) -> None:
        self.state = "wait"
        self.service.start(  # sets self.current
            self.msg, "primary", kvs_key(self.jobid, "eventlog"),
            FLUX_KVS_WATCH | FLUX_KVS_WATCH_APPEND, True, False, self)

    def _guest(self) -> None:
        self.state = "guest"
        kvs_flags = FLUX_KVS_WATCH | FLUX_KVS_WATCH_APPEND
        if self.flags & _WAITCREATE:
            kvs_flags |= FLUX_KVS_WAITCREATE
        sentinel = bool(self.flags & _INITIAL_SENTINEL)
        if sentinel:
            kvs_flags |= FLUX_KVS_WATCH_INITIAL_SENTINEL
        self.service.start(  # sets self.current
            self.msg, guest_namespace(self.jobid), self.path, kvs_flags, False, sentinel, self)

    def _main(self) -> None:
        self.state = "main"
        sentinel = bool(self.flags & _INITIAL_SENTINEL) and not self.sentinel_sent
        self.service.start(  # sets self.current
            self.msg, "primary", kvs_key(self.jobid, f"guest.{self.path}"), FLUX_KVS_STREAM,
            False, sentinel, self)

    # -- what the current watch reports ---------------------------------------------------

    def event(self, watch: _Watch, line: str) -> None:
        if watch is not self.current:
            return
        if self.state == "wait":
            try:
                started = json.loads(line).get("name") == "start"
            except (ValueError, AttributeError):
                started = False
            if started:
                self.service.stop(watch)
                self._guest()
            return
        size = len(line) if line.isascii() else len(line.encode())
        if self.state == "guest":
            self.guest_offset += size
            self.service.respond(self.msg, {"event": line})
        else:
            self.main_offset += size
            if self.main_offset > self.guest_offset:
                self.service.respond(self.msg, {"event": line})

    def events(self, watch: _Watch, text: str) -> None:
        """:meth:`event` for each line of ``text`` (one kvs-watch response's whole lines),
        answered at once; what the copy repeats of the job's namespace is not even split."""
        if watch is not self.current or not text:
            return
        if self.state == "wait":
            for line in whole_lines(text):
                if watch is not self.current:
                    return
                self.event(watch, line)
            return
        size = len(text) if text.isascii() else len(text.encode())
        if self.state == "guest":
            self.guest_offset += size
            self.service.respond_events(self.msg, whole_lines(text))
            return
        if self.main_offset + size <= self.guest_offset:
            self.main_offset += size  # all of it was sent from the job's namespace
            return
        for line in whole_lines(text):
            self.event(watch, line)

    def sentinel(self, watch: _Watch) -> None:
        if watch is self.current and self.state != "wait" and not self.sentinel_sent:
            self.sentinel_sent = True
            self.service.respond(self.msg, None)

    def end(self, watch: _Watch, errnum: int, text: str | None) -> None:
        if watch is not self.current:
            return
        self.current = None
        if self.state == "guest" and errnum == errno.ENOTSUP:
            self._main()  # the namespace is gone: its copy is in the main namespace
            return
        self._finish(errnum, text)

    def _finish(self, errnum: int, text: str | None) -> None:
        self.service.respond_error(self.msg, errnum, text)
        self.service.guest_done(self)

    def stop(self) -> None:
        """The client canceled or left: the current watch ends without a word."""
        if self.current is not None:
            self.service.stop(self.current)
            self.current = None

"""Job eventlogs: ``event_watch`` (a generator), its future, ``event_wait``, ``JobException``.

A watch is the streaming ``job-info.eventlog-watch {"id","path","flags"}``:
one response ``{"event": <entry>}`` per entry, then ENODATA once the log is
complete (the main eventlog ends at ``clean``) or the watch is cancelled with
``job-info.eventlog-watch-cancel {"matchtag"}``.  Every future can be awaited
and iterated with ``async for``.
"""

from __future__ import annotations

import errno

from flux.constants import FLUX_RPC_STREAMING
from flux.eventlog import EventLogEvent
from flux.future import FuturePimpl
from flux.kvs.watch import WatchImplementation
from flux.message import encode_json
from flux.rpc import RPC

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator
    from typing import Any

    from flux.core.handle import Flux

__all__ = [
    "MAIN_EVENTS",
    "EventLogEvent",
    "JobEventWatchFuture",
    "JobException",
    "event_wait",
    "event_watch",
    "event_watch_async",
]

#: The events the main eventlog may hold (RFC 21).
MAIN_EVENTS = frozenset({
    "submit", "depend", "priority", "flux-restart", "urgency", "alloc", "free", "start",
    "release", "finish", "clean", "debug", "exception",
})


def _rpc_of(future: Any) -> RPC:
    if isinstance(future, FuturePimpl):
        future = future._f
    state = future._s
    if not isinstance(state, RPC):
        raise OSError(errno.EINVAL, "Invalid argument")
    return state


def _event_watch_rpc(flux_handle: Flux, jobid: int, path: str, flags: int) -> RPC:
    if flux_handle is None or path is None or flags & ~3:
        raise OSError(errno.EINVAL, "Invalid argument")
    payload = encode_json({"id": int(jobid), "path": path, "flags": flags})
    return RPC(flux_handle, "job-info.eventlog-watch", payload, flags=FLUX_RPC_STREAMING)


class JobEventWatchFuture(WatchImplementation):
    """The future of an eventlog watch: each value is an :class:`EventLogEvent`."""

    def watch_get(self, future: Any) -> EventLogEvent | None:
        rpc = _rpc_of(future)
        answer = rpc.get()
        if not isinstance(answer, dict) or not isinstance(answer.get("event"), str):
            raise OSError(errno.EPROTO, "Protocol error")
        return EventLogEvent(answer["event"])

    def watch_cancel(self, future: Any) -> None:
        """``job-info.eventlog-watch-cancel`` by matchtag; nothing once the stream has
        ended: its matchtag was freed with its last response and may name another
        request by now (``flux job attach`` of an inactive job: the whole main eventlog
        and its end arrive at once, the exec watch started on its first event took the
        tag, and the cancel at ``clean`` ended that watch instead)."""
        rpc = _rpc_of(future)
        if rpc._done:
            return
        RPC(rpc.flux_handle, "job-info.eventlog-watch-cancel",
            encode_json({"matchtag": rpc.get_matchtag()}), flags=1)

    def get_event(self, autoreset: bool = True) -> EventLogEvent | None:
        """The next event, or None once the eventlog has ended."""
        event: EventLogEvent | None = self.get(autoreset=autoreset)
        return event


def event_watch_async(flux_handle: Flux, jobid: int, eventlog: str = "eventlog") -> JobEventWatchFuture:
    """Watch the job's eventlog ``eventlog`` (a path in its KVS directory)."""
    return JobEventWatchFuture(_event_watch_rpc(flux_handle, jobid, eventlog, 0))


def event_watch(flux_handle: Flux, jobid: int, eventlog: str = "eventlog") -> Iterator[EventLogEvent]:
    """Yield each event of the job's eventlog, waiting for new ones until it ends."""
    watcher = event_watch_async(flux_handle, jobid, eventlog)
    event = watcher.get_event()
    while event is not None:
        yield event
        event = watcher.get_event()


class JobException(Exception):
    """A job ``exception`` event raised as a Python exception."""

    def __init__(self, event: EventLogEvent) -> None:
        self.timestamp = event.timestamp
        self.type = event.context["type"]
        self.note = event.context["note"]
        self.severity = event.context["severity"]
        super().__init__()

    def __str__(self) -> str:
        return f"job.exception: type={self.type}: {self.note}"


def event_wait(flux_handle: Flux, jobid: int, name: str, eventlog: str = "eventlog",
               raiseJobException: bool = True) -> EventLogEvent:
    """Wait for the event ``name``; a fatal exception first raises JobException,
    and an eventlog ending without it raises OSError(ENODATA)."""
    for event in event_watch(flux_handle, jobid, eventlog):
        if event.name == name:
            return event
        if raiseJobException and event.name == "exception" \
                and event.context["severity"] == 0:
            raise JobException(event)
    raise OSError(errno.ENODATA, f"eventlog ended before event='{name}'")

"""A job's standard output read back (RFC 24): flux-core 0.88's ``flux.job.output``
event classes and ``job_output``; ``output_event_watch`` yields the events as the job
writes them.  Not here yet: the asynchronous watch futures (``output_watch_async``...).
"""

from __future__ import annotations

import base64

from flux.eventlog import EventLogEvent
from flux.job.JobID import JobID

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator
    from typing import Any, Callable

__all__ = [
    "JobExceptionEvent", "JobOutput", "LogEvent", "OutputEvent", "OutputHeaderEvent",
    "RedirectEvent", "Taskset", "job_output", "output_event_watch",
]

LOG_QUIET, LOG_FATAL, LOG_ERROR, LOG_WARN = -1, 0, 3, 4
LOG_NOTICE, LOG_DEBUG, LOG_TRACE = 5, 6, 7


class Taskset:
    """Task ranks: ``all`` (or ``*``), or an idset."""

    def __init__(self, tasks: Any) -> None:
        from flux.idset import IDset

        self.all: bool
        self.ids: set[int]
        if isinstance(tasks, Taskset):
            self.all, self.ids = tasks.all, set(tasks.ids)
        elif tasks in ("all", "*"):
            self.all, self.ids = True, set()
        elif isinstance(tasks, (set, frozenset, list, tuple)):
            self.all, self.ids = False, {int(t) for t in tasks}
        else:
            self.all, self.ids = False, set(IDset(str(tasks)))

    def intersect(self, tasks: Any) -> Taskset:
        other = tasks if isinstance(tasks, Taskset) else Taskset(tasks)
        if self.all:
            return Taskset(other)
        if other.all:
            return Taskset(self)
        return Taskset(self.ids & other.ids)

    def __bool__(self) -> bool:
        return self.all or bool(self.ids)

    def __str__(self) -> str:
        from flux.idset import IDset

        return "all" if self.all else str(IDset(sorted(self.ids)))


class OutputEvent(EventLogEvent):
    """A ``data`` event: ``rank`` (Taskset), ``stream``, ``data`` (str or None), ``eof``."""

    def __init__(self, entry: Any, labelio: bool = False) -> None:
        super().__init__(entry)
        if self.name != "data":
            raise ValueError(f"event {self.name} is not a data event")
        ctx = self.context
        self.rank = Taskset(ctx["rank"])
        self.stream = ctx["stream"]
        self.eof = bool(ctx.get("eof", False))
        self.data: str | None = None
        if "data" in ctx:
            data = ctx["data"]
            if ctx.get("encoding") == "base64":
                data = base64.b64decode(data).decode("utf-8", errors="surrogateescape")
            data *= ctx.get("repeat", 1)
            if labelio:
                data = "".join(f"{self.rank}: {line}\n" for line in data.splitlines())
            self.data = data

    def render(self) -> str | None:
        return self.data


class LogEvent(EventLogEvent):
    """A shell ``log`` event."""

    log_level_string = ["FATAL", "FATAL", "FATAL", "ERROR", " WARN", "", "DEBUG", "TRACE"]

    def __init__(self, entry: Any) -> None:
        super().__init__(entry)
        if self.name != "log":
            raise ValueError(f"event {self.name} is not a log event")
        ctx = self.context
        self.level: int = ctx["level"]
        self.rank = Taskset(ctx["rank"])
        self.message: str = ctx["message"]
        self.component = ctx.get("component")
        self.file = ctx.get("file")
        self.line = ctx.get("line", -1)

    @property
    def levelstr(self) -> str:
        return self.log_level_string[self.level]

    def render(self, include_file_and_line: bool = False) -> str:
        text = f"flux-shell[{self.rank}]: "
        if self.levelstr:
            text += f"{self.levelstr}: "
        if self.component:
            text += f"{self.component}: "
        if include_file_and_line and self.file:
            text += f"{self.file}:{self.line}: "
        return text + self.message


class OutputHeaderEvent(EventLogEvent):
    """The output eventlog's ``header``."""

    def __init__(self, entry: Any) -> None:
        super().__init__(entry)
        if self.name != "header":
            raise ValueError(f"event {self.name} is not a header event")
        ctx = self.context
        self.version = ctx["version"]
        self.stdout_count, self.stderr_count = ctx["count"]["stdout"], ctx["count"]["stderr"]
        self.stdout_encoding = ctx["encoding"]["stdout"]
        self.stderr_encoding = ctx["encoding"]["stderr"]


class RedirectEvent(EventLogEvent):
    """A stream sent to a file."""

    def __init__(self, entry: Any) -> None:
        super().__init__(entry)
        if self.name != "redirect":
            raise ValueError(f"event {self.name} is not a redirect event")
        self.stream = self.context["stream"]
        self.rank = Taskset(self.context["rank"])
        self.path = self.context["path"]

    def render(self) -> str:
        return f"{self.rank}: {self.stream} redirected to {self.path}"


class JobExceptionEvent(EventLogEvent):
    def __init__(self, entry: Any) -> None:
        super().__init__(entry)
        if self.name != "exception":
            raise ValueError(f"event {self.name} is not an exception event")
        self.severity = self.context["severity"]
        self.exc_type = self.context["type"]
        self.note = self.context.get("note", "")

    def render(self) -> str:
        text = f"job.exception: type={self.exc_type} severity={self.severity}"
        return f"{text} {self.note}" if self.note else text


class JobOutput(tuple["Any", ...]):  # quoted: typing is imported for type checkers only
    """(stdout, stderr, log) of a job."""

    __slots__ = ()

    def __new__(cls, stdout: str, stderr: str, log: str) -> JobOutput:
        return tuple.__new__(cls, (stdout, stderr, log))

    stdout = property(lambda self: self[0])
    stderr = property(lambda self: self[1])
    log = property(lambda self: self[2])


def _parse(entry: Any, labelio: bool = False) -> Any:
    event = entry if isinstance(entry, EventLogEvent) else EventLogEvent(entry)
    kinds: dict[str, Callable[[], EventLogEvent]] = {
             "data": lambda: OutputEvent(event, labelio), "log": lambda: LogEvent(event),
             "header": lambda: OutputHeaderEvent(event),
             "redirect": lambda: RedirectEvent(event),
             "exception": lambda: JobExceptionEvent(event)}
    if event.name not in kinds:
        raise ValueError(f"event {event.name} is not a supported output event type")
    return kinds[event.name]()


def _collect(events: Any, tasks: Taskset, labelio: bool, log_stderr_level: int) -> JobOutput:
    streams: dict[str, list[str]] = {"stdout": [], "stderr": [], "log": []}
    for entry in events:
        event = _parse(entry, labelio)
        if event.name == "data":
            if not event.rank.intersect(tasks) or not event.data:
                continue
            streams[event.stream].append(event.data)
        elif event.name == "log":
            streams["stderr" if event.level <= log_stderr_level else "log"].append(
                event.render())
        elif event.name == "exception":
            streams["stderr"].append(event.render())
    return JobOutput(*("".join(streams[k]) for k in ("stdout", "stderr", "log")))


def output_event_watch(flux_handle: Any, jobid: Any, labelio: bool = False) -> Iterator[Any]:
    """The output events of a job as they come (after its shell has started)."""
    from flux.job.event import event_wait, event_watch

    jobid = JobID(jobid)
    try:
        event_wait(flux_handle, jobid, "shell.init", "guest.exec.eventlog")
    except OSError:
        from flux.job.event import JobException

        event = event_wait(flux_handle, jobid, "exception")
        if event is not None and event.context.get("severity") == 0:
            raise JobException(event) from None
        raise
    for event in event_watch(flux_handle, jobid, "guest.output"):
        yield _parse(event, labelio)


def job_output(flux_handle: Any, jobid: Any, tasks: Any = "*", labelio: bool = False,
               nowait: bool = False, log_stderr_level: int = LOG_TRACE) -> JobOutput:
    """A job's whole output (waiting for its end unless ``nowait``), as flux-core's."""
    jobid = JobID(jobid)
    taskset = Taskset(tasks)
    if nowait:
        from flux.job.kvslookup import job_kvs_lookup

        found = job_kvs_lookup(flux_handle, jobid, keys=["guest.output"])
        if found is None:
            raise FileNotFoundError(f"job {jobid} does not exist or output not ready")
        return _collect(found["guest.output"].splitlines(), taskset, labelio,
                        log_stderr_level)
    return _collect(output_event_watch(flux_handle, jobid, labelio), taskset, labelio,
                    log_stderr_level)

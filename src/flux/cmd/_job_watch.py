"""``--wait``/``--wait-event``: follow submitted jobs' eventlogs, as flux-core's JobWatcher.

Each job's main eventlog is watched (``job-info.eventlog-watch``) until the
awaited event (``clean`` for ``--wait``) or the log's end.  The command's
exit status is the largest of the jobs' exit codes (a job killed by signal N
counts 128+N) and 1 for a job that got a fatal exception before it started;
such an exception is printed ``job.exception: type=T severity=S NOTE``.
With ``-v`` each job's end is logged, with ``-vv`` every event
(``ID: SECONDS: NAME CONTEXT``, seconds since the first submission).
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, TextIO


def status_to_exitcode(status: int) -> int:
    """A wait status as a shell's exit code (128+N for signal N)."""
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return status


class _Job:
    def __init__(self, jobid: Any, stderr: TextIO, wait: str) -> None:
        self.id = jobid
        self.stderr = stderr
        self.wait = wait
        self.events: set[str] = set()
        self.status = "pending"


class JobWaiter:
    """Watches jobs until their awaited event; ``exitcode`` is the command's exit status."""

    def __init__(self, handle: Any, log_events: bool = False, log_status: bool = False) -> None:
        self.handle = handle
        self.log_events = log_events
        self.log_status = log_status
        self.exitcode = 0
        self.t0: float | None = None

    def add_jobid(self, jobid: Any, stderr: TextIO, wait: str) -> None:
        from flux.job.event import event_watch_async

        now = time.time()
        if self.t0 is None or now < self.t0:
            self.t0 = now
        job = _Job(jobid, stderr, wait)
        event_watch_async(self.handle, jobid).then(self._event_cb, job)

    def _log(self, job: _Job, timestamp: float, msg: str) -> None:
        elapsed = timestamp - (self.t0 or timestamp)
        print(f"{job.id.f58}: {elapsed:4.3f}s: {msg}", file=job.stderr, flush=True)

    def _event_cb(self, future: Any, job: _Job) -> None:
        try:
            event = future.get_event()
        except OSError as exc:
            from ._job_cli import error_text

            print(f"{job.id.f58}: {error_text(exc)}", file=job.stderr, flush=True)
            self.exitcode = max(self.exitcode, 1)
            return
        if event is None:
            return
        job.events.add(event.name)
        if self.t0 is None or event.timestamp < self.t0:
            self.t0 = event.timestamp
        if self.log_events:
            self._log(job, event.timestamp, f"{event.name} {event.context_string}")
        if event.name == "exception":
            context = event.context
            if context.get("severity") == 0:
                if "start" not in job.events:
                    self.exitcode = max(self.exitcode, 1)
                    job.status = "failed"
                text = f"job.exception: type={context.get('type')} severity=0"
                if context.get("note"):
                    text += f" {context['note']}"
                print(text, file=job.stderr, flush=True)
        elif event.name == "alloc":
            job.status = "running"
        elif event.name == "finish":
            status = event.context.get("status", 0)
            self.exitcode = max(self.exitcode, status_to_exitcode(status))
            job.status = "failed" if status > 0 else "complete"
            if self.log_status:
                self._log(job, event.timestamp, f"{job.status}: status={status}")
        if job.wait == event.name:
            future.cancel(stop=True)

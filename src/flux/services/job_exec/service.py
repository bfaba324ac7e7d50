"""The ``job-exec`` service (RFC 32) with flux-core 0.88's test implementation only: a job
whose jobspec has ``attributes.system.exec.test`` "runs" for its ``run_duration`` (else its
duration) and finishes with ``wait_status``; no process is started.  A job without
those attributes gets an ``exec`` exception: real execution is issue 12's part 2.

Responses to ``job-exec.start`` and the exec eventlog entries (``init``, ``starting``,
``recoverable``, ``complete``, ``done``) are flux-core's.  A ``job-exception`` event of
severity 0 ends a running job with SIGTERM, as flux-core's job-exec.  Sans-I/O: the wiring
passes ``rpc``, ``respond``, ``post`` (an exec eventlog entry) and ``timer``.
"""

from __future__ import annotations

import errno
import signal

from flux.message import Message
from flux.severity import LOG_DEBUG, LOG_ERR

from .testconf import ExecTestConf

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

__all__ = ["ExecService", "NO_EXEC_NOTE"]

#: the exception note of a job this service cannot run
NO_EXEC_NOTE = ("job execution is not implemented yet (issue 12, part 2): only test jobs "
                "(attributes.system.exec.test) run")


class _Job:
    __slots__ = ("id", "userid", "msg", "conf", "timer", "started", "finalizing",
                 "exception_in_progress")

    def __init__(self, jobid: int, userid: int, msg: Message) -> None:
        self.id = jobid
        self.userid = userid
        self.msg = msg
        self.conf: Optional[ExecTestConf] = None
        self.timer: Any = None
        self.started = False
        self.finalizing = False
        self.exception_in_progress = False


class ExecService:
    """Test jobs in flight, by id."""

    def __init__(self, owner: int, rpc: Callable[..., Any],
                 respond: Callable[[Message, Any], None],
                 respond_error: Callable[[Message, int, Optional[str]], None],
                 post: Callable[[int, str, Optional[dict]], None],
                 timer: Callable[[float, Callable[[], Any]], Any],
                 log: Callable[[int, str], Any], allow_guests: bool = False) -> None:
        self.owner = owner
        self.rpc = rpc
        self.respond = respond
        self.respond_error = respond_error
        self.post = post
        self.timer = timer
        self.log = log
        self.allow_guests = allow_guests
        self.jobs: dict[int, _Job] = {}

    def start(self) -> None:
        """Register with the job-manager (RFC 32's hello)."""
        self.rpc("job-manager.exec-hello", {"service": "job-exec"}, self._hello)

    def _hello(self, errnum: int, payload: Any) -> None:
        if errnum:  # ENOSYS: no job-manager in this instance
            self.log(LOG_DEBUG if errnum == errno.ENOSYS else LOG_ERR,
                     f"exec-hello: {errno.errorcode.get(errnum, errnum)}")

    # -- job-exec.start --------------------------------------------------------------------

    def start_request(self, msg: Message) -> None:
        """``job-exec.start``: streaming answers start, finish, release (or exception)."""
        p = msg.payload_json()
        jobid, userid = p.get("id"), p.get("userid")
        if (not isinstance(jobid, int) or not isinstance(userid, int)
                or not isinstance(p.get("jobspec"), dict) or not isinstance(p.get("R"), dict)):
            raise OSError(errno.EPROTO, "malformed job-exec.start request")
        if jobid in self.jobs:
            raise OSError(errno.EEXIST, "job is already running")
        job = _Job(jobid, userid, msg)
        self.jobs[jobid] = job
        self.post(jobid, "init", None)
        if p.get("reattach"):
            self.fatal(job, "testexec: reattach after a restart is not supported yet")
            return
        try:
            conf = ExecTestConf(p["jobspec"])
        except ValueError as exc:
            self.log(LOG_ERR, f"init_testconf: {exc}")
            self.fatal(job, "failed to initialize testconf: Invalid argument")
            return
        if not conf.enabled:
            self.fatal(job, NO_EXEC_NOTE)
            return
        if userid != self.owner and not self.allow_guests:
            self.fatal(job, "guests may not use test exec implementation")
            return
        job.conf = conf
        if conf.mock_exception == "init":
            self.fatal(job, "mock initialization exception generated")
            return
        t = conf.run_duration
        if t < 0.0:
            t = 1e-5
        if t > 0.0 and t != float("inf"):
            job.timer = self.timer(t, lambda: self.tasks_complete(job, conf.wait_status))
        # a run_duration of 0 starts no timer: the job runs until killed, as flux-core's
        job.started = True
        self.post(jobid, "starting", None)
        self.respond(msg, {"id": jobid, "type": "start", "data": {}})
        self.post(jobid, "recoverable", None)
        if conf.mock_exception == "run":
            self.fatal(job, "mock run exception generated")

    # -- the end of a job ------------------------------------------------------------------------

    def tasks_complete(self, job: _Job, status: int) -> None:
        """The job's tasks are done: finish, then release everything."""
        if job.finalizing:
            return
        job.finalizing = True
        if job.timer is not None:
            job.timer.cancel()
            job.timer = None
        self.post(job.id, "complete", {"status": status})
        self.respond(job.msg, {"id": job.id, "type": "finish", "data": {"status": status}})
        self._finalize(job)

    def _finalize(self, job: _Job) -> None:
        job.finalizing = True
        self.post(job.id, "done", None)
        self.respond(job.msg, {"id": job.id, "type": "release",
                               "data": {"ranks": "all", "final": True}})
        self.jobs.pop(job.id, None)

    def fatal(self, job: _Job, note: str) -> None:
        """An exec exception (unless one is already being handled), then the job ends:
        killed if started, else released."""
        if job.finalizing:
            return
        if not job.exception_in_progress:
            job.exception_in_progress = True
            self.respond(job.msg, {"id": job.id, "type": "exception",
                                   "data": {"severity": 0, "type": "exec", "note": note}})
        if job.started:
            self.kill(job, signal.SIGTERM)
        else:
            self._finalize(job)

    def kill(self, job: _Job, signum: int) -> None:
        """Test jobs have no processes: killing one finishes it with the signal."""
        if job.timer is not None:
            job.timer.cancel()
            job.timer = None
        if job.started:
            self.tasks_complete(job, int(signum))

    def exception_event(self, msg: Message) -> None:
        """``job-exception`` (published by the job-manager): severity 0 aborts the job."""
        if msg.topic != "job-exception":
            return
        import json

        try:
            p = json.loads((msg.payload_bytes or b"").rstrip(b"\0"))
        except ValueError:
            return
        if not isinstance(p, dict):
            return
        jobid = p.get("id")
        job = self.jobs.get(jobid) if isinstance(jobid, int) else None
        if job is None or p.get("severity") != 0 or job.finalizing:
            return
        if job.exception_in_progress:
            self.kill(job, signal.SIGTERM)
            return
        job.exception_in_progress = True
        self.fatal(job, f"aborted due to exception type={p.get('type')}")

    def close(self) -> None:
        """At shutdown, jobs in flight end their streams (ENOSYS)."""
        for job in list(self.jobs.values()):
            if job.timer is not None:
                job.timer.cancel()
            self.respond_error(job.msg, errno.ENOSYS, None)
        self.jobs.clear()

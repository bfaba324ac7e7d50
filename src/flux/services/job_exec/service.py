"""The ``job-exec`` service (RFC 32): a job whose jobspec has
``attributes.system.exec.test`` runs flux-core 0.88's test implementation (it "runs" for
its ``run_duration`` and finishes with ``wait_status``; no process); any other job runs
for real: one job shell per rank of R, started through the ``launcher`` the wiring
passes (see :mod:`flux.services.job_exec.shells` for that interface and the bookkeeping
of one job's shells).

Responses to ``job-exec.start`` and the exec eventlog entries (``init``, ``starting``,
``shell-exit``, ``complete``, ``done``; the shells add ``shell.init``/``shell.start``) are
flux-core's, as are the time limit (a ``timeout`` exception, SIGALRM, then the kill
sequence), the kill sequence (SIGTERM to the shells, then ``flux_job_kill(SIGKILL)``
every ``kill_timeout`` s, then SIGKILL to the shells after 5 kill-timeouts) and the
exception texts.  Sans-I/O: the wiring passes ``rpc``, ``respond``, ``post`` (an exec
eventlog entry), ``timer``, and for real jobs ``launcher`` and ``guest_ns``.
"""

from __future__ import annotations

import errno
import os
import signal
import time

from flux.constants import FLUX_ROLE_OWNER
from flux.message import Message
from flux.severity import LOG_DEBUG, LOG_ERR

from .shells import JobShells
from .testconf import ExecTestConf

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

    from .shells import Launcher

__all__ = ["ExecService", "NO_EXEC_NOTE"]

#: the exception note of a real job when no launcher is wired (sans-I/O tests)
NO_EXEC_NOTE = "job execution is not available: only test jobs (attributes.system.exec.test) run"

#: flux-core's defaults (job-exec's kill-timeout, term-signal, kill-signal)
KILL_TIMEOUT = 5.0
TERM_SIGNAL = signal.SIGTERM
KILL_SIGNAL = signal.SIGKILL
#: flux-core's exec.shell-exit-timeout: how long the other shells may outlive the leader
SHELL_EXIT_TIMEOUT = 30.0


class _Job:
    __slots__ = ("id", "userid", "msg", "conf", "timer", "started", "finalizing",
                 "exception_in_progress", "shells", "R", "kill_timer", "kill_shell_timer",
                 "kill_timeout", "expiration_timer", "responded_start", "shell_exit_posted",
                 "shell_exit_timer", "exception_wait_status")

    def __init__(self, jobid: int, userid: int, msg: Message) -> None:
        self.id = jobid
        self.userid = userid
        self.msg = msg
        self.conf: Optional[ExecTestConf] = None
        self.timer: Any = None
        self.started = False
        self.finalizing = False
        self.exception_in_progress = False
        self.shells: Optional[JobShells] = None
        self.R: dict = {}
        self.kill_timer: Any = None
        self.kill_shell_timer: Any = None
        self.shell_exit_timer: Any = None
        #: the wait status an exception gave the job (a shell's exit-timeout), else -1
        self.exception_wait_status = -1
        self.kill_timeout = KILL_TIMEOUT
        self.expiration_timer: Any = None
        self.responded_start = False
        self.shell_exit_posted = False


class _ShellEvents:
    """What a launcher reports about one job's shells, forwarded to the service."""

    __slots__ = ("svc", "job")

    def __init__(self, svc: "ExecService", job: _Job) -> None:
        self.svc = svc
        self.job = job

    def running(self, rank: int) -> None:
        self.svc._shell_running(self.job, rank)

    def output(self, rank: int, stream: str, data: bytes) -> None:
        self.svc._shell_output(self.job, rank, stream, data)

    def exited(self, rank: int, wait_status: int) -> None:
        self.svc._shell_exited(self.job, rank, wait_status)

    def failed(self, rank: int, errnum: int, text: str) -> None:
        self.svc._shell_failed(self.job, rank, errnum, text)


class ExecService:
    """Jobs in flight, by id."""

    def __init__(self, owner: int, rpc: Callable[..., Any],
                 respond: Callable[[Message, Any], None],
                 respond_error: Callable[[Message, int, Optional[str]], None],
                 post: Callable[[int, str, Optional[dict]], None],
                 timer: Callable[[float, Callable[[], Any]], Any],
                 log: Callable[[int, str], Any], allow_guests: bool = False,
                 launcher: Optional[Launcher] = None, guest_ns: Any = None,
                 hostname: Callable[[int], str] = lambda rank: str(rank),
                 kill_timeout: float = KILL_TIMEOUT,
                 shell_exit_timeout: float = SHELL_EXIT_TIMEOUT) -> None:
        self.owner = owner
        self.rpc = rpc
        self.respond = respond
        self.respond_error = respond_error
        self.post = post
        self.timer = timer
        self.log = log
        self.allow_guests = allow_guests
        self.launcher = launcher
        self.guest_ns = guest_ns  # create(jobid, userid), move(jobid, done); None: no namespace
        self.hostname = hostname
        self.kill_timeout = kill_timeout
        self.shell_exit_timeout = shell_exit_timeout
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
        job.R = p["R"]
        if self.guest_ns is not None:
            try:
                self.guest_ns.create(jobid, userid)
            except OSError as exc:
                self.respond(msg, {"id": jobid, "type": "exception", "data": {
                    "severity": 0, "type": "exec", "note": "failed to create guest ns"}})
                self.respond(msg, {"id": jobid, "type": "release",
                                   "data": {"ranks": "all", "final": True}})
                self.log(LOG_ERR, f"guest namespace of {jobid}: {exc.strerror}")
                return
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
            self._start_shells(job)
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
        self._respond_start(job)
        self.post(jobid, "recoverable", None)
        if conf.mock_exception == "run":
            self.fatal(job, "mock run exception generated")

    def _respond_start(self, job: _Job) -> None:
        if not job.responded_start:
            job.responded_start = True
            self.respond(job.msg, {"id": job.id, "type": "start", "data": {}})

    # -- real jobs: the shells ---------------------------------------------------------

    def _start_shells(self, job: _Job) -> None:
        if self.launcher is None:
            self.fatal(job, NO_EXEC_NOTE)
            return
        if job.userid != self.owner:
            # no IMP in pureflux: flux-core's job-exec refuses a multiuser job likewise
            self.log(LOG_ERR, "unable run multiuser job with no IMP configured!")
            self.fatal(job, "failed to initialize implementation")
            return
        from flux.services.resource.rv1 import R_ranks

        try:
            ranks = sorted(R_ranks(job.R)[0])
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            ranks = []
        if not ranks:
            self.fatal(job, "failed to initialize implementation")
            return
        job.shells = JobShells(ranks)
        job.started = True
        self.post(job.id, "starting", None)
        events = _ShellEvents(self, job)
        for rank in ranks:
            if job.finalizing or job.shells is None:
                return
            proc = self.launcher.launch(job.id, job.userid, rank, events)
            if rank not in job.shells.exited:
                job.shells.procs[rank] = proc

    def _shell_running(self, job: _Job, rank: int) -> None:
        shells = job.shells
        if shells is None or job.finalizing:
            return
        shells.running.add(rank)
        if shells.all_running() and not job.responded_start:
            self._set_expiration(job)
            self._respond_start(job)

    def _set_expiration(self, job: _Job) -> None:
        execution = job.R.get("execution") if isinstance(job.R, dict) else None
        expiration = execution.get("expiration", 0.0) if isinstance(execution, dict) else 0.0
        if not isinstance(expiration, (int, float)) or expiration <= 0.0:
            return  # no time limit
        delay = max(float(expiration) - time.time(), 0.0)
        job.expiration_timer = self.timer(delay, lambda: self._timelimit(job))

    def expiration_request(self, msg: Message) -> None:
        """``job-exec.expiration`` (the job-manager, after ``flux update`` of a running
        job's duration): ``{id, expiration}``, the new end of its allocation; the time
        limit is armed again from it (0 removes it), as flux-core's job-exec does."""
        p = msg.payload_json()
        jobid, expiration = p.get("id"), p.get("expiration")
        if (not isinstance(jobid, int) or isinstance(expiration, bool)
                or not isinstance(expiration, (int, float))):
            raise OSError(errno.EPROTO, None)
        job = self.jobs.get(jobid)
        if job is None:
            raise OSError(errno.ENOENT, None)
        if isinstance(job.R, dict):
            job.R.setdefault("execution", {})["expiration"] = float(expiration)
        if job.expiration_timer is not None:
            job.expiration_timer.cancel()
            job.expiration_timer = None
        if job.responded_start and not job.finalizing:
            self._set_expiration(job)
        self.log(LOG_DEBUG, f"updated expiration of {jobid} to {float(expiration):.2f}")
        self.respond(msg, None)

    def _timelimit(self, job: _Job) -> None:
        """The time limit: a ``timeout`` exception, SIGALRM, then the kill sequence."""
        job.expiration_timer = None
        if job.finalizing:
            return
        # SIGALRM first: the exception's event (which resends SIGTERM) may come back at once
        self.kill(job, signal.SIGALRM)
        job.exception_in_progress = True
        self._killtimer_start(job)
        self.rpc("job-manager.raise", {"id": job.id, "type": "timeout", "severity": 0,
                                       "note": "resource allocation expired"}, None)

    def _shell_output(self, job: _Job, rank: int, stream: str, data: bytes) -> None:
        """What a shell wrote on its own stdout/stderr: a ``log`` entry, as flux-core's."""
        if not data:
            return
        self.post(job.id, "log", {"component": "flux-shell", "stream": stream,
                                  "rank": str(rank),
                                  "data": data.decode("utf-8", errors="replace")})

    def _shell_failed(self, job: _Job, rank: int, errnum: int, text: str) -> None:
        """A shell that could not start, or whose broker was lost (EHOSTUNREACH)."""
        host = self.hostname(rank)
        if errnum == errno.EHOSTUNREACH:
            shell_rank = job.shells.shell_rank(rank) if job.shells is not None else rank
            critical = job.shells is None or job.shells.is_critical(shell_rank)
            self._lost_shell(job, shell_rank, critical,
                             f"node failure on {host} (shell rank {shell_rank})")
            if critical:
                self.fatal(job, f"node failure on {host} (rank {rank})")
        else:
            self.fatal(job, f"job shell exec error on broker {host} (rank {rank}): {text}")
        # flux-core's bulk-exec: a lost shell is no failure of its own (the exception is)
        code = {errno.EHOSTUNREACH: 0, errno.ENOENT: 127, errno.EPERM: 126,
                errno.EACCES: 126}.get(errnum, 1)
        self._shell_exited(job, rank, code << 8)

    def _lost_shell(self, job: _Job, shell_rank: int, critical: bool, text: str) -> None:
        """flux-core's jobinfo_lost_shell: the leader shell is told (its ``exception``
        service: it warns, and its exit-timeout starts); a shell that is not critical
        also gets a ``node-failure`` exception of severity 2 (the job goes on)."""
        from flux.job.JobID import id_encode

        shells = job.shells
        if shells is None or job.finalizing:
            return
        if not critical:
            self.rpc("job-manager.raise", {"id": job.id, "type": "node-failure",
                                           "severity": 2, "note": text}, None)
            text = ""
        topic = f"{job.userid}-shell-{id_encode(job.id, 'f58plain')}.exception"
        self.rpc(topic, {"type": "lost-shell", "severity": 0 if critical else 2,
                         "shell_rank": shell_rank, "message": text}, None,
                 nodeid=shells.leader)

    def _shell_exited(self, job: _Job, rank: int, wait_status: int) -> None:
        shells = job.shells
        if shells is None or rank in shells.exited:
            return
        if rank == shells.leader and not job.shell_exit_posted:
            job.shell_exit_posted = True
            context: dict[str, Any] = {"rank": rank, "wait_status": wait_status}
            others = [r for r in shells.active if r != rank]
            if others:
                from flux.services.resource.rv1 import idset_encode

                context["active_ranks"] = idset_encode(others)
                if (self.shell_exit_timeout > 0 and not job.exception_in_progress
                        and not job.finalizing):
                    job.shell_exit_timer = self.timer(self.shell_exit_timeout,
                                                      lambda: self._shells_outlive(job))
            self.post(job.id, "shell-exit", context)
        signo = wait_status & 0x7F
        if signo and signo != 0x7F and len(shells.ranks) > 1 and not job.finalizing:
            # flux-core: a lone shell's signal is the job's wait status, no exception
            name = signal.strsignal(signo) or f"signal {signo}"
            shell_rank = shells.shell_rank(rank)
            text = f"shell rank {shell_rank} (on {self.hostname(rank)}): {name}"
            if shell_rank == 0:
                self.fatal(job, text)  # the job cannot go on without its leader
            else:
                self._lost_shell(job, shell_rank, shells.is_critical(shell_rank), text)
        done = shells.exit(rank, wait_status)
        if done:
            self.tasks_complete(job, shells.wait_status)

    def _shells_outlive(self, job: _Job) -> None:
        """flux-core's shell-exit timer: shells still running long after the leader."""
        job.shell_exit_timer = None
        shells = job.shells
        if shells is None or job.finalizing or not shells.active:
            return
        from flux.fsd import format_duration
        from flux.hostlist import Hostlist
        from flux.services.resource.rv1 import idset_encode

        active = shells.active
        hosts = Hostlist()
        for rank in active:
            hosts.append(self.hostname(rank))
        self.fatal(job, f"job shells still active on {hosts.encode()} "
                        f"(rank{'s' if len(active) > 1 else ''} {idset_encode(active)}) "
                        f"{format_duration(self.shell_exit_timeout)} after leader shell exit")

    def critical_ranks_request(self, msg: Message) -> None:
        """``job-exec.critical-ranks``: ``{id, ranks}``, the shell ranks whose loss ends
        the job (all of them unless a shell says otherwise)."""
        from flux.services.resource.rv1 import idset_decode

        p = msg.payload_json()
        jobid, ranks = p.get("id"), p.get("ranks")
        if not isinstance(jobid, int) or not isinstance(ranks, str):
            raise OSError(errno.EPROTO, None)
        job = self.jobs.get(jobid)
        if job is None or job.shells is None:
            raise OSError(errno.ENOENT, None)
        if msg.userid != job.userid and msg.userid != self.owner:
            raise OSError(errno.EPERM, None)
        job.shells.critical = idset_decode(ranks)  # OSError EINVAL if it is no idset
        self.respond(msg, None)

    def barrier_enter(self, msg: Message) -> None:
        """``job-exec.shell-barrier``: answered once every shell of the job has entered."""
        p = msg.payload_json()
        jobid = p.get("id") if isinstance(p, dict) else None
        job = self.jobs.get(jobid) if isinstance(jobid, int) else None
        if job is None or job.shells is None:
            raise OSError(errno.ENOENT, "job not found")
        if not msg.rolemask & FLUX_ROLE_OWNER and msg.userid != job.userid:
            raise OSError(errno.EPERM, "Permission denied")  # the owner or the job's user
        done = job.shells.barrier_enter(msg)
        for req in done or ():
            self.respond(req, None)

    # -- the end of a job ------------------------------------------------------------------------

    def tasks_complete(self, job: _Job, status: int) -> None:
        """The job's tasks are done: finish, then release everything."""
        if job.finalizing:
            return
        job.finalizing = True
        self._cancel_timers(job)
        if job.shells is not None and job.exception_in_progress:
            if job.exception_wait_status >= 0:
                status = job.exception_wait_status
            elif status == 0:
                status = 1 << 8  # flux-core: an exception makes a clean exit a failure
        self.post(job.id, "complete", {"status": status})
        self.respond(job.msg, {"id": job.id, "type": "finish", "data": {"status": status}})
        self._finalize(job)

    def _cancel_timers(self, job: _Job) -> None:
        for name in ("timer", "kill_timer", "kill_shell_timer", "expiration_timer",
                     "shell_exit_timer"):
            t = getattr(job, name)
            if t is not None:
                t.cancel()
                setattr(job, name, None)

    def _finalize(self, job: _Job) -> None:
        job.finalizing = True
        self._cancel_timers(job)
        self.post(job.id, "done", None)

        def release() -> None:
            self.respond(job.msg, {"id": job.id, "type": "release",
                                   "data": {"ranks": "all", "final": True}})
            self.jobs.pop(job.id, None)

        if self.guest_ns is not None:
            self.guest_ns.move(job.id, release)
        else:
            release()

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
            self._cancel(job)
        else:
            self._finalize(job)

    def _cancel(self, job: _Job) -> None:
        """flux-core's jobinfo_cancel: term signal now, the kill sequence after."""
        if job.shell_exit_timer is not None:  # an exception: the kill sequence rules now
            job.shell_exit_timer.cancel()
            job.shell_exit_timer = None
        if job.shells is None:
            self.kill(job, TERM_SIGNAL)
            return
        if job.kill_timer is not None:
            return
        self.kill(job, TERM_SIGNAL)
        self._killtimer_start(job)

    def _killtimer_start(self, job: _Job) -> None:
        if job.shells is None or job.finalizing:
            return
        if job.kill_timer is None:
            job.kill_timer = self.timer(job.kill_timeout, lambda: self._kill_tasks(job))
        if job.kill_shell_timer is None:
            job.kill_shell_timer = self.timer(job.kill_timeout * 5,
                                              lambda: self._kill_shells(job))

    def _kill_tasks(self, job: _Job) -> None:
        """flux_job_kill(KILL_SIGNAL) every kill-timeout, until the shells are killed."""
        job.kill_timer = None
        if job.finalizing:
            return
        self.log(LOG_DEBUG, f"Sending SIGKILL to job {job.id}")
        self.rpc("job-manager.kill", {"id": job.id, "signum": int(KILL_SIGNAL)}, None)
        job.kill_timer = self.timer(job.kill_timeout, lambda: self._kill_tasks(job))

    def _kill_shells(self, job: _Job) -> None:
        """SIGKILL to the shells themselves, again with a doubling delay."""
        job.kill_shell_timer = None
        if job.finalizing or job.shells is None:
            return
        self.log(LOG_DEBUG, f"Sending SIGKILL to job shell for job {job.id}")
        if job.kill_timer is not None:
            job.kill_timer.cancel()
            job.kill_timer = None
        job.shells.kill(KILL_SIGNAL)
        job.kill_timeout = min(job.kill_timeout * 2, 300.0)
        job.kill_shell_timer = self.timer(job.kill_timeout, lambda: self._kill_shells(job))

    def kill(self, job: _Job, signum: int) -> None:
        """Signal the job: its shells (real jobs), or finish it (test jobs: no process)."""
        if job.shells is not None:
            job.shells.kill(signum)
            return
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
            self.kill(job, TERM_SIGNAL)
            return
        job.exception_in_progress = True
        wait_status = p.get("wait_status")
        if isinstance(wait_status, int) and not isinstance(wait_status, bool) \
                and wait_status >= 0:
            # the task status the exception names (a shell's exit timeout) is the job's
            code = (128 + os.WTERMSIG(wait_status) if os.WIFSIGNALED(wait_status)
                    else os.WEXITSTATUS(wait_status))
            job.exception_wait_status = code << 8
        if job.shells is not None:
            self._cancel(job)
            return
        self.fatal(job, f"aborted due to exception type={p.get('type')}")

    def close(self) -> None:
        """At shutdown, jobs in flight end their streams (ENOSYS).  Their shells are the
        launcher's to end (SIGTERM, which a shell passes on to its tasks, then SIGKILL):
        a shell killed at once would leave its tasks behind."""
        for job in list(self.jobs.values()):
            self._cancel_timers(job)
            self.respond_error(job.msg, errno.ENOSYS, None)
        self.jobs.clear()

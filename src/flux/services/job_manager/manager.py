"""The job-manager's state machine (RFC 21), sans I/O: inputs in, actions out.

Every input is a method call (a batch of submitted jobs, a request's
decoded payload, a scheduler or exec-service response); what the broker must
then do is appended to ``out`` as tuples, which the wiring
(``flux.broker.job_manager``) drains:

- ``("append", id, line)``: append an eventlog line to ``job.<id>.eventlog``;
- ``("respond", req, payload)`` / ``("error", req, errnum, text)``: answer a
  request the manager kept (a waiter, a journal listener);
- ``("respond-committed", req, payload)``: the same, once the eventlog appends
  before it are in the KVS (``drain`` and ``idle``, as flux-core's batch respond);
- ``("send", topic, payload)``: a request to the scheduler or exec service
  (``sched.alloc``, ``sched.free``, ``sched.cancel``, ``sched.prioritize``,
  ``<exec>.start``), whose responses come back by topic;
- ``("publish", topic, payload)``: an event (``job-exception``, ``shell-<id>.kill``).

Events are applied as flux-core's ``event.c`` applies them: each goes to the
job's queue, is recorded, sent to journal listeners, moves the state
(``_update``), then the new state's action runs (``_action``), which may post
more events: those wait in the queue, so a job's events keep their order.
The priority is flux-core's default plugin's (the urgency, 0 held and 31
expedited), and the ``after*`` dependencies are its ``dependency-after``
plugin's, with the same texts.  A request that cannot be honoured raises
:class:`Refused` with flux-core's errno and text.
"""

from __future__ import annotations

import errno
import time

from flux import eventlog

from . import job as J
from .job import Job
from .queues import QueueError, Queues

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

__all__ = ["Refused", "JobManager"]

#: sched.alloc response types (RFC 27)
ALLOC_SUCCESS, ALLOC_ANNOTATE, ALLOC_DENY, ALLOC_CANCEL = 0, 1, 2, 3

#: after* dependency types, as bits (dependency-after's)
AFTER_START, AFTER_ANY, AFTER_SUCCESS, AFTER_FAILURE, AFTER_EXCEPT = 1, 2, 4, 8, 16
_AFTER = {"after": AFTER_START, "afterstart": AFTER_START, "afterany": AFTER_ANY,
          "afterok": AFTER_SUCCESS, "afternotok": AFTER_FAILURE, "afterexcept": AFTER_EXCEPT}
_AFTER_DESC = {AFTER_START: "after-start", AFTER_ANY: "after-finish",
               AFTER_SUCCESS: "after-success", AFTER_FAILURE: "after-failure",
               AFTER_EXCEPT: "after-except"}
_NSIG = 65  # Linux's NSIG: valid signals are 1..64
#: the most jobs one purge transaction removes (flux-core's purge_batch_max)
PURGE_BATCH_MAX = 100


class Refused(Exception):
    """A request the manager answers with an error: ``errnum`` and flux-core's text."""

    def __init__(self, errnum: int, text: Optional[str] = None) -> None:
        super().__init__(errnum, text)
        self.errnum = errnum
        self.text = text


def _merge(into: dict, update: dict) -> None:
    """RFC 27 annotation update: a null value deletes its key, objects merge."""
    for key, value in update.items():
        if value is None:
            into.pop(key, None)
        elif isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
            if not into[key]:
                del into[key]
        else:
            into[key] = value


def _exception_allowed(severity: Any, kind: Any) -> bool:
    return isinstance(severity, int) and 0 <= severity <= 7 and isinstance(kind, str) \
        and bool(kind) and not any(c.isspace() or c == "=" for c in kind)


class JobManager:
    """The jobs, the alloc queue and the two interfaces (scheduler, exec), sans I/O."""

    def __init__(self, owner: int, clock: Callable[[], float] = time.time,
                 log: Optional[Callable[[str], Any]] = None) -> None:
        self.owner = owner
        self.clock = clock
        self.log = log or (lambda text: None)
        self.out: list[tuple] = []
        self.active: dict[int, Job] = {}
        self.inactive: dict[int, Job] = {}
        self.max_jobid = 0
        # scheduler interface (RFC 27)
        self.sched_online = False
        self.sched_sender: Optional[str] = None
        self.alloc_limit = 0
        self.queue: dict[int, Job] = {}  # SCHED jobs not yet sent to the scheduler
        self.sent: dict[int, Job] = {}  # alloc requests the scheduler holds
        # exec interface (RFC 32)
        self.start_topic: Optional[str] = None
        self.exec_sender: Optional[str] = None
        # job-manager.wait
        self.zombies: dict[int, Job] = {}
        self.wait_any: list[Any] = []
        self.waiters = 0
        self.waitables = 0
        # job-manager.events-journal: (request, allow, deny)
        self.listeners: list[tuple[Any, Optional[dict], Optional[dict]]] = []
        self.journal_events = 0
        # RFC 33 queues; job-manager.drain and job-manager.idle requests
        self.queues = Queues(self._queue_changed)
        self.stop_queues_on_restart = False
        self.drain_requests: list[Any] = []
        self.idle_requests: list[Any] = []
        # job-manager.update requests waiting for the scheduler's sched.expiration answer
        self.expiration_checks: list[tuple[Any, Job, dict, bool, int, bool, float]] = []
        self.expiration_sent: list[int] = []  # <exec>.expiration requests, in order
        # purge: [job-manager] inactive-age-limit / inactive-num-limit (-1: unlimited)
        self.inactive_age_limit = -1.0
        self.inactive_num_limit = -1

    # -- lookups --------------------------------------------------------------------

    def find(self, jobid: int) -> Optional[Job]:
        return self.active.get(jobid) or self.inactive.get(jobid)

    def take(self) -> list[tuple]:
        """The actions accumulated since the last call."""
        out, self.out = self.out, []
        return out

    # -- events ----------------------------------------------------------------------

    def post(self, job: Job, name: str, context: Optional[dict] = None,
             commit: bool = True, timestamp: float = 0.0) -> None:
        """Queue an event for ``job`` and apply what can be applied now."""
        entry: dict = {"timestamp": timestamp or self.clock(), "name": name}
        if context is not None:
            entry["context"] = context
        job.queue.append((entry, commit))
        if len(job.queue) > 1 or job.hold:
            return
        self._drain(job)

    def _drain(self, job: Job) -> None:
        queue = job.queue
        while queue and not job.readonly:
            entry, commit = queue[0]
            self._process(job, entry, commit)
            queue.popleft()
        if job.readonly:
            queue.clear()

    def release(self, jobid: int) -> None:
        """The submit event of ``jobid`` is in the KVS: its held events may proceed."""
        job = self.active.get(jobid)
        if job is not None and job.hold:
            job.hold = False
            self._drain(job)
            self._sched_work()

    def _process(self, job: Job, entry: dict, commit: bool) -> None:
        name = entry["name"]
        context = entry.get("context") or {}
        if job.state == J.NEW and name == "exception" and context.get("severity") == 0:
            self.log("fatal job exception was posted in NEW state")
            return
        old = job.state
        if commit:
            job.eventlog.append(entry)
        self._journal(job, name, entry)
        self._update(job, name, entry, context)
        job.posted.add(name)
        if commit:
            self.out.append(("append", job.id, eventlog.encode_entry(entry)))
        if name == "start":
            self._release_after(job, AFTER_START)
        elif name == "resource-update" and self.start_topic is not None \
                and job.state & J.RUNNING:
            self.out.append(("send", self.start_topic[:-len("start")] + "expiration",
                             {"id": job.id, "expiration": context.get("expiration")}))
            self.expiration_sent.append(job.id)
        if job.state != old:
            self._state_changed(job)
        self._action(job)

    def _update(self, job: Job, name: str, entry: dict, context: dict) -> None:
        """RFC 21's transitions: what each event does to the job (flux-core's event.c)."""
        state = job.state
        if name == "submit":
            job.t_submit = entry["timestamp"]
            job.userid = context.get("userid", job.userid)
            job.urgency = context.get("urgency", job.urgency)
            job.flags = context.get("flags", job.flags)
        elif name == "invalidate":
            job.readonly = True
        elif name == "validate":
            job.state = J.DEPEND
        elif name.startswith("dependency-"):
            if state in (J.NEW, J.DEPEND):
                desc = str(context.get("description"))
                if name == "dependency-add":
                    job.dependencies.add(desc)
                elif name == "dependency-remove":
                    job.dependencies.discard(desc)
        elif name == "depend":
            if state == J.DEPEND:
                job.state = J.PRIORITY
        elif name == "priority":
            if state in (J.PRIORITY, J.SCHED):
                job.priority = context["priority"]
            if state == J.PRIORITY:
                job.state = J.SCHED
        elif name == "urgency":
            job.urgency = context["urgency"]
            if state == J.SCHED:
                job.state = J.PRIORITY
        elif name == "exception":
            if state not in (J.INACTIVE, J.NEW) and context.get("severity") == 0:
                if job.end_event is None:
                    job.end_event = entry
                job.state = J.CLEANUP
        elif name == "alloc":
            job.has_resources = True
            if state == J.SCHED:
                job.state = J.RUN
        elif name == "start":
            job.started = True
        elif name == "free":
            job.has_resources = False
        elif name == "finish":
            if state == J.RUN:
                if job.end_event is None:
                    job.end_event = entry
                job.state = J.CLEANUP
        elif name == "clean":
            if state == J.CLEANUP:
                job.state = J.INACTIVE
                job.t_clean = entry["timestamp"]
        elif name == "flux-restart":
            if state == J.SCHED:
                job.state = J.PRIORITY
        elif name == "jobspec-update":
            job.apply_jobspec_updates(context)
            if state == J.SCHED:
                job.state = J.PRIORITY
        elif name == "resource-update":
            if isinstance(job.R, dict) and "expiration" in context:
                import copy

                job.R = copy.deepcopy(job.R)
                job.R.setdefault("execution", {})["expiration"] = context["expiration"]
        elif name == "set-flags":
            if "immutable" in (context.get("flags") or []):
                job.immutable = True

    def _state_changed(self, job: Job) -> None:
        """flux-core's plugin callbacks on a new state: the default priority plugin and
        the release of jobs that depend on one that became inactive."""
        if job.state == J.PRIORITY:
            self._reprioritize(job, self._priority_of(job))
        elif job.state == J.INACTIVE:
            self._release_dependents(job)

    def _action(self, job: Job) -> None:
        """What a job in its (possibly new) state needs done (flux-core's event_job_action)."""
        state = job.state
        if state == J.DEPEND:
            if not job.dependencies and not job.depend_posted \
                    and not any(e["name"] == "dependency-add" for e, _ in job.queue):
                job.depend_posted = True
                self.post(job, "depend")
        elif state == J.PRIORITY:
            if job.alloc_pending:
                self._cancel_alloc(job)
            self._dequeue(job)
        elif state == J.SCHED:
            if not job.alloc_queued and not job.alloc_pending \
                    and job.priority != J.PRIORITY_MIN \
                    and self.queues.is_started(job.queue_name):
                self.queue[job.id] = job
                job.alloc_queued = True
        elif state == J.RUN:
            self._start(job)
        elif state == J.CLEANUP:
            if job.alloc_pending:
                self._cancel_alloc(job)
            self._dequeue(job)
            if job.has_resources and not job.start_pending and not job.free_posted:
                if self.sched_online:
                    self.out.append(("send", "sched.free",
                                     {"id": job.id, "R": job.R, "final": True}))
                job.free_posted = True
                self.post(job, "free")
            if not job.alloc_queued and not job.alloc_pending and not job.start_pending \
                    and not job.has_resources:
                self.post(job, "clean")
        elif state == J.INACTIVE:
            job.readonly = True
            if self.active.pop(job.id, None) is not None:
                self.inactive[job.id] = job
                if job.flags & J.FLAG_WAITABLE:
                    self._wait_notify(job)
                self.drain_check()

    # -- submission ------------------------------------------------------------------

    def submit(self, jobs: list[dict]) -> list[list]:
        """New jobs (job-ingest's ``job-manager.submit`` entries): each gets its submit
        event, its dependencies checked, then its validate event, which waits until
        :meth:`release`; the ``[id, text]`` of the jobs refused."""
        for obj in jobs:
            if not isinstance(obj, dict) or not all(
                    isinstance(obj.get(k), int) for k in ("id", "userid", "urgency", "flags")) \
                    or not isinstance(obj.get("t_submit"), (int, float)) \
                    or not isinstance(obj.get("jobspec"), dict):
                raise Refused(errno.EPROTO)
        errors: list[list] = []
        for obj in jobs:
            job = Job(obj["id"], obj["userid"], obj["urgency"], obj["flags"],
                      obj["t_submit"], obj["jobspec"])
            try:
                queue = self.queues.lookup(job.queue_name)
            except QueueError as exc:
                errors.append([job.id, str(exc)])
                continue
            if not queue.enabled:
                to = f" to {job.queue_name}" if job.queue_name is not None else ""
                errors.append([job.id, f"job submission{to} is disabled: "
                                       f"{queue.disable_reason}"])
                continue
            if job.id in self.active or job.id in self.inactive:
                errors.append([job.id, "hash insert failed"])
                continue
            self.active[job.id] = job
            self.post(job, "submit", {"userid": job.userid, "urgency": job.urgency,
                                      "flags": job.flags, "version": 1},
                      timestamp=job.t_submit)
            problem = self._check_dependencies(job)
            if problem is not None:
                errors.append([job.id, problem])
                self.post(job, "invalidate", commit=False)
                self.active.pop(job.id, None)
                self._forget_dependent(job)
                continue
            job.hold = True
            self.post(job, "validate")
            if job.flags & J.FLAG_WAITABLE:
                self.waitables += 1
            if job.id > self.max_jobid:
                self.max_jobid = job.id
        return errors

    # -- restart ---------------------------------------------------------------------------

    def replay(self, jobid: int, entries: list[dict], jobspec: Optional[dict],
               R: Optional[dict]) -> Job:
        """A job rebuilt from its stored eventlog (a restart): its events applied without
        being written again, then the action of the state it is in (flux-core's restart)."""
        job = Job(jobid, jobspec=jobspec)
        job.R = R
        for entry in entries:
            name = entry["name"]
            job.eventlog.append(entry)
            self._update(job, name, entry, entry.get("context") or {})
            job.posted.add(name)
            if name == "depend":
                job.depend_posted = True
            elif name == "free":
                job.free_posted = True
        self.active[jobid] = job
        self.max_jobid = max(self.max_jobid, jobid)
        if job.flags & J.FLAG_WAITABLE:
            self.waitables += 1
        self._action(job)
        return job

    def restarted(self) -> None:
        """All stored jobs are back: dependencies checked again, SCHED jobs prioritized
        again (``flux-restart``), as flux-core does after its reload."""
        for job in list(self.active.values()):
            if job.state in (J.NEW, J.DEPEND):
                problem = self._check_dependencies(job)
                if problem is not None:
                    self.raise_exception(job, "dependency", 4, None,
                                         f"{problem} (job may be stuck in DEPEND state)")
            elif job.state == J.SCHED:
                job.priority = -1
                self.post(job, "flux-restart")
        self._sched_work()

    # -- priority -------------------------------------------------------------------------

    @staticmethod
    def _priority_of(job: Job) -> int:
        return job.urgency  # flux-core's priority-default plugin

    def _reprioritize(self, job: Job, priority: int) -> None:
        if job.urgency == J.URGENCY_HOLD:
            priority = J.PRIORITY_MIN
        elif job.urgency == J.URGENCY_EXPEDITE:
            priority = J.PRIORITY_MAX
        if priority == job.priority and job.state == J.SCHED:
            return
        self.post(job, "priority", {"priority": priority})
        job.priority = priority
        if job.alloc_pending and priority == J.PRIORITY_MIN:
            self._cancel_alloc(job)
        elif job.alloc_pending:
            self.out.append(("send", "sched.prioritize", {"jobs": [[job.id, priority]]}))

    # -- dependencies (flux-core's dependency-after plugin) -----------------------------

    def _check_dependencies(self, job: Job) -> Optional[str]:
        """None, or why the job's ``attributes.system.dependencies`` refuse it."""
        attrs = (job.jobspec or {}).get("attributes") or {}
        deps = (attrs.get("system") or {}).get("dependencies") if isinstance(attrs, dict) else None
        if deps is None:
            return None
        if not isinstance(deps, list):
            return "dependencies object must be an array"
        for dep in deps:
            scheme = dep.get("scheme") if isinstance(dep, dict) else None
            value = dep.get("value") if isinstance(dep, dict) else None
            if not isinstance(scheme, str) or not isinstance(value, str):
                return "unable to unpack dependencies: dependency entry must be an object"
            kind = _AFTER.get(scheme)
            if kind is None:
                return f'dependency scheme "{scheme}" not supported'
            problem = self._after(job, scheme, kind, value)
            if problem is not None:
                return problem
        return None

    def _after(self, job: Job, scheme: str, kind: int, value: str) -> Optional[str]:
        from flux.job import id_parse

        try:
            afterid = id_parse(value)
        except (ValueError, OSError):
            afterid = 0
        if afterid == 0:
            return f'dependency: {scheme}: "{value}" is not a valid jobid'
        target = self.find(afterid)
        if target is None:
            return f"dependency: {scheme}: id {value}: job not found"
        if target.userid != job.userid:
            return f"{scheme}: Permission denied for job {value}"
        desc = f"{_AFTER_DESC[kind]}={value}"
        if desc not in job.dependencies:
            self.post(job, "dependency-add", {"description": desc})
        if target.state == J.INACTIVE:
            if kind != AFTER_ANY and "alloc" not in target.posted:
                return f"dependency: after: {value} never started"
            if kind == AFTER_START and "start" not in target.posted:
                return f"dependency: after: {value} never started"
            result = target.result()
            if kind == AFTER_SUCCESS and result != J.RESULT_COMPLETED:
                return f"dependency: afterok: job {value} failed or was canceled"
            if kind == AFTER_FAILURE and result == J.RESULT_COMPLETED:
                return f"dependency: afternotok: job {value} succeeded"
            if kind == AFTER_EXCEPT and (target.end_event or {}).get("name") != "exception":
                return f"dependency: afterexcept: job {value}: no exception"
            self.post(job, "dependency-remove", {"description": desc})
            return None
        if kind == AFTER_START and "start" in target.posted:
            self.post(job, "dependency-remove", {"description": desc})
            return None
        target.after.append((job.id, desc, kind))
        return None

    def _forget_dependent(self, job: Job) -> None:
        for other in self.active.values():
            other.after = [a for a in other.after if a[0] != job.id]

    def _remove_dependency(self, jobid: int, desc: str) -> None:
        dependent = self.active.get(jobid)
        if dependent is not None and dependent.state in (J.NEW, J.DEPEND):
            self.post(dependent, "dependency-remove", {"description": desc})

    def _release_after(self, job: Job, mask: int) -> None:
        keep = []
        for jobid, desc, kind in job.after:
            if kind & mask:
                self._remove_dependency(jobid, desc)
            else:
                keep.append((jobid, desc, kind))
        job.after = keep

    def _release_dependents(self, job: Job) -> None:
        if not job.after:
            return
        if "alloc" not in job.posted:
            self._release_after(job, AFTER_ANY)
            why = "job never started"
        else:
            if job.result() != J.RESULT_COMPLETED:
                mask = AFTER_ANY | AFTER_FAILURE
                if (job.end_event or {}).get("name") == "exception":
                    mask |= AFTER_EXCEPT
            else:
                mask = AFTER_ANY | AFTER_SUCCESS
            self._release_after(job, mask)
            why = "can never be satisfied"
        for jobid, desc, _kind in job.after:
            dependent = self.active.get(jobid)
            if dependent is not None:
                self.raise_exception(dependent, "dependency", 0, None,
                                     f"dependency {desc} {why}")
        job.after = []

    # -- exceptions, urgency, kill ------------------------------------------------------

    def raise_exception(self, job: Job, kind: str, severity: int, userid: Optional[int],
                        note: Optional[str], wait_status: int = -1) -> None:
        """Post an exception and publish ``job-exception`` (flux-core's raise_job_exception)."""
        context: dict = {"type": kind, "severity": severity, "note": note or ""}
        if userid is not None:
            context["userid"] = userid
        published: dict = {"id": job.id, "type": kind, "severity": severity}
        if wait_status >= 0:
            context["wait_status"] = published["wait_status"] = wait_status
        self.post(job, "exception", context)
        self.out.append(("publish", "job-exception", published))
        self._sched_work()

    def _authorized(self, job: Job, userid: int, owner: bool) -> bool:
        return owner or userid == job.userid

    def _lookup_active(self, jobid: Any, unknown: str, errnum: int) -> Job:
        job = self.active.get(jobid)
        if job is None:
            raise Refused(errnum, "job is inactive" if jobid in self.inactive else unknown)
        return job

    def raise_request(self, obj: dict, userid: int, owner: bool) -> None:
        """``job-manager.raise`` (``flux cancel`` raises type ``cancel``)."""
        jobid, severity, kind = obj.get("id"), obj.get("severity"), obj.get("type")
        note, wait_status = obj.get("note"), obj.get("wait_status", -1)
        if not isinstance(jobid, int) or not isinstance(severity, int) \
                or not isinstance(kind, str) or (note is not None and not isinstance(note, str)) \
                or not isinstance(wait_status, int):
            raise Refused(errno.EPROTO)
        if not 0 <= severity <= 7:
            raise Refused(errno.EPROTO, "invalid exception severity")
        if not _exception_allowed(severity, kind):
            raise Refused(errno.EPROTO, "invalid exception type")
        job = self._lookup_active(jobid, "unknown job id", errno.ENOENT)
        if not self._authorized(job, userid, owner):
            raise Refused(errno.EPERM, "guests can only raise exceptions on their own jobs")
        self.raise_exception(job, kind, severity, userid, note, wait_status)

    def memo_request(self, obj: dict, userid: int, owner: bool) -> None:
        """``job-manager.memo``: a ``memo`` event (job-list merges it into the job's
        ``annotations.user``; a nested instance posts its ``uri`` this way);
        ``volatile``: not committed to the eventlog."""
        jobid, memo, volatile = obj.get("id"), obj.get("memo"), obj.get("volatile", False)
        if not isinstance(jobid, int) or not isinstance(memo, dict) \
                or not isinstance(volatile, bool):
            raise Refused(errno.EPROTO)
        job = self._lookup_active(jobid, "unknown job id", errno.ENOENT)
        if not self._authorized(job, userid, owner):
            raise Refused(errno.EPERM, "guests can only add a memo to their own jobs")
        self.post(job, "memo", memo, commit=not volatile)

    def raiseall_request(self, obj: dict, userid: int, owner: bool) -> dict:
        """``job-manager.raiseall``: ``{count, errors}`` (``flux cancel --all``)."""
        try:
            dry_run, target, states = obj["dry_run"], obj["userid"], obj["states"]
            severity, kind = obj["severity"], obj["type"]
        except (KeyError, TypeError):
            raise Refused(errno.EPROTO) from None
        if not owner and target != userid:
            raise Refused(errno.EPERM, "guests can only raise exceptions on their own jobs")
        if not isinstance(severity, int) or not 0 <= severity <= 7:
            raise Refused(errno.EPROTO, "invalid exception severity")
        if not _exception_allowed(severity, kind):
            raise Refused(errno.EPROTO, "invalid exception type")
        jobs = [j for j in self.active.values() if j.state & states
                and target in (-1, 0xFFFFFFFF, j.userid)]
        if not dry_run:
            for job in jobs:
                self.raise_exception(job, kind, severity, userid, obj.get("note"))
        return {"count": len(jobs), "errors": 0}

    def urgency_request(self, obj: dict, userid: int, owner: bool) -> dict:
        """``job-manager.urgency``: ``{"old_urgency": N}``."""
        jobid, urgency = obj.get("id"), obj.get("urgency")
        if not isinstance(jobid, int) or not isinstance(urgency, int):
            raise Refused(errno.EPROTO)
        if not J.URGENCY_MIN <= urgency <= J.URGENCY_MAX:
            raise Refused(errno.EINVAL, "urgency value is out of range")
        job = self._lookup_active(jobid, "unknown job", errno.EINVAL)
        if not self._authorized(job, userid, owner):
            raise Refused(errno.EPERM, "guests can only reprioritize their own jobs")
        if not owner and urgency > J.URGENCY_DEFAULT:
            raise Refused(errno.EPERM, "guests can only adjust urgency <= default")
        if job.has_resources:
            raise Refused(errno.EINVAL,
                          "urgency cannot be changed once resources are allocated")
        old = job.urgency
        self.post(job, "urgency", {"userid": userid, "urgency": urgency})
        self._sched_work()
        return {"old_urgency": old}

    def kill_request(self, obj: dict, userid: int, owner: bool) -> None:
        """``job-manager.kill``: the signal goes to the job's shell as an event."""
        jobid, signum = obj.get("id"), obj.get("signum")
        if not isinstance(jobid, int) or not isinstance(signum, int):
            raise Refused(errno.EPROTO)
        if not 0 < signum < _NSIG:
            raise Refused(errno.EINVAL, "Invalid signal number")
        job = self._lookup_active(jobid, "unknown job id", errno.EINVAL)
        if not self._authorized(job, userid, owner):
            raise Refused(errno.EPERM, "guests may only send signals to their own jobs")
        if not job.state & J.RUNNING:
            raise Refused(errno.EINVAL, "job is not running")
        self.out.append(("publish", f"shell-{jobid}.kill", {"signum": signum}))

    def killall_request(self, obj: dict, userid: int, owner: bool) -> dict:
        """``job-manager.killall``: signal every running job of ``userid`` (all: -1)."""
        try:
            dry_run, target, signum = obj["dry_run"], obj["userid"], obj["signum"]
        except (KeyError, TypeError):
            raise Refused(errno.EPROTO, "error decoding request") from None
        if not owner and target != userid:
            raise Refused(errno.EPERM, "guests can only kill their own jobs")
        if not isinstance(signum, int) or not 0 < signum < _NSIG:
            raise Refused(errno.EINVAL, "Invalid signal number")
        jobs = [j for j in self.active.values() if j.state & J.RUNNING
                and target in (-1, 0xFFFFFFFF, j.userid)]
        if not dry_run:
            for job in jobs:
                self.out.append(("publish", f"shell-{job.id}.kill", {"signum": signum}))
        return {"count": len(jobs), "errors": 0}

    # -- wait ------------------------------------------------------------------------------

    def wait_request(self, req: Any, obj: dict) -> None:
        """``job-manager.wait``: answered now for a zombie, else when the job ends."""
        jobid = obj.get("id")
        if not isinstance(jobid, int):
            raise Refused(errno.EPROTO, "malformed wait request")
        if jobid in (-1, 0xFFFFFFFFFFFFFFFF):  # FLUX_JOBID_ANY (jansson sends it as -1)
            if self.zombies:
                job = self.zombies.pop(next(iter(self.zombies)))
                self._wait_respond(req, job)
            else:
                self.wait_any.append(req)
        elif jobid in self.zombies:
            self._wait_respond(req, self.zombies.pop(jobid))
        elif jobid in self.active:
            job = self.active[jobid]
            if job.waiter is not None:
                raise Refused(errno.ECHILD, "job id already has a waiter")
            if not job.flags & J.FLAG_WAITABLE:
                raise Refused(errno.ECHILD, "job was not submitted with FLUX_JOB_WAITABLE")
            job.waiter = req
            self.waiters += 1
            return
        else:
            raise Refused(errno.ECHILD,
                          "invalid job id, or job may be inactive and not waitable")
        if len(self.wait_any) + self.waiters > self.waitables and self.wait_any:
            self.out.append(("error", self.wait_any.pop(), errno.ECHILD,
                             "there are no more waitable jobs"))

    def _wait_respond(self, req: Any, job: Job) -> None:
        end = job.end_event or {}
        ctx = end.get("context") or {}
        if end.get("name") == "exception":
            success, text = False, f"Fatal exception type={ctx.get('type')} {ctx.get('note')}"
        else:
            success, text = _waitstatus_text(ctx.get("status", 0))
        self.out.append(("respond", req, {"id": job.id, "success": success, "errstr": text}))

    def _wait_notify(self, job: Job) -> None:
        if job.waiter is not None:
            self._wait_respond(job.waiter, job)
            job.waiter = None
            self.waiters -= 1
        elif self.wait_any:
            self._wait_respond(self.wait_any.pop(0), job)
        else:
            self.zombies[job.id] = job
        self.waitables -= 1

    def wait_disconnect(self, match: Callable[[Any], bool]) -> None:
        """Forget the waits of a client that went away."""
        self.wait_any = [r for r in self.wait_any if not match(r)]
        for job in self.active.values():
            if job.waiter is not None and match(job.waiter):
                job.waiter = None
                self.waiters -= 1

    # -- journal -------------------------------------------------------------------------

    def journal_request(self, req: Any, obj: dict) -> None:
        """``job-manager.events-journal``: the backlog, a sentinel, then every event."""
        allow, deny, full = obj.get("allow"), obj.get("deny"), obj.get("full", False)
        if allow is not None and not isinstance(allow, dict):
            raise Refused(errno.EPROTO, "job-manager.events allow should be an object")
        if deny is not None and not isinstance(deny, dict):
            raise Refused(errno.EPROTO, "job-manager.events deny should be an object")
        jobs = list(self.inactive.values()) if full else []
        jobs.extend(self.active.values())
        for job in jobs:
            events = [e for e in job.eventlog if _allowed(allow, deny, e["name"])]
            payload: dict = {"id": job.id, "events": events}
            if job.jobspec is not None:
                payload["jobspec"] = job.jobspec
            if job.R is not None:
                payload["R"] = job.R
            self.out.append(("respond", req, payload))
        # the end of the backlog: FLUX_JOBID_ANY, which jansson writes as -1
        self.out.append(("respond", req, {"id": -1, "events": []}))
        self.listeners.append((req, allow, deny))

    def journal_cancel(self, match: Callable[[Any], bool]) -> None:
        """``events-journal-cancel``: the first matching stream ends with ENODATA."""
        for index, entry in enumerate(self.listeners):
            if match(entry[0]):
                del self.listeners[index]
                self.out.append(("error", entry[0], errno.ENODATA, None))
                return

    def journal_disconnect(self, match: Callable[[Any], bool]) -> None:
        self.listeners = [entry for entry in self.listeners if not match(entry[0])]

    def _journal(self, job: Job, name: str, entry: dict) -> None:
        self.journal_events += 1
        if not self.listeners:
            return
        payload: dict = {"id": job.id, "events": [entry]}
        if name == "submit":
            payload["jobspec"] = job.jobspec
        elif name == "alloc":
            payload["R"] = job.R
        for req, allow, deny in self.listeners:
            if _allowed(allow, deny, name):
                self.out.append(("respond", req, payload))

    # -- scheduler interface (RFC 27) ------------------------------------------------------

    def sched_hello(self) -> list[dict]:
        """The jobs holding resources, for a (re)starting scheduler."""
        self.sched_online = False
        return [{"id": j.id, "priority": j.priority, "userid": j.userid, "t_submit": j.t_submit}
                for j in self.active.values() if j.has_resources]

    def sched_ready(self, obj: dict, sender: Optional[str]) -> dict:
        mode, limit = obj.get("mode"), obj.get("limit", 0)
        if not isinstance(mode, str) or not isinstance(limit, int):
            raise Refused(errno.EPROTO)
        if mode == "limited":
            if limit <= 0:
                raise Refused(errno.EPROTO)
            self.alloc_limit = limit
        elif mode == "unlimited":
            self.alloc_limit = 0
        else:
            raise Refused(errno.EPROTO)
        self.sched_sender = sender
        self.sched_online = True
        count = len(self.queue)
        for job in list(self.active.values()):
            if job.state == J.CLEANUP and job.has_resources:
                self._action(job)
        self._sched_work()
        return {"count": count}

    def sched_teardown(self) -> None:
        """The scheduler went away: its pending allocations go back to the queue."""
        if not self.sched_online:
            return
        for job in list(self.sent.values()):
            self._requeue(job)
        self.sched_online = False
        self.sched_sender = None

    def _requeue(self, job: Job) -> None:
        self.sent.pop(job.id, None)
        job.alloc_pending = False
        job.cancel_sent = False
        if job.state == J.SCHED and job.priority != J.PRIORITY_MIN \
                and self.queues.is_started(job.queue_name):
            self.queue[job.id] = job
            job.alloc_queued = True
        self._clear_annotations(job, "sched")

    def _dequeue(self, job: Job) -> None:
        if job.alloc_queued:
            self.queue.pop(job.id, None)
            job.alloc_queued = False

    def _cancel_alloc(self, job: Job) -> None:
        if job.alloc_pending and not job.cancel_sent:
            job.cancel_sent = True
            self.out.append(("send", "sched.cancel", {"id": job.id}))

    def _sched_work(self) -> None:
        """Send alloc requests while the scheduler takes them (flux-core's check_cb)."""
        if not self.sched_online:
            return
        queue = self.queue
        while queue:
            if self.alloc_limit and len(self.sent) >= self.alloc_limit:
                return
            job = min(queue.values(), key=_queue_order)
            if job.priority == J.PRIORITY_MIN:
                return
            del queue[job.id]
            job.alloc_queued = False
            job.alloc_pending = True
            job.cancel_sent = False
            self.sent[job.id] = job
            self.out.append(("send", "sched.alloc", {
                "id": job.id, "priority": job.priority, "userid": job.userid,
                "t_submit": job.t_submit, "jobspec": job.jobspec}))
            if job.flags & J.FLAG_DEBUG:
                self.post(job, "debug.alloc-request")

    def alloc_response(self, obj: Any) -> None:
        """A ``sched.alloc`` response (success, annotate, deny or cancel)."""
        try:
            jobid, kind = obj["id"], obj["type"]
            note, annotations, R = obj.get("note"), obj.get("annotations"), obj.get("R")
        except (KeyError, TypeError):
            self.log("sched.alloc-response: protocol error")
            self.sched_teardown()
            return
        job = self.active.get(jobid)
        if job is not None and not job.alloc_pending:
            job = None
        if kind == ALLOC_SUCCESS:
            if not isinstance(R, dict):
                self.log("sched.alloc-response: protocol error")
                self.sched_teardown()
                return
            R.pop("scheduling", None)
            if job is None:
                self.out.append(("send", "sched.free", {"id": jobid, "R": R, "final": True}))
                return
            self.sent.pop(jobid, None)
            if job.has_resources or job.R is not None:
                self.log(f"sched.alloc-response: id={jobid} already allocated")
                self.sched_teardown()
                return
            job.R = R
            if annotations:
                self._annotate(job, annotations)
            job.alloc_pending = False
            self.post(job, "alloc", {"annotations": _copy(job.annotations)}
                      if job.annotations else None)
        elif kind == ALLOC_ANNOTATE:
            if not isinstance(annotations, dict):
                self.sched_teardown()
                return
            if job is not None:
                self._annotate(job, annotations)
        elif kind == ALLOC_DENY:
            if job is None:
                return
            job.alloc_pending = False
            self.sent.pop(jobid, None)
            self._clear_annotations(job, None)
            self.raise_exception(job, "alloc", 0, self.owner, note)
        elif kind == ALLOC_CANCEL:
            if job is None:
                return
            if job.state == J.SCHED:
                self._requeue(job)
            else:
                self.sent.pop(jobid, None)
                self._clear_annotations(job, None)
            job.alloc_pending = False
            job.cancel_sent = False
            self._action(job)
        else:
            self.sched_teardown()
            return
        self._sched_work()
        self.drain_check()

    def _annotate(self, job: Job, update: dict) -> None:
        current = job.annotations if job.annotations is not None else {}
        _merge(current, update)
        job.annotations = current or None
        self.post(job, "annotations", {"annotations": _copy(job.annotations)}, commit=False)

    def _clear_annotations(self, job: Job, key: Optional[str]) -> None:
        current = job.annotations
        if current is None:
            return
        if key:
            current.pop(key, None)
        else:
            current.clear()
        if not current:
            job.annotations = None
            self.post(job, "annotations", {"annotations": None}, commit=False)

    # -- exec interface (RFC 32) -------------------------------------------------------------

    def exec_hello(self, obj: dict, sender: Optional[str]) -> None:
        service = obj.get("service")
        if not isinstance(service, str):
            raise Refused(errno.EPROTO)
        if self.start_topic is not None and any(j.start_pending for j in self.active.values()):
            raise Refused(errno.EINVAL)
        self.start_topic = f"{service}.start"
        self.exec_sender = sender
        for job in list(self.active.values()):
            if job.state == J.RUN:
                self._action(job)

    def exec_teardown(self) -> None:
        """The exec service went away: no start is pending any more."""
        if self.start_topic is None:
            return
        self.start_topic = None
        self.exec_sender = None
        for job in list(self.active.values()):
            if job.start_pending:
                if job.flags & J.FLAG_DEBUG:
                    self.post(job, "debug.start-lost", {"note": "exec service went away"})
                job.start_pending = False

    def _start(self, job: Job) -> None:
        if job.start_pending or self.start_topic is None:
            return
        self.out.append(("send", self.start_topic, {
            "id": job.id, "userid": job.userid, "jobspec": job.jobspec,
            "reattach": job.started, "R": job.R}))
        job.start_pending = True
        if job.flags & J.FLAG_DEBUG:
            self.post(job, "debug.start-request")

    def expiration_update_response(self, errnum: int) -> None:
        """The exec service's answer to the oldest ``<exec>.expiration``: a refusal is a
        non-fatal exec exception, as flux-core's."""
        if not self.expiration_sent:
            return
        job = self.active.get(self.expiration_sent.pop(0))
        if errnum and job is not None:
            self.raise_exception(job, "exec", 1, 0xFFFFFFFF,
                                 "failed to send expiration update to exec system: "
                                 "job termination may not coincide with expiration")

    def start_response(self, topic: Optional[str], obj: Any) -> None:
        """One response of the exec service's ``<service>.start`` stream."""
        if topic != self.start_topic:
            self.log(f"start: topic={topic} not registered")
            return
        try:
            jobid, kind, data = obj["id"], obj["type"], obj["data"]
        except (KeyError, TypeError):
            self.log("start response payload")
            return
        job = self.active.get(jobid)
        if job is None:
            self.log(f"start response: id={jobid} not active")
            return
        if kind == "start":
            if job.started:
                self.log(f"start response: id={jobid} should not get start event")
            else:
                self.post(job, "start")
        elif kind == "release":
            ranks, final = data.get("ranks"), data.get("final")
            if not isinstance(ranks, str) or not isinstance(final, bool):
                self.log("start: release response: malformed data")
                return
            if final:
                job.start_pending = False
            self.post(job, "release", {"ranks": ranks, "final": final})
        elif kind == "exception":
            severity, xtype, note = data.get("severity"), data.get("type"), data.get("note")
            if not isinstance(severity, int) or not isinstance(xtype, str):
                self.log("start: exception response: malformed data")
                return
            self.post(job, "exception", {"type": xtype, "severity": severity,
                                         "userid": self.owner, "note": note or ""})
        elif kind == "finish":
            status = data.get("status")
            if not isinstance(status, int):
                self.log("start: finish response: malformed data")
                return
            self.post(job, "finish", {"status": status})
        elif kind != "reattached":
            self.log(f"start: unknown response type={kind}")
            return
        self._sched_work()

    # -- queues (RFC 33) ----------------------------------------------------------------------

    def configure(self, conf: dict) -> None:
        """The instance configuration's ``[queues]`` and ``[job-manager]`` parts."""
        jm = conf.get("job-manager")
        jm = jm if isinstance(jm, dict) else {}
        self.stop_queues_on_restart = bool(jm.get("stop-queues-on-restart", False))
        self._configure_purge(jm)
        try:
            self.queues.configure(conf.get("queues"))
        except QueueError as exc:
            raise Refused(errno.EINVAL, str(exc)) from None

    def _queue_changed(self, name: Optional[str], event: str) -> None:
        """A queue started (its SCHED jobs go to the scheduler) or stopped (they are
        withdrawn: queued ones dequeued, pending ones canceled), as flux-core's queue.c."""
        if event == "start":
            for job in self.active.values():
                if job.queue_name == name and job.state == J.SCHED and not job.alloc_queued \
                        and not job.alloc_pending and job.priority != J.PRIORITY_MIN:
                    self.queue[job.id] = job
                    job.alloc_queued = True
            self._sched_work()
        elif event == "stop":
            for job in self.active.values():
                if job.queue_name == name:
                    if job.alloc_queued:
                        self._dequeue(job)
                    elif job.alloc_pending:
                        self._cancel_alloc(job)

    @staticmethod
    def _queue_args(obj: Any, key: str) -> tuple[Optional[str], bool, Optional[str], bool]:
        name, flag, reason, all_ = obj.get("name"), obj.get(key), obj.get("reason"), obj.get("all")
        if (name is not None and not isinstance(name, str)) or not isinstance(flag, bool) \
                or (reason is not None and not isinstance(reason, str)) \
                or not isinstance(all_, bool):
            raise Refused(errno.EPROTO)
        return name, flag, reason, all_

    def queue_list(self) -> dict:
        return {"queues": self.queues.names()}

    def queue_status(self, obj: dict) -> dict:
        name = obj.get("name")
        if name is not None and not isinstance(name, str):
            raise Refused(errno.EPROTO)
        try:
            return self.queues.lookup(name).status(self.sched_online)
        except QueueError as exc:
            raise Refused(errno.EINVAL, str(exc)) from None

    def queue_enable(self, obj: dict) -> None:
        """``job-manager.queue-enable``: ``{name?, enable, reason?, all}``."""
        name, enable, reason, all_ = self._queue_args(obj, "enable")
        if not enable and reason is None:
            raise Refused(errno.EINVAL, "reason is required for disable")
        if name is None and self.queues.have_named() and not all_:
            raise Refused(errno.EINVAL, "Use --all to apply this command to all queues")
        try:
            if enable:
                self.queues.enable(name)
            else:
                self.queues.disable(name, reason)
        except QueueError as exc:
            raise Refused(errno.EINVAL, str(exc)) from None

    def queue_start(self, obj: dict) -> None:
        """``job-manager.queue-start``: ``{name?, start, reason?, all, nocheckpoint?}``."""
        name, start, reason, all_ = self._queue_args(obj, "start")
        nocheckpoint = obj.get("nocheckpoint", False)
        if not isinstance(nocheckpoint, bool):
            raise Refused(errno.EPROTO)
        if name is None and self.queues.have_named() and not all_:
            raise Refused(errno.EINVAL, "Use --all to apply this command to all queues")
        try:
            if start:
                self.queues.start(name, nocheckpoint)
            else:
                self.queues.stop(name, reason, nocheckpoint)
        except QueueError as exc:
            raise Refused(errno.EINVAL, str(exc)) from None

    def running_count(self) -> int:
        return sum(1 for j in self.active.values() if j.state & J.RUNNING)

    def alloc_query(self) -> dict:
        """``job-manager.alloc-query`` (``flux queue status -v``)."""
        return {"queue_length": len(self.queue), "alloc_pending": len(self.sent),
                "running": self.running_count()}

    def drain_request(self, req: Any) -> None:
        """``job-manager.drain``: answered once no job is active."""
        self.drain_requests.append(req)
        self.drain_check()

    def idle_request(self, req: Any) -> None:
        """``job-manager.idle``: answered once nothing runs and no alloc is pending."""
        self.idle_requests.append(req)
        self.drain_check()

    def drain_check(self) -> None:
        if not self.drain_requests and not self.idle_requests:
            return
        if not self.active:
            for req in self.drain_requests:
                self.out.append(("respond-committed", req, None))
            self.drain_requests = []
        if self.idle_requests and not self.sent:
            running = self.running_count()
            if running == 0:
                pending = len(self.active) - running
                for req in self.idle_requests:
                    self.out.append(("respond-committed", req, {"pending": pending}))
                self.idle_requests = []

    def drain_disconnect(self, match: Callable[[Any], bool]) -> None:
        self.drain_requests = [r for r in self.drain_requests if not match(r)]
        self.idle_requests = [r for r in self.idle_requests if not match(r)]

    # -- update (flux update) -------------------------------------------------------------------

    def update_request(self, req: Any, obj: dict, userid: int, owner: bool) -> None:
        """``job-manager.update``: ``{id, updates}`` checked as flux-core's update plugins
        (duration, queue), then posted as ``jobspec-update`` (and ``resource-update`` for
        a running job, after the scheduler had its say); answered by an action."""
        jobid, updates = obj.get("id"), obj.get("updates")
        if not isinstance(jobid, int) or not isinstance(updates, dict):
            raise Refused(errno.EPROTO)
        prefixes = ("attributes", "resources", "tasks")
        if not all(k in prefixes or k.startswith(tuple(p + "." for p in prefixes))
                   for k in updates):
            raise Refused(errno.EINVAL, "one or more jobspec updates are invalid")
        job = self.active.get(jobid)
        if job is None:
            if jobid in self.inactive:
                raise Refused(errno.EINVAL, "job is inactive")
            raise Refused(errno.ENOENT, "unknown job id")
        if not self._authorized(job, userid, owner):
            raise Refused(errno.EPERM, "guests may only update their own jobs")
        if job.immutable and not owner:
            raise Refused(errno.EPERM, "job is immutable due to previous instance owner update")
        validate = False
        extra: dict = {}
        for key, value in updates.items():
            if key == "attributes.system.duration":
                validate |= not self._update_duration(job, value, owner)
            elif key == "attributes.system.queue":
                extra.update(self._update_queue(job, value))
                validate = True
            else:
                raise Refused(errno.EINVAL, f"update of {key} not supported")
        updates = dict(updates, **extra)
        if job.state & J.RUNNING and "attributes.system.duration" in updates:
            expiration = self._expiration(job, updates["attributes.system.duration"])
            self.expiration_checks.append((req, job, updates, validate, userid, owner,
                                           expiration))
            self.out.append(("send", "sched.expiration",
                             {"id": job.id, "expiration": expiration}))
            return
        self._post_updates(req, job, updates, validate, userid, owner)

    def _update_duration(self, job: Job, value: Any, owner: bool) -> bool:
        """flux-core's update-duration plugin; True when the owner's update needs no
        further validation."""
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise Refused(errno.EINVAL, "plugin args unpack failed")
        if value < 0:
            raise Refused(errno.EINVAL, "duration must not be negative")
        if job.state & J.RUNNING and not owner:
            raise Refused(errno.EINVAL, "duration update of running job requires"
                                        " instance owner privileges")
        return owner

    def _update_queue(self, job: Job, name: Any) -> dict:
        """flux-core's update-queue plugin: the constraints that go with the new queue."""
        if not isinstance(name, str):
            raise Refused(errno.EINVAL, "plugin args unpack failed")
        if job.state & J.RUNNING:
            raise Refused(errno.EINVAL, "update of queue for running job not supported")
        if job.queue_name == name:
            raise Refused(errno.EINVAL, f"job queue is already set to {name}")
        try:
            new = self.queues.lookup(name)
            if not new.enabled:
                raise QueueError(f"queue {name} is currently disabled")
            current = self.queues.lookup(job.queue_name)
        except QueueError as exc:
            raise Refused(errno.EINVAL, str(exc)) from None
        system = ((job.jobspec or {}).get("attributes") or {}).get("system") or {}
        constraints = system.get("constraints")
        expected = {"properties": current.requires} if current.requires is not None else None
        if (constraints or expected) and constraints != expected:
            raise Refused(errno.EINVAL, "job appears to have non-queue constraints, "
                                        f"unable to update queue to {job.queue_name}")
        props = {"properties": list(new.requires)} if new.requires is not None else {}
        return {"attributes.system.constraints": props}

    def _expiration(self, job: Job, duration: float) -> float:
        if duration == 0:
            return 0.0
        start = ((job.R or {}).get("execution") or {}).get("starttime", -1.0)
        if not isinstance(start, (int, float)) or start <= 0:
            raise Refused(errno.EINVAL, "unable to get job starttime")
        expiration = float(start + duration)
        if expiration <= self.clock():
            raise Refused(errno.EINVAL, "requested duration places job expiration in the past")
        return expiration

    def expiration_response(self, errnum: int) -> None:
        """The scheduler's answer to the oldest ``sched.expiration`` (ENOSYS: it has no
        say, the update goes on)."""
        if not self.expiration_checks:
            return
        req, job, updates, validate, userid, owner, expiration = self.expiration_checks.pop(0)
        if errnum and errnum != errno.ENOSYS:
            self.out.append(("error", req, errnum, "scheduler refused expiration update"))
            return
        if job.state & J.ACTIVE:
            self._post_updates(req, job, updates, validate, userid, owner, expiration)
        else:
            self.out.append(("error", req, errno.EINVAL, "job is inactive"))

    def _post_updates(self, req: Any, job: Job, updates: dict, validate: bool,
                      userid: int, owner: bool, expiration: Optional[float] = None) -> None:
        if not validate and owner and userid != job.userid:
            self.post(job, "set-flags", {"flags": ["immutable"]})
        self.post(job, "jobspec-update", _copy(updates))
        if expiration is not None and job.state & J.RUNNING:
            self.post(job, "resource-update", {"expiration": expiration})
        self.out.append(("respond", req, None))
        self._sched_work()

    # -- purge ----------------------------------------------------------------------------------

    def _configure_purge(self, jm: dict) -> None:
        from flux.job.Jobspec import parse_fsd

        age, num = jm.get("inactive-age-limit"), jm.get("inactive-num-limit", -1)
        if age is not None:
            try:
                if not isinstance(age, str):
                    raise ValueError
                age = parse_fsd(age)
            except ValueError:
                raise Refused(errno.EINVAL, "job-manager.inactive-age-limit: invalid FSD") \
                    from None
        if not isinstance(num, int) or isinstance(num, bool):
            raise Refused(errno.EINVAL, "job-manager.max-inactive-*: "
                                        "Expected integer, got " + type(num).__name__)
        if num != -1 and num < 0:
            raise Refused(errno.EINVAL, "job-manager.inactive-num-limit: must be >= 0")
        self.inactive_age_limit = -1.0 if age is None else age
        self.inactive_num_limit = num

    def _purge_order(self) -> list[Job]:
        """Inactive jobs, the longest inactive first (flux-core's purge queue)."""
        return sorted(self.inactive.values(), key=lambda j: (j.t_clean, j.id))

    @staticmethod
    def _eligible(age: float, age_limit: float, num: int, num_limit: int) -> bool:
        if age_limit != -1 and age > age_limit:
            return True
        return num_limit != -1 and num > num_limit

    def purge_candidates(self, age_limit: float, num_limit: int, batch: int) -> list[Job]:
        """The inactive jobs the limits select, oldest first, at most ``batch``."""
        now = self.clock()
        order = self._purge_order()
        chosen: list[Job] = []
        for job in order:
            if len(chosen) >= batch or not self._eligible(
                    now - job.t_clean, age_limit, len(order) - len(chosen), num_limit):
                break
            chosen.append(job)
        return chosen

    def purge_request(self, obj: dict) -> tuple[int, list[Job]]:
        """``job-manager.purge``: (count, jobs to remove now: none without ``force``)."""
        age_limit, num_limit = obj.get("age_limit"), obj.get("num_limit")
        batch, force = obj.get("batch"), obj.get("force")
        if not isinstance(age_limit, (int, float)) or isinstance(age_limit, bool) \
                or not isinstance(num_limit, int) or not isinstance(batch, int) \
                or not isinstance(force, (bool, int)):
            raise Refused(errno.EPROTO)
        if age_limit != -1 and age_limit < 0:
            raise Refused(errno.EINVAL, "if set, age limit must be >= 0")
        if num_limit != -1 and num_limit < 0:
            raise Refused(errno.EINVAL, "if set, num limit must be >= 0")
        if not 1 <= batch <= PURGE_BATCH_MAX:
            raise Refused(errno.EINVAL, f"batch must be >= 1 and <= {PURGE_BATCH_MAX}")
        cap = batch if force else len(self.inactive)
        jobs = self.purge_candidates(float(age_limit), num_limit, cap)
        if not force:
            return len(jobs), []
        return len(jobs), self._forget(jobs)

    def purge_id_request(self, obj: dict) -> tuple[int, list[Job]]:
        """``job-manager.purge-id``: one inactive job."""
        jobid, force = obj.get("id"), obj.get("force")
        if not isinstance(jobid, int) or not isinstance(force, (bool, int)):
            raise Refused(errno.EPROTO)
        if jobid in (-1, 0xFFFFFFFFFFFFFFFF):
            raise Refused(errno.EINVAL)
        job = self.inactive.get(jobid)
        if job is None:
            if jobid in self.active:
                raise Refused(errno.EINVAL, "cannot purge active job")
            raise Refused(errno.ENOENT, "id not found")
        return 1, self._forget([job]) if force else []

    def purge_auto(self) -> list[Job]:
        """What the configured limits remove now (flux-core purges on each sync)."""
        if self.inactive_age_limit == -1 and self.inactive_num_limit == -1:
            return []
        return self._forget(self.purge_candidates(self.inactive_age_limit,
                                                  self.inactive_num_limit, PURGE_BATCH_MAX))

    def _forget(self, jobs: list[Job]) -> list[Job]:
        for job in jobs:
            self.inactive.pop(job.id, None)  # a zombie stays waitable, as in flux-core
        return jobs

    # -- queries -----------------------------------------------------------------------------

    def getinfo(self) -> dict:
        return {"max_jobid": self.max_jobid}

    def history_get(self, obj: Any, userid: int) -> dict:
        """``job-manager.history.get`` (flux-core's history plugin): ``{"jobs": [id...]}``,
        the ids of ``userid``'s jobs still known here, newest submission first, cut by
        the Python-style ``slice`` (``"[:1]"``: the last one)."""
        text = obj.get("slice") if isinstance(obj, dict) else None
        if not isinstance(text, str):
            raise Refused(errno.EPROTO)
        mine = sorted((j for j in (*self.active.values(), *self.inactive.values())
                       if j.userid == userid), key=lambda j: (j.t_submit, j.id), reverse=True)
        cut = parse_slice(text)
        if cut is None:
            raise Refused(errno.EINVAL, "could not parse python-style slice expression")
        return {"jobs": [mine[i].id for i in range(len(mine))[cut]]}

    def stats(self) -> dict:
        """``job-manager.stats-get``, flux-core's keys.  Housekeeping is not implemented:
        its entry says so as flux-core's does when none is configured (nothing running, no
        command), which its ``flux resource status`` reads."""
        return {"journal": {"listeners": len(self.listeners), "events": self.journal_events},
                "active_jobs": len(self.active), "inactive_jobs": len(self.inactive),
                "max_jobid": self.max_jobid,
                "housekeeping": {"running": {}, "config": {"release-after": -1.0,
                                                           "command": ""}}}


def parse_slice(text: str) -> Optional[slice]:
    """``[start:stop:step]`` as flux-core's libutil reads it (each part optional, a colon
    required, step not 0), or None."""
    if ":" not in text or len(text) < 2 or text[0] != "[" or text[-1] != "]":
        return None
    parts = text[1:-1].split(":")
    if len(parts) > 3:
        return None
    values: list[Optional[int]] = []
    for part in parts:
        if part == "":
            values.append(None)
            continue
        try:
            values.append(int(part))
        except ValueError:
            return None
    while len(values) < 3:
        values.append(None)
    if values[2] == 0:
        return None
    return slice(*values)


def _copy(value: Any) -> Any:
    """A deep copy of JSON data (events keep the annotations of their moment)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _queue_order(job: Job) -> tuple:
    return (-job.priority, job.t_submit, job.id)


def _allowed(allow: Optional[dict], deny: Optional[dict], name: str) -> bool:
    if allow is not None and name not in allow:
        return False
    return not (deny is not None and name in deny)


def _waitstatus_text(status: int) -> tuple[bool, str]:
    """(success, text) of a wait status as flux-core's flux_job_waitstatus_to_exitcode."""
    import os
    import signal

    if os.WIFSIGNALED(status):
        return False, f"job shell {signal.strsignal(os.WTERMSIG(status))}"
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        if code > 128:
            return False, f"task(s) {signal.strsignal(code - 128)}"
        if code > 0:
            return False, f"task(s) exited with exit code {code}"
        return True, ""
    return False, f"unexpected wait(2) status {status}"

"""How an event changes a job (RFC 21), as flux-core's ``event.c`` applies them.

Each event goes to the job's queue, is recorded, sent to journal listeners,
moves the state (``_update``), then the new state's action runs (``_action``),
which may post more events: those wait in the queue, so a job's events keep
their order.  A new job's events after ``submit`` are held until its submit
event is in the KVS (``release``).
"""

from __future__ import annotations

from flux import eventlog

from . import job as J
from .base import ManagerBase
from .dependencies import AFTER_START
from .job import Job

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional


class Transitions(ManagerBase):
    """Posting events, the state they lead to, and that state's action."""

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

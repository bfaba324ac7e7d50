"""The scheduler interface (RFC 27): hello and ready, the alloc queue in priority
order, ``sched.alloc`` requests and their responses, cancel and free.
"""

from __future__ import annotations

import errno

from . import job as J
from .base import ManagerBase, Refused, copy_json
from .job import Job

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional

#: sched.alloc response types (RFC 27)
ALLOC_SUCCESS, ALLOC_ANNOTATE, ALLOC_DENY, ALLOC_CANCEL = 0, 1, 2, 3


class SchedInterface(ManagerBase):
    """What is sent to the scheduler, and its answers."""

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
            self.post(job, "alloc", {"annotations": copy_json(job.annotations)}
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

    def alloc_query(self) -> dict:
        """``job-manager.alloc-query`` (``flux queue status -v``)."""
        return {"queue_length": len(self.queue), "alloc_pending": len(self.sent),
                "running": self.running_count()}


def _queue_order(job: Job) -> tuple:
    return (-job.priority, job.t_submit, job.id)

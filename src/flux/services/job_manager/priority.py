"""A job's urgency and priority: ``job-manager.urgency`` and flux-core's default
priority plugin (the priority is the urgency, 0 held and 31 expedited).
"""

from __future__ import annotations

import errno

from . import job as J
from .base import ManagerBase, Refused
from .job import Job


class Priority(ManagerBase):
    """Urgency requests, and the priority they lead to."""

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

"""``job-manager.update`` (``flux update``), checked as flux-core's update plugins
(duration, queue), then posted as ``jobspec-update`` (and ``resource-update``
for a running job, after the scheduler had its say).
"""

from __future__ import annotations

import errno

from . import job as J
from .base import ManagerBase, Refused, copy_json
from .job import Job
from .queues import QueueError

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional


class Update(ManagerBase):
    """Job updates and the scheduler's say on a new expiration."""

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
        self.post(job, "jobspec-update", copy_json(updates))
        if expiration is not None and job.state & J.RUNNING:
            self.post(job, "resource-update", {"expiration": expiration})
        self.out.append(("respond", req, None))
        self._sched_work()

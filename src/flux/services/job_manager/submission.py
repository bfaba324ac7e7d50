"""How jobs enter the manager: submitted (job-ingest's batches), or rebuilt from
their stored eventlogs when an instance restarts (``restart.load`` reads them).
"""

from __future__ import annotations

import errno

from . import job as J
from .base import ManagerBase, Refused
from .job import Job
from .queues import QueueError

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional


class Submission(ManagerBase):
    """New jobs and replayed ones."""

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

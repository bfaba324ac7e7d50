"""``job-manager.wait``: waitable jobs answered as they end, or kept as zombies
until someone waits for them.
"""

from __future__ import annotations

import errno

from . import job as J
from .base import ManagerBase, Refused
from .job import Job

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable


class Waits(ManagerBase):
    """Waiters, zombies and the answer a wait gets."""

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


def _waitstatus_text(status: int) -> tuple[bool, str]:
    """(success, text) of a wait status, as flux-core's flux_job_waitstatus_to_exitcode."""
    from flux.job.waitstatus import waitstatus_to_exitcode

    code, text = waitstatus_to_exitcode(status)
    return code == 0, text

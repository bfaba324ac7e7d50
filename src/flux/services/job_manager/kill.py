"""Signals to running jobs: ``job-manager.kill`` and ``job-manager.killall``
(published as ``shell-<id>.kill`` events for the job shells).
"""

from __future__ import annotations

import errno

from . import job as J
from .base import ManagerBase, Refused

_NSIG = 65  # Linux's NSIG: valid signals are 1..64


class Kill(ManagerBase):
    """Signal requests."""

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

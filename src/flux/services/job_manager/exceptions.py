"""Job exceptions: raised by the manager itself, by ``job-manager.raise``
(``flux cancel``, ``flux job raise``) and ``job-manager.raiseall``.
"""

from __future__ import annotations

import errno

from .base import ManagerBase, Refused
from .job import Job

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional


def _exception_allowed(severity: Any, kind: Any) -> bool:
    return isinstance(severity, int) and 0 <= severity <= 7 and isinstance(kind, str) \
        and bool(kind) and not any(c.isspace() or c == "=" for c in kind)


class Exceptions(ManagerBase):
    """``exception`` events and the ``job-exception`` event."""

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

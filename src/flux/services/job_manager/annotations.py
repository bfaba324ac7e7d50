"""A job's annotations: the scheduler's (RFC 27 updates, merged) and users'
memos (``job-manager.memo``, which job-list merges into ``annotations.user``).
"""

from __future__ import annotations

import errno

from .base import ManagerBase, Refused, copy_json
from .job import Job

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional


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


class Annotations(ManagerBase):
    """``annotations`` and ``memo`` events."""

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

    def _annotate(self, job: Job, update: dict) -> None:
        current = job.annotations if job.annotations is not None else {}
        _merge(current, update)
        job.annotations = current or None
        self.post(job, "annotations", {"annotations": copy_json(job.annotations)}, commit=False)

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

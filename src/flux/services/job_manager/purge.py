"""Purging inactive jobs: ``job-manager.purge``, ``purge-id`` and the configured
``inactive-age-limit`` / ``inactive-num-limit``.  The manager forgets the jobs;
the broker's side removes them from the KVS.
"""

from __future__ import annotations

import errno

from .base import ManagerBase, Refused
from .job import Job

#: the most jobs one purge transaction removes (flux-core's purge_batch_max)
PURGE_BATCH_MAX = 100


class Purge(ManagerBase):
    """Which inactive jobs go, and when."""

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

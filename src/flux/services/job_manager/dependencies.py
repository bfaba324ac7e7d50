"""``after*`` job dependencies, as flux-core's ``dependency-after`` plugin, with
its texts: checked at submission, released as the jobs they name start or end.
"""

from __future__ import annotations

from . import job as J
from .base import ManagerBase
from .job import Job

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

#: after* dependency types, as bits (dependency-after's)
AFTER_START, AFTER_ANY, AFTER_SUCCESS, AFTER_FAILURE, AFTER_EXCEPT = 1, 2, 4, 8, 16

_AFTER = {"after": AFTER_START, "afterstart": AFTER_START, "afterany": AFTER_ANY,
          "afterok": AFTER_SUCCESS, "afternotok": AFTER_FAILURE, "afterexcept": AFTER_EXCEPT}

_AFTER_DESC = {AFTER_START: "after-start", AFTER_ANY: "after-finish",
               AFTER_SUCCESS: "after-success", AFTER_FAILURE: "after-failure",
               AFTER_EXCEPT: "after-except"}


class Dependencies(ManagerBase):
    """The ``dependency-add`` and ``dependency-remove`` events of ``after*`` schemes."""

    def _check_dependencies(self, job: Job) -> Optional[str]:
        """None, or why the job's ``attributes.system.dependencies`` refuse it."""
        attrs = (job.jobspec or {}).get("attributes") or {}
        deps = (attrs.get("system") or {}).get("dependencies") if isinstance(attrs, dict) else None
        if deps is None:
            return None
        if not isinstance(deps, list):
            return "dependencies object must be an array"
        for dep in deps:
            scheme = dep.get("scheme") if isinstance(dep, dict) else None
            value = dep.get("value") if isinstance(dep, dict) else None
            if not isinstance(scheme, str) or not isinstance(value, str):
                return "unable to unpack dependencies: dependency entry must be an object"
            kind = _AFTER.get(scheme)
            if kind is None:
                return f'dependency scheme "{scheme}" not supported'
            problem = self._after(job, scheme, kind, value)
            if problem is not None:
                return problem
        return None

    def _after(self, job: Job, scheme: str, kind: int, value: str) -> Optional[str]:
        from flux.job import id_parse

        try:
            afterid = id_parse(value)
        except (ValueError, OSError):
            afterid = 0
        if afterid == 0:
            return f'dependency: {scheme}: "{value}" is not a valid jobid'
        target = self.find(afterid)
        if target is None:
            return f"dependency: {scheme}: id {value}: job not found"
        if target.userid != job.userid:
            return f"{scheme}: Permission denied for job {value}"
        desc = f"{_AFTER_DESC[kind]}={value}"
        if desc not in job.dependencies:
            self.post(job, "dependency-add", {"description": desc})
        if target.state == J.INACTIVE:
            if kind != AFTER_ANY and "alloc" not in target.posted:
                return f"dependency: after: {value} never started"
            if kind == AFTER_START and "start" not in target.posted:
                return f"dependency: after: {value} never started"
            result = target.result()
            if kind == AFTER_SUCCESS and result != J.RESULT_COMPLETED:
                return f"dependency: afterok: job {value} failed or was canceled"
            if kind == AFTER_FAILURE and result == J.RESULT_COMPLETED:
                return f"dependency: afternotok: job {value} succeeded"
            if kind == AFTER_EXCEPT and (target.end_event or {}).get("name") != "exception":
                return f"dependency: afterexcept: job {value}: no exception"
            self.post(job, "dependency-remove", {"description": desc})
            return None
        if kind == AFTER_START and "start" in target.posted:
            self.post(job, "dependency-remove", {"description": desc})
            return None
        target.after.append((job.id, desc, kind))
        return None

    def _forget_dependent(self, job: Job) -> None:
        for other in self.active.values():
            other.after = [a for a in other.after if a[0] != job.id]

    def _remove_dependency(self, jobid: int, desc: str) -> None:
        dependent = self.active.get(jobid)
        if dependent is not None and dependent.state in (J.NEW, J.DEPEND):
            self.post(dependent, "dependency-remove", {"description": desc})

    def _release_after(self, job: Job, mask: int) -> None:
        keep = []
        for jobid, desc, kind in job.after:
            if kind & mask:
                self._remove_dependency(jobid, desc)
            else:
                keep.append((jobid, desc, kind))
        job.after = keep

    def _release_dependents(self, job: Job) -> None:
        if not job.after:
            return
        if "alloc" not in job.posted:
            self._release_after(job, AFTER_ANY)
            why = "job never started"
        else:
            if job.result() != J.RESULT_COMPLETED:
                mask = AFTER_ANY | AFTER_FAILURE
                if (job.end_event or {}).get("name") == "exception":
                    mask |= AFTER_EXCEPT
            else:
                mask = AFTER_ANY | AFTER_SUCCESS
            self._release_after(job, mask)
            why = "can never be satisfied"
        for jobid, desc, _kind in job.after:
            dependent = self.active.get(jobid)
            if dependent is not None:
                self.raise_exception(dependent, "dependency", 0, None,
                                     f"dependency {desc} {why}")
        job.after = []

"""A job's attributes as job-list answers them (RFC 43): each only once it is known,
in the order the request names them, ``"all"`` standing for every one."""

from __future__ import annotations

from flux.services.job_list.job import CLEANUP, DEPEND, INACTIVE, RUN, SCHED, Job

__all__ = ["ATTRS", "AttrError", "job_to_dict"]

#: the attributes, in flux-core 0.88's order (``job-list.list-attrs`` adds "all")
ATTRS = ("userid", "urgency", "priority", "t_submit", "t_depend", "t_priority", "t_sched",
         "t_run", "t_cleanup", "t_inactive", "state", "name", "cwd", "queue", "project",
         "bank", "ntasks", "ncores", "duration", "nnodes", "ranks", "nodelist", "success",
         "exception_occurred", "exception_type", "exception_severity", "exception_note",
         "result", "expiration", "annotations", "waitstatus", "dependencies")


class AttrError(ValueError):
    """An attribute name job-list does not know (EINVAL with this text)."""


def _store(job: Job, attr: str, out: dict) -> None:
    mask = job.states_mask
    if attr == "userid":
        out[attr] = job.userid
    elif attr == "urgency":
        out[attr] = job.urgency
    elif attr == "priority":
        if mask & SCHED:
            out[attr] = job.priority
    elif attr == "t_submit":
        out[attr] = job.t_submit
    elif attr == "t_depend":
        # a submit event without "version" predates the validate event: same time
        if job.submit_version < 1:
            out[attr] = job.t_submit
        elif mask & DEPEND:
            out[attr] = job.t_depend
    elif attr == "t_priority":
        if job.t_priority != 0.0:
            out[attr] = job.t_priority
    elif attr == "t_sched":
        if job.t_sched != 0.0:
            out[attr] = job.t_sched
    elif attr == "t_run":
        if mask & RUN:
            out[attr] = job.t_run
    elif attr == "t_cleanup":
        if mask & CLEANUP:
            out[attr] = job.t_cleanup
    elif attr == "t_inactive":
        if mask & INACTIVE:
            out[attr] = job.t_inactive
    elif attr == "state":
        out[attr] = job.state
    elif attr in ("name", "cwd", "queue", "project", "bank"):
        value = getattr(job, attr)
        if value is not None:
            out[attr] = value
    elif attr in ("ntasks", "ncores", "nnodes"):
        value = getattr(job, attr)
        if value >= 0:
            out[attr] = value
    elif attr == "duration":
        if job.duration >= 0:
            out[attr] = job.duration
    elif attr in ("ranks", "nodelist"):
        value = getattr(job, attr)
        if mask & RUN and value is not None:
            out[attr] = value
    elif attr == "expiration":
        if mask & RUN and job.expiration >= 0:
            out[attr] = job.expiration
    elif attr == "waitstatus":
        if job.wait_status >= 0:
            out[attr] = job.wait_status
    elif attr == "success":
        if mask & INACTIVE:
            out[attr] = job.success
    elif attr == "exception_occurred":
        if mask & INACTIVE:
            out[attr] = job.exception_occurred
    elif attr in ("exception_severity", "exception_type"):
        if mask & INACTIVE and job.exception_occurred:
            out[attr] = getattr(job, attr)
    elif attr == "exception_note":
        if mask & INACTIVE and job.exception_occurred and job.exception_note is not None:
            out[attr] = job.exception_note
    elif attr == "result":
        if mask & INACTIVE:
            out[attr] = job.result
    elif attr == "annotations":
        if job.annotations is not None:
            out[attr] = job.annotations
    elif attr == "dependencies":
        if job.dependencies is not None:
            out[attr] = job.dependencies
    else:
        raise AttrError(f"{attr} is not a valid attribute")


def job_to_dict(job: Job, attrs: list) -> dict:
    """``{"id": ..., attr: value...}`` for the attributes asked (AttrError if unknown)."""
    out: dict = {"id": job.id}
    for attr in attrs:
        if not isinstance(attr, str):
            raise AttrError("attr has no string value")
        if attr == "all":
            for name in ATTRS:
                _store(job, name, out)
        else:
            _store(job, attr, out)
    return out

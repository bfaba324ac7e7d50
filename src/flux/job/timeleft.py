"""``timeleft``: seconds left before the current job (or the enclosing instance) expires.

As libjob's ``flux_job_timeleft``: inside a job (FLUX_JOB_ID set) its
``expiration`` from job-list, refusing a job not started yet; otherwise the
instance's, from ``resource.status`` (``R.execution.expiration``).  No
expiration means infinity; a past one, 0.
"""

from __future__ import annotations

import errno
import os
import time

from flux.constants import FLUX_JOB_STATE_PENDING, FLUX_JOB_STATE_RUN
from flux.job.JobID import id_parse
from flux.message import encode_json
from flux.rpc import RPC

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover

    from flux.core.handle import Flux

__all__ = ["timeleft"]


def _job_expiration(flux_handle: Flux, text: str) -> float:
    try:
        jobid = id_parse(text)
    except (OSError, ValueError):
        raise OSError(errno.EINVAL, f"failed to parse jobid {text}") from None
    payload = encode_json({"id": jobid, "attrs": ["expiration", "state"]})
    rpc = RPC(flux_handle, "job-list.list-id", payload)
    try:
        job = rpc.get()["job"]
        state = job["state"]
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise OSError(exc.errno, f"{text}: no such jobid") from None
        raise OSError(exc.errno, f"flux_job_list_id: {text}: {exc.strerror}") from None
    except (KeyError, TypeError):
        raise OSError(errno.EPROTO, f"flux_job_list_id: {text}: Protocol error") from None
    if state & FLUX_JOB_STATE_PENDING:
        raise OSError(errno.EINVAL, f"job {text} has not started")
    if state != FLUX_JOB_STATE_RUN:
        return 1.0  # ended: any past time gives 0 left
    return float(job.get("expiration", -1.0))


def _instance_expiration(flux_handle: Flux) -> float:
    try:
        status = RPC(flux_handle, "resource.status").get()
        return float(status["R"]["execution"].get("expiration", 0.0))
    except (OSError, KeyError, TypeError, ValueError):
        raise OSError(errno.EINVAL, "failed to get instance expiration") from None


def timeleft(flux_handle: Flux | None = None) -> float:
    """Seconds left for this job or instance (``inf`` when unlimited); OSError with
    flux-core's message when it cannot be known."""
    if flux_handle is None:
        import flux

        flux_handle = flux.Flux()
    jobid = os.environ.get("FLUX_JOB_ID")
    if jobid is not None:
        expiration = _job_expiration(flux_handle, jobid)
    else:
        expiration = _instance_expiration(flux_handle)
    if expiration < 0:
        raise OSError(errno.EINVAL, "Invalid argument")
    if expiration == 0.0:
        return float("inf")
    return max(expiration - time.time(), 0.0)

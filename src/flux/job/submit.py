"""Submitting jobs: ``job-ingest.submit`` with J signed by the mechanism ``none``.

flux-core's ``submit``, ``submit_async``, ``submit_get_id`` and ``SubmitFuture``.
The request is built as libjob builds it (``{"J","urgency","flags"}``, compact),
the client-only flag PRE_SIGNED is not sent, and J is signed here with the
caller's uid as flux-core does when built without flux-security (with the
``sign_none`` job-ingest unwraps, so both ends share one spelling of J).
"""

from __future__ import annotations

import errno
import os

from flux.constants import (
    FLUX_JOB_DEBUG,
    FLUX_JOB_NOVALIDATE,
    FLUX_JOB_PRE_SIGNED,
    FLUX_JOB_URGENCY_DEFAULT,
    FLUX_JOB_WAITABLE,
)
from flux.job.JobID import JobID
from flux.job.Jobspec import _convert_jobspec_arg_to_string
from flux.message import encode_json
from flux.rpc import RPC
from flux.services.job_ingest.sign_none import wrap as sign_none_wrap
from flux.util import check_future_error

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from flux.core.handle import Flux

__all__ = ["SubmitFuture", "submit", "submit_async", "submit_get_id"]


class SubmitFuture(RPC):
    """The future of a submission; ``get_id()`` (or ``await``) gives the JobID."""

    def get_id(self) -> JobID:
        """Wait for the answer and return the job's ID."""
        return submit_get_id(self)

    def get(self) -> Any:
        return self.get_id()


def submit_async(flux_handle: Flux, jobspec: Any, urgency: int = FLUX_JOB_URGENCY_DEFAULT,
                 waitable: bool = False, debug: bool = False, pre_signed: bool = False,
                 novalidate: bool = False) -> SubmitFuture:
    """Send a submission now; the future gives the job ID.

    ``jobspec`` is a Jobspec or its text (already J when ``pre_signed``).
    ``waitable``, ``novalidate`` and urgencies below 16 are for the instance owner.
    """
    text = _convert_jobspec_arg_to_string(jobspec)
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogateescape")
    flags = 0
    if waitable:
        flags |= FLUX_JOB_WAITABLE
    if debug:
        flags |= FLUX_JOB_DEBUG
    if novalidate:
        flags |= FLUX_JOB_NOVALIDATE
    if pre_signed:
        J = text.decode("utf-8", "surrogateescape")
    else:
        J = sign_none_wrap(text, os.getuid())
    flags &= ~FLUX_JOB_PRE_SIGNED
    payload = encode_json({"J": J, "urgency": urgency, "flags": flags})
    return SubmitFuture(flux_handle, "job-ingest.submit", payload)


@check_future_error
def submit_get_id(future: Any) -> JobID:
    """The job ID a submission's answer carries (waits for it)."""
    if future is None:
        raise OSError(errno.EINVAL, "future must not be None/NULL")
    future.wait_for()
    answer = RPC.get(future)
    if not isinstance(answer, dict) or not isinstance(answer.get("id"), int):
        raise OSError(errno.EPROTO, os.strerror(errno.EPROTO))
    return JobID(answer["id"])


def submit(flux_handle: Flux, jobspec: Any, urgency: int = FLUX_JOB_URGENCY_DEFAULT,
           waitable: bool = False, debug: bool = False, pre_signed: bool = False) -> JobID:
    """Submit a job and wait for its ID."""
    return submit_async(flux_handle, jobspec, urgency, waitable, debug, pre_signed).get_id()

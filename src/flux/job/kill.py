"""Signals and exceptions: ``kill``, ``cancel``, ``job_raise`` and their ``_async`` forms.

Requests as libjob sends them: ``job-manager.kill {"id","signum"}`` and
``job-manager.raise {"id","type","severity"[,"note"]}`` (a cancel is an
exception of type ``cancel`` with severity 0).  The futures answer None.
"""

from __future__ import annotations

import errno
import signal

from flux.message import encode_json
from flux.rpc import RPC

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from flux.core.handle import Flux
    from flux.job.JobID import JobID

__all__ = ["cancel", "cancel_async", "job_raise", "job_raise_async", "kill", "kill_async"]


class _NoValueRPC(RPC):
    """An RPC whose ``get()`` (and ``await``) gives None once it succeeded, as
    flux-core's plain ``Future.get()`` does."""

    def get(self) -> None:
        super().get()


def kill_async(flux_handle: Flux, jobid: JobID | int,
               signum: int | None = None) -> RPC:
    """Send ``signum`` (default SIGTERM) to a running job's tasks; the future of the answer."""
    if not signum:
        signum = signal.SIGTERM
    if int(signum) <= 0:
        raise OSError(errno.EINVAL, "Invalid argument")
    payload = encode_json({"id": int(jobid), "signum": int(signum)})
    return _NoValueRPC(flux_handle, "job-manager.kill", payload)


def kill(flux_handle: Flux, jobid: JobID | int, signum: int | None = None) -> None:
    """Send a signal to a running job and wait for the answer."""
    kill_async(flux_handle, jobid, signum).get()


def job_raise_async(flux_handle: Flux, jobid: JobID | int, exc_type: str,
                    severity: int = 0, note: str | None = None) -> RPC:
    """Raise an exception of ``exc_type`` on a job (severity 0 ends it)."""
    if exc_type is None:
        raise OSError(errno.EINVAL, "Invalid argument")
    body: dict[str, Any] = {"id": int(jobid), "type": exc_type, "severity": severity}
    if note:
        body["note"] = note
    return _NoValueRPC(flux_handle, "job-manager.raise", encode_json(body))


def job_raise(flux_handle: Flux, jobid: JobID | int, exc_type: str,
              severity: int = 0, note: str | None = None) -> None:
    """Raise a job exception and wait for the answer."""
    job_raise_async(flux_handle, jobid, exc_type, severity, note).get()


def cancel_async(flux_handle: Flux, jobid: JobID | int,
                 reason: str | None = None) -> RPC:
    """Cancel a pending or running job (a ``cancel`` exception, severity 0)."""
    return job_raise_async(flux_handle, jobid, "cancel", 0, reason or None)


def cancel(flux_handle: Flux, jobid: JobID | int, reason: str | None = None) -> None:
    """Cancel a job and wait for the answer."""
    cancel_async(flux_handle, jobid, reason).get()

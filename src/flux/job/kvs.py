"""A job's KVS directories (RFC 16) as ``KVSDir`` objects: ``job_kvs`` and
``job_kvs_guest``, at the paths libjob's ``flux_job_kvs_key`` and
``flux_job_kvs_guest_key`` write (called with an empty key, as flux-core's
bindings do, hence the trailing dot the KVS ignores)."""

from __future__ import annotations

import os

from flux.job.JobID import JobID

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover

    from flux.core.handle import Flux
    from flux.kvs.kvsdir import KVSDir

__all__ = ["job_kvs", "job_kvs_guest", "kvs_guest_key", "kvs_key"]


def kvs_key(jobid: int, key: str | None = None) -> str:
    """``job.<dothex id>``, then ``.key`` when a key (even empty) is given."""
    path = "job." + JobID(jobid).dothex
    return path if key is None else f"{path}.{key}"


def kvs_guest_key(jobid: int, key: str | None = None) -> str:
    """The guest directory's path; inside a job's own namespace (FLUX_KVS_NAMESPACE
    set) the key itself, relative to that namespace's root."""
    if os.environ.get("FLUX_KVS_NAMESPACE"):
        return "." if key is None else key
    path = "job." + JobID(jobid).dothex + ".guest"
    return path if key is None else f"{path}.{key}"


def job_kvs(flux_handle: Flux, jobid: int) -> KVSDir:
    """The job's KVS directory."""
    from flux.kvs.kvsdir import get_dir

    return get_dir(flux_handle, kvs_key(jobid, ""))


def job_kvs_guest(flux_handle: Flux, jobid: int) -> KVSDir:
    """The job's guest directory (where the job itself may write)."""
    from flux.kvs.kvsdir import get_dir

    return get_dir(flux_handle, kvs_guest_key(jobid, ""))

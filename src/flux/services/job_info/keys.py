"""Where a job's tasks write while it runs (RFC 16): its own namespace.  Its directory in
the primary namespace is ``flux.job.kvs.kvs_key``."""

from __future__ import annotations

__all__ = ["guest_namespace"]


def guest_namespace(jobid: int) -> str:
    """The job's own namespace (``job-<decimal id>``)."""
    return f"job-{jobid}"

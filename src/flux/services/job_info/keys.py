"""Where a job lives in the KVS (RFC 16): its directory in the primary namespace and
the namespace its tasks write to while it runs."""

from __future__ import annotations

__all__ = ["guest_namespace", "job_key"]


def job_key(jobid: int, key: str | None = None) -> str:
    """The job's directory (``job.0000.0004.b200.0000``), or a key in it."""
    parts = ".".join(f"{(jobid >> shift) & 0xFFFF:04x}" for shift in (48, 32, 16, 0))
    return f"job.{parts}.{key}" if key else f"job.{parts}"


def guest_namespace(jobid: int) -> str:
    """The job's own namespace (``job-<decimal id>``)."""
    return f"job-{jobid}"

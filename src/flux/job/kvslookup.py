"""Reading job data through job-info (RFC 41): ``job_info_lookup``,
``job_kvs_lookup`` and the ``JobKVSLookup`` class.

``job-info.lookup {"id","keys","flags"}`` answers ``{"id", <key>: <text>...}``;
``jobspec`` and ``R`` are decoded to dicts on request, ``original`` gives the
jobspec as submitted (unwrapped from J), and unless ``base`` the values have
the eventlog's updates applied (FLUX_JOB_LOOKUP_CURRENT).
"""

from __future__ import annotations

import errno
import json

from flux.constants import FLUX_JOB_LOOKUP_CURRENT
from flux.future import WaitAllFuture
from flux.job.JobID import JobID
from flux.rpc import RPC
from flux.services.job_ingest.sign_none import unwrap

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from flux.core.handle import Flux

__all__ = [
    "JobInfoLookupRPC",
    "JobKVSLookup",
    "JobKVSLookupFuture",
    "job_info_lookup",
    "job_kvs_lookup",
]


def _decode_field(data: dict[str, Any], key: str) -> None:
    try:
        data[key] = json.loads(data[key])
    except json.decoder.JSONDecodeError:
        pass


def decode_special_data(data: dict[str, Any]) -> None:
    """``jobspec`` and ``R`` as dicts when they are JSON."""
    for key in ("jobspec", "R"):
        if key in data:
            _decode_field(data, key)


class JobInfoLookupRPC(RPC):
    """A ``job-info.lookup``: ``get()`` the answer as sent, ``get_decode()`` with
    ``jobspec`` and ``R`` decoded."""

    jobid: Any = None

    def get_decode(self) -> dict[str, Any]:
        data: dict[str, Any] = self.get()
        decode_special_data(data)
        return data


def job_info_lookup(flux_handle: Flux, jobid: Any, keys: Any = ["jobspec"],  # noqa: B006
                    flags: int = 0) -> JobInfoLookupRPC:
    """Ask job-info for ``keys`` of the job's KVS directory."""
    rpc = JobInfoLookupRPC(flux_handle, "job-info.lookup",
                           {"id": int(jobid), "keys": keys, "flags": flags})
    rpc.jobid = jobid
    return rpc


def _setup_lookup_keys(keys: list[Any], original: bool) -> None:
    if "jobspec" in keys and original:
        keys.remove("jobspec")
        if "J" not in keys:
            keys.append("J")


def _update_keys(job_data: dict[str, Any], decode: bool, keys: list[Any], original: bool) -> None:
    if "jobspec" in keys and original:
        # flux_unwrap_string() without verification, as built without flux-security
        job_data["jobspec"] = unwrap(job_data["J"])[0].decode("utf-8", "surrogateescape")
        if decode:
            _decode_field(job_data, "jobspec")
        if "J" not in keys:
            job_data.pop("J")


def job_kvs_lookup(flux_handle: Flux, jobid: Any, keys: Any = ["jobspec"],  # noqa: B006
                   decode: bool = True, original: bool = False,
                   base: bool = False) -> dict[str, Any] | None:
    """One job's ``keys`` (None if there is no such job)."""
    lookup_keys = list(keys)
    _setup_lookup_keys(lookup_keys, original)
    flags = 0 if base else FLUX_JOB_LOOKUP_CURRENT
    rpc = JobInfoLookupRPC(flux_handle, "job-info.lookup",
                           {"id": int(jobid), "keys": lookup_keys, "flags": flags})
    try:
        answer = rpc.get_decode() if decode else rpc.get()
        _update_keys(answer, decode, keys, original)
    except FileNotFoundError:
        return None
    return answer


class JobKVSLookupFuture(WaitAllFuture):
    """Several lookups read as one list; failures go to ``errors``."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[Any] = []

    def _get(self, decode: bool = True) -> list[Any]:
        self.wait_for()
        jobs = []
        for child in self.children:
            assert isinstance(child, JobInfoLookupRPC)
            try:
                jobs.append(child.get_decode() if decode else child.get())
            except OSError as err:
                if err.errno == errno.ENOENT:
                    self.errors.append(f"JobID {child.jobid.orig} unknown")
                else:
                    self.errors.append(f"rpc: {err.strerror}")
        return jobs

    def get(self) -> list[Any]:
        return self._get(False)

    def get_decode(self) -> list[Any]:
        return self._get(True)


class JobKVSLookup:
    """Look ``keys`` up for each of ``ids``; see the module for ``decode``,
    ``original`` and ``base``."""

    def __init__(self, flux_handle: Flux, ids: Any = [], keys: Any = ["jobspec"],  # noqa: B006
                 decode: bool = True, original: bool = False, base: bool = False) -> None:
        self.handle = flux_handle
        self.keys = list(keys)
        self.keyslookup = list(keys)
        self.ids = list(map(JobID, ids)) if ids else []
        self.decode = decode
        self.original = original
        self.base = base
        self.errors: list[Any] = []
        _setup_lookup_keys(self.keyslookup, self.original)

    def fetch_data(self) -> JobKVSLookupFuture:
        flags = 0 if self.base else FLUX_JOB_LOOKUP_CURRENT
        lookups = JobKVSLookupFuture()
        for jobid in self.ids:
            lookups.push(job_info_lookup(self.handle, jobid, self.keyslookup, flags))
        return lookups

    def data(self) -> list[Any]:
        rpc = self.fetch_data()
        data = rpc.get_decode() if self.decode else rpc.get()
        self.errors = rpc.errors
        for job_data in data:
            _update_keys(job_data, self.decode, self.keys, self.original)
        return data

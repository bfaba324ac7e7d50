"""``flux.job``: flux-core's Python job API, plus asyncio.

flux-core's names, signatures, defaults and errors, so scripts written for
flux-core run unchanged: build a ``JobspecV1``, ``submit`` it, ``wait`` or
get its ``result``, ``cancel``/``kill``/``job_raise`` it, watch its
eventlog (``event_watch``, ``event_wait``), run them from a ``FluxExecutor``, list jobs (``job_list``,
``JobList``, ``get_job``, ``JobInfo``), read its data (``job_kvs``,
``job_info_lookup``, ``JobKVSLookup``) and ``timeleft``.  Every future can
be awaited, and an eventlog watch or a job listing iterated with ``async for``.

The submodules (flux-core's module names) load on first use of one of
their names, so ``import flux.job`` costs almost nothing:

* ``JobID`` - job ids (``JobID``, ``id_parse``, ``id_encode``); ``fluid`` makes them
* ``Jobspec`` - ``Jobspec``, ``JobspecV1``, ``validate_jobspec``
* ``submit`` / ``wait`` / ``kill`` - submission, waiting and results, signals and exceptions
* ``event`` - eventlog watches, ``JobException``, ``MAIN_EVENTS``
* ``list`` / ``info`` - job-list queries and ``JobInfo``
* ``kvs`` / ``kvslookup`` - the job's KVS directories; job-info lookups
* ``timeleft`` - time left before expiration
* ``executor`` - ``FluxExecutor``: jobs as ``concurrent.futures`` futures
"""

from __future__ import annotations

import sys as _sys

from flux.job.JobID import JobID as JobID, id_encode as id_encode, id_parse as id_parse  # re-exported

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from flux.eventlog import EventLogEvent
    from flux.job.event import (
        MAIN_EVENTS,
        JobEventWatchFuture,
        JobException,
        event_wait,
        event_watch,
        event_watch_async,
    )
    from flux.job.executor import FluxExecutor, FluxExecutorFuture
    from flux.job.info import JobInfo, job_fields_to_attrs
    from flux.job.Jobspec import Jobspec, JobspecV1, validate_jobspec
    from flux.job.kill import (
        cancel,
        cancel_async,
        job_raise,
        job_raise_async,
        kill,
        kill_async,
    )
    from flux.job.kvs import job_kvs, job_kvs_guest
    from flux.job.kvslookup import JobKVSLookup, job_info_lookup, job_kvs_lookup
    from flux.job.output import job_output, output_event_watch
    from flux.job.list import JobList, get_job, job_list, job_list_id, job_list_inactive
    from flux.job.submit import SubmitFuture, submit, submit_async, submit_get_id
    from flux.job.timeleft import timeleft
    from flux.job.wait import (
        JobResultFuture,
        JobWaitFuture,
        result,
        result_async,
        wait,
        wait_async,
        wait_get_status,
    )

# name -> the module that defines it
_HOME = {
    "Jobspec": "flux.job.Jobspec", "JobspecV1": "flux.job.Jobspec",
    "validate_jobspec": "flux.job.Jobspec",
    "submit": "flux.job.submit", "submit_async": "flux.job.submit",
    "submit_get_id": "flux.job.submit", "SubmitFuture": "flux.job.submit",
    "wait": "flux.job.wait", "wait_async": "flux.job.wait", "wait_get_status": "flux.job.wait",
    "result": "flux.job.wait", "result_async": "flux.job.wait",
    "JobWaitFuture": "flux.job.wait", "JobResultFuture": "flux.job.wait",
    "kill": "flux.job.kill", "kill_async": "flux.job.kill", "cancel": "flux.job.kill",
    "cancel_async": "flux.job.kill", "job_raise": "flux.job.kill",
    "job_raise_async": "flux.job.kill",
    "event_watch": "flux.job.event", "event_watch_async": "flux.job.event",
    "event_wait": "flux.job.event", "JobEventWatchFuture": "flux.job.event",
    "JobException": "flux.job.event", "MAIN_EVENTS": "flux.job.event",
    "EventLogEvent": "flux.eventlog",
    "job_list": "flux.job.list", "job_list_inactive": "flux.job.list",
    "job_list_id": "flux.job.list", "JobList": "flux.job.list", "get_job": "flux.job.list",
    "JobInfo": "flux.job.info", "job_fields_to_attrs": "flux.job.info",
    "job_kvs": "flux.job.kvs", "job_kvs_guest": "flux.job.kvs",
    "job_info_lookup": "flux.job.kvslookup", "JobKVSLookup": "flux.job.kvslookup",
    "job_kvs_lookup": "flux.job.kvslookup",
    "timeleft": "flux.job.timeleft",
    "FluxExecutor": "flux.job.executor", "FluxExecutorFuture": "flux.job.executor",
    "job_output": "flux.job.output", "output_event_watch": "flux.job.output",
}

__all__ = [
    "EventLogEvent", "FluxExecutor", "FluxExecutorFuture", "JobEventWatchFuture",
    "JobException", "JobID", "JobInfo", "JobKVSLookup", "JobList", "JobResultFuture",
    "JobWaitFuture", "Jobspec", "JobspecV1", "MAIN_EVENTS", "SubmitFuture", "cancel",
    "cancel_async", "event_wait", "event_watch", "event_watch_async", "get_job", "id_encode",
    "id_parse", "job_fields_to_attrs", "job_info_lookup", "job_kvs", "job_kvs_guest",
    "job_kvs_lookup", "job_list", "job_output", "output_event_watch", "job_list_id",
    "job_list_inactive", "job_raise",
    "job_raise_async", "kill", "kill_async", "result", "result_async", "submit", "submit_async",
    "submit_get_id", "timeleft", "validate_jobspec", "wait", "wait_async", "wait_get_status",
]

# Submodules named like the function they define (flux-core's layout): importing one
# must not replace the function on the package, as Python's import system would.
_SHADOWED = ("submit", "wait", "kill", "timeleft")


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'flux.job' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))


class _Package(type(_sys)):  # type: ignore[misc]
    """This package's module type: binding submodule ``wait`` binds function ``wait``."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, type(_sys)):
            value = getattr(value, name)
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package

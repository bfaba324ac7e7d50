"""Waiting for jobs: ``wait`` (waitable jobs, ``job-manager.wait``) and ``result``
(any job, from its eventlog).

``result`` reads the main eventlog to its end as libjob's ``flux_job_result``
does and summarises it: ``t_submit`` (submit), ``t_run`` (alloc),
``t_cleanup`` and ``waitstatus`` (finish), the most severe exception, and
``result`` (COMPLETED, FAILED, CANCELED or TIMEOUT as flux-core computes it).
"""

from __future__ import annotations

import collections
import errno
import json

from flux.constants import (
    FLUX_JOB_RESULT_CANCELED,
    FLUX_JOB_RESULT_COMPLETED,
    FLUX_JOB_RESULT_FAILED,
    FLUX_JOB_RESULT_TIMEOUT,
    FLUX_JOBID_ANY,
)
from flux.future import Future
from flux.job.event import _event_watch_rpc
from flux.job.JobID import JobID
from flux.message import encode_json
from flux.rpc import RPC
from flux.util import check_future_error

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from flux.core.handle import Flux
    from flux.job.info import JobInfo

__all__ = [
    "JobResultFuture",
    "JobWaitFuture",
    "JobWaitResult",
    "result",
    "result_async",
    "wait",
    "wait_async",
    "wait_get_status",
]

JobWaitResult = collections.namedtuple("JobWaitResult", "jobid, success, errstr")


class JobWaitFuture(RPC):
    """The future of ``wait_async``; ``get_status()`` (or ``await``) gives a JobWaitResult."""

    def get_status(self) -> JobWaitResult:
        return wait_get_status(self)

    def get(self) -> JobWaitResult:
        return self.get_status()


def wait_async(flux_handle: Flux, jobid: int = FLUX_JOBID_ANY) -> JobWaitFuture:
    """Ask for the end of a waitable job (or of any, by default); the future of the answer."""
    jid = int(jobid)
    if jid >= 1 << 63:  # as libflux packs a uint64 into JSON: FLUX_JOBID_ANY is -1
        jid -= 1 << 64
    return JobWaitFuture(flux_handle, "job-manager.wait", encode_json({"id": jid}))


@check_future_error
def wait_get_status(future: Any) -> JobWaitResult:
    """``(jobid, success, errstr)`` from a wait's answer; errstr is bytes, as in flux-core."""
    if future is None:
        raise OSError(errno.EINVAL, "future must not be None/NULL")
    future.wait_for()
    answer = RPC.get(future)
    try:
        jobid, success, errstr = answer["id"], answer["success"], answer["errstr"]
    except (TypeError, KeyError):
        raise OSError(errno.EPROTO, "Protocol error") from None
    if not isinstance(jobid, int) or not isinstance(errstr, str):
        raise OSError(errno.EPROTO, "Protocol error")
    return JobWaitResult(int(jobid), bool(success), errstr.encode("utf-8"))


def wait(flux_handle: Flux, jobid: int = FLUX_JOBID_ANY) -> JobWaitResult:
    """Wait for a waitable job to end and return its JobWaitResult."""
    return wait_async(flux_handle, jobid).get_status()


def _result_code(res: dict[str, Any]) -> int:
    """COMPLETED if it ran and exited 0; CANCELED/TIMEOUT by exception type; else FAILED."""
    t_run = res.get("t_run", -1.0)
    if t_run > 0 and res.get("waitstatus", -1) == 0:
        return FLUX_JOB_RESULT_COMPLETED
    if res["exception_occurred"]:
        kind = res.get("exception_type")
        if kind == "cancel":
            return FLUX_JOB_RESULT_CANCELED
        if kind == "timeout":
            return FLUX_JOB_RESULT_TIMEOUT
    return FLUX_JOB_RESULT_FAILED


def _note_exception(res: dict[str, Any], context: dict[str, Any]) -> None:
    """Record an exception unless an earlier one is kept (flux-core's rule, quirks included)."""
    if "type" not in context or "severity" not in context or "note" not in context:
        raise OSError(errno.EPROTO, "Protocol error")
    if res["exception_occurred"]:
        previous = res.get("exception_severity", -1)
        if 0 < previous < context["severity"]:
            return
    res["exception_occurred"] = True
    res["exception_type"] = context["type"]
    res["exception_note"] = context["note"]
    res["exception_severity"] = context["severity"]


class JobResultFuture(Future):
    """Fulfilled with the job's result once its eventlog ends.

    ``get_dict()`` gives the summary, ``get_info()`` (and ``await``) a JobInfo of it.
    """

    def __init__(self, watch: RPC, jobid: int) -> None:
        super().__init__()
        self._init_state(watch._core)
        self.flux_handle = watch.flux_handle
        self._tag = watch._tag  # waiting on this future reads the watch's responses
        self._watch = watch
        self._res: dict[str, Any] = {"id": int(jobid), "exception_occurred": False}
        watch._add_listener(self._drain)

    def _drain(self) -> None:
        """Fold the watch's responses into the summary; fulfil at its end."""
        watch = self._watch
        while self._current is None and watch._current is not None:
            errnum, msg, text = watch._current
            if errnum:
                watch._remove_listener(self._drain)
                if errnum == errno.ENODATA:
                    self._res["result"] = _result_code(self._res)
                    self._push((0, json.dumps(self._res, separators=(",", ":")), None))
                else:
                    self._push((errnum, None, text))
                self._finish()
                return
            try:
                self._fold(json.loads(msg.payload["event"]))
            except (OSError, KeyError, TypeError, ValueError) as exc:
                watch._remove_listener(self._drain)
                self._push((getattr(exc, "errno", None) or errno.EPROTO, None, None))
                self._finish()
                return
            watch.reset()

    def _fold(self, entry: dict[str, Any]) -> None:
        name, stamp = entry["name"], entry["timestamp"]
        res = self._res
        if name == "submit":
            res["t_submit"] = stamp
        elif name == "alloc":
            res["t_run"] = stamp
        elif name == "finish":
            res["t_cleanup"] = stamp
            res["waitstatus"] = entry["context"]["status"]
        elif name == "exception":
            _note_exception(res, entry.get("context") or {})

    @check_future_error
    def get_dict(self) -> dict[str, Any]:
        """The result summary as a dict."""
        text = self._result()[1]  # success is always fulfilled with the summary's JSON (_drain)
        summary: dict[str, Any] = json.loads(text)
        return summary

    def get_info(self) -> JobInfo:
        """A JobInfo from the summary (id, times, returncode, waitstatus, result...)."""
        from flux.job.info import JobInfo

        return JobInfo(self.get_dict())

    def get(self) -> JobInfo:
        return self.get_info()


def result_async(flux_handle: Flux, jobid: int, flags: int = 0) -> JobResultFuture:
    """The future of a job's result (works for any job, ended or not, any number of times)."""
    return JobResultFuture(_event_watch_rpc(flux_handle, JobID(jobid), "eventlog", 0), jobid)


def result(flux_handle: Flux, jobid: int, flags: int = 0) -> JobInfo:
    """Wait for a job to end and return a JobInfo of its result."""
    return result_async(flux_handle, JobID(jobid), flags).get_info()

"""Listing jobs through job-list (RFC 43): ``job_list``, ``job_list_inactive``,
``job_list_id``, ``get_job`` and the ``JobList`` query class.

Requests are built as flux-core's bindings build them (``json.dumps`` of
``{"max_entries","attrs","since","constraint"}`` with the filters joined
under one ``and``); ``job-list.list`` streams its answer (ENODATA ends it),
or answers once in the version 0 protocol.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable

from flux.constants import (
    FLUX_JOB_RESULT_CANCELED,
    FLUX_JOB_RESULT_COMPLETED,
    FLUX_JOB_RESULT_FAILED,
    FLUX_JOB_RESULT_TIMEOUT,
    FLUX_JOB_STATE_ACTIVE,
    FLUX_JOB_STATE_CLEANUP,
    FLUX_JOB_STATE_DEPEND,
    FLUX_JOB_STATE_INACTIVE,
    FLUX_JOB_STATE_PENDING,
    FLUX_JOB_STATE_PRIORITY,
    FLUX_JOB_STATE_RUN,
    FLUX_JOB_STATE_RUNNING,
    FLUX_JOB_STATE_SCHED,
    FLUX_RPC_STREAMING,
    FLUX_USERID_UNKNOWN,
)
from flux.future import WaitAllFuture
from flux.job.info import JobInfo
from flux.job.JobID import JobID
from flux.rpc import RPC

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator
    from typing import Any

    from flux.core.handle import Flux

__all__ = [
    "JobList",
    "JobListIdRPC",
    "JobListIdsFuture",
    "JobListRPC",
    "get_job",
    "job_list",
    "job_list_id",
    "job_list_inactive",
]


class JobListRPC(RPC):
    """A ``job-list.list`` request (always streaming); ``get_jobs()`` collects every answer."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["flags"] = kwargs.get("flags", 0) | FLUX_RPC_STREAMING
        super().__init__(*args, **kwargs)

    def get_jobs(self) -> list[Any]:
        """All the jobs of all the answers (one answer in the version 0 protocol)."""
        jobs: list[Any] = []
        first = True
        while True:
            try:
                answer = self.get()
            except OSError as exc:
                if exc.errno == errno.ENODATA:
                    break
                raise
            jobs.extend(answer["jobs"])
            if first:
                if answer.get("version", 0) == 0:
                    break
                first = False
            self.reset()
        return jobs

    def get_jobinfos(self) -> Iterator[JobInfo]:
        for job in self.get_jobs():
            yield JobInfo(job)

    def __aiter__(self) -> Any:
        """``async for job in job_list(h)``: each job's record as it arrives."""
        return self._records()

    async def _records(self) -> Any:
        from flux.core.aio import iterate_stream

        async for answer in iterate_stream(self):
            for job in answer["jobs"]:
                yield job
            if answer.get("version", 0) == 0:
                return


def job_list(flux_handle: Flux, max_entries: int = 1000, attrs: Any = ["all"],  # noqa: B006
             userid: int = os.getuid(), states: int = 0, results: int = 0, since: float = 0.0,
             name: str | None = None, queue: Any = None,
             constraint: dict[str, Any] | None = None) -> JobListRPC:
    """List jobs: the user's (``userid``, FLUX_USERID_UNKNOWN for all), newest first,
    filtered by state and result masks, name, queue and an RFC 31 ``constraint``."""
    where: dict[str, Any] = {"and": [] if constraint is None else [constraint]}
    if userid != FLUX_USERID_UNKNOWN:
        where["and"].append({"userid": [userid]})
    if name:
        where["and"].append({"name": [name]})
    if queue:
        if isinstance(queue, str):
            queue = [queue]
        if not isinstance(queue, Iterable):
            raise ValueError("queue parameter must be a string or iterable")
        where["and"].append({"queue": list(queue)})
    if states and results:
        where["and"].append({"or": [{"states": [states]}, {"results": [results]}]})
    elif states:
        where["and"].append({"states": [states]})
    elif results:
        where["and"].append({"results": [results]})
    payload = {"max_entries": int(max_entries), "attrs": attrs, "since": since,
               "constraint": where}
    return JobListRPC(flux_handle, "job-list.list", payload)


def job_list_inactive(flux_handle: Flux, since: float = 0.0, max_entries: int = 1000,
                      attrs: Any = ["all"], name: str | None = None,  # noqa: B006
                      queue: Any = None, constraint: dict[str, Any] | None = None) -> JobListRPC:
    """``job_list`` of every user's inactive jobs."""
    return job_list(flux_handle, max_entries=max_entries, attrs=attrs,
                    userid=FLUX_USERID_UNKNOWN, states=FLUX_JOB_STATE_INACTIVE, since=since,
                    name=name, queue=queue, constraint=constraint)


class JobListIdRPC(RPC):
    """A ``job-list.list-id`` request: ``get_job()`` a dict, ``get_jobinfo()`` a JobInfo."""

    jobid: Any = None

    def get_job(self) -> dict[str, Any]:
        job: dict[str, Any] = self.get()["job"]
        return job

    def get_jobinfo(self) -> JobInfo:
        return JobInfo(self.get_job())


def job_list_id(flux_handle: Flux, jobid: Any, attrs: Any = ["all"]) -> JobListIdRPC:  # noqa: B006
    """One job's record (job-list waits for a job it has not seen yet)."""
    rpc = JobListIdRPC(flux_handle, "job-list.list-id", {"id": int(jobid), "attrs": attrs})
    rpc.jobid = jobid
    return rpc


def get_job(flux_handle: Flux, jobid: Any) -> dict[str, Any] | None:
    """The job's every attribute as a dict (``JobInfo.to_dict(filtered=False)``), or None
    when there is no such job."""
    rpc = JobListIdRPC(flux_handle, "job-list.list-id", {"id": int(jobid), "attrs": ["all"]})
    try:
        info = rpc.get_jobinfo()
    except FileNotFoundError:
        return None
    return info.to_dict(filtered=False)


class JobListIdsFuture(WaitAllFuture):
    """Several ``job_list_id`` requests read as one list; failures go to ``errors``."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[Any] = []

    def get_jobs(self) -> list[Any]:
        self.wait_for()
        jobs = []
        for child in self.children:
            assert isinstance(child, JobListIdRPC)
            try:
                jobs.append(child.get_job())
            except OSError as err:
                if err.errno == errno.ENOENT:
                    self.errors.append(f"JobID {child.jobid.orig} unknown")
                else:
                    self.errors.append(f"rpc: {err.strerror}")
        return jobs

    def get_jobinfos(self) -> list[Any]:
        return [JobInfo(job) for job in self.get_jobs()]


class JobList:
    """A job query: by default the current user's last ``max_entries`` jobs.

    ``filters`` are state or result names (``"pending,running"``); ``ids`` lists
    given jobs (other filters then ignored); ``user`` a name, uid or ``"all"``.
    """

    STATES = {
        "depend": FLUX_JOB_STATE_DEPEND, "priority": FLUX_JOB_STATE_PRIORITY,
        "sched": FLUX_JOB_STATE_SCHED, "run": FLUX_JOB_STATE_RUN,
        "cleanup": FLUX_JOB_STATE_CLEANUP, "inactive": FLUX_JOB_STATE_INACTIVE,
        "pending": FLUX_JOB_STATE_PENDING, "running": FLUX_JOB_STATE_RUNNING,
        "active": FLUX_JOB_STATE_ACTIVE,
    }
    RESULTS = {
        "completed": FLUX_JOB_RESULT_COMPLETED, "failed": FLUX_JOB_RESULT_FAILED,
        "canceled": FLUX_JOB_RESULT_CANCELED, "timeout": FLUX_JOB_RESULT_TIMEOUT,
    }

    def __init__(self, flux_handle: Flux, attrs: Any = ["all"], filters: Any = [],  # noqa: B006
                 ids: Any = [], user: Any = None, max_entries: int = 1000,  # noqa: B006
                 since: float = 0.0, name: str | None = None, queue: Any = None,
                 constraint: dict[str, Any] | None = None) -> None:
        self.handle = flux_handle
        self.attrs = list(attrs)
        self.states = 0
        self.results = 0
        self.max_entries = max_entries
        self.since = since
        self.name = name
        self.queue = queue
        self.ids = list(map(JobID, ids)) if ids else None
        self.errors: list[Any] = []
        for fname in filters:
            for one in fname.split(","):
                self.add_filter(one)
        self.set_user(user)
        self.constraint = constraint

    def set_user(self, user: Any) -> None:
        """Only this user's jobs (a name or uid), or everyone's with ``"all"``."""
        if user is None:
            self.userid = os.getuid()
        elif user == "all":
            self.userid = FLUX_USERID_UNKNOWN
        else:
            import pwd

            try:
                self.userid = pwd.getpwnam(user).pw_uid
            except (KeyError, TypeError):
                try:
                    self.userid = int(user)
                except ValueError:
                    raise ValueError(f"Invalid user {user} specified") from None

    def add_filter(self, fname: str) -> None:
        """Add a state or result to those listed."""
        fname = fname.lower()
        if fname in self.STATES:
            self.states |= self.STATES[fname]
        elif fname in self.RESULTS:
            self.results |= self.RESULTS[fname]
        else:
            raise ValueError(f"Invalid filter specified: {fname}")

    def fetch_jobs(self) -> Any:
        """Send the query; the future's ``get_jobs()`` gives the records."""
        if self.ids:
            listids = JobListIdsFuture()
            for jobid in self.ids:
                listids.push(job_list_id(self.handle, jobid, self.attrs))
            return listids
        return job_list(self.handle, max_entries=self.max_entries, attrs=self.attrs,
                        userid=self.userid, states=self.states, results=self.results,
                        since=self.since, name=self.name, queue=self.queue,
                        constraint=self.constraint)

    def jobs(self) -> list[Any]:
        """Run the query and return JobInfo objects (errors of listed ids in ``errors``)."""
        rpc = self.fetch_jobs()
        jobs = rpc.get_jobs()
        if hasattr(rpc, "errors"):
            self.errors = rpc.errors
        return [JobInfo(job) for job in jobs]

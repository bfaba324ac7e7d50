"""The ``sched`` service: a FIFO scheduler speaking RFC 27 with the job-manager, as
flux-core 0.88's sched-simple (queue by priority, then submission; the head of the queue
blocks the jobs behind it; a request that can never fit is denied).

Start-up as flux-core's scheduler: ``resource.acquire`` (streaming), then
``job-manager.sched-hello`` (the running jobs, their R read from the KVS), then
``job-manager.sched-ready`` with the queue depth.  Sans-I/O: the wiring passes ``rpc``,
``respond``, ``commit`` (primary namespace), ``lookup`` (a KVS value) and ``soon``.
"""

from __future__ import annotations

import errno
import heapq
import time

from flux.job.JobID import JobID
from flux.job.kvs import kvs_key
from flux.message import Message
from flux.severity import LOG_DEBUG, LOG_ERR, LOG_INFO

from .pool import Infeasible, Insufficient, Pool, summary
from .request import ResourceRequest

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

__all__ = ["SchedService", "QUEUE_DEPTH"]

#: alloc responses (RFC 27)
SUCCESS, ANNOTATE, DENY, CANCEL = 0, 1, 2, 3
#: pending alloc requests the job-manager may send at once (sched-simple's default)
QUEUE_DEPTH = 8


class _Pending:
    __slots__ = ("key", "jobid", "msg", "request")

    def __init__(self, priority: int, t_submit: float, jobid: int, msg: Message,
                 request: ResourceRequest) -> None:
        self.key = (-priority, t_submit, jobid)
        self.jobid = jobid
        self.msg = msg
        self.request = request

    def __lt__(self, other: "_Pending") -> bool:
        return self.key < other.key


class SchedService:
    """The queue of alloc requests and the pool they are served from."""

    def __init__(self, rpc: Callable[..., Any], respond: Callable[[Message, Any], None],
                 respond_error: Callable[[Message, int, Optional[str]], None],
                 commit: Callable[[list, Callable[[int, Any], None]], None],
                 lookup: Callable[[str], bytes], soon: Callable[[Callable[[], Any]], None],
                 log: Callable[[int, str], Any]) -> None:
        self.rpc = rpc
        self.respond = respond
        self.respond_error = respond_error
        self.commit = commit
        self.lookup = lookup
        self.soon = soon
        self.log = log
        self.pool: Optional[Pool] = None
        self.queue: list[_Pending] = []
        self.ready = False
        self._pass_queued = False

    # -- start-up (RFC 27, RFC 28) ------------------------------------------------------------

    def start(self) -> None:
        self.rpc("resource.acquire", None, self._acquired, streaming=True)

    def _acquired(self, errnum: int, payload: Any) -> None:
        if errnum:
            if self.pool is None or errnum != errno.ENODATA:
                self.log(LOG_ERR, f"resource.acquire: {errno.errorcode.get(errnum, errnum)}")
            return
        first = self.pool is None
        if first:
            try:
                self.pool = Pool(payload["resources"])
            except (KeyError, TypeError, OSError) as exc:
                self.log(LOG_ERR, f"resource.acquire: {exc}")
                return
        from flux.services.resource.rv1 import idset_decode

        if "up" in payload:
            self.pool.mark(idset_decode(payload["up"]), True)  # type: ignore[union-attr]
        if "down" in payload:
            self.pool.mark(idset_decode(payload["down"]), False)  # type: ignore[union-attr]
        if first:
            self.rpc("job-manager.sched-hello", {"partial-ok": True}, self._hello,
                     streaming=True)
        else:
            self._schedule_soon()

    def _hello(self, errnum: int, payload: Any) -> None:
        """One running job per response, ENODATA at the end."""
        if errnum:
            if errnum == errno.ENODATA:
                self.rpc("job-manager.sched-ready", {"mode": "limited", "limit": QUEUE_DEPTH},
                         self._ready)
            else:  # ENOSYS: no job-manager in this instance, nothing to schedule for
                self.log(LOG_DEBUG if errnum == errno.ENOSYS else LOG_ERR,
                         f"sched-hello: {errno.errorcode.get(errnum, errnum)}")
            return
        assert self.pool is not None
        jobid = payload.get("id")
        try:
            R = _json(self.lookup(kvs_key(jobid, "R")))
            free = payload.get("free")
            if free:
                from flux.services.resource.rv1 import R_ranks, build_R, idset_decode

                ranks, hosts = R_ranks(R)
                for rank in idset_decode(free):
                    ranks.pop(rank, None)
                R = build_R(ranks, hosts)
            self.pool.register(jobid, R)
        except (OSError, ValueError, TypeError) as exc:
            self.log(LOG_ERR, f"hello: job {JobID(jobid).f58}: {exc}")
            self.rpc("job-manager.raise", {"id": jobid, "type": "scheduler-restart",
                                           "severity": 0,
                                           "note": "failed to reallocate R for running job"},
                     lambda e, p: None)

    def _ready(self, errnum: int, payload: Any) -> None:
        if errnum:
            self.log(LOG_ERR, f"sched-ready: {errno.errorcode.get(errnum, errnum)}")
            return
        self.ready = True
        self.log(LOG_INFO, f"ready: queue-depth={QUEUE_DEPTH}")

    # -- requests from the job-manager ----------------------------------------------------------

    def alloc(self, msg: Message) -> None:
        """``sched.alloc``: queued; answered when the job's turn comes."""
        p = msg.payload_json()
        jobid = p.get("id")
        if not isinstance(jobid, int) or not isinstance(p.get("priority"), int):
            raise OSError(errno.EPROTO, "malformed sched.alloc request")
        try:
            rr = ResourceRequest.from_jobspec(p.get("jobspec"))
        except (ValueError, TypeError, AttributeError) as exc:
            self.log(LOG_ERR, f"alloc: cannot parse jobspec for {jobid}: {exc}")
            self.respond(msg, {"id": jobid, "type": DENY, "note": f"cannot parse jobspec: {exc}"})
            return
        t_submit = p.get("t_submit")
        heapq.heappush(self.queue, _Pending(p["priority"], float(t_submit or 0.0), jobid, msg,
                                            rr))
        self._schedule_soon()

    def free(self, msg: Message) -> None:
        """``sched.free``: the job's resources (all, or part with ``final`` false) return."""
        p = msg.payload_json()
        if self.pool is not None and isinstance(p.get("id"), int):
            R = p.get("R")
            self.pool.free(p["id"], R if isinstance(R, dict) else None,
                           bool(p.get("final", False)))
            self._schedule_soon()

    def cancel(self, msg: Message) -> None:
        """``sched.cancel``: a pending job's alloc request ends with a cancel response."""
        jobid = msg.payload_json().get("id")
        for i, job in enumerate(self.queue):
            if job.jobid == jobid:
                self.queue.pop(i)
                heapq.heapify(self.queue)
                self.respond(job.msg, {"id": jobid, "type": CANCEL})
                break
        self._schedule_soon()

    def prioritize(self, msg: Message) -> None:
        """``sched.prioritize``: ``{"jobs": [[id, priority], ...]}``, the queue re-sorted."""
        jobs = msg.payload_json().get("jobs") or []
        new = {pair[0]: pair[1] for pair in jobs
               if isinstance(pair, list) and len(pair) == 2}
        for job in self.queue:
            if job.jobid in new:
                job.key = (-new[job.jobid],) + job.key[1:]
        heapq.heapify(self.queue)
        self._schedule_soon()

    def resource_status(self, msg: Message) -> None:
        """``sched.resource-status`` (``flux resource list``)."""
        if self.pool is None:
            raise OSError(errno.EAGAIN, "scheduler has no resources yet")
        self.respond(msg, self.pool.status())

    def disconnect(self, msg: Message) -> None:
        """The job-manager's pending alloc requests go with it."""
        sender = msg.route_first
        self.queue = [j for j in self.queue if j.msg.route_first != sender]
        heapq.heapify(self.queue)

    # -- the scheduling pass ------------------------------------------------------------------------

    def _schedule_soon(self) -> None:
        """Coalesce a burst of requests into one pass."""
        if not self._pass_queued and self.queue:
            self._pass_queued = True
            self.soon(self.schedule)

    def schedule(self) -> None:
        """Serve the queue from its head; stop at the first job that must wait."""
        self._pass_queued = False
        pool = self.pool
        if pool is None:
            return
        while self.queue:
            job = self.queue[0]
            rr = job.request
            try:
                ranks, nslots = pool.alloc(job.jobid, rr)
            except Insufficient:
                break
            except Infeasible as exc:
                heapq.heappop(self.queue)
                self.respond(job.msg, {"id": job.jobid, "type": DENY, "note": str(exc)})
                continue
            heapq.heappop(self.queue)
            now = time.time()
            if rr.duration > 0.0:
                expiration = now + rr.duration
            else:
                expiration = pool.expiration if pool.expiration > 0.0 else 0.0
            R = pool.R_of(ranks, now, expiration, nslots)
            self._success(job, R, summary(ranks))

    def _success(self, job: _Pending, R: dict, text: str) -> None:
        """R goes to the KVS first, then the answer (as flux-core's scheduler)."""
        from flux import eventlog
        from flux.services.kvs.txn import op_put

        def done(errnum: int, _: Any) -> None:
            if errnum:
                self.log(LOG_ERR, f"alloc: KVS commit failed: {errno.errorcode.get(errnum)}")
                self.respond_error(job.msg, errnum, None)
                return
            self.respond(job.msg, {"id": job.jobid, "type": SUCCESS, "R": R,
                                   "annotations": {"sched": {"resource_summary": text}}})

        key = kvs_key(job.jobid, "R")
        self.commit([op_put(key, eventlog.dumps(R).encode())], done)

    def close(self) -> None:
        """Pending alloc requests end (ENOSYS, as a scheduler unloading)."""
        for job in self.queue:
            self.respond_error(job.msg, errno.ENOSYS, None)
        self.queue = []


def _json(data: bytes) -> dict:
    import json

    try:
        obj = json.loads(data)
    except ValueError:
        raise ValueError("R is not JSON") from None
    if not isinstance(obj, dict):
        raise ValueError("R is not an object")
    return obj

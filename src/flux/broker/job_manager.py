"""The ``job-manager`` service inside the broker: flux.services.job_manager wired up.

The state machine (``JobManager``) is sans I/O; this file turns requests into
its inputs and its actions into messages: eventlog appends become one KVS
commit per loop iteration (``KVSService.commit_ops``), requests to the
scheduler and the exec service leave through a peer of the router's own
(``_Outbound``: responses come back to it by route, and are dispatched by topic
as flux-core's job-manager dispatches ``sched.alloc`` and ``<exec>.start``
responses), events are published through ``Events``.  Like the KVS it is
created on first use.  A new job's later events wait until the commit that
holds its submit event is done, and ``job-manager.submit`` is answered then,
as flux-core answers it after its batch commit.
"""

from __future__ import annotations

import errno
import time
from .uuids import uuid4

from flux.constants import (
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGTYPE_REQUEST,
    FLUX_ROLE_LOCAL,
    FLUX_ROLE_OWNER,
    FLUX_ROLE_USER,
)
from flux.message import Message, encode_json
from flux.severity import LOG_ERR, LOG_INFO

from .events import Events
from .kvs import KVS
from .loop import Loop
from .router import RequestError, Router, from_sender

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

    from flux.services.job_manager.manager import JobManager

__all__ = ["JobManagerService"]

#: (method, handler name, roles beyond the owner): flux-core's job-manager tables
_METHODS = (
    ("submit", "submit", 0),
    ("getinfo", "getinfo", FLUX_ROLE_USER),
    ("raise", "raise_", FLUX_ROLE_USER),
    ("raiseall", "raiseall", FLUX_ROLE_USER),
    ("memo", "memo", FLUX_ROLE_USER),
    ("kill", "kill", FLUX_ROLE_USER),
    ("killall", "killall", FLUX_ROLE_USER),
    ("urgency", "urgency", FLUX_ROLE_USER),
    ("wait", "wait", 0),
    ("events-journal", "journal", 0),
    ("events-journal-cancel", "journal_cancel", 0),
    ("sched-hello", "sched_hello", 0),
    ("sched-ready", "sched_ready", 0),
    ("exec-hello", "exec_hello", 0),
    ("stats-get", "stats", FLUX_ROLE_USER),
    ("history.get", "history_get", FLUX_ROLE_USER),
    ("queue-list", "queue_list", FLUX_ROLE_USER),
    ("queue-status", "queue_status", FLUX_ROLE_USER),
    ("queue-enable", "queue_enable", 0),
    ("queue-start", "queue_start", 0),
    ("alloc-query", "alloc_query", FLUX_ROLE_USER),
    ("drain", "drain", 0),
    ("idle", "idle", 0),
    ("purge", "purge", 0),
    ("update", "update", FLUX_ROLE_USER),
    ("purge-id", "purge_id", 0),
    ("disconnect", "disconnect", 0),
)

_NORESPONSE_TOPICS = ("sched.cancel", "sched.prioritize")

#: seconds between purges by the configured inactive limits (flux-core: each heartbeat)
PURGE_INTERVAL = 2.0


class _Outbound:
    """The job-manager's own peer: requests it sends carry its uuid as their first hop,
    so their responses come back here."""

    def __init__(self, router: Router, owner: int, on_response: Callable[[Message], None]) -> None:
        self.uuid = uuid4()
        self.router = router
        self.owner = owner
        self.send = on_response  # the router hands responses to ``send``
        router.add_peer(self)

    def request(self, topic: str, payload: Any) -> None:
        msg = Message(FLUX_MSGTYPE_REQUEST)
        msg.topic = topic
        msg.payload_bytes = encode_json(payload)
        msg.flags |= FLUX_MSGFLAG_ROUTE
        if topic in _NORESPONSE_TOPICS:
            msg.flags |= FLUX_MSGFLAG_NORESPONSE
        msg.routes.append(self.uuid)
        msg.userid = self.owner
        msg.rolemask = FLUX_ROLE_OWNER | FLUX_ROLE_LOCAL
        self.router.request(msg)

    def close(self) -> None:
        self.router.remove_peer(self)


class _Batch:
    """One KVS commit of eventlog appends, with what waits for it."""

    __slots__ = ("ops", "release", "then")

    def __init__(self) -> None:
        self.ops: list = []
        self.release: list[int] = []
        self.then: list[Callable[[int], None]] = []


class JobManagerService:
    """Creates the manager on first use, feeds it, carries out its actions."""

    def __init__(self, router: Router, events: Events, loop: Loop, kvs: KVS, owner: int,
                 log: Callable[[int, str], Any]) -> None:
        self.router = router
        self.events = events
        self.loop = loop
        self.kvs = kvs
        self.owner = owner
        self.logf = log
        self._core: Optional[JobManager] = None
        self._outbound: Optional[_Outbound] = None
        self._batch = _Batch()
        self._draining = False
        #: ``[access] private-mode`` (set by the broker): no figures for guests
        self.private_mode = False
        self._checkpointed = 0  # the max_jobid the KVS holds already
        self._queues_saved: list = [{"enable": True, "start": True}]  # what the KVS holds
        self._conf_applied: Any = None
        self._conf_reader: Any = None
        self._purge_timer: Any = None
        self.builtin = router.builtin("job-manager")
        for method, handler, roles in _METHODS:
            self.builtin.method(method, getattr(self, handler), roles)

    @property
    def core(self) -> JobManager:
        """The state machine, created on first use."""
        if self._core is None:
            from flux.services.job_manager.manager import JobManager

            self._core = JobManager(self.owner, log=lambda text: self.logf(LOG_ERR, text))
            self._outbound = _Outbound(self.router, self.owner, self._response)
            self.configure()
        return self._core

    def configure(self) -> None:
        """Apply the instance configuration (``[queues]``, ``[job-manager]``) when it
        changed since it was last applied (``flux config reload``)."""
        from .conf_reader import ConfReader
        from flux.services.job_manager.manager import Refused

        if self._conf_reader is None:
            self._conf_reader = ConfReader(self.router, "job-manager", self.owner)
        conf = self._conf_reader.get()
        wanted = (conf.get("queues"), conf.get("job-manager"))
        if wanted == self._conf_applied:
            return
        self._conf_applied = wanted
        try:
            self.core.configure(conf)
        except Refused as exc:
            self.logf(LOG_ERR, f"job-manager: error parsing config: {exc.text}")
        core = self.core
        limited = core.inactive_age_limit != -1 or core.inactive_num_limit != -1
        if limited and self._purge_timer is None:
            self._purge_timer = self.loop.call_later(PURGE_INTERVAL, self._purge_auto,
                                                     PURGE_INTERVAL)
        elif not limited and self._purge_timer is not None:
            self._purge_timer.cancel()
            self._purge_timer = None
        self._run()

    # -- carrying out actions ------------------------------------------------------------

    def _run(self) -> None:
        """Carry out the manager's actions, in order (a response that arrives while
        this runs, from a service inside the broker, only adds to the list)."""
        if self._draining:
            return
        self._draining = True
        try:
            core = self.core
            router = self.router
            while core.out:
                for action in core.take():
                    kind = action[0]
                    if kind == "append":
                        self._append(action[1], action[2])
                    elif kind == "respond":
                        router.respond(action[1], action[2])
                    elif kind == "error":
                        router.respond_error(action[1], action[2], action[3])
                    elif kind == "respond-committed":
                        self._after_commit(self._responder(action[1], action[2]), [])
                    elif kind == "send":
                        assert self._outbound is not None
                        self._outbound.request(action[1], action[2])
                    elif kind == "publish":
                        self.events.publish(action[1], encode_json(action[2]))
        finally:
            self._draining = False

    def _responder(self, req: Message, payload: Any) -> Callable[[int], None]:
        return lambda _errnum: self.router.respond(req, payload)

    def _append(self, jobid: int, line: str) -> None:
        from flux.job.kvs import kvs_key
        from flux.services.kvs.txn import op_append

        batch = self._batch
        if not batch.ops and not batch.release and not batch.then:
            self.loop.mark_dirty(self)
        batch.ops.append(op_append(kvs_key(jobid, "eventlog"), line.encode()))

    def flush(self) -> None:
        """The loop's end-of-iteration call: commit the eventlog appends gathered."""
        batch = self._batch
        if not batch.ops and not batch.release and not batch.then:
            return
        self._batch = _Batch()
        if not batch.ops:
            self._committed(batch, 0)
            return
        self.kvs.service.commit_ops("primary", batch.ops, 0,
                                    lambda errnum, _root: self._committed(batch, errnum))

    def _committed(self, batch: _Batch, errnum: int) -> None:
        if errnum:
            self.logf(LOG_ERR, f"job-manager: eventlog update failed: {errno.errorcode.get(errnum, errnum)}")
        core = self.core
        for then in batch.then:
            then(errnum)
        for jobid in batch.release:
            core.release(jobid)
        self._run()

    def _after_commit(self, then: Callable[[int], None], release: list[int]) -> None:
        batch = self._batch
        if not batch.ops and not batch.release and not batch.then:
            self.loop.mark_dirty(self)
        batch.then.append(then)
        batch.release.extend(release)

    # -- submission (from job-ingest, in the broker) -----------------------------------------

    def submit_jobs(self, jobs: list[dict], done: Callable[[int, list], None]) -> None:
        """Hand new jobs to the manager; ``done(errnum, errors)`` once their submit events
        are in the KVS (``errors``: the ``[id, text]`` of jobs refused)."""
        core = self.core
        self.configure()
        errors = core.submit(jobs)  # Refused (EPROTO) for entries that are not jobs
        refused = {e[0] for e in errors}
        self._run()
        self._after_commit(lambda errnum: done(errnum, errors),
                           [j["id"] for j in jobs if j["id"] not in refused])

    # -- request handlers -------------------------------------------------------------------

    def _call(self, msg: Message, method: Callable[..., Any], *args: Any,
              answer: bool = False) -> Any:
        """``method(*args)``, its refusal turned into the request's error; the manager's
        actions carried out after the answer when ``answer`` (as flux-core answers a
        hello before it sends the requests the hello allows)."""
        from flux.services.job_manager.manager import Refused

        try:
            result = method(*args)
        except Refused as exc:
            self._run()
            raise RequestError(exc.errnum, exc.text) from None
        if answer:
            self.router.respond(msg, result)
        self._run()
        return result

    @staticmethod
    def _payload(msg: Message) -> dict:
        """The request's JSON object; EPROTO for anything else, as flux-core's unpack."""
        obj = msg.payload_json()
        if not isinstance(obj, dict):
            raise RequestError(errno.EPROTO)
        return obj

    def _owner(self, msg: Message) -> bool:
        return bool(msg.rolemask & FLUX_ROLE_OWNER)

    def submit(self, msg: Message) -> None:
        obj = msg.payload_json()
        jobs = obj.get("jobs") if isinstance(obj, dict) else None
        if not isinstance(jobs, list):
            raise RequestError(errno.EPROTO)
        from flux.services.job_manager.manager import Refused

        try:
            self.submit_jobs(jobs, lambda errnum, errors: self.router.respond(
                msg, {"errors": errors}) if not errnum else self.router.respond_error(msg, errnum))
        except Refused as exc:
            raise RequestError(exc.errnum, exc.text) from None

    def getinfo(self, msg: Message) -> None:
        self._not_private(msg)
        self.router.respond(msg, self.core.getinfo())

    def _not_private(self, msg: Message) -> None:
        """EPERM for a guest in private mode (flux-core hides the instance's figures)."""
        if self.private_mode and not msg.rolemask & FLUX_ROLE_OWNER:
            raise RequestError(errno.EPERM)

    def raise_(self, msg: Message) -> None:
        core = self.core
        self._call(msg, core.raise_request, self._payload(msg), msg.userid, self._owner(msg))
        self.router.respond(msg)

    def memo(self, msg: Message) -> None:
        core = self.core
        self._call(msg, core.memo_request, self._payload(msg), msg.userid, self._owner(msg))
        self.router.respond(msg)

    def raiseall(self, msg: Message) -> None:
        core = self.core
        self.router.respond(msg, self._call(msg, core.raiseall_request, self._payload(msg),
                                            msg.userid, self._owner(msg)))

    def kill(self, msg: Message) -> None:
        core = self.core
        self._call(msg, core.kill_request, self._payload(msg), msg.userid, self._owner(msg))
        self.router.respond(msg)

    def killall(self, msg: Message) -> None:
        core = self.core
        self.router.respond(msg, self._call(msg, core.killall_request, self._payload(msg),
                                            msg.userid, self._owner(msg)))

    def urgency(self, msg: Message) -> None:
        core = self.core
        self.router.respond(msg, self._call(msg, core.urgency_request, self._payload(msg),
                                            msg.userid, self._owner(msg)))

    def wait(self, msg: Message) -> None:
        self._call(msg, self.core.wait_request, msg, self._payload(msg))

    def journal(self, msg: Message) -> None:
        obj = self._payload(msg) if msg.payload_bytes else {}
        if not msg.flags & FLUX_MSGFLAG_STREAMING:
            raise RequestError(errno.EPROTO, "job-manager.events requires streaming RPC flag")
        self._call(msg, self.core.journal_request, msg, obj)

    def journal_cancel(self, msg: Message) -> None:
        obj = msg.payload_json()
        matchtag = obj.get("matchtag") if isinstance(obj, dict) else None
        if not isinstance(matchtag, int):
            return  # flux-core answers no cancel request, not even a bad one
        self.core.journal_cancel(lambda req: from_sender(req, msg) and req.matchtag == matchtag)
        self._run()

    def sched_hello(self, msg: Message) -> None:
        if not msg.flags & FLUX_MSGFLAG_STREAMING:
            raise RequestError(errno.EPROTO)
        core = self.core
        core.sched_teardown()
        self._run()
        for entry in core.sched_hello():
            self.router.respond(msg, entry)
        self.router.respond_error(msg, errno.ENODATA)

    def sched_ready(self, msg: Message) -> None:
        core = self.core
        self._call(msg, core.sched_ready, self._payload(msg), msg.route_first, answer=True)

    def exec_hello(self, msg: Message) -> None:
        core = self.core
        self._call(msg, core.exec_hello, self._payload(msg), msg.route_first, answer=True)

    def stats(self, msg: Message) -> None:
        self._not_private(msg)
        self.router.respond(msg, self.core.stats())

    def history_get(self, msg: Message) -> None:
        """``flux job last``: the sender's own jobs, newest first, sliced."""
        obj = msg.payload_json() if msg.payload_bytes else None
        self._call(msg, self.core.history_get, obj, msg.userid, answer=True)

    def queue_list(self, msg: Message) -> None:
        self.configure()
        self.router.respond(msg, self.core.queue_list())

    def queue_status(self, msg: Message) -> None:
        self.configure()
        obj = self._payload(msg) if msg.payload_bytes else {}
        self.router.respond(msg, self._call(msg, self.core.queue_status, obj))

    def queue_enable(self, msg: Message) -> None:
        self.configure()
        self._call(msg, self.core.queue_enable, self._payload(msg))
        self.router.respond(msg)

    def queue_start(self, msg: Message) -> None:
        self.configure()
        self._call(msg, self.core.queue_start, self._payload(msg))
        self.router.respond(msg)

    def alloc_query(self, msg: Message) -> None:
        self.router.respond(msg, self.core.alloc_query())

    def drain(self, msg: Message) -> None:
        self._call(msg, self.core.drain_request, msg)

    def idle(self, msg: Message) -> None:
        self._call(msg, self.core.idle_request, msg)

    def update(self, msg: Message) -> None:
        core = self.core
        self._call(msg, core.update_request, msg, self._payload(msg), msg.userid,
                   self._owner(msg))

    # -- purge ------------------------------------------------------------------------------

    def purge(self, msg: Message) -> None:
        """``job-manager.purge``: ``{count}``, once the jobs removed are gone from the KVS."""
        count, jobs = self._call(msg, self.core.purge_request, self._payload(msg))
        self._remove(jobs, lambda errnum: self._purged(msg, errnum, count))

    def purge_id(self, msg: Message) -> None:
        count, jobs = self._call(msg, self.core.purge_id_request, self._payload(msg))
        self._remove(jobs, lambda errnum: self._purged(msg, errnum, count))

    def _purged(self, msg: Message, errnum: int, count: int) -> None:
        if errnum:
            self.router.respond_error(msg, errnum)
        else:
            self.router.respond(msg, {"count": count})

    def _purge_auto(self) -> None:
        self.configure()
        jobs = self.core.purge_auto()
        if jobs:
            self._remove(jobs, lambda errnum: None)

    def _remove(self, jobs: list, then: Callable[[int], None]) -> None:
        """Unlink the jobs' KVS directories (one commit, with the checkpoint when the
        newest job goes, so ids keep increasing) and publish ``job-purge-inactive``."""
        if not jobs:
            then(0)
            return
        from flux.job.kvs import kvs_key
        from flux.services.kvs.txn import op_unlink

        core = self.core
        ops = [op_unlink(kvs_key(job.id)) for job in jobs]
        if any(job.id == core.max_jobid for job in jobs):
            ops.append(self._checkpoint_op())

        def committed(errnum: int, _root: Any) -> None:
            if errnum:
                self.logf(LOG_ERR, "error committing purge KVS transaction: "
                                   f"{errno.errorcode.get(errnum, errnum)}")
            then(errnum)

        self.kvs.service.commit_ops("primary", ops, 0, committed)
        self.events.publish("job-purge-inactive", encode_json({"jobs": [j.id for j in jobs]}))

    def disconnect(self, msg: Message) -> None:
        core = self._core
        if core is None:
            return
        sender = msg.route_first
        core.wait_disconnect(lambda req: from_sender(req, msg))
        core.journal_disconnect(lambda req: from_sender(req, msg))
        core.drain_disconnect(lambda req: from_sender(req, msg))
        if sender is not None and sender == core.sched_sender:
            core.sched_teardown()
        if sender is not None and sender == core.exec_sender:
            core.exec_teardown()
        self._run()

    # -- responses from the scheduler and the exec service ----------------------------------

    def _response(self, msg: Message) -> None:
        core = self.core
        topic = msg.topic
        try:
            if topic == "sched.alloc":
                if msg.errnum:
                    core.sched_teardown()
                else:
                    core.alloc_response(msg.payload_json())
            elif topic is not None and topic == core.start_topic:
                if msg.errnum:
                    core.exec_teardown()
                else:
                    core.start_response(topic, msg.payload_json())
            elif topic == "sched.expiration":
                core.expiration_response(msg.errnum)
            elif topic is not None and topic.endswith(".expiration"):
                core.expiration_update_response(msg.errnum)
        except OSError:
            self.logf(LOG_ERR, f"job-manager: malformed {topic} response")
        self._run()

    def restore(self) -> None:
        """With a statedir: the jobs stored in the KVS before, replayed (flux-core's
        restart), their follow-up events committed like any."""
        from flux.services.job_manager.restart import load

        kvs = self.kvs.service
        count = load(self.core, lambda key, flags: kvs.lookup_at("primary", key, flags),
                     lambda text: self.logf(LOG_ERR, text))
        self.logf(LOG_INFO, f"restart: {count} jobs")
        self._checkpointed = self.core.max_jobid
        self._queues_saved = self.core.queues.save()
        self._run()

    def _checkpoint(self) -> None:
        """Keep max_jobid where flux-core keeps it, so ids keep increasing after a restart
        (only when something changed: an instance without jobs leaves its KVS untouched)."""
        core = self.core
        if core.max_jobid <= self._checkpointed and core.queues.save() == self._queues_saved:
            return  # nothing new: the KVS stays as it was
        batch = self._batch
        if not batch.ops and not batch.release and not batch.then:
            self.loop.mark_dirty(self)
        batch.ops.append(self._checkpoint_op())

    def _checkpoint_op(self) -> Any:
        """The put of the job-manager's state: max_jobid and the queues (flux-core's)."""
        from flux.message import compact_json
        from flux.services.job_manager.restart import CHECKPOINT_KEY
        from flux.services.kvs.txn import op_put

        core = self.core
        queues = core.queues.save()
        self._checkpointed, self._queues_saved = core.max_jobid, queues
        return op_put(CHECKPOINT_KEY, compact_json(
            {"version": 1, "max_jobid": core.max_jobid, "queue": queues}).encode())

    def shutdown_jobs(self, done: Callable[[], None], grace: float = 60.0) -> None:
        """The instance is ending (the broker's cleanup state): do what flux-core's rc1
        pushes as cleanup commands (``flux queue stop --all --nocheckpoint``, ``flux
        cancel --user=all --states RUN``, then wait until nothing runs) without starting
        a command, then ``done()``.  ``grace`` bounds the wait: the exec service's kill
        sequence ends a job well within it."""
        core = self._core
        if core is None or core.running_count() == 0:
            done()
            return
        from flux.services.job_manager import job as J

        try:
            core.queue_start({"start": False, "all": True, "nocheckpoint": True,
                              "reason": "instance shutdown"})
        except Exception as exc:  # noqa: BLE001 - shutting down regardless
            self.logf(LOG_ERR, f"job-manager: stopping queues at shutdown: {exc}")
        count = core.raiseall_request({"dry_run": False, "userid": -1, "states": J.RUN,
                                       "severity": 0, "type": "cancel"},
                                      self.owner, True)["count"]
        self._run()
        self.logf(LOG_INFO, f"job-manager: shutdown: canceled {count} running job(s)")
        deadline = time.monotonic() + grace

        def check() -> None:
            if core.running_count() == 0 or time.monotonic() > deadline:
                done()
            else:
                self.loop.call_later(0.01, check)

        self.loop.call_later(0.01, check)

    def close(self) -> None:
        """Commit what is gathered; answer the waits still pending (ENOSYS, as flux-core
        does when it unloads)."""
        core = self._core
        if core is None:
            return
        self._checkpoint()
        self.flush()
        for job in core.active.values():
            if job.waiter is not None:
                self.router.respond_error(job.waiter, errno.ENOSYS, "job-manager is unloading")
        for req in core.wait_any:
            self.router.respond_error(req, errno.ENOSYS, "job-manager is unloading")
        for req, _allow, _deny in core.listeners:
            self.router.respond_error(req, errno.ENOSYS)
        for req in core.drain_requests + core.idle_requests:
            self.router.respond_error(req, errno.ENOSYS, "job-manager is unloading")
        if self._conf_reader is not None:
            self._conf_reader.close()
        if self._purge_timer is not None:
            self._purge_timer.cancel()
        if self._outbound is not None:
            self._outbound.close()

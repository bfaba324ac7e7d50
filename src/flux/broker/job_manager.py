"""The ``job-manager`` service inside the broker: flux.services.job_manager wired up.

The state machine (``JobManager``) is sans I/O; this file creates it on first
use (like the KVS), configures it, and carries out its actions: eventlog
appends go to ``JobManagerKVS`` (one KVS commit per loop iteration), requests
to the scheduler and the exec service leave through the service's own router
peer (``Outbound``), whose responses are dispatched here by topic, and events
are published through ``Events``.  A new job's later events wait until the
commit that holds its submit event is done, and ``job-manager.submit`` is
answered then, as flux-core answers it after its batch commit.  The request
handlers are in ``job_manager_requests.py``; restart, shutdown and unload are
here.
"""

from __future__ import annotations

import errno
import time

from flux.message import Message, encode_json
from flux.severity import LOG_ERR, LOG_INFO

from .events import Events
from .job_manager_kvs import JobManagerKVS
from .job_manager_outbound import Outbound
from .job_manager_requests import JobManagerRequests
from .kvs import KVS
from .loop import Loop
from .router import Router

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

    from flux.services.job_manager.job import Job
    from flux.services.job_manager.manager import JobManager

__all__ = ["JobManagerService"]

#: seconds between purges by the configured inactive limits (flux-core: each heartbeat)
PURGE_INTERVAL = 2.0


class JobManagerService(JobManagerRequests):
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
        self._outbound: Optional[Outbound] = None
        self._store = JobManagerKVS(loop, kvs, log, self._committed)
        self._draining = False
        #: ``[access] private-mode`` (set by the broker): no figures for guests
        self.private_mode = False
        self._conf_applied: Any = None
        self._conf_reader: Any = None
        self._purge_timer: Any = None
        self._serve()

    @property
    def core(self) -> JobManager:
        """The state machine, created on first use."""
        if self._core is None:
            from flux.services.job_manager.manager import JobManager

            self._core = JobManager(self.owner, log=lambda text: self.logf(LOG_ERR, text))
            self._outbound = Outbound(self.router, self.owner, self._response)
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
                        self._store.append(action[1], action[2])
                    elif kind == "respond":
                        router.respond(action[1], action[2])
                    elif kind == "error":
                        router.respond_error(action[1], action[2], action[3])
                    elif kind == "respond-committed":
                        self._store.after_commit(self._responder(action[1], action[2]), [])
                    elif kind == "send":
                        assert self._outbound is not None
                        self._outbound.request(action[1], action[2])
                    elif kind == "publish":
                        self.events.publish(action[1], encode_json(action[2]))
        finally:
            self._draining = False

    def _responder(self, req: Message, payload: Any) -> Callable[[int], None]:
        return lambda _errnum: self.router.respond(req, payload)

    def _committed(self, release: list[int]) -> None:
        """A batch of eventlog appends is in the KVS: the new jobs whose submit events it
        held may proceed."""
        core = self.core
        for jobid in release:
            core.release(jobid)
        self._run()

    # -- submission (from job-ingest, in the broker) -----------------------------------------

    def submit_jobs(self, jobs: list[dict], done: Callable[[int, list], None]) -> None:
        """Hand new jobs to the manager; ``done(errnum, errors)`` once their submit events
        are in the KVS (``errors``: the ``[id, text]`` of jobs refused)."""
        core = self.core
        self.configure()
        errors = core.submit(jobs)  # Refused (EPROTO) for entries that are not jobs
        refused = {e[0] for e in errors}
        self._run()
        self._store.after_commit(lambda errnum: done(errnum, errors),
                                 [j["id"] for j in jobs if j["id"] not in refused])

    # -- purge ------------------------------------------------------------------------------

    def _purge_auto(self) -> None:
        self.configure()
        jobs = self.core.purge_auto()
        if jobs:
            self._remove(jobs, lambda errnum: None)

    def _remove(self, jobs: list[Job], then: Callable[[int], None]) -> None:
        """Unlink the jobs' KVS directories and publish ``job-purge-inactive``."""
        if not jobs:
            then(0)
            return
        self._store.remove(self.core, jobs, then)
        self.events.publish("job-purge-inactive", encode_json({"jobs": [j.id for j in jobs]}))

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

    # -- restart, shutdown, unload ----------------------------------------------------------

    def restore(self) -> None:
        """With a statedir: the jobs stored in the KVS before, replayed (flux-core's
        restart), their follow-up events committed like any."""
        from flux.services.job_manager.restart import load

        kvs = self.kvs.service
        count = load(self.core, lambda key, flags: kvs.lookup_at("primary", key, flags),
                     lambda text: self.logf(LOG_ERR, text))
        self.logf(LOG_INFO, f"restart: {count} jobs")
        self._store.restored(self.core)
        self._run()

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
        self._store.checkpoint(core)
        self._store.flush()
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

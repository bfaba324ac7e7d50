"""The ``job-manager`` service's requests, as the broker receives them: each handler
checks what the wire needs (payload, streaming flag, private mode), calls the
sans-I/O manager, answers, and has the manager's actions carried out.

``JobManagerService`` (``job_manager.py``) is made of this class and its own:
the manager's life (creation, configuration, restart, shutdown) and its actions.
"""

from __future__ import annotations

import errno

from flux.constants import (
    FLUX_MSGFLAG_STREAMING,
    FLUX_ROLE_OWNER,
    FLUX_ROLE_USER,
)
from flux.message import Message

from .router import RequestError, Router, from_sender

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

    from flux.services.job_manager.job import Job
    from flux.services.job_manager.manager import JobManager

__all__ = ["JobManagerRequests"]

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


class JobManagerRequests:
    """The ``job-manager.*`` request handlers."""

    if TYPE_CHECKING:  # pragma: no cover
        # what JobManagerService (job_manager.py) provides
        router: Router
        private_mode: bool
        _core: Optional[JobManager]

        @property
        def core(self) -> JobManager: ...
        def configure(self) -> None: ...
        def _run(self) -> None: ...
        def submit_jobs(self, jobs: list[dict], done: Callable[[int, list], None]) -> None: ...
        def _remove(self, jobs: list[Job], then: Callable[[int], None]) -> None: ...

    def _serve(self) -> None:
        """The handlers on the router's ``job-manager`` service."""
        self.builtin = self.router.builtin("job-manager")
        for method, handler, roles in _METHODS:
            self.builtin.method(method, getattr(self, handler), roles)

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


"""The ``job-list`` service inside the broker: flux.services.job_list wired to the router.

Like flux-core's module, it follows the job-manager through the journal RPC
(``job-manager.events-journal`` with ``full``), sent through the router as any
client's request would be, so it needs nothing of the job-manager but its wire
protocol: the responses come back to a route of its own (``_JournalLink``).
It is created on first use: the journal is requested by the first ``job-list``
request, which waits (as all requests do) until the journal's backlog is read.
"""

from __future__ import annotations

import errno
from .uuids import uuid4

from flux.constants import (
    FLUX_KVS_READDIR,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGTYPE_REQUEST,
    FLUX_ROLE_OWNER,
    FLUX_ROLE_USER,
)
from flux.message import Message, encode_json
from flux.severity import LOG_ERR

from .events import Events
from .kvs import KVS
from .loop import Loop
from .router import Router, from_sender

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable
    from typing import Any

    from flux.services.job_list.service import JobListService

__all__ = ["JobList"]

#: (method, handler name, roles beyond the owner): flux-core's job-list.c tables
_METHODS = (
    ("list", "list_jobs", FLUX_ROLE_USER),
    ("list-id", "list_id", FLUX_ROLE_USER),
    ("list-attrs", "list_attrs", FLUX_ROLE_USER),
    ("job-stats", "job_stats", FLUX_ROLE_USER),
    ("stats-get", "stats_get", FLUX_ROLE_USER),
    ("disconnect", "disconnect", FLUX_ROLE_USER),
)


class _JournalLink:
    """The route the journal's responses come back on."""

    def __init__(self, owner: JobList) -> None:
        self.uuid = f"job-list-{uuid4()}"
        self.owner = owner

    def send(self, msg: Message) -> None:
        self.owner.journal_response(msg)


class JobList:
    """Creates the service on first use and subscribes it to the journal."""

    def __init__(self, router: Router, events: Events, loop: Loop, kvs: KVS, owner: int,
                 log: Callable[[int, str], Any]) -> None:
        self.router = router
        self.events = events
        self.loop = loop
        self.kvs = kvs
        self.owner = owner
        self.log = log
        self._service: JobListService | None = None
        self._link: _JournalLink | None = None
        self._private = False
        self.builtin = router.builtin("job-list")
        self.builtin.methods_of(_METHODS, lambda: self.service)
        events.on("job-purge-inactive", self._purge)

    @property
    def private_mode(self) -> bool:
        """``[access] private-mode`` (the broker sets it): guests see their own jobs."""
        return self._private

    @private_mode.setter
    def private_mode(self, on: bool) -> None:
        self._private = on
        if self._service is not None:
            self._service.private_mode = on

    @property
    def service(self) -> JobListService:
        """The service, created (the journal requested) on first use."""
        if self._service is None:
            from flux.services.job_list.service import JobListService

            router = self.router
            self._service = JobListService(
                respond=router.respond, respond_error=router.respond_error,
                from_sender=from_sender, job_dir_exists=self._job_dir_exists,
                call_later=self.loop.call_later,
                log_error=lambda text: self.log(LOG_ERR, f"job-list: {text}"))
            self._service.private_mode = self._private
            self._request_journal()
        return self._service

    def _request_journal(self) -> None:
        link = self._link = _JournalLink(self)
        self.router.add_peer(link)
        req = Message(FLUX_MSGTYPE_REQUEST)
        req.topic = "job-manager.events-journal"
        req.flags |= FLUX_MSGFLAG_ROUTE | FLUX_MSGFLAG_STREAMING
        req.userid = self.owner
        req.rolemask = FLUX_ROLE_OWNER
        req.aux2 = 1  # matchtag
        req.routes = [link.uuid]
        req.payload_bytes = encode_json({"full": True})
        self.router.request(req)

    def journal_response(self, msg: Message) -> None:
        """A response of the journal stream: fed to the service, or its end."""
        service = self._service
        if service is None or service.failed:
            return
        if msg.aux1:
            text = msg.payload_str if msg.payload_bytes else None
            self.log(LOG_ERR, f"job-list: journal: {text or errno.errorcode.get(msg.aux1)}")
            service.journal_ended(msg.aux1)
            return
        try:
            service.journal(msg.payload_json())
        except (OSError, ValueError, TypeError, KeyError) as exc:  # ends it, as in flux-core
            self.log(LOG_ERR, f"job-list: journal: {exc}")
            service.journal_ended(errno.EPROTO)

    def _job_dir_exists(self, jobid: int) -> int:
        from flux.job.kvs import kvs_key

        try:
            self.kvs.service.lookup_at("primary", kvs_key(jobid), FLUX_KVS_READDIR)
        except OSError as exc:
            return exc.errno or errno.ENOENT
        return 0

    def _purge(self, msg: Message) -> None:
        if self._service is None:
            return
        try:
            jobs = msg.payload_json()["jobs"]
        except (OSError, KeyError, TypeError):
            return
        if isinstance(jobs, list):
            self._service.purge(jobs)

    def close(self) -> None:
        """Answer what waits (ENOSYS), drop the journal's route."""
        if self._service is not None:
            self._service.close()
        if self._link is not None:
            self.router.remove_peer(self._link)
            self._link = None

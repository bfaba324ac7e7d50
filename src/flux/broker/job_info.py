"""The ``job-info`` service inside the broker: flux.services.job_info wired to the router.

Keys are read straight from the KVS service (``lookup_at``); eventlogs are
followed with ordinary ``kvs-watch.lookup`` requests sent through the router
on a route of this service's own (``_WatchLink``), so the watches behave as
kvs-watch's do for any client.  Created on first use.
"""

from __future__ import annotations

import base64
import errno
from .uuids import uuid4

from flux.constants import (
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGTYPE_REQUEST,
    FLUX_ROLE_OWNER,
    FLUX_ROLE_USER,
)
from flux.message import Message, encode_json

from .kvs import KVS
from .router import Router, from_sender

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from flux.services.job_info.service import JobInfoService

    from .kvs_watch import KVSWatch

__all__ = ["JobInfo"]

#: (method, handler name, roles beyond the owner): flux-core's job-info.c table
_METHODS = (
    ("lookup", "lookup", FLUX_ROLE_USER),
    ("eventlog-watch", "eventlog_watch", FLUX_ROLE_USER),
    ("eventlog-watch-cancel", "eventlog_watch_cancel", FLUX_ROLE_USER),
    ("update-lookup", "update_lookup", FLUX_ROLE_USER),
    ("update-watch", "update_watch", FLUX_ROLE_USER),
    ("update-watch-cancel", "update_watch_cancel", FLUX_ROLE_USER),
    ("disconnect", "disconnect", FLUX_ROLE_USER),
    ("stats-get", "stats_get", 0),
)


class _WatchLink:
    """The route kvs-watch's responses come back on."""

    def __init__(self, owner: JobInfo) -> None:
        self.uuid = f"job-info-{uuid4()}"
        self.owner = owner

    def send(self, msg: Message) -> None:
        service = self.owner._service
        if service is None:
            return
        errnum = msg.aux1
        payload = None
        if not errnum and msg.payload_bytes:
            try:
                payload = msg.payload_json()
            except OSError:
                errnum = errno.EPROTO
        service.watch_response(msg.aux2, errnum, payload)

    def receive(self, req: Message, errnum: int, val: Any) -> None:
        """A kvs-watch response handed over in-process (KVSWatchService.local): what
        :meth:`send` gets from its message, without the encoding and decoding."""
        service = self.owner._service
        if service is not None:
            service.watch_value(req.aux2, errnum, val)


class JobInfo:
    """Creates the service on first use."""

    def __init__(self, router: Router, kvs: KVS, owner: int,
                 kvs_watch: KVSWatch | None = None) -> None:
        self.router = router
        self.kvs = kvs
        self.kvs_watch = kvs_watch
        self.owner = owner
        self._service: JobInfoService | None = None
        self._link: _WatchLink | None = None
        self.builtin = router.builtin("job-info")
        self.builtin.methods_of(_METHODS, lambda: self.service)

    @property
    def service(self) -> JobInfoService:
        """The service, created on first use."""
        if self._service is None:
            from flux.services.job_info.service import JobInfoService

            router = self.router
            self._link = _WatchLink(self)
            router.add_peer(self._link)
            if self.kvs_watch is not None:  # its responses are handed over, not encoded
                self.kvs_watch.local[self._link.uuid] = self._link.receive
            self._service = JobInfoService(
                respond=router.respond, respond_error=router.respond_error,
                from_sender=from_sender, lookup=self._lookup,
                watch_start=self._watch_start, watch_cancel=self._watch_cancel,
                respond_many=router.respond_many)
        return self._service

    def _lookup(self, key: str) -> str:
        val = self.kvs.service.lookup_at("primary", key, 0)
        data = val.get("data")
        return base64.b64decode(data).decode("utf-8", errors="replace") if data else ""

    def _request(self, topic: str, payload: dict, flags: int, tag: int) -> None:
        assert self._link is not None
        req = Message(FLUX_MSGTYPE_REQUEST)
        req.topic = topic
        req.flags |= FLUX_MSGFLAG_ROUTE | flags
        req.userid = self.owner
        req.rolemask = FLUX_ROLE_OWNER
        req.aux2 = tag
        req.routes = [self._link.uuid]
        req.payload_bytes = encode_json(payload)
        self.router.request(req)

    def _watch_start(self, namespace: str, key: str, flags: int, tag: int) -> None:
        self._request("kvs-watch.lookup", {"key": key, "namespace": namespace, "flags": flags},
                      FLUX_MSGFLAG_STREAMING, tag)

    def _watch_cancel(self, tag: int) -> None:
        self._request("kvs-watch.cancel", {"matchtag": tag}, FLUX_MSGFLAG_NORESPONSE, 0)

    def close(self) -> None:
        """Answer the watches still running (ENOSYS), drop the watch route."""
        if self._service is not None:
            self._service.close()
        if self._link is not None:
            if self.kvs_watch is not None:
                self.kvs_watch.local.pop(self._link.uuid, None)
            self.router.remove_peer(self._link)
            self._link = None

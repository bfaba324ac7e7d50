"""Requests sent by a service inside the broker to another service, through the router.

The scheduler and the exec service talk to the job-manager over RFC 27 and 32 as flux-core's
modules do; inside the broker they are peers of the router like any client, so the
job-manager (builtin or module) sees the same messages either way.
"""

from __future__ import annotations

import errno

from flux.constants import (
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGFLAG_UPSTREAM,
    FLUX_ROLE_LOCAL,
    FLUX_ROLE_OWNER,
)
from flux.message import Message, encode_json

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable

    from .router import Router

    Callback = Callable[[int, Any], None]

__all__ = ["InternalClient"]


class InternalClient:
    """A router peer named ``name``: ``rpc()`` sends a request as the instance owner and
    calls ``callback(errnum, payload)`` for each response (a dict, or None)."""

    def __init__(self, router: Router, name: str, owner: int) -> None:
        self.uuid = f"{router.uuid}/{name}"
        self.router = router
        self.owner = owner
        self._pending: dict[int, tuple[Callback, bool]] = {}
        self._matchtag = 0
        router.add_peer(self)

    def rpc(self, topic: str, payload: dict | None, callback: Callback | None = None,
            streaming: bool = False, nodeid: int | None = None, upstream: bool = False) -> int:
        """Send ``topic``; without a callback the request asks for no response.
        ``nodeid`` addresses a rank; ``upstream`` asks for the parent's service (the
        nodeid is then this broker's own rank, as libflux sends it)."""
        msg = Message()
        if nodeid is not None:
            msg.aux1 = nodeid
        if upstream:
            msg.flags |= FLUX_MSGFLAG_UPSTREAM
        msg.topic = topic
        msg.userid = self.owner
        msg.rolemask = FLUX_ROLE_OWNER | FLUX_ROLE_LOCAL
        msg.routes = [self.uuid]
        if payload is not None:
            msg.payload_bytes = encode_json(payload)
        tag = 0
        if callback is None:
            msg.flags |= FLUX_MSGFLAG_NORESPONSE
        else:
            self._matchtag += 1
            tag = self._matchtag
            msg.aux2 = tag
            if streaming:
                msg.flags |= FLUX_MSGFLAG_STREAMING
            self._pending[tag] = (callback, streaming)
        self.router.request(msg)
        return tag

    def send(self, msg: Message) -> None:
        """A response from the router: handed to its request's callback."""
        entry = self._pending.get(msg.aux2)
        if entry is None:
            return
        callback, streaming = entry
        errnum = msg.aux1
        if not streaming or errnum:
            del self._pending[msg.aux2]
        payload = None
        if not errnum and msg.payload_bytes:
            try:
                payload = msg.payload_json()
            except OSError:
                errnum = errno.EPROTO
        callback(errnum, payload)

    def close(self) -> None:
        """Forget pending requests and leave the router."""
        self._pending.clear()
        self.router.remove_peer(self)

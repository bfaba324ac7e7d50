"""The ``kvs`` service inside the broker: flux.services.kvs.service wired to the router.

flux-core runs the KVS as a module; here it is part of the broker because a
module process would add a second hop to every lookup: measured on this
project, a request to a module costs ~2.6x a request the broker answers
itself (bench/module.py against bench/ping.py), and ``flux.kvs.get`` must
stay within 3x the polling floor.  The service's blobs live in the broker's
content store (``content.py``), opened on first use as the content service
does; with a statedir, the primary namespace is restored from its newest
checkpoint at start-up, and so is an instance started from an archive
(``content.restore``, see ``content_dump.py``).
"""

from __future__ import annotations

import time

from flux.constants import FLUX_ROLE_USER
from flux.core.default_methods import ping_reply_payload
from flux.message import Message
from flux.severity import LOG_INFO

from .content import Content
from .events import Events
from .loop import Loop
from .router import Router

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

    from flux.services.kvs.service import KVSService

__all__ = ["KVS"]

#: (method, handler name, roles beyond the owner): flux-core's kvs.c table
_METHODS = (
    ("lookup", "lookup", FLUX_ROLE_USER),
    ("lookup-plus", "lookup_plus", FLUX_ROLE_USER),
    ("commit", "commit", FLUX_ROLE_USER),
    ("relaycommit", "relaycommit", 0),
    ("fence", "fence", FLUX_ROLE_USER),
    ("getroot", "getroot", FLUX_ROLE_USER),
    ("wait-version", "wait_version", FLUX_ROLE_USER),
    ("namespace-create", "namespace_create", 0),
    ("namespace-remove", "namespace_remove", 0),
    ("namespace-list", "namespace_list", 0),
    ("dropcache", "dropcache", 0),
    ("stats-get", "stats", FLUX_ROLE_USER),
    ("disconnect", "disconnect", 0),
)


class KVS:
    """Creates the service on first use (an instance that never touches the KVS pays
    nothing for it at start-up), registers its methods, flushes its commits once per
    loop iteration."""

    def __init__(self, router: Router, events: Events, loop: Loop, content: Content,
                 owner: int, rank: int, log: Callable[[int, str], Any]) -> None:
        self.router = router
        self.events = events
        self.loop = loop
        self.content = content
        self.owner = owner
        self.rank = rank
        self.log = log
        self._service: Optional[KVSService] = None
        self.builtin = router.builtin("kvs")
        self.builtin.methods_of(_METHODS, lambda: self.service)
        events.on("kvs.dropcache", self._dropcache_event)
        # a module's default method in flux-core (`flux ping kvs`); needs no service state
        self.builtin.method("ping", lambda msg: router.respond(
            msg, ping_reply_payload(msg, router.uuid, rank)), FLUX_ROLE_USER)

    @property
    def service(self) -> KVSService:
        """The service, created on first use."""
        if self._service is None:
            from flux.services.kvs.service import KVSService

            router = self.router
            self._service = KVSService(
                owner=self.owner, rank=self.rank, hashtype=self.content.hashtype,
                store=self.content.opened, respond=router.respond,
                respond_error=router.respond_error, publish=self._publish,
                schedule=self._schedule)
        return self._service

    def _dropcache_event(self, msg: Message) -> None:
        if self._service is not None:
            self._service.dropcache()

    def _publish(self, topic: str, payload: bytes | Callable[[], bytes]) -> None:
        """Publish a KVS event (private, as flux-core's); a callable payload is built only
        if someone subscribes to the topic (most commits have no listener)."""
        events = self.events
        if callable(payload):
            if not events.wanted(topic):
                events.skip()
                return
            payload = payload()
        events.publish(topic, payload, private=True)

    def _schedule(self) -> None:
        self.loop.mark_dirty(self, last=True)

    def flush(self) -> None:
        """The loop's end-of-iteration call (after the other services'): apply the commits
        that arrived; those the answers bring are applied in the loop's next pass."""
        self.service.apply_ready()

    def restore(self) -> None:
        """The primary namespace from its newest checkpoint, if the store has one
        (the broker calls this with a statedir or a restored archive)."""
        when = self.service.restore()
        if when is not None:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(when)) if when else "N/A"
            self.log(LOG_INFO, f"restored KVS from checkpoint on {stamp}")

    def close(self) -> None:
        """Answer what is still pending (ENOSYS, as flux-core at unload)."""
        if self._service is not None:
            self._service.flush()
            self._service.close()

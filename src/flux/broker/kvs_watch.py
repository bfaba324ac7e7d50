"""The ``kvs-watch`` service inside the broker: flux.services.kvs_watch wired to the router.

flux-core runs kvs-watch as a module that talks to the KVS module by RPC;
here the KVS lives in the broker (kvs.py says why), so its watcher does too:
it reads the KVS service's namespaces and trees directly and sees the KVS's
namespace events as they are published (``Events.on``).  Like the KVS, it is
created on first use: until someone sends a ``kvs-watch`` request, neither a
request nor a commit pays anything for it.
"""

from __future__ import annotations

from flux.constants import FLUX_ROLE_USER
from flux.message import Message

from .events import Events
from .kvs import KVS
from .router import Router, from_sender

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable
    from typing import Any

    from flux.services.kvs_watch.service import KVSWatchService

__all__ = ["KVSWatch"]

#: (method, handler name, roles beyond the owner): flux-core's kvs-watch.c table
_METHODS = (
    ("lookup", "lookup", FLUX_ROLE_USER),
    ("cancel", "cancel", FLUX_ROLE_USER),
    ("disconnect", "disconnect", FLUX_ROLE_USER),
    ("stats-get", "stats", FLUX_ROLE_USER),
)


class KVSWatch:
    """Creates the service on first use and subscribes it to the KVS's namespace events."""

    def __init__(self, router: Router, events: Events, kvs: KVS) -> None:
        self.router = router
        self.events = events
        self.kvs = kvs
        self._service: KVSWatchService | None = None
        #: in-process requesters' receivers (KVSWatchService.local), kept here so that
        #: they may register before the service exists
        self.local: dict[str, Callable[[Message, int, Any], None]] = {}
        self.builtin = router.builtin("kvs-watch")
        self.builtin.methods_of(_METHODS, lambda: self.service)

    @property
    def service(self) -> KVSWatchService:
        """The service, created on first use."""
        if self._service is None:
            from flux.services.kvs_watch.service import KVSWatchService

            router = self.router
            service = self._service = KVSWatchService(
                self.kvs.service, respond=router.respond, respond_error=router.respond_error,
                from_sender=from_sender)
            service.local = self.local

            def on_event(msg: Message) -> None:
                # published in the middle of a commit, which a bug here must not break
                try:
                    service.event(msg)
                except Exception:
                    router.logger.exception("kvs-watch: %s", msg.topic)

            self.events.on("kvs.namespace-", on_event)
        return self._service

    def close(self) -> None:
        """Answer the watches still running (ENOSYS, as for the KVS's pending requests)."""
        if self._service is not None:
            self._service.close()

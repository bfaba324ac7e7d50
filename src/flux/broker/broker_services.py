"""The methods a broker answers itself: ``broker.*`` (ping, stats, rusage),
``connector-local.stats-get``, the ``service`` name, and the ``NAME.ping`` and
``NAME.rusage`` every service that is a module in flux-core has."""

from __future__ import annotations

import errno

from flux.constants import FLUX_ROLE_ALL, FLUX_ROLE_USER
from flux.core.default_methods import ping_reply_payload, rusage_reply
from flux.message import Message

from .broker_fields import BrokerFields
from .router import BuiltinService, RequestError

__all__ = ["BuiltinMethods"]


class BuiltinMethods(BrokerFields):
    """The ``Broker``'s part that registers and answers its own methods."""

    def _register_services(self) -> None:
        svc = self.router.builtin("broker")
        svc.method("ping", self._ping, FLUX_ROLE_USER)
        svc.method("stats-get", self._stats_get, FLUX_ROLE_ALL)
        svc.method("stats-clear", self._stats_clear)
        svc.method("service-stats", self._service_stats, FLUX_ROLE_USER)
        svc.method("rusage", self._rusage, FLUX_ROLE_USER)
        svc.method("disconnect", lambda msg: None)
        conn = self.router.builtin("connector-local")
        # owner only, as flux-core's: it names every client's uuid, uid and pid
        conn.method("stats-get", lambda msg: self.router.respond(msg, self.connector.stats()))
        # each peer link answers service.add/remove itself (peerlink.py); the name is ours
        self.router.builtin("service")

    #: services that are modules in flux-core: libflux gives each NAME.ping and NAME.rusage,
    #: open to guests (``flux ping job-manager``); a service's own method of that name wins
    _MODULE_SERVICES = ("connector-local", "config", "content", "job-exec", "job-info",
                        "job-ingest", "job-list", "job-manager", "kvs", "kvs-watch", "overlay",
                        "resource", "rexec")

    def _module_default_methods(self, rank: int) -> None:
        for name in self._MODULE_SERVICES:
            svc = self.router.services.get(name)
            if not isinstance(svc, BuiltinService):
                continue
            if f"{name}.ping" not in svc.methods:
                svc.method("ping", lambda msg: self.router.respond(
                    msg, ping_reply_payload(msg, self.uuid, rank)), FLUX_ROLE_USER)
            if f"{name}.rusage" not in svc.methods:
                svc.method("rusage", self._rusage, FLUX_ROLE_USER)

    def _ping(self, msg: Message) -> None:
        self.router.respond(msg, ping_reply_payload(msg, self.uuid, self.topology.rank))

    def _stats_get(self, msg: Message) -> None:
        rx, tx = self.router.rx, self.router.tx

        def counts(c: list[int]) -> dict[str, int]:
            return {"request": c[1], "response": c[2], "event": c[4], "control": c[8]}

        self.router.respond(msg, {"tx": counts(tx), "rx": counts(rx)})

    def _stats_clear(self, msg: Message) -> None:
        self.router.rx[:] = [0] * 9
        self.router.tx[:] = [0] * 9
        self.router.requests_by_service.clear()
        self.router.respond(msg)

    def _service_stats(self, msg: Message) -> None:
        """pureflux's own: requests delivered to each service of this broker since start
        (or the last stats-clear), for ``flux dashboard``'s requests-per-service chart."""
        self.router.respond(msg, {"requests": dict(self.router.requests_by_service)})

    def _rusage(self, msg: Message) -> None:
        try:
            self.router.respond(msg, rusage_reply(msg))
        except ValueError as exc:
            raise RequestError(errno.EINVAL, str(exc)) from None

"""The ``groups`` service inside the broker on rank 0: flux.services.groups wired to the
router.  Rank 0 is in ``broker.online`` from the start; the ranks below join it with
``groups.update`` once in quorum, and a subtree the overlay loses leaves every group
(``lost``).  ``broker.torpid`` changes reach the resource service (``on_torpid``)."""

from __future__ import annotations

from flux.constants import FLUX_ROLE_ALL, FLUX_ROLE_USER

from .router import Router

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Callable, Optional

    from flux.services.groups.service import GroupsService

__all__ = ["Groups"]

#: (method, handler name, roles beyond the owner): flux-core's groups.c table
_METHODS = (
    ("update", "update", 0),
    ("join", "join", 0),
    ("leave", "leave", 0),
    ("get", "get", FLUX_ROLE_USER),
    ("stats-get", "stats", FLUX_ROLE_USER),
    ("disconnect", "disconnect", FLUX_ROLE_ALL),
)


class Groups:
    """Creates the service on first use (or when the overlay first reports)."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self._service: Optional[GroupsService] = None
        #: (rank, torpid) for each change of broker.torpid
        self.on_torpid: Optional[Callable[[int, bool], None]] = None
        #: a rank left broker.online
        self.on_offline: Optional[Callable[[int], None]] = None
        router.builtin("groups").methods_of(_METHODS, lambda: self.service)

    @property
    def service(self) -> GroupsService:
        if self._service is None:
            from flux.services.groups.service import GroupsService

            svc = GroupsService(0, self.router.respond, self.router.respond_error)
            svc.apply("broker.online", {0}, True)
            svc.on_change = self._changed
            self._service = svc
        return self._service

    def _changed(self, name: str, added: set[int], removed: set[int]) -> None:
        if name == "broker.online" and self.on_offline is not None:
            for rank in sorted(removed):
                self.on_offline(rank)
        if name == "broker.torpid" and self.on_torpid is not None:
            for rank in sorted(added):
                self.on_torpid(rank, True)
            for rank in sorted(removed):
                self.on_torpid(rank, False)

    def lost(self, ranks: set[int]) -> None:
        self.service.lost(ranks)

    def set_torpid(self, rank: int, torpid: bool) -> None:
        """rank 0's overlay found a child torpid (or lively again)."""
        self.service.apply("broker.torpid", {rank}, torpid)

    def close(self) -> None:
        if self._service is not None:
            self._service.close()

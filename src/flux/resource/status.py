"""``resource_status()``: node states for ``flux resource status`` (flux-core's
``flux.resource.status``): the resource service's view combined with the scheduler's
allocated ranks and the job manager's housekeeping ranks."""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

from flux.idset import IDset
from flux.resource.ResourceSet import ResourceSet
from flux.resource.list import resource_list
from flux.rpc import RPC

__all__ = ["DrainInfo", "ResourceStatus", "ResourceStatusRPC", "resource_status"]


class DrainInfo(NamedTuple):
    """Ranks drained together: when and why."""

    ranks: IDset
    timestamp: float
    reason: str


class ResourceStatus:
    """IDsets of ranks per state: ``all``, ``online``, ``offline``, ``exclude``,
    ``torpid``, ``allocated``, ``housekeeping``, ``drained`` (drained, idle),
    ``draining`` (drained, allocated), ``avail``; ``drain_info`` lists DrainInfo."""

    def __init__(self, rstatus: Optional[dict] = None, allocated_ranks: Optional[IDset] = None,
                 housekeeping_ranks: Optional[IDset] = None) -> None:
        if rstatus is None:
            rstatus = {"R": None, "offline": "", "online": "", "exclude": "", "torpid": "",
                       "housekeeping": "", "drain": {}}
        self.rstatus = rstatus
        self.rset = ResourceSet(rstatus["R"])
        self.nodelist = self.rset.nodelist
        self.allocated_ranks = allocated_ranks if allocated_ranks is not None else IDset()
        self.housekeeping_ranks = (housekeeping_ranks if housekeeping_ranks is not None
                                   else IDset())
        self._recalculate()

    def filter(self, include: Any) -> None:
        """Keep only the ranks (idset) or hosts (hostlist) in ``include``."""
        try:
            ranks = IDset(include)
        except ValueError:
            ranks = IDset(self.nodelist.index(include, ignore_nomatch=True))
        self._recalculate(ranks)

    def _recalculate(self, include: Optional[IDset] = None) -> None:
        status = self.rstatus
        self.all = self.rset.ranks
        self.offline = IDset(status["offline"])
        self.online = IDset(status["online"])
        self.exclude = IDset(status["exclude"])
        self.torpid = IDset(status.get("torpid", ""))
        self.allocated = self.allocated_ranks
        self.housekeeping = self.housekeeping_ranks
        if include is not None:
            for name in ("all", "offline", "online", "exclude", "allocated", "torpid"):
                setattr(self, name, getattr(self, name).intersect(include))
        drained = IDset()
        self.drain_info: list[DrainInfo] = []
        self._drain_lookup: dict[int, DrainInfo] = {}
        for ranks_text, entry in status["drain"].items():
            ranks = IDset(ranks_text)
            if include is not None:
                ranks = ranks.intersect(include)
            drained += ranks
            info = DrainInfo(ranks, entry["timestamp"], entry["reason"])
            self.drain_info.append(info)
            for rank in ranks:
                self._drain_lookup[rank] = info
        self.draining = drained & self.allocated
        self.drained = drained - self.draining
        self.avail = self.all - self.get_idset("exclude", "drained", "draining", "torpid")

    def __getitem__(self, state: str) -> Any:
        return getattr(self, state)

    def get_idset(self, *args: str) -> IDset:
        """The union of the named states' ranks."""
        ids = IDset()
        for state in args:
            ids.add(self[state])
        return ids

    def get_drain_info(self, rank: int) -> Optional[DrainInfo]:
        """The DrainInfo covering ``rank`` (None if not drained); ValueError if unknown."""
        if rank not in self.all:
            raise ValueError(f"invalid rank {rank}")
        return self._drain_lookup.get(rank)


class ResourceStatusRPC:
    """The three requests behind a ResourceStatus, sent at once; ``get()`` combines them."""

    def __init__(self, handle: Any) -> None:
        self.rpcs = [
            RPC(handle, "resource.status", nodeid=0, flags=0),
            resource_list(handle),
            RPC(handle, "job-manager.stats-get", nodeid=0, flags=0),
        ]
        self.rlist: Any = None
        self.rstatus: Optional[dict] = None
        self.allocated_ranks: Optional[IDset] = None
        self.housekeeping_ranks: Optional[IDset] = None

    def get_status(self) -> dict:
        if self.rstatus is None:
            self.rstatus = self.rpcs[0].get()
        return self.rstatus

    def get_allocated_ranks(self) -> IDset:
        if self.allocated_ranks is None:
            try:
                self.rlist = self.rpcs[1].get()
                self.allocated_ranks = self.rlist.allocated.ranks
            except OSError:
                self.allocated_ranks = IDset()
        return self.allocated_ranks

    def get_housekeeping_ranks(self) -> IDset:
        if self.housekeeping_ranks is None:
            self.housekeeping_ranks = IDset()
            try:
                stats = self.rpcs[2].get()
                for info in stats["housekeeping"]["running"].values():
                    self.housekeeping_ranks.add(info["allocated"])
            except OSError:
                pass
        return self.housekeeping_ranks

    def get(self) -> ResourceStatus:
        """The ResourceStatus; blocks until every service answered."""
        return ResourceStatus(self.get_status(), self.get_allocated_ranks(),
                              self.get_housekeeping_ranks())


def resource_status(flux_handle: Any) -> ResourceStatusRPC:
    """Start the queries for a ResourceStatus; call ``.get()`` on the result."""
    return ResourceStatusRPC(flux_handle)

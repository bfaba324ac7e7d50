"""``resource_list()``: the scheduler's view of the resources (``flux resource list``),
as flux-core's ``flux.resource.list``: all, down and allocated sets, up and free derived."""

from __future__ import annotations

import errno
import json
import os
from typing import Any

from flux.future import FutureExt
from flux.idset import IDset
from flux.resource.ResourceSet import ResourceSet

__all__ = ["SchedResourceList", "ResourceListRPC", "resource_list"]

_STATES = ("all", "down", "allocated")


class SchedResourceList:
    """The answer of ``resource.sched-status``: ResourceSets ``all``, ``down`` and
    ``allocated``; ``up`` (all - down) and ``free`` (up - allocated) on first use."""

    def __init__(self, resp: Any) -> None:
        for state in _STATES:
            rset = resp.get(state)
            if not isinstance(rset, ResourceSet):
                rset = ResourceSet(rset)
            rset.state = state
            setattr(self, f"_{state}", rset)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        if attr == "up":
            value = self.all - self.down
        elif attr == "free":
            value = self.up - self.allocated
        else:
            return getattr(self, f"_{attr}")
        value.state = attr
        setattr(self, attr, value)  # computed once, as flux-core's memoized property
        return value

    def __getitem__(self, item: str) -> Any:
        return getattr(self, item)

    def filter(self, include: Any) -> None:
        """Keep only the ranks (idset) or hosts (hostlist) in ``include``."""
        try:
            ranks = IDset(include)
        except ValueError:
            ranks = IDset(self["all"].host_ranks(include, ignore_nomatch=True))
        for state in _STATES:
            setattr(self, state, self[state].copy_ranks(ranks))

    def copy_constraint(self, constraint: Any) -> SchedResourceList:
        return SchedResourceList({s: self[s].copy_constraint(constraint) for s in _STATES})


class ResourceListRPC(FutureExt):
    """``resource.sched-status``, falling back to ``sched.resource-status`` (ENOSYS)."""

    def __init__(self, flux_handle: Any, topic: str, nodeid: int = 0) -> None:
        self.topic = topic
        super().__init__(self._init_cb, flux_handle=flux_handle)

    def _init_cb(self, future: Any) -> None:
        future.get_flux().rpc(self.topic, nodeid=0).then(self._list_cb)

    def _list_cb(self, future: Any) -> None:
        try:
            self.fulfill(future.get())
        except OSError as exc:
            if exc.errno == errno.ENOSYS:
                future.get_flux().rpc("sched.resource-status", nodeid=0).then(
                    self._fallback_cb)
            else:
                self.fulfill_error(exc.errno or errno.EPROTO, exc.strerror)

    def _fallback_cb(self, future: Any) -> None:
        try:
            self.fulfill(json.loads(future.get_str()))
        except OSError as exc:
            self.fulfill_error(exc.errno or errno.EPROTO, exc.strerror)

    def get(self) -> SchedResourceList:
        """The SchedResourceList; blocks until the scheduler answers."""
        return SchedResourceList(super().get())


def resource_list(flux_handle: Any) -> ResourceListRPC:
    """A future for the scheduler's resource sets (topic overridable with
    ``FLUX_RESOURCE_LIST_RPC``)."""
    topic = os.getenv("FLUX_RESOURCE_LIST_RPC") or "resource.sched-status"
    return ResourceListRPC(flux_handle, topic, nodeid=0)

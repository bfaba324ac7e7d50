"""The resources of every rank gathered on rank 0 (flux-core 0.88's
``resource.topo-reduce``): each rank > 0 reports, once joined, ``{"count": n,
"resource": R}`` with R in RFC 20 form listing the ranks it speaks for (pureflux's ranks
report only themselves: no module on the ranks between aggregates); when every rank of the
instance is known, R of the whole instance is ready.

A rank lost before it reported is given rank 0's cores (flux-core's R would wait for it)
and is marked offline by the caller, so that start-up does not hang on a dead broker.
"""

from __future__ import annotations

import errno

from .rv1 import R_ranks, build_R

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable

__all__ = ["TopoReduce", "topo_report"]


def topo_report(rank: int, cores: set[int], hostname: str) -> dict:
    """The ``resource.topo-reduce`` payload of one rank."""
    return {"count": 1, "resource": build_R({rank: cores}, {rank: hostname})}


class TopoReduce:
    """Reports by rank until all ``size`` ranks are in, then ``done(ranks, hosts)``."""

    def __init__(self, size: int, cores: set[int], hostname: str,
                 done: Callable[[dict[int, set[int]], dict[int, str]], None]) -> None:
        self.size = size
        self.cores = {0: set(cores)}
        self.hosts = {0: hostname}
        self.missing: set[int] = set()
        self.done_cb = done
        self.finished = False

    def report(self, payload: Any) -> None:
        """One ``resource.topo-reduce`` request; EPROTO if it is not one."""
        if not isinstance(payload, dict) or not isinstance(payload.get("resource"), dict):
            raise OSError(errno.EPROTO, "error decoding topo-reduce request")
        ranks, hosts = R_ranks(payload["resource"])
        for rank, cores in ranks.items():
            if 0 <= rank < self.size:
                self.cores[rank] = cores
                self.hosts[rank] = hosts.get(rank) or str(rank)
        self._check()

    def lost(self, rank: int, hostname: str) -> None:
        """A rank that went away: if it never reported, it counts as reported."""
        if rank not in self.cores and 0 <= rank < self.size:
            self.cores[rank] = set(self.cores[0])
            self.hosts[rank] = hostname
            self.missing.add(rank)
            self._check()

    def _check(self) -> None:
        if not self.finished and len(self.cores) >= self.size:
            self.finished = True
            self.done_cb(self.cores, self.hosts)

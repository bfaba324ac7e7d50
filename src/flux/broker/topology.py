"""Where this broker sits in its instance: rank, size, and where a nodeid leads.

Every decision that depends on the instance having one broker or many reads
this object: the ``rank``/``size`` attributes, the rank in log records and
ping replies, and the router's question "is this request for me?".  Today an
instance has one broker (rank 0, size 1); the tree overlay (TBON) will give
ranks above 0 a parent and make REMOTE ranks reachable through it.
"""

from __future__ import annotations

from flux.constants import FLUX_NODEID_ANY

__all__ = ["Topology", "LOCAL", "PARENT", "REMOTE", "UNREACHABLE"]

#: Where a request addressed to a nodeid goes (see :meth:`Topology.route`).
LOCAL = 0  # a service of this broker
PARENT = 1  # this broker's parent (an UPSTREAM request from its own rank)
REMOTE = 2  # another broker of the instance, through the overlay
UNREACHABLE = 3  # nowhere: EHOSTUNREACH


class Topology:
    """Rank and size of this broker, and the routing decisions that follow from them."""

    __slots__ = ("rank", "size")

    def __init__(self, rank: int = 0, size: int = 1) -> None:
        if size < 1 or not 0 <= rank < size:
            raise ValueError(f"rank {rank} is not in an instance of size {size}")
        self.rank = rank
        self.size = size

    @property
    def has_parent(self) -> bool:
        """Rank 0 is the root of the tree; every other rank has a parent."""
        return self.rank > 0

    def route(self, nodeid: int, upstream: bool) -> int:
        """LOCAL, PARENT, REMOTE or UNREACHABLE for a request to ``nodeid``.

        An UPSTREAM request names its sender's rank and wants the service
        *above* it: the parent when that rank is ours (none at rank 0).
        Otherwise ``nodeid`` is the rank that must handle it (ANY: here).
        """
        if nodeid == FLUX_NODEID_ANY:
            return LOCAL
        if upstream:
            if nodeid == self.rank:
                return PARENT if self.has_parent else UNREACHABLE
            return LOCAL
        if nodeid == self.rank:
            return LOCAL
        return REMOTE if 0 <= nodeid < self.size else UNREACHABLE

"""Where this broker sits in its instance: rank, size, the tree, and where a
nodeid leads.

Every decision that depends on the instance having one broker or many reads
this object: the ``rank``/``size`` attributes, the ``tbon.*`` attributes, the
rank in log records and ping replies, and the router's question "is this
request for me, for a child's subtree, or for my parent?".

The tree is flux-core's ``kary:K`` (``tbon.topo``, default ``kary:32``):
rank r's parent is (r-1)//K and its children K*r+1 ... K*r+K; ``kary:0``
is the flat tree (every rank a child of rank 0).  ``tbon.fanout=K`` is an
alias of ``kary:K``.
"""

from __future__ import annotations

from typing import Optional

from flux.constants import FLUX_NODEID_ANY

__all__ = ["Topology", "LOCAL", "PARENT", "REMOTE", "UNREACHABLE", "DEFAULT_FANOUT",
           "parse_topo"]

#: Where a request addressed to a nodeid goes (see :meth:`Topology.route`).
LOCAL = 0  # a service of this broker
PARENT = 1  # this broker's parent
REMOTE = 2  # a child's subtree (:meth:`Topology.child_toward` names the child)
UNREACHABLE = 3  # nowhere: EHOSTUNREACH

DEFAULT_FANOUT = 32  # flux-core's default tbon.topo is kary:32


def parse_topo(text: str) -> int:
    """``"kary:K"`` -> K (0: flat); ValueError for anything else."""
    kind, sep, k = text.partition(":")
    if kind != "kary" or not sep:
        raise ValueError(f"unknown topology scheme {text!r}")
    fanout = int(k)
    if fanout < 0:
        raise ValueError("kary k value must be an integer >= 0")
    return fanout


class Topology:
    """Rank and size of this broker in a k-ary tree, and routing decisions."""

    __slots__ = ("rank", "size", "fanout", "parents", "_children")

    def __init__(self, rank: int = 0, size: int = 1, fanout: int = DEFAULT_FANOUT,
                 parents: Optional[list[int]] = None) -> None:
        """``parents`` (rank -> parent rank, -1 for rank 0) replaces the k-ary
        rule: the config bootstrap's ``custom`` topology."""
        if size < 1 or not 0 <= rank < size:
            raise ValueError(f"rank {rank} is not in an instance of size {size}")
        self.rank = rank
        self.size = size
        self.fanout = fanout if fanout > 0 else max(1, size - 1)
        self.parents = parents
        self._children: Optional[list[int]] = None

    # -- the tree --------------------------------------------------------------------

    def parent_of(self, rank: int) -> int:
        """The parent of ``rank`` (-1 for rank 0)."""
        if rank <= 0:
            return -1
        if self.parents is not None:
            return self.parents[rank]
        return (rank - 1) // self.fanout

    def children_of(self, rank: int) -> list[int]:
        if self.parents is not None:
            return [r for r in range(1, self.size) if self.parents[r] == rank]
        first = self.fanout * rank + 1
        return list(range(first, min(first + self.fanout, self.size)))

    @property
    def has_parent(self) -> bool:
        """Rank 0 is the root of the tree; every other rank has a parent."""
        return self.rank > 0

    @property
    def parent(self) -> int:
        return self.parent_of(self.rank)

    @property
    def children(self) -> list[int]:
        if self._children is None:
            self._children = self.children_of(self.rank)
        return self._children

    def level_of(self, rank: int) -> int:
        level = 0
        while rank > 0:
            rank = self.parent_of(rank)
            level += 1
        return level

    @property
    def level(self) -> int:
        return self.level_of(self.rank)

    @property
    def maxlevel(self) -> int:
        if self.parents is not None:
            return max(self.level_of(r) for r in range(self.size))
        return self.level_of(self.size - 1)

    def subtree(self, rank: int) -> list[int]:
        """``rank`` and every rank below it, in rank order."""
        out = []
        todo = [rank]
        while todo:
            r = todo.pop()
            out.append(r)
            todo.extend(self.children_of(r))
        return sorted(out)

    def descendants(self, rank: Optional[int] = None) -> int:
        return len(self.subtree(self.rank if rank is None else rank)) - 1

    def child_toward(self, target: int) -> int:
        """The child of this broker whose subtree holds ``target``, -1 if none."""
        r = target
        while r > self.rank:
            p = self.parent_of(r)
            if p == self.rank:
                return r
            r = p
        return -1

    # -- routing ----------------------------------------------------------------------

    def route(self, nodeid: int, upstream: bool) -> int:
        """LOCAL, PARENT, REMOTE or UNREACHABLE for a request to ``nodeid``.

        An UPSTREAM request names its sender's rank and wants the service
        *above* it: the parent when that rank is ours (none at rank 0).
        Otherwise ``nodeid`` is the rank that must handle it (ANY: here).
        REMOTE means below us (see :meth:`child_toward`); a rank elsewhere in
        the tree is reached through the parent.
        """
        if nodeid == FLUX_NODEID_ANY:
            return LOCAL
        if upstream:
            if nodeid == self.rank:
                return PARENT if self.has_parent else UNREACHABLE
            return LOCAL
        if nodeid == self.rank:
            return LOCAL
        if not 0 <= nodeid < self.size:
            return UNREACHABLE
        if self.child_toward(nodeid) >= 0:
            return REMOTE
        return PARENT if self.has_parent else UNREACHABLE

    def attributes(self, topo: str) -> dict[str, str]:
        """The ``tbon.*`` attributes of this broker."""
        return {
            "tbon.topo": topo,
            "tbon.fanout": str(self.fanout),
            "tbon.level": str(self.level),
            "tbon.maxlevel": str(self.maxlevel),
            "tbon.descendants": str(self.descendants()),
        }

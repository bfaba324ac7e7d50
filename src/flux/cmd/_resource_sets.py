"""Rank-level resource sets for ``flux resource``: R v1 in, counts and names out.

flux-core's command works on its Rlist/ResourceSet classes; pureflux only needs
what ``list``, ``info`` and ``status`` print: per rank its host and core/gpu ids,
set differences at core level, a compressed hostlist and an Rlist-style dump
(``rank[0-1]/core[0-3]``).  Texts come from flux.idset and flux.hostlist, so they
are libidset's and libhostlist's.
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterable


def idset_encode(ids: Iterable[int]) -> str:
    """``{0,1,2,5}`` -> ``0-2,5`` (flux.idset's text)."""
    from flux.idset import IDset

    return str(IDset(sorted(set(ids))))


def idset_decode(text: str) -> set[int]:
    """An RFC 22 idset; ValueError if ``text`` is not one (as flux.idset.IDset)."""
    from flux.idset import IDset

    return set(IDset(text))


def bracketed(name: str, ids: Iterable[int]) -> str:
    """``core`` + {0,1} -> ``core[0-1]``, {0} -> ``core0`` (as flux-core's dumps)."""
    from flux.idset import IDSET_FLAG_BRACKETS, IDSET_FLAG_RANGE, IDset

    return name + IDset(sorted(set(ids))).encode(IDSET_FLAG_BRACKETS | IDSET_FLAG_RANGE)


def hostlist_encode(hosts: list[str]) -> str:
    """Hostnames, in order, as an RFC 29 hostlist (``n[1-3,5],x``, flux.hostlist's text)."""
    from flux.hostlist import Hostlist

    return str(Hostlist(hosts))


def hostlist_decode(text: str) -> list[str]:
    """A hostlist's names (``a,n[1-3,5]``); ValueError if malformed."""
    from flux.hostlist import Hostlist

    return Hostlist(text).expand()


class RankSet:
    """Resources per rank: ``{rank: {"core": ids, "gpu": ids}}`` plus each rank's host."""

    def __init__(self, R: dict | None = None, hosts: dict[int, str] | None = None) -> None:
        self.ranks: dict[int, dict[str, set[int]]] = {}
        self.hosts: dict[int, str] = dict(hosts or {})
        if not R:
            return
        execution = R.get("execution", {})
        for entry in execution.get("R_lite", []):
            children = entry.get("children", {})
            for rank in idset_decode(entry.get("rank", "")):
                self.ranks[rank] = {kind: idset_decode(children.get(kind, ""))
                                    for kind in ("core", "gpu")}
        names = execution.get("nodelist") or []
        if names:
            flat = [n for text in names for n in hostlist_decode(text)]
            for rank, name in zip(sorted(self.ranks), flat):
                self.hosts[rank] = name

    def copy_with(self, ranks: dict[int, dict[str, set[int]]]) -> RankSet:
        new = RankSet(hosts=self.hosts)
        new.ranks = {r: v for r, v in ranks.items() if v["core"] or v["gpu"]}
        return new

    def minus(self, other: RankSet) -> RankSet:
        """Core/gpu-level difference."""
        out = {}
        for rank, kinds in self.ranks.items():
            theirs = other.ranks.get(rank, {})
            out[rank] = {k: ids - theirs.get(k, set()) for k, ids in kinds.items()}
        return self.copy_with(out)

    def plus(self, other: RankSet) -> RankSet:
        """Core/gpu-level union."""
        out = {r: {k: set(ids) for k, ids in v.items()} for r, v in self.ranks.items()}
        for rank, kinds in other.ranks.items():
            mine = out.setdefault(rank, {"core": set(), "gpu": set()})
            for kind, ids in kinds.items():
                mine[kind] |= ids
        return self.copy_with(out)

    def only(self, ranks: set[int]) -> RankSet:
        return self.copy_with({r: v for r, v in self.ranks.items() if r in ranks})

    def rank_ids(self) -> set[int]:
        return set(self.ranks)

    def nodelist(self, ranks: Iterable[int] | None = None) -> str:
        chosen = sorted(self.ranks if ranks is None else ranks)
        # a rank R names no host for is ``rank<N>``, as flux.resource.Rv1Set (flux-core's)
        return hostlist_encode([self.hosts.get(r, f"rank{r}") for r in chosen])

    def count(self, kind: str) -> int:
        return sum(len(v[kind]) for v in self.ranks.values())

    def dump(self) -> str:
        """``rank0/core[0-1]``; ranks with the same children share one entry."""
        by_children: dict[tuple[str, str], list[int]] = {}
        for rank in sorted(self.ranks):
            kinds = self.ranks[rank]
            key = (idset_encode(kinds["core"]), idset_encode(kinds["gpu"]))
            by_children.setdefault(key, []).append(rank)
        parts = []
        for rank_list in by_children.values():
            kinds = self.ranks[rank_list[0]]
            children = [bracketed(k, kinds[k]) for k in ("core", "gpu") if kinds[k]]
            parts.append(f"{bracketed('rank', rank_list)}/{','.join(children)}")
        return " ".join(parts)


def include_ranks(text: str, hosts: dict[int, str]) -> set[int]:
    """``-i TARGETS``: an idset, else a hostlist whose unknown names are ignored."""
    try:
        return idset_decode(text)
    except ValueError:
        pass
    try:
        names = set(hostlist_decode(text))
    except ValueError:
        return set()
    return {rank for rank, host in hosts.items() if host in names}

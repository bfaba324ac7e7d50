"""Rank-level resource sets for ``flux resource``: R v1 in, counts and names out.

flux-core's command works on its Rlist/ResourceSet classes; pureflux only needs
what ``list``, ``info`` and ``status`` print: per rank its host and core/gpu ids,
set differences at core level, a compressed hostlist and an Rlist-style dump
(``rank[0-1]/core[0-3]``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterable


def idset_encode(ids: Iterable[int]) -> str:
    """``{0,1,2,5}`` -> ``0-2,5``."""
    out: list[str] = []
    run: list[int] = []
    for i in sorted(set(ids)):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            out.append(_run_text(run))
        run = [i]
    if run:
        out.append(_run_text(run))
    return ",".join(out)


def _run_text(run: list[int]) -> str:
    return str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}"


def idset_decode(text: str) -> set[int]:
    """An RFC 22 idset; ValueError if ``text`` is not one."""
    from ._job_cli import idset_decode as decode

    return set(decode(text)) if text.strip() not in ("", "[]") else set()


def bracketed(name: str, ids: Iterable[int]) -> str:
    """``core`` + {0,1} -> ``core[0-1]``, {0} -> ``core0`` (as flux-core's dumps)."""
    text = idset_encode(ids)
    return f"{name}{text}" if text.isdigit() else f"{name}[{text}]"


def hostlist_encode(hosts: list[str]) -> str:
    """Hostnames, in order, compressed where consecutive names share a prefix: ``n[1-3],x``."""
    import re

    groups: list[tuple[str, int, list[int]]] = []
    for host in hosts:
        match = re.fullmatch(r"(.*?)(\d+)", host)
        if not match:
            groups.append((host, -1, []))
            continue
        prefix, digits = match.group(1), match.group(2)
        width = len(digits) if digits.startswith("0") else 0
        last = groups[-1] if groups else None
        if last and last[0] == prefix and last[1] == width and last[2] \
                and int(digits) == last[2][-1] + 1:
            last[2].append(int(digits))
        else:
            groups.append((prefix, width, [int(digits)]))
    parts = []
    for prefix, width, nums in groups:
        if width < 0:
            parts.append(prefix)
        elif len(nums) == 1:
            parts.append(f"{prefix}{nums[0]:0{width}d}")
        else:
            parts.append(f"{prefix}[{nums[0]:0{width}d}-{nums[-1]:0{width}d}]")
    return ",".join(parts)


def hostlist_decode(text: str) -> list[str]:
    """A hostlist's names (``a,n[1-3,5]``); ValueError if malformed."""
    names: list[str] = []
    depth, start, parts = 0, 0, []
    for i, c in enumerate(text):
        depth += (c == "[") - (c == "]")
        if c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    for part in parts:
        if "[" in part:
            if not part.endswith("]"):
                raise ValueError(f"invalid hostlist {text}")
            prefix, _, body = part[:-1].partition("[")
            first = body.split(",")[0].split("-")[0]
            width = len(first) if first.startswith("0") else 0
            names.extend(f"{prefix}{i:0{width}d}" for i in sorted(idset_decode(body)))
        elif part:
            names.append(part)
    return names


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
        return hostlist_encode([self.hosts.get(r, str(r)) for r in chosen])

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

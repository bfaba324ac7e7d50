"""R version 1 (RFC 20) as flux-core writes it, and the idsets (RFC 22) it is made of.

Key order and number formats follow flux-core's librlist, so ``flux kvs get resource.R``
prints the same text on both.
"""

from __future__ import annotations

import errno

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Iterable

__all__ = ["idset_encode", "idset_decode", "build_R", "R_ranks", "discover_cores"]


def idset_encode(ids: Iterable[int]) -> str:
    """``{0,1,2,5}`` -> ``"0-2,5"`` (flux.idset's text, libidset's)."""
    from flux.idset import IDset

    return str(IDset(sorted(set(ids))))


def idset_decode(text: str) -> set[int]:
    """``"0-2,5"`` (optionally in brackets) -> ``{0,1,2,5}``; EINVAL where libidset
    refuses the text (flux.idset decodes it)."""
    from flux.idset import IDset

    try:
        return set(IDset(text))
    except (ValueError, TypeError):
        raise OSError(errno.EINVAL, "Invalid argument") from None


def build_R(ranks: dict[int, set[int]], hosts: dict[int, str], starttime: float = 0.0,
            expiration: float = 0.0, nslots: int | None = None) -> dict:
    """R for ``ranks`` (rank -> core ids) on ``hosts`` (rank -> hostname): ranks with the
    same cores share one R_lite entry, as librlist compresses them."""
    by_cores: dict[str, list[int]] = {}
    for rank in sorted(ranks):
        by_cores.setdefault(idset_encode(ranks[rank]), []).append(rank)
    entries = sorted(by_cores.items(), key=lambda item: item[1][0])
    execution: dict = {
        "R_lite": [{"rank": idset_encode(rs), "children": {"core": cores}}
                   for cores, rs in entries],
        "starttime": float(starttime),
        "expiration": float(expiration),
    }
    if nslots is not None:
        execution["nslots"] = nslots
    if ranks:  # one compressed hostlist, as librlist writes it (``["vm,vm"]``)
        names = [hosts[r] for r in sorted(ranks)]
        if len(names) == 1:
            execution["nodelist"] = names
        else:
            from flux.hostlist import Hostlist

            execution["nodelist"] = [str(Hostlist(names))]
    return {"version": 1, "execution": execution}


def R_ranks(R: dict) -> tuple[dict[int, set[int]], dict[int, str]]:
    """The inverse of build_R: (rank -> cores, rank -> hostname); EINVAL if not R v1."""
    try:
        if R.get("version") != 1:
            raise ValueError
        execution = R["execution"]
        ranks: dict[int, set[int]] = {}
        for entry in execution["R_lite"]:
            cores = idset_decode(entry["children"].get("core", ""))
            for rank in idset_decode(entry["rank"]):
                ranks[rank] = set(cores)
        names = _hostnames(execution.get("nodelist") or [])
        order = sorted(ranks)
        hosts = {rank: names[i] if i < len(names) else "" for i, rank in enumerate(order)}
    except (ValueError, KeyError, TypeError, AttributeError, OSError):
        raise OSError(errno.EINVAL, "invalid R object") from None
    return ranks, hosts


def _hostnames(nodelist: list[str]) -> list[str]:
    """The names of R's ``nodelist`` entries, each an RFC 29 hostlist (``n[0-3]``)."""
    if not any("[" in entry or "," in entry for entry in nodelist):
        return nodelist  # plain names: nothing to expand (the usual case here)
    from flux.hostlist import Hostlist

    return Hostlist(nodelist).expand()


def discover_cores() -> set[int]:
    """The cores this broker may use, numbered from 0 as hwloc's logical indices are
    (the process's CPU affinity; all CPUs where affinity is unknown)."""
    import os

    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    return set(range(count))

"""``flux resource R`` (R of the resources in some states) and ``flux resource reload``
(``resource.reload``), as flux-core 0.88's."""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    import argparse

    from ._resource_sets import RankSet

__all__ = ["R_main", "reload_main", "encode_R"]

VALID_STATES = ("up", "down", "allocated", "free", "all")


def encode_R(rset: RankSet, starttime: float, expiration: float) -> str:
    """An Rv1 object for ``rset``, written as flux-core's ResourceSet.encode()."""
    import json

    from ._resource_sets import idset_encode

    groups: dict[tuple[str, str], list[int]] = {}
    for rank in sorted(rset.ranks):
        kinds = rset.ranks[rank]
        groups.setdefault((idset_encode(kinds["core"]), idset_encode(kinds["gpu"])),
                          []).append(rank)
    lite = []
    for (cores, gpus), ranks in groups.items():
        children = {"core": cores}
        if gpus:
            children["gpu"] = gpus
        lite.append({"rank": idset_encode(ranks), "children": children})
    R = {"version": 1, "execution": {"R_lite": lite, "starttime": starttime,
                                     "expiration": expiration,
                                     "nodelist": [rset.nodelist()]}}
    return json.dumps(R)


def R_main(args: argparse.Namespace) -> int:
    import flux

    from ._resource_list import sched_sets
    from ._resource_log import error
    from ._resource_queue import queue_names, queue_ranks
    from ._resource_sets import RankSet, include_ranks

    states = args.states.split(",")
    for state in states:
        if state not in VALID_STATES:
            error(f"Invalid resource state {state} specified")
            return 1
    h = flux.Flux()
    sets = sched_sets(h)
    everything = sets["all"]
    if args.queue:
        ranks = queue_ranks(h.rpc("config.get").get(), queue_names(args.queue),
                            everything.rank_ids())
        sets = {name: rset.only(ranks) for name, rset in sets.items()}
    if args.include:
        ranks = include_ranks(args.include, everything.hosts)
        sets = {name: rset.only(ranks) for name, rset in sets.items()}
    out = RankSet(hosts=everything.hosts)
    for state in states:
        out = out.plus(sets[state])
    status = h.rpc("resource.status", nodeid=0).get()
    execution = (status.get("R") or {}).get("execution") or {}
    print(encode_R(out, execution.get("starttime", 0.0), execution.get("expiration", 0.0)))
    return 0


def reload_main(args: argparse.Namespace) -> int:
    import os

    import flux

    flux.Flux().rpc("resource.reload", {"path": os.path.realpath(args.path),
                                        "xml": args.xml, "force": args.force},
                    nodeid=0).get()
    return 0

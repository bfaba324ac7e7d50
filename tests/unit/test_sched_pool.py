"""The scheduler's sans-I/O parts: jobspec requests, allocation, R and its summary."""

from __future__ import annotations

import pytest

from flux.services.resource.rv1 import R_ranks, build_R, idset_decode, idset_encode
from flux.services.sched.pool import Infeasible, Insufficient, Pool, summary
from flux.services.sched.request import ResourceRequest


def spec(slots: object = 1, cores: int = 1, nodes: object = None, exclusive: bool = False,
         duration: float = 0.0) -> dict:
    slot: dict = {"type": "slot", "count": slots, "label": "task",
                  "with": [{"type": "core", "count": cores}]}
    if exclusive:
        slot["exclusive"] = True
    res = [{"type": "node", "count": nodes, "with": [slot]}] if nodes is not None else [slot]
    return {"version": 1, "resources": res, "tasks": [],
            "attributes": {"system": {"duration": duration}}}


def pool(nranks: int = 2, ncores: int = 4) -> Pool:
    p = Pool(build_R({r: set(range(ncores)) for r in range(nranks)},
                     {r: f"n{r}" for r in range(nranks)}))
    p.mark(set(range(nranks)), True)
    return p


def test_idsets_and_R_round_trip() -> None:
    assert idset_encode([5, 0, 1, 2]) == "0-2,5"
    assert idset_decode("[0-2,5]") == {0, 1, 2, 5}
    with pytest.raises(OSError):
        idset_decode("3-1")
    R = build_R({0: {0, 1}, 1: {0, 1}, 2: {0}}, {0: "a", 1: "b", 2: "c"}, 1.5, 0.0, 3)
    assert R == {"version": 1, "execution": {
        "R_lite": [{"rank": "0-1", "children": {"core": "0-1"}},
                   {"rank": "2", "children": {"core": "0"}}],
        "starttime": 1.5, "expiration": 0.0, "nslots": 3, "nodelist": ["a,b,c"]}}  # librlist
    assert R_ranks(R) == ({0: {0, 1}, 1: {0, 1}, 2: {0}}, {0: "a", 1: "b", 2: "c"})


def test_request_errors_as_flux_core() -> None:
    with pytest.raises(ValueError, match="jobspec has no resources"):
        ResourceRequest.from_jobspec({"version": 1, "resources": []})
    js = spec()
    del js["attributes"]["system"]["duration"]
    with pytest.raises(ValueError, match="Object item not found: duration"):
        ResourceRequest.from_jobspec(js)
    js = spec()
    js["resources"][0]["with"] = []
    with pytest.raises(ValueError, match="Unable to determine slot size"):
        ResourceRequest.from_jobspec(js)


def test_slots_spread_worst_fit_and_summary() -> None:
    p = pool()
    ranks, nslots = p.alloc(1, ResourceRequest.from_jobspec(spec(slots=2, cores=1)))
    assert (ranks, nslots) == ({0: {0, 1}}, 2)
    assert summary(ranks) == "rank0/core[0-1]"
    # rank 1 has more free cores now: it is chosen first
    ranks, _ = p.alloc(2, ResourceRequest.from_jobspec(spec(slots=1, cores=3)))
    assert ranks == {1: {0, 1, 2}}
    assert summary({0: {3}, 1: {3}}) == "rank[0-1]/core3"


def test_nodes_exclusive_insufficient_infeasible_free() -> None:
    p = pool()
    ranks, nslots = p.alloc(1, ResourceRequest.from_jobspec(spec(slots=1, cores=2, nodes=2)))
    assert ranks == {0: {0, 1}, 1: {0, 1}} and nslots == 2
    with pytest.raises(Insufficient):
        p.alloc(2, ResourceRequest.from_jobspec(spec(slots=1, exclusive=True)))
    with pytest.raises(Infeasible, match="need 3 node"):
        p.alloc(3, ResourceRequest.from_jobspec(spec(nodes=3)))
    with pytest.raises(Infeasible, match="only 8 such slot"):
        p.alloc(4, ResourceRequest.from_jobspec(spec(slots=9)))
    p.free(1, None, True)
    ranks, _ = p.alloc(2, ResourceRequest.from_jobspec(spec(slots=1, exclusive=True)))
    assert ranks == {0: {0, 1, 2, 3}}
    assert p.status()["allocated"]["execution"]["R_lite"] == [
        {"rank": "0", "children": {"core": "0-3"}}]


def test_down_ranks_are_not_used() -> None:
    p = pool()
    p.mark({0}, False)
    ranks, _ = p.alloc(1, ResourceRequest.from_jobspec(spec(slots=1)))
    assert list(ranks) == [1]
    assert p.status()["down"]["execution"]["nodelist"] == ["n0"]

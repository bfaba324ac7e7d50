"""The rank-level sets behind ``flux resource``: hostlists, idsets, Rlist-style dumps."""

from __future__ import annotations

import pytest

from flux.cmd._resource_sets import (
    RankSet,
    hostlist_decode,
    hostlist_encode,
    idset_encode,
    include_ranks,
)


def test_hostlist_round_trip():
    assert hostlist_encode(["vm"]) == "vm"
    assert hostlist_encode(["n1", "n2", "n3", "n5", "x"]) == "n[1-3,5],x"  # libhostlist
    assert hostlist_encode(["n01", "n02"]) == "n[01-02]"
    assert hostlist_decode("n[1-3,5],x") == ["n1", "n2", "n3", "n5", "x"]
    assert hostlist_decode("n[01-02]") == ["n01", "n02"]
    with pytest.raises(ValueError):
        hostlist_decode("n[1-")


def _R(entries, nodelist):
    return {"version": 1, "execution": {"R_lite": entries, "nodelist": nodelist}}


def test_rankset_counts_difference_and_dump():
    all_ = RankSet(_R([{"rank": "0-3", "children": {"core": "0-3"}}], ["n[0-3]"]))
    alloc = RankSet(_R([{"rank": "1", "children": {"core": "0-3"}},
                        {"rank": "2", "children": {"core": "0"}}], ["n[1-2]"]), all_.hosts)
    free = all_.minus(alloc)
    assert free.count("core") == 11 and len(free.ranks) == 3
    assert free.nodelist() == "n[0,2-3]"  # libhostlist
    assert free.dump() == "rank[0,3]/core[0-3] rank2/core[1-3]"
    assert idset_encode(free.ranks) == "0,2-3"
    assert all_.only({3}).nodelist() == "n3"
    assert include_ranks("n[1-2]", all_.hosts) == {1, 2}
    assert include_ranks("1,3", all_.hosts) == {1, 3}
    assert include_ranks("zz", all_.hosts) == set()


def test_nodelist_names_a_rank_without_host_as_rv1set():
    """R without ``nodelist``: ranks are ``rank<N>`` in flux resource's texts, as
    flux.resource.Rv1Set (and flux-core's) name them."""
    from flux.cmd._resource_sets import RankSet
    from flux.resource import ResourceSet

    R = {"version": 1, "execution": {"R_lite": [{"rank": "0-2", "children": {"core": "0"}}],
                                     "starttime": 0.0, "expiration": 0.0}}
    assert RankSet(R).nodelist() == str(ResourceSet(R).nodelist) == "rank[0-2]"

"""Topology: where a request for a nodeid goes, for one broker and for many."""

from __future__ import annotations

import pytest

from flux.broker.topology import LOCAL, PARENT, REMOTE, UNREACHABLE, Topology
from flux.constants import FLUX_NODEID_ANY


def test_single_broker():
    t = Topology()
    assert (t.rank, t.size, t.has_parent) == (0, 1, False)
    assert t.route(FLUX_NODEID_ANY, False) == LOCAL
    assert t.route(FLUX_NODEID_ANY, True) == LOCAL
    assert t.route(0, False) == LOCAL
    assert t.route(1, False) == UNREACHABLE
    assert t.route(0, True) == UNREACHABLE  # rank 0 has no parent
    assert t.route(3, True) == LOCAL  # upstream of another rank: handled here


def test_rank_in_a_larger_instance():
    t = Topology(rank=2, size=4)  # kary:32: every rank is a child of rank 0
    assert t.has_parent
    assert t.route(2, False) == LOCAL
    # rank 0 and a sibling are reached through the parent
    assert t.route(0, False) == PARENT and t.route(3, False) == PARENT
    assert t.route(4, False) == UNREACHABLE
    assert t.route(2, True) == PARENT
    root = Topology(rank=0, size=4)
    assert root.route(3, False) == REMOTE and root.child_toward(3) == 3


@pytest.mark.parametrize("rank,size", [(1, 1), (-1, 2), (0, 0)])
def test_invalid(rank, size):
    with pytest.raises(ValueError):
        Topology(rank, size)

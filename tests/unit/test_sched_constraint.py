"""RFC 31 constraints over ranks, as the scheduler applies them."""

from __future__ import annotations

import pytest

from flux.services.sched.constraint import eligible_ranks, rank_properties

R = {"version": 1, "execution": {"R_lite": [], "properties": {"debug": "0-1", "gpu": "1,3"}}}
HOSTS = {0: "n0", 1: "n1", 2: "n2", 3: "n3"}
ALL = {0, 1, 2, 3}


def match(constraint):
    return eligible_ranks(constraint, ALL, HOSTS, rank_properties(R))


def test_operators():
    assert match(None) == ALL and match({}) == ALL
    assert match({"properties": ["debug"]}) == {0, 1}
    assert match({"properties": ["debug", "gpu"]}) == {1}
    assert match({"properties": ["^debug"]}) == {2, 3}
    assert match({"properties": ["nope"]}) == set()
    assert match({"hostlist": ["n[2-3]"]}) == {2, 3}
    assert match({"ranks": ["0,3"]}) == {0, 3}
    assert match({"or": [{"ranks": ["0"]}, {"properties": ["gpu"]}]}) == {0, 1, 3}
    assert match({"and": [{"properties": ["debug"]}, {"not": [{"ranks": ["0"]}]}]}) == {1}
    with pytest.raises(ValueError, match="unknown constraint operator: bogus"):
        match({"bogus": []})

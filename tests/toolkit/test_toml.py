"""flux.testing.toml.dumps: what it writes reads back as the same table."""

from __future__ import annotations

import sys

import pytest

from flux.testing.toml import dumps

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@pytest.mark.parametrize("table", [
    {},
    {"access": {"allow-guest-user": True}},
    {"a": 1, "b": -2.5, "c": "quote \" and \\ and \n and é", "d": [1, 2, 3], "e": []},
    {"bootstrap": {"curve_cert": "/c", "hosts": [{"host": "n0"}, {"host": "n[1-3]",
                                                                   "parent": "n0"}]}},
    {"queues": {"debug": {}, "batch": {"requires": ["batch"], "policy": {"limits": {
        "duration": "1h"}}}}},
    {"odd key": {"x.y": 1}, "inline": [{"a": 1}, 2]},
])
def test_round_trip(table: dict) -> None:
    assert tomllib.loads(dumps(table)) == table


def test_refuses_what_toml_cannot_say() -> None:
    with pytest.raises(TypeError):
        dumps({"x": None})
    with pytest.raises(TypeError):
        dumps({1: "a"})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        dumps(["not", "a", "table"])  # type: ignore[arg-type]

"""``-S NAME=VALUE`` items of the broker's command line, as a dict.

A module of its own, importing nothing: ``flux start --test-size`` checks its
options with it before importing any of the broker (rank 0 is forked first).
"""

from __future__ import annotations

__all__ = ["split_setattr"]


def split_setattr(items: list[str]) -> dict[str, str]:
    """``["NAME=VALUE", ...]`` -> dict (a bare NAME means the empty string); ValueError
    names an item without a name."""
    out: dict[str, str] = {}
    for item in items:
        name, _, value = item.partition("=")
        if not name:
            raise ValueError(f"invalid attribute assignment {item!r}")
        out[name] = value
    return out

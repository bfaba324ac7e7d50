"""Dotted-key access to nested dicts (``"a.b.c"``) and recursive merging: flux-core's
``get_treedict``, ``set_treedict``, ``del_treedict`` and ``dict_merge``."""

from __future__ import annotations

from collections.abc import Mapping

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

__all__ = ["get_treedict", "set_treedict", "del_treedict", "dict_merge"]


def get_treedict(in_dict: Any, key: str, default: Any = None) -> Any:
    """``d["a"]["b"]["c"]`` for key ``"a.b.c"``, or ``default`` if a level is missing."""
    node = in_dict
    parts = key.split(".")
    for part in parts[:-1]:
        try:
            node = node[part]
        except KeyError:
            return default
    return node.get(parts[-1], default)


def set_treedict(in_dict: Any, key: str, val: Any) -> None:
    """``d["a"]["b"]["c"] = val`` for key ``"a.b.c"``, creating levels as needed."""
    first, dot, rest = key.partition(".")
    if dot:
        set_treedict(in_dict.setdefault(first, {}), rest, val)
    else:
        in_dict[key] = val


def del_treedict(in_dict: Any, key: str, remove_empty: bool = False) -> None:
    """``del d["a"]["b"]["c"]``; KeyError if a level is missing.  With
    ``remove_empty``, levels left empty by the deletion go too."""
    first, dot, rest = key.partition(".")
    if not dot:
        del in_dict[key]
        return
    del_treedict(in_dict[first], rest, remove_empty=remove_empty)
    child = in_dict[first]
    if remove_empty and isinstance(child, Mapping) and len(child) == 0:
        del in_dict[first]


def dict_merge(src: dict, new: Mapping) -> dict:
    """Merge ``new`` into ``src`` recursively (``new`` wins on leaves); returns ``src``."""
    for key, value in new.items():
        mine = src.get(key)
        if key in src and isinstance(mine, dict) and isinstance(value, dict):
            dict_merge(mine, value)
        elif key not in src or mine != value:
            src[key] = value
    return src

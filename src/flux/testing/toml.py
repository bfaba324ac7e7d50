"""A dict written as TOML, for the ``config=`` of a test instance (no TOML writer ships
with Python).  Tables, arrays of tables, strings, numbers, booleans and arrays are enough
for Flux's configuration."""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["dumps"]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"TOML keys are strings, not {type(name).__name__}")
    return name if _BARE_KEY.match(name) else json.dumps(name)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes are TOML basic-string escapes
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(
        isinstance(v, dict) for v in value)


def _table(path: list[str], table: dict[str, Any], out: list[str]) -> None:
    scalars = [(k, v) for k, v in table.items()
               if not isinstance(v, dict) and not _is_table_array(v)]
    for k, v in scalars:
        out.append(f"{_key(k)} = {_value(v)}")
    for k, v in table.items():
        if isinstance(v, dict):
            sub = path + [_key(k)]
            out.append(f"\n[{'.'.join(sub)}]")
            _table(sub, v, out)
        elif _is_table_array(v):
            sub = path + [_key(k)]
            for item in v:
                out.append(f"\n[[{'.'.join(sub)}]]")
                _table(sub, item, out)


def dumps(table: dict[str, Any]) -> str:
    """``table`` as TOML text (keys in their order)."""
    if not isinstance(table, dict):
        raise TypeError("a configuration is a dict of tables")
    out: list[str] = []
    _table([], table, out)
    return "\n".join(out).lstrip("\n") + "\n"

"""RFC 31 constraints over the scheduler's ranks: which ranks a job may use.

A job's ``attributes.system.constraints`` (a queue's ``requires`` lands there as
``properties``) is matched against R's ``execution.properties`` (property ->
idset of ranks) and its hosts: ``properties`` (all of them; ``^name`` means not
having it), ``hostlist``, ``ranks``, and ``and``/``or``/``not`` of those.  With no
properties in R, a job that requires one can use no rank, so the scheduler denies
it as unsatisfiable, as flux-core's does.
"""

from __future__ import annotations

from flux.services.resource.rv1 import idset_decode

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

__all__ = ["eligible_ranks", "rank_properties"]


def rank_properties(R: dict) -> dict[str, set[int]]:
    """R's ``execution.properties``: property name -> ranks."""
    props = (R.get("execution") or {}).get("properties") or {}
    out: dict[str, set[int]] = {}
    if isinstance(props, dict):
        for name, ids in props.items():
            try:
                out[name] = idset_decode(ids)
            except (OSError, ValueError, TypeError, AttributeError):
                continue
    return out


def eligible_ranks(constraint: Any, ranks: set[int], hosts: dict[int, str],
                   properties: dict[str, set[int]]) -> set[int]:
    """The ranks of ``ranks`` that satisfy ``constraint`` (None or {}: all of them)."""
    if not constraint:
        return set(ranks)
    if not isinstance(constraint, dict):
        raise ValueError("constraint must be an object")
    result = set(ranks)
    for op, args in constraint.items():
        if not isinstance(args, list):
            raise ValueError(f"{op} operator value must be an array")
        if op == "properties":
            for name in args:
                if not isinstance(name, str):
                    raise ValueError("properties value must be a string")
                if name.startswith("^"):
                    result -= properties.get(name[1:], set())
                else:
                    result &= properties.get(name, set())
        elif op == "hostlist":
            from flux.services.job_list.ranges import hosts_decode

            names = {h for text in args for h in hosts_decode(str(text))}
            result &= {r for r in ranks if hosts.get(r) in names}
        elif op == "ranks":
            chosen: set[int] = set()
            for text in args:
                chosen |= idset_decode(str(text))
            result &= chosen
        elif op == "and":
            for sub in args:
                result &= eligible_ranks(sub, ranks, hosts, properties)
        elif op == "or":
            either: set[int] = set()
            for sub in args:
                either |= eligible_ranks(sub, ranks, hosts, properties)
            result &= either
        elif op == "not":
            for sub in args:
                result -= eligible_ranks(sub, ranks, hosts, properties)
        else:
            raise ValueError(f"unknown constraint operator: {op}")
    return result

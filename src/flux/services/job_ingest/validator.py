"""The checks flux-core's job-ingest applies to a submitted jobspec, with its texts.

flux-core validates a submission with its ``jobspec`` validator plugin, which
builds a ``JobspecV1`` from it: the checks are semantic rather than a JSON
schema, stop at the first problem, and the user reads the exception's text
as is (``attributes.system.duration is a required key``, ``Missing key
(tasks)``).  ``check`` applies the same checks in the same order and raises
:class:`InvalidJobspec` with the same text, so a user of flux-core's tools sees
the same answer from either implementation.  It is deliberately no stricter
than flux-core: an empty ``resources`` list passes there, so it passes here.
(``jobspec.py`` is the stricter RFC 25 schema check, with path-naming texts.)
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

__all__ = ["InvalidJobspec", "check"]

_TOP = ("resources", "tasks", "version", "attributes")


class InvalidJobspec(ValueError):
    """A jobspec flux-core's validator refuses; ``str()`` is its text."""


def _keys(expected: tuple, given: Any, optional: bool = False, extra: bool = False) -> None:
    given = list(given)
    if not optional:
        for key in expected:
            if key not in given:
                raise InvalidJobspec(f"Missing key ({key})")
    if not extra:
        for key in given:
            if key not in expected:
                raise InvalidJobspec(f"Extraneous key ({key})")


def _is_int(value: Any) -> bool:
    return isinstance(value, int)  # Python's bool is an int there too


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (list, str))  # JSON's sequences: arrays and strings


def check(jobspec: dict) -> None:
    """Raise :class:`InvalidJobspec` unless flux-core would accept ``jobspec`` (version 1)."""
    _keys(_TOP, jobspec.keys())
    resources, tasks = jobspec["resources"], jobspec["tasks"]
    attributes, version = jobspec["attributes"], jobspec["version"]
    if version != 1:
        raise InvalidJobspec("version must be 1")
    if not _is_sequence(resources):
        raise InvalidJobspec("resources must be a sequence")
    if not _is_sequence(tasks):
        raise InvalidJobspec("tasks must be a sequence")
    if not isinstance(attributes, dict):
        raise InvalidJobspec("attributes must be a mapping")
    for res in _walk(resources):
        _resource(res)
    for task in tasks:
        _task(task)
    _keys(("system", "user"), attributes.keys(), optional=True)
    if "system" in attributes:
        _system(attributes["system"])
    # what version 1 adds
    if "system" not in attributes:
        raise InvalidJobspec("attributes.system is a required key")
    system = attributes["system"]
    if not isinstance(system, dict):
        raise InvalidJobspec("attributes.system must be a mapping")
    if "duration" not in system:
        raise InvalidJobspec("attributes.system.duration is a required key")
    if not _is_number(system["duration"]):
        raise InvalidJobspec("attributes.system.duration must be a number")
    for task in tasks:
        if not ({"per_slot", "total"} & set(task["count"])):
            raise InvalidJobspec("count per_slot or total must be set")
    _integer_counts(resources)


def _walk(resources: Any) -> Any:
    """Resources depth first, parents before children."""
    for res in resources:
        yield res
        children = res.get("with", []) if isinstance(res, dict) else []
        yield from _walk(children)


def _resource(res: Any) -> None:
    if not isinstance(res, dict):
        raise InvalidJobspec("resource must be a mapping")
    if "type" not in res:
        raise InvalidJobspec("type is a required key for resources")
    if not isinstance(res["type"], str):
        raise InvalidJobspec("type must be a string")
    if "count" not in res:
        raise InvalidJobspec("count is a required key for resources")
    count = res["count"]
    if isinstance(count, dict):
        _range(count)
    elif isinstance(count, str):
        _count_string(count)
    elif not _is_int(count):
        raise InvalidJobspec("count must be an int or mapping")
    else:
        if res["type"] in ("node", "slot", "core") and count < 1:
            raise InvalidJobspec("node, slot, or core count must be > 0")
        if count < 0:
            raise InvalidJobspec("count must be >= 0")
    for key in ("id", "unit", "label"):
        if key in res and not isinstance(res[key], str):
            raise InvalidJobspec(f"{key} must be a string")
    if "exclusive" in res and res["exclusive"] not in (True, False):
        raise InvalidJobspec("exclusive must be a boolean")
    if res["type"] == "slot" and "label" not in res:
        raise InvalidJobspec("slots must have labels")


def _range(count: dict) -> None:
    """RFC 14's count range object: min, max, operand, operator."""
    if "min" not in count:
        raise InvalidJobspec("min must be in range")
    _keys(("min", "max", "operand", "operator"), count.keys(), optional=True)
    for key in ("min", "max", "operand"):
        if key not in count:
            continue
        if not _is_int(count[key]):
            raise InvalidJobspec(f"{key} must be an int")
        if count[key] < 1:
            raise InvalidJobspec(f"{key} must be > 0")
    if "max" in count and count["max"] < count["min"]:
        raise InvalidJobspec("max must be >= min")
    if ("operand" in count) != ("operator" in count):
        raise InvalidJobspec("operand and operator must both be in range if either is")
    if "operator" in count:
        operator = count["operator"]
        if not isinstance(operator, str) or len(operator) != 1:
            raise InvalidJobspec("operator must be a single character str")
        if operator not in ("+", "*", "^"):
            raise InvalidJobspec("operator must be one of ['+', '*', '^']")
        if operator in ("*", "^") and count["operand"] < 2:
            raise InvalidJobspec("operand must be > 1 for '*' or '^' operator")
        if operator == "^" and count["min"] < 2:
            raise InvalidJobspec("min must be > 1 for '^' operator")


def _is_idset(text: str) -> bool:
    """RFC 22 idset text (``0-3,7``, optionally in brackets)."""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not text:
        return True
    for part in text.split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and (not high.isdigit() or int(high) < int(low))):
            return False
    return True


def _count_string(count: str) -> None:
    """A count given as an idset, or as a range ``MIN-MAX:OPERAND:OPERATOR`` / ``MIN+``."""
    if _is_idset(count):
        return
    values = count.split(":")
    if len(values) > 3 or ("-" not in values[0] and "+" not in values[0]):
        raise InvalidJobspec("count string must be a valid idset or range")
    spec: dict = {}
    try:
        if "-" in values[0]:
            low, _, high = values[0].partition("-")
            spec["max"] = int(high)
        else:
            low = values[0].rstrip("+")
        spec["min"] = int(low)
        if len(values) > 1:
            spec["operand"] = int(values[1])
            spec["operator"] = "+"
    except ValueError as exc:
        raise InvalidJobspec(str(exc)) from None
    if len(values) > 2:
        spec["operator"] = values[2]
    _range(spec)


def _task(task: Any) -> None:
    if not isinstance(task, dict):
        raise InvalidJobspec("task must be a mapping")
    _keys(("command", "slot", "count"), task.keys(), extra=True)
    count = task["count"]
    if not isinstance(count, dict):
        raise InvalidJobspec("count must be a mapping")
    if len(count) != 1:
        raise InvalidJobspec("count must have exactly one key set")
    if not ({"per_slot", "per_resource", "total"} & set(count)):
        raise InvalidJobspec("count per_slot, per_resource, or total must be set")
    for key in ("total", "per_slot"):
        if key in count:
            if not _is_int(count[key]):
                raise InvalidJobspec(f"count {key} must be an int")
            if count[key] <= 0:
                raise InvalidJobspec(f"count {key} must be > 0")
    if not isinstance(task["slot"], str):
        raise InvalidJobspec("slot must be a string")
    if "attributes" in task and not isinstance(task["attributes"], dict):
        raise InvalidJobspec("attributes must be a mapping")
    command = task["command"]
    if isinstance(command, (list, str, dict)) and len(command) == 0:
        raise InvalidJobspec("command array cannot have length of zero")
    if not isinstance(command, list) or not all(isinstance(x, str) for x in command):
        if not isinstance(command, (list, str, dict)):
            raise InvalidJobspec(f"object of type '{_pytype(command)}' has no len()")
        raise InvalidJobspec("command must be a list of strings")


def _pytype(value: Any) -> str:
    """The Python type name flux-core's message shows for a JSON value."""
    if value is None:
        return "NoneType"
    return type(value).__name__


def _system(system: Any) -> None:
    if not isinstance(system, dict):
        return  # reported by the version 1 checks that follow
    if "dependencies" in system:
        deps = system["dependencies"]
        if not _is_sequence(deps):
            raise InvalidJobspec("attributes.system.dependencies must be a list")
        for dep in deps:
            if not isinstance(dep, dict):
                raise InvalidJobspec(f"'{_pytype(dep)}' object has no attribute 'keys'")
            _keys(("scheme", "value"), dep.keys(), extra=True)
            if not isinstance(dep["scheme"], str):
                raise InvalidJobspec("dependency scheme must be a string")
            if not isinstance(dep["value"], str):
                raise InvalidJobspec("dependency value must be a string")
    if "constraints" in system:
        _constraint(system["constraints"])


def _constraint(constraint: Any) -> None:
    """RFC 31 constraint objects (host names are not checked against the instance)."""
    if not isinstance(constraint, dict):
        raise InvalidJobspec("constraints must be a mapping")
    for operator, args in constraint.items():
        if not _is_sequence(args):
            raise InvalidJobspec(f"argument to constraint {operator} must be a sequence")
        if operator in ("and", "or", "not"):
            for sub in args:
                _constraint(sub)
        elif operator == "properties":
            for name in args:
                if any(c in "&'\"`|()" for c in name):
                    raise InvalidJobspec(f"invalid character in property '{name}'")
        elif operator == "ranks":
            for ranks in args:
                if not isinstance(ranks, str) or not _is_idset(ranks):
                    raise InvalidJobspec(f"invalid idset: {ranks}")
        elif operator != "hostlist":
            raise InvalidJobspec(f"unknown constraint operator '{operator}'")


def _integer_counts(resources: Any) -> None:
    for res in resources:
        count = res["count"]
        if not _is_int(count):
            raise InvalidJobspec(f"resource count must be an integer for type "
                                 f"'{res['type']}' (got '{_pytype(count)}')")
        _integer_counts(res.get("with", []))

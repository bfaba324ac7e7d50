"""Jobspec version 1 (RFC 25): parse JSON or YAML text and validate it.

``validate`` checks a submission against RFC 25's JSON schema (shipped in
``schema/``) with jsonschema, then against the RFC's v1 rules the schema leaves
out (no other top-level keys, exactly one task, a command list, a required
duration, a core in every slot).  A failure is
a :class:`JobspecError` whose message is one line, ``<path>: <problem>``, with
the path written as a user would (``resources[0].with[0].count``), so a person
submitting a job sees what to fix and where.

jsonschema and PyYAML are heavy to import, so they are imported on first use
(``import flux`` stays light); JSON text is tried first and never loads PyYAML.
"""

from __future__ import annotations

import json
import math
import os

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterable
    from typing import Any

    from jsonschema import Draft7Validator
    from jsonschema.exceptions import ValidationError

__all__ = ["SCHEMA_PATH", "JobspecError", "parse", "validate"]

#: RFC 25's schema for jobspec version 1, as the RFC publishes it.
SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "schema", "jobspec_v1.json")

#: How a message names the whole document (the path of the top level).
ROOT = "jobspec"


class JobspecError(ValueError):
    """A jobspec that is not valid version 1; ``str()`` is ``<path>: <problem>``."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def validate(jobspec: str | bytes | dict) -> dict:
    """The jobspec as a dict, once it is valid version 1; raise :class:`JobspecError` if not.

    ``jobspec`` is a dict, or JSON or YAML text (str or UTF-8 bytes).
    """
    obj = parse(jobspec)
    _check_schema(obj)
    _check_v1_rules(obj)
    return obj


def parse(jobspec: str | bytes | dict) -> dict:
    """The jobspec as a dict, from a dict or JSON/YAML text; only its syntax is checked."""
    if isinstance(jobspec, dict):
        return jobspec
    if isinstance(jobspec, (bytes, bytearray)):
        try:
            jobspec = bytes(jobspec).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JobspecError(ROOT, f"not UTF-8 text (byte {exc.start})") from None
    if not isinstance(jobspec, str):
        raise JobspecError(ROOT, f"must be a dict or JSON/YAML text (got {type(jobspec).__name__})")
    try:
        obj = json.loads(jobspec)
    except ValueError:
        obj = _load_yaml(jobspec)
    if obj is None:
        raise JobspecError(ROOT, "empty document")
    if not isinstance(obj, dict):
        raise JobspecError(ROOT, f"must be a mapping (got {_kind(obj)})")
    return obj


def _load_yaml(text: str) -> Any:
    """YAML text as plain JSON values; YAML's own errors become one line with a position."""
    import yaml

    try:
        obj = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise JobspecError(ROOT, f"invalid JSON or YAML{where}: {problem}") from None
    bad = _first_non_json(obj, [])
    if bad is not None:
        path, value = bad
        raise JobspecError(_path_text(path), f"YAML value of type {type(value).__name__} has no JSON form")
    return obj


def _first_non_json(value: Any, path: list) -> tuple | None:
    """(path, value) of the first value JSON cannot carry (a YAML date, set, binary, ...)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return path + [str(key)], key
            found = _first_non_json(item, path + [key])
            if found is not None:
                return found
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_non_json(item, path + [index])
            if found is not None:
                return found
        return None
    if value is None or isinstance(value, (str, int, float)):
        return None
    return path, value


# ---------------------------------------------------------------- the schema

_validator: Draft7Validator | None = None


def _schema_validator() -> Draft7Validator:
    """RFC 25's schema, compiled once (the first validation pays for the import)."""
    global _validator
    if _validator is None:
        from jsonschema import Draft7Validator

        with open(SCHEMA_PATH, "rb") as f:
            _validator = Draft7Validator(json.load(f))
    return _validator


def _check_schema(obj: dict) -> None:
    errors = list(_schema_validator().iter_errors(obj))
    if errors:
        raise _explain(_descend(_most_relevant(errors)))


def _most_relevant(errors: Iterable[ValidationError]) -> ValidationError:
    """The error to report: the version first (other errors mean little under a wrong
    version), then the shallowest, then the first in document order."""
    def rank(indexed: tuple) -> tuple:
        index, error = indexed
        path = list(error.absolute_path)
        about_version = path[:1] == ["version"] or (
            error.validator == "required" and _missing_key(error) == "version")
        return (not about_version, len(path), index)
    return min(enumerate(errors), key=rank)[1]


def _descend(error: ValidationError) -> ValidationError:
    """From "not valid under any of the given schemas" to the error of the alternative
    meant: the resource vertex schema whose ``type`` matches the vertex (a type that
    matches none is itself the error, raised here)."""
    while error.validator == "oneOf" and error.context:
        branches: dict = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        if len(branches) == 1:
            chosen = next(iter(branches.values()))
        else:
            chosen = next((subs for subs in branches.values()
                           if not any(list(s.relative_path) == ["type"] for s in subs)), None)
            if chosen is None:
                if isinstance(error.instance, dict) and "type" in error.instance:
                    raise _type_choice_error(error, branches.values())
                chosen = next(iter(branches.values()))
        error = _most_relevant(chosen)
    return error


def _type_choice_error(error: ValidationError, branches: Iterable[list]) -> JobspecError:
    """One error for a vertex whose ``type`` is none of the alternatives', listing them."""
    allowed: list = []
    for subs in branches:
        for sub in subs:
            if list(sub.relative_path) == ["type"] and sub.validator in ("const", "enum"):
                values = sub.validator_value if sub.validator == "enum" else [sub.validator_value]
                allowed.extend(v for v in values if v not in allowed)
    return JobspecError(_path_text(list(error.absolute_path) + ["type"]),
                        f"must be one of {', '.join(_show(v) for v in allowed)}"
                        f" (got {_show(error.instance['type'])})")


def _explain(error: ValidationError) -> JobspecError:
    """One line for a schema error, in the words of the mistake rather than of JSON Schema."""
    path = list(error.absolute_path)
    kind, rule, value = error.validator, error.validator_value, error.instance
    if kind == "required":
        return JobspecError(_path_text(path + [_missing_key(error)]), "required key is missing")
    if kind == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        extra = [k for k in value if k not in allowed]
        return JobspecError(_path_text(path + [str(extra[0])]),
                            f"unknown key (allowed: {', '.join(allowed)})")
    if kind == "const" and path == ["version"]:
        return JobspecError("version", f"must be 1, the only version supported (got {_show(value)})")
    if kind == "const":
        return JobspecError(_path_text(path), f"must be {_show(rule)} (got {_show(value)})")
    if kind == "enum":
        return JobspecError(_path_text(path),
                            f"must be one of {', '.join(_show(v) for v in rule)} (got {_show(value)})")
    if kind == "type":
        wanted = [rule] if isinstance(rule, str) else list(rule)
        return JobspecError(_path_text(path), f"must be {' or '.join(_TYPE_WORDS[t] for t in wanted)}"
                                              f" (got {_kind(value)})")
    if kind == "minimum":
        return JobspecError(_path_text(path), f"must be >= {rule} (got {_show(value)})")
    if kind == "maximum":
        return JobspecError(_path_text(path), f"must be <= {rule} (got {_show(value)})")
    if kind == "minItems":
        if rule == 1:
            return JobspecError(_path_text(path), "must not be empty")
        return JobspecError(_path_text(path), f"must have at least {rule} entries (got {len(value)})")
    if kind == "maxItems" and path == ["tasks"]:
        return JobspecError("tasks", f"must contain exactly one task (got {len(value)})")
    if kind == "maxItems":
        return JobspecError(_path_text(path),
                            f"must have at most {_entries(rule)} (got {len(value)})")
    if kind in ("minProperties", "maxProperties"):
        names = list(error.schema.get("properties", {}))
        if error.schema.get("minProperties") == error.schema.get("maxProperties") == 1 and names:
            return JobspecError(_path_text(path), f"must have exactly one of the keys {', '.join(names)}"
                                                  f" (got {len(value)})")
    return JobspecError(_path_text(path), error.message)


_TYPE_WORDS = {"object": "a mapping", "array": "a list", "string": "a string",
               "integer": "an integer", "number": "a number", "boolean": "a boolean",
               "null": "null"}


def _missing_key(error: ValidationError) -> str:
    """The required key a ``required`` error is about (the first one absent)."""
    return next((k for k in error.validator_value if k not in error.instance), "?")


# ---------------------------------------------------------------- v1 rules beyond the schema

#: The keys of a v1 jobspec, in the order messages list them.
_TOP_LEVEL_KEYS = ("version", "resources", "tasks", "attributes")


def _check_v1_rules(obj: dict) -> None:
    """RFC 25's requirements that its schema does not express (flux-core's ingest
    enforces the first four too)."""
    extra = [key for key in obj if key not in _TOP_LEVEL_KEYS]
    if extra:
        raise JobspecError(str(extra[0]), f"unknown key (allowed: {', '.join(_TOP_LEVEL_KEYS)})")
    if not obj["tasks"]:
        raise JobspecError("tasks", "must contain exactly one task (got none)")
    if not isinstance(obj["tasks"][0]["command"], list):
        raise JobspecError("tasks[0].command", "must be a list (got string)")
    system = (obj["attributes"] or {}).get("system")
    if system is None:
        raise JobspecError("attributes.system", "required key is missing")
    if "duration" not in system:
        raise JobspecError("attributes.system.duration", "required key is missing")
    if not math.isfinite(system["duration"]):
        raise JobspecError("attributes.system.duration",
                           f"must be a finite number (got {system['duration']})")
    vertex, path = obj["resources"][0], ["resources", 0]
    if vertex["type"] == "node":
        vertex, path = vertex["with"][0], path + ["with", 0]
    kinds = [child["type"] for child in vertex["with"]]
    if "core" not in kinds:
        raise JobspecError(_path_text(path + ["with"]),
                           f"a slot must contain a core (got {', '.join(kinds)})")
    if len(set(kinds)) != len(kinds):
        raise JobspecError(_path_text(path + ["with"]),
                           f"a slot lists each of core and gpu at most once (got {', '.join(kinds)})")


# ---------------------------------------------------------------- wording

def _path_text(path: list) -> str:
    """``['resources', 0, 'count']`` -> ``resources[0].count``; the top level is ``jobspec``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or ROOT


def _kind(value: Any) -> str:
    """A value's kind in the words of the messages (as the jobspec's author wrote it)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


def _show(value: Any) -> str:
    """A short rendering of a value for a message (strings quoted, long ones cut)."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _entries(n: int) -> str:
    return "1 entry" if n == 1 else f"{n} entries"

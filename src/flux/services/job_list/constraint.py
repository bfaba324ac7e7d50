"""job-list's constraints (RFC 43 on RFC 31): a JSON object compiled once per request
into a predicate on jobs; errors carry flux-core's texts (the request is EPROTO)."""

from __future__ import annotations

from flux.services.job_list import ranges
from flux.services.job_list.job import (
    ACTIVE,
    CANCELED,
    CLEANUP,
    COMPLETED,
    DEPEND,
    FAILED,
    INACTIVE,
    NEW,
    PENDING,
    PRIORITY,
    RUN,
    RUNNING,
    SCHED,
    TIMEOUT,
    USERID_UNKNOWN,
    Job,
)

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable
    from typing import Any

    Match = Callable[[Job], bool]

__all__ = ["ConstraintError", "compile_constraint"]

_STATE_NAMES = {}
for _bit, _long, _short in ((NEW, "new", "n"), (DEPEND, "depend", "d"),
                            (PRIORITY, "priority", "p"), (SCHED, "sched", "s"),
                            (RUN, "run", "r"), (CLEANUP, "cleanup", "c"),
                            (INACTIVE, "inactive", "i"), (PENDING, "pending", "pd"),
                            (RUNNING, "running", "ru"), (ACTIVE, "active", "a")):
    for _name in (_long.upper(), _long, _short.upper(), _short):
        _STATE_NAMES[_name] = _bit
_RESULT_NAMES = {}
for _bit, _long, _short in ((COMPLETED, "completed", "cd"), (FAILED, "failed", "f"),
                            (CANCELED, "canceled", "ca"), (TIMEOUT, "timeout", "to")):
    for _name in (_long.upper(), _long, _short.upper(), _short):
        _RESULT_NAMES[_name] = _bit
_TIMES = ("t_submit", "t_depend", "t_priority", "t_sched", "t_run", "t_cleanup",
          "t_inactive")


class ConstraintError(ValueError):
    """A constraint job-list cannot use (its text is flux-core's)."""


def compile_constraint(obj: Any) -> Match:
    """The predicate of a constraint object; None matches every job."""
    if obj is None:
        return lambda job: True
    if not isinstance(obj, dict):
        raise ConstraintError("constraint must be JSON object")
    if len(obj) > 1:
        raise ConstraintError("constraint must only contain 1 element")
    if not obj:
        return lambda job: True
    (op, values), = obj.items()
    if not isinstance(values, list):
        raise ConstraintError(f"operator {op} values not an array")
    if op == "userid":
        return _userid(values)
    if op in ("name", "queue"):
        return _strings(op, values)
    if op == "states":
        states = _bitmask(values, _STATE_NAMES, NEW | PENDING | RUNNING | INACTIVE, "states")
        return lambda job: bool(states & job.state)
    if op == "results":
        results = _bitmask(values, _RESULT_NAMES, COMPLETED | FAILED | CANCELED | TIMEOUT,
                           "results")
        return lambda job: job.state == INACTIVE and bool(results & job.result)
    if op == "hostlist":
        return _hostlist(values)
    if op == "ranks":
        return _ranks(values)
    if op in _TIMES:
        return _timestamp(op, values)
    if op in ("and", "or", "not"):
        subs = [compile_constraint(v) for v in values]
        if op == "and":
            return lambda job: all(m(job) for m in subs)
        if op == "or":
            return lambda job: not subs or any(m(job) for m in subs)
        return lambda job: not all(m(job) for m in subs)
    raise ConstraintError(f"unknown constraint operator: {op}")


def _userid(values: list) -> Match:
    ids = set()
    for v in values:
        if type(v) is not int:
            raise ConstraintError("userid value must be an integer")
        ids.add(v & 0xFFFFFFFF)
    if USERID_UNKNOWN in ids:
        return lambda job: True
    return lambda job: job.userid in ids


def _strings(op: str, values: list) -> Match:
    for v in values:
        if not isinstance(v, str):
            raise ConstraintError(f"{op} value must be a string")
    wanted = set(values)
    if op == "name":
        return lambda job: job.name is not None and job.name in wanted
    return lambda job: job.queue is not None and job.queue in wanted


def _bitmask(values: list, names: dict, valid: int, what: str) -> int:
    mask = 0
    for v in values:
        if isinstance(v, str):
            if v not in names:
                raise ConstraintError(f"invalid {what} value '{v}' specified")
            mask |= names[v]
        elif type(v) is int:
            if v & ~valid:
                raise ConstraintError(f"invalid {what} value '{v:X}h' specified")
            mask |= v
        else:
            raise ConstraintError(f"{what} value invalid type")
    return mask


def _hostlist(values: list) -> Match:
    hosts: set[str] = set()
    for v in values:
        if not isinstance(v, str):
            raise ConstraintError("host value must be a string")
        try:
            hosts.update(ranges.hosts_decode(v))
        except ValueError:
            raise ConstraintError("host value not in valid Hostlist format") from None

    def match(job: Job) -> bool:
        if not job.nodelist or not job.states_mask & RUN:
            return False
        return not hosts.isdisjoint(ranges.hosts_decode(job.nodelist))
    return match


def _ranks(values: list) -> Match:
    ids: set[int] = set()
    for v in values:
        if not isinstance(v, str):
            raise ConstraintError("ranks value must be a string")
        try:
            ids.update(ranges.decode(v))
        except ValueError as exc:
            raise ConstraintError(f"ranks value '{v}': {exc}") from None

    def match(job: Job) -> bool:
        if not job.ranks or not job.states_mask & RUN:
            return False
        return not ids.isdisjoint(ranges.decode(job.ranks))
    return match


def _timestamp(op: str, values: list) -> Match:
    if not values:
        raise ConstraintError("timestamp value not specified")
    text = values[0]
    if not isinstance(text, str):
        raise ConstraintError(f"{op} value must be a string")
    for prefix in (">=", "<=", ">", "<"):
        if text.startswith(prefix):
            break
    else:
        raise ConstraintError("timestamp comparison operator not specified")
    try:
        value = float(text[len(prefix):])
    except ValueError:
        raise ConstraintError("Invalid timestamp value specified") from None
    if value < 0.0:
        raise ConstraintError("timestamp value must be >= 0.0")
    field = op

    def when(job: Job) -> float | None:
        if field == "t_submit":
            return job.t_submit
        if field == "t_depend":
            if job.submit_version < 1:
                return job.t_submit
            return job.t_depend if job.states_mask & DEPEND else None
        if field in ("t_priority", "t_sched"):
            t = getattr(job, field)
            return t if t != 0.0 else None
        bit = {"t_run": RUN, "t_cleanup": CLEANUP, "t_inactive": INACTIVE}[field]
        return getattr(job, field) if job.states_mask & bit else None

    if prefix == ">=":
        return lambda job: (t := when(job)) is not None and t >= value
    if prefix == "<=":
        return lambda job: (t := when(job)) is not None and t <= value
    if prefix == ">":
        return lambda job: (t := when(job)) is not None and t > value
    return lambda job: (t := when(job)) is not None and t < value

"""Jobspec defaults and queue constraints from the instance configuration, applied to a
submitted jobspec before it is validated (what flux-core's job-ingest has its
frobnicator's ``defaults`` and ``constraints`` plugins do).

``policy.jobspec.defaults.system`` fills unset ``attributes.system`` keys (a zero
``duration`` counts as unset), overridden per queue by
``queues.NAME.policy.jobspec.defaults.system``; with ``[queues]`` a job must name
one of them (or get the default queue); a queue's ``requires`` properties are added
to the job's constraints.  Refusals raise ``ValueError`` with flux-core's texts.
"""

from __future__ import annotations

import copy

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional

__all__ = ["active", "apply"]


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def active(conf: dict) -> bool:
    """Whether there is anything to apply (flux-core runs its frobnicator only then)."""
    return bool(_get(conf, "policy", "jobspec", "defaults")) or bool(conf.get("queues"))


def _queue_defaults(defaults: dict, queues: dict, name: Optional[str]) -> dict:
    out = copy.deepcopy(defaults)
    if name and queues:
        if name not in queues:
            raise ValueError(f"Invalid queue '{name}' specified")
        qdefaults = _get(queues[name], "policy", "jobspec", "defaults", "system")
        if isinstance(qdefaults, dict):
            out.update(qdefaults)
    return out


def _duration(value: Any) -> float:
    if isinstance(value, str):
        from flux.job.Jobspec import parse_fsd

        return float(parse_fsd(value))
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    raise ValueError(f"invalid duration '{value}'")


def apply(jobspec: dict, conf: dict) -> None:
    """Apply ``conf``'s defaults and queue constraints to ``jobspec`` (in place)."""
    defaults = _get(conf, "policy", "jobspec", "defaults", "system") or {}
    queues = conf.get("queues") or {}
    if not isinstance(defaults, dict):
        raise ValueError("policy.jobspec.defaults.system must be a table")
    if not isinstance(queues, dict):
        raise ValueError("queues must be a table")
    default_queue = defaults.get("queue")
    if default_queue and default_queue not in queues:
        raise ValueError(f"default queue '{default_queue}' must be in [queues]")
    attrs = jobspec.setdefault("attributes", {})
    if not isinstance(attrs, dict):
        raise ValueError("invalid jobspec: attributes must be an object")
    system = attrs.setdefault("system", {})
    if not isinstance(system, dict):
        raise ValueError("invalid jobspec: attributes.system must be an object")
    queue = system.get("queue") or default_queue
    if queue is None and queues:
        raise ValueError("no queue specified")
    for key, value in _queue_defaults(defaults, queues, queue).items():
        if key == "duration":
            if not system.get("duration"):
                system["duration"] = _duration(value)
        elif key not in system:
            system[key] = copy.deepcopy(value)
    _constrain(system, queues, system.get("queue"))


def _constrain(system: dict, queues: dict, queue: Any) -> None:
    """The queue's ``requires`` properties added to the job's constraints."""
    if not queue:
        return
    if queue not in queues:
        raise ValueError(f"Invalid queue '{queue}' specified")
    required = _get(queues[queue], "requires")
    if required is None:
        return
    current = system.get("constraints")
    if isinstance(current, dict) and isinstance(current.get("properties"), list):
        for prop in required:
            if prop not in current["properties"]:
                current["properties"].append(prop)
    elif current:
        system["constraints"] = {"and": [current, {"properties": list(required)}]}
    else:
        system["constraints"] = {"properties": list(required)}

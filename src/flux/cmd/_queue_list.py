"""``flux queue list``: one line per queue in flux-core 0.88's formats (``default``,
``policy``, ``nodes`` or the user's own), with its field names.

Each queue's limits and default time limit come from the configuration
(``policy.limits``, ``policy.jobspec.defaults.system.duration``, overridden by
``queues.NAME.policy``); its resources are the scheduler's, those with all of the
queue's ``requires`` properties when it has some (pureflux's R has no properties,
so such a queue has none).  The enabled and started marks carry flux-core's color
codes, as its formats do.
"""

from __future__ import annotations

import math

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    import argparse
    from typing import Any, Optional

    import flux

    from ._resource_sets import RankSet

__all__ = ["print_list", "FORMATS"]

_KINDS = ("nnodes", "ncores", "ngpus")
_PREFIX = "?:{queuem:<8.8} {color_enabled}{enabled:>2}{color_off} " \
          "{color_started}{started:>2}{color_off} "

FORMATS = {
    "default": ("Default flux-queue list format string",
                _PREFIX + "{defaults.timelimit!F:>8} {limits.timelimit!F:>8} "
                "{limits.range.effective.nnodes:>10} {limits.range.effective.ncores:>10} "
                "{limits.range.effective.ngpus:>10}"),
    "policy": ("flux-queue list with policy limits only",
               _PREFIX + "{defaults.timelimit!F:>8} {limits.timelimit!F:>8} "
               "{limits.range.nnodes:>10} {limits.range.ncores:>10} {limits.range.ngpus:>10}"),
    "nodes": ("Show queue status plus all/up/allocated/free nodes",
              _PREFIX + "{resources.all.nnodes:>6} {resources.up.nnodes:>10} "
              "{resources.down.nnodes:>10} {resources.allocated.nnodes:>11} "
              "{resources.free.nnodes:>10}"),
}

HEADINGS = {
    "queue": "QUEUE", "queuem": "QUEUE", "submission": "SUBMIT", "scheduling": "SCHED",
    "enabled": "EN", "started": "ST", "enabled.ascii": "EN", "started.ascii": "ST",
    "color_enabled": "", "color_started": "", "color_off": "",
    "defaults.timelimit": "TDEFAULT", "limits.timelimit": "TLIMIT",
    "limits.range.nnodes": "NNODES", "limits.range.ncores": "NCORES",
    "limits.range.ngpus": "NGPUS", "limits.range.effective.nnodes": "NNODES",
    "limits.range.effective.ncores": "NCORES", "limits.range.effective.ngpus": "NGPUS",
    "limits.min.nnodes": "MINNODES", "limits.max.nnodes": "MAXNODES",
    "limits.min.ncores": "MINCORES", "limits.max.ncores": "MAXCORES",
    "limits.min.ngpus": "MINGPUS", "limits.max.ngpus": "MAXGPUS",
}
for _kind in _KINDS:
    for _state in ("all", "free", "allocated", "up", "down"):
        HEADINGS[f"resources.{_state}.{_kind}"] = _kind[1:].upper() + (
            "" if _state == "all" else f":{_state[:5].upper()}")


class _Mark:
    """``✔``/``✗``, or ``y``/``n`` as ``{field.ascii}`` (flux-core's AltField)."""

    def __init__(self, on: bool) -> None:
        self.default, self.ascii = ("✔", "y") if on else ("✗", "n")

    def __str__(self) -> str:
        return self.default

    def __format__(self, spec: str) -> str:
        return format(self.default, spec)


class _Attrs:
    """Attributes from keyword arguments (the nested fields of a queue line)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def _seconds(value: Any) -> float:
    if value is None:
        return math.inf
    if isinstance(value, str):
        from flux.job.Jobspec import parse_fsd

        return parse_fsd(value)
    return float(value)


def _policy(conf: dict, name: Optional[str], *path: str) -> Any:
    """A policy value, the queue's own overriding the instance's."""
    if name is not None:
        own = _get(conf, "queues", name, "policy", *path)
        if own is not None:
            return own
    return _get(conf, "policy", *path)


def _size(conf: dict, name: Optional[str], bound: str, kind: str) -> float:
    value = _policy(conf, name, "limits", "job-size", bound, kind)
    if value is None:
        return math.inf if bound == "max" else 0
    return math.inf if value < 0 else value


def _counts(rset: RankSet) -> _Attrs:
    return _Attrs(nnodes=len(rset.ranks), ncores=rset.count("core"), ngpus=rset.count("gpu"))


def _text(value: float) -> str:
    return "inf" if math.isinf(value) else str(int(value))


class QueueLine:
    """One queue as flux-core's QueueInfoWrapper shows it."""

    def __init__(self, conf: dict, name: Optional[str], status: dict,
                 sets: dict[str, RankSet]) -> None:
        self.name = name or ""
        self.is_enabled = bool(status.get("enable"))
        self.is_started = bool(status.get("start"))
        self.is_default = name is not None and name == _get(
            conf, "policy", "jobspec", "defaults", "system", "queue")
        if name is not None and _get(conf, "queues", name, "requires"):
            sets = {state: rset.only(set()) for state, rset in sets.items()}
        self.resources = _Attrs(**{state: _counts(rset) for state, rset in sets.items()})
        low = _Attrs(**{k: _size(conf, name, "min", k) for k in _KINDS})
        high = _Attrs(**{k: _size(conf, name, "max", k) for k in _KINDS})
        everything = getattr(self.resources, "all")
        effective = _Attrs(**{k: f"{_text(getattr(low, k))}-"
                                 f"{_text(min(getattr(high, k), getattr(everything, k)))}"
                              for k in _KINDS})
        rng = _Attrs(effective=effective, **{
            k: f"{_text(getattr(low, k))}-{_text(getattr(high, k))}" for k in _KINDS})
        duration = _seconds(_policy(conf, name, "limits", "duration"))
        self.limits = _Attrs(min=low, max=high, duration=duration, timelimit=duration,
                             range=rng)
        default = _seconds(_policy(conf, name, "jobspec", "defaults", "system", "duration"))
        self.defaults = _Attrs(duration=default, timelimit=default)

    queue = property(lambda self: self.name)
    queuem = property(lambda self: f"{self.name}*" if self.name and self.is_default
                      else self.name)
    scheduling = property(lambda self: "started" if self.is_started else "stopped")
    submission = property(lambda self: "enabled" if self.is_enabled else "disabled")
    enabled = property(lambda self: _Mark(self.is_enabled))
    started = property(lambda self: _Mark(self.is_started))
    color_enabled = property(lambda self: "\033[01;32m" if self.is_enabled else "\033[01;31m")
    color_started = property(lambda self: "\033[01;32m" if self.is_started else "\033[01;31m")
    color_off = "\033[0;0m"


def print_list(handle: flux.Flux, args: argparse.Namespace) -> None:
    from ._job_outputformat import OutputFormat
    from ._resource_list import format_string, sched_sets

    fmt = format_string(args.format, FORMATS, "flux-queue")
    formatter = OutputFormat(fmt, headings=HEADINGS)
    wanted = [q for item in args.queue for q in item.split(",") if q]
    conf = handle.rpc("config.get").get()
    names = handle.rpc("job-manager.queue-list", nodeid=0).get()["queues"]
    for name in wanted:
        if name not in names:
            raise ValueError(f"No such queue: {name}")
    sets = sched_sets(handle)
    lines = []
    for name in names or [None]:
        if wanted and name not in wanted:
            continue
        payload = {"name": name} if name is not None else {}
        status = handle.rpc("job-manager.queue-status", payload, nodeid=0).get()
        lines.append(QueueLine(conf, name, status, sets))
    formatter.print_items(lines, no_header=args.no_header)

"""``flux queue list``: one line per queue, flux-core 0.88's default columns.

Each queue's limits and default time limit come from the configuration
(``policy.limits``, ``policy.jobspec.defaults.system.duration``, overridden by
``queues.NAME.policy``); its resources are the scheduler's, those with all of the
queue's ``requires`` properties when it has some.  The enabled and started marks
carry flux-core's color codes, as its default format does.
"""

from __future__ import annotations

import math

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    import argparse
    from typing import Any, Optional

    import flux

__all__ = ["print_list"]

_GREEN, _RED, _OFF = "\033[01;32m", "\033[01;31m", "\033[0;0m"
_KINDS = ("nnodes", "ncores", "ngpus")


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def _fsd(value: float) -> str:
    from ._job_outputformat import fsd

    return fsd(value)


def _seconds(value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, str):
        from flux.job.Jobspec import parse_fsd

        return parse_fsd(value)
    return float(value)


def _merged(conf: dict, name: Optional[str], *path: str) -> Any:
    """A policy value, the queue's own overriding the instance's."""
    value = _get(conf, "policy", *path)
    if name is not None:
        own = _get(conf, "queues", name, "policy", *path)
        if own is not None:
            value = own
    return value


def _counts(sets: dict, requires: Any) -> dict[str, int]:
    everything = sets["all"]
    if requires:  # no property is configured on this instance's resources
        return dict.fromkeys(_KINDS, 0)
    return {"nnodes": len(everything.rank_ids()), "ncores": everything.count("core"),
            "ngpus": everything.count("gpu")}


def _row(conf: dict, name: Optional[str], status: dict, counts: dict[str, int]) -> list[str]:
    default_queue = _get(conf, "policy", "jobspec", "defaults", "system", "queue")
    label = f"{name}*" if name is not None and name == default_queue else (name or "")
    cells = [label]
    for key in ("enable", "start"):
        on = bool(status.get(key))
        mark = "✔" if on else "✗"
        cells.append(f"{_GREEN if on else _RED}{mark:>2}{_OFF}")
    cells.append(f"{_fsd(_seconds(_merged(conf, name, 'jobspec', 'defaults', 'system', 'duration'), math.inf)):>8}")
    cells.append(f"{_fsd(_seconds(_merged(conf, name, 'limits', 'duration'), math.inf)):>8}")
    for kind in _KINDS:
        low = _merged(conf, name, "limits", "job-size", "min", kind)
        high = _merged(conf, name, "limits", "job-size", "max", kind)
        low = 0 if low is None or low < 0 else low
        high = math.inf if high is None or high < 0 else high
        effective = min(high, counts[kind])
        cells.append(f"{low}-{int(effective)}".rjust(10))
    return cells


def print_list(handle: flux.Flux, args: argparse.Namespace) -> None:
    from ._resource_list import sched_sets

    if args.format != "default":
        raise ValueError(f"unknown format '{args.format}'")
    wanted = {q for item in args.queue for q in item.split(",") if q}
    conf = handle.rpc("config.get").get()
    names = handle.rpc("job-manager.queue-list", nodeid=0).get()["queues"]
    for name in wanted:
        if name not in names:
            raise ValueError(f"No such queue: {name}")
    sets = sched_sets(handle)
    rows = []
    for name in names or [None]:
        if wanted and name not in wanted:
            continue
        payload = {"name": name} if name is not None else {}
        status = handle.rpc("job-manager.queue-status", payload, nodeid=0).get()
        rows.append(_row(conf, name, status, _counts(sets, _get(conf, "queues", name or "",
                                                                  "requires"))))
    named = bool(names)
    if not args.no_header:
        header = ["QUEUE   " if named else "", "EN", "ST", "TDEFAULT", "  TLIMIT",
                  "    NNODES", "    NCORES", "     NGPUS"]
        print(" ".join(header))
    for cells in rows:
        if named:
            cells[0] = f"{cells[0]:<8.8}"
        else:
            cells[0] = ""  # flux-core drops the empty column, not its separator
        print(" ".join(cells))

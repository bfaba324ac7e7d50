"""``flux update JOBID KEY=VALUE ...``: request jobspec updates of a pending or running
job (``job-manager.update``), as flux-core 0.88's.

Short keys mean ``attributes.system.KEY`` (``name`` means
``attributes.system.job.name``); a duration may be an RFC 23 duration or a
relative ``+FSD``/``-FSD`` from the job's current one; other values are JSON when
they parse as JSON, else strings.  Errors print ``flux-update: ERROR: TEXT``.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    import argparse
    from typing import Any, Optional

    import flux

SUMMARY = "Update active jobs"

PROG = "flux-update"

_ALIASES = {"name": "attributes.system.job.name"}


class Updates:
    """The ``updates`` object of one request, built from KEY=VALUE words."""

    def __init__(self, jobid: int, handle: Optional[flux.Flux] = None) -> None:
        self.jobid = jobid
        self._handle = handle
        self.updates: dict[str, Any] = {}
        self._jobspec: Optional[dict] = None

    @property
    def handle(self) -> flux.Flux:
        if self._handle is None:
            import flux

            self._handle = flux.Flux()
        return self._handle

    def _current_duration(self) -> float:
        """The job's duration, with earlier updates applied (job-info's CURRENT)."""
        if self._jobspec is None:
            answer = self.handle.rpc("job-info.lookup", {
                "id": self.jobid, "keys": ["jobspec"], "flags": 3}).get()
            self._jobspec = answer["jobspec"]
        system = (self._jobspec or {}).get("attributes", {}).get("system", {})
        return float(system.get("duration", 0.0))

    def _duration(self, value: str) -> float:
        import math

        from flux.job.Jobspec import parse_fsd

        from ._job_outputformat import fsd

        jobid = _f58(self.jobid)
        if value.startswith(("-", "+")):
            duration = self._current_duration()
            if duration == 0:
                raise ValueError(f"duration for {jobid} is unlimited, can't update by {value}")
            amount = parse_fsd(value[1:])
            if value.startswith("-"):
                result = duration - amount
                if result <= 0.0:
                    raise ValueError(f"current duration for {jobid} ({fsd(duration)})"
                                     f" cannot be reduced by {value[1:]}")
            else:
                result = duration + amount
        else:
            result = parse_fsd(value)
        return 0.0 if math.isinf(result) else result

    def add(self, key: str, value: str) -> None:
        import json

        key = _ALIASES.get(key, key)
        if not key.startswith(("attributes.", "resources.", "tasks.")):
            key = f"attributes.system.{key}"
        parsed: Any
        if key == "attributes.system.duration":
            parsed = self._duration(value)
        else:
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = value
        self.updates[key] = parsed

    def wait(self, t0: float) -> None:
        """Until a ``jobspec-update`` with these updates, posted since ``t0``, is seen."""
        from flux.job import event_watch

        for event in event_watch(self.handle, self.jobid):
            if event.name == "jobspec-update" and event.timestamp > t0 \
                    and self.updates.items() <= event.context.items():
                return


def _f58(jobid: int) -> str:
    from flux.job.JobID import JobID

    return JobID(jobid).f58


def _jobid(text: str) -> int:
    from flux.job.JobID import JobID

    return JobID(text)


_jobid.__name__ = "JobID"  # argparse names the type in its error


def _parser() -> argparse.ArgumentParser:
    from ._job_cli import parser as make_parser

    p = make_parser(PROG)
    p.add_argument("-n", "--dry-run", "--dry", action="store_true",
                   help="Do not apply any updates, just emit update payload to stdout")
    p.add_argument("-v", "--verbose", action="store_true", default=0,
                   help="Be more verbose. Log updated items after success.")
    p.add_argument("--wait", action="store_true",
                   help="Wait for updates to appear in job eventlog before exiting")
    p.add_argument("jobid", metavar="JOBID", type=_jobid, help="Target jobid")
    p.add_argument("updates", metavar="KEY=VALUE", type=str, nargs="+",
                   help="Requested jobspec updates in KEY=VALUE form")
    return p


def main(argv: list[str]) -> int:
    import time

    from ._job_cli import run

    args = _parser().parse_args(argv)
    t0 = time.time()

    def body() -> int:
        import json

        updates = Updates(args.jobid)
        for word in args.updates:
            key, _, value = word.partition("=")
            updates.add(key, value)
        if args.dry_run:
            print(json.dumps(updates.updates))
            return 0
        updates.handle.rpc("job-manager.update",
                           {"id": args.jobid, "updates": updates.updates}).get()
        if args.wait:
            updates.wait(t0)
        if args.verbose:
            for key, value in updates.updates.items():
                print(f"{PROG}: INFO: updated {key} to {value}", file=sys.stderr)
        return 0

    return run(PROG, body)

"""``flux pkill``: cancel jobs whose name matches a pattern or whose id is in a range.

flux-core 0.88's: the selection is ``flux pgrep``'s; each job is cancelled
(``job-manager.raise`` type cancel), a refusal logged
``flux-pkill: ERROR: ID: cancel: TEXT`` (exit status 1), then
``flux-pkill: INFO: Canceled N job(s)``; ``--wait`` waits for each cancelled job's
end.  Exit status 1 when nothing matches.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    import argparse
    from typing import Any

SUMMARY = "Cancel jobs by name or id range"

PROG = "flux-pkill"


def main(argv: list[str]) -> int:
    from ._job_cli import run
    from .pgrep import parse_args

    args = parse_args(PROG, argv)
    return run(PROG, lambda: _main(args))


def _main(args: argparse.Namespace) -> int:
    import flux
    from flux.job.kill import cancel_async
    from flux.job.wait import result_async

    from .pgrep import log, select_jobs

    handle = flux.Flux()
    jobs = select_jobs(PROG, args, handle)
    if not jobs:
        return 1
    done = {"success": 0, "exitcode": 0}

    def waited(future: Any, job: Any) -> None:
        try:
            future.get_dict()
        except OSError:
            pass

    def cancelled(future: Any, job: Any) -> None:
        try:
            future.get()
        except OSError as exc:
            done["exitcode"] = 1
            log(PROG, f"{job.id}: cancel: {exc}", "ERROR: ")
            return
        done["success"] += 1
        if args.wait:
            result_async(handle, job.id).then(waited, job)

    for job in jobs:
        cancel_async(handle, job.id).then(cancelled, job)
    handle.reactor_run()
    count = done["success"]
    log(PROG, f"Canceled {count} job{'s' if count != 1 else ''}", "INFO: ")
    return done["exitcode"]

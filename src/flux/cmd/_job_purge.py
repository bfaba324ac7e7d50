"""``flux job purge``: remove inactive jobs from the instance, as flux-core 0.88's.

Without ids, ``job-manager.purge`` is asked in batches (``--batch``, 50 by default)
until a batch comes back short; with ids, ``job-manager.purge-id`` for each.
Without ``--force`` nothing is removed: the count that would be is printed.
"""

from __future__ import annotations

from .job import fatal, future_error, open_handle, parse_jobid

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from ._kvs_options import Args


def _finish(h: Any, force: bool, total: int) -> None:
    try:
        inactive = h.rpc("job-manager.stats-get").get()["inactive_jobs"]
    except (OSError, KeyError, TypeError):
        fatal("purge: failed to fetch inactive job count")
    if force:
        print(f"purged {total} inactive jobs, {inactive} remaining")
    else:
        print(f"use --force to purge {total} of {inactive} inactive jobs")


def cmd_purge(args: Args) -> int:
    force = args.hasopt("force")
    h = open_handle()
    total = 0
    if args.args:
        ids = [parse_jobid(text) for text in args.args]
        futures = [h.rpc("job-manager.purge-id", {"id": jobid, "force": int(force)})
                   for jobid in ids]
        for future in futures:
            try:
                total += future.get()["count"]
            except OSError as exc:
                fatal(f"purge: {future_error(exc)}")
    else:
        age_limit = args.get_duration("age-limit", -1.0)
        num_limit = args.get_int("num-limit", -1)
        batch = args.get_int("batch", 50)
        while True:
            try:
                count = h.rpc("job-manager.purge", {
                    "age_limit": age_limit, "num_limit": num_limit, "batch": batch,
                    "force": force}).get()["count"]
            except OSError as exc:
                fatal(f"purge: {future_error(exc)}")
            total += count
            if not force or count != batch:
                break
    _finish(h, force, total)
    return 0

"""The jobs an instance held before it stopped, read back from the KVS (RFC 16 layout).

With a statedir the KVS survives a restart, and with it every job's directory
``job.<dothex id>`` (``eventlog``, ``jobspec``, ``R``).  ``load`` walks that
tree as flux-core's job-manager does at start, in job id order, and replays
each eventlog into the manager; a job whose data cannot be read is skipped
and reported rather than stopping the others.
"""

from __future__ import annotations

import json

from flux import eventlog
from flux.constants import FLUX_KVS_READDIR

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable, Iterator

    from .manager import JobManager

__all__ = ["CHECKPOINT_KEY", "job_dirs", "load"]

#: where flux-core's job-manager keeps its state between runs
CHECKPOINT_KEY = "checkpoint.job-manager"


def job_dirs(lookup: Callable[[str, int], dict]) -> Iterator[tuple[int, str]]:
    """(id, key) of every job directory under ``job`` (four levels of 16-bit hex)."""
    def walk(key: str, depth: int, prefix: str) -> Iterator[tuple[int, str]]:
        try:
            entries = lookup(key, FLUX_KVS_READDIR)["data"]
        except OSError:
            return
        for name in sorted(entries):
            if len(name) != 4:
                continue
            try:
                int(name, 16)
            except ValueError:
                continue
            if depth == 3:
                yield int(prefix + name, 16), f"{key}.{name}"
            else:
                yield from walk(f"{key}.{name}", depth + 1, prefix + name)
    yield from walk("job", 0, "")


def _value(lookup: Callable[[str, int], dict], key: str) -> bytes | None:
    from flux.services.kvs.treeobj import decode_val

    try:
        return decode_val(lookup(key, 0))
    except OSError:
        return None


def load(manager: JobManager, lookup: Callable[[str, int], dict],
         log: Callable[[str], object]) -> int:
    """Replay every stored job into ``manager``; the number loaded."""
    count = 0
    checkpoint = _value(lookup, CHECKPOINT_KEY)
    if checkpoint is not None:
        from .queues import QueueError

        try:
            saved = json.loads(checkpoint)
            manager.max_jobid = max(manager.max_jobid, int(saved["max_jobid"]))
            if saved.get("queue") is not None:
                manager.queues.restore(saved.get("version", 0), saved["queue"],
                                       manager.stop_queues_on_restart)
        except (ValueError, KeyError, TypeError, AttributeError, QueueError):
            log(f"restart: {CHECKPOINT_KEY}: invalid")
    for jobid, key in job_dirs(lookup):
        text = _value(lookup, f"{key}.eventlog")
        spec = _value(lookup, f"{key}.jobspec")
        r_text = _value(lookup, f"{key}.R")
        try:
            if text is None or spec is None:
                raise ValueError("eventlog or jobspec missing")
            entries = eventlog.decode(text)
            if not entries or entries[0]["name"] != "submit":
                raise ValueError("the first event is not submit")
            manager.replay(jobid, entries, json.loads(spec),
                           json.loads(r_text) if r_text is not None else None)
        except (ValueError, OSError) as exc:
            log(f"job {jobid} not replayed: {exc}")
            continue
        count += 1
    manager.restarted()
    return count

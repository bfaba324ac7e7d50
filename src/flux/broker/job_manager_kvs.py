"""What the job-manager writes to the KVS: eventlog appends, its checkpoint, purges.

Eventlog appends are gathered into one KVS commit per loop iteration (the loop
calls ``flush``), and what waits for them (a new job's release, a response that
must follow its events) runs once that commit is done, as flux-core's batch
commits.  The checkpoint keeps ``max_jobid`` and the queues where flux-core
keeps them, so ids keep increasing after a restart.
"""

from __future__ import annotations

import errno

from flux.severity import LOG_ERR

from .kvs import KVS
from .loop import Loop

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable

    from flux.services.job_manager.job import Job
    from flux.services.job_manager.manager import JobManager

__all__ = ["JobManagerKVS"]


class _Batch:
    """One KVS commit of eventlog appends, with what waits for it."""

    __slots__ = ("ops", "release", "then")

    def __init__(self) -> None:
        self.ops: list = []
        self.release: list[int] = []
        self.then: list[Callable[[int], None]] = []


class JobManagerKVS:
    """The job-manager's KVS commits; ``committed(ids)`` after each batch, with the ids
    of the new jobs whose submit events it held."""

    def __init__(self, loop: Loop, kvs: KVS, log: Callable[[int, str], Any],
                 committed: Callable[[list[int]], None]) -> None:
        self.loop = loop
        self.kvs = kvs
        self.logf = log
        self.committed = committed
        self._batch = _Batch()
        self._checkpointed = 0  # the max_jobid the KVS holds already
        self._queues_saved: list = [{"enable": True, "start": True}]  # what the KVS holds

    def append(self, jobid: int, line: str) -> None:
        from flux.job.kvs import kvs_key
        from flux.services.kvs.txn import op_append

        batch = self._batch
        if not batch.ops and not batch.release and not batch.then:
            self.loop.mark_dirty(self)
        batch.ops.append(op_append(kvs_key(jobid, "eventlog"), line.encode()))

    def after_commit(self, then: Callable[[int], None], release: list[int]) -> None:
        """``then(errnum)`` and the release of ``release`` once the appends before are
        committed."""
        batch = self._batch
        if not batch.ops and not batch.release and not batch.then:
            self.loop.mark_dirty(self)
        batch.then.append(then)
        batch.release.extend(release)

    def flush(self) -> None:
        """The loop's end-of-iteration call: commit the eventlog appends gathered."""
        batch = self._batch
        if not batch.ops and not batch.release and not batch.then:
            return
        self._batch = _Batch()
        if not batch.ops:
            self._committed(batch, 0)
            return
        self.kvs.service.commit_ops("primary", batch.ops, 0,
                                    lambda errnum, _root: self._committed(batch, errnum))

    def _committed(self, batch: _Batch, errnum: int) -> None:
        if errnum:
            self.logf(LOG_ERR, f"job-manager: eventlog update failed: {errno.errorcode.get(errnum, errnum)}")
        for then in batch.then:
            then(errnum)
        self.committed(batch.release)

    # -- the checkpoint ---------------------------------------------------------------------

    def restored(self, core: JobManager) -> None:
        """The jobs and queues the KVS held are back: nothing new to checkpoint yet."""
        self._checkpointed = core.max_jobid
        self._queues_saved = core.queues.save()

    def checkpoint(self, core: JobManager) -> None:
        """Keep max_jobid where flux-core keeps it, so ids keep increasing after a restart
        (only when something changed: an instance without jobs leaves its KVS untouched)."""
        if core.max_jobid <= self._checkpointed and core.queues.save() == self._queues_saved:
            return  # nothing new: the KVS stays as it was
        batch = self._batch
        if not batch.ops and not batch.release and not batch.then:
            self.loop.mark_dirty(self)
        batch.ops.append(self._checkpoint_op(core))

    def _checkpoint_op(self, core: JobManager) -> Any:
        """The put of the job-manager's state: max_jobid and the queues (flux-core's)."""
        from flux.message import compact_json
        from flux.services.job_manager.restart import CHECKPOINT_KEY
        from flux.services.kvs.txn import op_put

        queues = core.queues.save()
        self._checkpointed, self._queues_saved = core.max_jobid, queues
        return op_put(CHECKPOINT_KEY, compact_json(
            {"version": 1, "max_jobid": core.max_jobid, "queue": queues}).encode())

    # -- purge ------------------------------------------------------------------------------

    def remove(self, core: JobManager, jobs: list[Job], then: Callable[[int], None]) -> None:
        """Unlink the jobs' directories in one commit, with the checkpoint when the newest
        job goes (so ids keep increasing); ``then(errnum)`` once committed."""
        from flux.job.kvs import kvs_key
        from flux.services.kvs.txn import op_unlink

        ops = [op_unlink(kvs_key(job.id)) for job in jobs]
        if any(job.id == core.max_jobid for job in jobs):
            ops.append(self._checkpoint_op(core))

        def committed(errnum: int, _root: Any) -> None:
            if errnum:
                self.logf(LOG_ERR, "error committing purge KVS transaction: "
                                   f"{errno.errorcode.get(errnum, errnum)}")
            then(errnum)

        self.kvs.service.commit_ops("primary", ops, 0, committed)

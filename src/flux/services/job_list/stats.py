"""Job counts by state and by result, for the instance and per queue: what
``job-list.job-stats`` answers (``flux jobs --stats``, ``flux queue list``)."""

from __future__ import annotations

from flux.services.job_list.job import INACTIVE, NEW, Job

__all__ = ["JobStats", "Stats"]

#: state bit -> name, for the states counted (NEW is not)
_STATES = ((2, "depend"), (4, "priority"), (8, "sched"), (16, "run"), (32, "cleanup"),
           (64, "inactive"))


class Stats:
    """One set of counts."""

    __slots__ = ("canceled", "failed", "inactive_purged", "states", "successful", "timeout")

    def __init__(self) -> None:
        self.states = dict.fromkeys((bit for bit, _ in _STATES), 0)
        self.successful = self.failed = self.canceled = self.timeout = 0
        self.inactive_purged = 0

    def _result(self, job: Job, delta: int) -> None:
        if job.success:
            self.successful += delta
        elif job.exception_occurred and job.exception_type == "cancel":
            self.canceled += delta
        elif job.exception_occurred and job.exception_type == "timeout":
            self.timeout += delta
        else:
            self.failed += delta

    def add(self, job: Job, state: int) -> None:
        if state == NEW:
            return
        self.states[state] += 1
        if state == INACTIVE:
            self._result(job, 1)

    def move(self, job: Job, newstate: int) -> None:
        if job.state != NEW:
            self.states[job.state] -= 1
        self.add(job, newstate)

    def remove(self, job: Job) -> None:
        if job.state != NEW:
            self.states[job.state] -= 1
        if job.state == INACTIVE:
            self._result(job, -1)

    def purge(self, job: Job) -> None:
        self.remove(job)
        self.inactive_purged += 1

    def encode(self, name: str | None = None) -> dict:
        states = {label: self.states[bit] for bit, label in _STATES}
        states["total"] = sum(self.states.values())
        out = {"job_states": states, "successful": self.successful, "failed": self.failed,
               "canceled": self.canceled, "timeout": self.timeout,
               "inactive_purged": self.inactive_purged}
        if name is not None:
            out["name"] = name
        return out


class JobStats:
    """The instance's counts and each named queue's."""

    def __init__(self) -> None:
        self.all = Stats()
        self.queues: dict[str, Stats] = {}

    def _queue(self, job: Job, create: bool) -> Stats | None:
        if job.queue is None:
            return None
        stats = self.queues.get(job.queue)
        if stats is None and create:
            stats = self.queues[job.queue] = Stats()
        return stats

    def update(self, job: Job, newstate: int) -> None:
        """Before ``job`` moves to ``newstate``."""
        self.all.move(job, newstate)
        queue = self._queue(job, True)
        if queue is not None:
            queue.move(job, newstate)

    def remove_queue(self, job: Job) -> None:
        """Before a jobspec update that may change the job's queue."""
        queue = self._queue(job, False)
        if queue is not None:
            queue.remove(job)

    def add_queue(self, job: Job) -> None:
        """After it."""
        queue = self._queue(job, True)
        if queue is not None:
            queue.add(job, job.state)

    def purge(self, job: Job) -> None:
        """An inactive job purged from the instance."""
        self.all.purge(job)
        queue = self._queue(job, False)
        if queue is not None:
            queue.purge(job)

    def encode(self) -> dict:
        out = self.all.encode()
        out["queues"] = [stats.encode(name) for name, stats in self.queues.items()]
        return out

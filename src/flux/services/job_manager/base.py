"""What every part of the job-manager shares: its state, its action list, ``Refused``.

``JobManager`` (``manager.py``) is one object made of a class per concern
(``transitions.py``, ``sched_interface.py``, ``wait.py``...), each a subclass of
``ManagerBase``.  The state they share is set up here, and the methods one
concern calls on another are declared here for the type checker, so each file
can be read, and checked, on its own.
"""

from __future__ import annotations

import time

from . import job as J
from .job import Job
from .queues import Queues

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional


class Refused(Exception):
    """A request the manager answers with an error: ``errnum`` and flux-core's text."""

    def __init__(self, errnum: int, text: Optional[str] = None) -> None:
        super().__init__(errnum, text)
        self.errnum = errnum
        self.text = text


def copy_json(value: Any) -> Any:
    """A deep copy of JSON data (events keep the annotations of their moment)."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


class ManagerBase:
    """The jobs, the alloc queue and the two interfaces' bookkeeping (scheduler, exec)."""

    def __init__(self, owner: int, clock: Callable[[], float] = time.time,
                 log: Optional[Callable[[str], Any]] = None) -> None:
        self.owner = owner
        self.clock = clock
        self.log = log or (lambda text: None)
        self.out: list[tuple] = []
        self.active: dict[int, Job] = {}
        self.inactive: dict[int, Job] = {}
        self.max_jobid = 0
        # scheduler interface (RFC 27)
        self.sched_online = False
        self.sched_sender: Optional[str] = None
        self.alloc_limit = 0
        self.queue: dict[int, Job] = {}  # SCHED jobs not yet sent to the scheduler
        self.sent: dict[int, Job] = {}  # alloc requests the scheduler holds
        # exec interface (RFC 32)
        self.start_topic: Optional[str] = None
        self.exec_sender: Optional[str] = None
        # job-manager.wait
        self.zombies: dict[int, Job] = {}
        self.wait_any: list[Any] = []
        self.waiters = 0
        self.waitables = 0
        # job-manager.events-journal: (request, allow, deny)
        self.listeners: list[tuple[Any, Optional[dict], Optional[dict]]] = []
        self.journal_events = 0
        # RFC 33 queues; job-manager.drain and job-manager.idle requests
        self.queues = Queues(self._queue_changed)
        self.stop_queues_on_restart = False
        self.drain_requests: list[Any] = []
        self.idle_requests: list[Any] = []
        # job-manager.update requests waiting for the scheduler's sched.expiration answer
        self.expiration_checks: list[tuple[Any, Job, dict, bool, int, bool, float]] = []
        self.expiration_sent: list[int] = []  # <exec>.expiration requests, in order
        # purge: [job-manager] inactive-age-limit / inactive-num-limit (-1: unlimited)
        self.inactive_age_limit = -1.0
        self.inactive_num_limit = -1

    # -- lookups --------------------------------------------------------------------

    def find(self, jobid: int) -> Optional[Job]:
        return self.active.get(jobid) or self.inactive.get(jobid)

    def take(self) -> list[tuple]:
        """The actions accumulated since the last call."""
        out, self.out = self.out, []
        return out

    def running_count(self) -> int:
        return sum(1 for j in self.active.values() if j.state & J.RUNNING)

    def _authorized(self, job: Job, userid: int, owner: bool) -> bool:
        return owner or userid == job.userid

    def _lookup_active(self, jobid: Any, unknown: str, errnum: int) -> Job:
        job = self.active.get(jobid)
        if job is None:
            raise Refused(errnum, "job is inactive" if jobid in self.inactive else unknown)
        return job

    # -- what the concerns call on each other (defined in the file named) --------------

    if TYPE_CHECKING:  # pragma: no cover
        # transitions.py
        def post(self, job: Job, name: str, context: Optional[dict] = None,
                 commit: bool = True, timestamp: float = 0.0) -> None: ...
        def _update(self, job: Job, name: str, entry: dict, context: dict) -> None: ...
        def _action(self, job: Job) -> None: ...
        # sched_interface.py
        def _sched_work(self) -> None: ...
        def _dequeue(self, job: Job) -> None: ...
        def _cancel_alloc(self, job: Job) -> None: ...
        # exec_interface.py
        def _start(self, job: Job) -> None: ...
        # exceptions.py
        def raise_exception(self, job: Job, kind: str, severity: int, userid: Optional[int],
                            note: Optional[str], wait_status: int = -1) -> None: ...
        # priority.py
        @staticmethod
        def _priority_of(job: Job) -> int: ...
        def _reprioritize(self, job: Job, priority: int) -> None: ...
        # dependencies.py
        def _check_dependencies(self, job: Job) -> Optional[str]: ...
        def _forget_dependent(self, job: Job) -> None: ...
        def _release_after(self, job: Job, mask: int) -> None: ...
        def _release_dependents(self, job: Job) -> None: ...
        # annotations.py
        def _annotate(self, job: Job, update: dict) -> None: ...
        def _clear_annotations(self, job: Job, key: Optional[str]) -> None: ...
        # wait.py
        def _wait_notify(self, job: Job) -> None: ...
        # journal.py
        def _journal(self, job: Job, name: str, entry: dict) -> None: ...
        # drain.py
        def drain_check(self) -> None: ...
        # queue_requests.py
        def _queue_changed(self, name: Optional[str], event: str) -> None: ...
        # purge.py
        def _configure_purge(self, jm: dict) -> None: ...

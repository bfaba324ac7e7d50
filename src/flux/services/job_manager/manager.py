"""The job-manager's state machine (RFC 21), sans I/O: inputs in, actions out.

Every input is a method call (a batch of submitted jobs, a request's
decoded payload, a scheduler or exec-service response); what the broker must
then do is appended to ``out`` as tuples, which the wiring
(``flux.broker.job_manager``) drains:

- ``("append", id, line)``: append an eventlog line to ``job.<id>.eventlog``;
- ``("respond", req, payload)`` / ``("error", req, errnum, text)``: answer a
  request the manager kept (a waiter, a journal listener);
- ``("respond-committed", req, payload)``: the same, once the eventlog appends
  before it are in the KVS (``drain`` and ``idle``, as flux-core's batch respond);
- ``("send", topic, payload)``: a request to the scheduler or exec service
  (``sched.alloc``, ``sched.free``, ``sched.cancel``, ``sched.prioritize``,
  ``<exec>.start``), whose responses come back by topic;
- ``("publish", topic, payload)``: an event (``job-exception``, ``shell-<id>.kill``).

``JobManager`` is made of one class per concern, each in its own file, much as
flux-core's job-manager is made of ``event.c``, ``alloc.c``, ``start.c``...:
events and states (``transitions.py``), new and replayed jobs
(``submission.py``), urgency and priority (``priority.py``), ``after*``
dependencies (``dependencies.py``), exceptions (``exceptions.py``), annotations
and memos (``annotations.py``), signals (``kill.py``), waits (``wait.py``), the
journal (``journal.py``), the scheduler and exec interfaces
(``sched_interface.py``, ``exec_interface.py``), queue requests
(``queue_requests.py``), drain and idle (``drain.py``), updates (``update.py``),
purge (``purge.py``) and queries (``queries.py``); their shared state is in
``base.py``.  A request that cannot be honoured raises :class:`Refused` with
flux-core's errno and text.
"""

from __future__ import annotations

import errno

from .annotations import Annotations
from .base import ManagerBase, Refused
from .dependencies import Dependencies
from .drain import Drain
from .exceptions import Exceptions
from .exec_interface import ExecInterface
from .journal import Journal
from .kill import Kill
from .priority import Priority
from .purge import Purge
from .queries import Queries
from .queries import parse_slice as parse_slice
from .queue_requests import QueueRequests
from .queues import QueueError
from .sched_interface import SchedInterface
from .submission import Submission
from .transitions import Transitions
from .update import Update
from .wait import Waits

__all__ = ["Refused", "JobManager"]


class JobManager(Transitions, Submission, Priority, Dependencies, Exceptions, Annotations,
                 Kill, Waits, Journal, SchedInterface, ExecInterface, QueueRequests, Drain,
                 Update, Purge, Queries, ManagerBase):
    """The jobs, the alloc queue and the two interfaces (scheduler, exec), sans I/O."""

    def configure(self, conf: dict) -> None:
        """The instance configuration's ``[queues]`` and ``[job-manager]`` parts."""
        jm = conf.get("job-manager")
        jm = jm if isinstance(jm, dict) else {}
        self.stop_queues_on_restart = bool(jm.get("stop-queues-on-restart", False))
        self._configure_purge(jm)
        try:
            self.queues.configure(conf.get("queues"))
        except QueueError as exc:
            raise Refused(errno.EINVAL, str(exc)) from None

"""The ``job-manager.queue-*`` requests over the RFC 33 queues (``queues.py``),
and what a queue that starts or stops does to its jobs, as flux-core's queue.c.
"""

from __future__ import annotations

import errno

from . import job as J
from .base import ManagerBase, Refused
from .queues import QueueError

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional


class QueueRequests(ManagerBase):
    """Queue list, status, enable/disable, start/stop."""

    def _queue_changed(self, name: Optional[str], event: str) -> None:
        """A queue started (its SCHED jobs go to the scheduler) or stopped (they are
        withdrawn: queued ones dequeued, pending ones canceled), as flux-core's queue.c."""
        if event == "start":
            for job in self.active.values():
                if job.queue_name == name and job.state == J.SCHED and not job.alloc_queued \
                        and not job.alloc_pending and job.priority != J.PRIORITY_MIN:
                    self.queue[job.id] = job
                    job.alloc_queued = True
            self._sched_work()
        elif event == "stop":
            for job in self.active.values():
                if job.queue_name == name:
                    if job.alloc_queued:
                        self._dequeue(job)
                    elif job.alloc_pending:
                        self._cancel_alloc(job)

    @staticmethod
    def _queue_args(obj: Any, key: str) -> tuple[Optional[str], bool, Optional[str], bool]:
        name, flag, reason, all_ = obj.get("name"), obj.get(key), obj.get("reason"), obj.get("all")
        if (name is not None and not isinstance(name, str)) or not isinstance(flag, bool) \
                or (reason is not None and not isinstance(reason, str)) \
                or not isinstance(all_, bool):
            raise Refused(errno.EPROTO)
        return name, flag, reason, all_

    def queue_list(self) -> dict:
        return {"queues": self.queues.names()}

    def queue_status(self, obj: dict) -> dict:
        name = obj.get("name")
        if name is not None and not isinstance(name, str):
            raise Refused(errno.EPROTO)
        try:
            return self.queues.lookup(name).status(self.sched_online)
        except QueueError as exc:
            raise Refused(errno.EINVAL, str(exc)) from None

    def queue_enable(self, obj: dict) -> None:
        """``job-manager.queue-enable``: ``{name?, enable, reason?, all}``."""
        name, enable, reason, all_ = self._queue_args(obj, "enable")
        if not enable and reason is None:
            raise Refused(errno.EINVAL, "reason is required for disable")
        if name is None and self.queues.have_named() and not all_:
            raise Refused(errno.EINVAL, "Use --all to apply this command to all queues")
        try:
            if enable:
                self.queues.enable(name)
            else:
                self.queues.disable(name, reason)
        except QueueError as exc:
            raise Refused(errno.EINVAL, str(exc)) from None

    def queue_start(self, obj: dict) -> None:
        """``job-manager.queue-start``: ``{name?, start, reason?, all, nocheckpoint?}``."""
        name, start, reason, all_ = self._queue_args(obj, "start")
        nocheckpoint = obj.get("nocheckpoint", False)
        if not isinstance(nocheckpoint, bool):
            raise Refused(errno.EPROTO)
        if name is None and self.queues.have_named() and not all_:
            raise Refused(errno.EINVAL, "Use --all to apply this command to all queues")
        try:
            if start:
                self.queues.start(name, nocheckpoint)
            else:
                self.queues.stop(name, reason, nocheckpoint)
        except QueueError as exc:
            raise Refused(errno.EINVAL, str(exc)) from None

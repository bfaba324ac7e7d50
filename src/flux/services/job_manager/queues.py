"""The job-manager's queues (RFC 33), sans I/O: which exist, and whether each takes
submissions (enabled) and sends its jobs to the scheduler (started).

Without a ``[queues]`` table there is one anonymous queue, enabled and started;
with one, only the named queues exist, each enabled and stopped until an
administrator starts it (as flux-core).  Changes are reported to ``notify(name,
event)`` so the manager can queue or withdraw the alloc requests of the jobs in a
started or stopped queue.  ``save``/``restore`` are the ``queue`` array of the
job-manager's checkpoint, in flux-core's version 1 form; a ``--nocheckpoint`` stop
is not remembered across a restart.
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Iterator, Optional

__all__ = ["QueueError", "Queue", "Queues"]


class QueueError(Exception):
    """A queue operation refused; the text is flux-core's."""


class Queue:
    """One queue: ``name`` None for the anonymous queue."""

    __slots__ = ("name", "enabled", "disable_reason", "started", "started_sticky",
                 "stop_reason", "requires")

    def __init__(self, name: Optional[str], config: Optional[dict] = None) -> None:
        self.name = name
        self.enabled = True
        self.disable_reason: Optional[str] = None
        self.started = self.started_sticky = name is None
        self.stop_reason: Optional[str] = None
        self.requires: Optional[list] = (config or {}).get("requires")

    def status(self, sched_ready: bool) -> dict:
        """``job-manager.queue-status``'s answer (a scheduler offline stops every queue)."""
        start, reason = (self.started, self.stop_reason) if sched_ready \
            else (False, "Scheduler is offline")
        out: dict = {"enable": self.enabled, "start": start}
        if not self.enabled and self.disable_reason:
            out["disable_reason"] = self.disable_reason
        if not start and reason:
            out["stop_reason"] = reason
        return out


class Queues:
    """The anonymous queue, or the named ones from ``[queues]``."""

    def __init__(self, notify: Optional[Callable[[Optional[str], str], Any]] = None) -> None:
        self.anon: Optional[Queue] = Queue(None)
        self.named: Optional[dict[str, Queue]] = None
        self.notify = notify or (lambda name, event: None)
        self._restoring = False

    # -- lookups ------------------------------------------------------------------------

    def lookup(self, name: Optional[str]) -> Queue:
        if name is not None:
            queue = self.named.get(name) if self.named is not None else None
            if queue is None:
                raise QueueError(f"'{name}' is not a valid queue")
            return queue
        if self.named is not None:
            raise QueueError("a named queue is required")
        assert self.anon is not None
        return self.anon

    def have_named(self) -> bool:
        return self.named is not None

    def names(self) -> list[str]:
        return list(self.named) if self.named is not None else []

    def all(self) -> Iterator[Queue]:
        if self.named is not None:
            yield from list(self.named.values())
        elif self.anon is not None:
            yield self.anon

    def is_started(self, name: Optional[str]) -> bool:
        """Whether a job naming ``name`` (None: no queue) may be sent to the scheduler."""
        try:
            return self.lookup(name).started
        except QueueError:
            return False

    # -- configuration ---------------------------------------------------------------------

    def configure(self, config: Any) -> None:
        """Apply a ``[queues]`` table: queues gone are removed, new ones added, kept ones
        keep their administrative state; none at all means the anonymous queue."""
        if config is not None and not isinstance(config, dict):
            raise QueueError("queues must be a table")
        if config:
            for name, value in config.items():
                if not isinstance(value, dict):
                    raise QueueError(f"queue {name}: configuration must be a table")
            if self.named is None:
                self.named = {}
                self.anon = None
                self.notify(None, "remove")
            for name in list(self.named):
                if name not in config:
                    del self.named[name]
                    self.notify(name, "remove")
            for name, value in config.items():
                queue = self.named.get(name)
                if queue is None:
                    self.named[name] = Queue(name, value)
                    self.notify(name, "add")
                else:
                    queue.requires = value.get("requires")
        elif self.named is not None:
            removed = list(self.named)
            self.named = None
            self.anon = Queue(None)
            for name in removed:
                self.notify(name, "remove")
            self.notify(None, "add")

    # -- administration (queue-enable, queue-start) --------------------------------------

    def _targets(self, name: Optional[str]) -> list[Queue]:
        if name is None and self.named is not None:
            return list(self.named.values())
        return [self.lookup(name)]

    def enable(self, name: Optional[str]) -> None:
        for queue in self._targets(name):
            queue.enabled = True
            queue.disable_reason = None

    def disable(self, name: Optional[str], reason: Optional[str]) -> None:
        if reason is None:
            raise QueueError("reason is required for disable")
        for queue in self._targets(name):
            queue.enabled = False
            queue.disable_reason = reason

    def start(self, name: Optional[str], nocheckpoint: bool = False) -> None:
        for queue in self._targets(name):
            self._start(queue, nocheckpoint)

    def stop(self, name: Optional[str], reason: Optional[str], nocheckpoint: bool = False) -> None:
        for queue in self._targets(name):
            self._stop(queue, reason, nocheckpoint)

    def _start(self, queue: Queue, nocheckpoint: bool) -> None:
        queue.started = True
        if not nocheckpoint:
            queue.started_sticky = True
        queue.stop_reason = None
        if not self._restoring:
            self.notify(queue.name, "start")

    def _stop(self, queue: Queue, reason: Optional[str], nocheckpoint: bool) -> None:
        queue.started = False
        if not nocheckpoint:
            queue.started_sticky = False
        queue.stop_reason = reason
        if not self._restoring:
            self.notify(queue.name, "stop")

    # -- checkpoint --------------------------------------------------------------------------

    def save(self) -> list[dict]:
        out = []
        for queue in self.all():
            entry: dict = {"enable": queue.enabled, "start": queue.started_sticky}
            if queue.name is not None:
                entry["name"] = queue.name
            if not queue.enabled:
                entry["disable_reason"] = queue.disable_reason
            if not queue.started_sticky and queue.stop_reason:
                entry["stop_reason"] = queue.stop_reason
            out.append(entry)
        return out

    def restore(self, version: int, saved: Any, stop_on_restart: bool = False) -> None:
        """The checkpoint's states applied without notifications (unknown queues are
        ignored); then, as flux-core, ``stop_on_restart`` stops the started queues."""
        if version not in (0, 1) or not isinstance(saved, list):
            raise QueueError("invalid queue checkpoint")
        self._restoring = True
        try:
            for entry in saved:
                if not isinstance(entry, dict) or not isinstance(entry.get("enable"), bool):
                    raise QueueError("invalid queue checkpoint")
                name = entry.get("name")
                try:
                    queue = self.lookup(name if isinstance(name, str) else None)
                except QueueError:
                    continue
                if entry["enable"]:
                    queue.enabled, queue.disable_reason = True, None
                else:
                    queue.enabled = False
                    queue.disable_reason = entry.get("disable_reason") or entry.get("reason")
                if version == 1:
                    if entry.get("start"):
                        self._start(queue, False)
                    else:
                        self._stop(queue, entry.get("stop_reason"), False)
        finally:
            self._restoring = False
        if version == 1 and stop_on_restart:
            for queue in self.all():
                if queue.started:
                    self._stop(queue, "Automatically stopped due to restart", False)

"""The shell's writes to its job's guest namespace: eventlog entries appended to
``output``, ``input`` and ``exec.eventlog``, in the order they were made, batched into
one ``kvs.commit`` at a time (a busy task's output makes bigger batches, not more
commits)."""

from __future__ import annotations

import time

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

__all__ = ["Appender"]

#: a batch is committed once it holds this much, without waiting for the timer
_BATCH_MAX = 4 << 20


class Appender:
    """Queues eventlog entries per key; ``flush()`` commits what is queued."""

    def __init__(self, handle: Any, namespace: str, delay: float = 0.005) -> None:
        self.h = handle
        self.namespace = namespace
        self.delay = delay
        #: (key, chunks) in the order made; a key's consecutive entries share one list,
        #: joined at flush (adding bytes to bytes would copy the batch per entry)
        self.queue: list[tuple[str, list[bytes]]] = []
        self.size = 0
        self.inflight = False
        self.timer: Any = None
        self.idle_callbacks: list[Callable[[], None]] = []
        self.error: Optional[OSError] = None

    @property
    def busy(self) -> bool:
        """Something is queued or being committed."""
        return self.inflight or bool(self.queue)

    def append(self, key: str, name: str, context: Optional[dict],
               now: bool = False) -> None:
        from flux import eventlog

        line = eventlog.encode_entry(eventlog.entry_build(time.time(), name, context))
        data = line.encode()
        if self.queue and self.queue[-1][0] == key:
            self.queue[-1][1].append(data)
        else:
            self.queue.append((key, [data]))
        self.size += len(data)
        if now or self.delay <= 0 or self.size >= _BATCH_MAX:
            self.flush()
        elif self.timer is None and not self.inflight:
            self.timer = self.h.timer_watcher_create(self.delay, self._on_timer)
            self.timer.start()

    def _on_timer(self, *args: Any) -> None:
        self.timer = None
        self.flush()

    def flush(self) -> None:
        """Commit what is queued (after the commit in flight, if any)."""
        if self.inflight or not self.queue:
            if not self.inflight and not self.queue:
                self._idle()
            return
        if self.timer is not None:
            self.timer.stop()
            self.timer = None
        from flux.constants import FLUX_KVS_APPEND
        from flux.kvs.ops import put_raw_op

        ops = [put_raw_op(key, b"".join(chunks), FLUX_KVS_APPEND) for key, chunks in self.queue]
        self.queue, self.size = [], 0
        self.inflight = True
        fut = self.h.rpc("kvs.commit", {"namespace": self.namespace, "flags": 0, "ops": ops})
        fut.then(self._committed)

    def _committed(self, fut: Any) -> None:
        self.inflight = False
        try:
            fut.get()
        except OSError as exc:
            self.error = exc
        if self.queue:
            self.flush()
        else:
            self._idle()

    def _idle(self) -> None:
        callbacks, self.idle_callbacks = self.idle_callbacks, []
        for cb in callbacks:
            cb()

    def when_idle(self, callback: Callable[[], None]) -> None:
        """``callback()`` once everything queued so far is committed."""
        self.idle_callbacks.append(callback)
        self.flush()

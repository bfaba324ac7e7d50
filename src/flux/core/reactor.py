"""The Flux reactor: a small event loop over ``selectors`` (epoll on Linux).

It follows libev's model as flux-core exposes it: watchers are created
stopped; started, referenced watchers keep ``run()`` going; each iteration
runs prepare watchers, polls file descriptors with a timeout derived from the
timers, then dispatches I/O, expired timers, check and idle watchers.

A plain ``selectors`` loop is used rather than asyncio because a wake-up on
this kind of loop costs a fraction of asyncio's (see DESIGN.md "Where the time
goes"); :mod:`flux.core.aio` can drive a reactor from an asyncio loop instead.
"""

from __future__ import annotations

import errno
import heapq
import os
import selectors
import signal
import threading
import time
from collections import deque
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

from flux.constants import (
    FLUX_POLLERR,
    FLUX_POLLIN,
    FLUX_POLLOUT,
    FLUX_REACTOR_NOWAIT,
    FLUX_REACTOR_ONCE,
)

_monotonic = time.monotonic
_EVENT_READ = selectors.EVENT_READ
_EVENT_WRITE = selectors.EVENT_WRITE


class Source:
    """Reactor-side state of one watcher: what it waits for and its callback.

    ``fire(revents)`` is called by the reactor (a signal source gets the
    signal number instead); the user-facing classes in
    :mod:`flux.core.watchers` build on it.
    """

    __slots__ = (
        "reactor",
        "kind",
        "fire",
        "active",
        "referenced",
        "fd",
        "events",
        "deadline",
        "repeat",
        "signum",
        "_heap_seq",
        "__weakref__",
    )

    def __init__(self, reactor: "Reactor", kind: str, fire: Callable[[int], None]) -> None:
        self.reactor = reactor
        self.kind = kind
        self.fire = fire
        self.active = False
        self.referenced = True
        self.fd = -1
        self.events = 0
        self.deadline = 0.0
        self.repeat = 0.0
        self.signum = 0
        self._heap_seq = 0

    def start(self) -> None:
        if not self.active:
            self.reactor._start(self)

    def stop(self) -> None:
        if self.active:
            self.reactor._stop_source(self)

    def set_ref(self, referenced: bool) -> None:
        if referenced == self.referenced:
            return
        self.referenced = referenced
        if self.active:
            self.reactor._refcount += 1 if referenced else -1


class Reactor:
    """An event loop.  Not thread-safe: one reactor per thread."""

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()
        self._fd_sources: dict[int, list[Source]] = {}
        self._timers: list[tuple[float, int, Source]] = []
        self._timer_seq = 0
        self._prepare: list[Source] = []
        self._check: list[Source] = []
        self._idle: list[Source] = []
        # sources that run once per iteration, by kind
        self._phases = {"prepare": self._prepare, "check": self._check, "idle": self._idle}
        self._signals: dict[int, list[Source]] = {}
        self._old_handlers: dict[int, Any] = {}
        self._pending_signals: deque[int] = deque()
        self._wakeup_r = -1
        self._wakeup_w = -1
        self._soon: deque[Callable[[], None]] = deque()
        self._refcount = 0
        self._stop_flag = False
        self._error_flag = False
        self._now = _monotonic()

    # -- time -------------------------------------------------------------------

    def now_update(self) -> float:
        self._now = _monotonic()
        return self._now

    # -- deferred calls ---------------------------------------------------------

    def call_soon(self, func: Callable[[], None]) -> None:
        """Run ``func`` on the next iteration; keeps ``run()`` from blocking."""
        self._soon.append(func)

    # -- sources ----------------------------------------------------------------

    def _start(self, src: Source) -> None:
        kind = src.kind
        if kind == "fd":
            lst = self._fd_sources.setdefault(src.fd, [])
            lst.append(src)
            self._fd_update(src.fd)
        elif kind == "timer":
            self._timer_seq += 1
            src._heap_seq = self._timer_seq
            heapq.heappush(self._timers, (src.deadline, src._heap_seq, src))
        elif kind == "signal":
            self._signal_start(src)
        else:
            self._phases[kind].append(src)
        src.active = True
        if src.referenced:
            self._refcount += 1

    def _stop_source(self, src: Source) -> None:
        kind = src.kind
        src.active = False
        if src.referenced:
            self._refcount -= 1
        if kind == "fd":
            lst = self._fd_sources.get(src.fd)
            if lst is not None and src in lst:
                lst.remove(src)
                self._fd_update(src.fd)
        elif kind == "timer":
            src._heap_seq = -1  # lazily dropped from the heap
        elif kind == "signal":
            self._signal_stop(src)
        else:
            self._phases[kind].remove(src)

    def _fd_update(self, fd: int) -> None:
        lst = self._fd_sources.get(fd) or []
        mask = 0
        for src in lst:
            if src.events & FLUX_POLLIN:
                mask |= _EVENT_READ
            if src.events & FLUX_POLLOUT:
                mask |= _EVENT_WRITE
            if src.events & FLUX_POLLERR and not mask:
                mask |= _EVENT_READ
        try:
            key = self._sel.get_key(fd)
        except (KeyError, ValueError):
            key = None
        if not lst or not mask:
            if key is not None:
                self._sel.unregister(fd)
            if not lst:
                self._fd_sources.pop(fd, None)
            return
        if key is None:
            self._sel.register(fd, mask)
        elif key.events != mask:
            self._sel.modify(fd, mask)

    def forget_fd(self, fd: int) -> None:
        """Drop a file descriptor that is being closed (its sources stop)."""
        for src in list(self._fd_sources.get(fd, [])):
            src.stop()
        try:
            self._sel.unregister(fd)
        except (KeyError, ValueError):
            pass

    # -- signals ----------------------------------------------------------------

    def _signal_start(self, src: Source) -> None:
        if threading.current_thread() is not threading.main_thread():
            raise OSError(errno.EINVAL, "signal watchers work only in the main thread")
        if self._wakeup_r < 0:
            self._wakeup_r, self._wakeup_w = os.pipe()
            os.set_blocking(self._wakeup_r, False)
            os.set_blocking(self._wakeup_w, False)
            self._sel.register(self._wakeup_r, _EVENT_READ)
        signum = src.signum
        lst = self._signals.setdefault(signum, [])
        if not lst:
            self._old_handlers[signum] = signal.signal(signum, self._on_signal)
        lst.append(src)

    def _signal_stop(self, src: Source) -> None:
        lst = self._signals.get(src.signum, [])
        if src in lst:
            lst.remove(src)
        if not lst and src.signum in self._old_handlers:
            signal.signal(src.signum, self._old_handlers.pop(src.signum))
            self._signals.pop(src.signum, None)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._pending_signals.append(signum)
        try:
            os.write(self._wakeup_w, b"\0")
        except OSError:
            pass

    # -- running ----------------------------------------------------------------

    @property
    def active_count(self) -> int:
        return self._refcount

    def stop(self) -> None:
        self._stop_flag = True

    def stop_error(self) -> None:
        self._stop_flag = True
        self._error_flag = True

    def run(self, flags: int = 0) -> int:
        """Run until stopped or no referenced watcher is active.

        Returns the number of active watchers (>= 0), or -1 after
        :meth:`stop_error`.
        """
        self._stop_flag = False
        self._error_flag = False
        once = flags & (FLUX_REACTOR_NOWAIT | FLUX_REACTOR_ONCE)
        nowait = flags & FLUX_REACTOR_NOWAIT
        while not self._stop_flag:
            if self._refcount <= 0 and not self._soon and not once:
                break
            self._iterate(block=not nowait)
            if once:
                break
        return -1 if self._error_flag else self._refcount

    def _timeout(self, block: bool) -> Optional[float]:
        if not block or self._soon or self._idle or self._pending_signals:
            return 0.0
        timers = self._timers
        while timers and timers[0][2]._heap_seq != timers[0][1]:
            heapq.heappop(timers)
        if timers:
            return max(0.0, timers[0][0] - _monotonic())
        if not self._fd_sources and self._wakeup_r < 0:
            return 0.0 if self._refcount <= 0 else None
        return None

    def _iterate(self, block: bool = True) -> None:
        for src in list(self._prepare):
            if src.active:
                src.fire(0)
                if self._stop_flag:
                    return
        timeout = self._timeout(block)
        if self._sel.get_map():
            ready = self._sel.select(timeout)
        else:
            if timeout:
                time.sleep(timeout)
            ready = []
        self._now = _monotonic()
        worked = bool(ready)
        # libev runs check watchers first among what the poll made pending
        for src in list(self._check):
            if src.active:
                src.fire(0)
                if self._stop_flag:
                    return
        for key, mask in ready:
            fd = key.fd
            if fd == self._wakeup_r:
                try:
                    while os.read(fd, 512):
                        pass
                except OSError:
                    pass
                continue
            revents = 0
            if mask & _EVENT_READ:
                revents |= FLUX_POLLIN
            if mask & _EVENT_WRITE:
                revents |= FLUX_POLLOUT
            for src in list(self._fd_sources.get(fd, ())):
                if src.active and src.events & revents:
                    src.fire(src.events & revents)
                elif src.active and src.events & FLUX_POLLERR and revents:
                    src.fire(FLUX_POLLERR)
                if self._stop_flag:
                    return
        while self._pending_signals:
            signum = self._pending_signals.popleft()
            for src in list(self._signals.get(signum, ())):
                if src.active:
                    src.fire(signum)
            worked = True
            if self._stop_flag:
                return
        timers = self._timers
        now = self._now
        while timers and timers[0][0] <= now:
            deadline, seq, src = heapq.heappop(timers)
            if src._heap_seq != seq or not src.active:
                continue
            worked = True
            if src.repeat > 0:
                src.deadline = now + src.repeat
                self._timer_seq += 1
                src._heap_seq = self._timer_seq
                heapq.heappush(timers, (src.deadline, src._heap_seq, src))
            else:
                src.active = False
                if src.referenced:
                    self._refcount -= 1
                src._heap_seq = -1
            src.fire(0)
            if self._stop_flag:
                return
        soon = self._soon
        for _ in range(len(soon)):
            soon.popleft()()
            worked = True
            if self._stop_flag:
                return
        if not worked:
            for src in list(self._idle):
                if src.active:
                    src.fire(0)
                    if self._stop_flag:
                        return

    def fileno(self) -> int:
        """The poll descriptor, readable when the reactor has I/O to handle."""
        return self._sel.fileno()

    def next_deadline(self) -> Optional[float]:
        timers = self._timers
        while timers and timers[0][2]._heap_seq != timers[0][1]:
            heapq.heappop(timers)
        return timers[0][0] if timers else None

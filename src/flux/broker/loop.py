"""A small, fast event loop for the broker.

Why not asyncio: DESIGN.md measured plain asyncio as the slowest option for a
broker hop; almost all of the cost of a round trip is process wake-ups and
per-message overhead, not parsing.  This loop talks to epoll (or poll) directly:

- a ready fd calls its callback once per wake-up, and the callback reads
  everything available;
- writers do not send immediately: they mark themselves *dirty* and the loop
  calls ``flush()`` once per iteration, so all messages produced by one
  wake-up leave in one ``send`` per connection;
- after an iteration that handled traffic the loop polls without blocking for
  a short, bounded time (``spin_us``) before going to sleep: a client that
  answers quickly (the next request of a ping loop) is then picked up without
  a wake-up.  An idle loop blocks in the kernel and uses no CPU.
- ``adaptive`` (the default) spins only while traffic is heavy: after
  SPIN_STREAK wake-ups in a row that each came less than ``spin_us`` after
  the previous one.  A trickle of requests (a node running jobs) never pays
  for a spin that finds nothing; one slow arrival stops the spinning.
  docs/architecture.md "Waiting strategy" has the figures.
"""

from __future__ import annotations

import heapq
import os
import select
import signal
import socket
import time
from typing import Any, Callable, Optional, Protocol

from flux.core.connection import SPIN_STREAK

#: arrivals closer together than this (s) make a streak that turns spinning on
STREAK_WINDOW = 0.001

__all__ = ["Loop", "SPIN_STREAK", "Timer", "ChildWatch", "Flushable", "RECV_SIZE", "recv_some", "is_writable"]

_IN = getattr(select, "EPOLLIN", select.POLLIN)
_OUT = getattr(select, "EPOLLOUT", select.POLLOUT)
_ERR = getattr(select, "EPOLLERR", select.POLLERR) | getattr(select, "EPOLLHUP", select.POLLHUP)

EV_IN = _IN
EV_ERR = _ERR


RECV_SIZE = 256 << 10
# One receive buffer for the whole (single-threaded) broker.  ``sock.recv(256K)``
# allocates 256 KiB per call: above glibc's initial mmap threshold (128 KiB),
# so until malloc happens to raise that threshold (it does after freeing a
# large mmapped block) every read pays an mmap/munmap pair -- ~10 us instead
# of ~1 us on the bench machine.  Reading into this buffer and copying out only
# what arrived costs ~1 us whatever the allocator's state.
_rbuf = bytearray(RECV_SIZE)
_rview = memoryview(_rbuf)


def recv_some(sock: socket.socket) -> bytes:
    """``sock.recv(RECV_SIZE)`` without allocating RECV_SIZE bytes per call."""
    return _rview[:sock.recv_into(_rbuf)].tobytes()


CHILD_POLL = 0.05  # s between checks for a child's exit where there is no pidfd


class Flushable(Protocol):
    """Anything with buffered output that the loop flushes once per iteration."""

    def flush(self) -> None: ...


class Timer:
    """A one-shot or repeating timer; ``cancel()`` is O(1) (lazy removal)."""

    __slots__ = ("when", "interval", "callback", "cancelled")

    def __init__(self, when: float, interval: Optional[float],
                 callback: Callable[[], Any]) -> None:
        self.when = when
        self.interval = interval
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: "Timer") -> bool:
        return self.when < other.when


class ChildWatch:
    """Runs ``callback()`` when a child process may have exited, until :meth:`close`.

    A pidfd (Linux 5.3+) makes the exit an fd event; without one the callback
    is polled every ``CHILD_POLL`` s.  Either way the callback reaps
    (``waitpid`` with WNOHANG) and closes the watch once the child is gone.
    """

    __slots__ = ("_loop", "pidfd", "timer")

    def __init__(self, loop: "Loop", pid: int, callback: Callable[[], Any]) -> None:
        self._loop = loop
        self.pidfd: Optional[int] = None
        self.timer: Optional[Timer] = None
        try:
            self.pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self.timer = loop.call_later(CHILD_POLL, callback, interval=CHILD_POLL)
        else:
            loop.add_reader(self.pidfd, lambda events: callback())

    def close(self) -> None:
        if self.pidfd is not None:
            self._loop.remove(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class _Poller:
    """epoll where available, else poll; timeouts in seconds (None = block)."""

    def __init__(self) -> None:
        if hasattr(select, "epoll"):
            self._p: Any = select.epoll()
            self._epoll = True
        else:  # pragma: no cover - non-Linux
            self._p = select.poll()
            self._epoll = False

    def register(self, fd: int, mask: int) -> None:
        self._p.register(fd, mask)

    def modify(self, fd: int, mask: int) -> None:
        self._p.modify(fd, mask)

    def unregister(self, fd: int) -> None:
        try:
            self._p.unregister(fd)
        except (KeyError, OSError, ValueError):
            pass

    def poll(self, timeout: Optional[float]) -> list[tuple[int, int]]:
        if self._epoll:
            return self._p.poll(-1 if timeout is None else timeout)
        return self._p.poll(None if timeout is None else timeout * 1000.0)

    def close(self) -> None:
        if self._epoll:
            self._p.close()


class Loop:
    """Single-threaded reactor: fd callbacks, timers, signals, deferred flushes."""

    def __init__(self, spin_us: float = 150.0, adaptive: bool = True) -> None:
        self._poller = _Poller()
        self._handlers: dict[int, Callable[[int], Any]] = {}
        self._masks: dict[int, int] = {}
        self._timers: list[Timer] = []
        self._soon: list[Callable[[], Any]] = []
        self._dirty: dict[int, Flushable] = {}
        self._dirty_last: dict[int, Flushable] = {}
        self._signal_handlers: dict[int, Callable[[int], Any]] = {}
        self._pending_signals: list[int] = []
        self._wake_r: Optional[socket.socket] = None
        self._wake_w: Optional[socket.socket] = None
        self._old_wakeup_fd: Optional[int] = None
        self.spin = spin_us / 1e6
        self.adaptive = adaptive
        self.running = False

    # -- fds ------------------------------------------------------------------

    def add_reader(self, fd: int, callback: Callable[[int], Any]) -> None:
        """Call ``callback(events)`` when ``fd`` is readable (or has an error)."""
        self._handlers[fd] = callback
        self._masks[fd] = _IN
        self._poller.register(fd, _IN)

    def want_write(self, fd: int, on: bool) -> None:
        """Also call the fd's callback when it becomes writable (or stop)."""
        self._want(fd, _OUT, on)

    def want_read(self, fd: int, on: bool) -> None:
        """Call the fd's callback when it becomes readable (the default), or stop (an error
        or hang-up is still reported): a peer the broker is waiting on to read its own
        output is not read from meanwhile."""
        self._want(fd, _IN, on)

    def _want(self, fd: int, bit: int, on: bool) -> None:
        old = self._masks.get(fd)
        if old is not None:
            mask = old | bit if on else old & ~bit
            if mask != old:
                self._masks[fd] = mask
                self._poller.modify(fd, mask)

    def remove(self, fd: int) -> None:
        if self._handlers.pop(fd, None) is not None:
            self._masks.pop(fd, None)
            self._poller.unregister(fd)

    # -- deferred work ----------------------------------------------------------

    def watch_child(self, pid: int, callback: Callable[[], Any]) -> ChildWatch:
        """Run ``callback()`` when child ``pid`` may have exited (see :class:`ChildWatch`)."""
        return ChildWatch(self, pid, callback)

    def mark_dirty(self, obj: Flushable, last: bool = False) -> None:
        """Ask for ``obj.flush()`` at the end of this iteration (once); ``last``: after
        every other object's flush (the KVS: what the services' flushes commit then
        goes into the same KVS commit, merged, not into one each)."""
        (self._dirty_last if last else self._dirty)[id(obj)] = obj

    def call_soon(self, callback: Callable[[], Any]) -> None:
        self._soon.append(callback)

    def call_later(self, delay: float, callback: Callable[[], Any],
                   interval: Optional[float] = None) -> Timer:
        """Run ``callback`` after ``delay`` s, then every ``interval`` s if given."""
        t = Timer(time.monotonic() + max(0.0, delay), interval, callback)
        heapq.heappush(self._timers, t)
        return t

    # -- signals ----------------------------------------------------------------

    def add_signal(self, signum: int, callback: Callable[[int], Any]) -> None:
        """Run ``callback(signum)`` from the loop (not from the signal handler)."""
        if self._wake_r is None:
            self._wake_r, self._wake_w = socket.socketpair()
            self._wake_r.setblocking(False)
            self._wake_w.setblocking(False)
            self._old_wakeup_fd = signal.set_wakeup_fd(self._wake_w.fileno())
            self.add_reader(self._wake_r.fileno(), self._drain_wakeup)
        self._signal_handlers[signum] = callback
        signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._pending_signals.append(signum)

    def _drain_wakeup(self, events: int) -> None:
        assert self._wake_r is not None
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        self._run_signals()

    def _run_signals(self) -> None:
        while self._pending_signals:
            signum = self._pending_signals.pop(0)
            cb = self._signal_handlers.get(signum)
            if cb is not None:
                cb(signum)

    # -- running ------------------------------------------------------------------

    def stop(self) -> None:
        self.running = False

    def _flush(self) -> None:
        while True:
            if self._dirty:
                dirty, self._dirty = self._dirty, {}
            elif self._dirty_last:
                dirty, self._dirty_last = self._dirty_last, {}
            else:
                return
            for obj in dirty.values():
                obj.flush()

    def run(self) -> None:
        """Run until :meth:`stop`."""
        self.running = True
        handlers = self._handlers
        poll = self._poller.poll
        timers = self._timers
        monotonic = time.monotonic
        spin = self.spin
        sched_yield = getattr(os, "sched_yield", lambda: None)
        last_activity = 0.0
        # quick arrivals in a row; "always" spinning counts as a streak from the start
        need = SPIN_STREAK if self.adaptive else 0
        # an arrival this soon after the last one counts toward the streak: longer than the
        # spin itself, so request/reply traffic with a little work on each side (KVS
        # commits in turn) is recognised as traffic; a trickle (a node running jobs,
        # requests milliseconds apart) still never spins
        streak_window = max(spin, STREAK_WINDOW)
        streak = 0
        while self.running:
            if self._soon or self._pending_signals:
                timeout: Optional[float] = 0.0
            else:
                now = monotonic()
                if spin and streak >= need and now - last_activity < spin:
                    timeout = 0.0
                elif timers:
                    timeout = max(0.0, timers[0].when - now)
                else:
                    timeout = None
            try:
                events = poll(timeout)
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                events = []
            if events:
                if spin:
                    if monotonic() - last_activity < streak_window:
                        streak += 1
                    else:
                        streak = 0
                for fd, mask in events:
                    cb = handlers.get(fd)
                    if cb is not None:
                        cb(mask)
                last_activity = monotonic()
            elif timeout == 0.0:
                # Spinning: let a process that has work (a client, a module)
                # have this CPU; on a small machine three pollers otherwise
                # starve the one that must answer.
                sched_yield()
            if self._pending_signals:
                self._run_signals()
            if self._soon:
                soon, self._soon = self._soon, []
                for fn in soon:
                    fn()
            if timers and timers[0].when <= monotonic():
                self._run_timers()
            if self._dirty or self._dirty_last:
                self._flush()

    def _run_timers(self) -> None:
        now = time.monotonic()
        timers = self._timers
        while timers and timers[0].when <= now:
            t = heapq.heappop(timers)
            if t.cancelled:
                continue
            if t.interval is not None:
                t.when = max(t.when + t.interval, now)
                heapq.heappush(timers, t)
            t.callback()
        while timers and timers[0].cancelled:
            heapq.heappop(timers)

    def close(self) -> None:
        """Release the poller and restore signal dispositions."""
        for signum in list(self._signal_handlers):
            try:
                signal.signal(signum, signal.SIG_DFL)
            except (ValueError, OSError):
                pass
        self._signal_handlers.clear()
        if self._wake_r is not None:
            try:
                signal.set_wakeup_fd(self._old_wakeup_fd if self._old_wakeup_fd is not None else -1)
            except ValueError:
                pass
            self.remove(self._wake_r.fileno())
            self._wake_r.close()
            assert self._wake_w is not None
            self._wake_w.close()
            self._wake_r = self._wake_w = None
        self._poller.close()


def is_writable(mask: int) -> bool:
    return bool(mask & _OUT)

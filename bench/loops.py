#!/usr/bin/env python3
"""The client reactor and the broker loop, side by side: what one loop iteration costs.

Usage: python bench/loops.py [--runs R] [--iterations N]

pureflux has two event loops: ``flux.core.reactor.Reactor`` (the client's,
with flux-core's watcher semantics: fd/timer/signal/prepare/check/idle
sources, reference counting, ``reactor_run`` flags, asyncio driving it) and
``flux.broker.loop.Loop`` (the broker's: fd callbacks, timers, signals,
call_soon, once-per-iteration flushes).  This measures, in one process and
interleaved, the cost of one iteration of each (ns, median of R runs of N
iterations, [min..max]), so the choice between one loop and two rests on
figures (docs/architecture.md, "Two event loops"):

(a) fd: one descriptor always readable (a byte nobody reads), one idle
    descriptor registered too; the callback only counts.  For the reactor
    also through an ``FDWatcher`` (the user-facing watcher layer) -- what a
    message watcher's delivery costs on top of the bare source;
(b) timer: a one-shot timer, due at once, that its callback re-arms (and
    the idle fd): one timer expiry per iteration;
(c) call_soon: a callback that schedules itself again (and the idle fd);
(d) arm + cancel one timer, outside the loop (what an RPC timeout costs);
(e) the poll primitive alone, one ready fd: ``epoll.poll(0)`` (the broker
    loop) against ``selectors.DefaultSelector.select(0)`` (the reactor):
    how much of the difference in (a) is the selectors module.

Not a test: no asserts.
"""

from __future__ import annotations

import argparse
import os
import select
import selectors
import socket
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if os.path.join(REPO, "src") not in sys.path:
    sys.path.insert(0, os.path.join(REPO, "src"))

from flux.broker.loop import Loop  # noqa: E402
from flux.constants import FLUX_POLLIN  # noqa: E402
from flux.core.reactor import Reactor, Source  # noqa: E402
from flux.core.watchers import FDWatcher  # noqa: E402


class Fds:
    """One always-readable descriptor and one that never is."""

    def __init__(self) -> None:
        self.ready_r, self.ready_w = socket.socketpair()
        self.ready_w.send(b"x")
        self.idle_r, self.idle_w = socket.socketpair()

    def close(self) -> None:
        for s in (self.ready_r, self.ready_w, self.idle_r, self.idle_w):
            s.close()


class FakeHandle:
    """What a watcher needs from a Flux handle, without a broker."""

    def __init__(self, reactor: Reactor) -> None:
        self.reactor = reactor

    def get_reactor(self) -> Reactor:
        return self.reactor

    def add_watcher(self, w: object) -> None:
        pass

    def del_watcher(self, w: object) -> None:
        pass

    def reactor_stop(self) -> None:
        self.reactor.stop()

    def reactor_stop_error(self) -> None:
        self.reactor.stop_error()

    @staticmethod
    def set_exception(exc: BaseException) -> None:
        raise exc


def _idle_source(r: Reactor, fds: Fds) -> None:
    src = Source(r, "fd", lambda revents: None)
    src.fd = fds.idle_r.fileno()
    src.events = FLUX_POLLIN
    src.start()


# -- (a) fd ----------------------------------------------------------------------------


def loop_fd(fds: Fds, n: int) -> float:
    loop = Loop(spin_us=0)
    count = [0]

    def cb(events: int) -> None:
        count[0] += 1
        if count[0] >= n:
            loop.stop()

    loop.add_reader(fds.ready_r.fileno(), cb)
    loop.add_reader(fds.idle_r.fileno(), lambda events: None)
    t0 = time.perf_counter()
    loop.run()
    dt = time.perf_counter() - t0
    loop.close()
    return dt / n


def reactor_fd(fds: Fds, n: int) -> float:
    r = Reactor()
    count = [0]

    def fire(revents: int) -> None:
        count[0] += 1
        if count[0] >= n:
            r.stop()

    src = Source(r, "fd", fire)
    src.fd = fds.ready_r.fileno()
    src.events = FLUX_POLLIN
    src.start()
    _idle_source(r, fds)
    t0 = time.perf_counter()
    r.run()
    dt = time.perf_counter() - t0
    r._sel.close()
    return dt / n


def watcher_fd(fds: Fds, n: int) -> float:
    r = Reactor()
    h = FakeHandle(r)
    count = [0]

    def cb(h: FakeHandle, w: FDWatcher, fd: int, revents: int, args: object) -> None:
        count[0] += 1
        if count[0] >= n:
            h.reactor_stop()

    w = FDWatcher(h, fds.ready_r.fileno(), FLUX_POLLIN, cb)  # type: ignore[arg-type]
    w.start()
    _idle_source(r, fds)
    t0 = time.perf_counter()
    r.run()
    dt = time.perf_counter() - t0
    w.stop()
    r._sel.close()
    return dt / n


# -- (b) a timer due every iteration -----------------------------------------------------


def loop_timer(fds: Fds, n: int) -> float:
    loop = Loop(spin_us=0)
    count = [0]

    def cb() -> None:  # re-armed due at once: runs at the next iteration
        count[0] += 1
        if count[0] >= n:
            loop.stop()
        else:
            loop.call_later(0.0, cb)

    loop.add_reader(fds.idle_r.fileno(), lambda events: None)
    loop.call_later(0.0, cb)
    t0 = time.perf_counter()
    loop.run()
    dt = time.perf_counter() - t0
    loop.close()
    return dt / n


def reactor_timer(fds: Fds, n: int) -> float:
    r = Reactor()
    count = [0]

    def fire(revents: int) -> None:  # re-armed due at once: runs at the next iteration
        count[0] += 1
        if count[0] >= n:
            r.stop()
        else:
            src.deadline = r.now_update() + 1e-9
            src.start()

    src = Source(r, "timer", fire)
    src.deadline = r.now_update()
    src.start()
    _idle_source(r, fds)
    t0 = time.perf_counter()
    r.run()
    dt = time.perf_counter() - t0
    r._sel.close()
    return dt / n


# -- (c) call_soon -----------------------------------------------------------------------


def loop_soon(fds: Fds, n: int) -> float:
    loop = Loop(spin_us=0)
    count = [0]

    def cb() -> None:
        count[0] += 1
        if count[0] >= n:
            loop.stop()
        else:
            loop.call_soon(cb)

    loop.add_reader(fds.idle_r.fileno(), lambda events: None)
    loop.call_soon(cb)
    t0 = time.perf_counter()
    loop.run()
    dt = time.perf_counter() - t0
    loop.close()
    return dt / n


def reactor_soon(fds: Fds, n: int) -> float:
    r = Reactor()
    count = [0]

    def cb() -> None:
        count[0] += 1
        if count[0] >= n:
            r.stop()
        else:
            r.call_soon(cb)

    _idle_source(r, fds)
    r.call_soon(cb)
    t0 = time.perf_counter()
    r.run()
    dt = time.perf_counter() - t0
    r._sel.close()
    return dt / n


# -- (d) arm + cancel --------------------------------------------------------------------


def loop_arm(fds: Fds, n: int) -> float:
    loop = Loop(spin_us=0)
    call_later = loop.call_later
    t0 = time.perf_counter()
    for _ in range(n):
        call_later(1.0, _noop).cancel()
    dt = time.perf_counter() - t0
    loop.close()
    return dt / n


def reactor_arm(fds: Fds, n: int) -> float:
    r = Reactor()
    src = Source(r, "timer", lambda revents: None)
    t0 = time.perf_counter()
    for _ in range(n):
        src.deadline = r.now_update() + 1.0
        src.start()
        src.stop()
    dt = time.perf_counter() - t0
    r._sel.close()
    return dt / n


def _noop() -> None:
    pass


# -- (e) the poll primitive ----------------------------------------------------------------


def epoll_poll(fds: Fds, n: int) -> float:
    ep = select.epoll()
    ep.register(fds.ready_r.fileno(), select.EPOLLIN)
    ep.register(fds.idle_r.fileno(), select.EPOLLIN)
    poll = ep.poll
    t0 = time.perf_counter()
    for _ in range(n):
        poll(0)
    dt = time.perf_counter() - t0
    ep.close()
    return dt / n


def selector_select(fds: Fds, n: int) -> float:
    sel = selectors.DefaultSelector()
    sel.register(fds.ready_r.fileno(), selectors.EVENT_READ)
    sel.register(fds.idle_r.fileno(), selectors.EVENT_READ)
    select_ = sel.select
    t0 = time.perf_counter()
    for _ in range(n):
        select_(0)
    dt = time.perf_counter() - t0
    sel.close()
    return dt / n


FIGURES = [
    ("(a) fd callback", [("broker Loop", loop_fd), ("client Reactor, bare Source", reactor_fd),
                         ("client Reactor, FDWatcher", watcher_fd)]),
    ("(b) timer due every iteration", [("broker Loop", loop_timer), ("client Reactor", reactor_timer)]),
    ("(c) call_soon", [("broker Loop", loop_soon), ("client Reactor", reactor_soon)]),
    ("(d) arm + cancel a timer (no iteration)", [("broker Loop", loop_arm), ("client Reactor", reactor_arm)]),
    ("(e) poll primitive, one ready fd", [("epoll.poll(0) (Loop)", epoll_poll),
                                         ("selectors select(0) (Reactor)", selector_select)]),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--iterations", type=int, default=20000)
    args = ap.parse_args()
    fds = Fds()
    results: dict[str, list[float]] = {}
    subjects = [(f"{title}|{name}", fn) for title, items in FIGURES for name, fn in items]
    for fn_key, fn in subjects:  # warm-up
        fn(fds, 1000)
    for run in range(args.runs):
        order = subjects[run % len(subjects):] + subjects[:run % len(subjects)]
        for key, fn in order:
            results.setdefault(key, []).append(fn(fds, args.iterations) * 1e9)
    fds.close()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; ns per iteration (or per op), "
          f"median of {args.runs} runs x {args.iterations} [min..max]")
    for title, items in FIGURES:
        print(title)
        base = None
        for name, _ in items:
            v = results[f"{title}|{name}"]
            med = statistics.median(v)
            rel = "" if base is None else f"   x{med / base:.2f}"
            base = med if base is None else base
            print(f"  {name:<32} {med:8.0f} ns  [{min(v):.0f}..{max(v):.0f}]{rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""asyncio: the bounded, adaptive poll of the handle's socket before a task sleeps.

Policy (flux.core.aio._Driver.spin_deadline, docs/architecture.md "asyncio"):
the synchronous call's (only after a quick answer, at most the spin window,
FLUX_HANDLE_SPIN_US=0 turns it off), and only while the loop has nothing ready
and no timer due sooner; an answer is read in the task only within a window of
the loop's last pass.  An idle program burns no CPU; other tasks keep running.
"""

from __future__ import annotations

import asyncio
import time

import pytest

import flux
import flux.core.connection as fconn
from flux.core import aio
from handle_helpers import ServiceThread

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def h(shared_instance):
    with flux.Flux(shared_instance.uri) as handle:
        yield handle


def run(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def warm(h, n=5):
    """Quick answers: the driver's next await may poll."""
    for i in range(n):
        await h.rpc("broker.ping", {"i": i})
    drv = h._core.aio_loop
    return drv


def test_idle_await_of_a_slow_rpc_burns_no_cpu(h, shared_instance):
    def slow(handle, w, msg, arg):
        handle.timer_watcher_create(1.0, lambda hh, tw, r, m: hh.respond(m, {"slow": 1}), args=msg).start()

    async def main():
        drv = await warm(h)
        drv.quick = True  # as after quick answers: the slow await starts with a poll, bounded
        t0, c0 = time.monotonic(), time.thread_time()
        resp = await h.rpc("aidle.get", {})
        wall, cpu = time.monotonic() - t0, time.thread_time() - c0
        assert not drv.quick  # a slow answer: the next await sleeps at once
        return resp, wall, cpu

    with ServiceThread(shared_instance.uri, "aidle", {"aidle.get": slow}):
        resp, wall, cpu = run(main())
    assert resp == {"slow": 1} and wall >= 0.9
    # one spin window (150 us) and the answer's handling: far below a busy second
    assert cpu < 0.05, f"the loop thread used {cpu * 1000:.1f} ms of CPU in {wall:.2f} s idle"


def test_spin_deadline_policy(h, monkeypatch):
    async def main():
        drv = await warm(h)
        drv.quick = True  # (as after quick answers; on a loaded machine they may not be)
        loop = asyncio.get_running_loop()
        window = fconn.SPIN_SECONDS
        assert window > 0 and drv.can_poll
        now = time.monotonic()
        end = drv.spin_deadline()
        assert now + window <= end <= time.monotonic() + window

        handle = loop.call_soon(lambda: None)  # something ready to run: no poll
        assert drv.spin_deadline() == 0.0
        handle.cancel()
        await asyncio.sleep(0)

        timer = loop.call_later(window / 3, lambda: None)  # a timer due first bounds it
        assert drv.spin_deadline() == timer.when()
        timer.cancel()
        await asyncio.sleep(0)

        drv.quick = False  # the last answer was slow: adaptive means no poll...
        assert drv.spin_deadline() == 0.0
        monkeypatch.setattr(fconn, "_ADAPTIVE", False)  # ...unless FLUX_SPIN_POLICY=always
        assert drv.spin_deadline() > 0
        drv.quick = True

        monkeypatch.setattr(fconn, "SPIN_SECONDS", 0.0)  # FLUX_HANDLE_SPIN_US=0
        assert drv.spin_deadline() == 0.0
        return True

    assert run(main())


def test_no_poll_on_a_loop_without_the_introspection(h):
    class Opaque:
        """A loop as uvloop's would look: no ready queue or timer heap to read."""

    core = h._core
    drv = aio._Driver(core, Opaque())  # type: ignore[arg-type]
    assert not drv.can_poll and drv.spin_deadline() == 0.0


def test_spin_off_and_on(h, monkeypatch):
    polls = []
    orig = aio._Driver.poll_until

    def counting(self, end):
        polls.append(end)
        return orig(self, end)

    monkeypatch.setattr(aio._Driver, "poll_until", counting)

    async def loop_of(n):
        for i in range(n):
            assert (await h.rpc("broker.ping", {"i": i}))["i"] == i

    monkeypatch.setattr(fconn, "SPIN_SECONDS", 0.0)
    run(loop_of(50))
    assert polls == []
    monkeypatch.undo()
    monkeypatch.setattr(aio._Driver, "poll_until", counting)
    run(loop_of(50))
    assert polls  # the default window: awaits poll after quick answers


def test_in_task_read_only_within_a_window_of_the_last_pass(h, monkeypatch):
    monkeypatch.setattr(fconn, "SPIN_SECONDS", 0.5)  # a wide window: answers come within it

    async def main():
        drv = await warm(h)
        drv.quick = True
        f = h.rpc("broker.ping", {"stale": 1})
        drv.pass_at = time.monotonic() - 1.0  # the loop has not run for a while
        assert not drv.poll_answer(f._tag)
        # readable, but the task hands control back: the loop's select reads it
        assert not f.is_ready() and drv.quick
        assert (await f)["stale"] == 1

        read_here = 0
        for i in range(20):
            g = h.rpc("broker.ping", {"fresh": i})
            drv.pass_at = time.monotonic()
            drv.quick = True
            if drv.poll_answer(g._tag):
                assert g.is_ready()
                read_here += 1
            assert (await g)["fresh"] == i
        return read_here

    assert run(main()) > 0


def test_other_tasks_keep_running_during_a_tight_await_loop(h):
    """A task whose answers come within the poll still hands the loop back (a timer due
    bounds the poll, the in-task read stops a window after the last pass): a ticker sleeping
    1 ms keeps a good share of the rate it has alone."""
    async def ticker(seconds):
        n = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            await asyncio.sleep(0.001)
            n += 1
        return n

    async def pinger(stop):
        n = 0
        while not stop.is_set():
            await h.rpc("broker.ping", {"n": n})
            n += 1
        return n

    async def main():
        await warm(h)
        alone = await ticker(0.3)
        stop = asyncio.Event()
        p = asyncio.ensure_future(pinger(stop))
        shared = await ticker(0.3)
        stop.set()
        pings = await p
        return alone, shared, pings

    alone, shared, pings = run(main())
    assert pings > 10  # (the awaits did run: a few hundred on a quiet machine)
    assert shared >= 0.3 * alone, (alone, shared, pings)


def test_a_callback_from_another_thread_ends_the_poll(h, monkeypatch):
    """call_soon_threadsafe() puts a callback in the loop's ready queue: the poll stops."""
    import threading

    monkeypatch.setattr(fconn, "SPIN_SECONDS", 2.0)  # a window far longer than the test waits

    async def main():
        loop = asyncio.get_running_loop()
        drv = await warm(h)
        t = threading.Timer(0.05, loop.call_soon_threadsafe, args=(lambda: None,))
        t.start()
        t0 = time.monotonic()
        readable = drv.poll_until(t0 + 2.0)  # nothing was sent: only the callback can end it early
        took = time.monotonic() - t0
        t.join()
        return readable, took

    readable, took = run(main())
    assert not readable and took < 1.0, took

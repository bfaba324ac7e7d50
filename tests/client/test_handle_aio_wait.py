"""asyncio: how an awaiting task waits (flux.core.aio._Waiter, the in-task read of an answer).

The waiter stands in for an asyncio future and resumes its task from the
reader callback; an await may read its own answer in the task.  These check
that asyncio's semantics survive that: cancellation and timeouts, context
variables, several tasks on one handle or one future, the pure-Python Task,
messages for others read by an await (kept in order and dispatched).
"""

from __future__ import annotations

import asyncio
import contextvars
import errno

import pytest

import flux
from flux.constants import FLUX_RPC_STREAMING
from flux.core import aio
from handle_helpers import ServiceThread

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def h(shared_instance):
    with flux.Flux(shared_instance.uri) as handle:
        yield handle


def run(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def delayed_service(delay):
    def delayed(handle, w, msg, arg):
        handle.timer_watcher_create(delay, lambda hh, tw, r, m: hh.respond(m, {"late": m.payload}),
                                    args=msg).start()
    return delayed


def stream_service(handle, w, msg, arg):
    for i in range(msg.payload["count"]):
        handle.respond(msg, {"i": i})
    handle.respond_error(msg, errno.ENODATA, None)


def test_wait_for_timeout_cancels_the_await_and_the_handle_goes_on(h, shared_instance):
    async def main():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(h.rpc("aslow.get", {"n": 1}), 0.05)
        # the driver holds nothing for the cancelled await any more
        drv = h._core.aio_loop
        assert drv.holds == 0 and not drv.awaited
        assert (await h.rpc("broker.ping", {"after": 1}))["after"] == 1
        # the late answer of the cancelled RPC arrives and is harmless
        await asyncio.sleep(0.4)
        assert (await h.rpc("broker.ping", {"after": 2}))["after"] == 2
        return True

    with ServiceThread(shared_instance.uri, "aslow", {"aslow.get": delayed_service(0.3)}):
        assert run(main())


def test_task_cancel_while_waiting(h, shared_instance):
    async def main():
        task = asyncio.ensure_future(h.rpc("aslow2.get", {"n": 2}))
        await asyncio.sleep(0.05)
        assert not task.done()
        task.cancel("stop it")
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
        return (await h.rpc("broker.ping", {"x": 3}))["x"]

    with ServiceThread(shared_instance.uri, "aslow2", {"aslow2.get": delayed_service(0.2)}):
        assert run(main()) == 3


def test_the_waiter_is_what_a_task_expects():
    """The members a Task uses, as an asyncio future behaves: callbacks run once, a cancel wins
    over nothing and loses to a result, the result() of a cancelled waiter raises."""
    async def main():
        loop = asyncio.get_running_loop()
        drv = aio._Driver(_FakeCore(), loop)
        got = []
        w = aio._Waiter(drv)
        assert w._loop is loop and asyncio.futures._get_loop(w) is loop and not w.done()
        w.add_done_callback(lambda f: got.append(("a", f.done())))
        w.add_done_callback(lambda f: got.append(("b", f.done())))
        w.set()
        w.set()
        assert w.done() and w.result() is None and not w.cancel()
        await asyncio.sleep(0)
        assert got == [("a", True), ("b", True)]
        late = []
        w.add_done_callback(late.append)  # already done: scheduled, as asyncio does
        await asyncio.sleep(0)
        assert late == [w]

        c = aio._Waiter(drv)
        c.add_done_callback(late.append)
        assert c.cancel("why") and c.cancelled() and not c.cancel()
        with pytest.raises(asyncio.CancelledError, match="why"):
            c.result()
        await asyncio.sleep(0)
        assert late[-1] is c
        return True

    assert asyncio.run(main())


class _FakeCore:
    """Just what a _Driver reads of a handle core without a connection."""

    users = 0
    lost = None
    backlog: list = []


def test_context_variables_follow_each_task(h):
    var = contextvars.ContextVar("who")

    async def one(name, n):
        var.set(name)
        seen = []
        for i in range(n):
            resp = await h.rpc("broker.ping", {"i": i})
            seen.append((var.get(), resp["i"]))
        return seen

    async def main():
        return await asyncio.gather(one("a", 30), one("b", 30), one("c", 5))

    a, b, c = run(main())
    assert a == [("a", i) for i in range(30)]
    assert b == [("b", i) for i in range(30)]
    assert c == [("c", i) for i in range(5)]


def test_pure_python_task(h):
    async def main():
        loop = asyncio.get_running_loop()
        loop.set_task_factory(lambda lp, coro, **kw: asyncio.tasks._PyTask(coro, loop=lp, **kw))
        t = asyncio.ensure_future(h.rpc("broker.ping", {"py": 1}))
        assert type(t) is asyncio.tasks._PyTask
        resp = await t
        results = await asyncio.gather(*(h.rpc("broker.ping", {"i": i}) for i in range(10)))
        return resp["py"], [r["i"] for r in results]

    assert run(main()) == (1, list(range(10)))


def test_two_tasks_await_one_future(h, shared_instance):
    async def main():
        f = h.rpc("aslow3.get", {"n": 4})
        t1 = asyncio.ensure_future(aio.await_future(f))
        t2 = asyncio.ensure_future(aio.await_future(f))
        r1, r2 = await asyncio.gather(t1, t2)
        assert r1 == r2 == {"late": {"n": 4}}
        return True

    with ServiceThread(shared_instance.uri, "aslow3", {"aslow3.get": delayed_service(0.05)}):
        assert run(main())


def test_many_tasks_interleaved_answers(h, shared_instance):
    """Answers read by one task's await for another's RPC reach the other, in order."""
    async def worker(k):
        out = []
        for i in range(40):
            out.append((await h.rpc("broker.ping", {"k": k, "i": i}))["i"])
        return out

    async def streamer():
        return [r["i"] async for r in h.rpc("amany.get", {"count": 50}, flags=FLUX_RPC_STREAMING)]

    async def main():
        return await asyncio.gather(*(worker(k) for k in range(4)), streamer(), streamer())

    with ServiceThread(shared_instance.uri, "amany", {"amany.get": stream_service}):
        res = run(main())
    assert res[:4] == [list(range(40))] * 4
    assert res[4:] == [list(range(50))] * 2


def test_events_arrive_while_a_task_reads_answers_itself(h, shared_instance):
    """A tight await loop reads events (for the stream) with its answers: none is lost or reordered."""
    async def main():
        stream = h.events("aevt.")
        got = []

        async def consume():
            async for ev in stream:
                got.append(ev.payload["n"])
                if len(got) == 30:
                    break

        task = asyncio.ensure_future(consume())
        for _ in range(200):
            await asyncio.sleep(0.01)
            if stream._watcher is not None:
                break
        with flux.Flux(shared_instance.uri) as pub:
            for n in range(30):
                pub.event_send("aevt.x", {"n": n})
                for i in range(5):  # answers the await may read in the task, events among them
                    assert (await h.rpc("broker.ping", {"i": i}))["i"] == i
        await asyncio.wait_for(task, 10)
        await stream.aclose()
        return got

    assert run(main()) == list(range(30))


def test_then_continuation_read_by_an_await(h):
    """A then() continuation whose response an await reads in its task still runs (from the loop)."""
    got = []

    async def main():
        detach = aio.attach(h)
        try:
            h.rpc("broker.ping", {"c": 7}).then(lambda f: got.append(f.get()["c"]))
            for i in range(20):
                assert (await h.rpc("broker.ping", {"i": i}))["i"] == i
            for _ in range(200):
                if got:
                    break
                await asyncio.sleep(0.005)
        finally:
            detach()

    run(main())
    assert got == [7]


def test_an_answer_read_for_another_task_wakes_it_with_no_more_traffic(h):
    """Task B's await may read task A's answer along with its own and then stop awaiting:
    A is woken from the loop even though nothing else arrives on the socket."""
    async def main():
        for i in range(5):  # answered quickly: the next awaits poll and read in the task
            await h.rpc("broker.ping", {"i": i})
        for i in range(30):
            a, b = await asyncio.wait_for(
                asyncio.gather(h.rpc("broker.ping", {"a": i}), h.rpc("broker.ping", {"b": i})), 5)
            assert (a["a"], b["b"]) == (i, i)
        return True

    assert run(main())


def test_an_answer_read_for_a_future_nobody_awaits_yet_fulfils_it(h):
    """What an await reads for a future not (yet) awaited is dispatched as the reader callback
    would: the future is ready without being waited for, and nothing stays in the backlog."""
    async def main():
        for i in range(5):
            await h.rpc("broker.ping", {"i": i})
        for i in range(20):
            first = h.rpc("broker.ping", {"first": i})
            second = h.rpc("broker.ping", {"second": i})
            assert (await second)["second"] == i
            for _ in range(100):
                if first.is_ready():
                    break
                await asyncio.sleep(0)
            assert first.is_ready() and first.get()["first"] == i
            assert not h._core.backlog
        return True

    assert run(main())

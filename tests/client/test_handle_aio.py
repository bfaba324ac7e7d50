"""asyncio: await h.rpc(), async streaming, h.events(), flux.core.aio.attach()."""

from __future__ import annotations

import asyncio
import errno
import time

import pytest

import flux
from flux.constants import FLUX_MSGTYPE_EVENT, FLUX_RPC_STREAMING
from flux.core import aio
from handle_helpers import ServiceThread

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def h(shared_instance):
    with flux.Flux(shared_instance.uri) as handle:
        yield handle


def run(coro, timeout=10):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def stream_service(handle, w, msg, arg):
    for i in range(msg.payload["count"]):
        handle.respond(msg, {"i": i})
    if msg.payload.get("fail"):
        handle.respond_error(msg, errno.EIO, "stream broke")
    else:
        handle.respond_error(msg, errno.ENODATA, None)


def test_await_rpc(h):
    async def main():
        resp = await h.rpc("broker.ping", {"a": 1})
        assert resp["a"] == 1
        # several in flight at once
        results = await asyncio.gather(*(h.rpc("broker.ping", {"i": i}) for i in range(20)))
        assert [r["i"] for r in results] == list(range(20))
        with pytest.raises(OSError) as ei:
            await h.rpc("nosuch.svc")
        assert ei.value.errno == errno.ENOSYS
        return True

    assert run(main())


def test_await_does_not_block_loop(h, shared_instance):
    def delayed(handle, w, msg, arg):
        handle.timer_watcher_create(0.2, lambda hh, tw, r, m: hh.respond(m, {"late": 1}),
                                    args=msg).start()

    ticks = []

    async def ticker():
        for _ in range(5):
            ticks.append(time.monotonic())
            await asyncio.sleep(0.02)

    async def main():
        t = asyncio.ensure_future(ticker())
        resp = await h.rpc("adelay.get", {})
        await t
        return resp

    with ServiceThread(shared_instance.uri, "adelay", {"adelay.get": delayed}):
        assert run(main()) == {"late": 1}
    assert len(ticks) == 5


def test_async_streaming(h, shared_instance):
    async def main():
        got = [r["i"] async for r in h.rpc("astrm.get", {"count": 4}, flags=FLUX_RPC_STREAMING)]
        assert got == [0, 1, 2, 3]
        got = []
        with pytest.raises(OSError) as ei:
            async for r in h.rpc("astrm.get", {"count": 2, "fail": True}, flags=FLUX_RPC_STREAMING):
                got.append(r["i"])
        assert got == [0, 1] and ei.value.errno == errno.EIO
        assert ei.value.strerror == "stream broke"
        return True

    with ServiceThread(shared_instance.uri, "astrm", {"astrm.get": stream_service}):
        assert run(main())


def test_async_events(h, shared_instance):
    async def main():
        stream = h.events("aev.")
        received = []

        async def consume():
            async for ev in stream:
                received.append((ev.topic, ev.payload))
                if len(received) == 2:
                    break

        task = asyncio.ensure_future(consume())
        # wait until subscribed: the stream subscribes on first iteration
        with flux.Flux(shared_instance.uri) as pub:
            for _ in range(200):
                await asyncio.sleep(0.01)
                if stream._queue is not None and stream._watcher is not None:
                    break
            pub.event_send("other.x", {"n": 0})
            pub.event_send("aev.one", {"n": 1})
            pub.event_send("aev.two", {"n": 2})
            await task
        await stream.aclose()
        return received

    assert run(main()) == [("aev.one", {"n": 1}), ("aev.two", {"n": 2})]


def test_attach_runs_watchers_on_asyncio(h):
    fired = []
    cont = []

    async def main():
        detach = aio.attach(h)
        try:
            h.timer_watcher_create(0.02, lambda *a: fired.append("timer")).start()
            h.rpc("broker.ping", {"c": 1}).then(lambda f: cont.append(f.get()["c"]))
            h.event_subscribe("att.")
            w = h.msg_watcher_create(lambda hh, ww, m, a: fired.append(m.topic),
                                     FLUX_MSGTYPE_EVENT, "att.*")
            w.start()
            h.event_send("att.ev")
            for _ in range(300):
                await asyncio.sleep(0.01)
                if len(fired) == 2 and cont:
                    break
            w.destroy()
            await h.rpc("event.unsubscribe", {"topic": "att."})
        finally:
            detach()

    run(main())
    assert sorted(fired) == ["att.ev", "timer"]
    assert cont == [1]


def test_attach_repeat_timer_and_await_mix(h):
    n = {"i": 0}

    def tick(hh, w, revents, args):
        n["i"] += 1
        if n["i"] == 5:
            w.stop()

    async def main():
        detach = aio.attach(h)
        try:
            h.timer_watcher_create(0.005, tick, repeat=0.005).start()
            for i in range(10):
                assert (await h.rpc("broker.ping", {"i": i}))["i"] == i
            for _ in range(200):
                if n["i"] >= 5:
                    break
                await asyncio.sleep(0.01)
        finally:
            detach()

    run(main())
    assert n["i"] == 5


def test_sync_use_after_asyncio_run(h):
    async def once():
        return (await h.rpc("broker.ping", {"a": 1}))["a"]

    assert run(once()) == 1
    # the asyncio loop is closed now: the reactor must take over again
    got = []
    h.rpc("broker.ping", {"b": 2}).then(lambda f: got.append(f.get()["b"]))
    h.timer_watcher_create(0.01, lambda *a: got.append("t")).start()
    h.reactor_run()
    assert sorted(got, key=str) == [2, "t"]
    assert h.rpc("broker.ping", {"c": 3}).get()["c"] == 3
    assert run(once()) == 1  # and a new asyncio loop works again

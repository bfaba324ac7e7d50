"""flux.kvs watches against a real instance (API-NOTES item 23), callbacks and asyncio.

The first response is the current value; a missing key is ENOENT unless
``waitcreate``; ``uniq`` skips unchanged values; ``full`` reports a change
made through a parent; ``cancel()`` makes the server end the stream with
ENODATA, the callback runs once more, ``get()`` returns None and the reactor
exits by itself.
"""

from __future__ import annotations

import asyncio
import errno

import pytest

import flux
import flux.kvs

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def h(shared_instance):
    with flux.Flux(shared_instance.uri) as handle:
        yield handle


@pytest.fixture(autouse=True)
def _no_namespace_env(monkeypatch):
    monkeypatch.delenv("FLUX_KVS_NAMESPACE", raising=False)


def change_nowait(h, key, value):
    txn = flux.kvs.KVSTxn(h)
    txn.put(key, value)
    flux.kvs.commit_async(h, _kvstxn=txn)


def setup_key(h, directory, value=None):
    with flux.kvs.get_dir(h) as kd:
        kd.mkdir(directory)
        if value is not None:
            kd[f"{directory}.val"] = value


def test_missing_key_is_enoent(h):
    with pytest.raises(OSError) as ei:
        flux.kvs.kvs_watch_async(h, "w0.nothing").get()
    assert ei.value.errno == errno.ENOENT


def test_watch_with_callbacks_then_cancel(h):
    setup_key(h, "w1", 1)
    vals = []
    myarg = {"a": 1}

    def cb(future, arg):
        assert arg is myarg
        val = future.get()
        vals.append(val)
        if val == 1:
            change_nowait(h, "w1.val", 2)
        elif val == 2:
            future.cancel()

    future = flux.kvs.kvs_watch_async(h, "w1.val")
    assert isinstance(future, flux.kvs.KVSWatchFuture)
    future.then(cb, myarg)
    assert h.reactor_run() >= 0
    assert vals == [1, 2, None]  # None: the stream's end after cancel


def test_watch_without_autoreset(h):
    setup_key(h, "w2", 1)
    vals = []

    def cb(future, arg):
        val = future.get(autoreset=False)
        if val is None:
            return
        assert future.get() == val  # the same response until reset
        if val == 1:
            change_nowait(h, "w2.val", 2)
        else:
            future.cancel()
        vals.append(val)

    flux.kvs.kvs_watch_async(h, "w2.val").then(cb, None)
    assert h.reactor_run() >= 0
    assert vals == [1, 2]


def test_waitcreate(h):
    setup_key(h, "w3")
    results = []

    def cb_enoent(future, arg):
        with pytest.raises(OSError) as ei:
            future.get()
        assert ei.value.errno == errno.ENOENT
        results.append("ENOENT")
        change_nowait(h, "w3.val", 1)

    def cb_waitcreate(future, arg):
        val = future.get()
        if val is None:
            return
        results.append(val)
        future.cancel()

    f1 = flux.kvs.kvs_watch_async(h, "w3.val")
    f2 = flux.kvs.kvs_watch_async(h, "w3.val", waitcreate=True)
    f1.then(cb_enoent, None)
    f2.then(cb_waitcreate, None)
    assert h.reactor_run() >= 0
    assert results == ["ENOENT", 1]


def test_uniq(h):
    setup_key(h, "w4", 1)
    vals, uniq_vals = [], []

    def done_then_cancel(f1, f2):
        if len(vals) == 3 and len(uniq_vals) == 2:
            f1.cancel()
            f2.cancel()

    def cb(future, other):
        val = future.get()
        if val is None:
            return
        if val == 1:
            change_nowait(h, "w4.val", 1 if not vals else 2)
        vals.append(val)
        done_then_cancel(future, other)

    def cb_uniq(future, other):
        val = future.get()
        if val is None:
            return
        uniq_vals.append(val)
        done_then_cancel(future, other)

    f1 = flux.kvs.kvs_watch_async(h, "w4.val")
    f2 = flux.kvs.kvs_watch_async(h, "w4.val", uniq=True)
    f1.then(cb, f2)
    f2.then(cb_uniq, f1)
    assert h.reactor_run() >= 0
    assert vals == [1, 1, 2] and uniq_vals == [1, 2]


def test_full(h):
    setup_key(h, "w5", 1)
    vals, full_vals = [], []

    def cb(future, arg):
        val = future.get()
        if val is not None:
            vals.append(val)

    def cb_full(future, other):
        try:
            val = future.get()
        except OSError as exc:
            assert exc.errno == errno.ENOENT
            full_vals.append("ENOENT")
            other.cancel()
            return
        if val is None:
            return
        full_vals.append(val)
        change_nowait(h, "w5", None)  # the parent becomes a value: the key is gone

    f1 = flux.kvs.kvs_watch_async(h, "w5.val")
    f2 = flux.kvs.kvs_watch_async(h, "w5.val", full=True)
    f1.then(cb, None)
    f2.then(cb_full, f1)
    assert h.reactor_run() >= 0
    assert vals == [1] and full_vals == [1, "ENOENT"]


def test_cancel_with_stop_silences_the_callback(h):
    setup_key(h, "w6", 1)
    calls = []

    def cb(future, arg):
        calls.append(future.get())
        future.cancel(stop=True)

    flux.kvs.kvs_watch_async(h, "w6.val").then(cb, None)
    assert h.reactor_run() >= 0
    assert calls == [1]


def test_blocking_get_follows_changes(h):
    setup_key(h, "w7", "a")
    watch = flux.kvs.kvs_watch_async(h, "w7.val")
    assert watch.get() == "a"
    flux.kvs.put(h, "w7.val", "b")
    flux.kvs.commit(h)
    assert watch.get() == "b"
    watch.cancel()
    assert watch.get() is None
    assert watch.needs_cancel is False


def test_watch_append(h):
    txn = flux.kvs.KVSTxn(h)
    txn.append("w8.log", "one\n")
    txn.commit()
    watch = flux.kvs.kvs_watch_async(h, "w8.log", append=True)
    assert watch.get() == "one\n"
    txn.append("w8.log", "two\n")
    txn.commit()
    assert watch.get() == "two\n"
    watch.cancel()
    assert watch.get() is None


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_async_for_over_a_watch(h):
    setup_key(h, "w9", 0)

    async def main():
        seen = []
        watch = flux.kvs.kvs_watch_async(h, "w9.val")
        async for value in watch:
            seen.append(value)
            if value < 3:
                txn = flux.kvs.KVSTxn(h)
                txn.put("w9.val", value + 1)
                await txn.commit_async()
            else:
                watch.cancel()
        return seen

    assert run(main()) == [0, 1, 2, 3]


def test_await_a_watch_and_waitcreate_in_asyncio(h):
    async def main():
        watch = flux.kvs.kvs_watch_async(h, "w10.val", waitcreate=True)
        txn = flux.kvs.KVSTxn(h)
        txn.put("w10.val", "made")
        await txn.commit_async()
        first = await watch
        watch.cancel()
        end = await watch
        return first, end

    assert run(main()) == ("made", None)


def test_async_for_raises_other_errors(h):
    async def main():
        async for _ in flux.kvs.kvs_watch_async(h, "w11.nothing"):
            pass

    with pytest.raises(FileNotFoundError):
        run(main())


def test_awaits_are_not_stalled_by_a_stream_end_a_blocking_call_read(h):
    """A stopped watch's ENODATA, read (and set aside) by a blocking commit, must not hold
    back the responses later awaits wait for."""
    setup_key(h, "w12", 1)

    def cb(future, arg):
        future.get()
        future.cancel(stop=True)

    flux.kvs.kvs_watch_async(h, "w12.val").then(cb, None)
    assert h.reactor_run() >= 0
    flux.kvs.put(h, "w12.other", 1)
    flux.kvs.commit(h)  # its wait reads the ENODATA that ends the stopped watch

    async def main():
        root = await flux.kvs.getroot(h)
        watch = flux.kvs.kvs_watch_async(h, "w12.val")
        first = await watch
        watch.cancel()
        return root, first, await watch

    root, first, end = run(main())
    assert root["rootseq"] > 0 and first == 1 and end is None

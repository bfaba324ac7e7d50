"""Small behaviours matched to flux-core's bindings: watcher attributes, TimerWatcher.reset,
WaitAllFuture, then() errors, ``async for`` over a destroyed RPC."""

from __future__ import annotations

import asyncio
import errno
import os
import time

import pytest

import flux
from flux.constants import (
    FLUX_MSGTYPE_REQUEST,
    FLUX_POLLERR,
    FLUX_POLLIN,
    FLUX_POLLOUT,
    FLUX_RPC_STREAMING,
)
from flux.future import Future, WaitAllFuture

pytestmark = pytest.mark.timeout(20)

NULL_HANDLE = r"Attempting to call a cached, bound method.*NULL handle"


@pytest.fixture
def h():
    with flux.Flux("loop://") as handle:
        yield handle


# -- watchers ------------------------------------------------------------------------------


def test_fd_watcher_keeps_fd_int_and_events(h):
    r, w = os.pipe()
    try:
        fdw = h.fd_watcher_create(r, lambda *a: None)
        assert fdw.fd_int == r and fdw.events == FLUX_POLLIN | FLUX_POLLOUT | FLUX_POLLERR
        assert h.fd_watcher_create(r, lambda *a: None, events=FLUX_POLLIN).events == FLUX_POLLIN
    finally:
        os.close(r)
        os.close(w)


def test_signal_watcher_keeps_signal_int(h):
    assert h.signal_watcher_create(10, lambda *a: None).signal_int == 10


def test_timer_reset_returns_none_and_keeps_creation_values(h):
    fired = []
    w = h.timer_watcher_create(30, lambda handle, watcher, revents, arg: fired.append(time.monotonic()))
    assert (w.after, w.repeat) == (30, 0)
    t0 = time.monotonic()
    assert w.reset(0.01) is None  # re-armed with 0.01 and started
    assert (w.after, w.repeat) == (30, 0)  # flux-core keeps the new times in the C watcher only
    h.reactor_run()
    assert len(fired) == 1 and fired[0] - t0 < 5
    # a later start uses the times of the last reset, as the C watcher does
    w.start()
    h.reactor_run()
    assert len(fired) == 2 and fired[1] - fired[0] < 5
    with pytest.raises(OSError) as info:
        w.reset(-1)
    assert info.value.errno == errno.EINVAL


# -- futures -------------------------------------------------------------------------------


def _ready(value=None):
    f = Future()
    f.pimpl.fulfill(value, None)
    return f


def test_wait_all_children_is_a_list_and_the_constructor_pushes_nothing():
    pending = Future()  # never fulfilled
    given = [pending]
    wa = WaitAllFuture(given)
    assert wa.children is given
    wa.get()  # nothing pushed: fulfilled at once (flux-core's empty wait_all)
    assert wa.is_ready()
    assert WaitAllFuture().children == []


def test_wait_all_push_appends_and_names():
    wa = WaitAllFuture()
    a, b = _ready(), Future()
    wa.push(a)
    wa.push(b, "bee")
    assert wa.children == [a, b]
    assert not wa.is_ready()
    with pytest.raises(OSError) as info:
        wa.push(Future(), "bee")
    assert info.value.errno == errno.EEXIST
    with pytest.raises(OSError) as info:
        wa.wait_for(0)
    assert info.value.errno == errno.ETIMEDOUT
    b.pimpl.fulfill(None, None)
    assert wa.is_ready()
    wa.get()


def test_wait_all_fails_when_a_child_failed():
    wa = WaitAllFuture()
    bad = Future()
    bad.fulfill_error(errno.ENOENT)
    wa.push(_ready())
    wa.push(bad)
    with pytest.raises(FileNotFoundError):
        wa.get()


def test_then_errors_have_flux_cores_texts_and_order(h):
    f = h.rpc("nosuch.topic")
    f.then(lambda fut: None)
    with pytest.raises(OSError) as info:
        f.then(lambda fut: None)
    assert info.value.errno == errno.EEXIST
    assert info.value.strerror == "then callback already exists for this future"
    with pytest.raises(OSError):
        f.then(None)  # EEXIST is checked first
    with pytest.raises(ValueError, match="^Callback cannot be None$"):
        h.rpc("nosuch.topic").then(None)
    h.reactor_run()


def test_then_may_replace_a_continuation_that_already_ran(h):
    """flux-core keeps a then() reference only until the callback has run (without reset)."""
    calls = []
    f = _ready({"v": 1})
    f.set_flux(h)
    f.then(lambda fut: calls.append("first"))
    h.reactor_run()
    f.then(lambda fut: calls.append("second"))  # runs again on the same result
    h.reactor_run()
    assert calls == ["first", "second"]


def test_async_for_over_a_destroyed_streaming_rpc_fails(h):
    def server(handle, watcher, msg, arg):
        handle.respond_error(msg, errno.ENODATA)
        watcher.stop()

    h.msg_watcher_create(server, FLUX_MSGTYPE_REQUEST, "svc.stream").start()
    with h.rpc("svc.stream", {}, flags=FLUX_RPC_STREAMING) as f:
        pass

    async def consume():
        async for _ in f:
            pass

    with pytest.raises(ValueError, match=NULL_HANDLE):
        asyncio.run(asyncio.wait_for(consume(), 5))


def test_future_pimpl_is_a_context_manager_that_destroys_the_future():
    f = _ready()
    with f.pimpl as p:
        assert p.is_ready() and p.handle is f
    assert p.handle is None
    with pytest.raises(ValueError, match=NULL_HANDLE):
        f.get()
    with pytest.raises(ValueError, match=NULL_HANDLE):
        p.get(None)

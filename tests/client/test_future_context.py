"""Futures as context managers: ``with h.rpc(...) as f:`` destroys ``f`` on exit, as in flux-core.

After the block the object refuses use (ValueError, flux-core's text), its
continuation never runs, and it no longer keeps the reactor running.
"""

from __future__ import annotations

import gc

import pytest

import flux
from flux.constants import FLUX_RPC_STREAMING
from flux.future import Future, FutureExt, WaitAllFuture

pytestmark = pytest.mark.timeout(30)

NULL_HANDLE = r"Attempting to call a cached, bound method.*NULL handle"


@pytest.fixture
def h(shared_instance):
    with flux.Flux(shared_instance.uri) as handle:
        yield handle


def test_with_rpc_gives_the_future_and_its_result(h):
    with h.rpc("broker.ping", {"seq": 1, "pad": "stuff"}) as f:
        assert isinstance(f, flux.rpc.RPC)
        resp = f.get()
        assert (resp["seq"], resp["pad"]) == (1, "stuff")


def test_destroyed_future_refuses_use(h):
    with h.rpc("broker.ping", {"seq": 2}) as f:
        f.get()
    for call in (f.get, f.get_str, f.get_raw, f.get_message, f.is_ready, f.reset,
                 f.error_string, f.get_flux, f.get_matchtag, f.wait_for,
                 lambda: f.then(lambda fut: None)):
        with pytest.raises(ValueError, match=NULL_HANDLE):
            call()
    f.stop()  # harmless, as in flux-core


def test_exception_in_block_propagates_and_destroys(h):
    with pytest.raises(KeyError), h.rpc("broker.ping", {}) as f:
        raise KeyError("x")
    with pytest.raises(ValueError):
        f.get()


def test_continuation_of_destroyed_future_never_runs(h):
    called = []
    with h.rpc("broker.ping", {}) as f:
        f.then(lambda fut: called.append(fut))
    del f
    gc.collect()
    # nothing keeps the reactor alive any more: it returns at once
    assert h.reactor_run() >= 0
    assert called == []
    # and the late response was dropped, not handed to another RPC
    assert h.rpc("broker.ping", {"after": 1}).get()["after"] == 1


def test_destroyed_streaming_rpc_stops_its_stream(h):
    seen = []
    with h.rpc("log.dmesg", {"follow": False}, flags=FLUX_RPC_STREAMING) as f:
        f.then(lambda fut: (seen.append(fut.get_str()), fut.reset()))
    assert h.reactor_run() >= 0
    assert seen == []


def test_wrapper_keeps_the_state_alive(h):
    """Future(other) holds a reference in flux-core: destroying one leaves the other usable."""
    f = h.rpc("broker.ping", {"w": 1})
    g = Future(f)
    with f:
        pass
    with pytest.raises(ValueError):
        f.get()
    g.get()  # the shared state is still there and the response still arrives
    assert g.is_ready()
    with g:
        pass
    with pytest.raises(ValueError):
        g.is_ready()


def test_future_ext_and_wait_all_are_context_managers(h):
    with FutureExt(lambda fut: fut.fulfill({"v": 1}), flux_handle=h) as fe:
        assert fe.get() == {"v": 1}
    with pytest.raises(ValueError):
        fe.fulfill(2)
    with WaitAllFuture([h.rpc("broker.ping", {})]) as wa:
        wa.get()
    with pytest.raises(ValueError):
        wa.push(h.rpc("broker.ping", {}))


def test_destroy_twice_is_harmless(h):
    f = h.rpc("broker.ping", {})
    with f:
        f.get()
    with f:
        pass
    with pytest.raises(ValueError):
        f.get()

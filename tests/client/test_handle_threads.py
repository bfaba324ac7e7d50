"""Threads (each its own handle and reactor; per-thread exception and reactor
state) and several handles on one or several instances at once."""

from __future__ import annotations

import threading

import pytest

import flux

pytestmark = pytest.mark.timeout(40)

Flux = flux.core.handle.Flux


class ThreadFailure(Exception):
    pass


def test_threads_own_handles_and_exceptions(shared_instance):
    nthreads = 6
    barrier = threading.Barrier(nthreads)
    results: dict[int, object] = {}

    def worker(i: int) -> None:
        try:
            with flux.Flux(shared_instance.uri) as h:
                for j in range(50):
                    assert h.rpc("broker.ping", {"t": i, "j": j}).get()["j"] == j
                got = []
                for j in range(20):
                    h.rpc("broker.ping", {"j": j}).then(lambda f: got.append(f.get()["j"]))
                h.reactor_run()
                assert sorted(got) == list(range(20))
                barrier.wait(10)
                # every thread's reactor runs at once; each stores its own exception
                running = []

                def fail(hh, w, revents, args):
                    running.append(Flux.reactor_running())
                    raise ThreadFailure(i)

                h.timer_watcher_create(0.01 * (i % 3), fail).start()
                try:
                    h.reactor_run()
                except ThreadFailure as exc:
                    assert exc.args == (i,)
                    assert running == [True]
                    assert not Flux.reactor_running()
                    results[i] = "ok"
                else:
                    results[i] = "no exception"
        except BaseException as exc:  # noqa: BLE001
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(not t.is_alive() for t in threads)
    assert results == {i: "ok" for i in range(nthreads)}


def test_exception_state_is_per_thread():
    Flux.set_exception(ValueError("main"))
    seen = {}

    def other():
        seen["prev"] = Flux.set_exception(KeyError("other"))
        seen["running"] = Flux.reactor_running()

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen == {"prev": None, "running": False}
    with pytest.raises(ValueError):
        Flux.raise_if_exception()


def test_reactor_running_is_per_thread(shared_instance):
    inside = threading.Event()
    release = threading.Event()
    seen = {}

    def runner():
        with flux.Flux(shared_instance.uri) as h:
            def cb(hh, w, revents, args):
                inside.set()
                release.wait(10)

            h.timer_watcher_create(0, cb).start()
            h.reactor_run()

    t = threading.Thread(target=runner)
    t.start()
    assert inside.wait(10)
    seen["main"] = Flux.reactor_running()
    release.set()
    t.join(10)
    assert seen == {"main": False}


def test_several_handles_one_instance(shared_instance):
    handles = [flux.Flux(shared_instance.uri) for _ in range(4)]
    try:
        routes = {h.rpc("broker.ping", {}).get()["route"].split("!")[0] for h in handles}
        assert len(routes) == 4  # distinct connections
        for h in handles:
            h.event_subscribe("multi.")
        handles[0].event_send("multi.x", {"v": 1})
        for h in handles:
            assert h.event_recv("multi.x").payload == {"v": 1}
        # interleaved RPCs from different handles
        futs = [(h, h.rpc("broker.ping", {"k": i})) for i, h in enumerate(handles)]
        for i, (h, f) in enumerate(reversed(futs)):
            assert f.get()["k"] == len(handles) - 1 - i
    finally:
        for h in handles:
            h._close()


def test_two_instances_at_once(instance):
    from conftest import start_instance

    with start_instance() as second:
        a = flux.Flux(instance.uri)
        b = flux.Flux(second.uri)
        with a, b:
            assert a.attr_get("rundir") != b.attr_get("rundir")
            a.attr_set("test.which", "a")
            with pytest.raises(FileNotFoundError):
                b.attr_get("test.which")
            a.event_subscribe("inst.")
            b.event_subscribe("inst.")
            b.event_send("inst.b")
            a.event_send("inst.a")
            assert a.event_recv().topic == "inst.a"  # only its own instance's event
            assert b.event_recv().topic == "inst.b"
            got = []
            a.rpc("broker.ping", {"who": "a"}).then(lambda f: got.append(f.get()["who"]))
            b.rpc("broker.ping", {"who": "b"}).then(lambda f: got.append(f.get()["who"]))
            a.reactor_run()
            b.reactor_run()
            assert sorted(got) == ["a", "b"]
            # one thread per instance, concurrently
            out = {}

            def work(h_uri, key):
                with flux.Flux(h_uri) as h:
                    out[key] = [h.rpc("broker.ping", {"n": n}).get()["n"] for n in range(100)]

            ts = [threading.Thread(target=work, args=(u, k))
                  for u, k in ((instance.uri, "a"), (second.uri, "b"))]
            for t in ts:
                t.start()
            for t in ts:
                t.join(20)
            assert out == {"a": list(range(100)), "b": list(range(100))}

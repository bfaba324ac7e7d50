"""Reactor and watchers: timers, fd, signal, prepare/check/idle, message watchers,
reactor_run/stop/stop_error, callback exceptions, Ctrl-C."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import pytest

import flux
from flux.constants import FLUX_MSGTYPE_EVENT, FLUX_POLLIN, FLUX_POLLOUT
from proctree import kill_tree, run_tree

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def h(shared_instance):
    with flux.Flux(shared_instance.uri) as handle:
        yield handle


def test_reactor_run_without_watchers_returns(h):
    t0 = time.monotonic()
    assert h.reactor_run() >= 0
    assert time.monotonic() - t0 < 1
    assert not flux.core.handle.Flux.reactor_running()


def test_timer_oneshot_and_repeat(h):
    fired = []

    def cb(handle, w, revents, args):
        assert handle is h
        fired.append((args, time.monotonic()))
        if args == "rep" and len([f for f in fired if f[0] == "rep"]) == 3:
            w.stop()

    t0 = time.monotonic()
    one = h.timer_watcher_create(0.05, cb, args="one")
    rep = h.timer_watcher_create(0.01, cb, repeat=0.01, args="rep")
    assert fired == []
    one.start()
    rep.start()
    assert h.reactor_run() == 0
    names = [f[0] for f in fired]
    assert names.count("one") == 1 and names.count("rep") == 3
    assert [f for f in fired if f[0] == "one"][0][1] - t0 >= 0.045
    assert one.after == 0.05 and rep.repeat == 0.01


def test_timer_created_stopped_and_reset(h):
    fired = []
    w = h.timer_watcher_create(0.01, lambda *a: fired.append(1))
    assert h.reactor_run() == 0  # not started: does not keep the loop alive
    assert fired == []
    w.start()
    h.reactor_run()
    assert fired == [1]
    t0 = time.monotonic()
    w.reset(after=0.05)
    h.reactor_run()
    assert fired == [1, 1] and time.monotonic() - t0 >= 0.045
    w.destroy()


def test_timer_negative_is_einval(h):
    with pytest.raises(OSError) as ei:
        h.timer_watcher_create(-1, lambda *a: None)
    assert ei.value.errno == errno.EINVAL
    with pytest.raises(OSError):
        h.timer_watcher_create(0, lambda *a: None, repeat=-1)


def test_watcher_context_manager(h):
    fired = []
    with h.timer_watcher_create(0.01, lambda *a: fired.append(1)) as w:
        h.reactor_run()
    assert fired == [1]
    assert not w.is_active()


def test_unreferenced_started_watcher_keeps_firing(h):
    fired = []

    def cb(handle, w, revents, args):
        fired.append(1)
        if len(fired) == 2:
            handle.reactor_stop()

    h.timer_watcher_create(0.001, cb, repeat=0.001).start()  # no user reference
    import gc

    gc.collect()
    h.reactor_run()
    assert len(fired) == 2


def test_reactor_stop_return_value(h):
    def stopper(handle, w, revents, args):
        handle.reactor_stop()

    keep = h.timer_watcher_create(100, lambda *a: None).start()
    h.timer_watcher_create(0.01, stopper).start()
    rc = h.reactor_run()
    assert rc > 0  # the 100 s timer is still active
    keep.destroy()


def test_reactor_stop_error(h):
    h.timer_watcher_create(0.001, lambda handle, *a: handle.reactor_stop_error()).start()
    keep = h.timer_watcher_create(100, lambda *a: None).start()
    assert h.reactor_run() < 0
    keep.destroy()


def test_reactor_running_inside_callback(h):
    seen = []
    h.timer_watcher_create(0, lambda handle, *a: seen.append(handle.reactor_running())).start()
    h.reactor_run()
    assert seen == [True]
    assert not h.reactor_running()


def test_callback_exception_propagates(h):
    class Boom(Exception):
        pass

    def cb(handle, w, revents, args):
        raise Boom("from timer")

    keep = h.timer_watcher_create(100, lambda *a: None).start()
    h.timer_watcher_create(0, cb).start()
    with pytest.raises(Boom, match="from timer"):
        h.reactor_run()
    # state is cleared: the next run is clean
    assert h.set_exception(None) is None
    keep.destroy()
    assert h.reactor_run() == 0


def test_set_exception_and_raise_if_exception(h):
    Flux = flux.core.handle.Flux
    assert Flux.set_exception(ValueError("a")) is None
    prev = Flux.set_exception(KeyError("b"))
    assert isinstance(prev, ValueError)
    with pytest.raises(KeyError):
        Flux.raise_if_exception()
    Flux.raise_if_exception()  # cleared: nothing raised


def test_fd_watcher(h):
    r, w = os.pipe()
    got = []

    def cb(handle, watcher, fd, revents, args):
        assert revents & FLUX_POLLIN
        got.append(os.read(fd, 100))
        watcher.stop()

    fw = h.fd_watcher_create(r, cb, events=FLUX_POLLIN)
    fw.start()
    h.timer_watcher_create(0.01, lambda *a: os.write(w, b"hello")).start()
    h.reactor_run()
    assert got == [b"hello"]
    # default events include POLLOUT: a writable fd fires at once
    outs = []

    def out_cb(handle, watcher, fd, revents, args):
        outs.append(revents)
        watcher.stop()

    h.fd_watcher_create(w, out_cb).start()
    h.reactor_run()
    assert outs and outs[0] & FLUX_POLLOUT
    fw.destroy()
    os.close(r)
    os.close(w)


def test_signal_watcher(h):
    got = []

    def cb(handle, w, signum, args):
        got.append(signum)
        w.stop()

    with pytest.raises(OSError) as ei:
        h.signal_watcher_create(0, cb)
    assert ei.value.errno == errno.EINVAL
    with pytest.raises(OSError):
        h.signal_watcher_create(signal.NSIG, cb)
    sw = h.signal_watcher_create(signal.SIGUSR1, cb)
    sw.start()
    h.timer_watcher_create(0.01, lambda *a: os.kill(os.getpid(), signal.SIGUSR1)).start()
    h.reactor_run()
    assert got == [signal.SIGUSR1]
    sw.destroy()


def test_prepare_check_idle(h):
    order = []
    n = {"i": 0}

    def prep(handle, w, revents, args):
        order.append("prepare")

    def check(handle, w, revents, args):
        order.append("check")

    def idle(handle, w, revents, args):
        order.append("idle")
        n["i"] += 1
        if n["i"] == 3:
            handle.reactor_stop()

    p = h.prepare_watcher_create(prep)
    c = h.check_watcher_create(check)
    i = h.idle_watcher_create(idle)
    for w in (p, c, i):
        w.start()
    h.reactor_run()
    assert order.count("idle") == 3
    first = order.index("prepare")
    assert order[first:first + 3] == ["prepare", "check", "idle"]
    for w in (p, c, i):
        w.destroy()
    assert h.idle_watcher_create().start() is not None  # callback optional
    h.reactor_stop()


def test_message_watcher_events(h, shared_instance):
    got = []

    def cb(handle, w, msg, args):
        got.append((msg.topic, msg.payload, args))
        if len(got) == 2:
            w.stop()

    h.event_subscribe("mw.")
    w = h.msg_watcher_create(cb, FLUX_MSGTYPE_EVENT, "mw.b*", args="x")
    w.start()
    with flux.Flux(shared_instance.uri) as other:
        other.event_send("mw.a", {"n": 0})   # no match
        other.event_send("mw.b1", {"n": 1})
        other.event_send("mw.b2", {"n": 2})
    h.reactor_run()
    assert got == [("mw.b1", {"n": 1}, "x"), ("mw.b2", {"n": 2}, "x")]
    w.destroy()
    h.event_unsubscribe("mw.")
    with pytest.raises(TypeError):
        h.msg_watcher_create(cb, FLUX_MSGTYPE_EVENT, 42)


def test_message_watcher_exception_propagates(h):
    h.event_subscribe("mwx.")

    def cb(handle, w, msg, args):
        raise RuntimeError("handler failed")

    w = h.msg_watcher_create(cb, FLUX_MSGTYPE_EVENT, "mwx.*")
    w.start()
    h.event_send("mwx.go")
    with pytest.raises(RuntimeError, match="handler failed"):
        h.reactor_run()
    w.destroy()
    h.event_unsubscribe("mwx.")


def test_add_del_watcher(h):
    class W:
        pass

    w = W()
    h.add_watcher(w)
    assert w in h._active_watchers
    h.del_watcher(w)
    assert w not in h._active_watchers


CTRL_C = r"""
import flux, sys
h = flux.Flux()
h.timer_watcher_create(60, lambda *a: None).start()
print("running", flush=True)
h.reactor_run()
print("returned", flush=True)
"""


def test_ctrl_c_raises_keyboard_interrupt(shared_instance):
    proc = subprocess.Popen([sys.executable, "-c", CTRL_C], env=shared_instance.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "running"
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            kill_tree(proc.pid)
            proc.wait()
    assert "KeyboardInterrupt" in err
    assert "returned" not in out
    assert proc.returncode != 0


SIGINT_NOT_KEEPING = r"""
import flux, time
h = flux.Flux()
t0 = time.monotonic()
h.timer_watcher_create(0.01, lambda *a: None).start()
h.reactor_run()
print("done", time.monotonic() - t0 < 5, flush=True)
"""


def test_sigint_watcher_does_not_keep_loop_alive(shared_instance):
    r = run_tree([sys.executable, "-c", SIGINT_NOT_KEEPING], env=shared_instance.env,
                 capture_output=True, text=True, timeout=15)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "done True"


CTRL_C_GET = r"""
import flux
h = flux.Flux()
h.event_subscribe("never.")
print("waiting", flush=True)
h.event_recv()
print("returned", flush=True)
"""


def test_ctrl_c_during_blocking_recv(shared_instance):
    proc = subprocess.Popen([sys.executable, "-c", CTRL_C_GET], env=shared_instance.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "waiting"
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            kill_tree(proc.pid)
            proc.wait()
    assert "KeyboardInterrupt" in err and "returned" not in out


def test_then_after_result_arrived(h):
    f = h.rpc("broker.ping", {"late": 1})
    f.wait_for(5)
    got = []
    f.then(lambda fut: got.append(fut.get()["late"]))
    h.reactor_run()
    assert got == [1]


def test_reactor_run_explicit_reactor_and_flags(h):
    from flux.constants import FLUX_REACTOR_NOWAIT, FLUX_REACTOR_ONCE

    fired = []
    h.timer_watcher_create(0, lambda *a: fired.append(1)).start()
    r = h.get_reactor()
    h.reactor_run(r, FLUX_REACTOR_ONCE)
    assert fired == [1]
    keep = h.timer_watcher_create(100, lambda *a: None).start()
    t0 = time.monotonic()
    h.reactor_run(r, FLUX_REACTOR_NOWAIT)
    assert time.monotonic() - t0 < 1
    keep.destroy()


def test_check_runs_before_expired_timers(h):
    """libev order within one pass: prepare, poll, check, then timers and I/O."""
    order = []
    p = h.prepare_watcher_create(lambda *a: order.append("prepare"))
    c = h.check_watcher_create(lambda *a: order.append("check"))

    def timer(handle, w, revents, args):
        order.append("timer")
        p.stop()
        c.stop()

    t = h.timer_watcher_create(0.05, timer)
    for w in (p, c, t):
        w.start()
    h.reactor_run()
    assert order[-3:] == ["prepare", "check", "timer"]
    for w in (p, c, t):
        w.destroy()


def test_flux_Flux_is_the_handle_class(h):
    import flux
    import flux.core.handle

    assert flux.Flux is flux.core.handle.Flux
    assert isinstance(h, flux.Flux)
    assert flux.Flux.reactor_running() is False
    assert flux.Flux.set_exception(None) is None
    flux.Flux.raise_if_exception()

    class MyHandle(flux.Flux):
        pass

    assert MyHandle.reactor_running() is False

"""Services run by a second handle: respond/respond_error, dispatch order, ENOSYS,
EPERM, streaming RPCs, futures (then/wait_for/reset/...), and requeue of messages
that arrive during a blocking get()."""

from __future__ import annotations

import errno
import gc
import os
import time

import pytest

import flux
from flux.constants import (
    FLUX_MSGTYPE_EVENT,
    FLUX_MSGTYPE_RESPONSE,
    FLUX_ROLE_LOCAL,
    FLUX_ROLE_USER,
    FLUX_RPC_NORESPONSE,
    FLUX_RPC_STREAMING,
)
from flux.message import Message
from handle_helpers import ServiceThread

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def h(shared_instance):
    with flux.Flux(shared_instance.uri) as handle:
        yield handle


def echo(h, w, msg, arg):
    assert h.respond(msg, {"topic": msg.topic, "in": msg.payload}) == 0


def test_service_register_unregister(h, shared_instance):
    f = h.service_register("regtest")
    assert f.get() is None
    with flux.Flux(shared_instance.uri) as other:
        with pytest.raises(FileExistsError):
            other.service_register("regtest").get()
    assert h.service_unregister("regtest").get() is None
    with pytest.raises(FileNotFoundError):
        h.service_unregister("regtest").get()


def test_respond_payload_kinds(h, shared_instance):
    def kinds(handle, w, msg, arg):
        kind = msg.payload["kind"]
        if kind == "none":
            handle.respond(msg)
        elif kind == "str":
            handle.respond(msg, "plain text")
        elif kind == "bytes":
            handle.respond(msg, b'{"b":1}')
        else:
            handle.respond(msg, {"dict": [1, "é"]})

    with ServiceThread(shared_instance.uri, "kinds", {"kinds.get": kinds}):
        assert h.rpc("kinds.get", {"kind": "none"}).get() is None
        assert h.rpc("kinds.get", {"kind": "none"}).get_str() is None
        assert h.rpc("kinds.get", {"kind": "str"}).get_str() == "plain text"
        assert h.rpc("kinds.get", {"kind": "bytes"}).get() == {"b": 1}
        assert h.rpc("kinds.get", {"kind": "dict"}).get() == {"dict": [1, "é"]}


def test_respond_error(h, shared_instance):
    def fail(handle, w, msg, arg):
        kind = msg.payload["kind"]
        if kind == "text":
            handle.respond_error(msg, errno.EBUSY, "service is busy today")
        elif kind == "notext":
            handle.respond_error(msg, errno.ENOENT, None)
        else:
            handle.respond_error(msg, 0, None)

    with ServiceThread(shared_instance.uri, "fail", {"fail.*": fail}):
        f = h.rpc("fail.x", {"kind": "text"})
        with pytest.raises(OSError) as ei:
            f.get()
        assert ei.value.errno == errno.EBUSY
        assert ei.value.strerror == "service is busy today" == f.error_string()
        with pytest.raises(FileNotFoundError) as ei:
            h.rpc("fail.x", {"kind": "notext"}).get()
        assert ei.value.strerror == os.strerror(errno.ENOENT)
        with pytest.raises(OSError) as ei:
            h.rpc("fail.x", {"kind": "zero"}).get()
        assert ei.value.errno == errno.EINVAL


def test_exact_then_glob_then_enosys(h, shared_instance):
    def tagged(tag):
        def cb(handle, w, msg, arg):
            handle.respond(msg, {"by": tag})
        return cb

    handlers = {
        "disp.exact": tagged("exact"),
        "disp.*": tagged("glob-old"),
        "disp.e*": tagged("glob-new"),  # registered later: wins among globs
    }
    with ServiceThread(shared_instance.uri, "disp", handlers) as svc:
        assert h.rpc("disp.exact").get() == {"by": "exact"}
        assert h.rpc("disp.exactly").get() == {"by": "glob-new"}
        assert h.rpc("disp.other").get() == {"by": "glob-old"}
        assert svc.seen == ["disp.exact", "disp.exactly", "disp.other"]
    with ServiceThread(shared_instance.uri, "narrow", {"narrow.only": tagged("x")}):
        with pytest.raises(OSError) as ei:
            h.rpc("narrow.missing").get()
        assert ei.value.errno == errno.ENOSYS
        assert "narrow.missing" in ei.value.strerror
        # no response expected for NORESPONSE requests; the service stays fine
        h.rpc("narrow.missing", flags=FLUX_RPC_NORESPONSE)
        assert h.rpc("narrow.only").get() == {"by": "x"}


def _guest_request(topic, tag):
    msg = Message()
    msg.topic = topic
    msg.payload = {}
    msg.matchtag = tag
    msg.userid = os.getuid() + 1000
    msg.rolemask = FLUX_ROLE_USER | FLUX_ROLE_LOCAL
    msg.route_enable()
    return msg


def test_eperm_for_disallowed_role(h, shared_instance):
    handlers = {
        "perm.owner": echo,
        "perm.guest": (echo, FLUX_ROLE_USER),
    }
    with ServiceThread(shared_instance.uri, "perm", handlers) as svc:
        h.send(_guest_request("perm.owner", 9001))
        resp = h.recv(FLUX_MSGTYPE_RESPONSE, 9001)
        assert resp.errnum == errno.EPERM
        with pytest.raises(PermissionError):
            resp.decode()
        h.send(_guest_request("perm.guest", 9002))
        resp = h.recv(FLUX_MSGTYPE_RESPONSE, 9002)
        assert resp.errnum == 0 and resp.payload["topic"] == "perm.guest"
        assert svc.seen == ["perm.guest"]


def test_eperm_with_handle_rolemask_env(shared_instance, monkeypatch):
    with ServiceThread(shared_instance.uri, "permenv", {"permenv.x": echo}):
        with monkeypatch.context() as m:
            m.setenv("FLUX_HANDLE_ROLEMASK", str(FLUX_ROLE_USER))
            m.setenv("FLUX_HANDLE_USERID", str(os.getuid() + 1000))
            guest = flux.Flux(shared_instance.uri)
        with guest:
            with pytest.raises(PermissionError):
                guest.rpc("permenv.x").get()
            # broker.ping allows guests
            resp = guest.rpc("broker.ping", {}).get()
            assert resp["userid"] == os.getuid() + 1000


# -- streaming -----------------------------------------------------------------------------


def stream_service(handle, w, msg, arg):
    if not msg.streaming:
        handle.respond_error(msg, errno.EPROTO, "streaming only")
        return
    for i in range(msg.payload["count"]):
        handle.respond(msg, {"i": i})
    handle.respond_error(msg, errno.ENODATA, None)


def test_streaming_then(h, shared_instance):
    with ServiceThread(shared_instance.uri, "strm", {"strm.get": stream_service}):
        got = []

        def cb(f, tag):
            try:
                got.append((tag, f.get()["i"]))
            except OSError as exc:
                got.append((tag, exc.errno))
                return
            f.reset()

        f = h.rpc("strm.get", {"count": 5}, flags=FLUX_RPC_STREAMING)
        assert f.then(cb, "t") is f
        assert h.reactor_run() >= 0  # exits by itself after ENODATA
        assert got == [("t", 0), ("t", 1), ("t", 2), ("t", 3), ("t", 4), ("t", errno.ENODATA)]
        with pytest.raises(OSError) as ei:
            h.rpc("strm.get", {"count": 1}).get()
        assert ei.value.errno == errno.EPROTO


def test_streaming_blocking_get(h, shared_instance):
    with ServiceThread(shared_instance.uri, "strb", {"strb.get": stream_service}):
        f = h.rpc("strb.get", {"count": 3}, flags=FLUX_RPC_STREAMING)
        values = []
        while True:
            try:
                values.append(f.get()["i"])
            except OSError as exc:
                assert exc.errno == errno.ENODATA
                break
            f.reset()
        assert values == [0, 1, 2]


def test_streaming_stop(h, shared_instance):
    with ServiceThread(shared_instance.uri, "strs", {"strs.get": stream_service}):
        got = []

        def cb(f):
            got.append(f.get()["i"])
            f.stop()

        h.rpc("strs.get", {"count": 4}, flags=FLUX_RPC_STREAMING).then(cb)
        h.reactor_run()
        assert got == [0]


# -- futures ---------------------------------------------------------------------------------


def delayed(handle, w, msg, arg):
    delay = msg.payload.get("delay", 0)

    def later(hh, tw, revents, m):
        hh.respond(m, {"done": m.payload.get("tag")})
        tw.destroy()

    handle.timer_watcher_create(delay, later, args=msg).start()


def test_then_once_and_chain(h):
    f = h.rpc("broker.ping", {})
    got = []
    assert f.then(lambda fut, a, k=None: got.append((fut.get()["rank"], a, k)), 1, k=2) is f
    with pytest.raises(FileExistsError):
        f.then(lambda fut: None)
    with pytest.raises(ValueError):
        h.rpc("broker.ping", {}).then(None)
    h.reactor_run()
    assert got == [(0, 1, 2)]


def test_then_survives_gc(h):
    got = []
    h.rpc("broker.ping", {"n": 5}).then(lambda fut: got.append(fut.get()["n"]))
    gc.collect()
    h.reactor_run()
    assert got == [5]


def test_then_exception_propagates(h):
    def cb(f):
        raise ZeroDivisionError("in continuation")

    h.rpc("broker.ping", {}).then(cb)
    with pytest.raises(ZeroDivisionError):
        h.reactor_run()
    assert h.reactor_run() == 0  # nothing left, no loop


def test_then_timeout(h, shared_instance):
    with ServiceThread(shared_instance.uri, "slow", {"slow.get": delayed}):
        got = []

        def cb(f):
            try:
                f.get()
            except OSError as exc:
                got.append(exc.errno)
            f.stop()

        h.rpc("slow.get", {"delay": 2}).then(cb, timeout=0.05)
        t0 = time.monotonic()
        h.reactor_run()
        assert got == [errno.ETIMEDOUT]
        assert time.monotonic() - t0 < 1.5


def test_wait_for_and_is_ready(h, shared_instance):
    with ServiceThread(shared_instance.uri, "wf", {"wf.get": delayed}):
        f = h.rpc("wf.get", {"delay": 0.3, "tag": "x"})
        assert not f.is_ready()
        with pytest.raises(TimeoutError) as ei:
            f.wait_for(0)
        assert ei.value.errno == errno.ETIMEDOUT
        with pytest.raises(TimeoutError):
            f.wait_for(0.05)
        assert not f.is_ready()  # still pending
        assert f.wait_for(5) is f
        assert f.is_ready()
        assert f.get() == {"done": "x"}
        assert f.error_string() is None
        f.reset()
        assert not f.is_ready()


def test_get_flux(h):
    f = h.rpc("broker.ping", {})
    fh = f.get_flux()
    assert isinstance(fh, flux.core.handle.Flux)
    assert fh is not h
    assert fh.rpc("broker.ping", {"via": "get_flux"}).get()["via"] == "get_flux"
    f.get()


def test_future_wraps_future(h):
    from flux.future import Future

    f = h.rpc("broker.ping", {"w": 1})
    g = Future(f)
    g.wait_for(5)
    assert f.is_ready()
    assert f.get()["w"] == 1


def test_many_rpcs_out_of_order(h, shared_instance):
    with ServiceThread(shared_instance.uri, "ooo", {"ooo.get": delayed}):
        futs = [h.rpc("ooo.get", {"delay": d, "tag": i})
                for i, d in enumerate([0.2, 0.0, 0.1, 0.05])]
        assert [f.get()["done"] for f in futs] == [0, 1, 2, 3]


# -- requeue: blocking get keeps other messages for later ---------------------------------


def test_blocking_get_requeues_event_and_response(h, shared_instance):
    def slow_with_event(handle, w, msg, arg):
        # publish an event, answer the fast RPC's sibling, then answer this one
        handle.event_send("requeue.ev", {"e": 1})

        def later(hh, tw, revents, m):
            hh.respond(m, {"slow": True})
            tw.destroy()

        handle.timer_watcher_create(0.2, later, args=msg).start()

    with ServiceThread(shared_instance.uri, "rq", {"rq.slow": slow_with_event,
                                                   "rq.fast": echo}):
        h.event_subscribe("requeue.")
        events = []
        w = h.msg_watcher_create(lambda hh, ww, m, a: (events.append(m.payload), ww.stop()),
                                 FLUX_MSGTYPE_EVENT, "requeue.*")
        w.start()
        fast_results = []
        fast = h.rpc("rq.fast", {"n": 1})
        fast.then(lambda f: fast_results.append(f.get()["in"]))
        slow = h.rpc("rq.slow", {})
        assert slow.get() == {"slow": True}  # blocks; event + fast response arrive meanwhile
        assert events == [] and fast_results == []  # nothing ran during the blocking get
        h.reactor_run()
        assert events == [{"e": 1}]
        assert fast_results == [{"n": 1}]
        w.destroy()
        h.event_unsubscribe("requeue.")


def test_blocking_get_inside_callback(h, shared_instance):
    """A blocking get() from a callback (reactor running) still works."""
    got = []

    def cb(handle, w, revents, args):
        got.append(handle.rpc("broker.ping", {"in": "cb"}).get()["in"])

    h.timer_watcher_create(0, cb).start()
    h.reactor_run()
    assert got == ["cb"]


def test_recv_requeues_responses(h):
    """recv() for an event keeps an RPC response arriving meanwhile."""
    h.event_subscribe("rqr.")
    f = h.rpc("broker.ping", {"x": 1})
    h.event_send("rqr.a")
    ev = h.recv(FLUX_MSGTYPE_EVENT, topic_glob="rqr.*")
    assert ev.topic == "rqr.a"
    assert f.get()["x"] == 1
    h.event_unsubscribe("rqr.")


def test_service_disconnect_gives_enosys(h, shared_instance):
    other = flux.Flux(shared_instance.uri)
    other.service_register("gone").get()
    other._close()
    deadline = time.monotonic() + 5
    while True:
        try:
            h.rpc("gone.x").get()
        except OSError as exc:
            if exc.errno == errno.ENOSYS:
                break
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_streaming_callback_exception_stops_stream(h, shared_instance):
    with ServiceThread(shared_instance.uri, "strx", {"strx.get": stream_service}):
        calls = []

        def cb(f):
            calls.append(f.get()["i"])
            raise LookupError("stream cb failed")

        h.rpc("strx.get", {"count": 3}, flags=FLUX_RPC_STREAMING).then(cb)
        with pytest.raises(LookupError):
            h.reactor_run()
        t0 = time.monotonic()
        h.reactor_run()  # the failed future does not fire again or keep the loop
        assert calls == [0] and time.monotonic() - t0 < 2


def test_pending_exception_wins_over_get_error(h):
    flux.core.handle.Flux.set_exception(KeyError("pending"))
    try:
        with pytest.raises(KeyError):
            h.rpc("nosuch.service").get()
    finally:
        flux.core.handle.Flux.set_exception(None)

"""``flux.Flux("loop://")``: a handle with no broker whose messages come back to itself."""

from __future__ import annotations

import asyncio
import errno
import os

import pytest

import flux
from flux.brokermod import BrokerModule, event_handler, request_handler
from flux.constants import (
    FLUX_MSGTYPE_EVENT,
    FLUX_MSGTYPE_REQUEST,
    FLUX_MSGTYPE_RESPONSE,
    FLUX_O_NONBLOCK,
    FLUX_O_TEST_NOSUB,
    FLUX_ROLE_ALL,
    FLUX_ROLE_OWNER,
    FLUX_ROLE_USER,
    FLUX_RPC_STREAMING,
    FLUX_USERID_UNKNOWN,
)
from flux.message import Message

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
def h():
    with flux.Flux("loop://") as handle:
        yield handle


def _echo_service(h, topic="svc.echo"):
    """A request handler on the handle itself: answers {"got": payload, creds}."""
    seen = []

    def cb(handle, watcher, msg, arg):
        seen.append(msg)
        handle.respond(msg, {"got": msg.payload, "userid": msg.userid, "rolemask": msg.rolemask})

    w = h.msg_watcher_create(cb, FLUX_MSGTYPE_REQUEST, topic)
    w.start()
    return w, seen


def test_open_and_cached_attributes(h):
    assert isinstance(h, flux.core.handle.Flux)
    assert h.get_rank() == 0
    assert h.get_size() == 1
    assert h.attr_get("rank") == "0"
    assert h.attr_get("size") == "1"


def test_request_reaches_own_handler_and_response_completes_rpc(h):
    w, seen = _echo_service(h)
    results = []

    def done(f):
        results.append(f.get())
        w.stop()

    h.rpc("svc.echo", {"a": 1}).then(done)
    assert h.reactor_run() >= 0
    assert results == [{"got": {"a": 1}, "userid": os.getuid(), "rolemask": FLUX_ROLE_OWNER}]
    assert seen[0].topic == "svc.echo" and seen[0].type == FLUX_MSGTYPE_REQUEST


def test_unhandled_request_gets_enosys(h):
    errors = []

    def done(f):
        try:
            f.get()
        except OSError as exc:
            errors.append((exc.errno, exc.strerror))

    h.rpc("nosuch.method").then(done)
    h.reactor_run()
    assert errors == [(errno.ENOSYS, "Unknown service method 'nosuch.method'")]


def test_streaming_rpc(h):
    def server(handle, watcher, msg, arg):
        for i in range(3):
            handle.respond(msg, {"i": i})
        handle.respond_error(msg, errno.ENODATA)

    w = h.msg_watcher_create(server, FLUX_MSGTYPE_REQUEST, "svc.stream")
    w.start()
    got = []

    def each(f):
        try:
            got.append(f.get()["i"])
        except OSError as exc:
            got.append(exc.errno)
            w.stop()
            return
        f.reset()

    h.rpc("svc.stream", {}, flags=FLUX_RPC_STREAMING).then(each)
    h.reactor_run()
    assert got == [0, 1, 2, errno.ENODATA]


def test_events_come_back_to_event_watchers(h):
    got = []

    def cb(handle, watcher, msg, arg):
        got.append((msg.topic, msg.payload, msg.userid, msg.rolemask))
        watcher.stop()

    w = h.msg_watcher_create(cb, FLUX_MSGTYPE_EVENT, "test.*")
    w.start()
    assert h.event_send("test.hello", {"x": 1}) == 0
    h.reactor_run()
    assert got == [("test.hello", {"x": 1}, os.getuid(), FLUX_ROLE_OWNER)]
    # without a reactor, event_recv() takes it from the queue
    h.event_send("test.again")
    msg = h.event_recv("test.again")
    assert msg.topic == "test.again"


def test_event_subscribe_with_test_nosub():
    with flux.Flux("loop://", FLUX_O_TEST_NOSUB) as h:
        assert h.event_subscribe("anything") == 0
        assert h.event_unsubscribe("anything") == 0
        with pytest.raises(TypeError):
            h.event_subscribe(42)


def test_reactor_runs_timers_and_the_loop_together(h):
    order = []
    w, _ = _echo_service(h)

    def on_timer(handle, watcher, revents, arg):
        order.append("timer")
        handle.rpc("svc.echo", {"from": "timer"}).then(
            lambda f: (order.append(f.get()["got"]["from"]), w.stop()))

    t = h.timer_watcher_create(0.1, on_timer)
    t.start()
    h.rpc("svc.echo", {"from": "start"}).then(lambda f: order.append(f.get()["got"]["from"]))
    assert h.reactor_run() >= 0
    assert order == ["start", "timer", "timer"]


def test_messages_are_copies_with_credentials_filled_only_when_unset(h):
    msg = Message()
    msg.topic = "x.preset"
    msg.userid = 4242
    msg.rolemask = FLUX_ROLE_USER
    h.send(msg)
    msg.topic = "x.changed-after-send"
    plain = Message()
    plain.topic = "x.plain"
    h.send(plain)
    got = [h.recv(FLUX_MSGTYPE_REQUEST, flags=FLUX_O_NONBLOCK) for _ in range(2)]
    assert [(m.topic, m.userid, m.rolemask) for m in got] == [
        ("x.preset", 4242, FLUX_ROLE_USER),
        ("x.plain", os.getuid(), FLUX_ROLE_OWNER),
    ]
    assert plain.userid == FLUX_USERID_UNKNOWN and plain.rolemask == 0  # the original is untouched


def test_guest_credentials_from_the_environment(monkeypatch):
    """FLUX_HANDLE_USERID/ROLEMASK set the loop's defaults (flux-core's testing options)."""
    monkeypatch.setenv("FLUX_HANDLE_USERID", "4242")
    monkeypatch.setenv("FLUX_HANDLE_ROLEMASK", str(FLUX_ROLE_USER))
    with flux.Flux("loop://") as h:
        owner_only, _ = _echo_service(h, "svc.owner")
        errors = []
        h.rpc("svc.owner", {}).then(lambda f: errors.append(f.error_string()) if not _ok(f) else None)
        open_w = h.msg_watcher_create(
            lambda hh, w, m, a: hh.respond(m, {"userid": m.userid, "rolemask": m.rolemask}),
            FLUX_MSGTYPE_REQUEST, "svc.open", rolemask=FLUX_ROLE_ALL)
        open_w.start()
        answers = []
        h.rpc("svc.open", {}).then(lambda f: (answers.append(f.get()), owner_only.stop(), open_w.stop()))
        h.reactor_run()
        assert errors == ["Request requires owner credentials"]
        assert answers == [{"userid": 4242, "rolemask": FLUX_ROLE_USER}]


def _ok(f):
    try:
        f.get()
        return True
    except OSError:
        return False


def test_recv_and_respond_without_a_reactor(h):
    f = h.rpc("svc.manual", {"q": 1})
    req = h.recv(FLUX_MSGTYPE_REQUEST, topic_glob="svc.manual")
    assert req.payload == {"q": 1}
    h.respond(req, {"a": 2})
    assert f.get() == {"a": 2}
    assert f.get_message().type == FLUX_MSGTYPE_RESPONSE


def test_blocking_wait_that_cannot_be_answered_fails_instead_of_hanging(h):
    with pytest.raises(OSError) as exc:
        h.recv()
    assert exc.value.errno == errno.EDEADLK
    with pytest.raises(OSError) as exc:
        h.recv(flags=FLUX_O_NONBLOCK)
    assert exc.value.errno == errno.EWOULDBLOCK
    with pytest.raises(OSError) as exc:
        h.rpc("svc.nobody-answers-while-blocked", {}).get()
    assert exc.value.errno == errno.EDEADLK
    # the request is kept for later, like any message a blocking get() set aside
    assert h.recv(flags=FLUX_O_NONBLOCK).topic == "svc.nobody-answers-while-blocked"
    with pytest.raises(TimeoutError):
        h.rpc("svc.later", {}).wait_for(0.05)
    with pytest.raises(OSError) as exc:
        h.attr_get("no-broker-to-ask")  # flux-core would hang here
    assert exc.value.errno == errno.EDEADLK


def test_broker_module_class_on_loop():
    """A BrokerModule can be unit-tested on loop://: its name is "unknown"."""

    class Mod(BrokerModule):
        @request_handler("hello", allow_guest=True)
        def hello(self, msg):
            self.handle.respond(msg, {"name": self.name})

        @event_handler("bye")
        def bye(self, msg):
            self.stop()

    with flux.Flux("loop://", FLUX_O_TEST_NOSUB) as h:
        mod = Mod(h)
        assert mod.name == "unknown"
        got = []
        h.rpc("unknown.hello", {}).then(lambda f: (got.append(f.get()), h.event_send("unknown.bye")))
        assert mod.run() >= 0
        assert got == [{"name": "unknown"}]


def test_asyncio_on_loop(h):
    w, _ = _echo_service(h)

    async def main():
        return await h.rpc("svc.echo", {"aio": True})

    try:
        assert asyncio.run(asyncio.wait_for(main(), 5))["got"] == {"aio": True}
    finally:
        w.stop()


def test_future_context_manager_on_loop(h):
    w, _ = _echo_service(h)
    called = []
    with h.rpc("svc.echo", {}) as f:
        f.then(lambda fut: called.append(fut))
    with pytest.raises(ValueError):
        f.get()
    w.stop()
    h.reactor_run()
    assert called == []


def test_close_releases_the_pipe():
    h = flux.Flux("loop://")
    conn = h._core.conn
    fds = (conn._rfd, conn._wfd)
    h.send(Message())
    with h:
        pass
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)
    with pytest.raises(OSError):
        h.send(Message())


def test_collected_handle_closes_the_pipe():
    import gc

    h = flux.Flux("loop://")
    fds = (h._core.conn._rfd, h._core.conn._wfd)
    del h
    gc.collect()
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)


def test_other_schemes_still_refused():
    with pytest.raises(OSError) as exc:
        flux.Flux("nosuch://x")
    assert "unsupported connector scheme 'nosuch'" in exc.value.strerror

"""The local connector in-process: socketpairs instead of a socket file, no broker process.

Each test client is the far end of a socketpair whose near end the connector
accepted; the broker's loop runs for bounded slices (brokerfakes.run_until).
"""

from __future__ import annotations

import errno
import json
import socket
import time

import pytest
from brokerfakes import (
    BROKER_UUID,
    GUEST_LOCAL,
    OWNER,
    OWNER_LOCAL,
    Parts,
    PeerEnd,
    run_loop,
    run_until,
)
from rawclient import request

from flux.broker import socketlink
from flux.broker.connector import Client, Connector
from flux.codec import decode, encode, encode_stream
from flux.broker.loop import Loop
from flux.constants import (
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGTYPE_EVENT,
    FLUX_MSGTYPE_REQUEST,
    FLUX_MSGTYPE_RESPONSE,
    FLUX_ROLE_ALL,
    FLUX_ROLE_OWNER,
    FLUX_USERID_UNKNOWN,
)
from flux.message import Message
from flux.response import derive_response
from flux.severity import LOG_WARNING


class Far(PeerEnd):
    """A test client: the far end of one connection, and its link in the broker."""

    def __init__(self, world: World, sock: socket.socket, link: Client | None) -> None:
        super().__init__(world.loop, sock)
        self.link = link

    def rpc(self, topic: str, payload=None, **kw) -> Message:
        self.send(request(topic, payload, **kw))
        (resp,) = self.recv()
        return resp


class World:
    """A router, events, attrs and log (brokerfakes.Parts) with a real loop and connector."""

    def __init__(self, owner: int = OWNER, allow_guest: bool = False) -> None:
        self.parts = Parts(fake_connector=False)
        self.router = self.parts.router
        self.events = self.parts.events
        self.loop = Loop(spin_us=0)
        self.logged: list[tuple[int, str]] = []
        self.connector = Connector(self.loop, self.router, self.events, "/nonexistent/sock",
                                   owner, allow_guest=allow_guest,
                                   log=lambda level, text: self.logged.append((level, text)))
        self.seen: list[Message] = []
        probe = self.router.builtin("probe")
        probe.method("see", self._see, FLUX_ROLE_ALL)

    def _see(self, msg: Message) -> None:
        self.seen.append(msg)
        self.router.respond(msg, {"ok": True})

    def connect(self) -> Far:
        near, far = socket.socketpair()
        client = Far(self, far, self.connector.accept(near))
        client.wait_handshake()
        return client

    def close(self) -> None:
        self.connector.close()
        self.loop.close()


@pytest.fixture
def world():
    w = World()
    yield w
    w.close()


@pytest.fixture
def guest_world():
    """This process is not the instance owner; guests are allowed."""
    w = World(owner=OWNER + 1, allow_guest=True)
    yield w
    w.close()


# -- credentials -----------------------------------------------------------------------------


def test_owner_requests_are_stamped_and_routed(world):
    c = world.connect()
    assert c.handshake == b"\x00" and c.link.guest is False
    msg = request("probe.see", {})
    msg.userid, msg.rolemask = FLUX_USERID_UNKNOWN, 0
    c.send(msg)
    (resp,) = c.recv()
    assert resp.payload == {"ok": True} and resp.routes == [] and resp.flags & FLUX_MSGFLAG_ROUTE
    (seen,) = world.seen
    assert (seen.userid, seen.rolemask) == (OWNER, OWNER_LOCAL)
    assert seen.routes == [c.link.uuid, world.connector.uuid]
    # an owner may send its own credentials (libflux's test hook): only unset ones are filled
    msg = request("probe.see", {}, matchtag=2)
    msg.userid, msg.rolemask = 4242, GUEST_LOCAL
    c.send(msg)
    c.recv()
    assert (world.seen[1].userid, world.seen[1].rolemask) == (4242, GUEST_LOCAL)


def test_guest_credentials_are_always_overwritten(guest_world):
    c = guest_world.connect()
    assert c.handshake == b"\x00" and c.link.guest
    msg = request("probe.see", {})
    msg.userid, msg.rolemask = OWNER + 1, FLUX_ROLE_OWNER  # spoofing the owner
    c.send(msg)
    c.recv()
    assert (guest_world.seen[0].userid, guest_world.seen[0].rolemask) == (OWNER, GUEST_LOCAL)
    assert c.rpc("attr.set", {"name": "log-stderr-level", "value": "3"}, matchtag=2).errnum == \
        errno.EPERM


def test_strangers_are_refused_without_guest_access():
    w = World(owner=OWNER + 1)
    try:
        near, far = socket.socketpair()
        assert w.connector.accept(near) is None
        assert far.recv(2) == bytes((errno.EPERM,))
        assert w.connector.clients == {}
        far.close()
    finally:
        w.close()


# -- requests a client makes about itself ------------------------------------------------------


def test_subscribe_answered_by_the_connector_and_events_delivered(world):
    c = world.connect()
    resp = c.rpc("event.subscribe", {"topic": "news."}, matchtag=3)
    assert resp.type == FLUX_MSGTYPE_RESPONSE and resp.errnum == 0 and resp.matchtag == 3
    # the connector's own answers: userid unknown, OWNER only, no payload (docs/architecture.md)
    assert (resp.userid, resp.rolemask, resp.payload_bytes) == (FLUX_USERID_UNKNOWN,
                                                                FLUX_ROLE_OWNER, None)
    assert world.router.rx[1] == 0  # never reached the router
    world.events.publish("news.today", b"x")
    world.events.publish("sports.today")
    (ev,) = c.recv()
    assert ev.type == FLUX_MSGTYPE_EVENT and ev.topic == "news.today"
    assert ev.routes == [BROKER_UUID]
    assert c.rpc("event.unsubscribe", {"topic": "news."}).errnum == 0
    assert c.rpc("event.unsubscribe", {"topic": "news."}).errnum == errno.ENOENT
    assert c.rpc("event.subscribe", {"topic": 7}).errnum == errno.EPROTO
    assert c.rpc("event.subscribe").errnum == errno.EPROTO
    c.send(request("event.subscribe", {"topic": "quiet."}, flags=FLUX_MSGFLAG_NORESPONSE))
    run_loop(world.loop)
    assert c.link.subs == {"quiet.": 1}


def test_services_belong_to_their_client(world):
    a, b = world.connect(), world.connect()
    assert a.rpc("service.add", {"service": "svc"}).errnum == 0
    assert b.rpc("service.add", {"service": "svc"}).errnum == errno.EEXIST
    assert b.rpc("service.remove", {"service": "svc"}).errnum == errno.ENOENT
    assert a.rpc("service.add", {"service": "a.b"}).errnum == errno.EINVAL
    # b calls a's service; a sees it with B pushed and answers along the same stack
    b.send(request("svc.do", {"n": 1}, matchtag=9))
    (req,) = a.recv()
    assert req.type == FLUX_MSGTYPE_REQUEST
    assert req.routes == [b.link.uuid, world.connector.uuid, BROKER_UUID]
    assert a.link.inflight
    a.send(derive_response(req, 0, b'{"done":true}\0'))
    (got,) = b.recv()
    assert got.payload == {"done": True} and got.matchtag == 9 and got.routes == []
    assert not a.link.inflight
    assert a.rpc("service.remove", {"service": "svc"}).errnum == 0
    assert "svc" not in world.router.services


def relay_counted(monkeypatch) -> list[int]:
    """Count the messages the broker decodes into a Message (not relayed): the connector's
    links and the router (a request for a builtin service is decoded there)."""
    import flux.broker.router as router
    import flux.broker.socketlink as socketlink

    decoded = [0]
    real = socketlink.decode_range

    def counting(buf, start, stop):
        decoded[0] += 1
        return real(buf, start, stop)

    monkeypatch.setattr(socketlink, "decode_range", counting)
    monkeypatch.setattr(router, "message_from_head",
                        lambda buf, start, stop, head: counting(buf, start, stop))
    return decoded


def test_a_response_to_a_client_service_request_is_relayed_on_its_bytes(world, monkeypatch):
    a, b = world.connect(), world.connect()
    assert a.rpc("service.add", {"service": "svc"}).errnum == 0
    b.send(request("svc.do", {"n": 1}, matchtag=9))
    (req,) = a.recv()
    decoded = relay_counted(monkeypatch)
    resp = derive_response(req, 0, b'{"done":true}\0')
    resp.userid, resp.rolemask = FLUX_USERID_UNKNOWN, 0
    a.send(resp)
    (got,) = b.recv()
    assert decoded == [0]  # never decoded in the broker
    # the Message path's result: routes popped, credentials of a's link stamped where unset
    expect = derive_response(req, 0, b'{"done":true}\0')
    expect.routes = []
    expect.flags |= FLUX_MSGFLAG_ROUTE
    expect.userid, expect.rolemask = OWNER, OWNER_LOCAL
    assert got == decode(encode(expect))  # as it would be on the wire
    assert not a.link.inflight and a.link.rx == 2 and b.link.tx == 1
    assert world.router.rx[2] == 1 and world.router.tx[2] == 1


def test_a_streaming_response_keeps_its_request_in_flight_until_the_end(world, monkeypatch):
    a, b = world.connect(), world.connect()
    a.rpc("service.add", {"service": "svc"})
    b.send(request("svc.watch", {}, matchtag=3, flags=FLUX_MSGFLAG_STREAMING))
    (req,) = a.recv()
    decoded = relay_counted(monkeypatch)
    for _ in range(3):
        a.send(derive_response(req, 0, b'{"more":1}\0'))
        assert b.recv()[0].payload == {"more": 1}
        assert a.link.inflight
    a.send(derive_response(req, errno.ENODATA, None))
    assert b.recv()[0].errnum == errno.ENODATA
    assert not a.link.inflight and decoded == [0]


def test_a_guest_service_response_gets_the_guests_credentials(guest_world, monkeypatch):
    a, b = guest_world.connect(), guest_world.connect()
    assert a.rpc("service.add", {"service": f"{OWNER}-svc"}).errnum == 0
    b.send(request(f"{OWNER}-svc.do", {}, matchtag=2))
    (req,) = a.recv()
    resp = derive_response(req, 0, b'{}\0')
    resp.userid, resp.rolemask = 0, FLUX_ROLE_OWNER  # spoofing
    decoded = relay_counted(monkeypatch)
    a.send(resp)
    (got,) = b.recv()
    assert (got.userid, got.rolemask) == (OWNER, GUEST_LOCAL) and decoded == [0]


def test_requests_to_a_client_service_are_relayed_after_the_first(world, monkeypatch):
    a, b = world.connect(), world.connect()
    a.rpc("service.add", {"service": "svc"})
    decoded = relay_counted(monkeypatch)
    b.send(request("svc.do", {"n": 1}, matchtag=1))
    (first,) = a.recv()
    assert decoded == [1]  # the first one arms b's svc.disconnect notice: a Message
    msg = request("svc.do", {"n": 2}, matchtag=2)
    msg.userid, msg.rolemask = FLUX_USERID_UNKNOWN, 0
    b.send(msg)
    (second,) = a.recv()
    assert decoded == [1]  # relayed on its bytes
    # what the Message path delivers: [X, C, B] pushed, b's credentials stamped where unset
    assert second.routes == first.routes == [b.link.uuid, world.connector.uuid, BROKER_UUID]
    assert (second.userid, second.rolemask) == (OWNER, OWNER_LOCAL)
    assert second.payload == {"n": 2} and second.topic == "svc.do" and second.matchtag == 2
    assert second.flags == first.flags
    key = (tuple(second.routes), 2)
    assert isinstance(a.link.inflight[key], bytes)  # waits as its bytes
    a.send(derive_response(second, 0, b'{"ok":2}\0'))
    assert b.recv()[0].payload == {"ok": 2}
    assert key not in a.link.inflight and decoded == [1]
    assert world.router.rx[1] == 2 and b.link.rx == 2
    assert world.router.requests_by_service["svc"] == 2  # both counted, relayed or not


def test_a_relayed_request_still_fails_when_its_provider_goes(world, monkeypatch):
    a, b = world.connect(), world.connect()
    a.rpc("service.add", {"service": "gone"})
    b.send(request("gone.hello", {}, matchtag=1))
    a.recv()
    decoded = relay_counted(monkeypatch)
    b.send(request("gone.hello", {}, matchtag=2))
    a.recv()
    assert decoded == [0]
    a.close()
    got = {m.matchtag: m for m in b.recv(2)}
    assert got[2].errnum == errno.ENOSYS
    assert got[2].payload_str == "gone service provider disconnected"


def test_requests_for_builtin_services_are_decoded_once_local_requests_take_the_message_path(
        world, monkeypatch):
    import flux.broker.peerlink as peerlink

    c = world.connect()
    decoded = relay_counted(monkeypatch)
    received: list[Message] = []
    real_receive = peerlink.PeerLink.receive
    monkeypatch.setattr(Client, "receive",
                        lambda self, msg: (received.append(msg), real_receive(self, msg)))
    for tag in (1, 2):
        assert c.rpc("probe.see", {"n": tag}, matchtag=tag).payload == {"ok": True}
    # the first arms the client's disconnect notice (the Message path); the second is
    # decoded once, in the router, never reaching PeerLink.receive
    assert decoded == [2] and [m.matchtag for m in received] == [1]
    first, second = world.seen
    # delivered as the Message path delivers: [X, C] pushed, the link's credentials
    assert second.routes == first.routes == [c.link.uuid, world.connector.uuid]
    assert (second.userid, second.rolemask, second.flags) == (
        first.userid, first.rolemask, first.flags)
    assert second.payload == {"n": 2} and second.topic == "probe.see"
    assert world.router.rx[1] == 2 and c.link.rx == 2
    assert world.router.requests_by_service["probe"] == 2
    assert c.rpc("event.subscribe", {"topic": "x."}, matchtag=3).errnum == 0
    assert decoded == [3] and [m.matchtag for m in received] == [1, 3]


def test_a_traced_link_gets_messages_not_bytes(world, monkeypatch):
    a, b = world.connect(), world.connect()
    a.rpc("service.add", {"service": "svc"})
    b.send(request("svc.do", {}, matchtag=5))
    (req,) = a.recv()
    traced: list[tuple[str, Message]] = []
    monkeypatch.setattr(Client, "trace", lambda self, prefix, msg: traced.append((prefix, msg)),
                        raising=False)
    a.link.traced = [object()]
    decoded = relay_counted(monkeypatch)
    a.send(derive_response(req, 0, b'{"x":1}\0'))
    (got,) = b.recv()
    assert got.payload == {"x": 1} and decoded == [1]
    assert [p for p, _ in traced] == ["tx"] and traced[0][1].matchtag == 5


def test_guests_may_only_register_their_own_names(guest_world):
    c = guest_world.connect()
    assert c.rpc("service.add", {"service": "svc"}).errnum == errno.EPERM
    assert c.rpc("service.add", {"service": f"{OWNER}-svc"}).errnum == 0


# -- disconnects -----------------------------------------------------------------------------


def request_in_flight(world: World, topic: str) -> tuple[Far, Far]:
    """Client a provides the service of ``topic``; client b's request to it is in flight."""
    a, b = world.connect(), world.connect()
    a.rpc("service.add", {"service": topic.split(".")[0]})
    b.send(request(topic, {}, matchtag=4))
    a.recv()
    return a, b


def test_provider_gone_fails_requests_in_flight(world):
    a, b = request_in_flight(world, "gone.hello")
    a.close()
    (resp,) = b.recv()
    assert resp.matchtag == 4 and resp.errnum == errno.ENOSYS
    assert resp.payload_str == "gone service provider disconnected"
    assert "gone" not in world.router.services
    assert b.rpc("gone.hello", {}, matchtag=5).errnum == errno.ENOSYS


def test_requester_gone_sends_disconnect_and_is_forgotten(world):
    a, b = request_in_flight(world, "svc.slow")
    b.close()
    (notice,) = a.recv()
    assert notice.topic == "svc.disconnect" and notice.flags & FLUX_MSGFLAG_NORESPONSE
    assert notice.routes[0] == b.link.uuid
    assert a.link.inflight == {}  # nobody to answer any more
    assert b.link.uuid not in world.connector.clients


def test_client_not_reading_is_cut_off(world, monkeypatch):
    monkeypatch.setattr(socketlink, "STALL_SECONDS", 0.0)  # cut off as soon as it is over
    world.connector.max_outbuf = 4096
    c = world.connect()
    c.rpc("event.subscribe", {"topic": ""})
    for _ in range(100):  # queued without a loop pass: nothing is flushed yet
        world.events.publish("flood", b"x" * 100)
    assert c.link.closed and c.link.uuid not in world.connector.clients
    assert c.link not in world.events.subscribers
    (level, text), = world.logged
    assert level == LOG_WARNING and "output buffer limit reached" in text


def test_garbage_drops_the_client(world):
    c = world.connect()
    c.send(b"\x00\x00\x00\x05junk!")
    run_until(world.loop, lambda: c.link.closed)
    assert "protocol error" in world.logged[0][1]


def test_stats(world):
    c = world.connect()
    c.rpc("probe.see", {})
    stats = world.connector.stats()
    (entry,) = stats["server"]["clients"]
    assert entry["uuid"] == c.link.uuid and entry["rxcount"] == 1 and entry["txcount"] == 1
    assert stats["server"]["connects"] == 1 and stats["allow_guest_user"] is False


def test_client_over_the_limit_for_the_stall_time_without_reading_is_cut_off(world, monkeypatch):
    """Nothing more need be written to it (its requests are not read): the stall
    timer finds it and drops it."""
    monkeypatch.setattr(socketlink, "STALL_SECONDS", 0.2)
    world.connector.max_outbuf = 100_000
    c = world.connect()
    c.rpc("event.subscribe", {"topic": ""})
    flood = b"x" * 65536
    for _ in range(8):  # more than the socket takes: the rest waits past the limit
        world.events.publish("flood", flood)
    run_loop(world.loop, 0.05)
    assert not c.link.closed and c.link.over_since is not None  # not for long yet
    run_until(world.loop, lambda: c.link.closed, timeout=3)
    assert c.link.uuid not in world.connector.clients
    assert any("output buffer limit reached" in text for _, text in world.logged)


def test_slow_reader_past_the_limit_is_served_whole(world, monkeypatch):
    """A client that reads, however far behind, keeps everything sent to it (flux-core
    queues without a limit): ``flux run`` of a job with a lot of output."""
    monkeypatch.setattr(socketlink, "STALL_SECONDS", 0.3)
    monkeypatch.setattr(socketlink, "SEND_SLICE", 50_000)  # several slices per backlog
    world.connector.max_outbuf = 100_000
    c = world.connect()
    c.rpc("event.subscribe", {"topic": ""})
    sent = 0
    over = 0
    for _ in range(8):  # 0.8 s in all: longer than the stall time
        for i in range(20):
            world.events.publish("flood", json.dumps({"n": sent, "pad": "y" * 10000}).encode())
            sent += 1
        run_loop(world.loop, 0.005)
        over += c.link.outlen > world.connector.max_outbuf
        time.sleep(0.1)  # slower than the broker
        for _ in range(4):  # but it does read
            c._read()
            run_loop(world.loop, 0.002)
    assert over >= 4  # its queue was past the limit most of the time
    got = c.recv(sent)
    assert [json.loads(m.payload_bytes)["n"] for m in got] == list(range(sent))
    assert not c.link.closed and c.link.uuid in world.connector.clients
    assert c.link.outlen == 0 and c.link.over_since is None


def test_a_client_past_the_limit_is_not_read_from_until_it_reads(world, monkeypatch):
    """Its own requests cannot grow its queue further: the broker stops reading them
    (they wait in the socket) until the client has taken its queue back under the
    limit; then they are all answered."""
    monkeypatch.setattr(socketlink, "STALL_SECONDS", 5.0)
    world.connector.max_outbuf = 100_000
    c = world.connect()
    c.rpc("event.subscribe", {"topic": ""})
    for _ in range(8):
        world.events.publish("flood", b"x" * 65536)
    run_loop(world.loop, 0.05)
    assert c.link.over_since is not None and not c.link.closed
    c.send(b"".join(encode_stream(request("probe.see", {"n": n}, matchtag=n + 1))
                    for n in range(20)))
    run_loop(world.loop, 0.1)
    assert world.seen == []  # not read while the client reads nothing
    got = c.recv(8 + 20)  # it reads: the flood, then the answers
    assert [m.topic for m in got[:8]] == ["flood"] * 8
    assert [m.matchtag for m in got[8:]] == list(range(1, 21))
    assert all(json.loads(m.payload_bytes.rstrip(b"\0")) == {"ok": True} for m in got[8:])
    assert len(world.seen) == 20 and c.link.over_since is None and not c.link.closed


def test_a_queue_past_the_hard_limit_is_dropped_at_once(world, monkeypatch):
    monkeypatch.setattr(socketlink, "STALL_SECONDS", 60.0)
    world.connector.max_outbuf = 4096
    c = world.connect()
    c.rpc("event.subscribe", {"topic": ""})
    for _ in range(socketlink.HARD_LIMIT_FACTOR + 1):
        world.events.publish("flood", b"x" * 4096)
    assert c.link.closed and c.link.uuid not in world.connector.clients


# -- many responses at once (Router.respond_many) ---------------------------------------------


def _fields(msg: Message) -> tuple:
    return (msg.type, msg.flags, msg.userid, msg.rolemask, msg.errnum, msg.matchtag,
            msg.topic, msg.routes, msg.payload_bytes)


PAYLOADS = [b'{"event":"a\\n"}\0', b"", b"x" * 300, b'{"event":"b\\n"}\0']


@pytest.mark.parametrize("traced", [False, True])
def test_respond_many_sends_what_respond_sends_one_by_one(world, monkeypatch, traced):
    held: list[Message] = []
    world.router.builtin("many").method("hold", held.append, FLUX_ROLE_ALL)
    c = world.connect()
    seen: list[str] = []
    if traced:
        monkeypatch.setattr(Client, "trace", lambda self, prefix, msg: seen.append(prefix),
                            raising=False)
        c.link.traced = [object()]
    c.send(request("many.hold", {}, matchtag=7, flags=FLUX_MSGFLAG_STREAMING))
    c.send(request("many.hold", {}, matchtag=8, flags=FLUX_MSGFLAG_STREAMING))
    run_until(world.loop, lambda: len(held) == 2)
    tx = world.router.tx[2]
    world.router.respond_many(held[0], PAYLOADS)
    assert world.router.tx[2] == tx + len(PAYLOADS)
    for payload in PAYLOADS:
        world.router.respond(held[1], payload)
    got = c.recv(2 * len(PAYLOADS))
    many, each = got[:len(PAYLOADS)], got[len(PAYLOADS):]
    assert [m.matchtag for m in many] == [7] * len(PAYLOADS)
    for a, b in zip(many, each):
        b.matchtag = 7
        assert _fields(a) == _fields(b)
    assert [m.payload_bytes for m in many] == [p or None for p in PAYLOADS]
    if traced:
        assert seen.count("rx") == 2 * len(PAYLOADS)  # each response seen by the trace


def test_respond_many_to_a_client_gone_or_without_response(world):
    held: list[Message] = []
    world.router.builtin("many").method("hold", held.append, FLUX_ROLE_ALL)
    c = world.connect()
    c.send(request("many.hold", {}, matchtag=1, flags=FLUX_MSGFLAG_NORESPONSE))
    c.send(request("many.hold", {}, matchtag=2, flags=FLUX_MSGFLAG_STREAMING))
    run_until(world.loop, lambda: len(held) == 2)
    world.router.respond_many(held[0], PAYLOADS)  # NORESPONSE: nothing
    world.router.respond_many(held[1], [b"last"])
    (resp,) = c.recv()
    assert resp.matchtag == 2 and resp.payload_bytes == b"last"
    c.close()
    run_loop(world.loop, 0.05)
    world.router.respond_many(held[1], PAYLOADS)  # its client is gone: dropped quietly

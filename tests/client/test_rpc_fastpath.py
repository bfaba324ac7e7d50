"""The synchronous RPC fast path (issue 14): same bytes, same results, same fallbacks.

``RPC`` writes a request from a per-topic template (flux.codec.request_template) and
an unwatched RPC takes its answer without the general future machinery.  These tests
put a handle on one end of a socketpair and play the broker on the other end, so the
exact bytes each side sees can be compared with what the Message path produces.
"""

from __future__ import annotations

import errno
import os
import socket

import pytest

import flux
from flux.codec import StreamDecoder, encode_stream
from flux.constants import (
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGTYPE_RESPONSE,
    FLUX_RPC_NORESPONSE,
    FLUX_RPC_STREAMING,
)
from flux.core.connection import Connection
from flux.core.dispatch import HandleCore
from flux.message import Message, payload_bytes

PAYLOAD = {"seq": 3, "text": "é", "list": [1, 2]}


@pytest.fixture
def pair():
    ours, peer = socket.socketpair()
    peer.settimeout(5)
    ours.settimeout(None)
    h = flux.Flux(handle=HandleCore(Connection(ours, "test://")))
    yield h, peer
    h._core.close()
    peer.close()


def read_request(peer: socket.socket) -> tuple[bytes, Message]:
    dec = StreamDecoder()
    data = b""
    while True:
        chunk = peer.recv(1 << 16)
        assert chunk, "handle closed the connection"
        data += chunk
        msgs = dec.feed(chunk)
        if msgs:
            assert len(msgs) == 1
            return data, msgs[0]


def expected_request(topic: str, payload, tag: int, flags: int = 0, userid=None,
                     rolemask=None) -> bytes:
    msg = Message()
    msg.flags |= FLUX_MSGFLAG_ROUTE | flags
    msg.topic = topic
    msg.payload_bytes = payload_bytes(payload)
    msg.matchtag = tag
    if userid is not None:
        msg.userid = userid
    if rolemask is not None:
        msg.rolemask = rolemask
    return encode_stream(msg)


def response(tag: int, payload: bytes | None = None, errnum: int = 0, topic: str = "t.x",
             route_flag: bool = True) -> bytes:
    msg = Message(FLUX_MSGTYPE_RESPONSE)
    if route_flag:
        msg.flags |= FLUX_MSGFLAG_ROUTE
    msg.topic = topic
    msg.errnum = errnum
    msg.matchtag = tag
    msg.payload_bytes = payload
    return encode_stream(msg)


def test_request_bytes_equal_the_message_path(pair):
    h, peer = pair
    f = h.rpc("svc.method", PAYLOAD)
    raw, msg = read_request(peer)
    assert raw == expected_request("svc.method", PAYLOAD, f.get_matchtag())
    assert msg.payload == PAYLOAD
    g = h.rpc("svc.other", "text", nodeid=7, flags=FLUX_RPC_STREAMING)
    raw, msg = read_request(peer)
    exp = Message()
    exp.flags |= FLUX_MSGFLAG_ROUTE | FLUX_MSGFLAG_STREAMING
    exp.topic = "svc.other"
    exp.payload_str = "text"
    exp.nodeid = 7
    exp.matchtag = g.get_matchtag()
    assert raw == encode_stream(exp)
    h.rpc("svc.none", flags=FLUX_RPC_NORESPONSE)
    raw, msg = read_request(peer)
    assert msg.matchtag == 0 and msg.noresponse and msg.payload_bytes is None
    assert raw == encode_stream(msg)


def test_handle_credentials_from_the_environment(monkeypatch):
    monkeypatch.setenv("FLUX_HANDLE_USERID", "4242")
    monkeypatch.setenv("FLUX_HANDLE_ROLEMASK", "0x2")
    ours, peer = socket.socketpair()
    try:
        h = flux.Flux(handle=HandleCore(Connection(ours, "test://")))
        f = h.rpc("svc.method", PAYLOAD)
        raw, msg = read_request(peer)
        assert (msg.userid, msg.rolemask) == (4242, 2)
        assert raw == expected_request("svc.method", PAYLOAD, f.get_matchtag(), userid=4242,
                                       rolemask=2)
    finally:
        ours.close()
        peer.close()


def test_a_wrapped_send_still_sees_every_request_as_a_message(pair):
    """A module process counts what it sends by wrapping conn.send on the instance."""
    h, peer = pair
    conn = h._core.conn
    seen = []
    send = conn.send

    def counting(msg):
        seen.append(msg)
        send(msg)

    conn.send = counting
    f = h.rpc("svc.method", PAYLOAD)
    raw, _ = read_request(peer)
    assert [m.topic for m in seen] == ["svc.method"]
    assert raw == expected_request("svc.method", PAYLOAD, f.get_matchtag())


def test_get_then_the_other_getters(pair):
    h, peer = pair
    f = h.rpc("svc.method", PAYLOAD)
    _, req = read_request(peer)
    peer.sendall(response(req.matchtag, b'{"a": [1, "\xc3\xa9"]}\0'))
    assert f.get() == {"a": [1, "é"]}
    assert f.get() == {"a": [1, "é"]}  # the result stays
    assert f.get_str() == '{"a": [1, "é"]}'
    assert f.get_raw() == b'{"a": [1, "\xc3\xa9"]}\0'
    msg = f.get_message()
    assert msg.type == FLUX_MSGTYPE_RESPONSE and msg.matchtag == req.matchtag
    assert f.is_ready()
    assert h._core.rpcs == {}  # the matchtag went back to the pool
    g = h.rpc("svc.method")
    assert g.get_matchtag() == req.matchtag


def test_no_payload_and_no_route_flag(pair):
    h, peer = pair
    f = h.rpc("svc.method")
    _, req = read_request(peer)
    peer.sendall(response(req.matchtag, None, route_flag=False))
    assert f.get() is None
    assert f.get_str() is None


@pytest.mark.parametrize("text,expected", [(b"it broke\0", "it broke"), (None, os.strerror(errno.ENOENT))])
def test_error_response(pair, text, expected):
    h, peer = pair
    f = h.rpc("svc.method", PAYLOAD)
    _, req = read_request(peer)
    peer.sendall(response(req.matchtag, text, errnum=errno.ENOENT))
    for _ in range(2):  # the error stays too
        with pytest.raises(OSError) as exc:
            f.get()
        assert exc.value.errno == errno.ENOENT
        assert exc.value.strerror == expected
    assert h._core.rpcs == {}


def test_answers_for_others_arriving_first_are_kept_in_order(pair):
    """Two RPCs in flight, both answers in one read, the second's first: get() on the
    first takes its own and leaves the other's for its RPC (and events for later)."""
    h, peer = pair
    f1 = h.rpc("svc.a", {"n": 1})
    f2 = h.rpc("svc.b", {"n": 2})
    t1, t2 = f1.get_matchtag(), f2.get_matchtag()
    assert t1 != t2
    event = Message.from_event_encode("ev.x", {"e": 1})
    peer.sendall(response(t2, b'{"n":2}\0') + encode_stream(event)
                 + response(t1, b'{"n":1}\0'))
    assert f1.get() == {"n": 1}
    assert not f2.is_ready()  # kept in the backlog, delivered when asked for
    assert f2.get() == {"n": 2}
    got = h.recv()
    assert got.topic == "ev.x" and got.payload == {"e": 1}


def test_split_answer_and_streaming(pair):
    """An answer that arrives in pieces, then a stream of three answers."""
    h, peer = pair
    f = h.rpc("svc.method", PAYLOAD)
    _, req = read_request(peer)
    data = response(req.matchtag, b'{"x":1}\0')
    peer.sendall(data[:5])
    peer.sendall(data[5:])
    assert f.get() == {"x": 1}
    s = h.rpc("svc.stream", flags=FLUX_RPC_STREAMING)
    _, req = read_request(peer)
    peer.sendall(b"".join(response(req.matchtag, f'{{"i":{i}}}\0'.encode()) for i in range(3))
                 + response(req.matchtag, None, errnum=errno.ENODATA))
    got = []
    while True:
        try:
            got.append(s.get()["i"])
        except OSError as exc:
            assert exc.errno == errno.ENODATA
            break
        s.reset()
    assert got == [0, 1, 2]


def test_then_still_runs_from_the_reactor(pair):
    h, peer = pair
    results = []
    f = h.rpc("svc.method", PAYLOAD)
    _, req = read_request(peer)
    f.then(lambda fut: results.append(fut.get()))
    peer.sendall(response(req.matchtag, b'{"ok":true}\0'))
    h.reactor_run()
    assert results == [{"ok": True}]


def test_lost_connection_fails_the_get_and_the_next_rpc(pair):
    h, peer = pair
    f = h.rpc("svc.method", PAYLOAD)
    read_request(peer)
    peer.close()
    with pytest.raises(OSError) as exc:
        f.get()
    assert exc.value.errno == errno.ECONNRESET
    with pytest.raises(OSError) as exc:
        h.rpc("svc.method", PAYLOAD)
    assert exc.value.errno == errno.ECONNRESET


def test_bytes_topic_and_the_template_cache_bound(pair):
    h, peer = pair
    f = h.rpc(b"svc.method", PAYLOAD)
    raw, _ = read_request(peer)
    assert raw == expected_request("svc.method", PAYLOAD, f.get_matchtag())
    with pytest.raises(OSError) as exc:
        h.rpc(None)
    assert exc.value.errno == errno.EINVAL
    with pytest.raises(TypeError):
        h.rpc(42)
    for i in range(300):  # made-up topics: the templates kept stay bounded
        g = h.rpc(f"svc.m{i}", flags=FLUX_RPC_NORESPONSE)
        raw, msg = read_request(peer)
        assert msg.topic == f"svc.m{i}"
        assert g.get() is None
    assert 0 < len(h._core._templates) <= 256
    assert h._core.rpcs.keys() == {f.get_matchtag()}  # failed calls took no matchtag

"""A future whose callback takes each result and resets runs again at once on the next
queued one (flux.future.INVOKE_BURST in a row), not once per reactor pass; order,
errors and the reactor's other work are unchanged.  The broker is played on a
socketpair."""

from __future__ import annotations

import json
import socket

import pytest

import flux
import flux.future
from flux.codec import StreamDecoder, encode_stream
from flux.constants import FLUX_MSGFLAG_ROUTE, FLUX_MSGTYPE_RESPONSE, FLUX_RPC_STREAMING
from flux.core.connection import Connection
from flux.core.dispatch import HandleCore
from flux.message import Message

FLUX_REACTOR_NOWAIT = 1
FLUX_REACTOR_ONCE = 2


@pytest.fixture
def pair():
    ours, peer = socket.socketpair()
    peer.settimeout(5)
    h = flux.Flux(handle=HandleCore(Connection(ours, "test://")))
    yield h, peer
    h._core.close()
    peer.close()


def request_tag(peer: socket.socket) -> int:
    dec = StreamDecoder()
    while True:
        msgs = dec.feed(peer.recv(1 << 16))
        if msgs:
            return msgs[0].matchtag


def responses(tag: int, count: int, errnum_last: int = 0) -> bytes:
    out = []
    for n in range(count):
        msg = Message(FLUX_MSGTYPE_RESPONSE)
        msg.flags |= FLUX_MSGFLAG_ROUTE
        msg.topic = "svc.stream"
        msg.matchtag = tag
        if errnum_last and n == count - 1:
            msg.errnum = errnum_last
        else:
            msg.payload_bytes = json.dumps({"n": n}).encode() + b"\0"
        out.append(encode_stream(msg))
    return b"".join(out)


def test_queued_results_run_in_bursts_in_order(pair):
    h, peer = pair
    got: list[int] = []
    passes = [0]

    def cb(fut):
        try:
            got.append(fut.get()["n"])
        except OSError:
            h.reactor_stop()
            return
        fut.reset()

    f = h.rpc("svc.stream", {}, flags=FLUX_RPC_STREAMING).then(cb)
    peer.sendall(responses(request_tag(peer), 1000, errnum_last=61))  # ENODATA ends it
    while len(got) < 999 and passes[0] < 2000:
        h.reactor_run(flags=FLUX_REACTOR_ONCE)
        passes[0] += 1
    assert got == list(range(999))
    # 999 results in bursts of INVOKE_BURST, plus the passes that read the socket
    assert passes[0] <= 999 // flux.future.INVOKE_BURST + 10, passes[0]
    assert f is not None


def test_an_exception_in_a_burst_reaches_reactor_run(pair):
    h, peer = pair
    got: list[int] = []

    def cb(fut):
        n = fut.get()["n"]
        got.append(n)
        if n == 5:
            raise RuntimeError("boom at 5")
        fut.reset()

    h.rpc("svc.stream", {}, flags=FLUX_RPC_STREAMING).then(cb)
    peer.sendall(responses(request_tag(peer), 20))
    with pytest.raises(RuntimeError, match="boom at 5"):
        for _ in range(100):
            h.reactor_run(flags=FLUX_REACTOR_ONCE)
    assert got == list(range(6))  # no callback after the one that raised


def test_a_callback_that_does_not_reset_runs_once_per_result(pair):
    """Without a reset nothing new becomes current: no burst, no second call."""
    h, peer = pair
    calls: list[int] = []

    def cb(fut):
        calls.append(fut.get()["n"])

    h.rpc("svc.stream", {}, flags=FLUX_RPC_STREAMING).then(cb)
    peer.sendall(responses(request_tag(peer), 3))
    h.reactor_run(flags=FLUX_REACTOR_ONCE)  # reads all three
    for _ in range(20):
        h.reactor_run(flags=FLUX_REACTOR_NOWAIT)
    assert calls == [0]

"""The overlay's wire: one ZeroMQ part per Flux frame (checked against flux-core's
captured messages), the k-ary tree, hostlists and business cards, ZAP answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

zmq = pytest.importorskip("zmq")

from flux import codec  # noqa: E402
from flux.broker.overlay.boot_util import (  # noqa: E402
    bizcard, hostlist_decode, hostlist_encode, parse_bizcard,
)
from flux.broker.overlay.overlay import version_hex  # noqa: E402
from flux.broker.overlay.zap import ZapHandler  # noqa: E402
from flux.broker.topology import (  # noqa: E402
    LOCAL, PARENT, REMOTE, UNREACHABLE, Topology, parse_topo,
)
from flux.constants import FLUX_NODEID_ANY  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data" / "interop"
VECTORS = json.loads((DATA / "vectors.json").read_text())["vectors"]


def _body(name: str) -> bytes:
    return (DATA / name).read_bytes()[8:]  # stream header: magic + length


def _prefixed(frames: list[bytes]) -> bytes:
    out = b""
    for f in frames:
        out += bytes([len(f)]) if len(f) < 255 else b"\xff" + len(f).to_bytes(4, "big")
        out += f
    return out


@pytest.mark.parametrize("vec", VECTORS, ids=[v["file"] for v in VECTORS])
def test_parts_are_the_golden_frames(vec):
    body = _body(vec["file"])
    msg = codec.decode(body)
    parts = codec.to_frames(msg)
    assert _prefixed(parts) == body  # each part is exactly one frame of flux-core's encoding
    assert codec.encode(codec.from_frames(parts)) == body


def test_parts_cross_a_dealer_router_pair():
    """A child's DEALER (identity = its uuid) to a parent's ROUTER: the ROUTER's
    identity part reads as the most recent route hop; back down, the identity
    part is consumed as the destination."""
    ctx = zmq.Context()
    try:
        router = ctx.socket(zmq.ROUTER)
        router.bind("inproc://overlay-test")
        dealer = ctx.socket(zmq.DEALER)
        uuid = "0b7e2c1a-6a3e-4f57-9c1d-6f1a2b3c4d5e"
        dealer.setsockopt(zmq.IDENTITY, uuid.encode())
        dealer.connect("inproc://overlay-test")
        for vec in VECTORS:
            if vec["type"] != "request":
                continue
            msg = codec.decode(_body(vec["file"]))
            dealer.send_multipart(codec.to_frames(msg))
            parts = router.recv_multipart()
            got = codec.from_frames(parts)  # ROUTE is set: the identity is a route
            assert got.routes == msg.routes + [uuid]
            assert (got.topic, got.payload_bytes, got.aux2) == (msg.topic, msg.payload_bytes,
                                                                msg.aux2)
            router.send_multipart(codec.to_frames(got))  # frame 0 = uuid: the destination
            back = codec.from_frames(dealer.recv_multipart())
            assert back.routes == msg.routes
        dealer.close(0)
        router.close(0)
    finally:
        ctx.term()


def test_zap_answers():
    ctx = zmq.Context()
    try:
        zap = ZapHandler(ctx)
        pub, _ = zmq.curve_keypair()
        zap.authorize("3", pub)
        raw = zmq.utils.z85.decode(pub)
        ok = zap.answer([b"1.0", b"7", b"flux", b"", b"", b"CURVE", raw])
        assert ok[:5] == [b"1.0", b"7", b"200", b"OK", b"3"]
        other = zmq.utils.z85.decode(zmq.curve_keypair()[0])
        assert zap.answer([b"1.0", b"8", b"flux", b"", b"", b"CURVE", other])[2] == b"400"
        assert zap.answer([b"1.0", b"9", b"flux", b"", b"", b"NULL"])[2] == b"400"
        assert zap.answer([b"junk"])[2] == b"500"
        assert zap.denied == 2
        zap.close()
    finally:
        ctx.term()


# -- the tree -----------------------------------------------------------------------

def test_kary_tree():
    t = Topology(1, 8, 2)
    assert (t.parent, t.children, t.level, t.maxlevel, t.descendants()) == (0, [3, 4], 1, 3, 3)
    assert t.subtree(1) == [1, 3, 4, 7]
    assert t.child_toward(7) == 3 and t.child_toward(5) == -1
    assert t.route(7, False) == REMOTE
    assert t.route(2, False) == PARENT and t.route(0, False) == PARENT
    assert t.route(1, False) == LOCAL and t.route(FLUX_NODEID_ANY, False) == LOCAL
    assert t.route(1, True) == PARENT and t.route(3, True) == LOCAL
    assert t.route(8, False) == UNREACHABLE
    root = Topology(0, 8, 2)
    assert root.route(0, True) == UNREACHABLE and root.route(5, False) == REMOTE
    flat = Topology(0, 5, 0)  # kary:0: flat
    assert flat.children == [1, 2, 3, 4] and flat.maxlevel == 1
    default = Topology(0, 40)
    assert len(default.children) == 32 and default.maxlevel == 2
    assert t.attributes("kary:2") == {"tbon.topo": "kary:2", "tbon.fanout": "2",
                                      "tbon.level": "1", "tbon.maxlevel": "3",
                                      "tbon.descendants": "3"}


def test_parse_topo():
    assert parse_topo("kary:32") == 32 and parse_topo("kary:0") == 0
    for bad in ("binary", "kary", "kary:x", "kary:-1", "mincrit"):
        with pytest.raises(ValueError):
            parse_topo(bad)


def test_hostlists_and_cards():
    assert hostlist_encode(["foo0", "foo1", "foo2", "bar"]) == "foo[0-2],bar"
    assert hostlist_encode(["n1", "n3", "n4"]) == "n[1,3-4]"
    assert hostlist_encode(["vm", "vm"]) == "vm,vm"
    assert hostlist_decode("foo[0-2],bar") == ["foo0", "foo1", "foo2", "bar"]
    assert hostlist_decode("n[01-03]") == ["n01", "n02", "n03"]
    text = bizcard("h", "K" * 40, ["ipc:///x/tbon-0"])
    assert text == '{"host":"h","pubkey":"' + "K" * 40 + '","uri":["ipc:///x/tbon-0"]}'
    assert parse_bizcard(text)["uri"] == ["ipc:///x/tbon-0"]
    with pytest.raises(ValueError):
        parse_bizcard('{"pubkey":"x"}')


def test_version_hex():
    assert version_hex("0.88.0") == 0x005800
    assert version_hex("1.2.3-rc1") == 0x010203

"""flux.codec's relay functions: editing a message's bytes == decode, edit, encode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux.codec import (
    ProtocolError,
    decode_range,
    encode_stream,
    peek,
    peek_head,
    relay_stream,
)
from flux.constants import FLUX_MSGFLAG_ROUTE

from tests.unit.test_codec import SETTINGS, messages, route_ids, u32_edges

DATA = Path(__file__).resolve().parents[1] / "data" / "interop"
VECTORS = json.loads((DATA / "vectors.json").read_text())["vectors"]


def slow_relay(raw: bytes, pop: int, push: list[str], userid, rolemask) -> bytes:
    """The reference: decode, edit the Message, encode."""
    msg = decode_range(raw, 8, len(raw))
    for _ in range(pop):
        msg.routes.pop()
    for hop in push:
        msg.routes.append(hop)
        msg.flags |= FLUX_MSGFLAG_ROUTE
    if userid is not None:
        msg.userid = userid
    if rolemask is not None:
        msg.rolemask = rolemask
    return encode_stream(msg)


def check(raw: bytes, pop: int, push: list[str], userid=None, rolemask=None) -> None:
    # embedded in a larger buffer, as in a receive chunk
    buf = b"garbage!" + raw + b"more"
    fast = relay_stream(buf, 16, 8 + len(raw), pop, push, userid, rolemask)
    assert fast == slow_relay(raw, pop, push, userid, rolemask)


@SETTINGS
@given(messages(), st.data(), st.lists(route_ids, max_size=3),
       st.one_of(st.none(), u32_edges), st.one_of(st.none(), u32_edges))
def test_relay_equals_decode_edit_encode(msg, data, push, userid, rolemask):
    raw = encode_stream(msg)
    pop = data.draw(st.integers(0, len(msg.routes))) if msg.flags & FLUX_MSGFLAG_ROUTE else 0
    check(raw, pop, push, userid, rolemask)


@SETTINGS
@given(messages())
def test_peek_reads_what_decode_reads(msg):
    raw = encode_stream(msg)
    buf = b"x" * 5 + raw
    dec = decode_range(buf, 13, len(buf))
    assert peek(buf, 13, len(buf)) == (dec.type, dec.flags, dec.userid, dec.rolemask,
                                        dec.aux1, dec.aux2)
    assert peek_head(buf, 13, len(buf))[6] == dec.routes


@pytest.mark.parametrize("vec", VECTORS, ids=[v["file"] for v in VECTORS])
def test_golden_vectors(vec):
    raw = (DATA / vec["file"]).read_bytes()
    assert peek(raw, 8, len(raw))[:2] == (
        {"request": 1, "response": 2, "event": 4, "control": 8}[vec["type"]], vec["flags"])
    routes = peek_head(raw, 8, len(raw))[6]
    assert routes == list(reversed(vec["route"]))  # the vectors list them in wire order
    assert relay_stream(raw, 8, len(raw)) == raw  # no edit: the same bytes
    for pop in range(len(routes) + 1):
        check(raw, pop, [])
    check(raw, 0, ["3b1f3c2e-5d6e-4f70-8a9b-0c1d2e3f4a5b", "b"], 1000, 5)
    if routes:
        check(raw, 1, ["c" * 300])


def test_popping_too_many_routes_is_a_protocol_error():
    from flux.message import Message

    m = Message(1)
    m.topic = "a.b"
    raw = encode_stream(m)
    with pytest.raises(ProtocolError):
        relay_stream(raw, 8, len(raw), pop=1)
    m.flags |= FLUX_MSGFLAG_ROUTE
    m.routes = ["x"]
    raw = encode_stream(m)
    with pytest.raises(ProtocolError):
        relay_stream(raw, 8, len(raw), pop=2)
    with pytest.raises(ProtocolError):
        relay_stream(raw, 8, len(raw), push=[""])


def test_peek_leaves_malformed_bodies_to_the_decoder():
    from flux.message import Message

    raw = bytearray(encode_stream(Message(1)))
    assert peek(bytes(raw), 8, len(raw)) is not None
    raw[-20] = 0x8F  # bad PROTO magic
    assert peek(bytes(raw), 8, len(raw)) is None
    assert peek(b"\x00" * 8 + b"\x05abcde", 8, 14) is None  # too short for a PROTO frame


@SETTINGS
@given(st.lists(messages(), min_size=1, max_size=4), st.lists(st.integers(1, 64), max_size=6))
def test_feed_ranges_finds_what_feed_decodes(msgs, cuts):
    from flux.codec import StreamDecoder

    stream = b"".join(encode_stream(m) for m in msgs)
    chunks, pos = [], 0
    for c in cuts:
        chunks.append(stream[pos:pos + c])
        pos += c
    chunks.append(stream[pos:])
    whole, ranged = StreamDecoder(), StreamDecoder()
    a, b = [], []
    for chunk in chunks:
        a.extend(whole.feed(chunk))
        view, ranges = ranged.feed_ranges(chunk)
        b.extend(decode_range(view, s, e) for s, e in ranges)
    assert a == b and len(a) == len(msgs)


@pytest.mark.parametrize("garbage,text", [
    (b"\x00\x00\x00\x05junk!", "bad stream magic"),
    (b"\x12\x00\xee\xff\x00\x00\x00\x05abcde", "too short"),
    (b"\x12\x00\xee\xff\x7f\x00\x00\x00", "exceeds the limit"),
])
def test_feed_ranges_refuses_bad_framing_as_feed_does(garbage, text):
    from flux.codec import StreamDecoder

    for method in ("feed", "feed_ranges"):
        dec = StreamDecoder()
        with pytest.raises(ProtocolError, match=text):
            getattr(dec, method)(garbage)
        assert dec.broken is not None


@SETTINGS
@given(messages())
def test_peek_topic_reads_what_decode_reads(msg):
    raw = encode_stream(msg)
    assert peek_head(raw, 8, len(raw))[7] == decode_range(raw, 8, len(raw)).topic


@pytest.mark.parametrize("vec", VECTORS, ids=[v["file"] for v in VECTORS])
def test_peek_topic_of_golden_vectors(vec):
    raw = (DATA / vec["file"]).read_bytes()
    assert peek_head(raw, 8, len(raw))[7] == vec.get("topic")


def check_head(buf: bytes, start: int, stop: int) -> None:
    """peek_head is peek + the routes and topic decode reads."""

    dec = decode_range(buf, start, stop)
    head = peek_head(buf, start, stop)
    from flux.codec import message_from_head

    assert head[:6] == peek(buf, start, stop)
    assert head[:8] == (dec.type, dec.flags, dec.userid, dec.rolemask, dec.aux1, dec.aux2,
                        dec.routes, dec.topic)
    msg = message_from_head(buf, start, stop, head)
    assert msg == dec and msg._topic_b == dec._topic_b and msg._payload == dec._payload
    if dec.flags & FLUX_MSGFLAG_ROUTE:  # every route popped: from the delimiter frame on
        from flux.codec import push_stream

        assert buf[head[8] - 1] == 0
        for userid, rolemask in ((None, None), (7, None), (None, 0xFFFFFFFF), (0, 1)):
            assert push_stream(buf, head[8] - 1, stop, b"", userid, rolemask) == \
                relay_stream(buf, start, stop, len(dec.routes), (), userid, rolemask)


def check_push(raw: bytes, push: list[str], userid=None, rolemask=None) -> None:
    from flux.codec import push_stream, route_frames

    buf = b"garbage!" + raw + b"more"
    fast = push_stream(buf, 16, 8 + len(raw), route_frames(push), userid, rolemask)
    assert fast == slow_relay(raw, 0, push, userid, rolemask)


@SETTINGS
@given(messages(), st.lists(route_ids, max_size=3),
       st.one_of(st.none(), u32_edges), st.one_of(st.none(), u32_edges))
def test_peek_head_and_push_stream_equal_decode_edit_encode(msg, push, userid, rolemask):
    raw = encode_stream(msg)
    check_head(b"x" * 5 + raw, 13, 5 + len(raw))
    check_push(raw, push, userid, rolemask)


@pytest.mark.parametrize("vec", VECTORS, ids=[v["file"] for v in VECTORS])
def test_peek_head_and_push_stream_of_golden_vectors(vec):
    raw = (DATA / vec["file"]).read_bytes()
    check_head(raw, 8, len(raw))
    check_push(raw, ["3b1f3c2e-5d6e-4f70-8a9b-0c1d2e3f4a5b", "b"], 1000, 5)
    check_push(raw, ["c" * 300])
    check_push(raw, ["M"], None, 0xFFFFFFFF)


def test_peek_head_refuses_what_the_decoder_refuses():
    from flux.codec import peek_head
    from flux.message import Message

    m = Message(1)
    m.topic = "a.b"
    m.flags |= FLUX_MSGFLAG_ROUTE
    m.routes = ["x"]
    raw = bytearray(encode_stream(m))
    assert peek_head(bytes(raw), 8, len(raw))[6:8] == (["x"], "a.b")
    bad_route = bytearray(raw)
    bad_route[9] = 0xFF  # the route id's one byte: not UTF-8
    with pytest.raises(ProtocolError):
        peek_head(bytes(bad_route), 8, len(raw))
    with pytest.raises(ProtocolError):
        decode_range(bytes(bad_route), 8, len(raw))
    long_route = bytearray(raw)
    long_route[8] = 200  # the route frame's size runs past the PROTO frame
    with pytest.raises(ProtocolError):
        peek_head(bytes(long_route), 8, len(raw))
    raw[-20] = 0x8F  # bad PROTO magic: left to the decoder
    assert peek_head(bytes(raw), 8, len(raw)) is None


@pytest.mark.parametrize("edit", ["no-payload-flag", "extra-frame", "payload-overrun"])
def test_message_from_head_judges_odd_frames_as_decode_range(edit):
    from flux.codec import message_from_head, peek_head
    from flux.constants import FLUX_MSGFLAG_PAYLOAD, FLUX_MSGFLAG_TOPIC
    from flux.message import Message

    m = Message(1)
    m.topic = "a.b"
    m.payload_bytes = b"xyz"
    raw = bytearray(encode_stream(m))
    if edit == "no-payload-flag":  # a payload frame the flags do not announce
        raw[-17] &= ~FLUX_MSGFLAG_PAYLOAD
    elif edit == "extra-frame":  # one more frame than the flags say (no TOPIC flag)
        raw[-17] &= ~FLUX_MSGFLAG_TOPIC
    else:  # the payload's size runs into the PROTO frame
        raw[8 + 4] = 30
    raw = bytes(raw)
    head = peek_head(raw, 8, len(raw))
    try:
        want = decode_range(raw, 8, len(raw))
    except ProtocolError:
        with pytest.raises(ProtocolError):
            message_from_head(raw, 8, len(raw), head)
        return
    assert message_from_head(raw, 8, len(raw), head) == want

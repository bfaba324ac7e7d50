"""flux.codec: round trips, golden flux-core captures, malformed input."""

from __future__ import annotations

import errno
import json
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from flux import codec
from flux.codec import (
    ProtocolError,
    StreamDecoder,
    decode,
    encode,
    encode_stream,
    from_frames,
    to_frames,
)
from flux.constants import (
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_PAYLOAD,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGFLAG_TOPIC,
    FLUX_MSGTYPE_CONTROL,
    FLUX_MSGTYPE_EVENT,
    FLUX_MSGTYPE_REQUEST,
    FLUX_MSGTYPE_RESPONSE,
)
from flux.message import Message, encode_json

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

DATA = Path(__file__).resolve().parents[1] / "data" / "interop"
VECTORS = json.loads((DATA / "vectors.json").read_text())["vectors"]
TYPES = {
    "request": FLUX_MSGTYPE_REQUEST,
    "response": FLUX_MSGTYPE_RESPONSE,
    "event": FLUX_MSGTYPE_EVENT,
    "control": FLUX_MSGTYPE_CONTROL,
}
HEADER_MAGIC = b"\x12\x00\xee\xff"  # 0xffee0012, native order on x86-64

# -- strategies ---------------------------------------------------------------------

u32 = st.integers(min_value=0, max_value=0xFFFFFFFF)
u32_edges = st.one_of(u32, st.sampled_from([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF]))

# Sizes around the 1-byte/5-byte size-prefix boundary (255 takes the long form).
BOUNDARY_SIZES = [0, 1, 253, 254, 255, 256, 257, 70000]

topics = st.one_of(
    st.none(),
    st.just(""),
    st.text(max_size=40),
    st.sampled_from(BOUNDARY_SIZES).map(lambda n: "t" * n),
    st.sampled_from([254, 255, 256]).map(lambda n: "é" * (n // 2) + "x" * (n % 2)),
)


def _json_payload(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\0"


payloads = st.one_of(
    st.none(),
    st.just(b""),  # an empty payload is "no payload"
    st.binary(min_size=1, max_size=64),
    st.sampled_from(BOUNDARY_SIZES[1:]).map(lambda n: bytes(i % 251 for i in range(n))),
    st.sampled_from([254, 255, 256]).map(lambda n: b"s" * (n - 1) + b"\0"),
    st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8), max_size=5).map(
        _json_payload
    ),
)

route_ids = st.one_of(
    st.text(min_size=1, max_size=40),
    st.uuids().map(str),
    st.sampled_from([254, 255, 256, 300]).map(lambda n: "r" * n),
)


@st.composite
def messages(draw, route_flag=None):
    msg = Message.__new__(Message)
    msg.type = draw(st.sampled_from(list(TYPES.values())))
    flags = draw(st.integers(0, 255))
    msg.userid = draw(u32_edges)
    msg.rolemask = draw(u32_edges)
    msg.aux1 = draw(u32_edges)
    msg.aux2 = draw(u32_edges)
    topic = draw(topics)
    payload = draw(payloads)
    if route_flag is not None:
        flags = (flags | FLUX_MSGFLAG_ROUTE) if route_flag else (flags & ~FLUX_MSGFLAG_ROUTE)
    routes = draw(st.lists(route_ids, max_size=5)) if flags & FLUX_MSGFLAG_ROUTE else []
    # Keep TOPIC/PAYLOAD consistent with what is present (the encoder derives
    # them from presence; a zero-length payload is never sent).
    flags &= ~(FLUX_MSGFLAG_TOPIC | FLUX_MSGFLAG_PAYLOAD)
    if topic is not None:
        flags |= FLUX_MSGFLAG_TOPIC
    if payload:
        flags |= FLUX_MSGFLAG_PAYLOAD
    msg.flags = flags
    msg.routes = routes
    msg._topic = topic
    msg._topic_b = None if topic is None else topic.encode()
    msg._payload = payload or None
    return msg


def assert_same(a: Message, b: Message) -> None:
    assert (a.type, a.flags, a.userid, a.rolemask, a.aux1, a.aux2) == (
        b.type,
        b.flags,
        b.userid,
        b.rolemask,
        b.aux1,
        b.aux2,
    )
    assert a.routes == b.routes
    assert a.topic == b.topic
    assert a.payload_bytes == b.payload_bytes
    assert a == b


def expect_decode_or_eproto(body: bytes) -> None:
    """decode() either yields a well-formed Message or raises ProtocolError."""
    try:
        msg = decode(body)
    except ProtocolError as exc:
        assert isinstance(exc, OSError)
        assert exc.errno == errno.EPROTO
        return
    assert isinstance(msg, Message)
    assert msg.type in TYPES.values()
    assert 0 <= msg.flags <= 255
    assert all(isinstance(r, str) and r for r in msg.routes)
    assert msg.topic is None or isinstance(msg.topic, str)
    assert msg.payload_bytes is None or isinstance(msg.payload_bytes, bytes)
    # anything that decodes re-encodes and decodes to the same message
    # (flags may lose a PAYLOAD bit for an empty payload frame)
    again = decode(encode(msg))
    assert again.routes == msg.routes and again.topic == msg.topic
    assert again.payload_bytes == msg.payload_bytes


def chunked(data: bytes, sizes: list[int]) -> list[bytes]:
    out, pos, i = [], 0, 0
    while pos < len(data):
        n = sizes[i % len(sizes)] if sizes else len(data)
        out.append(data[pos : pos + n])
        pos += n
        i += 1
    return out


# -- round trips ----------------------------------------------------------------------


@SETTINGS
@given(messages())
def test_encode_decode_round_trip(msg):
    body = encode(msg)
    assert_same(decode(body), msg)
    # the stream form is header + the same body
    stream = encode_stream(msg)
    assert stream[:4] == HEADER_MAGIC
    assert struct.unpack(">I", stream[4:8])[0] == len(body)
    assert stream[8:] == body
    # bytes-like input decodes too
    assert_same(decode(bytearray(body)), msg)
    assert_same(decode(memoryview(body)), msg)


@SETTINGS
@given(messages())
def test_frames_round_trip(msg):
    frames = to_frames(msg)
    assert len(frames[-1]) == 20 and frames[-1][0] == 0x8E and frames[-1][1] == 1
    if msg.flags & FLUX_MSGFLAG_ROUTE:
        n = len(msg.routes)
        assert frames[:n] == [r.encode() for r in reversed(msg.routes)]
        assert frames[n] == b""
    assert_same(from_frames(frames), msg)
    assert_same(from_frames(memoryview(f) for f in frames), msg)
    # the byte encoding is the frames with size prefixes
    prefixed = b"".join(
        (bytes([len(f)]) if len(f) < 255 else b"\xff" + struct.pack(">I", len(f))) + f
        for f in frames
    )
    assert encode(msg) == prefixed


@SETTINGS
@given(st.lists(messages(), min_size=1, max_size=5), st.lists(st.integers(1, 300), max_size=8))
def test_stream_decoder_random_chunks(msgs, sizes):
    data = b"".join(encode_stream(m) for m in msgs)
    dec = StreamDecoder()
    got = []
    for piece in chunked(data, sizes):
        got += dec.feed(piece)
    dec.check_eof()
    assert dec.buffered == 0
    assert len(got) == len(msgs)
    for a, b in zip(got, msgs):
        assert_same(a, b)


@settings(max_examples=20, deadline=None)
@given(st.lists(messages(), min_size=1, max_size=3))
def test_stream_decoder_one_byte_at_a_time(msgs):
    data = b"".join(encode_stream(m) for m in msgs)
    dec = StreamDecoder()
    got = []
    for i in range(len(data)):
        got += dec.feed(data[i : i + 1])
    dec.check_eof()
    assert got == msgs


def test_stream_decoder_large_message_byte_by_byte():
    msg = Message()
    msg.topic = "content.store"
    msg.payload_bytes = bytes(range(256)) * 300  # 76800 bytes
    msg.route_push("a" * 300)
    data = encode_stream(msg) * 2
    dec = StreamDecoder()
    got = []
    for i in range(len(data)):
        got += dec.feed(data[i : i + 1])
        if i < len(data) // 2 - 1:
            assert got == []
    assert got == [msg, msg]
    dec.check_eof()


def test_stream_decoder_large_message_in_chunks_is_linear():
    # a big blob arriving in socket-sized chunks must not be re-copied per chunk
    import time

    msg = Message()
    msg.topic = "content.store"
    msg.payload_bytes = b"x" * (32 << 20)
    data = encode_stream(msg)
    dec = StreamDecoder()
    t0 = time.perf_counter()
    got = []
    for i in range(0, len(data), 65536):
        got += dec.feed(data[i : i + 65536])
    elapsed = time.perf_counter() - t0
    assert got == [msg]
    assert elapsed < 1.5  # ~0.05 s linear; quadratic re-copying took ~5 s


def test_stream_decoder_accepts_bytes_like():
    msg = Message()
    msg.topic = "a.b"
    msg.payload = {"x": 1}
    data = encode_stream(msg)
    dec = StreamDecoder()
    assert dec.feed(bytearray(data[:5])) == []
    assert dec.feed(memoryview(data[5:])) == [msg]
    assert dec.feed(b"") == []


def test_size_prefix_boundaries():
    for n in (1, 253, 254, 255, 256, 65535, 65536, 70000):
        msg = Message()
        msg.topic = "t"
        msg.payload_bytes = b"p" * n
        body = encode(msg)
        # frames: topic, payload, PROTO
        assert body[:2] == b"\x01t"
        if n < 255:
            assert body[2] == n and body[3 : 3 + n] == b"p" * n
        else:
            assert body[2] == 0xFF and struct.unpack(">I", body[3:7])[0] == n
        assert body[-21] == 20
        assert decode(body).payload_bytes == b"p" * n


def test_empty_topic_is_a_zero_length_frame():
    msg = Message()
    msg.topic = ""
    body = encode(msg)
    assert body[0] == 0 and len(body) == 22
    out = decode(body)
    assert out.topic == "" and out.flags & FLUX_MSGFLAG_TOPIC
    assert out == msg


def test_worked_example_from_protocol_md():
    msg = Message()
    msg.route_enable()
    msg.topic = "attr.get"
    msg.payload_bytes = encode_json({"name": "rank"})  # libflux's compact JSON
    msg.matchtag = 1
    expected = bytes.fromhex(
        "1200eeff00000030" "00" "08" + b"attr.get".hex() + "10" + b'{"name":"rank"}\0'.hex()
        + "148e01010bffffffff00000000ffffffff00000001"
    )
    assert encode_stream(msg) == expected


def test_encode_rejects_bad_fields():
    msg = Message()
    msg.route_push("")
    with pytest.raises(ProtocolError):
        encode(msg)
    with pytest.raises(ProtocolError):
        to_frames(msg)
    for field in ("userid", "rolemask", "aux1", "aux2", "flags", "type"):
        for bad in (-1, 1 << 32 if field not in ("flags", "type") else 256):
            m = Message()
            setattr(m, field, bad)
            with pytest.raises(ProtocolError) as info:
                encode(m)
            assert info.value.errno == errno.EPROTO


def test_event_route_stack_accepted():
    msg = Message.from_event_encode("golden.test", {"a": 1})
    msg.route_push("11111111-aaaa")
    msg.route_push("22222222-bbbb")
    out = decode(encode(msg))
    assert out.routes == ["11111111-aaaa", "22222222-bbbb"]
    assert out.route_string() == "11111111!22222222"


def test_extra_frames_before_proto_are_ignored():
    msg = Message()
    msg.topic = "a"
    frames = to_frames(msg)
    frames.insert(-1, b"extra")
    assert from_frames(frames) == msg
    body = b"".join(bytes([len(f)]) + f for f in frames)
    assert decode(body) == msg


def test_long_form_proto_frame_prefix_accepted():
    msg = Message()
    msg.topic = "a"
    frames = to_frames(msg)
    body = b"\x01a" + b"\xff" + struct.pack(">I", 20) + frames[-1]
    assert decode(body) == msg


# -- golden vectors -----------------------------------------------------------------


@pytest.mark.parametrize("vec", VECTORS, ids=[v["file"] for v in VECTORS])
def test_golden_vector(vec):
    raw = (DATA / vec["file"]).read_bytes()
    assert raw[:4] == HEADER_MAGIC
    assert struct.unpack(">I", raw[4:8])[0] == len(raw) - 8

    dec = StreamDecoder()
    [msg] = dec.feed(raw)
    dec.check_eof()
    assert decode(raw[8:]) == msg

    assert msg.type == TYPES[vec["type"]]
    assert msg.type_str == vec["type"]
    assert msg.flags == vec["flags"]
    assert msg.userid == vec["userid"]
    assert msg.rolemask == vec["rolemask"]
    aux1_key = {"request": "nodeid", "response": "errnum", "event": "seq"}[vec["type"]]
    assert msg.aux1 == vec[aux1_key]
    assert getattr(msg, aux1_key) == vec[aux1_key]
    assert msg.aux2 == vec.get("matchtag", vec.get("aux2"))
    if "matchtag" in vec:
        assert msg.matchtag == vec["matchtag"]
    # the vectors list routes in wire order: frame 0 first
    assert list(reversed(msg.routes)) == vec["route"]
    assert msg.route_count() == len(vec["route"])
    assert msg.topic == vec["topic"]
    if vec["payload"] is None:
        assert msg.payload_bytes is None
        assert not msg.flags & FLUX_MSGFLAG_PAYLOAD
    else:
        assert msg.payload_str == vec["payload"]
        nul = msg.payload_bytes.endswith(b"\0")
        assert nul == vec["payload_nul_terminated"]
        expected = vec["payload"].encode() + (b"\0" if nul else b"")
        assert msg.payload_bytes == expected
        if nul and vec["payload"].startswith("{"):
            assert msg.payload == json.loads(vec["payload"])

    # re-encoding reproduces the capture byte for byte, in every form
    assert encode_stream(msg) == raw
    assert encode(msg) == raw[8:]
    assert from_frames(to_frames(msg)) == msg

    # and a message rebuilt from the described fields does too
    rebuilt = Message(TYPES[vec["type"]])
    rebuilt.flags = vec["flags"] & ~(FLUX_MSGFLAG_TOPIC | FLUX_MSGFLAG_PAYLOAD)
    rebuilt.userid = vec["userid"]
    rebuilt.rolemask = vec["rolemask"]
    rebuilt.aux1 = vec[aux1_key]
    rebuilt.aux2 = vec.get("matchtag", vec.get("aux2"))
    for r in reversed(vec["route"]):
        rebuilt.route_push(r)
    rebuilt.topic = vec["topic"]
    if vec["payload"] is not None:
        rebuilt.payload_bytes = vec["payload"].encode() + (
            b"\0" if vec["payload_nul_terminated"] else b""
        )
    assert encode_stream(rebuilt) == raw


def test_golden_vectors_concatenated_stream():
    raws = [(DATA / v["file"]).read_bytes() for v in VECTORS]
    data = b"".join(raws)
    for size in (1, 7, 64, 1000, len(data)):
        dec = StreamDecoder()
        got = []
        for piece in chunked(data, [size]):
            got += dec.feed(piece)
        dec.check_eof()
        assert [encode_stream(m) for m in got] == raws


# -- malformed input -------------------------------------------------------------------


def _sample_stream() -> bytes:
    msg = Message()
    msg.route_push("4cda3b71-a49f-4951-9cfc-0775c1a69d3d")
    msg.route_push("r" * 300)
    msg.topic = "kvs.lookup"
    msg.payload = {"key": "a.b", "namespace": "primary", "flags": 0, "pad": "x" * 300}
    return encode_stream(msg)


def _proto(magic=0x8E, version=1, mtype=1, flags=0, rest=(0, 0, 0, 0)) -> bytes:
    return struct.pack(">BBBBIIII", magic, version, mtype, flags, *rest)


def _stream_of(body: bytes) -> bytes:
    return HEADER_MAGIC + struct.pack(">I", len(body)) + body


def _body(*frames: bytes) -> bytes:
    return b"".join(
        (bytes([len(f)]) if len(f) < 255 else b"\xff" + struct.pack(">I", len(f))) + f
        for f in frames
    )


def assert_eproto(fn, *args):
    with pytest.raises(ProtocolError) as info:
        fn(*args)
    assert isinstance(info.value, OSError)
    assert info.value.errno == errno.EPROTO
    return info.value


def assert_stream_broken(data: bytes, **kw) -> None:
    dec = StreamDecoder(**kw)
    assert_eproto(dec.feed, data)
    assert dec.broken is not None
    assert dec.broken.errno == errno.EPROTO
    # once broken, always broken, even for good bytes
    assert_eproto(dec.feed, _sample_stream())
    assert_eproto(dec.feed, b"")


def test_truncated_bodies_at_every_length():
    body = _sample_stream()[8:]
    for n in range(len(body)):
        expect_decode_or_eproto(body[:n])
    # truncation that keeps a valid-looking tail still must not crash
    for n in range(1, len(body)):
        expect_decode_or_eproto(body[n:])


def test_truncated_streams_wait_for_more():
    data = _sample_stream()
    for n in range(1, len(data)):
        dec = StreamDecoder()
        assert dec.feed(data[:n]) == []
        assert dec.broken is None
        assert dec.buffered == n
        assert_eproto(dec.check_eof)
        # ... and complete when the rest arrives
        assert len(dec.feed(data[n:])) == 1
        dec.check_eof()


def test_stream_length_mismatch_is_protocol_error():
    body = _sample_stream()[8:]
    # a header claiming fewer bytes than the message has: the truncated body is bad
    for n in (21, 22, 100, len(body) - 1):
        data = HEADER_MAGIC + struct.pack(">I", n) + body
        dec = StreamDecoder()
        try:
            dec.feed(data)
        except ProtocolError:
            assert dec.broken is not None
        else:  # pragma: no cover - must not happen for this sample
            pytest.fail("length mismatch decoded")


def test_bad_stream_magic():
    data = _sample_stream()
    for bad in (b"\xff\xee\x00\x12", b"\x12\x00\xee\xfe", b"\x00\x00\x00\x00"):
        assert_stream_broken(bad + data[4:])
    # a bad magic after a good message: the good one is lost with the stream
    assert_stream_broken(data + b"\xff\xee\x00\x12" + data[4:])


def test_stream_length_limits():
    data = _sample_stream()
    assert_stream_broken(data, max_size=len(data) - 9)
    assert StreamDecoder(max_size=len(data) - 8).feed(data)
    assert_stream_broken(HEADER_MAGIC + struct.pack(">I", 0xFFFFFFFF))
    assert_stream_broken(HEADER_MAGIC + struct.pack(">I", codec.DEFAULT_MAX_MESSAGE_SIZE + 1))
    for n in range(0, 21):
        assert_stream_broken(HEADER_MAGIC + struct.pack(">I", n) + b"\x00" * 40)
    # 21 bytes is the smallest message: a bare PROTO frame
    [msg] = StreamDecoder().feed(_stream_of(_body(_proto())))
    assert msg.type == FLUX_MSGTYPE_REQUEST and msg.topic is None


def test_bad_proto_frames():
    good = _body(b"topic", _proto(flags=FLUX_MSGFLAG_TOPIC))
    assert decode(good).topic == "topic"
    cases = {
        "magic": _proto(magic=0x8F, flags=1),
        "magic0": _proto(magic=0, flags=1),
        "version0": _proto(version=0, flags=1),
        "version2": _proto(version=2, flags=1),
        "type0": _proto(mtype=0, flags=1),
        "type3": _proto(mtype=3, flags=1),
        "type16": _proto(mtype=0x10, flags=1),
        "typeany": _proto(mtype=0x0F, flags=1),
        "short": _proto(flags=1)[:19],
        "long": _proto(flags=1) + b"\x00",
    }
    for name, proto in cases.items():
        body = _body(b"topic", proto)
        assert_eproto(decode, body)
        assert_eproto(from_frames, [b"topic", proto])
        assert_stream_broken(_stream_of(body))
    assert_eproto(from_frames, [])
    assert_eproto(decode, b"")


def test_frame_size_overruns():
    proto = _proto(flags=FLUX_MSGFLAG_TOPIC | FLUX_MSGFLAG_PAYLOAD)
    topic_then_payload = _body(b"abc", b"{}\0", proto)
    assert decode(topic_then_payload).payload_bytes == b"{}\0"
    for bad in (
        b"\x09abc" + _body(b"{}\0", proto)[0:],  # topic size too big
        b"\x03abc" + b"\xff" + struct.pack(">I", 1000) + b"{}\0" + _body(proto),
        b"\x03abc" + b"\xff\x00\x00" + _body(proto),  # long size cut short... then PROTO
        b"\xff" + struct.pack(">I", 0xFFFFFFFF) + b"abc" + _body(proto),
        b"\xff\x00",
        b"\x05ab",
    ):
        try:
            msg = decode(bad)
        except ProtocolError as exc:
            assert exc.errno == errno.EPROTO
        else:
            pytest.fail(f"decoded {msg!r} from {bad!r}")
        assert_stream_broken(_stream_of(bad)) if len(bad) > 20 else None


def test_non_utf8_topic_and_route():
    body = _body(b"\xff\xfetopic", _proto(flags=FLUX_MSGFLAG_TOPIC))
    assert_eproto(decode, body)
    assert_eproto(from_frames, [b"\xff\xfetopic", _proto(flags=FLUX_MSGFLAG_TOPIC)])
    assert_stream_broken(_stream_of(body))
    flags = FLUX_MSGFLAG_ROUTE | FLUX_MSGFLAG_TOPIC
    body = _body(b"\xc3(", b"", b"t", _proto(flags=flags))
    assert_eproto(decode, body)
    assert_stream_broken(_stream_of(body))
    # non-UTF-8 payloads are fine: payloads are bytes
    body = _body(b"t", b"\xff\x00\xfe", _proto(flags=FLUX_MSGFLAG_TOPIC | FLUX_MSGFLAG_PAYLOAD))
    assert decode(body).payload_bytes == b"\xff\x00\xfe"


def test_flags_claiming_missing_frames():
    T, P, R = FLUX_MSGFLAG_TOPIC, FLUX_MSGFLAG_PAYLOAD, FLUX_MSGFLAG_ROUTE
    cases = [
        [_proto(flags=T)],
        [_proto(flags=P)],
        [_proto(flags=T | P)],
        [b"topic", _proto(flags=T | P)],
        [_proto(flags=R)],  # no delimiter
        [b"route", _proto(flags=R)],
        [b"topic", _proto(flags=R | T)],
        [b"r", b"", _proto(flags=R | T)],
        [b"", b"topic", _proto(flags=R | T | P)],
    ]
    for frames in cases:
        assert_eproto(from_frames, frames)
        body = _body(*frames)
        assert_eproto(decode, body)
        assert_stream_broken(_stream_of(body))


def test_corrupt_every_byte():
    data = _sample_stream()
    body = data[8:]
    for i in range(len(body)):
        for delta in (1, 0x80, 0xFF):
            bad = bytearray(body)
            bad[i] = (bad[i] + delta) & 0xFF
            expect_decode_or_eproto(bytes(bad))
            dec = StreamDecoder()
            try:
                dec.feed(data[:8] + bytes(bad))
            except ProtocolError:
                assert dec.broken is not None


@SETTINGS
@given(st.binary(max_size=600))
def test_random_bytes_decode(data):
    expect_decode_or_eproto(data)


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_after_valid_header(data):
    expect_decode_or_eproto(data)
    dec = StreamDecoder()
    stream = _stream_of(data)
    try:
        out = dec.feed(stream)
    except ProtocolError as exc:
        assert exc.errno == errno.EPROTO
        assert dec.broken is exc
        assert_eproto(dec.feed, _sample_stream())
    else:
        assert len(out) == 1 and isinstance(out[0], Message)


@SETTINGS
@given(st.binary(max_size=200), st.lists(st.integers(1, 16), max_size=4))
def test_random_stream_bytes(data, sizes):
    dec = StreamDecoder()
    try:
        for piece in chunked(data, sizes):
            for m in dec.feed(piece):
                assert isinstance(m, Message)
    except ProtocolError as exc:
        assert exc.errno == errno.EPROTO
        assert dec.broken is not None
        assert_eproto(dec.feed, b"\x00")


@SETTINGS
@given(messages(), st.data())
def test_mutated_valid_messages(msg, data):
    body = bytearray(encode(msg))
    assume(len(body) < 5000)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(body) - 1))
        body[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(body)))
    expect_decode_or_eproto(bytes(body[:cut]))
    expect_decode_or_eproto(bytes(body))


@SETTINGS
@given(st.lists(st.binary(max_size=40), max_size=6), st.binary(min_size=20, max_size=20))
def test_random_frames(frames, proto):
    try:
        msg = from_frames(frames + [proto])
    except ProtocolError as exc:
        assert exc.errno == errno.EPROTO
    else:
        assert isinstance(msg, Message)


def test_protocol_error_type():
    exc = ProtocolError("x")
    assert isinstance(exc, OSError)
    assert exc.errno == errno.EPROTO
    assert exc.detail == "x"


def test_noresponse_streaming_flags_survive_codec():
    for flag in (FLUX_MSGFLAG_NORESPONSE, FLUX_MSGFLAG_STREAMING):
        msg = Message()
        msg.topic = "a"
        msg.set_flag(flag)
        assert decode(encode(msg)).flags & flag

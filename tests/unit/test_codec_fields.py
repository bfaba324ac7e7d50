"""flux.codec.encode_stream_fields (a client's request without a Message) == encode_stream."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given

from flux.codec import ProtocolError, decode_range, encode_stream, encode_stream_fields
from flux.constants import FLUX_MSGFLAG_PAYLOAD, FLUX_MSGFLAG_ROUTE, FLUX_MSGFLAG_TOPIC
from flux.message import Message

from tests.unit.test_codec import BOUNDARY_SIZES, SETTINGS, messages

DATA = Path(__file__).resolve().parents[1] / "data" / "interop"
VECTORS = json.loads((DATA / "vectors.json").read_text())["vectors"]


def fields(msg: Message) -> bytes:
    return encode_stream_fields(msg.type, msg.flags, msg.userid, msg.rolemask, msg.aux1,
                                msg.aux2, msg._topic_b, msg._payload)


@SETTINGS
@given(messages())
def test_fields_equal_encode_stream(msg):
    msg.routes = []  # the function writes an empty route stack (a delimiter if ROUTE is set)
    assert fields(msg) == encode_stream(msg)


@SETTINGS
@given(messages())
def test_topic_and_payload_flags_follow_the_frames(msg):
    """As encode_stream: the TOPIC/PAYLOAD bits given are ignored, the frames decide."""
    msg.routes = []
    want = encode_stream(msg)
    wrong = msg.flags ^ (FLUX_MSGFLAG_TOPIC | FLUX_MSGFLAG_PAYLOAD)
    got = encode_stream_fields(msg.type, wrong, msg.userid, msg.rolemask, msg.aux1, msg.aux2,
                               msg._topic_b, msg._payload)
    assert got == want


@pytest.mark.parametrize("vec", [v for v in VECTORS if not v["route"]], ids=lambda v: v["file"])
def test_golden_vectors(vec):
    raw = (DATA / vec["file"]).read_bytes()
    msg = decode_range(raw, 8, len(raw))
    assert fields(msg) == raw


def test_at_least_one_golden_request_has_a_route_delimiter():
    """The vectors above cover the client's case: a request with ROUTE and no hops."""
    reqs = [v for v in VECTORS if not v["route"] and v["type"] == "request"
            and v["flags"] & FLUX_MSGFLAG_ROUTE]
    assert reqs


@pytest.mark.parametrize("nt", BOUNDARY_SIZES)
@pytest.mark.parametrize("np_", BOUNDARY_SIZES)
def test_size_prefix_boundaries(nt, np_):
    msg = Message()
    msg.flags |= FLUX_MSGFLAG_ROUTE
    msg.topic = "t" * nt
    msg.payload_bytes = b"p" * np_ if np_ else None
    msg.aux2 = 7
    assert fields(msg) == encode_stream(msg)
    assert decode_range(fields(msg), 8, len(fields(msg))) == msg


def test_out_of_range_field_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        encode_stream_fields(1, 0, 1 << 32, 0, 0, 0, b"a.b", None)
    with pytest.raises(ProtocolError):
        encode_stream_fields(1, 0, 0, 0, 0, -1, b"a.b", None)

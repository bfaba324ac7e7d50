"""flux.codec.request_template + fill_template (a client's requests without a Message)
write exactly what encode_stream writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given

from flux.codec import ProtocolError, decode_range, encode_stream, fill_template, request_template
from flux.constants import FLUX_MSGFLAG_ROUTE
from flux.message import Message

from tests.unit.test_codec import BOUNDARY_SIZES, SETTINGS, messages

DATA = Path(__file__).resolve().parents[1] / "data" / "interop"
VECTORS = json.loads((DATA / "vectors.json").read_text())["vectors"]


def filled(msg: Message) -> bytes:
    tmpl = request_template(msg.type, msg.flags, msg.userid, msg.rolemask, msg._topic_b,
                            bool(msg._payload))
    return fill_template(tmpl, msg._payload or None, msg.aux1, msg.aux2)


@SETTINGS
@given(messages())
def test_filled_template_equals_encode_stream(msg):
    if msg._topic_b is None:
        msg.topic = ""  # a template always has a topic frame
    msg.routes = []  # and an empty route stack (a delimiter frame when ROUTE is set)
    assert filled(msg) == encode_stream(msg)


@SETTINGS
@given(messages())
def test_topic_and_payload_flags_follow_the_frames(msg):
    """As encode_stream: the TOPIC/PAYLOAD bits given are ignored, the frames decide."""
    if msg._topic_b is None:
        msg.topic = ""
    msg.routes = []
    want = encode_stream(msg)
    msg.flags ^= 0x03  # FLUX_MSGFLAG_TOPIC | FLUX_MSGFLAG_PAYLOAD
    assert filled(msg) == want


@pytest.mark.parametrize("vec", [v for v in VECTORS if not v["route"] and v["topic"] is not None],
                         ids=lambda v: v["file"])
def test_golden_vectors(vec):
    raw = (DATA / vec["file"]).read_bytes()
    assert filled(decode_range(raw, 8, len(raw))) == raw


def test_golden_vectors_cover_a_client_request():
    """The vectors above include the client's case: a request with ROUTE and no hops."""
    assert [v for v in VECTORS if not v["route"] and v["type"] == "request"
            and v["flags"] & FLUX_MSGFLAG_ROUTE]


@pytest.mark.parametrize("nt", BOUNDARY_SIZES)
@pytest.mark.parametrize("np_", BOUNDARY_SIZES)
def test_size_prefix_boundaries(nt, np_):
    msg = Message()
    msg.flags |= FLUX_MSGFLAG_ROUTE
    msg.topic = "t" * nt
    msg.payload_bytes = b"p" * np_ if np_ else None
    msg.aux2 = 7
    raw = filled(msg)
    assert raw == encode_stream(msg)
    assert decode_range(raw, 8, len(raw)) == msg


def test_one_template_many_requests():
    tmpl = request_template(1, FLUX_MSGFLAG_ROUTE, 5, 1, b"svc.method", True)
    for tag, payload in ((1, b"{}\0"), (2, b"x" * 300), (3, b"y")):
        msg = Message()
        msg.flags = FLUX_MSGFLAG_ROUTE
        msg.userid, msg.rolemask = 5, 1
        msg.topic = "svc.method"
        msg.payload_bytes = payload
        msg.nodeid, msg.matchtag = 3, tag
        assert fill_template(tmpl, payload, 3, tag) == encode_stream(msg)


def test_fields_out_of_range():
    with pytest.raises(ProtocolError):
        request_template(1, 0, 1 << 32, 0, b"a.b", False)
    tmpl = request_template(1, 0, 0, 0, b"a.b", False)
    with pytest.raises(ProtocolError):
        fill_template(tmpl, None, 0, 1 << 32)
    with pytest.raises(ProtocolError):
        fill_template(tmpl, None, -1, 0)

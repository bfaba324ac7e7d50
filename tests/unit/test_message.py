"""flux.message.Message: the user-facing API (as flux-core's Python bindings)."""

from __future__ import annotations

import errno
import json
import os

import pytest

from flux import constants
from flux.codec import decode, encode
from flux.constants import (
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_PAYLOAD,
    FLUX_MSGFLAG_PRIVATE,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGFLAG_TOPIC,
    FLUX_MSGFLAG_UPSTREAM,
    FLUX_MSGTYPE_CONTROL,
    FLUX_MSGTYPE_EVENT,
    FLUX_MSGTYPE_REQUEST,
    FLUX_MSGTYPE_RESPONSE,
    FLUX_NODEID_ANY,
    FLUX_USERID_UNKNOWN,
)
from flux.message import Message, encode_json, msg_typestr


# -- construction ---------------------------------------------------------------------


def test_default_message_is_a_request():
    msg = Message()
    assert msg.type == FLUX_MSGTYPE_REQUEST
    assert msg.type_str == "request"
    assert msg.userid == FLUX_USERID_UNKNOWN == 0xFFFFFFFF
    assert msg.rolemask == 0
    assert msg.nodeid == FLUX_NODEID_ANY == 0xFFFFFFFF
    assert msg.matchtag == 0
    assert msg.flags == 0
    assert msg.topic is None
    assert msg.payload is None
    assert msg.payload_str is None
    assert msg.payload_bytes is None
    assert msg.routes == []
    assert msg.route_count() == -1


@pytest.mark.parametrize(
    "mtype,name",
    [
        (FLUX_MSGTYPE_REQUEST, "request"),
        (FLUX_MSGTYPE_RESPONSE, "response"),
        (FLUX_MSGTYPE_EVENT, "event"),
        (FLUX_MSGTYPE_CONTROL, "control"),
    ],
)
def test_types(mtype, name):
    msg = Message(mtype)
    assert msg.type == mtype
    assert msg.type_str == name
    assert msg_typestr(mtype) == name
    assert msg.userid == FLUX_USERID_UNKNOWN
    assert msg.rolemask == 0
    if mtype != FLUX_MSGTYPE_REQUEST:
        assert msg.aux1 == 0


def test_msg_typestr_unknown():
    assert msg_typestr(0) == "unknown"
    assert msg_typestr(3) == "unknown"
    assert msg_typestr(FLUX_MSGTYPE_CONTROL) == "control"


@pytest.mark.parametrize("bad", [0, 3, 0x0F, 16, -1])
def test_invalid_type_rejected(bad):
    with pytest.raises(OSError) as info:
        Message(bad)
    assert info.value.errno == errno.EINVAL
    msg = Message()
    with pytest.raises(OSError):
        msg.set_type(bad)


def test_set_type_to_response_clears_errnum_keeps_matchtag():
    msg = Message()
    msg.matchtag = 42
    msg.set_type(FLUX_MSGTYPE_RESPONSE)
    assert msg.type_str == "response"
    assert msg.errnum == 0
    assert msg.matchtag == 42


def test_named_aux_views():
    msg = Message()
    msg.nodeid = 3
    assert msg.aux1 == 3 and msg.errnum == 3 and msg.seq == 3 and msg.sequence == 3
    msg.errnum = 5
    assert msg.nodeid == 5
    msg.seq = 7
    assert msg.aux1 == 7
    msg.matchtag = 9
    assert msg.aux2 == 9


# -- topic ------------------------------------------------------------------------------


def test_topic_str_and_bytes():
    msg = Message()
    msg.topic = "kvs.lookup"
    assert msg.topic == "kvs.lookup"
    assert msg.flags & FLUX_MSGFLAG_TOPIC
    msg.topic = b"attr.get"
    assert msg.topic == "attr.get"
    assert isinstance(msg.topic, str)
    msg.topic = bytearray(b"x.y")
    assert msg.topic == "x.y"
    msg.topic = "ünï.cøde"
    assert decode(encode(msg)).topic == "ünï.cøde"
    msg.topic = ""
    assert msg.topic == "" and msg.flags & FLUX_MSGFLAG_TOPIC
    msg.topic = None
    assert msg.topic is None and not msg.flags & FLUX_MSGFLAG_TOPIC


@pytest.mark.parametrize("bad", [1, 1.5, ["a"], {"a": 1}, object()])
def test_topic_rejects_other_types(bad):
    msg = Message()
    msg.topic = "keep"
    with pytest.raises(TypeError):
        msg.topic = bad
    assert msg.topic == "keep"


# -- payload ------------------------------------------------------------------------


def test_payload_set_from_python_is_json_dumps_with_nul():
    """flux-core's bindings encode a payload set from Python with json.dumps."""
    obj = {"name": "rank", "n": [1, 2], "b": True, "z": None, "f": 1.5}
    msg = Message()
    msg.payload = obj
    assert msg.payload_str == json.dumps(obj)
    assert msg.payload_bytes == b'{"name": "rank", "n": [1, 2], "b": true, "z": null, "f": 1.5}\0'
    assert msg.flags & FLUX_MSGFLAG_PAYLOAD
    assert msg.payload == obj
    assert msg.payload_json() == msg.payload
    for value in ([1, {"a": [True]}], 3, 2.5, None, {1: "int key"}, {"nan": float("inf")}):
        msg.payload = [value]
        assert msg.payload_str == json.dumps([value])


def test_payload_str_set_as_payload_is_verbatim():
    """flux-core: ``msg.payload = "text"`` sets the text itself (encode_payload), not a JSON string."""
    msg = Message()
    msg.payload = '{"a":1}'
    assert msg.payload_str == '{"a":1}'
    assert msg.payload == {"a": 1}
    msg.payload_str = b"bytes too"
    assert msg.payload_bytes == b"bytes too\0"


def test_payload_non_ascii_is_utf8():
    msg = Message()
    msg.payload = {"k": "héllo ☃ 𝄞"}
    assert msg.payload_bytes == '{"k": "héllo ☃ 𝄞"}'.encode() + b"\0"
    assert msg.payload_str == json.dumps({"k": "héllo ☃ 𝄞"}, ensure_ascii=False)
    assert b"\\u" not in msg.payload_bytes
    assert msg.payload == {"k": "héllo ☃ 𝄞"}
    assert decode(encode(msg)).payload == {"k": "héllo ☃ 𝄞"}


def test_payload_none_clears():
    msg = Message()
    msg.payload = {"a": 1}
    msg.payload = None
    assert msg.payload is None
    assert msg.payload_bytes is None
    assert not msg.flags & FLUX_MSGFLAG_PAYLOAD


def test_payload_getter_reads_non_compact_json():
    msg = Message()
    msg.payload_str = '{"seq": 0, "pad": ""}'
    assert msg.payload == {"seq": 0, "pad": ""}
    msg.payload_bytes = b' {"a" : 1} \0'
    assert msg.payload == {"a": 1}
    msg.payload_bytes = b'{"a":1}'  # no NUL
    assert msg.payload == {"a": 1}


def test_payload_getter_rejects_garbage():
    msg = Message()
    msg.payload_str = "not json"
    with pytest.raises(ValueError):
        msg.payload
    with pytest.raises(OSError) as info:
        msg.payload_json()
    assert info.value.errno == errno.EPROTO


def test_payload_json_requires_object_and_nul():
    msg = Message()
    msg.payload_bytes = b'{"a":1}'
    with pytest.raises(OSError):
        msg.payload_json()  # no NUL terminator: libflux says EPROTO
    msg.payload = [1, 2]
    with pytest.raises(OSError):
        msg.payload_json()


def test_payload_str_get_set():
    msg = Message()
    msg.payload_str = "hello wörld"
    assert msg.payload_bytes == "hello wörld".encode() + b"\0"
    assert msg.payload_str == "hello wörld"
    assert msg.flags & FLUX_MSGFLAG_PAYLOAD
    msg.payload_str = None
    assert msg.payload_str is None
    assert not msg.flags & FLUX_MSGFLAG_PAYLOAD
    # a raw payload (no NUL) reads back as text too
    msg.payload_bytes = b"<24>1 raw log"
    assert msg.payload_str == "<24>1 raw log"
    assert msg.raw_payload == b"<24>1 raw log"


def test_empty_payload_is_no_payload():
    msg = Message()
    msg.payload_bytes = b""
    assert msg.payload_bytes is None
    assert not msg.flags & FLUX_MSGFLAG_PAYLOAD


def test_encode_json():
    assert encode_json({"a": [1, "x"]}) == b'{"a":[1,"x"]}\0'
    assert encode_json({"é": "☃"}) == '{"é":"☃"}'.encode() + b"\0"
    assert encode_json("s") == b'"s"\0'


def test_failed_payload_encoding_does_not_poison_later_encodes():
    msg = Message()
    data = {"a": object()}
    with pytest.raises(TypeError):
        msg.payload = data
    data["a"] = 1
    msg.payload = data  # once raised "Circular reference detected"
    assert msg.payload == {"a": 1}
    lst = [1, {1, 2}]
    with pytest.raises(TypeError):
        msg.payload = {"l": lst}
    lst[1] = 2
    msg.payload = {"l": lst}
    assert msg.payload == {"l": [1, 2]}


def test_circular_payload_rejected():
    msg = Message()
    d: dict = {}
    d["self"] = d
    with pytest.raises(ValueError):
        msg.payload = d
    msg.payload = {"ok": True}
    assert msg.payload == {"ok": True}


# -- decode() ---------------------------------------------------------------------


def test_decode_request():
    msg = Message()
    msg.topic = "attr.get"
    msg.payload = {"name": "rank"}
    assert msg.decode() == (FLUX_MSGTYPE_REQUEST, "attr.get", '{"name": "rank"}')
    bare = Message(FLUX_MSGTYPE_EVENT)
    assert bare.decode() == (FLUX_MSGTYPE_EVENT, None, None)


def test_decode_success_response():
    msg = Message(FLUX_MSGTYPE_RESPONSE)
    msg.topic = "kvs.commit"
    msg.payload_bytes = encode_json({"rootseq": 4})  # as a C service answers
    assert msg.decode() == (FLUX_MSGTYPE_RESPONSE, "kvs.commit", '{"rootseq":4}')


def test_decode_error_response_raises_with_text():
    msg = Message(FLUX_MSGTYPE_RESPONSE)
    msg.topic = "nosuch.ping"
    msg.errnum = errno.ENOSYS
    msg.payload_str = "No service matching nosuch.ping is registered"
    with pytest.raises(OSError) as info:
        msg.decode()
    assert info.value.errno == errno.ENOSYS
    assert info.value.strerror == "No service matching nosuch.ping is registered"


def test_decode_error_response_without_text_uses_strerror():
    msg = Message(FLUX_MSGTYPE_RESPONSE)
    msg.topic = "attr.get"
    msg.errnum = errno.ENOENT
    with pytest.raises(OSError) as info:
        msg.decode()
    assert info.value.errno == errno.ENOENT
    assert info.value.strerror == os.strerror(errno.ENOENT)
    assert isinstance(info.value, FileNotFoundError)


# -- flags ------------------------------------------------------------------------------


def test_noresponse_and_streaming_clear_each_other():
    msg = Message()
    msg.set_flag(FLUX_MSGFLAG_STREAMING)
    assert msg.streaming and not msg.noresponse
    msg.set_flag(FLUX_MSGFLAG_NORESPONSE)
    assert msg.noresponse and not msg.streaming
    assert msg.has_flag(FLUX_MSGFLAG_NORESPONSE)
    assert not msg.has_flag(FLUX_MSGFLAG_STREAMING)
    msg.set_flag(FLUX_MSGFLAG_STREAMING)
    assert msg.streaming and not msg.noresponse


def test_set_flag_other_bits():
    msg = Message()
    msg.set_flag(FLUX_MSGFLAG_PRIVATE)
    msg.set_flag(FLUX_MSGFLAG_UPSTREAM)
    msg.set_flag(FLUX_MSGFLAG_STREAMING)
    assert msg.flags == FLUX_MSGFLAG_PRIVATE | FLUX_MSGFLAG_UPSTREAM | FLUX_MSGFLAG_STREAMING
    msg.set_flag(FLUX_MSGFLAG_PRIVATE, False)
    assert not msg.has_flag(FLUX_MSGFLAG_PRIVATE)
    assert msg.has_flag(FLUX_MSGFLAG_UPSTREAM)
    msg.set_flag(FLUX_MSGFLAG_STREAMING, False)
    assert msg.flags == FLUX_MSGFLAG_UPSTREAM


# -- route stack --------------------------------------------------------------------


def test_route_stack():
    msg = Message()
    assert msg.route_count() == -1
    msg.route_enable()
    assert msg.route_count() == 0
    assert msg.route_pop() is None
    assert msg.route_first is None and msg.route_last is None
    msg.route_push("4cda3b71-a49f-4951-9cfc-0775c1a69d3d")
    msg.route_push("0220c8b5-dca8-4068-ac83-9eaf512de016")
    msg.route_push("f6c1a227-0000-0000-0000-000000000000")
    assert msg.route_count() == 3
    assert msg.route_first == "4cda3b71-a49f-4951-9cfc-0775c1a69d3d"
    assert msg.route_last == "f6c1a227-0000-0000-0000-000000000000"
    assert msg.route_string() == "4cda3b71!0220c8b5!f6c1a227"
    # wire frame 0 is the most recent hop
    msg.topic = "t"
    assert encode(msg)[1:37] == b"f6c1a227-0000-0000-0000-000000000000"
    assert msg.route_pop() == "f6c1a227-0000-0000-0000-000000000000"
    assert msg.route_count() == 2
    assert msg.route_string() == "4cda3b71!0220c8b5"
    msg.route_disable()
    assert msg.route_count() == -1
    assert msg.routes == []


def test_route_push_enables_route_flag():
    msg = Message()
    msg.route_push("short")
    assert msg.flags & FLUX_MSGFLAG_ROUTE
    assert msg.route_count() == 1
    assert msg.route_string() == "short"


def test_route_string_empty():
    msg = Message()
    msg.route_enable()
    assert msg.route_string() == ""


# -- events, copies ------------------------------------------------------------------


def test_from_event_encode():
    ev = Message.from_event_encode("golden.test", {"a": 1})
    assert ev.type == FLUX_MSGTYPE_EVENT
    assert ev.type_str == "event"
    assert ev.topic == "golden.test"
    assert ev.payload == {"a": 1}
    assert ev.payload_bytes == b'{"a": 1}\0'  # json.dumps, as flux-core's bindings
    assert ev.flags == FLUX_MSGFLAG_ROUTE | FLUX_MSGFLAG_TOPIC | FLUX_MSGFLAG_PAYLOAD
    assert ev.seq == 0
    assert ev.userid == FLUX_USERID_UNKNOWN and ev.rolemask == 0
    # a string payload is sent verbatim (NUL-terminated)
    ev = Message.from_event_encode("x.y", "text")
    assert ev.payload_bytes == b"text\0"
    ev = Message.from_event_encode(b"x.y")
    assert ev.topic == "x.y"
    assert ev.payload is None
    assert not ev.flags & FLUX_MSGFLAG_PAYLOAD
    assert decode(encode(ev)) == ev


def test_copy():
    msg = Message()
    msg.topic = "a.b"
    msg.payload = {"x": 1}
    msg.route_push("r1")
    msg.matchtag = 7
    msg.userid = 100
    msg.rolemask = 5
    dup = msg.copy()
    assert dup == msg
    assert dup is not msg
    dup.route_push("r2")
    assert msg.routes == ["r1"]  # the route stack is not shared
    bare = msg.copy(payload=False)
    assert bare.payload is None
    assert not bare.flags & FLUX_MSGFLAG_PAYLOAD
    assert bare.topic == "a.b"
    assert bare.matchtag == 7 and bare.userid == 100 and bare.rolemask == 5
    assert bare.routes == ["r1"]
    assert msg.payload == {"x": 1}


def test_equality_and_unhashable():
    a = Message()
    b = Message()
    assert a == b
    b.topic = "x"
    assert a != b
    assert a != "not a message"
    with pytest.raises(TypeError):
        hash(a)


def test_repr_mentions_type_and_topic():
    msg = Message()
    msg.topic = "attr.get"
    text = repr(msg)
    assert "request" in text and "attr.get" in text


# -- constants -------------------------------------------------------------------------


def test_constants_from_protocol_md():
    c = constants
    assert (c.FLUX_MSGTYPE_REQUEST, c.FLUX_MSGTYPE_RESPONSE) == (1, 2)
    assert (c.FLUX_MSGTYPE_EVENT, c.FLUX_MSGTYPE_CONTROL) == (4, 8)
    assert c.FLUX_MSGTYPE_ANY == c.FLUX_MSGTYPE_MASK == 0x0F
    assert [
        c.FLUX_MSGFLAG_TOPIC,
        c.FLUX_MSGFLAG_PAYLOAD,
        c.FLUX_MSGFLAG_NORESPONSE,
        c.FLUX_MSGFLAG_ROUTE,
        c.FLUX_MSGFLAG_UPSTREAM,
        c.FLUX_MSGFLAG_PRIVATE,
        c.FLUX_MSGFLAG_STREAMING,
        c.FLUX_MSGFLAG_USER1,
    ] == [1, 2, 4, 8, 0x10, 0x20, 0x40, 0x80]
    assert c.FLUX_NODEID_ANY == 0xFFFFFFFF
    assert c.FLUX_NODEID_UPSTREAM == 0xFFFFFFFE
    assert c.FLUX_USERID_UNKNOWN == 0xFFFFFFFF
    assert c.FLUX_MATCHTAG_NONE == 0
    assert (c.FLUX_ROLE_NONE, c.FLUX_ROLE_OWNER, c.FLUX_ROLE_USER) == (0, 1, 2)
    assert (c.FLUX_ROLE_LOCAL, c.FLUX_ROLE_ADMIN) == (4, 8)
    assert c.FLUX_ROLE_ALL == 0xFFFFFFFF
    assert c.FLUX_RPC_NORESPONSE == 1
    assert c.FLUX_RPC_STREAMING == 2


def test_kvs_constants_from_protocol_md():
    c = constants
    lookup = {
        "READDIR": 1,
        "READLINK": 2,
        "WATCH": 4,
        "WAITCREATE": 8,
        "TREEOBJ": 16,
        "APPEND": 32,
        "WATCH_FULL": 64,
        "WATCH_UNIQ": 128,
        "WATCH_APPEND": 256,
        "STREAM": 512,
        "WATCH_INITIAL_SENTINEL": 1024,
    }
    for name, value in lookup.items():
        assert getattr(c, "FLUX_KVS_" + name) == value, name
    assert c.FLUX_KVS_NO_MERGE == 1
    assert c.FLUX_KVS_TXN_COMPACT == 2
    assert c.FLUX_KVS_SYNC == 4


def test_constants_all_exports_flux_names():
    assert "FLUX_MSGTYPE_REQUEST" in constants.__all__
    assert all(name.startswith("FLUX_") for name in constants.__all__)


# -- a realistic exchange through the codec -------------------------------------------


def test_request_response_round_trip_through_codec():
    req = Message()
    req.route_enable()
    req.topic = "kvs.lookup"
    req.payload = {"key": "a", "namespace": "primary", "flags": 0}
    req.matchtag = 3
    wire = decode(encode(req))
    assert wire.payload == req.payload
    resp = wire.copy(payload=False)
    resp.set_type(FLUX_MSGTYPE_RESPONSE)
    resp.userid, resp.rolemask = 0, 5
    resp.payload = {"val": {"data": "aGVsbG8=", "type": "val", "ver": 1}}
    got = decode(encode(resp))
    assert got.matchtag == 3
    assert got.route_count() == 0
    assert got.decode()[2] == json.dumps(resp.payload)

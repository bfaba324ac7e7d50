"""The ping and rusage replies shared by the broker and module processes."""

from __future__ import annotations

import pytest
from rawclient import request

import json

from flux.core.default_methods import RUSAGE_FIELDS, ping_reply, ping_reply_payload, rusage_reply


def test_ping_reply_adds_route_creds_rank():
    msg = request("x.ping", {"seq": 3, "pad": "pp"})
    msg.routes = ["a" * 36, "b" * 36]
    msg.userid, msg.rolemask = 42, 5
    out = ping_reply(msg, "u" * 36, 7)
    assert out == {"seq": 3, "pad": "pp", "route": "aaaaaaaa!bbbbbbbb!uuuuuuuu", "userid": 42,
                   "rolemask": 5, "rank": 7}
    assert list(out)[:2] == ["seq", "pad"]  # the request's keys first, as flux-core


@pytest.mark.parametrize("payload", [None, b"[1]\0", b"not json\0"])
def test_ping_needs_a_json_object(payload):
    with pytest.raises(OSError) as exc:
        ping_reply(request("x.ping", payload), "u" * 36, 0)
    assert exc.value.errno == 71  # EPROTO


@pytest.mark.parametrize("payload", [
    {}, {"seq": 3, "pad": "pp"}, b"{ }\0", b'{ "a" : [ 1, {"b": null} ] ,"c":"\\u00e9\xc3\xa9"}\n\0',
    {"seq": 1, "route": "mine", "rank": 9},  # members the reply sets: it sets them
    {"pad": "\u2028\"\\"},
])
@pytest.mark.parametrize("routes", [[], ["a" * 36, 'b"\\c']])  # a route id JSON must escape
def test_ping_reply_payload_is_ping_reply_as_json(payload, routes):
    msg = request("x.ping", payload)
    msg.routes = routes
    msg.userid, msg.rolemask = 42, 5
    out = ping_reply_payload(msg, "u" * 36, 7)
    assert out.endswith(b"\0") and out.count(b"\0") == 1
    want = ping_reply(msg, "u" * 36, 7)
    pairs = json.loads(out[:-1], object_pairs_hook=list)
    assert [k for k, _ in pairs] == list(want)  # each member once, in ping_reply's order
    assert json.loads(out[:-1]) == want


@pytest.mark.parametrize("payload", [None, b"[1]\0", b"not json\0", b'{"a":1}', b'{"a":1}x\0'])
def test_ping_reply_payload_needs_a_json_object(payload):
    with pytest.raises(OSError) as exc:
        ping_reply_payload(request("x.ping", payload), "u" * 36, 0)
    assert exc.value.errno == 71  # EPROTO


def test_rusage_reply():
    out = rusage_reply(request("x.rusage"))
    assert list(out) == ["utime", "stime", *RUSAGE_FIELDS]
    assert set(rusage_reply(request("x.rusage", {"who": "children"}))) == set(out)
    with pytest.raises(ValueError, match="unknown rusage target 'nobody'"):
        rusage_reply(request("x.rusage", {"who": "nobody"}))
    with pytest.raises(ValueError):
        rusage_reply(request("x.rusage", {"who": ["self"]}))
    with pytest.raises(OSError):
        rusage_reply(request("x.rusage", b"garbage\0"))

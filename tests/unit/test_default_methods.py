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


@pytest.mark.parametrize("payload,kept", [
    # what flux-core's flux ping sends: compact, flat -- its text is kept
    (b'{"seq":3,"pad":"pp","time.tv_sec":1,"time.tv_nsec":-5}\0', True),
    (b"{}\0", True),
    (b'{"a":true,"b":null,"c":"\xc3\xa9-x","d":"x:y,z"}\0', True),
    # anything encode_json would spell otherwise is encoded again
    ({"seq": 3, "pad": "pp", "t": True, "n": None, "e": "\u00e9x"}, False),  # json.dumps's
    ({"pad": "a, b"}, False), ({"pad": "a: b"}, False), ({"a, b": 1}, False),
    ({"pad": "a b"}, False), ({"a": [1, 2]}, False), ({"a": 0.5}, False),
    (b'{"a": 1,"b": "x, y"}\0', False),  # mixed: a separator-like ", " in a string
    (b"{ }\0", False), (b'{"a" : 1}\0', False),
    (b'{"a":[1,{"b":null}],"c":"\\u00e9"}\0', False),  # nested, an escape
    (b'{"a":1.50}\0', False), (b'{"a":1e2}\0', False), (b'{"a":-0}\0', False),
    (b'{"a":1,"a":2}\0', False),  # a duplicate member
    (b'{"a":"b\\":"}\0', False),
    (b'{"seq":1,"route":"mine","rank":9}\0', False),  # members the reply sets
    (b'{"a":1}\n\0', False),
    ({"pad": "\u2028\"\\"}, False),
])
@pytest.mark.parametrize("routes", [[], ["a" * 36, 'b"\\c']])  # a route id JSON must escape
def test_ping_reply_payload_is_ping_reply_encoded(payload, kept, routes, monkeypatch):
    import flux.core.default_methods as dm
    from flux.message import encode_json

    msg = request("x.ping", payload)
    msg.routes = routes
    msg.userid, msg.rolemask = 42, 5
    want = encode_json(ping_reply(msg, "u" * 36, 7))
    for _ in range(2):  # the second time from the kept members
        assert ping_reply_payload(msg, "u" * 36, 7) == want
    encoded = []  # which way it went: the request's text kept, or its object encoded
    monkeypatch.setattr(dm, "encode_json", lambda obj: encoded.append(dict(obj)) or b"{}\0")
    ping_reply_payload(msg, "u" * 36, 7)
    assert encoded == ([] if kept else [msg.payload_json()]
                       if dm.PING_KEYS.isdisjoint(msg.payload_json())
                       else [json.loads(want[:-1])])


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

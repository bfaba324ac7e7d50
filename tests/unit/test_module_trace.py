"""module.trace in-process: flux-core's request checks, matching (names, types,
topic glob), record payloads, and disconnect."""

from __future__ import annotations

import errno

import pytest
from routerhelpers import body, make_router, request

from flux.broker.module_trace import ModuleTracer
from flux.constants import (
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGTYPE_EVENT,
    FLUX_MSGTYPE_RESPONSE,
)
from flux.message import Message

STREAMING = FLUX_MSGFLAG_STREAMING


@pytest.fixture
def tr():
    router, peer = make_router()
    tracer = ModuleTracer(router, clock=lambda: 1234.5)
    tracer.register(router.builtin("module"))

    def trace(payload, matchtag=1, flags=STREAMING, **kw):
        base = {"names": [], "typemask": 0, "topic_glob": "*"}
        base.update(payload)
        router.request(request("module.trace", base, matchtag=matchtag, flags=flags, **kw))
        return peer.take()

    return tracer, trace, peer, router


def msg(topic, mtype=1, payload=None, errnum=0):
    m = Message(mtype)
    m.topic = topic
    if payload is not None:
        m.payload_bytes = payload
    if mtype == FLUX_MSGTYPE_RESPONSE:
        m.aux1 = errnum
    return m


def test_nothing_to_do_without_requests(tr):
    tracer, trace, peer, router = tr
    assert tracer.requests == []
    tracer.trace("rx", "kvs", msg("kvs.ping"))
    assert peer.take() == []


@pytest.mark.parametrize("payload, flags", [
    ({"names": []}, 0),  # not streaming
    ({"names": "kvs"}, STREAMING),  # names not an array
    ({"names": [], "typemask": "x"}, STREAMING),
    ({"names": [], "topic_glob": 3}, STREAMING),
])
def test_bad_requests_get_eproto(tr, payload, flags):
    tracer, trace, peer, router = tr
    (resp,) = trace(payload, flags=flags)
    assert resp.aux1 == errno.EPROTO and tracer.requests == []


def test_records_have_flux_cores_fields(tr):
    tracer, trace, peer, router = tr
    assert trace({}) == []  # no response until there is traffic
    tracer.trace("rx", "kvs", msg("kvs.ping", payload=b'{"seq":1}\0'))
    tracer.trace("tx", "kvs", msg("kvs.get", FLUX_MSGTYPE_RESPONSE, b"No such key\0", errno.ENOENT))
    a, b = peer.take()
    assert a.flags & STREAMING and a.aux2 == 1
    assert body(a) == {"timestamp": 1234.5, "prefix": "rx", "rank": -1, "name": "kvs", "type": 1,
                       "topic": "kvs.ping", "payload_size": 10, "payload": None, "errnum": 0,
                       "errstr": ""}
    assert body(b)["errnum"] == errno.ENOENT and body(b)["payload_size"] == 0
    assert body(b)["errstr"] == ""  # only with full


def test_full_adds_payload_and_error_text(tr):
    tracer, trace, peer, router = tr
    trace({"full": True})
    tracer.trace("rx", "kvs", msg("kvs.ping", payload=b'{"seq":1}\0'))
    tracer.trace("rx", "kvs", msg("kvs.raw", payload=b"\x01\x02"))
    tracer.trace("tx", "kvs", msg("kvs.get", FLUX_MSGTYPE_RESPONSE, b"No such key\0", errno.ENOENT))
    a, b, c = (body(m) for m in peer.take())
    assert a["payload"] == {"seq": 1}
    assert b["payload"] is None and b["payload_size"] == 2  # not JSON
    assert c["errstr"] == "No such key"


def test_names_types_and_topic_glob_filter(tr):
    tracer, trace, peer, router = tr
    trace({"names": ["kvs", "job-manager"]}, matchtag=1)
    trace({"typemask": FLUX_MSGTYPE_EVENT}, matchtag=2)
    trace({"topic_glob": "kvs.p*"}, matchtag=3)
    trace({"topic_glob": "kvs.get"}, matchtag=4)
    tracer.trace("rx", "kvs", msg("kvs.ping"))
    tracer.trace("rx", "content", msg("heartbeat.pulse", FLUX_MSGTYPE_EVENT))
    tracer.trace("tx", "job-manager", msg("kvs.get"))
    seen = {}
    for m in peer.take():
        seen.setdefault(m.aux2, []).append(body(m)["topic"])
    assert seen == {1: ["kvs.ping", "kvs.get"], 2: ["heartbeat.pulse"], 3: ["kvs.ping"],
                    4: ["kvs.get"]}


def test_own_topic_is_never_traced(tr):
    tracer, trace, peer, router = tr
    trace({})
    tracer.trace("tx", "mod", msg("module.trace"))
    assert peer.take() == []


def test_control_messages_get_a_made_up_topic(tr):
    tracer, trace, peer, router = tr
    trace({}, matchtag=1)
    trace({"topic_glob": "status*"}, matchtag=2)
    c = Message(8)
    c.aux1, c.aux2 = 1, 3
    tracer.trace("rx", "kvs", c)
    (rec,) = peer.take()
    assert rec.aux2 == 1 and body(rec)["topic"] == "status 3" and body(rec)["type"] == 8


def test_disconnect_drops_only_that_clients_requests(tr):
    tracer, trace, peer, router = tr
    router.add_peer(type(peer)("client-2"))
    trace({}, sender="client-1")
    trace({}, sender="client-2")
    tracer.disconnect(request("module.disconnect", flags=FLUX_MSGFLAG_NORESPONSE,
                              sender="client-1"))
    assert [f.msg.route_first for f in tracer.requests] == ["client-2"]

"""The broker's router in-process: builtin services, peer services, errors, responses."""

from __future__ import annotations

import errno
import struct

import pytest
from brokerfakes import (
    BROKER_UUID,
    CLIENT_UUID,
    CONNECTOR_UUID,
    GUEST_LOCAL,
    OWNER,
    OWNER_LOCAL,
    FakePeer,
    Parts,
    client_request,
)
from conftest import interop

from flux.broker.router import RequestError
from flux.codec import encode_stream
from flux.constants import (
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGFLAG_UPSTREAM,
    FLUX_MSGTYPE_EVENT,
    FLUX_MSGTYPE_RESPONSE,
    FLUX_ROLE_USER,
)
from flux.message import Message


@pytest.fixture
def parts():
    p = Parts()
    svc = p.router.builtin("svc")
    svc.method("echo", lambda msg: p.router.respond(msg, msg.payload_json()), FLUX_ROLE_USER)
    svc.method("owner", lambda msg: p.router.respond(msg))
    svc.method("fail", _raise(RequestError(errno.EBUSY, "busy now")))
    svc.method("oserror", _raise(OSError(errno.EPROTO, "Protocol error")))
    svc.method("bug", _raise(KeyError("oops")))
    p.svc = svc
    return p


def _raise(exc):
    def handler(msg):
        raise exc
    return handler


def one(msgs):
    assert len(msgs) == 1, msgs
    return msgs[0]


# -- builtin services ---------------------------------------------------------------------


def test_builtin_response_goes_back_along_the_route(parts):
    resp = one(parts.rpc("svc.echo", {"a": 1}, matchtag=7, flags=FLUX_MSGFLAG_STREAMING))
    assert resp.type == FLUX_MSGTYPE_RESPONSE and resp.errnum == 0 and resp.matchtag == 7
    assert resp.topic == "svc.echo" and resp.payload == {"a": 1}
    # the router popped C (the peer it delivers to); the connector pops X
    assert resp.routes == [CLIENT_UUID]
    assert resp.flags & FLUX_MSGFLAG_ROUTE and resp.flags & FLUX_MSGFLAG_STREAMING
    # broker responses carry the owner's uid and OWNER|LOCAL (docs/architecture.md)
    assert (resp.userid, resp.rolemask) == (OWNER, OWNER_LOCAL)
    assert parts.router.rx[1] == 1 and parts.router.tx[2] == 1


def test_enosys_texts(parts):
    resp = one(parts.rpc("nosuch.ping"))
    assert resp.errnum == errno.ENOSYS
    assert resp.payload_str == "No service matching nosuch.ping is registered"
    resp = one(parts.rpc("svc.nosuch"))
    assert resp.errnum == errno.ENOSYS and resp.payload_str == "Unknown service method 'svc.nosuch'"


def test_enosys_bytes_match_flux_core(parts):
    """The whole response, as the connector would put it on the wire, is flux-core's."""
    resp = one(parts.rpc("nosuch.ping", {"seq": 0, "pad": ""}, matchtag=1))
    resp.routes.pop()  # the connector pops the client's hop
    expected = interop("enosys-response")
    assert encode_stream(resp) == expected[:-16] + struct.pack(">I", OWNER) + expected[-12:]


def test_roles(parts):
    resp = one(parts.rpc("svc.owner", rolemask=GUEST_LOCAL, userid=OWNER + 1))
    assert resp.errnum == errno.EPERM and resp.payload_str == "Request requires owner credentials"
    resp = one(parts.rpc("svc.echo", {}, rolemask=GUEST_LOCAL, userid=OWNER + 1))
    assert resp.errnum == 0  # FLUX_ROLE_USER added for this method
    assert one(parts.rpc("svc.owner")).errnum == 0


def test_handler_errors(parts):
    resp = one(parts.rpc("svc.fail"))
    assert (resp.errnum, resp.payload_str) == (errno.EBUSY, "busy now")
    resp = one(parts.rpc("svc.oserror"))
    assert resp.errnum == errno.EPROTO and resp.payload_bytes is None  # errno only
    resp = one(parts.rpc("svc.bug"))
    assert resp.errnum == errno.EINVAL and resp.payload_str.startswith("internal error: ")


def test_noresponse_is_never_answered(parts):
    assert parts.rpc("nosuch.x", flags=FLUX_MSGFLAG_NORESPONSE) == []
    assert parts.rpc("svc.fail", flags=FLUX_MSGFLAG_NORESPONSE) == []
    assert parts.rpc("svc.echo", {}, flags=FLUX_MSGFLAG_NORESPONSE) == []


def test_respond_payload_kinds(parts):
    router = parts.router
    for payload, wire in (({"k": 1}, b'{"k":1}\0'), ("text", b"text\0"), (b"raw", b"raw"),
                          (b"", None), (None, None)):
        router.respond(client_request("svc.x"), payload)
        assert one(parts.connector.take()).payload_bytes == wire


def test_respond_many_to_a_peer_without_send_many_is_respond_each(parts):
    router = parts.router
    payloads = [b'{"k":1}\0', b"", b"raw"]
    router.respond_many(client_request("svc.x", matchtag=3), payloads)
    got = parts.connector.take()
    assert [m.payload_bytes for m in got] == [b'{"k":1}\0', None, b"raw"]
    assert [m.matchtag for m in got] == [3, 3, 3]
    assert [m.routes for m in got] == [[CLIENT_UUID]] * 3
    router.respond_many(client_request("svc.x", flags=FLUX_MSGFLAG_NORESPONSE), payloads)
    router.respond_many(client_request("svc.x"), [])
    assert parts.connector.take() == []


def test_error_without_errnum_is_einval(parts):
    parts.router.respond_error(client_request("svc.x"), 0)
    assert one(parts.connector.take()).errnum == errno.EINVAL


# -- nodeid and the topology -----------------------------------------------------------------


def test_nodeid_routing_on_a_single_broker(parts):
    assert one(parts.rpc("svc.owner", nodeid=0)).errnum == 0
    resp = one(parts.rpc("svc.owner", nodeid=1))
    assert resp.errnum == errno.EHOSTUNREACH and resp.payload_bytes is None
    # upstream of rank 0: there is no parent
    assert one(parts.rpc("svc.owner", nodeid=0, flags=FLUX_MSGFLAG_UPSTREAM)).errnum == \
        errno.EHOSTUNREACH
    # upstream naming another rank: handled here
    assert one(parts.rpc("svc.owner", nodeid=5, flags=FLUX_MSGFLAG_UPSTREAM)).errnum == 0


def test_other_ranks_are_unreachable_without_an_overlay():
    parts = Parts(rank=1, size=4)
    parts.router.builtin("svc").method("x", lambda msg: parts.router.respond(msg))
    assert one(parts.rpc("svc.x", nodeid=1)).errnum == 0
    assert one(parts.rpc("svc.x", nodeid=2)).errnum == errno.EHOSTUNREACH
    assert one(parts.rpc("svc.x", nodeid=1, flags=FLUX_MSGFLAG_UPSTREAM)).errnum == \
        errno.EHOSTUNREACH


# -- services provided by peers ----------------------------------------------------------------


def test_peer_service_round_trip(parts):
    router = parts.router
    provider = FakePeer("y" * 36)
    router.service_add("foo", provider)
    assert parts.rpc("foo.bar", {"q": 1}, matchtag=3) == []
    req = one(provider.take())
    assert req.routes == [CLIENT_UUID, CONNECTOR_UUID, BROKER_UUID]  # B pushed
    assert req.flags & FLUX_MSGFLAG_ROUTE
    # the provider answers along the same stack
    resp = Message(FLUX_MSGTYPE_RESPONSE)
    resp.topic = req.topic
    resp.matchtag = req.matchtag
    resp.routes = list(req.routes)
    router.response(resp)
    got = one(parts.connector.take())
    assert got is resp and got.routes == [CLIENT_UUID] and got.matchtag == 3


def test_service_table_rules(parts):
    router = parts.router
    a, b = FakePeer("a" * 36), FakePeer("d" * 36)
    router.service_add("foo", a)
    for name, errnum in (("foo", errno.EEXIST), ("svc", errno.EEXIST), ("a.b", errno.EINVAL),
                         ("", errno.EINVAL)):
        with pytest.raises(RequestError) as exc:
            router.service_add(name, b)
        assert exc.value.errnum == errnum
    for name, peer in (("foo", b), ("svc", None), ("nosuch", a)):
        with pytest.raises(RequestError) as exc:
            router.service_remove(name, peer)
        assert exc.value.errnum == errno.ENOENT
    router.service_remove("foo", a)
    assert "foo" not in router.services


def test_remove_peer_releases_services_and_route(parts):
    router = parts.router
    peer = FakePeer("m" * 36)
    router.add_peer(peer)
    router.service_add("m1", peer)
    router.service_add("m2", peer)
    router.remove_peer(peer)
    assert "m1" not in router.services and "m2" not in router.services
    resp = Message(FLUX_MSGTYPE_RESPONSE)
    resp.topic = "x.y"
    resp.routes = [peer.uuid]
    router.response(resp)  # nobody to deliver to: dropped
    assert peer.sent == []


def test_refused_peer_keeps_its_names(parts):
    router = parts.router
    peer = FakePeer("m" * 36)
    router.service_add("mod", peer)
    router.refuse_peer(peer, errno.ENOSYS, "mod module is unloading")
    resp = one(parts.rpc("mod.hello"))
    assert (resp.errnum, resp.payload_str) == (errno.ENOSYS, "mod module is unloading")
    assert peer.sent == []
    with pytest.raises(RequestError):
        router.service_add("mod", FakePeer("z" * 36))
    router.service_remove("mod", peer)
    assert "mod" not in router.services


def test_responses_to_the_broker_itself_are_dropped(parts):
    resp = Message(FLUX_MSGTYPE_RESPONSE)
    resp.topic = "x.y"
    resp.routes = [BROKER_UUID]
    parts.router.response(resp)
    assert parts.connector.sent == [] and parts.router.tx[2] == 0


def test_events_go_to_the_event_handler(parts):
    seen = []
    parts.router.event_handler = seen.append
    ev = Message(FLUX_MSGTYPE_EVENT)
    ev.topic = "a.b"
    parts.router.event(ev)
    assert seen == [ev] and parts.router.rx[4] == 1

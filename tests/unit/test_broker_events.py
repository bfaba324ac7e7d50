"""Events in-process: sequence numbers, event.publish, subscriptions and fan-out."""

from __future__ import annotations

import base64
import errno

import pytest
from brokerfakes import BROKER_UUID, CONNECTOR_UUID, GUEST_LOCAL, OWNER, Parts

from flux.broker.router import RequestError
from flux.codec import StreamDecoder, encode_stream
from flux.constants import FLUX_MSGFLAG_PRIVATE, FLUX_MSGFLAG_ROUTE, FLUX_MSGTYPE_EVENT
from flux.message import Message


class Sub:
    """A subscriber link: what fan-out needs (subs, guest, userid, encode, write)."""

    encode = staticmethod(encode_stream)
    traced = ()  # nobody traces these

    def __init__(self, guest: bool = False, userid: int = OWNER) -> None:
        self.subs: dict[str, int] = {}
        self.guest = guest
        self.userid = userid
        self.got: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.got.append(data)

    def topics(self) -> list[str]:
        return [dec(d).topic for d in self.got]


def dec(data: bytes) -> Message:
    (msg,) = StreamDecoder().feed(data)
    return msg


@pytest.fixture
def parts():
    return Parts()


def test_sequence_numbers_and_route(parts):
    sub = Sub()
    parts.events.subscribe(sub, "")
    assert parts.events.publish("a.one") == 1
    assert parts.events.publish("a.two", b"raw") == 2
    raw = Message(FLUX_MSGTYPE_EVENT)
    raw.topic = "a.three"
    raw.routes = [CONNECTOR_UUID]  # a raw event a client sent
    parts.router.event(raw)
    msgs = [dec(d) for d in sub.got]
    assert [m.aux1 for m in msgs] == [1, 2, 3]  # the sequence numbers
    assert msgs[0].routes == [BROKER_UUID] and msgs[0].flags & FLUX_MSGFLAG_ROUTE
    assert msgs[2].routes == [CONNECTOR_UUID, BROKER_UUID]
    assert (msgs[0].userid, msgs[0].rolemask) == (OWNER, 5)  # the broker's own events
    assert parts.router.tx[4] == 3


def test_prefix_subscriptions_are_counted(parts):
    sub = Sub()
    events = parts.events
    events.subscribe(sub, "hb.")
    events.subscribe(sub, "hb.")
    events.publish("hb.pulse")
    events.publish("other")
    assert sub.topics() == ["hb.pulse"]
    events.unsubscribe(sub, "hb.")
    events.publish("hb.pulse")
    assert len(sub.got) == 2  # one subscription left
    events.unsubscribe(sub, "hb.")
    assert sub not in events.subscribers
    events.publish("hb.pulse")
    assert len(sub.got) == 2
    with pytest.raises(RequestError) as exc:
        events.unsubscribe(sub, "hb.")
    assert exc.value.errnum == errno.ENOENT


def test_encoded_once_for_all_subscribers(parts):
    a, b, c = Sub(), Sub(), Sub()
    for s in (a, b, c):
        parts.events.subscribe(s, "x")
    parts.events.publish("x.y")
    assert a.got[0] is b.got[0] is c.got[0]


def test_private_events_reach_owner_and_their_guest_only(parts):
    owner, mine, other = Sub(), Sub(guest=True, userid=1000), Sub(guest=True, userid=1001)
    for s in (owner, mine, other):
        parts.events.subscribe(s, "p.")
    parts.events.publish("p.secret", private=True, userid=1000, rolemask=GUEST_LOCAL)
    parts.events.publish("p.open", userid=1000, rolemask=GUEST_LOCAL)
    assert owner.topics() == ["p.secret", "p.open"]
    assert mine.topics() == ["p.secret", "p.open"]
    assert other.topics() == ["p.open"]


def test_forget_drops_every_subscription(parts):
    sub = Sub()
    parts.events.subscribe(sub, "a")
    parts.events.subscribe(sub, "b")
    parts.events.forget(sub)
    assert sub.subs == {} and sub not in parts.events.subscribers


def test_event_publish_service(parts):
    sub = Sub(guest=True, userid=1000)
    parts.events.subscribe(sub, "pub.")
    guest = {"userid": 1000, "rolemask": GUEST_LOCAL}
    payload = base64.b64encode(b"hello").decode()
    resp = parts.rpc("event.publish", {"topic": "pub.x", "flags": FLUX_MSGFLAG_PRIVATE,
                                       "payload": payload}, **guest)[0]
    assert resp.errnum == 0 and resp.payload == {"seq": 1}
    ev = dec(sub.got[0])
    assert ev.payload_bytes == b"hello" and ev.flags & FLUX_MSGFLAG_PRIVATE
    assert (ev.userid, ev.rolemask) == (1000, GUEST_LOCAL)  # the publisher's creds
    for bad in ({"topic": 1}, {"topic": "t", "flags": 2}, {"topic": "t", "flags": True},
                {"topic": "t", "payload": "***"}, {"topic": "t", "payload": 5}):
        assert parts.rpc("event.publish", bad)[0].errnum == errno.EPROTO, bad
    assert parts.events.seq == 1


def test_wanted_skip_and_internal_subscribers(parts):
    """A service may skip building an event nobody subscribes to; the numbering goes on."""
    events = parts.events
    assert not events.wanted("kvs.namespace-primary-setroot")
    assert events.skip() == 1
    sub = Sub()
    events.subscribe(sub, "kvs.")
    assert events.wanted("kvs.namespace-primary-setroot") and not events.wanted("other")
    assert events.publish("kvs.x") == 2
    seen = []
    events.on("other.", seen.append)
    assert events.wanted("other.y")
    events.publish("other.y")
    assert [m.topic for m in seen] == ["other.y"] and sub.topics() == ["kvs.x"]

"""Credentials set through ``msg.pimpl`` (flux-core's t1000-service-add-remove.py idiom):
an owner may lower its rolemask to USER and is then refused owner-only services; a guest
still cannot claim other credentials."""

from __future__ import annotations

import errno
import os

import pytest

from conftest import start_instance

import flux
from guest import GUEST_UID, run_as_guest
from flux.constants import (
    FLUX_MSGTYPE_REQUEST,
    FLUX_MSGTYPE_RESPONSE,
    FLUX_ROLE_OWNER,
    FLUX_ROLE_USER,
)
from flux.message import Message

pytestmark = pytest.mark.timeout(60)



def _user_request(topic: str, payload: dict, userid: int) -> Message:
    msg = Message()
    msg.topic = topic
    msg.payload = payload
    msg.pimpl.set_rolemask(FLUX_ROLE_USER)
    msg.pimpl.set_userid(userid)
    return msg


def test_owner_with_user_rolemask_is_refused_by_the_broker(shared_instance):
    h = flux.Flux(shared_instance.uri)
    h.send(_user_request("attr.set", {"name": "test.pimpl", "value": "x"}, os.getuid() + 1))
    resp = h.recv(FLUX_MSGTYPE_RESPONSE, topic_glob="attr.set")
    with pytest.raises(OSError) as info:
        resp.decode()
    assert info.value.errno == errno.EPERM
    with pytest.raises(FileNotFoundError):
        h.attr_get("test.pimpl")
    # a broker service open to users sees the lowered credentials
    h.send(_user_request("broker.ping", {"seq": 1}, os.getuid() + 1))
    pong = h.recv(FLUX_MSGTYPE_RESPONSE, topic_glob="broker.ping").payload
    assert pong["userid"] == os.getuid() + 1
    assert pong["rolemask"] & FLUX_ROLE_USER and not pong["rolemask"] & FLUX_ROLE_OWNER


def test_owner_with_user_rolemask_and_a_client_service(shared_instance):
    """t1000: a service's default handler is owner-only; rolemask=USER opens it."""
    h = flux.Flux(shared_instance.uri)
    h.service_register("pimplsvc").get()
    seen = []

    def service(handle, watcher, msg, arg):
        seen.append((msg.topic, msg.userid, msg.rolemask))
        handle.respond(msg, {"ok": True})

    owner_only = h.msg_watcher_create(service, FLUX_MSGTYPE_REQUEST, "pimplsvc.owner")
    open_to_users = h.msg_watcher_create(service, FLUX_MSGTYPE_REQUEST, "pimplsvc.user",
                                         rolemask=FLUX_ROLE_USER)
    answers = {}

    def response(handle, watcher, msg, arg):
        answers[msg.topic] = msg.errnum
        if len(answers) == 2:
            for w in (watcher, owner_only, open_to_users):
                w.stop()

    responses = h.msg_watcher_create(response, FLUX_MSGTYPE_RESPONSE, "pimplsvc.*")
    for w in (owner_only, open_to_users, responses):
        w.start()
    h.send(_user_request("pimplsvc.owner", {"n": 1}, os.getuid() + 1))
    h.send(_user_request("pimplsvc.user", {"n": 2}, os.getuid() + 1))
    assert h.reactor_run() >= 0
    assert answers == {"pimplsvc.owner": errno.EPERM, "pimplsvc.user": 0}
    assert [(t, u) for t, u, _ in seen] == [("pimplsvc.user", os.getuid() + 1)]
    assert seen[0][2] & FLUX_ROLE_USER and not seen[0][2] & FLUX_ROLE_OWNER
    h.service_unregister("pimplsvc").get()


def _guest_forging_owner(uri: str) -> list:
    """As the guest, send requests claiming owner credentials through pimpl."""

    def work() -> list:
        h = flux.Flux(uri)
        out = []
        for topic, payload in (("attr.set", {"name": "test.forged", "value": "x"}),
                               ("broker.ping", {"seq": 1})):
            msg = Message()
            msg.topic = topic
            msg.payload = payload
            msg.pimpl.set_rolemask(FLUX_ROLE_OWNER)
            msg.pimpl.set_userid(0)
            h.send(msg)
            resp = h.recv(FLUX_MSGTYPE_RESPONSE, topic_glob=topic)
            out.append((resp.errnum, resp.payload if not resp.errnum else resp.payload_str))
        return out

    return run_as_guest(work)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as a second (guest) uid")
def test_guest_cannot_claim_owner_credentials():
    with start_instance("access.allow-guest-user=true") as gi:
        (set_errnum, _), (ping_errnum, pong) = _guest_forging_owner(gi.uri)
        assert set_errnum == errno.EPERM
        assert ping_errnum == 0
        assert pong["userid"] == GUEST_UID and not pong["rolemask"] & FLUX_ROLE_OWNER

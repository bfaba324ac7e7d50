"""broker.getenv / broker.setenv in-process: flux-core's payloads and errors
(its t0034-broker-getenv.t cases)."""

from __future__ import annotations

import errno

import pytest
from routerhelpers import GUEST, body, make_router, request

from flux.broker.brokerenv import BrokerEnv


@pytest.fixture
def svc():
    router, peer = make_router()
    environ = {"BROKER_ENV_TEST": "abcd", "PATH": "/bin"}
    BrokerEnv(router, router.builtin("broker"), environ)

    def rpc(topic, payload, **kw):
        router.request(request(topic, payload, **kw))
        (resp,) = peer.take()
        return resp

    return rpc, environ


def test_getenv(svc):
    rpc, environ = svc
    assert body(rpc("broker.getenv", {"names": ["BROKER_ENV_TEST"]})) == {
        "env": {"BROKER_ENV_TEST": "abcd"}}
    assert body(rpc("broker.getenv", {"names": ["BROKER_ENV_TEST", "PATH"]}))["env"] == environ
    assert body(rpc("broker.getenv", {"names": ["UNSET_VAR", 3]})) == {"env": {}}
    assert body(rpc("broker.getenv", {"names": "PATH"})) == {"env": {}}  # not an array: nothing
    assert rpc("broker.getenv", {}).aux1 == errno.EPROTO


def test_setenv_sets_overwrites_and_unsets(svc):
    rpc, environ = svc
    resp = rpc("broker.setenv", {"env": {"NEW": "efgh", "BROKER_ENV_TEST": "wxyz"}})
    assert resp.aux1 == 0 and resp.payload_bytes is None
    assert environ["NEW"] == "efgh" and environ["BROKER_ENV_TEST"] == "wxyz"
    assert rpc("broker.setenv", {"env": {"NEW": None, "NOTSET": None, "OTHER": "baz"}}).aux1 == 0
    assert "NEW" not in environ and "NOTSET" not in environ and environ["OTHER"] == "baz"


@pytest.mark.parametrize("payload", [
    {}, {"env": []}, {"env": {"BAD": 42}}, {"env": {"BAD=NAME": "val"}}, {"env": {"": "val"}},
    {"env": {"SETENV_ATOMIC": "ok", "BAD=NAME": "val", "SETENV_ATOMIC2": "ok"}},
])
def test_setenv_rejects_bad_requests_and_changes_nothing(svc, payload):
    rpc, environ = svc
    before = dict(environ)
    assert rpc("broker.setenv", payload).aux1 == errno.EPROTO
    assert environ == before


@pytest.mark.parametrize("topic, payload", [
    ("broker.getenv", {"names": ["PATH"]}), ("broker.setenv", {"env": {"X": "y"}})])
def test_guests_are_refused(svc, topic, payload):
    rpc, environ = svc
    resp = rpc(topic, payload, rolemask=GUEST, userid=4242)
    assert resp.aux1 == errno.EPERM and "X" not in environ

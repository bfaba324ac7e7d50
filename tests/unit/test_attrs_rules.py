"""flux.broker.attrs.Attrs: which names attr.set may create, update or remove (flux-core's rules)."""

from __future__ import annotations

import errno

import pytest

from flux.broker.attrs import IMMUTABLE, Attrs
from flux.broker.router import RequestError


@pytest.fixture
def attrs():
    a = Attrs()
    a.add("rank", "0", immutable=True)
    a.add("log-level", "7")
    return a


def _errnum(func, *args, **kwargs):
    with pytest.raises(RequestError) as exc:
        func(*args, **kwargs)
    return exc.value.errnum, exc.value.text


def test_test_names_are_created_and_updated(attrs):
    attrs.update("test.foo", "bar")
    assert attrs.get("test.foo") == "bar"
    assert "test.foo" in attrs.names()
    attrs.update("test.foo", "baz")  # test.* may be updated at run time
    assert attrs["test.foo"] == "baz"
    attrs.remove("test.foo")
    assert "test.foo" not in attrs


def test_other_unknown_names_stay_enoent(attrs):
    for name in ("nosuch", "test", "testing.x", "tests.x", "xtest.y", "test-rd.x"):
        assert _errnum(attrs.update, name, "v") == (errno.ENOENT, "unknown attribute")
        assert name not in attrs


def test_families_without_runtime_updates_need_force(attrs):
    for name in ("test-nr.a", "test-ro.a", "test-im.a"):
        attrs.update(name, "1")
        assert _errnum(attrs.update, name, "2") == (errno.EINVAL, "attribute may not be updated")
    attrs.update("test-nr.a", "2", force=True)
    assert attrs["test-nr.a"] == "2"
    # an immutable one refuses even a forced update, and removal
    assert _errnum(attrs.update, "test-im.a", "2", force=True) == (errno.EPERM, None)
    assert attrs["test-im.a"] == "1"
    assert _errnum(attrs.remove, "test-im.a")[0] == errno.EPERM


def test_immutable_update_is_einval_unless_forced(attrs):
    assert _errnum(attrs.update, "rank", "3") == (errno.EINVAL, "attribute may not be updated")
    assert _errnum(attrs.update, "rank", "3", force=True) == (errno.EPERM, None)
    assert attrs["rank"] == "0"


def test_removing_an_absent_attribute_succeeds(attrs):
    attrs.remove("nosuch")
    attrs.remove("test.never-set")
    assert _errnum(attrs.remove, "rank")[0] == errno.EPERM


def test_only_the_immutable_flag_goes_on_the_wire(attrs):
    replies = []

    class FakeRouter:
        def builtin(self, name):
            return self

        def method(self, name, func, *roles):
            setattr(self, name, func)

        def respond(self, msg, payload=None):
            replies.append(payload)

    class Req:
        def __init__(self, payload):
            self._p = payload

        def payload_json(self):
            return self._p

    router = FakeRouter()
    attrs.register(router)
    router.set(Req({"name": "test-im.x", "value": "v"}))
    router.set(Req({"name": "test-nr.x", "value": "v"}))
    router.get(Req({"name": "test-im.x"}))
    router.get(Req({"name": "test-nr.x"}))
    assert replies == [None, None, {"value": "v", "flags": IMMUTABLE}, {"value": "v", "flags": 0}]
    with pytest.raises(RequestError) as exc:
        router.set(Req({"name": "test-nr.x", "value": "w", "force": 1}))
    assert exc.value.errnum == errno.EPROTO
    router.set(Req({"name": "test-nr.x", "value": "w", "force": True}))
    assert attrs["test-nr.x"] == "w"

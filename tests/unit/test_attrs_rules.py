"""flux.broker.attrs.Attrs: which names attr.set may create, update or remove (flux-core's rules)."""

from __future__ import annotations

import errno

import pytest

from flux.broker.attrs import IMMUTABLE, READONLY, RUNTIME, Attrs, check_cmdline, registered
from flux.broker.router import RequestError


@pytest.fixture
def attrs():
    a = Attrs()
    a.add("rank", "0")
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


def test_registry_holds_flux_core_flags_and_ours():
    assert registered("rank") == READONLY | IMMUTABLE
    assert registered("version") == READONLY
    assert registered("rundir") == 0
    assert registered("log-level") == IMMUTABLE
    assert registered("log-ring-size") == IMMUTABLE
    assert registered("log-stderr-level") == RUNTIME
    assert registered("vendor.pmix") == RUNTIME | IMMUTABLE
    assert registered("test.a.b") == RUNTIME
    assert registered("heartbeat.period") == RUNTIME  # ours
    assert registered("broker.spin-us") == IMMUTABLE  # ours
    for name in ("nosuch", "test", "test-rd.x", "Rank", "vendor", "access.other"):
        assert registered(name) is None


def test_only_registered_names_are_added(attrs):
    with pytest.raises(ValueError):
        attrs.add("color", "red")
    attrs.add("statedir", "/tmp/x")  # registered by flux-core, stored for later use
    assert attrs["statedir"] == "/tmp/x"


def test_set_creates_a_registered_name_with_its_flags(attrs):
    attrs.update("broker.quorum", "0")
    assert attrs.immutable()["broker.quorum"] == "0"
    assert _errnum(attrs.update, "broker.quorum", "1", force=True) == (errno.EPERM, None)
    attrs.update("statedir", "/a")
    assert _errnum(attrs.update, "statedir", "/b") == (errno.EINVAL, "attribute may not be updated")
    attrs.update("statedir", "/b", force=True)
    assert attrs["statedir"] == "/b"


def test_runtime_and_immutable_is_eperm_without_force(attrs):
    attrs.update("vendor.x", "1")
    assert _errnum(attrs.update, "vendor.x", "2") == (errno.EPERM, None)
    assert attrs["vendor.x"] == "1"


def test_log_level_is_immutable_log_stderr_level_runtime(attrs):
    assert _errnum(attrs.update, "log-level", "3") == (errno.EINVAL, "attribute may not be updated")
    assert _errnum(attrs.update, "log-level", "3", force=True) == (errno.EPERM, None)
    seen = []
    attrs.add("log-stderr-level", "3", setter=seen.append)
    attrs.update("log-stderr-level", "5")
    assert (attrs["log-stderr-level"], seen) == ("5", ["5"])


def test_command_line_names():
    for name in ("nosuch", "test-rd.x", "color"):
        with pytest.raises(ValueError, match="^unknown attribute$"):
            check_cmdline(name)
    for name in ("rank", "size", "version", "broker.pid", "broker.uuid", "broker.mapping",
                 "security.owner", "instance-level", "parent-uri", "test-ro.x", "tbon.level"):
        with pytest.raises(ValueError, match="^attribute may not be set on the command line$"):
            check_cmdline(name)
    for name in ("rundir", "statedir", "log-level", "test-im.x", "vendor.y", "content.hash",
                 "tbon.topo", "broker.quorum", "log-filename", "heartbeat.period",
                 "access.allow-guest-user", "module.exec", "broker.spin-us"):
        check_cmdline(name)


def test_command_line_values_are_initial_values(attrs):
    attrs.set_cmdline("test-im.x", "v")
    assert attrs.immutable()["test-im.x"] == "v"
    sizes = []
    attrs.add("log-ring-size", "1024", setter=sizes.append)
    attrs.set_cmdline("log-ring-size", "77")  # immutable, but its initial value
    assert (attrs["log-ring-size"], sizes) == ("77", ["77"])
    attrs.add("broker.rc1_path", "")
    attrs.set_cmdline("broker.rc1_path", "true")
    assert attrs["broker.rc1_path"] == "true"
    attrs.add("broker.boot-method", "single")  # computed by the broker: not replaced
    with pytest.raises(ValueError, match="Operation not permitted"):
        attrs.set_cmdline("broker.boot-method", "pmi")
    with pytest.raises(ValueError, match="unknown attribute"):
        attrs.set_cmdline("nosuch", "1")
    assert "nosuch" not in attrs


def test_removing_an_absent_attribute_succeeds(attrs):
    attrs.remove("nosuch")
    attrs.remove("test.never-set")
    assert _errnum(attrs.remove, "rank") == (errno.EPERM, None)


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

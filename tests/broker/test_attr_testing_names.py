"""The attr service on a real broker: test.* names can be created, read, listed and removed."""

from __future__ import annotations

import errno

import pytest

import flux

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def h(shared_instance):
    with flux.Flux(shared_instance.uri) as handle:
        yield handle


def test_set_creates_a_test_attribute_with_no_payload(h):
    assert h.rpc("attr.set", {"name": "test.attr-that-doesnt-exist", "value": "foo"}).get() is None
    assert h.attr_get("test.attr-that-doesnt-exist") == "foo"
    assert h.rpc("attr.get", {"name": "test.attr-that-doesnt-exist"}).get() == {"value": "foo", "flags": 0}
    assert "test.attr-that-doesnt-exist" in h.rpc("attr.list").get()["names"]
    h.attr_set("test.attr-that-doesnt-exist", "bar")
    assert h.attr_get("test.attr-that-doesnt-exist") == "bar"
    assert h.rpc("attr.rm", {"name": "test.attr-that-doesnt-exist"}).get() is None
    with pytest.raises(FileNotFoundError):
        h.attr_get("test.attr-that-doesnt-exist")
    assert "test.attr-that-doesnt-exist" not in h.rpc("attr.list").get()["names"]


def test_other_unknown_names_are_enoent(h):
    with pytest.raises(OSError) as exc:
        h.attr_set("no-such-attr", "x")
    assert exc.value.errno == errno.ENOENT and exc.value.strerror == "unknown attribute"


def test_rm_of_an_absent_name_succeeds(h):
    h.attr_remove("no-such-attr")
    h.attr_remove("test.never-created")


def test_immutable_attributes(h):
    with pytest.raises(OSError) as exc:
        h.attr_set("rank", "3")
    assert exc.value.errno == errno.EINVAL and exc.value.strerror == "attribute may not be updated"
    with pytest.raises(PermissionError):
        h.rpc("attr.set", {"name": "rank", "value": "3", "force": True}).get()
    with pytest.raises(PermissionError):
        h.attr_remove("rank")
    assert h.attr_get("rank") == "0"


def test_test_im_attribute_is_cacheable_and_fixed(h):
    h.attr_set("test-im.fixed", "1")
    assert h.rpc("attr.get", {"name": "test-im.fixed"}).get() == {"value": "1", "flags": 1}
    with pytest.raises(OSError) as exc:
        h.attr_set("test-im.fixed", "2")
    assert exc.value.errno == errno.EINVAL
    with pytest.raises(PermissionError):
        h.attr_remove("test-im.fixed")

"""The attr service in-process: attr.get/list/set/rm through the router, setters, immutables."""

from __future__ import annotations

import errno

import pytest
from brokerfakes import GUEST_LOCAL, OWNER, Parts

from flux.broker.attrs import parse_fsd


@pytest.fixture
def parts():
    p = Parts()
    p.attrs.add("size", "1")
    p.attrs.add("test.color", "red")
    return p


def one(msgs):
    assert len(msgs) == 1, msgs
    return msgs[0]


def test_get_and_list(parts):
    assert one(parts.rpc("attr.get", {"name": "size"})).payload == {"value": "1", "flags": 1}
    assert one(parts.rpc("attr.get", {"name": "test.color"})).payload == {"value": "red", "flags": 0}
    assert one(parts.rpc("attr.get", {"name": "nosuch"})).errnum == errno.ENOENT
    assert one(parts.rpc("attr.get", {"name": 3})).errnum == errno.EPROTO
    assert one(parts.rpc("attr.get")).errnum == errno.EPROTO
    names = one(parts.rpc("attr.list")).payload["names"]
    assert names == sorted(names) and {"rank", "size", "test.color", "log-level"} <= set(names)


def test_guests_read_but_do_not_write(parts):
    guest = {"userid": OWNER + 1, "rolemask": GUEST_LOCAL}
    assert one(parts.rpc("attr.get", {"name": "test.color"}, **guest)).errnum == 0
    assert one(parts.rpc("attr.list", **guest)).errnum == 0
    assert one(parts.rpc("attr.set", {"name": "test.color", "value": "x"}, **guest)).errnum == errno.EPERM
    assert one(parts.rpc("attr.rm", {"name": "test.color"}, **guest)).errnum == errno.EPERM


def test_set_runs_the_setter(parts):
    assert one(parts.rpc("attr.set", {"name": "log-stderr-level", "value": "5"})).errnum == 0
    assert parts.log.stderr_level == 5
    resp = one(parts.rpc("attr.set", {"name": "log-stderr-level", "value": "zero"}))
    assert (resp.errnum, resp.payload_str) == (errno.EINVAL, "invalid log level 'zero'")
    assert parts.attrs["log-stderr-level"] == "5"  # unchanged by a refused value
    resp = one(parts.rpc("attr.set", {"name": "log-stderr-level", "value": "9"}))
    assert resp.errnum == errno.EINVAL and "out of range" in resp.payload_str
    # log-ring-size and log-level are immutable, as in flux-core
    resp = one(parts.rpc("attr.set", {"name": "log-ring-size", "value": "3"}))
    assert (resp.errnum, resp.payload_str) == (errno.EINVAL, "attribute may not be updated")
    resp = one(parts.rpc("attr.set", {"name": "log-level", "value": "3", "force": True}))
    assert resp.errnum == errno.EPERM and parts.attrs["log-level"] == "7"


def test_rm(parts):
    assert one(parts.rpc("attr.rm", {"name": "test.color"})).errnum == 0
    assert "test.color" not in parts.attrs
    resp = one(parts.rpc("attr.rm", {"name": "log-stderr-level"}))  # has a setter
    assert resp.errnum == errno.EPERM
    assert one(parts.rpc("attr.rm", {"name": "size"})).errnum == errno.EPERM


def test_immutable_is_what_a_welcome_carries(parts):
    assert parts.attrs.immutable() == {"rank": "0", "size": "1", "log-ring-size": "1024",
                                       "log-level": "7", "log-stderr-mode": "leader",
                                       "log-forward-level": "5", "log-critical-level": "2"}


@pytest.mark.parametrize("text,seconds", [("2s", 2.0), ("0.5", 0.5), ("100ms", 0.1),
                                          ("1m", 60.0), ("1h", 3600.0), ("1d", 86400.0)])
def test_parse_fsd(text, seconds):
    assert parse_fsd(text) == pytest.approx(seconds)


def test_parse_fsd_rejects():
    with pytest.raises(ValueError):
        parse_fsd("soon")

"""``msg.pimpl``: flux-core's libflux message functions, and ``with Message() as m``."""

from __future__ import annotations

import errno
import os

import pytest

import flux
import flux.wrapper
from flux.brokermod import ffi
from flux.constants import (
    FLUX_MSGFLAG_PRIVATE,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGTYPE_EVENT,
    FLUX_MSGTYPE_REQUEST,
    FLUX_MSGTYPE_RESPONSE,
    FLUX_ROLE_LOCAL,
    FLUX_ROLE_OWNER,
    FLUX_ROLE_USER,
)
from flux.message import Message

NULL_HANDLE = r"Attempting to call a cached, bound method.*NULL handle"


def test_setters_and_out_pointer_getters():
    msg = Message()
    p = msg.pimpl
    assert p.set_rolemask(FLUX_ROLE_USER) == 0 and msg.rolemask == FLUX_ROLE_USER
    assert p.set_userid(42) == 0 and msg.userid == 42
    # flux-core's idiom: a C out-array, read back at [0]
    rolemask = ffi.new("uint32_t [1]")
    p.get_rolemask(rolemask)
    assert rolemask[0] == FLUX_ROLE_USER
    userid = [0]
    assert p.get_userid(userid) == 42 and userid[0] == 42
    assert p.get_type() == FLUX_MSGTYPE_REQUEST
    p.set_type(FLUX_MSGTYPE_EVENT)
    kind = ffi.new("int [1]")
    p.get_type(kind)
    assert kind[0] == FLUX_MSGTYPE_EVENT == msg.type


def test_topic_and_string_payload_like_flux_cores_message_properties():
    msg = Message()
    msg.pimpl.set_topic("a.b")
    topic = ffi.new("char *[1]")
    msg.pimpl.get_topic(topic)
    assert ffi.string(topic[0]).decode("utf-8") == "a.b" == msg.topic
    assert not msg.pimpl.has_payload()
    string = ffi.new("char *[1]")
    assert msg.pimpl.get_string(string) is None and string[0] == ffi.NULL
    msg.pimpl.set_string('{"x": 1}')
    assert msg.pimpl.has_payload() and msg.payload == {"x": 1}
    assert msg.pimpl.get_string(ffi.cast("char**", string)) == '{"x": 1}'
    assert ffi.string(string[0]).decode("utf-8") == '{"x": 1}'
    msg.pimpl.set_string(None)
    assert msg.payload_str is None


def test_libflux_errors_are_oserrors_worded_like_flux_core():
    msg = Message(FLUX_MSGTYPE_RESPONSE)
    with pytest.raises(OSError) as info:
        msg.pimpl.get_topic()
    assert info.value.errno == errno.EPROTO and info.value.strerror == "EPROTO: Protocol error"
    with pytest.raises(OSError) as info:
        msg.pimpl.get_nodeid()
    assert info.value.errno == errno.EPROTO
    with pytest.raises(OSError) as info:
        msg.pimpl.set_seq(3)
    assert info.value.errno == errno.EINVAL
    msg.pimpl.set_errnum(errno.ENOENT)
    assert msg.pimpl.get_errnum() == errno.ENOENT
    with pytest.raises(OSError) as info:
        msg.pimpl.route_push("x")  # no ROUTE flag
    assert info.value.errno == errno.EPROTO


def test_flags_routes_and_authorization():
    msg = Message()
    p = msg.pimpl
    p.set_private()
    assert p.is_private() and msg.flags & FLUX_MSGFLAG_PRIVATE
    p.set_streaming()
    assert p.is_streaming() and not p.is_noresponse()
    p.set_noresponse()
    assert p.is_noresponse() and not p.is_streaming()
    p.route_enable()
    assert msg.flags & FLUX_MSGFLAG_ROUTE and p.route_count() == 0
    p.route_push("first-hop-uuid")
    p.route_push("second")
    assert p.route_first() == b"first-hop-uuid" and p.route_last() == b"second"
    assert p.route_string() == b"first-ho!second"
    p.route_delete_last()
    assert p.route_count() == 1
    p.set_rolemask(FLUX_ROLE_USER | FLUX_ROLE_LOCAL)
    p.set_userid(7)
    assert p.authorize(7) == 0 and p.is_local()
    with pytest.raises(OSError) as info:
        p.authorize(8)
    assert info.value.errno == errno.EPERM
    p.set_rolemask(FLUX_ROLE_OWNER)
    assert p.authorize(8) == 0


def test_prefixed_unknown_and_constant_names():
    msg = Message()
    assert msg.pimpl.flux_msg_set_userid(5) == 0 and msg.userid == 5
    assert msg.pimpl.flux_msg_get_userid() == 5
    assert msg.pimpl.TYPE_REQUEST == FLUX_MSGTYPE_REQUEST
    assert msg.pimpl.FLUX_ROLE_USER == FLUX_ROLE_USER
    missing = msg.pimpl.no_such_function  # flux-core: no AttributeError until called
    with pytest.raises(flux.wrapper.MissingFunctionError):
        missing(1)
    with pytest.raises(AttributeError):
        msg.pimpl._private
    assert msg.pimpl.handle is msg and msg.handle is msg


def test_with_message_destroys_it():
    with Message() as msg:
        msg.topic = "a.b"
        assert msg.topic == "a.b"
    for use in (lambda: msg.topic, lambda: msg.payload, lambda: msg.type, lambda: msg.decode(),
                lambda: msg.pimpl.get_topic(), lambda: setattr(msg, "userid", 1)):
        with pytest.raises(ValueError, match=NULL_HANDLE):
            use()
    assert msg.handle is None and msg.pimpl.handle is None and "destroyed" in repr(msg)
    msg.__exit__(None, None, None)  # twice is harmless
    assert Message.from_event_encode("still.works").topic == "still.works"
    assert msg.from_event_encode("class.method").topic == "class.method"
    # a destroyed message cannot be sent
    with flux.Flux("loop://") as h, pytest.raises(ValueError, match=NULL_HANDLE):
        h.send(msg)


def test_with_pimpl_destroys_the_message():
    msg = Message()
    with msg.pimpl as p:
        p.set_userid(os.getuid())
    with pytest.raises(ValueError, match=NULL_HANDLE):
        msg.userid


def test_subclass_of_message_can_be_destroyed():
    class Tagged(Message):
        pass

    with Tagged() as msg:
        pass
    with pytest.raises(ValueError):
        msg.topic
    assert isinstance(msg, Tagged)

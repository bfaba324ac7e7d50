"""The libflux names flux-core's handle answers besides its Python methods (its C wrapper's
prefix lookup), and what an unknown name does."""

from __future__ import annotations

import copy
import errno
import os
import pickle

import pytest

import flux
import flux.wrapper
from flux.brokermod import ffi
from flux.constants import (
    FLUX_MSGTYPE_REQUEST,
    FLUX_MSGTYPE_RESPONSE,
    FLUX_O_TEST_NOSUB,
    FLUX_ROLE_USER,
)
from flux.future import Future
from flux.message import Message

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
def h():
    with flux.Flux("loop://", FLUX_O_TEST_NOSUB) as handle:
        yield handle


def test_flux_prefix_reaches_the_methods(h):
    assert h.flux_get_rank.__func__ is type(h).get_rank
    assert h.flux_event_subscribe("x.") == 0
    size = ffi.new("uint32_t [1]")
    h.flux_get_size(size)
    assert size[0] == 1
    rank = [None]
    assert h.flux_get_rank(rank) == 0 and rank[0] == 0
    assert h.flux_attr_get("rank") == b"0"  # a C string, as flux-core returns it
    assert isinstance(h.flux_service_register("svc"), Future)


def test_flux_send_respond_and_reactor_run(h):
    def service(handle, watcher, msg, arg):
        assert handle.flux_respond(msg, '{"ok": true}') == 0
        watcher.stop()

    h.msg_watcher_create(service, FLUX_MSGTYPE_REQUEST, "svc.x").start()
    got = []
    h.rpc("svc.x").then(lambda f: got.append(f.get()))
    assert h.flux_reactor_run(None, 0) >= 0
    assert got == [{"ok": True}]
    msg = Message()
    msg.topic = "nosuch.x"
    assert h.flux_send(msg, 0) == 0
    assert _response(h, "nosuch.x").errnum == errno.ENOSYS


def _response(h, topic, *others):
    """Run the reactor until the response to a request sent with send() comes back
    (then stop that watcher and the ``others``)."""
    got = []

    def cb(handle, watcher, msg, arg):
        got.append(msg)
        for w in (watcher, *others):
            w.stop()

    h.msg_watcher_create(cb, FLUX_MSGTYPE_RESPONSE, topic).start()
    h.reactor_run()
    return got[0]


def test_constants_by_libflux_names(h):
    assert h.FLUX_MSGTYPE_REQUEST == h.MSGTYPE_REQUEST == FLUX_MSGTYPE_REQUEST
    assert h.ROLE_USER == FLUX_ROLE_USER


def test_future_functions_from_flux_cores_tests(h):
    """t0012-futures.py: Future(h.future_create(NULL, NULL)), pimpl.fulfill, h.future_get."""
    future = Future(h.future_create(ffi.NULL, ffi.NULL))
    assert not future.is_ready()
    with pytest.raises(OSError) as info:
        future.wait_for(timeout=0)
    assert info.value.errno == errno.ETIMEDOUT
    future.pimpl.fulfill(ffi.NULL, ffi.NULL)
    assert future.is_ready()
    assert h.future_get(future, ffi.NULL) == 0
    assert h.flux_future_get(future, None) == 0
    failed = h.future_create(None, None)
    failed.pimpl.fulfill_error(errno.EPERM, None)
    with pytest.raises(PermissionError):
        h.future_get(failed, None)


def test_msg_handler_allow_rolemask_on_the_watcher_handle(h):
    """flux-core's MessageWatcher calls h.msg_handler_allow_rolemask(self.handle, rolemask)."""
    seen = []

    def cb(handle, watcher, msg, arg):
        seen.append(msg.rolemask)
        handle.respond(msg)
        watcher.stop()

    w = h.msg_watcher_create(cb, FLUX_MSGTYPE_REQUEST, "guest.ok")
    h.msg_handler_allow_rolemask(w.handle, FLUX_ROLE_USER)
    w.start()
    msg = Message()
    msg.topic = "guest.ok"
    msg.pimpl.set_rolemask(FLUX_ROLE_USER)
    msg.pimpl.set_userid(os.getuid() + 1)
    h.send(msg)
    h.reactor_run()
    assert seen == [FLUX_ROLE_USER]
    assert h.msg_set_userid(msg, 3) == 0 and msg.userid == 3  # flux_msg_* take the message
    assert h.msg_create(FLUX_MSGTYPE_RESPONSE).type == FLUX_MSGTYPE_RESPONSE


def test_unknown_names_fail_when_called_like_flux_core(h):
    missing = h.non_existent_function_that_should_die
    assert hasattr(h, "anything_at_all")  # flux-core returns a proxy, too
    with pytest.raises(flux.wrapper.MissingFunctionError) as info:
        missing("stuff")
    assert "non_existent_function_that_should_die" in str(info.value)
    with pytest.raises(flux.wrapper.MissingFunctionError):
        h.flux_no_such_thing()
    with pytest.raises(flux.wrapper.MissingFunctionError):
        h.msg_no_such_thing(Message())
    # private and special names stay AttributeErrors (copy, pickle, internal checks)
    with pytest.raises(AttributeError):
        h._no_such_private
    with pytest.raises(AttributeError):
        h.__no_such_special__
    assert isinstance(h.flux__core, flux.wrapper.MissingFunction)  # not the private _core
    with pytest.raises(TypeError):
        pickle.dumps(h)
    assert copy.copy(h) is not None


def test_owner_rolemask_default_still_refuses_users(h):
    def cb(handle, watcher, msg, arg):
        handle.respond(msg)

    w = h.msg_watcher_create(cb, FLUX_MSGTYPE_REQUEST, "owner.only")
    w.start()
    msg = Message()
    msg.topic = "owner.only"
    msg.pimpl.set_rolemask(FLUX_ROLE_USER)
    h.send(msg)
    assert _response(h, "owner.only", w).errnum == errno.EPERM

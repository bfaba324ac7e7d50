"""Unit tests of flux.brokermod: decorators, BrokerLogger, resolve_entry_point,
BrokerModule's handler registration, and the ffi/lib shims flux-core's tests mock."""

from __future__ import annotations

import types
from unittest import mock

import pytest

import flux.brokermod as bm
from flux.brokermod import (
    BrokerLogger,
    BrokerModule,
    event_handler,
    request_handler,
    resolve_entry_point,
)
from flux.constants import FLUX_MSGTYPE_EVENT, FLUX_MSGTYPE_REQUEST, FLUX_ROLE_OWNER, FLUX_ROLE_USER


class FakeCore:
    def __init__(self, name=None):
        self.aux = {}
        if name is not None:
            self.aux["flux::name"] = name


class FakeWatcher:
    def __init__(self, cb, msgtype, topic, rolemask):
        self.cb, self.msgtype, self.topic, self.rolemask = cb, msgtype, topic, rolemask
        self.started = False

    def start(self):
        self.started = True


class FakeHandle:
    """Just what BrokerModule touches on a flux.Flux handle."""

    def __init__(self, name="mymod", rc=0):
        self._core = FakeCore(name)
        self.handle = self._core
        self.watchers = []
        self.subscribed = []
        self.logged = []
        self.stopped = None
        self.rc = rc

    def msg_watcher_create(self, cb, msgtype, topic, rolemask=None):
        w = FakeWatcher(cb, msgtype, topic, rolemask)
        self.watchers.append(w)
        return w

    def event_subscribe(self, topic):
        self.subscribed.append(topic)

    def log(self, level, msg):
        self.logged.append((level, msg))

    def reactor_run(self):
        return self.rc

    def reactor_stop(self):
        self.stopped = "stop"

    def reactor_stop_error(self):
        self.stopped = "error"
        self.rc = -1


# -- decorators ----------------------------------------------------------------------------


def test_request_handler_tags_function():
    @request_handler("info")
    def f(self, msg):
        pass

    assert f._flux_handler == {"msgtype": FLUX_MSGTYPE_REQUEST, "topic": "info",
                               "prefix": True, "allow_guest": False}

    @request_handler("x.y", prefix=False, allow_guest=True)
    def g(self, msg):
        pass

    assert g._flux_handler == {"msgtype": FLUX_MSGTYPE_REQUEST, "topic": "x.y",
                               "prefix": False, "allow_guest": True}


def test_event_handler_tags_function():
    @event_handler("shutdown", prefix=False)
    def f(self, msg):
        pass

    assert f._flux_handler == {"msgtype": FLUX_MSGTYPE_EVENT, "topic": "shutdown", "prefix": False}
    assert event_handler("e")(lambda s, m: None)._flux_handler["prefix"] is True


# -- BrokerLogger ------------------------------------------------------------------------------


def test_logger_methods_and_default_threshold():
    h = FakeHandle()
    log = BrokerLogger(h)
    assert log.level == 7 and log.level_name == "debug"
    for i, meth in enumerate(["emerg", "alert", "critical", "error", "warning", "notice", "info", "debug"]):
        getattr(log, meth)(f"m{i}")
    assert h.logged == [(i, f"m{i}") for i in range(8)]
    log(4, "direct")
    assert h.logged[-1] == (4, "direct")


@pytest.mark.parametrize("value,expected", [
    ("info", 6), ("INFO", 6), ("err", 3), ("error", 3), ("crit", 2), ("critical", 2),
    ("warning", 4), ("warn", 4), ("emerg", 0), ("alert", 1), ("notice", 5), ("debug", 7),
    (0, 0), (7, 7), ("5", 5),
])
def test_logger_level_by_name_or_number(value, expected):
    log = BrokerLogger(FakeHandle())
    log.level = value
    assert log.level == expected


@pytest.mark.parametrize("bad", ["loud", None, "", "99", [1, 2], object()])
def test_logger_bad_level_names_the_value(bad):
    log = BrokerLogger(FakeHandle())
    with pytest.raises(ValueError) as exc:
        log.level = bad
    assert repr(bad) in str(exc.value)
    assert log.level == 7


@pytest.mark.parametrize("value,expected,name", [
    (99, 99, "99"), (8, 8, "8"), (-1, -1, "-1"), (3.5, 3, "err"), (True, 1, "alert"),
])
def test_logger_level_any_integer_kept(value, expected, name):
    """flux-core keeps whatever int() makes of a non-string level; level_name is then the number."""
    h = FakeHandle()
    log = BrokerLogger(h)
    log.level = value
    assert (log.level, log.level_name) == (expected, name)
    log.debug("d")
    log.emerg("e")
    assert h.logged == ([(7, "d"), (0, "e")] if expected >= 7 else [(0, "e")] if expected >= 0 else [])


def test_logger_uses_the_severity_table():
    from flux import severity

    assert BrokerLogger.LEVEL_NAMES == {n: i for i, n in enumerate(severity.NAMES)}
    log = BrokerLogger(FakeHandle())
    for alias, level in severity.ALIASES.items():
        log.level = alias
        assert log.level == level


def test_logger_threshold_filters():
    h = FakeHandle()
    log = BrokerLogger(h)
    log.level = "info"
    log.debug("hidden")
    log.info("shown")
    log.error("shown too")
    assert h.logged == [(6, "shown"), (3, "shown too")]
    assert log.level_name == "info"
    assert BrokerLogger.LEVEL_NAMES["err"] == 3


# -- resolve_entry_point ------------------------------------------------------------------------


def _ns(**kw):
    return types.SimpleNamespace(**kw)


class A(BrokerModule):
    pass


class B(BrokerModule):
    pass


def test_entry_point_mod_main_wins():
    def mod_main(h, *args):
        return ("main", args)

    assert resolve_entry_point(_ns(mod_main=mod_main, A=A, B=B)) is mod_main


def test_entry_point_single_subclass_synthesized():
    calls = []

    class Only(BrokerModule):
        def run(self):
            calls.append((self.name, self.args))

    entry = resolve_entry_point(_ns(Only=Only, BrokerModule=BrokerModule, alias=Only))
    entry(FakeHandle("m1"), "a", "b")
    assert calls == [("m1", ("a", "b"))]


def test_entry_point_ambiguity_and_absence():
    with pytest.raises(ValueError, match=r"^multiple BrokerModule subclasses found \(A, B\); define mod_main\(\)$"):
        resolve_entry_point(_ns(A=A, B=B, BrokerModule=BrokerModule))
    with pytest.raises(ValueError, match=r"^no mod_main\(\) or BrokerModule subclass found$"):
        resolve_entry_point(_ns(BrokerModule=BrokerModule, x=1))
    # the classes are named in the module's namespace order, as flux-core does
    with pytest.raises(ValueError, match=r"\(B, A\)"):
        resolve_entry_point(_ns(B=B, A=A))


# -- BrokerModule ---------------------------------------------------------------------------------


class Sample(BrokerModule):
    @request_handler("info")
    def info(self, msg):
        self.seen = ("info", msg)

    @request_handler("open", allow_guest=True)
    def open_(self, msg):
        pass

    @request_handler("abs.topic", prefix=False)
    def absolute(self, msg):
        pass

    @event_handler("ev")
    def ev(self, msg):
        pass

    @event_handler("heartbeat.pulse", prefix=False)
    def pulse(self, msg):
        pass


def test_registration_topics_roles_and_subscriptions():
    h = FakeHandle("mymod")
    m = Sample(h, "x", "y")
    assert m.name == "mymod" and m.args == ("x", "y") and m.handle is h
    assert isinstance(m.log, BrokerLogger)
    got = {(w.msgtype, w.topic): w for w in h.watchers}
    assert set(got) == {
        (FLUX_MSGTYPE_REQUEST, "mymod.info"),
        (FLUX_MSGTYPE_REQUEST, "mymod.open"),
        (FLUX_MSGTYPE_REQUEST, "abs.topic"),
        (FLUX_MSGTYPE_EVENT, "mymod.ev"),
        (FLUX_MSGTYPE_EVENT, "heartbeat.pulse"),
    }
    assert all(w.started for w in h.watchers)
    assert got[(FLUX_MSGTYPE_REQUEST, "mymod.info")].rolemask is None
    assert got[(FLUX_MSGTYPE_REQUEST, "mymod.open")].rolemask == FLUX_ROLE_OWNER | FLUX_ROLE_USER
    assert sorted(h.subscribed) == ["heartbeat.pulse", "mymod.ev"]
    # the callback has the watcher signature and calls method(msg)
    got[(FLUX_MSGTYPE_REQUEST, "mymod.info")].cb(h, None, "MSG", None)
    assert m.seen == ("info", "MSG")


def test_subclass_override_registers_once():
    class Sub(Sample):
        @request_handler("info")
        def info(self, msg):
            self.seen = "sub"

    h = FakeHandle("m")
    Sub(h)
    topics = [w.topic for w in h.watchers]
    assert topics.count("m.info") == 1


def test_name_unknown_without_aux():
    h = FakeHandle(None)
    assert BrokerModule(h).name == "unknown"


def test_run_stop_and_stop_error():
    h = FakeHandle()
    m = BrokerModule(h)
    assert m.run() == 0
    m.stop()
    assert h.stopped == "stop"
    m.stop_error()
    assert h.stopped == "error"
    with pytest.raises(OSError):
        m.run()
    h.rc = 0
    m._error = True  # stop_error() during a run that then returned normally
    with pytest.raises(OSError):
        m.run()


def test_debug_test_and_set_running_through_lib():
    h = FakeHandle()
    m = BrokerModule(h)
    assert m.debug_test(1) is False
    h._core.aux["flux::debug_flags"] = 0b110
    assert m.debug_test(2) is True
    assert m.debug_test(4, clear=True) is True
    assert h._core.aux["flux::debug_flags"] == 0b010
    assert m.debug_test(4) is False
    with pytest.raises(OSError):
        m.set_running()  # not a module handle
    called = []
    h._core.aux["flux::set_running"] = lambda: called.append(1)
    m.set_running()
    assert called == [1]


def test_ffi_lib_can_be_mocked_like_flux_core_t0038():
    """flux-core's test patches flux.brokermod.ffi/lib: they must be used at call time."""
    h = FakeHandle("ignored")
    mock_ffi = mock.MagicMock()
    mock_ffi.NULL = object()
    mock_ffi.string.return_value = b"mocked"
    mock_lib = mock.MagicMock()
    mock_lib.FLUX_ROLE_OWNER = 1
    mock_lib.FLUX_ROLE_USER = 2
    mock_lib.flux_module_debug_test.return_value = True
    with mock.patch.object(bm, "ffi", mock_ffi), mock.patch.object(bm, "lib", mock_lib):
        m = Sample(h)
        assert m.name == "mocked"
        mock_lib.flux_aux_get.assert_called_once_with(h.handle, b"flux::name")
        mock_ffi.cast.assert_called_once()
        assert mock_ffi.cast.call_args[0][0] == "char *"
        assert m.debug_test(8, clear=True) is True
        mock_lib.flux_module_debug_test.assert_called_once_with(h.handle, 8, True)
        m.set_running()
        mock_lib.flux_module_set_running.assert_called_once_with(h.handle)
    # the *cast* pointer is compared with NULL, as flux-core does (its t0038 makes
    # cast() return NULL while flux_aux_get returns a mock)
    mock_ffi.cast.return_value = mock_ffi.NULL
    with mock.patch.object(bm, "ffi", mock_ffi), mock.patch.object(bm, "lib", mock_lib):
        assert BrokerModule(FakeHandle()).name == "unknown"


def test_name_unknown_when_the_handle_has_no_aux():
    """libflux's flux_aux_get() of something that is not a handle is NULL: "unknown"."""
    for handle in (None, object(), types.SimpleNamespace(aux=None)):
        h = FakeHandle()
        h.handle = handle
        assert BrokerModule(h).name == "unknown"


def test_run_error_is_flux_cores_oserror():
    h = FakeHandle(rc=-1)
    with pytest.raises(OSError) as exc:
        BrokerModule(h).run()
    assert exc.value.errno is None and str(exc.value) == "reactor exited with error"


def test_public_names():
    for name in ("BrokerModule", "BrokerLogger", "request_handler", "event_handler",
                 "resolve_entry_point", "ffi", "lib"):
        assert hasattr(bm, name)
    assert bm.ffi.NULL is None
    assert bm.ffi.string("abc") == b"abc"
    assert bm.lib.FLUX_ROLE_USER == 2

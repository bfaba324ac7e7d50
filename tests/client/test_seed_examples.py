"""The examples of the two seed documents, as written there, in real instances.

shared/seeds/python-broker-modules.txt: the MyModule guide example (``info`` +
a ``shutdown`` event that stops it), the API-reference example (str payload,
``panic`` -> stop_error), the allow_guest ``status`` handler, ``mod_main(h,
*args)`` with ``--verbose --count=4``, ``--name myservice``, ``self.log``.

shared/seeds/flux-python-basics.txt: every method the Flux class section
documents, against a broker.
"""

from __future__ import annotations

import errno
import gc
import json
import os
import re
import select
import syslog
import textwrap
import time
import weakref
from pathlib import Path

import pytest

from conftest import pid_alive, start_instance

import flux
from flux.constants import FLUX_MSGTYPE_EVENT, FLUX_MSGTYPE_REQUEST, FLUX_O_NONBLOCK
from flux.message import Message

pytestmark = pytest.mark.timeout(60)

# -- python-broker-modules.txt, verbatim ---------------------------------------------------------

# "Using BrokerModule"
MYMOD = '''
from flux.brokermod import BrokerModule, event_handler, request_handler


class MyModule(BrokerModule):

    @request_handler("info")
    def info(self, msg):
        self.handle.respond(msg, {"name": self.name})

    @event_handler("shutdown", prefix=False)
    def on_shutdown(self, msg):
        self.stop()
'''

# "API reference" example
APIREF = '''
from flux.brokermod import BrokerModule, event_handler, request_handler

class MyModule(BrokerModule):

    @request_handler("info")
    def info(self, msg):
        self.handle.respond(msg, self.name)

    @event_handler("panic")
    def panic(self, msg):
        self.stop_error()
'''

# "By default, only requests from the instance owner ..." (the method, in a class)
STATUS = '''
from flux.brokermod import BrokerModule, request_handler


class StatusModule(BrokerModule):

    @request_handler("status", allow_guest=True)
    def status(self, msg):
        self.handle.respond(msg, {"running": True})
'''

# "Module arguments": mod_main receives the arguments as a tuple
ARGSMOD = '''
from flux.brokermod import BrokerModule, request_handler

SEEN = None


class MyModule(BrokerModule):

    @request_handler("args")
    def args_(self, msg):
        self.handle.respond(msg, {"mod_main": repr(SEEN), "self.args": repr(self.args)})


def mod_main(h, *args):
    # args == ('--verbose', '--count=4')
    global SEEN
    SEEN = args
    MyModule(h, *args).run()
'''

# "Logging"
LOGMOD = '''
from flux.brokermod import BrokerModule, request_handler


class LogMod(BrokerModule):

    @request_handler("go")
    def go(self, msg):
        self.log.info("module started")
        try:
            raise ValueError("seed-boom")
        except ValueError as exc:
            self.log.error(f"handler failed: {exc}")
        self.log.debug("seed debug before threshold")
        self.log.level = "info"   # suppress debug messages
        self.log.debug("seed debug after threshold")
        self.log.info("seed info after threshold")
        self.handle.respond(msg, {})
'''


@pytest.fixture(scope="module")
def moddir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("seedmods")
    for name, text in (("mymod", MYMOD), ("apiref", APIREF), ("status", STATUS),
                       ("argsmod", ARGSMOD), ("logmod", LOGMOD)):
        (d / f"{name}.py").write_text(textwrap.dedent(text))
    os.chmod(d, 0o755)
    return d


@pytest.fixture(scope="module")
def inst():
    with start_instance() as i:
        yield i


def flux_ok(inst, *args):
    r = inst.run(*args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def mods(inst) -> dict:
    h = flux.Flux(inst.uri)
    return {m["name"]: m for m in h.rpc("module.list").get()["mods"]}


def wait_for(pred, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return False


def broker_alive(inst) -> None:
    assert inst.proc.poll() is None
    assert flux.Flux(inst.uri).rpc("broker.ping", {}).get()["rank"] == 0


def test_guide_example_info_and_shutdown_event(inst, moddir):
    flux_ok(inst, "module", "load", str(moddir / "mymod.py"))
    try:
        pid = mods(inst)["mymod"]["pid"]
        assert flux.Flux(inst.uri).rpc("mymod.info").get() == {"name": "mymod"}
        r = flux_ok(inst, "ping", "-c", "1", "mymod")  # "$ flux ping mymod"
        assert "mymod.ping" in r.stdout
        flux_ok(inst, "event", "pub", "shutdown")
        assert wait_for(lambda: "mymod" not in mods(inst)), "the shutdown event did not stop it"
        assert wait_for(lambda: not pid_alive(pid))
    finally:
        inst.run("module", "remove", "-f", "mymod")
    log = flux_ok(inst, "dmesg").stdout
    assert "runtime failure" not in log  # stop() is a clean exit
    broker_alive(inst)


def test_guide_example_name_override(inst, moddir):
    # "$ flux module load --name myservice /path/to/mymod.py"
    flux_ok(inst, "module", "load", "--name", "myservice", str(moddir / "mymod.py"))
    try:
        h = flux.Flux(inst.uri)
        assert h.rpc("myservice.info").get() == {"name": "myservice"}
        with pytest.raises(OSError) as exc:
            h.rpc("mymod.info").get()
        assert exc.value.errno == errno.ENOSYS
    finally:
        flux_ok(inst, "module", "remove", "myservice")  # "$ flux module remove mymod"
    assert "myservice" not in mods(inst)


def test_api_reference_example_str_payload_and_panic(inst, moddir):
    flux_ok(inst, "module", "load", str(moddir / "apiref.py"))
    try:
        pid = mods(inst)["apiref"]["pid"]
        assert flux.Flux(inst.uri).rpc("apiref.info").get_str() == "apiref"
        before = flux_ok(inst, "dmesg").stdout.count("apiref module runtime failure")
        flux_ok(inst, "event", "pub", "apiref.panic")
        assert wait_for(lambda: "apiref" not in mods(inst)), "stop_error() did not end it"
        assert wait_for(lambda: not pid_alive(pid))
    finally:
        inst.run("module", "remove", "-f", "apiref")
    log = flux_ok(inst, "dmesg").stdout
    assert log.count("broker.crit[0]: apiref module runtime failure") == before + 1, log
    broker_alive(inst)
    with pytest.raises(OSError) as exc:
        flux.Flux(inst.uri).rpc("apiref.info").get()
    assert exc.value.errno == errno.ENOSYS


def test_allow_guest_status_example_owner(inst, moddir):
    flux_ok(inst, "module", "load", str(moddir / "status.py"))
    try:
        assert flux.Flux(inst.uri).rpc("status.status").get() == {"running": True}
    finally:
        flux_ok(inst, "module", "remove", "status")


def test_module_arguments_reach_mod_main_as_a_tuple(inst, moddir):
    # "$ flux module load /path/to/mymod.py --verbose --count=4"
    flux_ok(inst, "module", "load", str(moddir / "argsmod.py"), "--verbose", "--count=4")
    try:
        got = flux.Flux(inst.uri).rpc("argsmod.args").get()
        assert got == {"mod_main": "('--verbose', '--count=4')",
                       "self.args": "('--verbose', '--count=4')"}
    finally:
        flux_ok(inst, "module", "remove", "argsmod")


def _read_stderr_until(inst, text: str, timeout: float = 5.0) -> str:
    """What the broker wrote on its stderr so far, up to ``text`` (non-blocking reads)."""
    fd = inst.proc.stderr.fileno()
    data = b""
    end = time.monotonic() + timeout
    while text.encode() not in data and time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
    return data.decode(errors="replace")


def test_logging_examples(inst, moddir):
    flux_ok(inst, "module", "load", str(moddir / "logmod.py"))
    try:
        flux.Flux(inst.uri).rpc("logmod.go").get()
    finally:
        flux_ok(inst, "module", "remove", "logmod")
    log = flux_ok(inst, "dmesg").stdout
    assert "logmod.info[0]: module started" in log
    assert "logmod.err[0]: handler failed: seed-boom" in log
    # the default: everything is forwarded, the broker's log-level filters
    assert "logmod.debug[0]: seed debug before threshold" in log
    # self.log.level = "info" suppresses debug
    assert "seed debug after threshold" not in log
    assert "logmod.info[0]: seed info after threshold" in log
    # "Log messages appear in flux-dmesg(1) and the broker's stderr" (err <= log-stderr-level 3)
    err = _read_stderr_until(inst, "handler failed: seed-boom")
    assert "logmod.err[0]: handler failed: seed-boom" in err


# -- flux-python-basics.txt -----------------------------------------------------------------------


def _recv(h, timeout: float = 5.0, **kw) -> Message:
    """h.recv(**kw) bounded in time (non-blocking polls)."""
    end = time.monotonic() + timeout
    while True:
        try:
            msg = h.recv(flags=FLUX_O_NONBLOCK, **kw)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                raise
            msg = None
        if msg is not None:
            return msg
        assert time.monotonic() < end, "no message"
        time.sleep(0.01)


def test_flux_handle_repr(inst, monkeypatch):
    monkeypatch.setenv("FLUX_URI", inst.uri)
    h = flux.Flux()  # the nearest enclosing instance: $FLUX_URI
    assert re.fullmatch(r"<flux\.core\.Flux object at 0x[0-9a-f]+>", repr(h)), repr(h)
    assert isinstance(h, flux.core.handle.Flux)
    assert h.attr_get("local-uri") == inst.uri


def test_add_watcher_keeps_it_from_garbage_collection(inst):
    h = flux.Flux(inst.uri)
    w = h.timer_watcher_create(60.0, lambda *a: None)
    ref = weakref.ref(w)
    h.add_watcher(w)
    del w
    gc.collect()
    assert ref() is not None, "add_watcher did not keep a reference"
    h.del_watcher(ref())
    gc.collect()
    assert ref() is None, "del_watcher did not drop the reference"
    h.del_watcher(object())  # not added: no error


def test_close_is_refused_and_the_handle_keeps_working(inst):
    h = flux.Flux(inst.uri)
    with pytest.raises(RuntimeError):
        h.close()
    assert h.rpc("broker.ping", {}).get()["rank"] == 0


def test_event_create_payloads(inst):
    h = flux.Flux(inst.uri)
    for text in ("100% {not json", '{"a": 1}', '"quoted"', ""):
        msg = h.event_create("seed.ev", text)
        assert msg.type == FLUX_MSGTYPE_EVENT and msg.topic == "seed.ev"
        assert msg.payload_str == text  # a string is used unmodified
    # other types are stringified as flux-core's bindings do: json.dumps(), non-ASCII kept
    for obj in ({"a": [1, 2], "b": None, "ü": "é"}, [1, "x"], 5, 1.5, True):
        text = h.event_create("seed.ev", obj).payload_str
        assert json.loads(text) == obj and text == json.dumps(obj, ensure_ascii=False)
    assert h.event_create("seed.ev").payload_str is None
    # through the broker: a subscriber gets the string verbatim
    sub = flux.Flux(inst.uri)
    sub.event_subscribe("seedev.")
    h.event_send("seedev.str", "not {json} 100%")
    h.event_send("seedev.obj", {"k": [1]})
    got = [_recv(sub, type_mask=FLUX_MSGTYPE_EVENT, topic_glob="seedev.*") for _ in range(2)]
    assert [(m.topic, m.payload_str) for m in got] == [("seedev.str", "not {json} 100%"),
                                                      ("seedev.obj", '{"k": [1]}')]


def test_event_subscribe_argument_errors(inst):
    h = flux.Flux(inst.uri)
    with pytest.raises(EnvironmentError):
        h.event_subscribe(None)
    with pytest.raises(TypeError):
        h.event_subscribe(5)
    assert h.event_subscribe(b"seedbytes.") == 0  # bytes are fine


def test_log_is_not_a_format_string(inst):
    h = flux.Flux(inst.uri)
    text = "seed-log 100% done %s %d %% {}"
    h.log(syslog.LOG_ERR, text)
    h.rpc("broker.ping", {}).get()  # the record is in before the dmesg below
    log = flux_ok(inst, "dmesg").stdout
    assert re.search(r"\.err\[0\]: " + re.escape(text) + "$", log, re.M), log


def test_set_exception_returns_previous_and_raise_if_exception(inst):
    Flux = flux.Flux
    Flux.set_exception(None)
    first, second = ValueError("first"), KeyError("second")
    assert Flux.set_exception(first) is None
    assert Flux.set_exception(second) is first
    with pytest.raises(KeyError) as exc:
        Flux.raise_if_exception()
    assert exc.value is second
    Flux.raise_if_exception()  # reset to None: nothing raised
    assert Flux.set_exception(None) is None


def test_reactor_run_and_reactor_running(inst):
    h = flux.Flux(inst.uri)
    seen = []

    def cb(handle, watcher, revents, arg):
        seen.append(flux.Flux.reactor_running())
        watcher.stop()

    assert flux.Flux.reactor_running() is False
    w = h.timer_watcher_create(0.01, cb)
    w.start()
    h.reactor_run()
    assert seen == [True]
    assert flux.Flux.reactor_running() is False

    # an exception set in a callback is re-raised by reactor_run()
    def bad(handle, watcher, revents, arg):
        watcher.stop()
        flux.Flux.set_exception(RuntimeError("from a callback"))
        handle.reactor_stop()

    w2 = h.timer_watcher_create(0.01, bad)
    w2.start()
    with pytest.raises(RuntimeError, match="from a callback"):
        h.reactor_run()
    assert flux.Flux.reactor_running() is False


def test_rpc_recv_respond_send(inst):
    provider = flux.Flux(inst.uri)
    provider.service_register("seedsvc").get()
    client = flux.Flux(inst.uri)
    cases = [({"x": 1}, {"y": 2}), (None, "plain text"), ({"b": True}, b"raw"), ({}, None)]
    for payload, answer in cases:
        f = client.rpc("seedsvc.echo", payload)
        req = _recv(provider, type_mask=FLUX_MSGTYPE_REQUEST, topic_glob="seedsvc.*")
        assert isinstance(req, Message) and req.topic == "seedsvc.echo"
        assert (req.payload if payload is not None else req.payload_bytes) == payload
        assert provider.respond(req, answer) == 0
        f.wait_for(5)
        if isinstance(answer, dict):
            assert f.get() == answer
        elif isinstance(answer, str):
            assert f.get_str() == answer
        elif isinstance(answer, bytes):
            assert f.get_str() == answer.decode()
        else:
            assert f.get() is None
    # send: a pre-constructed message
    sub = flux.Flux(inst.uri)
    sub.event_subscribe("seedsend.")
    assert client.send(client.event_create("seedsend.x", {"k": 1})) == 0
    ev = _recv(sub, type_mask=FLUX_MSGTYPE_EVENT, topic_glob="seedsend.*")
    assert ev.topic == "seedsend.x" and ev.payload == {"k": 1}
    # recv returns the messages it did not match later, in order
    req_msg = client.request_encode("seedsvc.later", {"n": 1})
    client.send(req_msg)
    req = _recv(provider, topic_glob="seedsvc.later")
    provider.respond(req, {"n": 2})
    resp = _recv(client, topic_glob="seedsvc.later")
    assert resp.payload == {"n": 2}

"""Shared fixtures and helpers of the broker-module tests (tests/broker/test_module_*.py)."""


from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest

from conftest import pid_alive, start_instance

import flux

REPO = Path(__file__).resolve().parents[1]

GMOD = '''
import errno, os, time
from flux.brokermod import BrokerModule, event_handler, request_handler


class GMod(BrokerModule):
    def __init__(self, h, *args):
        super().__init__(h, *args)
        self.held = []
        self.events = []

    @request_handler("info")
    def info(self, msg):
        self.handle.respond(msg, {"name": self.name, "args": list(self.args)})

    @request_handler("guest", allow_guest=True)
    def guest(self, msg):
        self.handle.respond(msg, {"ok": True, "userid": msg.userid})

    @request_handler("owner")
    def owner(self, msg):
        self.handle.respond(msg, {"ok": True})

    @request_handler("gmod.absolute", prefix=False)
    def absolute(self, msg):
        self.handle.respond(msg, {"abs": True})

    @event_handler("ev")
    def ev(self, msg):
        self.events.append(msg.topic)

    @event_handler("gtest.global", prefix=False)
    def global_ev(self, msg):
        self.events.append(msg.topic)

    @request_handler("events")
    def get_events(self, msg):
        self.handle.respond(msg, {"events": self.events})

    @request_handler("log")
    def log_(self, msg):
        p = msg.payload
        if "threshold" in p:
            self.log.level = p["threshold"]
        for meth in ("debug", "info", "notice", "warning", "error", "critical", "alert", "emerg"):
            getattr(self.log, meth)(f"{p['tag']} {meth}")
        self.handle.respond(msg, {"level": self.log.level})

    @request_handler("debugtest")
    def dbg(self, msg):
        p = msg.payload
        self.handle.respond(msg, {"set": self.debug_test(p["flag"], p.get("clear", False))})

    @request_handler("conf")
    def conf(self, msg):
        self.handle.respond(msg, {"conf": self.handle.conf_get()})

    @request_handler("attrs")
    def attrs(self, msg):
        h = self.handle
        self.handle.respond(msg, {"rank": h.get_rank(), "size": h.get_size(),
                                  "owner": h.attr_get("security.owner"), "pid": os.getpid()})

    @request_handler("hold")
    def hold(self, msg):
        self.held.append(msg)  # never answered

    @request_handler("fail")
    def fail(self, msg):
        self.handle.respond(msg)
        self.stop_error()

    @request_handler("raise")
    def raise_(self, msg):
        raise RuntimeError("handler exploded")

    @request_handler("exit")
    def exit_(self, msg):
        os._exit(3)

    @request_handler("stop")
    def stop_(self, msg):
        self.handle.respond(msg)
        self.stop()

    @request_handler("block")
    def block(self, msg):
        time.sleep(60)
'''

MAINMOD = '''
import errno, os, sys
from flux.brokermod import BrokerModule, request_handler


class Helper(BrokerModule):
    pass


class MainMod(BrokerModule):
    @request_handler("args")
    def args_(self, msg):
        self.handle.respond(msg, {"args": list(self.args)})


def mod_main(h, *args):
    if "--value-error" in args:
        raise ValueError("bad argument for mainmod")
    if "--oserror" in args:
        raise OSError(errno.EEXIST, os.strerror(errno.EEXIST))
    if "--other" in args:
        raise RuntimeError("kaboom")
    if "--exit-early" in args:
        return
    MainMod(h, *args).run()
'''

TWO = '''
from flux.brokermod import BrokerModule
class First(BrokerModule):
    pass
class Second(BrokerModule):
    pass
'''

NONE = '''
def helper():
    pass
'''

SYNTAX = '''
def broken(:
    pass
'''

SETRUN = '''
import os, time
from flux.brokermod import BrokerModule, request_handler


class SetRun(BrokerModule):
    @request_handler("hello")
    def hello(self, msg):
        self.handle.respond(msg, {"hello": True})

    def run(self):
        self.set_running()
        flag = self.args[0]
        deadline = time.monotonic() + 20
        while not os.path.exists(flag) and time.monotonic() < deadline:
            time.sleep(0.01)
        return super().run()
'''

RAWMAIN = '''
def mod_main(h, *args):
    h.aux_set("seen", list(args))
    def cb(h, w, msg, arg):
        h.respond(msg, {"args": list(args), "name": h.aux_get("flux::name")})
    w = h.msg_watcher_create(cb, 1, h.aux_get("flux::name") + ".args")
    w.start()
    h.reactor_run()
'''


@pytest.fixture(scope="module")
def moddir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("mods")
    for name, text in (("gmod", GMOD), ("mainmod", MAINMOD), ("two", TWO), ("none", NONE),
                       ("syntax", SYNTAX), ("setrun", SETRUN), ("rawmain", RAWMAIN)):
        (d / f"{name}.py").write_text(textwrap.dedent(text))
    os.chmod(d, 0o755)
    return d


@pytest.fixture(scope="module")
def inst(moddir):
    with start_instance(env={"FLUX_MODULE_PATH": str(moddir)}) as i:
        yield i


def handle(inst):
    return flux.Flux(inst.uri)


def flux_ok(inst, *args, **kw):
    r = inst.run(*args, **kw)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def module_list(inst) -> dict:
    h = handle(inst)
    return {m["name"]: m for m in h.rpc("module.list").get()["mods"]}


def dmesg(inst) -> str:
    return flux_ok(inst, "dmesg").stdout


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not pid_alive(pid):
            return True
        time.sleep(0.01)
    return False


def wait_for(pred, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def gmod(inst, moddir):
    """gmod loaded for one test (removed afterwards, whatever state it is in)."""
    flux_ok(inst, "module", "load", str(moddir / "gmod.py"), "a1", "a2")
    pid = module_list(inst)["gmod"]["pid"]
    yield pid
    inst.run("module", "remove", "-f", "gmod")
    assert wait_gone(pid), "module process left behind"


def failures(inst) -> int:
    """How many runtime failures of gmod the log has recorded."""
    return dmesg(inst).count("gmod module runtime failure")

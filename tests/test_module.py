"""Python broker modules against a real broker: life cycle, default methods,
errors at load time and at run time, the flux module command, guests, exec form.

Every sentence of shared/seeds/python-broker-modules.txt has a test here or
in test_brokermod.py.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import interop, pid_alive, start_instance

import flux
from flux.codec import decode as decode_msg

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


# -- loading, the name, args ------------------------------------------------------------------


def test_load_ping_remove(inst, moddir):
    flux_ok(inst, "module", "load", str(moddir / "gmod.py"))
    mods = module_list(inst)
    assert mods["gmod"]["status"] == 1 and mods["gmod"]["path"] == str(moddir / "gmod.py")
    pid = mods["gmod"]["pid"]
    assert pid_alive(pid) and pid != inst.proc.pid  # its own process
    r = flux_ok(inst, "ping", "-c", "1", "gmod")
    assert "gmod.ping" in r.stdout
    flux_ok(inst, "module", "remove", "gmod")
    assert "gmod" not in module_list(inst)
    assert wait_gone(pid, 2.0)
    with pytest.raises(OSError) as exc:
        handle(inst).rpc("gmod.info").get()
    assert exc.value.errno == errno.ENOSYS


def test_name_override_and_args(inst, moddir):
    flux_ok(inst, "module", "load", "--name", "myservice", str(moddir / "gmod.py"),
            "--verbose", "--count=4")
    try:
        h = handle(inst)
        assert h.rpc("myservice.info").get() == {"name": "myservice",
                                                 "args": ["--verbose", "--count=4"]}
        assert h.rpc("myservice.ping", {"x": 1}).get()["x"] == 1
        with pytest.raises(OSError):
            h.rpc("gmod.info").get()
        flux_ok(inst, "module", "load", "--name=other", str(moddir / "gmod.py"), "a b")
        assert h.rpc("other.info").get()["args"] == ["a", "b"]
    finally:
        inst.run("module", "remove", "-f", "myservice")
        inst.run("module", "remove", "-f", "other")


def test_args_split_on_whitespace_no_quoting(inst, moddir):
    h = handle(inst)
    h.rpc("module.load", {"path": str(moddir / "mainmod.py"), "args": ["a  b", "'c d'", "e"]}).get()
    try:
        assert h.rpc("mainmod.args").get() == {"args": ["a", "b", "'c", "d'", "e"]}
    finally:
        flux_ok(inst, "module", "remove", "mainmod")


def test_mod_main_entry_with_args(inst, moddir):
    flux_ok(inst, "module", "load", str(moddir / "rawmain.py"), "x", "y")
    try:
        assert handle(inst).rpc("rawmain.args").get() == {"args": ["x", "y"], "name": "rawmain"}
    finally:
        flux_ok(inst, "module", "remove", "rawmain")


def test_mod_main_wins_over_several_subclasses(inst, moddir):
    flux_ok(inst, "module", "load", str(moddir / "mainmod.py"), "q")
    try:
        assert handle(inst).rpc("mainmod.args").get() == {"args": ["q"]}
    finally:
        flux_ok(inst, "module", "remove", "mainmod")


def test_ambiguity_errors(inst, moddir):
    r = inst.run("module", "load", str(moddir / "two.py"))
    assert r.returncode == 1
    assert "multiple BrokerModule subclasses found (First, Second); define mod_main()" in r.stderr
    r = inst.run("module", "load", str(moddir / "none.py"))
    assert r.returncode == 1
    assert "no mod_main() or BrokerModule subclass found" in r.stderr
    assert "two" not in module_list(inst) and "none" not in module_list(inst)


def test_eexist(inst, gmod, moddir):
    r = inst.run("module", "load", str(moddir / "gmod.py"))
    assert r.returncode == 1 and "File exists" in r.stderr
    r = inst.run("module", "load", "--name", "log", str(moddir / "gmod.py"))  # a builtin service
    assert r.returncode == 1 and "File exists" in r.stderr


def test_load_by_name_from_module_path(inst, moddir, tmp_path):
    # the command searches its FLUX_MODULE_PATH ...
    other = tmp_path / "p"
    other.mkdir()
    (other / "pathmod.py").write_text((moddir / "rawmain.py").read_text())
    flux_ok(inst, "module", "load", "pathmod", env={"FLUX_MODULE_PATH": f"/nonexistent:{other}"})
    assert module_list(inst)["pathmod"]["path"] == str(other / "pathmod.py")
    flux_ok(inst, "module", "remove", "pathmod")
    # ... and the broker searches its own (the instance was started with moddir)
    r = flux_ok(inst, "module", "load", "rawmain", env={"FLUX_MODULE_PATH": ""})
    assert module_list(inst)["rawmain"]["path"] == str(moddir / "rawmain.py")
    flux_ok(inst, "module", "remove", "rawmain")
    r = inst.run("module", "load", "nosuchmod", env={"FLUX_MODULE_PATH": ""})
    assert r.returncode == 1 and "nosuchmod" in r.stderr and "FLUX_MODULE_PATH" in r.stderr


def test_missing_and_broken_files(inst, moddir):
    r = inst.run("module", "load", "/nonexistent.py")
    assert r.returncode == 1
    assert r.stderr.strip() == ("flux-module: could not canonicalize module path "
                                "'/nonexistent.py': No such file or directory")
    r = inst.run("module", "load", str(moddir / "syntax.py"))
    assert r.returncode == 1
    assert "load syntax:" in r.stderr and "SyntaxError" in r.stderr
    # a path that vanished between the command's check and the broker's
    with pytest.raises(FileNotFoundError):
        handle(inst).rpc("module.load", {"path": "/nonexistent/x.py", "args": []}).get()
    assert "syntax" not in module_list(inst)


# -- failures during initialization ----------------------------------------------------------


def test_init_oserror_keeps_errno_and_text(inst, moddir):
    r = inst.run("module", "load", str(moddir / "mainmod.py"), "--oserror")
    assert r.returncode == 1
    assert r.stderr.strip() == "flux-module: load mainmod: File exists"
    with pytest.raises(FileExistsError):
        handle(inst).rpc("module.load", {"path": str(moddir / "mainmod.py"),
                                         "args": ["--oserror"]}).get()


def test_init_valueerror_is_einval_with_message(inst, moddir):
    r = inst.run("module", "load", str(moddir / "mainmod.py"), "--value-error")
    assert r.returncode == 1
    assert r.stderr.strip() == "flux-module: load mainmod: bad argument for mainmod"
    with pytest.raises(OSError) as exc:
        handle(inst).rpc("module.load", {"path": str(moddir / "mainmod.py"),
                                         "args": ["--value-error"]}).get()
    assert exc.value.errno == errno.EINVAL and exc.value.strerror == "bad argument for mainmod"


def test_init_other_exception_is_econnreset_with_traceback(inst, moddir):
    with pytest.raises(OSError) as exc:
        handle(inst).rpc("module.load", {"path": str(moddir / "mainmod.py"),
                                         "args": ["--other"]}).get()
    assert exc.value.errno == errno.ECONNRESET
    assert "kaboom" in exc.value.strerror
    log = dmesg(inst)
    assert "Traceback (most recent call last)" in log and "RuntimeError: kaboom" in log
    assert "mainmod" not in module_list(inst)


def test_exit_before_running_is_not_an_error(inst, moddir):
    flux_ok(inst, "module", "load", str(moddir / "mainmod.py"), "--exit-early")
    assert wait_for(lambda: "mainmod" not in module_list(inst))


def test_set_running_releases_load_early(inst, moddir, tmp_path):
    flag = tmp_path / "go"
    t0 = time.monotonic()
    flux_ok(inst, "module", "load", str(moddir / "setrun.py"), str(flag))
    assert time.monotonic() - t0 < 15
    try:
        assert module_list(inst)["setrun"]["status"] == 1  # running, still in its init
        f = handle(inst).rpc("setrun.hello")
        flag.write_text("")
        assert f.wait_for(10).get() == {"hello": True}
    finally:
        flag.write_text("")
        flux_ok(inst, "module", "remove", "setrun")


# -- default methods ------------------------------------------------------------------------------


def test_ping_reply_keys(inst, gmod):
    h = handle(inst)
    uuid = None
    payload = {"seq": 1, "time.tv_sec": 2, "time.tv_nsec": 3, "pad": "ppp"}
    resp = h.rpc("gmod.ping", payload).get()
    assert set(resp) == set(payload) | {"route", "userid", "rolemask", "rank"}
    assert resp["userid"] == os.getuid() and resp["rolemask"] == 5 and resp["rank"] == 0
    hops = resp["route"].split("!")
    assert len(hops) == 4 and all(len(x) == 8 for x in hops)
    assert hops[2] == h.attr_get("broker.uuid")[:8]
    del uuid


def test_stats_get_and_clear(inst, gmod):
    h = handle(inst)
    for _ in range(3):
        h.rpc("gmod.info").get()
    s = h.rpc("gmod.stats-get").get()
    assert set(s) == {"tx", "rx"}
    for d in s.values():
        assert set(d) == {"request", "response", "event", "control"}
    assert s["rx"]["request"] >= 4 and s["tx"]["response"] >= 3
    h.rpc("gmod.stats-clear").get()
    s = h.rpc("gmod.stats-get").get()
    assert s["rx"]["request"] == 1 and s["tx"]["response"] == 1  # the stats-clear reply
    # the event form
    for _ in range(3):
        h.rpc("gmod.info").get()
    flux_ok(inst, "event", "pub", "gmod.stats-clear")
    assert wait_for(lambda: h.rpc("gmod.stats-get").get()["tx"]["response"] <= 1)


def test_flux_module_stats_command(inst, gmod):
    r = flux_ok(inst, "module", "stats", "gmod")
    assert r.stdout.startswith('{\n "tx": {\n  "request": ')
    r = flux_ok(inst, "module", "stats", "-p", "rx.request", "gmod")
    assert int(r.stdout) >= 1
    r = flux_ok(inst, "module", "stats", "--parse", "tx", "gmod")
    assert '"response"' in r.stdout
    r = inst.run("module", "stats", "--parse", "tx.nosuch", "gmod")
    assert r.returncode == 1 and r.stderr.strip() == "flux-module: `tx.nosuch' not found in response"
    flux_ok(inst, "module", "stats", "--clear", "gmod")
    assert int(flux_ok(inst, "module", "stats", "-p", "tx.response", "gmod").stdout) == 1
    r = flux_ok(inst, "module", "stats", "-R", "gmod")
    assert '"utime"' in r.stdout and '"maxrss"' in r.stdout
    r = flux_ok(inst, "module", "stats", "-R", "-p", "maxrss", "gmod")
    assert int(r.stdout) > 0
    r = inst.run("module", "stats", "nosuch")
    assert r.returncode == 1 and "No service matching nosuch.stats-get" in r.stderr


def test_rusage(inst, gmod):
    ru = handle(inst).rpc("gmod.rusage").get()
    for key in ("utime", "stime", "maxrss", "minflt", "majflt", "nvcsw", "nivcsw", "inblock"):
        assert key in ru
    assert isinstance(ru["utime"], float)
    assert "utime" in handle(inst).rpc("gmod.rusage", {"who": "children"}).get()
    with pytest.raises(OSError) as exc:
        handle(inst).rpc("gmod.rusage", {"who": "nobody"}).get()
    assert exc.value.errno == errno.EINVAL


def test_debug_bits_and_debug_test(inst, gmod):
    h = handle(inst)
    assert flux_ok(inst, "module", "debug", "--setbit", "2", "gmod").stdout == "0x2\n"
    assert h.rpc("gmod.debugtest", {"flag": 2}).get() == {"set": True}
    assert h.rpc("gmod.debugtest", {"flag": 1}).get() == {"set": False}
    assert flux_ok(inst, "module", "debug", "--setbit=0x10", "gmod").stdout == "0x12\n"
    assert flux_ok(inst, "module", "debug", "--clearbit", "2", "gmod").stdout == "0x10\n"
    assert h.rpc("gmod.debugtest", {"flag": 0x10, "clear": True}).get() == {"set": True}
    assert flux_ok(inst, "module", "debug", "gmod").stdout == "0x0\n"
    assert flux_ok(inst, "module", "debug", "--set", "0xff", "gmod").stdout == "0xff\n"
    assert flux_ok(inst, "module", "debug", "--clear", "gmod").stdout == "0x0\n"
    assert h.rpc("gmod.debug", {"op": "set", "flags": 5}).get() == {"flags": 5}
    assert h.rpc("gmod.debug", {"op": "clr", "flags": 0}).get() == {"flags": 0}
    with pytest.raises(OSError) as exc:
        h.rpc("gmod.debug", {"op": "bogus", "flags": 1}).get()
    assert exc.value.errno == errno.EPROTO


def test_debug_wire_matches_flux_core(inst, moddir):
    """flux-core's capture: gmod.debug setbit 2 -> {"flags":2}, userid=owner, rolemask 5."""
    flux_ok(inst, "module", "load", str(moddir / "gmod.py"), "a1", "a2")
    try:
        req = interop("module-debug-request")
        want = decode_msg(interop("module-debug-response")[8:])
        with inst.client() as c:
            c.send(req)
            got = c.recv()
        assert (got.type, got.flags, got.aux1, got.aux2, got.routes) == \
            (want.type, want.flags, want.aux1, want.aux2, want.routes)
        assert got.topic == want.topic and got.payload_json() == want.payload_json()
        assert got.rolemask == want.rolemask and got.userid == os.getuid()
        # gmod.info with no payload, as in the capture (flux-core's module answered
        # with its name and args)
        want = decode_msg(interop("module-rpc-response")[8:])
        with inst.client() as c:
            c.send(interop("module-rpc-no-payload-request"))
            got = c.recv()
        assert got.payload_json() == want.payload_json()
        assert (got.flags, got.rolemask) == (want.flags, want.rolemask)
        # module.remove as flux-core's command sends it
        want = decode_msg(interop("module-remove-response")[8:])
        with inst.client() as c:
            c.send(interop("module-remove-request"))
            got = c.recv(timeout=10)
        assert (got.topic, got.flags, got.aux1, got.payload_bytes) == \
            (want.topic, want.flags, want.aux1, want.payload_bytes)
    finally:
        inst.run("module", "remove", "-f", "gmod")


def test_config_reload_and_update(inst, gmod):
    h = handle(inst)
    assert h.rpc("gmod.conf").get() == {"conf": {}}
    h.rpc("gmod.config-reload", {"a": {"b": 1}}).get()
    assert h.rpc("gmod.conf").get() == {"conf": {"a": {"b": 1}}}
    h.rpc("gmod.config-update", {"c": 2}).get()
    assert h.rpc("gmod.conf").get() == {"conf": {"c": 2}}


def test_immutable_attrs_come_from_welcome(inst, gmod):
    r = handle(inst).rpc("gmod.attrs").get()
    assert r["rank"] == 0 and r["size"] == 1 and r["owner"] == str(os.getuid())
    assert r["pid"] == gmod


def test_shutdown_method_stops_module(inst, gmod):
    h = handle(inst)
    h.rpc("gmod.shutdown", flags=flux.constants.FLUX_RPC_NORESPONSE)
    assert wait_for(lambda: "gmod" not in module_list(inst))
    assert wait_gone(gmod)
    assert "gmod module runtime failure" not in dmesg(inst)


def test_unknown_method_enosys(inst, gmod):
    with pytest.raises(OSError) as exc:
        handle(inst).rpc("gmod.nosuch").get()
    assert exc.value.errno == errno.ENOSYS


# -- handlers: prefixes, events, logging ----------------------------------------------------


def test_prefix_false_request_topic(inst, gmod, moddir):
    assert handle(inst).rpc("gmod.absolute").get() == {"abs": True}
    # under another name the topic stays as written (not "<name>.gmod.absolute")
    flux_ok(inst, "module", "load", "--name", "g9", str(moddir / "gmod.py"))
    try:
        with pytest.raises(OSError) as exc:
            handle(inst).rpc("g9.absolute").get()
        assert exc.value.errno == errno.ENOSYS
        assert handle(inst).rpc("g9.info").get()["name"] == "g9"
    finally:
        flux_ok(inst, "module", "remove", "g9")


def test_event_handlers_subscribe_automatically(inst, gmod):
    h = handle(inst)
    flux_ok(inst, "event", "pub", "gmod.ev")
    flux_ok(inst, "event", "pub", "gtest.global")
    flux_ok(inst, "event", "pub", "gmod.evil")  # prefix-subscribed, but no handler
    assert wait_for(lambda: h.rpc("gmod.events").get()["events"] == ["gmod.ev", "gtest.global"])


def test_logger_levels_reach_dmesg(inst, gmod):
    h = handle(inst)
    assert h.rpc("gmod.log", {"tag": "t1"}).get() == {"level": 7}
    log = dmesg(inst)
    for sev, meth in (("debug", "debug"), ("info", "info"), ("notice", "notice"),
                      ("warning", "warning"), ("err", "error"), ("crit", "critical"),
                      ("alert", "alert"), ("emerg", "emerg")):
        assert f"gmod.{sev}[0]: t1 {meth}" in log
    assert h.rpc("gmod.log", {"tag": "t2", "threshold": "warning"}).get() == {"level": 4}
    log = dmesg(inst)
    assert "t2 warning" in log and "t2 emerg" in log
    assert "t2 notice" not in log and "t2 debug" not in log
    with pytest.raises(OSError):  # ValueError in a handler ends the module...
        h.rpc("gmod.log", {"tag": "t3", "threshold": "loud"}).get()


# -- runtime failures --------------------------------------------------------------------------------


def _runtime_failure(inst, pid, before):
    assert wait_for(lambda: "gmod" not in module_list(inst))
    assert wait_gone(pid)
    log = dmesg(inst)
    assert log.count("broker.crit[0]: gmod module runtime failure") == before + 1
    assert inst.proc.poll() is None
    assert handle(inst).rpc("broker.ping", {}).get()["rank"] == 0  # broker alive
    with pytest.raises(OSError) as exc:
        handle(inst).rpc("gmod.info").get()
    assert exc.value.errno == errno.ENOSYS  # services released


def _failures(inst) -> int:
    return dmesg(inst).count("gmod module runtime failure")


def test_runtime_stop_error(inst, gmod):
    before = _failures(inst)
    handle(inst).rpc("gmod.fail").get()
    _runtime_failure(inst, gmod, before)


def test_runtime_exception_in_handler(inst, gmod):
    before = _failures(inst)
    with pytest.raises(OSError):
        handle(inst).rpc("gmod.raise").get()
    _runtime_failure(inst, gmod, before)
    assert "RuntimeError: handler exploded" in dmesg(inst)


def test_runtime_os_exit_fails_inflight_requests(inst, gmod):
    before = _failures(inst)
    h = handle(inst)
    held = [h.rpc("gmod.hold") for _ in range(3)]
    h.rpc("gmod.info").get()  # the holds were delivered
    t0 = time.monotonic()
    with pytest.raises(OSError) as exc:
        h.rpc("gmod.exit").get()
    assert exc.value.errno in (errno.ECONNRESET, errno.ENOSYS)
    for f in held:
        with pytest.raises(OSError) as exc:
            f.wait_for(5).get()
        assert exc.value.errno in (errno.ECONNRESET, errno.ENOSYS)
    assert time.monotonic() - t0 < 3
    _runtime_failure(inst, gmod, before)
    assert "module process exited with status 3" in dmesg(inst)


def test_runtime_sigkill_fails_inflight_requests(inst, gmod):
    before = _failures(inst)
    h = handle(inst)
    f = h.rpc("gmod.block")
    time.sleep(0.1)
    os.kill(gmod, signal.SIGKILL)
    with pytest.raises(OSError) as exc:
        f.wait_for(5).get()
    assert exc.value.errno == errno.ECONNRESET
    _runtime_failure(inst, gmod, before)
    assert "killed by signal 9" in dmesg(inst)


def test_normal_stop_is_not_a_failure(inst, gmod):
    before = _failures(inst)
    handle(inst).rpc("gmod.stop").get()
    assert wait_for(lambda: "gmod" not in module_list(inst))
    assert wait_gone(gmod)
    assert _failures(inst) == before


# -- remove / reload / list ------------------------------------------------------------------------------


def test_remove_errors_and_force(inst):
    r = inst.run("module", "remove", "nosuch")
    assert r.returncode == 1
    assert r.stderr.strip() == "flux-module: remove nosuch: No such file or directory"
    flux_ok(inst, "module", "remove", "-f", "nosuch")


def test_remove_cancel_kills_blocked_module(inst, gmod):
    before = _failures(inst)
    f = handle(inst).rpc("gmod.block")
    time.sleep(0.1)
    t0 = time.monotonic()
    flux_ok(inst, "module", "remove", "--cancel", "gmod", timeout=10)
    assert time.monotonic() - t0 < 5
    assert not pid_alive(gmod)
    with pytest.raises(OSError) as exc:
        f.wait_for(5).get()
    assert exc.value.errno == errno.ECONNRESET
    assert _failures(inst) == before  # asked for: not a runtime failure


def test_remove_answers_queued_requests(inst, gmod):
    """Requests queued behind a busy handler get ENOSYS when the module finalizes."""
    h = handle(inst)
    h.rpc("gmod.hold")
    proc = subprocess.Popen([inst.flux, "module", "remove", "gmod"], env=inst.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 0, err
    assert not pid_alive(gmod)


def test_reload(inst, moddir, gmod):
    h = handle(inst)
    flux_ok(inst, "module", "reload", str(moddir / "gmod.py"), "new")
    assert h.rpc("gmod.info").get()["args"] == ["new"]
    assert not pid_alive(gmod) or wait_gone(gmod)
    newpid = module_list(inst)["gmod"]["pid"]
    assert newpid != gmod
    flux_ok(inst, "module", "remove", "gmod")
    # flux-module(1): reloading a module that is not loaded fails unless -f
    r = inst.run("module", "reload", str(moddir / "gmod.py"))
    assert r.returncode == 1 and r.stderr == "flux-module: remove gmod: No such file or directory\n"
    flux_ok(inst, "module", "reload", "-f", str(moddir / "gmod.py"))
    assert "gmod" in module_list(inst)
    flux_ok(inst, "module", "remove", "gmod")
    assert wait_gone(newpid)
    flux_ok(inst, "module", "reload", "-f", "--name", "g2", str(moddir / "gmod.py"))  # not loaded: fine with -f
    flux_ok(inst, "module", "remove", "g2")


def test_list_columns(inst, gmod, moddir):
    lines = flux_ok(inst, "module", "list").stdout.splitlines()
    assert lines[0] == "Module                    Idle  S Sendq Recvq Service"
    row = [ln for ln in lines if ln.startswith("gmod ")][0]
    assert row.split()[:5] == ["gmod", row.split()[1], "R", "0", "0"]
    assert row.index(" R ") == lines[0].index(" S ")
    lines = flux_ok(inst, "module", "list", "-l").stdout.splitlines()
    assert lines[0] == "Module                    Idle  S Sendq Recvq Service  Path"
    row = [ln for ln in lines if ln.startswith("gmod ")][0]
    assert row.endswith(" " + str(moddir / "gmod.py"))
    assert row.index(str(moddir)) == lines[0].index("Path")


# -- guests ---------------------------------------------------------------------------------------


GUEST_UID = 65534


def _as_guest(uri: str, topics: list[str]) -> list:
    """Fork, become uid 65534, call each topic; return [(errno or 0, payload)]."""
    import json

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            os.setgid(GUEST_UID)
            os.setuid(GUEST_UID)
            h = flux.Flux(uri)
            out = []
            for t in topics:
                try:
                    out.append((0, h.rpc(t, {}).get()))
                except OSError as exc:
                    out.append((exc.errno, exc.strerror))
            os.write(w, json.dumps(out).encode())
            code = 0
        except BaseException as exc:  # noqa: BLE001
            os.write(w, json.dumps([("exc", repr(exc))]).encode())
        finally:
            os._exit(code)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as a second (guest) uid")
def test_guest_access(moddir):
    with start_instance("access.allow-guest-user=true") as gi:
        flux_ok(gi, "module", "load", str(moddir / "gmod.py"))
        res = _as_guest(gi.uri, ["gmod.owner", "gmod.guest", "gmod.ping", "gmod.stats-get",
                                 "gmod.debug", "gmod.shutdown"])
        assert res[0][0] == errno.EPERM, res
        assert res[1] == [0, {"ok": True, "userid": GUEST_UID}], res
        assert res[2][0] == 0 and res[2][1]["userid"] == GUEST_UID and res[2][1]["rolemask"] == 6
        assert res[3][0] == 0
        assert res[4][0] == errno.EPERM and res[5][0] == errno.EPERM
        assert "gmod" in module_list(gi)  # the guest could not shut it down
        # a guest may not load or remove modules
        res = _as_guest(gi.uri, ["module.remove"])
        assert res[0][0] == errno.EPERM


# -- exec form, the loader command, process hygiene -----------------------------------------------


def test_exec_form(moddir):
    with start_instance("module.exec=1") as ei:
        flux_ok(ei, "module", "load", str(moddir / "gmod.py"), "e1")
        pid = module_list(ei)["gmod"]["pid"]
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().split(b"\0")
        assert b"module-python-exec" in cmdline and str(moddir / "gmod.py").encode() in cmdline
        h = handle(ei)
        assert h.rpc("gmod.info").get() == {"name": "gmod", "args": ["e1"]}
        assert h.rpc("gmod.ping", {}).get()["route"].count("!") == 3
        r = ei.run("module", "load", str(moddir / "mainmod.py"), "--oserror")
        assert r.returncode == 1 and "File exists" in r.stderr
        before = dmesg(ei).count("runtime failure")
        h.rpc("gmod.fail").get()
        assert wait_for(lambda: "gmod" not in module_list(ei))
        assert dmesg(ei).count("gmod module runtime failure") == before + 1
        flux_ok(ei, "module", "load", "--name", "g3", str(moddir / "gmod.py"))
        pid = module_list(ei)["g3"]["pid"]
        flux_ok(ei, "module", "remove", "g3")
        assert wait_gone(pid)
    # per-load --exec on a fork-mode broker


def test_exec_flag_per_load(inst, moddir):
    flux_ok(inst, "module", "load", "--exec", str(moddir / "gmod.py"))
    pid = module_list(inst)["gmod"]["pid"]
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            assert b"module-python-exec" in f.read()
        assert handle(inst).rpc("gmod.info").get()["name"] == "gmod"
    finally:
        flux_ok(inst, "module", "remove", "gmod")
    assert wait_gone(pid)


def test_module_python_exec_usage(instance):
    flux_cmd = instance.flux
    env = dict(instance.env)
    env.pop("FLUX_MODULE_URI", None)
    r = subprocess.run([flux_cmd, "module-python-exec"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "Usage: flux module-python-exec PATH" in r.stderr
    r = subprocess.run([flux_cmd, "module-python-exec", "/x.py"], env=env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1 and "FLUX_MODULE_URI" in r.stderr


def test_module_processes_gone_after_instance_shutdown(moddir):
    with start_instance() as si:
        flux_ok(si, "module", "load", str(moddir / "gmod.py"))
        flux_ok(si, "module", "load", "--name", "busy", str(moddir / "gmod.py"))
        mods = module_list(si)
        pids = [mods["gmod"]["pid"], mods["busy"]["pid"]]
        handle(si).rpc("busy.block")  # a module stuck in a handler: killed at shutdown
        time.sleep(0.1)
        t0 = time.monotonic()
    assert time.monotonic() - t0 < 12
    for pid in pids:
        assert not pid_alive(pid)


def test_examples_load_and_work(inst):
    ex = REPO / "examples"
    flux_ok(inst, "module", "load", str(ex / "echo.py"))
    flux_ok(inst, "module", "load", str(ex / "counter.py"))
    flux_ok(inst, "module", "load", str(ex / "greeter.py"), "--greeting=Howdy", "--level=debug")
    try:
        h = handle(inst)
        assert h.rpc("echo.echo", {"hi": [1, "x"]}).get() == {"hi": [1, "x"]}
        assert h.rpc("counter.incr", {"by": 5}).get() == {"count": 5}
        assert h.rpc("counter.incr").get() == {"count": 6}
        flux_ok(inst, "event", "pub", "counter.reset")
        assert wait_for(lambda: h.rpc("counter.get").get() == {"count": 0})
        assert h.rpc("greeter.greet", {"name": "ann"}).get() == {"text": "Howdy, ann!"}
        assert "greeter.info[0]: loaded with greeting 'Howdy'" in dmesg(inst)
        r = inst.run("module", "load", "--name", "g2", str(ex / "greeter.py"), "--bogus")
        assert r.returncode == 1 and "unknown argument '--bogus'" in r.stderr
    finally:
        for name in ("echo", "counter", "greeter"):
            inst.run("module", "remove", "-f", name)


def test_idle_module_uses_no_cpu(inst, gmod):
    """The module polls briefly after traffic, then sleeps in the kernel."""
    h = handle(inst)
    for _ in range(50):
        h.rpc("gmod.info").get()

    def cpu_ticks(pid):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(") ", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    time.sleep(0.1)
    t0 = cpu_ticks(gmod)
    time.sleep(1.0)
    assert cpu_ticks(gmod) - t0 <= 5  # clock ticks (1/100 s): well under 5% of a CPU

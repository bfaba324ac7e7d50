"""Python broker modules against a real broker: default methods."""

from __future__ import annotations

import errno
import os

import pytest

from conftest import interop
from modhelpers import dmesg, flux_ok, gmod, handle, inst, moddir, module_list, wait_for, wait_gone  # noqa: F401 (fixtures)

import flux
from flux.codec import decode as decode_msg


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

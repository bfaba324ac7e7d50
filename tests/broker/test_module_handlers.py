"""Python broker modules against a real broker: handlers: prefixes, events, logging."""

from __future__ import annotations

import errno

import pytest

from modhelpers import dmesg, flux_ok, gmod, handle, inst, moddir, wait_for  # noqa: F401 (fixtures)


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

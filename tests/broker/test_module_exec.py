"""Python broker modules against a real broker: exec form, the loader command, process hygiene."""

from __future__ import annotations

import time

from conftest import pid_alive, start_instance
from modhelpers import REPO, dmesg, flux_ok, gmod, handle, inst, moddir, module_list, wait_for, wait_gone  # noqa: F401 (fixtures)
from proctree import run_tree


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
    r = run_tree([flux_cmd, "module-python-exec"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "Usage: flux module-python-exec PATH" in r.stderr
    r = run_tree([flux_cmd, "module-python-exec", "/x.py"], env=env, capture_output=True,
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

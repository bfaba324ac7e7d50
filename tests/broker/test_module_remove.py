"""Python broker modules against a real broker: remove / reload / list."""

from __future__ import annotations

import errno
import subprocess
import time

import pytest

from conftest import pid_alive
from modhelpers import failures as _failures, flux_ok, gmod, handle, inst, moddir, module_list, wait_for, wait_gone  # noqa: F401 (fixtures)
from proctree import kill_tree


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
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        proc.communicate()
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

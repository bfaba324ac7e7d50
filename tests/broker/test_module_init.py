"""Python broker modules against a real broker: failures during initialization."""

from __future__ import annotations

import errno
import time

import pytest

from modhelpers import dmesg, flux_ok, handle, inst, moddir, module_list, wait_for, gmod  # noqa: F401 (fixtures)


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

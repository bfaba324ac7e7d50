"""Python broker modules against a real broker: loading, the name, args."""

from __future__ import annotations

import errno

import pytest

from conftest import pid_alive
from modhelpers import flux_ok, gmod, handle, inst, moddir, module_list, wait_gone  # noqa: F401 (fixtures)


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

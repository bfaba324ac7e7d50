"""flux env, flux python, flux version, flux --help."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from cmdhelpers import outside_env
from proctree import run_tree

T = 15


@pytest.fixture(scope="module")
def inst(shared_instance):
    return shared_instance


def parse_exports(text):
    out = {}
    for line in text.splitlines():
        assert line.startswith("export ") and line.endswith('"'), line
        name, _, value = line[len("export "):].partition("=")
        assert value.startswith('"')
        out[name] = value[1:-1]
    return out


def test_env_inside(inst):
    r = inst.run("env", timeout=T)
    assert r.returncode == 0, r.stderr
    env = parse_exports(r.stdout)
    import flux

    pkg_parent = str(Path(flux.__file__).resolve().parent.parent)
    assert env["PYTHONPATH"].split(":")[0] == pkg_parent
    assert env["PATH"].split(":")[0] == str(Path(inst.flux).parent)
    assert env["FLUX_URI"] == inst.uri
    assert "FLUX_MODULE_PATH" in env and "FLUX_EXEC_PATH" in env


def test_env_outside(flux_cmd):
    e = outside_env()
    del e["FLUX_URI"]
    r = run_tree([flux_cmd, "env"], env=e, capture_output=True, text=True, timeout=T)
    assert (r.returncode, r.stderr) == (0, "")
    env = parse_exports(r.stdout)
    assert "FLUX_URI" not in env and "PYTHONPATH" in env and "PATH" in env


def test_env_command(inst, flux_cmd):
    r = inst.run("env", "sh", "-c", 'echo "$FLUX_URI|$PYTHONPATH"', timeout=T)
    assert r.returncode == 0, r.stderr
    uri, pypath = r.stdout.strip().split("|")
    assert uri == inst.uri
    import flux

    assert pypath.split(":")[0] == str(Path(flux.__file__).resolve().parent.parent)
    r = inst.run("env", "sh", "-c", "exit 7", timeout=T)
    assert r.returncode == 7
    r = inst.run("env", "flux", "getattr", "rank", timeout=T)  # PATH finds our flux
    assert r.stdout == "0\n"
    r = inst.run("env", "/nonexistent-cmd", timeout=T)
    assert r.returncode == 1
    assert r.stderr == "flux-env: execvp (/nonexistent-cmd): No such file or directory\n"


def test_python(inst):
    code = "import sys, flux; print(sys.executable); print(flux.Flux().attr_get('size'))"
    r = inst.run("python", "-c", code, timeout=T)
    assert r.returncode == 0, r.stderr
    exe, size = r.stdout.splitlines()
    assert os.path.realpath(exe) == os.path.realpath(sys.executable)
    assert size == "1"
    r = inst.run("python", "-c", "import sys; sys.exit(sys.argv[1:] == ['a', '-b'] and 5)", "a", "-b",
                 timeout=T)
    assert r.returncode == 5


def test_version_inside(inst):
    import flux

    r = inst.run("version", timeout=T)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (f"commands:    \t\t{flux.__version__}\n"
                        f"libflux-core:\t\t{flux.FLUX_CORE_COMPAT_VERSION}\n"
                        f"broker:  \t\t0.88.0\n"
                        f"FLUX_URI:\t\t{inst.uri}\n"
                        "build-options:\t\t+pureflux\n")
    assert inst.run("-V", timeout=T).stdout == r.stdout


def test_version_outside(flux_cmd):
    import flux

    e = outside_env()
    del e["FLUX_URI"]
    r = run_tree([flux_cmd, "version"], env=e, capture_output=True, text=True, timeout=T)
    assert r.returncode == 0
    assert r.stdout == (f"commands:    \t\t{flux.__version__}\n"
                        f"libflux-core:\t\t{flux.FLUX_CORE_COMPAT_VERSION}\n"
                        "build-options:\t\t+pureflux\n")


def test_help_lists_commands(flux_cmd):
    r = run_tree([flux_cmd, "--help"], capture_output=True, text=True, timeout=T)
    assert r.returncode == 0
    listed = {line.split()[0] for line in r.stdout.splitlines() if line.startswith("   ")
              and not line.strip().startswith("-")}
    for name in ("ping", "getattr", "setattr", "lsattr", "dmesg", "logger", "event", "env",
                 "python", "version"):
        assert name in listed, name


def test_every_command_module_has_summary():
    import importlib
    import pkgutil

    import flux.cmd

    for info in pkgutil.iter_modules(flux.cmd.__path__):
        if info.name in ("main", "util") or info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"flux.cmd.{info.name}")
        assert isinstance(getattr(mod, "SUMMARY", None), str), info.name


def test_commands_import_cheaply():
    """Starting a command must not pull in asyncio or argparse."""
    code = ("import sys, flux.cmd.main as m\n"
            "for n in ('ping','getattr','setattr','lsattr','dmesg','logger','event','env',"
            "'python','version'):\n"
            "    __import__('flux.cmd.' + n)\n"
            "import flux.core.handle, flux.rpc\n"
            "print(sorted(x for x in ('asyncio', 'argparse') if x in sys.modules))\n")
    r = run_tree([sys.executable, "-c", code], capture_output=True, text=True, timeout=T)
    assert r.stdout.strip() == "[]", r.stderr


def test_module_load_path_imports_no_json_or_handle(inst):
    """``flux module load/remove`` (start-up scripts, tight loops) speak through
    flux.codec over a bare socket: no json, re, socket module or handle, and no ``__future__``
    (``from __future__ import annotations`` imports it: ~0.2 ms the lean path's modules avoid)."""
    code = ("import sys\n"
            "from flux.cmd.module import _lean_rpc\n"
            "print(_lean_rpc('module.remove', {'name': 'nosuch', 'cancel': False})[0])\n"
            "print(sorted(x for x in ('json', 're', 'socket', 'flux.core.handle', '__future__')"
            " if x in sys.modules))\n")
    r = run_tree([sys.executable, "-c", code], capture_output=True, text=True, timeout=T,
                 env=dict(inst.env, FLUX_URI=inst.uri))
    assert r.stdout.split("\n")[:2] == ["2", "[]"], r.stdout + r.stderr  # ENOENT, nothing heavy


def test_command_help_options(flux_cmd):
    # flux-core's C commands print --help on stderr; built-in ones are named "flux NAME"
    builtin = {"getattr": "Get broker attribute", "setattr": "Set broker attribute",
               "lsattr": "List broker attributes", "dmesg": "Print or control log ring buffer"}
    for name in ("ping", "getattr", "setattr", "lsattr", "dmesg", "logger"):
        r = run_tree([flux_cmd, name, "--help"], capture_output=True, text=True, timeout=T)
        prog = f"flux {name}" if name in builtin else f"flux-{name}"
        assert (r.returncode, r.stdout) == (0, ""), name
        assert r.stderr.startswith(f"Usage: {prog} "), name
        if name in builtin:
            assert r.stderr.splitlines()[1:3] == [
                builtin[name], "  -h, --help             Display this message."], name


def test_overlay_of_one_broker(inst):
    """A tree of one, as flux-core's broker describes it (no pyzmq needed)."""
    host = inst.run("getattr", "hostlist").stdout.strip()
    assert inst.run("overlay", "status").stdout == f"0 {host}: full\n"
    r = inst.run("overlay", "parentof", "0")
    assert (r.returncode, r.stderr) == (1, "flux-overlay: 0 has no parent\n")
    r = inst.run("overlay", "disconnect", "1")
    assert (r.returncode, r.stderr) == (1, "flux-overlay: 1 is not a valid rank in this instance\n")
    import flux

    h = flux.Flux(inst.uri)
    assert h.rpc("overlay.topology", {"rank": 0}).get() == {"rank": 0, "size": 1, "children": []}
    health = h.rpc("overlay.health", {}).get()
    assert (health["rank"], health["status"], health["children"]) == (0, "full", [])
    assert h.rpc("overlay.stats-get", {}).get()["child-count"] == 0
    with pytest.raises(OSError) as exc:
        h.rpc("overlay.topology", {"rank": 1}).get()
    assert exc.value.errno == 2
    with pytest.raises(OSError) as exc:
        h.rpc("overlay.topology", {"rank": "x"}).get()
    assert exc.value.errno == 71  # EPROTO

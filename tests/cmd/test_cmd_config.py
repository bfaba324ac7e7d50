"""``flux config`` as flux-core 0.88's command behaves (outputs recorded from it)."""

from __future__ import annotations

import pytest

T = 30


@pytest.fixture
def inst(shared_instance):
    shared_instance.run("config", "load", input="{}", timeout=T)
    yield shared_instance
    shared_instance.run("config", "load", input="{}", timeout=T)


def ok(inst, *args, input=None):
    r = inst.run("config", *args, input=input, timeout=T)
    assert (r.returncode, r.stderr) == (0, ""), (args, r.stderr)
    return r.stdout


def fails(inst, *args, input=None, rc=1):
    r = inst.run("config", *args, input=input, timeout=T)
    assert r.returncode == rc, (args, r.stdout, r.stderr)
    return r.stderr


def test_get_types_defaults_and_errors(inst):
    ok(inst, "load", input='{"a": {"b": 4, "c": "5m", "e": true, "s": "x"}}')
    assert ok(inst, "get") == '{"a":{"b":4,"c":"5m","e":true,"s":"x"}}\n'
    assert ok(inst, "get", "a.s") == "x\n"
    assert ok(inst, "get", "-t", "integer", "a.b") == "4\n"
    assert fails(inst, "get", "-t", "string", "a.b") == \
        "flux-config: a.b does not have the requested type\n"
    assert ok(inst, "get", "-t", "fsd-integer", "a.c") == "300\n"
    assert ok(inst, "get", "-t", "fsd-real", "a.c") == "300.000000\n"
    assert ok(inst, "get", "-t", "fsd", "a.c") == "5m\n"
    assert ok(inst, "get", "-t", "boolean", "a.e") == "true\n"
    assert fails(inst, "get", "-t", "bogus", "a.c") == "flux-config: Unknown type: bogus\n"
    assert fails(inst, "get", "nosuch") == "flux-config: nosuch is not set\n"
    assert fails(inst, "get", "-q", "nosuch") == ""
    assert ok(inst, "get", "-d", "5", "nosuch") == "5\n"
    assert fails(inst, "get", "a", "b").startswith("Usage: flux config get [OPTIONS] [NAME]\n")
    err = fails(inst, "get", "--bogus")
    assert err.splitlines()[0] == "flux config get: unrecognized option '--bogus'"


def test_set_and_unset(inst):
    assert fails(inst, "set", "a.b", "3") == \
        "flux-config: Type is unknown, please specify --type\n"
    ok(inst, "set", "-t", "integer", "a.b", "3")
    assert ok(inst, "get", "a") == '{"b":3}\n'
    ok(inst, "set", "a.b", "4")  # the type of the value already there
    assert ok(inst, "get", "a.b") == "4\n"
    assert fails(inst, "set", "-t", "integer", "a.d", "x") == \
        "flux-config: Error parsing integer value\n"
    assert fails(inst, "set", "-t", "fsd", "a.d", "soon") == \
        "flux-config: Error parsing Flux Standard Duration\n"
    assert fails(inst, "set", "-t", "fsd-real", "a.d", "1s") == \
        "flux-config: Invalid type for the set subcommand: fsd-real\n"
    ok(inst, "set", "-t", "boolean", "a.e", "no")  # only 0, f, F and "" are false
    ok(inst, "set", "-t", "boolean", "a.f", "false")
    ok(inst, "set", "-t", "object", "o", '{"k":1}')
    ok(inst, "set", "-t", "array", "o.k", "[1]")
    ok(inst, "set", "-t", "string", "s", '"q"')
    ok(inst, "set", "-t", "real", "r", "1.5")
    assert ok(inst, "get") == \
        '{"a":{"b":4,"e":true,"f":false},"o":{"k":[1]},"s":"q","r":1.5}\n'
    ok(inst, "unset", "a.b")
    ok(inst, "unset", "zz.yy")  # not set: not an error
    assert ok(inst, "get", "a") == '{"e":true,"f":false}\n'


def test_load_reload_and_subcommands(inst, tmp_path):
    assert fails(inst, "load", input="x=") .startswith("flux-config: TOML parse error: ")
    ok(inst, "load", input="[t]\nk = 1\n")
    assert ok(inst, "get", "t.k") == "1\n"
    (tmp_path / "a.toml").write_text("[u]\nv = 'w'\n")
    ok(inst, "load", str(tmp_path))
    assert ok(inst, "get") == '{"u":{"v":"w"}}\n'
    assert fails(inst, "load", str(tmp_path / "nope")).startswith(
        "flux-config: Error parsing config: ")
    ok(inst, "reload", "--follower-noop")
    assert fails(inst, "reload", "extra").startswith("Usage: flux config reload [OPTIONS]\n")
    assert fails(inst, "builtin", "nosuch") == "flux-config: nosuch is invalid\n"
    assert ok(inst, "builtin", "python_path").strip()
    assert fails(inst).startswith("flux config: missing subcommand\nUsage: flux config load")
    assert fails(inst, "bogus").startswith("flux config: Unknown subcommand: bogus\n")
    r = inst.run("config", "get", "--help", timeout=T)  # on stderr, as liboptparse
    assert r.returncode == 0 and r.stderr.startswith(
        "Usage: flux config get [OPTIONS] [NAME]\nQuery broker configuration values\n"
        "  -h, --help             Display this message.\n"
        "  -c, --config-path=PATH|system|security|imp\n"
        "                         Get broker config from PATH (default: use live config)\n")

"""flux getattr / setattr / lsattr."""

from __future__ import annotations


import pytest

from cmdhelpers import outside_env
from proctree import run_tree

T = 15


@pytest.fixture(scope="module")
def inst(shared_instance):
    return shared_instance


def test_getattr(inst):
    r = inst.run("getattr", "rank", timeout=T)
    assert (r.returncode, r.stdout, r.stderr) == (0, "0\n", "")
    r = inst.run("getattr", "version", timeout=T)
    assert r.stdout == "0.88.0\n"
    r = inst.run("getattr", "local-uri", timeout=T)
    assert r.stdout == inst.uri + "\n"
    r = inst.run("getattr", "jobid-path", timeout=T)  # "/" when not run as a job
    assert r.stdout == "/\n"


def test_getattr_errors(inst):
    r = inst.run("getattr", "nosuch", timeout=T)
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr == "flux-getattr: nosuch: No such file or directory\n"
    r = inst.run("getattr", timeout=T)
    assert r.returncode == 1 and r.stderr.startswith("Usage: flux getattr name\n")
    r = inst.run("getattr", "a", "b", timeout=T)
    assert r.returncode == 1


def test_setattr(inst):
    r = inst.run("setattr", "log-stderr-level", "2", timeout=T)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert inst.run("getattr", "log-stderr-level", timeout=T).stdout == "2\n"
    r = inst.run("setattr", "log-stderr-level", "3", timeout=T)
    assert r.returncode == 0
    assert inst.run("getattr", "log-stderr-level", timeout=T).stdout == "3\n"


def test_setattr_errors(inst):
    r = inst.run("setattr", "rank", "3", timeout=T)
    assert r.returncode == 1
    assert r.stderr == "flux-setattr: rank: attribute may not be updated\n"
    assert inst.run("getattr", "rank", timeout=T).stdout == "0\n"
    r = inst.run("setattr", "nosuch", "1", timeout=T)
    assert r.returncode == 1
    assert r.stderr.startswith("flux-setattr: nosuch: ") and r.stderr.count("\n") == 1
    # flux-core 0.88's setattr has no -e (no way to unset): an unknown option
    r = inst.run("setattr", "-e", "rank", timeout=T)
    assert r.returncode == 1 and r.stderr.startswith("flux setattr: invalid option -- 'e'")
    r = inst.run("setattr", "rank", timeout=T)
    assert r.returncode == 1 and r.stderr.startswith("Usage: flux setattr name value\n")


def test_lsattr(inst):
    r = inst.run("lsattr", timeout=T)
    assert r.returncode == 0, r.stderr
    names = r.stdout.splitlines()
    assert names == sorted(names)
    for n in ("rank", "size", "version", "local-uri", "hostlist", "log-ring-size"):
        assert n in names


def test_lsattr_values(inst):
    r = inst.run("lsattr", "-v", timeout=T)
    assert r.returncode == 0, r.stderr
    rows = {}
    for line in r.stdout.splitlines():
        name, value = line[:40].rstrip(), line[40:]
        assert line[:40] == f"{name:<40}"
        rows[name] = value
    assert rows["rank"] == "0"
    assert rows["size"] == "1"
    assert rows["version"] == "0.88.0"
    assert rows["local-uri"] == inst.uri
    assert "rank                                    0" in r.stdout.splitlines()
    assert inst.run("lsattr", "extra", timeout=T).returncode == 1


def test_attr_outside_instance(flux_cmd):
    for args in (["getattr", "rank"], ["setattr", "log-level", "1"], ["lsattr", "-v"]):
        r = run_tree([flux_cmd, *args], env=outside_env(), capture_output=True, text=True,
                     timeout=T)
        assert r.returncode == 1, args
        assert "Unable to connect to Flux" in r.stderr and r.stderr.count("\n") == 1

"""``flux start -S`` / ``flux broker -S`` check names against the attribute registry
the way flux-core's broker does: unknown and READONLY names end start-up with one
line on stderr and exit code 1; registered names pureflux does not act on yet are
stored."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import base_env, flux_exe, short_tmpdir
from proctree import run_tree

pytestmark = pytest.mark.timeout(60)

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def tmpdir_env():
    d = short_tmpdir()
    env = base_env()
    env["TMPDIR"] = d
    yield d, env
    shutil.rmtree(d, ignore_errors=True)


def run(env: dict, *args: str) -> subprocess.CompletedProcess:
    return run_tree([flux_exe(), *args], capture_output=True, text=True, timeout=30,
                    env=env)


@pytest.mark.parametrize("cmd", ["start", "broker"])
def test_unknown_name_is_refused(tmpdir_env, cmd):
    d, env = tmpdir_env
    r = run(env, cmd, "-S", "nosuch=1", "true")
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "flux-broker: nosuch: unknown attribute\n")
    assert glob.glob(os.path.join(d, "flux-*")) == []  # nothing left behind


@pytest.mark.parametrize("name", ["rank", "size", "version", "broker.mapping", "broker.uuid",
                                  "parent-uri", "test-ro.x", "tbon.level"])
def test_readonly_name_is_refused(tmpdir_env, name):
    d, env = tmpdir_env
    r = run(env, "start", f"--setattr={name}=3", "true")
    assert (r.returncode, r.stderr) == \
        (1, f"flux-broker: {name}: attribute may not be set on the command line\n")


def test_bad_values_and_computed_attributes(tmpdir_env):
    d, env = tmpdir_env
    r = run(env, "start", "-S", "log-level=bogus", "true")
    assert (r.returncode, r.stderr) == (1, "flux-broker: log-level: invalid log level 'bogus'\n")
    r = run(env, "start", "-S", "broker.boot-method=pmi", "true")
    assert (r.returncode, r.stderr) == \
        (1, "flux-broker: broker.boot-method: Operation not permitted\n")
    assert glob.glob(os.path.join(d, "flux-*")) == []


def test_registered_names_are_stored_with_their_flags(tmpdir_env):
    d, env = tmpdir_env
    code = (
        "import json, os, sys; sys.path.insert(0, %r)\n"
        "from rawclient import RawClient\n"
        "c = RawClient(os.environ['FLUX_URI'])\n"
        "get = lambda n: c.rpc('attr.get', {'name': n}).payload\n"
        "out = {n: get(n) for n in sys.argv[1:]}\n"
        "m = c.rpc('attr.set', {'name': 'test-im.x', 'value': 'w', 'force': True})\n"
        "out['force'] = m.errnum\n"
        "print(json.dumps(out))\n"
    ) % TESTS_DIR
    names = ["test-im.x", "test.y", "statedir", "content.hash", "tbon.topo", "broker.quorum",
             "log-filename", "log-ring-size"]
    r = run(env, "start", "-S", "test-im.x=v", "-S", "test.y=", "-S", f"statedir={d}",
            "-S", "content.hash=sha256", "-S", "tbon.topo=kary:2", "-S", "broker.quorum=1",
            "-S", "log-filename=/dev/null", "-S", "log-ring-size=5",
            sys.executable, "-c", code, *names)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out.pop("force") == 1  # EPERM: immutable, even forced
    assert out == {
        "test-im.x": {"value": "v", "flags": 1},
        "test.y": {"value": "", "flags": 0},
        "statedir": {"value": d, "flags": 0},
        "content.hash": {"value": "sha256", "flags": 1},
        "tbon.topo": {"value": "kary:2", "flags": 0},
        "broker.quorum": {"value": "1", "flags": 1},
        "log-filename": {"value": "/dev/null", "flags": 0},
        "log-ring-size": {"value": "5", "flags": 1},
    }

"""flux setattr / getattr / lsattr with a test.* attribute the owner creates."""

from __future__ import annotations

import pytest

T = 15


@pytest.fixture(scope="module")
def inst(shared_instance):
    return shared_instance


def test_setattr_getattr_lsattr_test_name(inst):
    r = inst.run("setattr", "test.foo", "bar", timeout=T)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = inst.run("getattr", "test.foo", timeout=T)
    assert (r.returncode, r.stdout, r.stderr) == (0, "bar\n", "")
    assert "test.foo" in inst.run("lsattr", timeout=T).stdout.splitlines()
    rows = inst.run("lsattr", "-v", timeout=T).stdout.splitlines()
    assert f"{'test.foo':<40}bar" in rows
    r = inst.run("setattr", "test.foo", "baz", timeout=T)
    assert r.returncode == 0
    assert inst.run("getattr", "test.foo", timeout=T).stdout == "baz\n"


def test_setattr_of_other_unknown_names_fails(inst):
    r = inst.run("setattr", "nosuch.foo", "bar", timeout=T)
    assert r.returncode == 1
    assert r.stderr == "flux-setattr: nosuch.foo: unknown attribute\n"


def test_setattr_force_updates_a_non_runtime_attribute(inst):
    """flux-core's t0008-attr.t: test-nr.* needs --force to change once set."""
    assert inst.run("setattr", "test-nr.forced", "bar", timeout=T).returncode == 0
    r = inst.run("setattr", "test-nr.forced", "baz", timeout=T)
    assert r.returncode == 1
    assert r.stderr == "flux-setattr: test-nr.forced: attribute may not be updated\n"
    r = inst.run("setattr", "--force", "test-nr.forced", "baz", timeout=T)
    assert (r.returncode, r.stderr) == (0, "")
    assert inst.run("getattr", "test-nr.forced", timeout=T).stdout == "baz\n"
    assert inst.run("setattr", "-f", "test-nr.forced", "qux", timeout=T).returncode == 0
    assert inst.run("getattr", "test-nr.forced", timeout=T).stdout == "qux\n"


def test_setattr_force_cannot_change_an_immutable_attribute(inst):
    assert inst.run("setattr", "test-im.forced", "1", timeout=T).returncode == 0
    r = inst.run("setattr", "--force", "test-im.forced", "2", timeout=T)
    assert r.returncode == 1
    assert r.stderr == "flux-setattr: test-im.forced: Operation not permitted\n"


def test_setattr_takes_flux_cores_options_only(inst):
    r = inst.run("setattr", "--help", timeout=T)
    assert "-f, --force" in r.stderr and "expunge" not in r.stderr
    r = inst.run("setattr", "test.x", timeout=T)
    assert r.returncode == 1 and r.stderr.startswith("Usage: flux setattr")

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

"""flux kvs version/wait/getroot/sync/dropcache/namespace against an instance."""

from __future__ import annotations

import json
import os
import threading

import pytest

T = 20


@pytest.fixture(scope="module")
def inst(shared_instance):
    return shared_instance


def kvs(inst, *args, env=None):
    r = inst.run("kvs", *args, env=env, timeout=T)
    return r.returncode, r.stdout, r.stderr


def ok(inst, *args, **kw):
    rc, out, err = kvs(inst, *args, **kw)
    assert (rc, err) == (0, ""), (args, out, err)
    return out


def test_version_and_wait(inst):
    before = int(ok(inst, "version"))
    seq = int(ok(inst, "put", "-s", "ver.k=1"))
    assert seq > before
    assert int(ok(inst, "version")) == seq
    assert ok(inst, "wait", str(seq)) == ""
    assert ok(inst, "wait", "0") == ""
    assert ok(inst, "wait", "junk") == ""  # strtoul: 0
    assert kvs(inst, "wait", "1", "2") == (1, "", "flux-kvs: wait: specify a version\n")


def test_wait_blocks_until_the_version(inst):
    target = int(ok(inst, "version")) + 1
    result = {}
    waiter = threading.Thread(target=lambda: result.update(r=kvs(inst, "wait", str(target))))
    waiter.start()
    waiter.join(1.0)
    assert waiter.is_alive()  # still waiting
    ok(inst, "put", "ver.next=1")
    waiter.join(T)
    assert result["r"] == (0, "", "")


def test_getroot(inst):
    ok(inst, "put", "gr.k=1")
    treeobj = ok(inst, "getroot")
    obj = json.loads(treeobj)
    assert treeobj == json.dumps(obj, separators=(",", ":"), sort_keys=True) + "\n"
    assert obj["type"] == "dirref" and obj["ver"] == 1
    assert ok(inst, "getroot", "-b") == obj["data"][0] + "\n"
    assert int(ok(inst, "getroot", "-s")) == int(ok(inst, "version"))
    assert ok(inst, "getroot", "-o") == f"{os.getuid()}\n"
    assert kvs(inst, "getroot", "-N", "nosuchns") == \
        (1, "", "flux-kvs: flux_kvs_getroot_get_treeobj: Operation not supported\n")
    assert kvs(inst, "getroot", "-s", "-N", "nosuchns") == \
        (1, "", "flux-kvs: flux_kvs_getroot_get_sequence: Operation not supported\n")
    assert kvs(inst, "version", "-N", "nosuchns") == \
        (1, "", "flux-kvs: flux_kvs_get_version: Operation not supported\n")
    rc, out, err = kvs(inst, "getroot", "extra")
    assert (rc, out) == (1, "") and err.startswith("Usage: flux-kvs getroot [-N ns] [-s|-o|-b]\n")


def test_sync(inst):
    before = int(ok(inst, "version"))
    assert ok(inst, "sync") == ""
    assert int(ok(inst, "version")) >= before


def test_dropcache(inst):
    assert ok(inst, "dropcache") == ""
    assert ok(inst, "dropcache", "--all") == ""  # an event, kvs.dropcache
    ok(inst, "put", "dc.k=still here")
    assert ok(inst, "get", "dc.k") == "still here\n"


def test_namespaces(inst):
    ok(inst, "namespace", "create", "ns-a", "ns-b")
    try:
        ok(inst, "namespace", "create", "-o", "4242", "ns-c")
        table = ok(inst, "namespace", "list")
        lines = table.splitlines()
        assert lines[0] == "NAMESPACE                                 OWNER      FLAGS"
        uid = os.getuid()
        assert f"{'ns-a':<36} {uid:>10} 0x00000000" in lines
        assert f"{'ns-c':<36} {4242:>10} 0x00000000" in lines
        assert f"{'primary':<36} {uid:>10} 0x00000000" in lines
        assert ok(inst, "getroot", "-o", "-N", "ns-c") == "4242\n"
        assert kvs(inst, "namespace", "create", "ns-a") == (1, "", "flux-kvs: ns-a: File exists\n")
        ok(inst, "put", "-N", "ns-b", "k=b")
        assert ok(inst, "get", "-N", "ns-b", "k") == "b\n"
        # a namespace may start from a given root: here primary's current one
        ok(inst, "put", "nsroot.k=from primary")
        rootref = ok(inst, "getroot", "-b").strip()
        ok(inst, "namespace", "create", "-r", rootref, "ns-d")
        assert ok(inst, "get", "-N", "ns-d", "nsroot.k") == "from primary\n"
    finally:
        ok(inst, "namespace", "remove", "ns-a", "ns-b", "ns-c", "ns-d")
    assert "ns-a" not in ok(inst, "namespace", "list")
    assert kvs(inst, "namespace", "create", "-o", "x1", "ns-e") == \
        (1, "", "flux-kvs: --owner requires an unsigned integer argument\n")

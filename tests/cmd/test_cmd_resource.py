"""``flux resource`` list/info/status/drain/undrain against a pureflux instance.

Expected texts are what flux-core 0.88's ``flux resource`` printed against the
same one-node instance (its host is this machine's, so tests read it from the
``hostlist`` attribute).  Drain tests each use a fresh broker.
"""

from __future__ import annotations

import re
import time

import pytest

import flux

pytestmark = pytest.mark.timeout(60)

TEST_RUN = "--setattr=system.exec.test.run_duration="


def _host(inst) -> str:
    with flux.Flux(inst.uri) as h:
        return h.attr_get("hostlist")


def _ncores(inst) -> int:
    with flux.Flux(inst.uri) as h:
        R = h.rpc("resource.status", nodeid=0).get()["R"]
    from flux.cmd._resource_sets import RankSet

    return RankSet(R).count("core")


def _ok(inst, *args: str) -> str:
    r = inst.run("resource", *args)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    return r.stdout


def _fail(inst, *args: str, rc: int = 1) -> str:
    r = inst.run("resource", *args)
    assert r.returncode == rc, (r.stdout, r.stderr)
    return r.stderr


def test_list_default_and_formats(shared_instance):
    inst, host, n = shared_instance, _host(shared_instance), _ncores(shared_instance)
    assert _ok(inst, "list") == (
        "     STATE NNODES NCORES NGPUS NODELIST\n"
        f"      free      1 {n:>6}     0 {host}\n"
        " allocated      0      0     0 \n"
        "      down      0      0     0 \n")
    cores = "core0" if n == 1 else f"core[0-{n - 1}]"
    assert _ok(inst, "list", "-o", "rlist").splitlines()[:2] == [
        "     STATE NNODES NCORES +NGPUS LIST",
        f"      free      1 {n:>6} +    0 rank0/{cores}"]
    assert _ok(inst, "list", "-n", "-s", "all", "--skip-empty") == (
        f"       all      1 {n:>6}     0 {host}\n")
    assert _ok(inst, "list", "-o", "{state} {ranks} {nodelist}", "-s", "up,down") == (
        f"STATE RANKS NODELIST\nup 0 {host}\ndown  \n")
    # without {state}, the states' resources are summed into one line
    assert _ok(inst, "list", "-o", "{nnodes} {ncores}", "-s", "all,free") == (
        f"NNODES NCORES\n1 {n}\n")
    assert "  rlist        Format including resource list details" in _ok(inst, "list", "-o",
                                                                            "help")


def test_list_include(shared_instance):
    inst, host = shared_instance, _host(shared_instance)
    assert _ok(inst, "list", "-i", "0").splitlines()[1].split() == ["free", "1", str(
        _ncores(inst)), "0", host]
    assert _ok(inst, "list", "-i", host).count("\n") == 2
    assert _ok(inst, "list", "-i", "5") == "     STATE NNODES NCORES NODELIST\n"
    assert _ok(inst, "list", "-i", "nosuchhost") == "     STATE NNODES NCORES NODELIST\n"


def test_list_errors(shared_instance):
    inst = shared_instance
    assert _fail(inst, "list", "-o", "bogus") == (
        "flux-resource: ERROR: --format: No such format bogus (Did you mean '{bogus}'?)\n")
    assert _fail(inst, "list", "-s", "bogus") == (
        "flux-resource: ERROR: Invalid resource state bogus specified\n")
    assert _fail(inst, "list", "-o", "{foo}") == (
        "flux-resource: ERROR: Unknown format field: foo\n")
    assert "required: subcommand" in _fail(inst, rc=2)


def test_info(shared_instance):
    inst = shared_instance
    assert _ok(inst, "info") == f"1 Nodes, {_ncores(inst)} Cores, 0 GPUs\n"
    assert _ok(inst, "info", "-s", "down") == "0 Nodes, 0 Cores, 0 GPUs\n"


def test_status(shared_instance):
    inst, host = shared_instance, _host(shared_instance)
    assert _ok(inst, "status") == (
        "       STATEUP NNODES NODELIST\n"
        f"       avail ✔      1 {host}\n")
    assert _ok(inst, "status", "-s", "all", "-n").splitlines() == [
        f"       avail ✔      1 {host}", "     exclude ✔      0 ",
        "   allocated ✔      0 ", "      torpid ✔      0 ", "housekeeping ✔      0 ",
        "    draining ✔      0 ", "     drained ✔      0 "]
    assert _ok(inst, "status", "-o", "long").splitlines()[0] == (
        "       STATEUP NNODES REASON                         NODELIST")
    assert _ok(inst, "status", "-o", "{state} {up.ascii} {status} {ranks}") == (
        "STATE UP STATUS RANKS\navail y online 0\n")
    assert _fail(inst, "status", "-s", "bogus") == (
        "flux-resource: ERROR: Invalid resource state bogus specified\n"
        "flux-resource: INFO: valid states: all,online,avail,offline,exclude,drain,"
        "draining,drained,torpid,allocated,housekeeping\n")


def test_drain_undrain(instance):
    inst, host = instance, _host(instance)
    header = "TIME         STATE    REASON                         NODELIST\n"
    assert _ok(inst, "drain") == header
    assert _ok(inst, "drain", "0", "testing", "reason") == ""
    out = _ok(inst, "drain")
    assert out.startswith(header)
    assert re.fullmatch(r"[A-Z][a-z]{2}\d\d \d\d:\d\d  drained  testing reason {17}"
                        + re.escape(host) + "\n", out[len(header):])
    assert _fail(inst, "drain", "0", "again") == (
        "flux-resource: ERROR: [Errno 17] rank 0 already drained\n"
        "flux-resource: INFO: Use --force to overwrite existing drain reason\n")
    assert _ok(inst, "drain", "-f", "0", "again2") == ""
    assert _ok(inst, "drain", "-u", "0", "again3") == ""
    long = _ok(inst, "drain", "-o", "long", "-n")
    assert long.split()[2:] == ["drained", "0", "again2", host]
    assert _ok(inst, "status") == (
        f"       STATEUP NNODES NODELIST\n     drained ✔      1 {host}\n")
    assert _ok(inst, "list", "-n", "-s", "free,down").splitlines()[0].split() == [
        "free", "0", "0", "0"]
    assert _fail(inst, "drain", "-f", "-u", "0") == (
        "flux-resource: ERROR: Only one of --force and --update may be specified\n")
    assert _fail(inst, "drain", "5") == (
        "flux-resource: ERROR: [Errno 22] idset is out of range\n")
    assert _fail(inst, "drain", "nosuchhost") == (
        "flux-resource: ERROR: [Errno 22] invalid targets: invalid hosts: nosuchhost\n")
    assert _ok(inst, "undrain", host) == ""
    assert _fail(inst, "undrain", "0") == "flux-resource: ERROR: rank 0 not drained\n"
    assert _ok(inst, "undrain", "-f", "0") == ""
    assert "required: targets" in _fail(inst, "undrain", rc=2)


def test_allocated_and_draining(instance):
    inst, host = instance, _host(instance)
    r = inst.run("submit", "--env=-*", TEST_RUN + "60s", "-n1", "true")
    assert r.returncode == 0, r.stderr
    for _ in range(100):
        out = _ok(inst, "list", "-n", "-s", "allocated")
        if out.split()[1] != "0":
            break
        time.sleep(0.1)
    assert out.split() == ["allocated", "1", "1", "0", host]
    assert _ok(inst, "status", "-s", "allocated", "-n") == f"   allocated ✔      1 {host}\n"
    assert _ok(inst, "drain", "0", "busy") == ""
    assert _ok(inst, "status", "-n") == f"    draining ✔      1 {host}\n"
    assert _ok(inst, "drain", "-n").split()[2:] == ["draining", "busy", host]
    assert inst.run("cancel", "--all").returncode == 0

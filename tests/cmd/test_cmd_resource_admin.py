"""``flux resource`` eventlog, R, reload and ``-q/--queue``, the ``resource.journal`` and
``resource.reload`` services, and R from ``[resource] path``; expected texts are what
flux-core 0.88 printed against an instance with the same configuration.
"""

from __future__ import annotations

import json
import re

import pytest
from cmdhelpers import run_fails, run_ok
from conftest import start_instance

import flux
from flux.constants import FLUX_RPC_STREAMING
from flux.message import Message, encode_json
from flux.services.resource.service import ResourceService

pytestmark = pytest.mark.timeout(60)

QUEUES = "[queues.batch]\n[queues.debug]\nrequires = [\"debug\"]\n"


def _ok(inst, *args: str) -> str:
    return run_ok(inst, "resource", *args)


def _fail(inst, *args: str) -> str:
    return run_fails(inst, "resource", *args)


def _host(inst) -> str:
    with flux.Flux(inst.uri) as h:
        return h.attr_get("hostlist")


def _strip_time(text: str) -> list[str]:
    return [re.sub(r"^\d+\.\d+ ", "", line) for line in text.splitlines()]


def test_eventlog_and_journal(instance):
    inst, host = instance, _host(instance)
    assert _strip_time(_ok(inst, "eventlog")) == [
        f'restart ranks="0" online="" nodelist="{host}"',
        'resource-define method="dynamic-discovery"', 'online idset="0"']
    _ok(inst, "drain", "0", "test", "reason")
    last = json.loads(_ok(inst, "eventlog", "-f", "json").splitlines()[-1])
    assert (last["name"], last["context"]) == ("drain", {
        "idset": "0", "nodelist": host, "reason": "test reason", "overwrite": 0})
    r = inst.run("resource", "eventlog", "-w", "undrain", "-t", "0.3s")
    assert (r.returncode, r.stderr) == (1, "flux-resource: ERROR: ETIMEDOUT: Connection timed out\n")
    assert len(r.stdout.splitlines()) == 4  # the events seen before the timeout
    _ok(inst, "undrain", "0")
    assert _strip_time(_ok(inst, "eventlog", "-w", "undrain", "-m", "overwrite=0"))[-1] == (
        f'undrain idset="0" nodelist="{host}" overwrite=0')
    assert len(_ok(inst, "eventlog", "-i", "0").splitlines()) == 4  # not resource-define
    assert len(_ok(inst, "eventlog", "-i", host).splitlines()) == 4
    assert _fail(inst, "eventlog", "-i", "1") == (
        "flux-resource: ERROR: Hostlist index out of range\n")
    human = _ok(inst, "eventlog", "-H").splitlines()
    assert re.match(r"\[[A-Z][a-z]{2}\d\d \d\d:\d\d\] restart ", human[0])
    assert re.match(r"\[\s*\+\d+\.\d{6}\] online idset=\"0\"$", human[2])
    with flux.Flux(inst.uri) as h:
        f = h.rpc("resource.journal", {}, flags=FLUX_RPC_STREAMING)
        first = f.get()
        f.reset()
        define = f.get()
        f.reset()
        assert [e["name"] for e in first["events"]] == ["restart"]
        assert [e["name"] for e in define["events"]] == ["resource-define"]
        assert define["R"]["execution"]["R_lite"][0]["rank"] == "0"
        rest = f.get()
        f.reset()
        assert [e["name"] for e in rest["events"]] == ["online", "drain", "undrain"]
        assert f.get() == {"events": []}  # the end of the backlog
        f.reset()
        _ok(inst, "drain", "0", "again")
        assert [e["name"] for e in f.get()["events"]] == ["drain"]
        with pytest.raises(OSError) as exc:
            h.rpc("resource.journal", {}).get()
        assert exc.value.strerror == "journal requires streaming RPC flag"


def test_R_and_reload(instance, tmp_path):
    inst, host = instance, _host(instance)
    full = json.loads(_ok(inst, "R"))
    assert full["version"] == 1 and full["execution"]["nodelist"] == [host]
    assert list(full["execution"]) == ["R_lite", "starttime", "expiration", "nodelist"]
    assert json.loads(_ok(inst, "R", "-s", "free")) == full
    assert _ok(inst, "R", "-s", "down") == (
        '{"version": 1, "execution": {"R_lite": [], "starttime": 0.0, "expiration": 0.0, '
        '"nodelist": [""]}}\n')
    assert json.loads(_ok(inst, "R", "-i", "0")) == full
    assert _fail(inst, "R", "-s", "bogus") == (
        "flux-resource: ERROR: Invalid resource state bogus specified\n")
    path = tmp_path / "R.json"
    path.write_text(_ok(inst, "R"))
    # the scheduler holds the resources: flux-core refuses a reload then
    assert _fail(inst, "reload", str(path)) == (
        "flux-resource: ERROR: resources are busy (unload scheduler?)\n")
    assert _fail(inst, "reload", "/nonexist") == ("flux-resource: ERROR: /nonexist:-1 unable "
                                                  "to open /nonexist: No such file or directory\n")


def test_reload_without_a_scheduler(tmp_path):
    """The service itself: R replaced, committed, resource-define method=reload."""
    answers, commits = [], []
    svc = ResourceService({0, 1}, "h0", lambda m, p: answers.append((0, p)),
                          lambda m, e, t: answers.append((e, t)),
                          lambda ops, done: (commits.append(ops), done(0, None)))
    svc.define()
    R = {"version": 1, "execution": {"R_lite": [{"rank": "0", "children": {"core": "0-3"}}],
                                     "starttime": 0.0, "expiration": 0.0, "nodelist": ["x"]}}
    path = tmp_path / "R.json"
    path.write_text(json.dumps(R))
    msg = Message()
    msg.payload_bytes = encode_json({"path": str(path), "xml": False, "force": False})
    svc.reload(msg)
    assert answers == [(0, None)] and svc.R == R and svc.ranks == {0: {0, 1, 2, 3}}
    assert svc.journal[-2]["name"] == "resource-define"
    assert svc.journal[-2]["context"] == {"method": "reload"}
    big = dict(R, execution=dict(R["execution"], R_lite=[{"rank": "0-1",
                                                          "children": {"core": "0"}}]))
    path.write_text(json.dumps(big))
    with pytest.raises(OSError) as exc:
        svc.reload(msg)
    assert exc.value.strerror == ("resource object contains ranks execeeding size=1 "
                                  "(override with -f))")


def test_queue_options(tmp_path):
    conf = tmp_path / "q.toml"
    conf.write_text(QUEUES)
    with start_instance(args=("-c", str(conf))) as inst:
        lines = _ok(inst, "list").splitlines()
        assert lines[0] == "     STATE QUEUE NNODES NCORES NGPUS NODELIST"
        assert lines[1].startswith("      free batch      1 ")
        assert lines[2:] == [" allocated batch      0      0     0 ",
                             " allocated debug      0      0     0 ",
                             "      down batch      0      0     0 ",
                             "      down debug      0      0     0 "]
        assert _ok(inst, "list", "-q", "debug").splitlines()[1] == (
            "      free debug      0      0     0 ")
        assert _ok(inst, "list", "-o", "{state} {nnodes}") == (
            "STATE NNODES\nfree 1\nallocated 0\ndown 0\n")
        assert json.loads(_ok(inst, "R", "-q", "debug"))["execution"]["R_lite"] == []
        assert _fail(inst, "R", "-q", "nope") == "flux-resource: ERROR: --queue: nope: no such queue\n"
        assert _ok(inst, "info", "-q", "debug") == "0 Nodes, 0 Cores, 0 GPUs\n"
        assert _ok(inst, "info", "-q", "batch").startswith("1 Nodes, ")


def test_R_from_configured_path(tmp_path):
    R = {"version": 1, "execution": {"R_lite": [{"rank": "0", "children": {"core": "0-5"}}],
                                     "starttime": 0.0, "expiration": 0.0,
                                     "nodelist": ["fakehost"]}}
    (tmp_path / "R.json").write_text(json.dumps(R))
    conf = tmp_path / "r.toml"
    conf.write_text(f'[resource]\npath = "{tmp_path / "R.json"}"\n')
    with start_instance(args=("-c", str(conf))) as inst:
        assert json.loads(_ok(inst, "R")) == R
        assert _ok(inst, "info") == "1 Nodes, 6 Cores, 0 GPUs\n"
        assert 'resource-define method="configuration"' in _ok(inst, "eventlog")

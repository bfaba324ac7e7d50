"""resource, sched and job-exec inside the broker, driven by a raw stand-in for the
job-manager (the RFC 27 and 32 requests flux-core's job-manager sends); payloads as a
flux-core 0.88 instance answers them."""

from __future__ import annotations

import errno
import json
import os
import socket

from flux.constants import FLUX_MSGFLAG_STREAMING
from rawclient import request

NCORES = len(os.sched_getaffinity(0))
CORES = "0" if NCORES == 1 else f"0-{NCORES - 1}"


def _jobspec(ntasks: int = 1, cores: int = 1, nodes: int = 0, test: dict | None = None,
             duration: float = 0.0) -> dict:
    slot = {"type": "slot", "count": ntasks, "label": "task",
            "with": [{"type": "core", "count": cores}]}
    res = [{"type": "node", "count": nodes, "with": [slot]}] if nodes else [slot]
    system: dict = {"duration": duration}
    if test is not None:
        system["exec"] = {"test": test}
    return {"version": 1, "resources": res,
            "tasks": [{"command": ["true"], "slot": "task", "count": {"per_slot": 1}}],
            "attributes": {"system": system}}


def _alloc(c, jobid: int, spec: dict, tag: int, priority: int = 16) -> None:
    c.send(request("sched.alloc", {"id": jobid, "priority": priority, "userid": os.getuid(),
                                   "t_submit": 1.0 + jobid / 1000, "jobspec": spec}, tag))


def _answer(c, tag: int):
    while True:
        m = c.recv(10)
        if m.type == 2 and m.matchtag == tag:
            return m


def test_resource_R_status_and_drain(instance) -> None:
    host = socket.gethostname().split(".")[0]
    R = {"version": 1, "execution": {"R_lite": [{"rank": "0", "children": {"core": CORES}}],
                                     "starttime": 0.0, "expiration": 0.0, "nodelist": [host]}}
    with instance.client() as c:
        st = c.rpc("resource.status").payload
        assert st == {"R": R, "drain": {}, "online": "0", "offline": "", "exclude": "",
                      "torpid": ""}
        assert c.rpc("resource.drain", {"targets": "0", "reason": "why"}, 2).errnum == 0
        assert c.rpc("resource.status", None, 3).payload["drain"]["0"]["reason"] == "why"
        m = c.rpc("resource.drain", {"targets": "0", "reason": "again"}, 4)
        assert (m.errnum, m.payload_str) == (errno.EEXIST, "rank 0 already drained")
        m = c.rpc("resource.drain", {"targets": "7"}, 5)
        assert (m.errnum, m.payload_str) == (errno.EINVAL, "idset is out of range")
        down = c.rpc("sched.resource-status", None, 6).payload["down"]
        assert down["execution"]["R_lite"] == R["execution"]["R_lite"]
        assert c.rpc("resource.undrain", {"targets": host}, 7).errnum == 0
        m = c.rpc("resource.undrain", {"targets": "0"}, 8)
        assert (m.errnum, m.payload_str) == (errno.EEXIST, "rank 0 not drained")
        # the scheduler holds the resources: a second acquirer is refused
        m = c.rpc("resource.acquire", None, 9, FLUX_MSGFLAG_STREAMING)
        assert m.errnum == errno.EBUSY
    got = instance.run("kvs", "get", "resource.R").stdout
    assert json.loads(got) == R and got.startswith('{"version":1,"execution":{"R_lite"')
    log = instance.run("kvs", "get", "resource.eventlog").stdout.splitlines()
    names = [json.loads(line)["name"] for line in log if line]
    assert names == ["resource-define", "drain", "undrain"]
    assert json.loads(log[1])["context"] == {"idset": "0", "nodelist": host, "reason": "why",
                                             "overwrite": 0}


def test_sched_fifo_alloc_free_cancel(instance) -> None:
    with instance.client() as c:
        # the whole machine, then a job that must wait, then one that never fits
        _alloc(c, 100, _jobspec(ntasks=NCORES), 1)
        m = _answer(c, 1)
        p = m.payload
        assert p["id"] == 100 and p["type"] == 0
        assert p["annotations"] == {"sched": {"resource_summary": (
            f"rank0/core{CORES if NCORES == 1 else '[' + CORES + ']'}")}}
        ex = p["R"]["execution"]
        assert ex["R_lite"] == [{"rank": "0", "children": {"core": CORES}}]
        assert ex["nslots"] == NCORES and ex["starttime"] > 0 and ex["expiration"] == 0.0
        stored = "job.0000.0000.0000.0064"
        assert json.loads(instance.run("kvs", "get", f"{stored}.R").stdout) == p["R"]
        # at the head of the queue, a job that can never fit is denied; the next waits
        _alloc(c, 102, _jobspec(ntasks=NCORES + 1), 3, priority=20)
        _alloc(c, 101, _jobspec(), 2)
        m = _answer(c, 3)
        assert m.payload["type"] == 2 and "unsatisfiable request" in m.payload["note"]
        st = c.rpc("sched.resource-status", None, 4).payload
        assert st["allocated"]["execution"]["R_lite"] == ex["R_lite"]
        # cancel of a pending job: its alloc request ends with type 3
        _alloc(c, 103, _jobspec(), 5, priority=20)
        c.send(request("sched.cancel", {"id": 103}, 0, 0x04))
        assert _answer(c, 5).payload == {"id": 103, "type": 3}
        # free: the waiting job gets the cores
        c.send(request("sched.free", {"id": 100, "R": p["R"], "final": True}, 0, 0x04))
        m = _answer(c, 2)
        assert m.payload["id"] == 101 and m.payload["type"] == 0


def test_sched_priority_order(instance) -> None:
    with instance.client() as c:
        _alloc(c, 200, _jobspec(ntasks=NCORES), 1)
        assert _answer(c, 1).payload["type"] == 0
        _alloc(c, 201, _jobspec(ntasks=NCORES), 2, priority=10)
        _alloc(c, 202, _jobspec(ntasks=NCORES), 3, priority=10)
        c.send(request("sched.prioritize", {"jobs": [[202, 30]]}, 0, 0x04))
        c.send(request("sched.free", {"id": 200, "R": {}, "final": True}, 0, 0x04))
        m = _answer(c, 3)
        assert m.payload["id"] == 202 and m.payload["type"] == 0


def _start(c, jobid: int, spec: dict, tag: int) -> None:
    R = {"version": 1, "execution": {"R_lite": [{"rank": "0", "children": {"core": "0"}}],
                                     "starttime": 0.0, "expiration": 0.0}}
    c.send(request("job-exec.start", {"id": jobid, "userid": os.getuid(), "jobspec": spec,
                                      "reattach": False, "R": R}, tag, FLUX_MSGFLAG_STREAMING))


def _responses(c, tag: int, n: int) -> list[dict]:
    return [_answer(c, tag).payload for _ in range(n)]


def test_testexec_run_and_exception(instance) -> None:
    with instance.client() as c:
        _start(c, 300, _jobspec(test={"run_duration": "0.05s", "wait_status": 256}), 1)
        got = _responses(c, 1, 3)
        assert [g["type"] for g in got] == ["start", "finish", "release"]
        assert got[1]["data"] == {"status": 256}
        assert got[2]["data"] == {"ranks": "all", "final": True}
        # no test attributes: real execution, which needs ranks in R (an exec exception)
        c.send(request("job-exec.start", {"id": 301, "userid": os.getuid(),
                                          "jobspec": _jobspec(), "reattach": False,
                                          "R": {"version": 1, "execution": {"R_lite": []}}},
                       2, FLUX_MSGFLAG_STREAMING))
        got = _responses(c, 2, 2)
        assert got[0]["type"] == "exception" and got[0]["data"]["type"] == "exec"
        assert got[0]["data"]["note"] == "failed to initialize implementation"
        assert got[1]["type"] == "release"
        # a job-exception event (severity 0) ends a running test job with SIGTERM
        _start(c, 302, _jobspec(test={"run_duration": "60s"}), 3)
        assert _answer(c, 3).payload["type"] == "start"
        import base64
        body = json.dumps({"id": 302, "type": "cancel", "severity": 0}).encode()
        # (the responses come before the publish's own answer: no c.rpc here)
        c.send(request("event.publish", {"topic": "job-exception", "flags": 0,
                                         "payload": base64.b64encode(body).decode()}, 5))
        got = _responses(c, 3, 2)
        assert got[0] == {"id": 302, "type": "finish", "data": {"status": 15}}
    log = instance.run("kvs", "get", "job.0000.0000.0000.012c.guest.exec.eventlog").stdout
    names = [json.loads(line)["name"] for line in log.splitlines() if line]
    assert names == ["init", "starting", "recoverable", "complete", "done"]



def test_restart_reuses_resource_R() -> None:
    """With a statedir, the R in the KVS is reused at restart (method kvs), as flux-core."""
    import shutil
    import time

    from conftest import short_tmpdir, start_instance

    tmp = short_tmpdir()
    try:
        statedir = os.path.join(tmp, "state")
        methods: list = []
        for want in (1, 2):
            with start_instance(f"statedir={statedir}") as inst:
                deadline = time.monotonic() + 10
                while len(methods) < want and time.monotonic() < deadline:
                    out = inst.run("kvs", "get", "resource.eventlog").stdout
                    entries = [json.loads(line) for line in out.splitlines() if line]
                    methods = [e["context"]["method"] for e in entries
                               if e["name"] == "resource-define"]
                    time.sleep(0.05)
                assert json.loads(inst.run("kvs", "get", "resource.R").stdout)["version"] == 1
                with inst.client() as c:  # the drain survives the restart
                    if want == 1:
                        c.rpc("resource.drain", {"targets": "0", "reason": "kept"})
                    else:
                        drain = c.rpc("resource.status").payload["drain"]
                        assert drain["0"]["reason"] == "kept"
        assert methods == ["dynamic-discovery", "kvs"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

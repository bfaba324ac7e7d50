"""job-ingest and job-manager through real instances, with raw RPCs (flux-core's payloads).

A test scheduler and a test exec service, raw clients here, speak the
scheduler's side of RFC 27 and the exec service's side of RFC 32 as the
``sched`` and ``job-exec`` services do; the eventlogs are read from the KVS.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import shutil

from conftest import short_tmpdir, start_instance
from rawclient import request

from flux.constants import FLUX_MSGFLAG_STREAMING
from flux.message import encode_json
from flux.response import derive_response
from flux.services.job_ingest import sign_none

SPEC = {"version": 1,
        "resources": [{"type": "slot", "count": 1, "label": "task",
                       "with": [{"type": "core", "count": 1}]}],
        "tasks": [{"command": ["true"], "slot": "task", "count": {"per_slot": 1}}],
        "attributes": {"system": {"duration": 0, "environment": {"HOME": "/x"}}}}
R = {"version": 1, "execution": {"R_lite": [{"rank": "0", "children": {"core": "0"}}],
                                 "starttime": 0.0, "expiration": 0.0, "nodelist": ["x"]}}
ANY = 0xFFFFFFFFFFFFFFFF


def submit_payload(urgency=16, flags=0, spec=SPEC):
    return {"J": sign_none.wrap(json.dumps(spec).encode(), os.getuid()),
            "urgency": urgency, "flags": flags}


def dothex(jobid: int) -> str:
    text = f"{jobid:016x}"
    return ".".join(text[i:i + 4] for i in range(0, 16, 4))


def kvs_get(c, key: str, matchtag: int = 900) -> bytes:
    m = c.rpc("kvs.lookup", {"key": key, "flags": 0, "namespace": "primary"}, matchtag=matchtag)
    assert m.errnum == 0, (key, m.errnum)
    return base64.b64decode(m.payload["val"]["data"])


def eventlog(c, jobid: int) -> list[dict]:
    text = kvs_get(c, f"job.{dothex(jobid)}.eventlog").decode()
    return [json.loads(line) for line in text.splitlines()]


def respond(client, req, payload):
    client.send(derive_response(req, 0, encode_json(payload)))


def next_request(client, topic):
    while True:
        m = client.recv(timeout=10)
        if m.type == 1 and m.topic == topic:
            return m


def test_submit_schedule_run_wait(instance):
    with instance.client() as sched, instance.client() as ex, instance.client() as c, \
            instance.client() as journal:
        assert sched.rpc("service.add", {"service": "sched"}).errnum == 0
        hello = sched.stream("job-manager.sched-hello", {"partial-ok": True}, matchtag=2)
        assert [m.errnum for m in hello] == [errno.ENODATA]
        ready = sched.rpc("job-manager.sched-ready", {"mode": "unlimited"}, matchtag=3)
        assert ready.errnum == 0 and ready.payload == {"count": 0}
        assert ex.rpc("service.add", {"service": "testexec"}).errnum == 0
        assert ex.rpc("job-manager.exec-hello", {"service": "testexec"}, matchtag=2).errnum == 0
        journal.send(request(
            "job-manager.events-journal", {}, 7, FLUX_MSGFLAG_STREAMING))
        sentinel = journal.recv(timeout=10)
        assert sentinel.payload == {"id": ANY, "events": []}

        answer = c.rpc("job-ingest.submit", submit_payload(flags=4))
        assert answer.errnum == 0, answer.payload_str
        jobid = answer.payload["id"]
        # the KVS holds J and the jobspec (without the environment) at RFC 16's keys
        key = f"job.{dothex(jobid)}"
        j = kvs_get(c, f"{key}.J").decode()
        assert sign_none.unwrap(j)[1] == os.getuid()
        stored = json.loads(kvs_get(c, f"{key}.jobspec", matchtag=901))
        assert "environment" not in stored["attributes"]["system"]

        alloc = next_request(sched, "sched.alloc")
        assert alloc.payload["id"] == jobid and alloc.payload["priority"] == 16
        assert alloc.payload["userid"] == os.getuid() and alloc.payload["jobspec"] == stored
        respond(sched, alloc, {"id": jobid, "type": 0, "R": R,
                               "annotations": {"sched": {"resource_summary": "rank0/core0"}}})
        start = next_request(ex, "testexec.start")
        assert start.payload == {"id": jobid, "userid": os.getuid(), "jobspec": stored,
                                 "reattach": False, "R": R}
        for kind, data in (("start", {}), ("finish", {"status": 0}),
                           ("release", {"ranks": "all", "final": True})):
            respond(ex, start, {"id": jobid, "type": kind, "data": data})
        free = next_request(sched, "sched.free")
        assert free.payload == {"id": jobid, "R": R, "final": True}

        waited = c.rpc("job-manager.wait", {"id": jobid}, matchtag=2)
        assert waited.payload == {"id": jobid, "success": True, "errstr": ""}
        names = [e["name"] for e in eventlog(c, jobid)]
        assert names == ["submit", "validate", "depend", "priority", "alloc", "start",
                         "finish", "release", "free", "clean"]
        first = eventlog(c, jobid)[0]
        assert first["context"] == {"userid": os.getuid(), "urgency": 16, "flags": 4,
                                    "version": 1}
        seen = []
        while "clean" not in seen:
            m = journal.recv(timeout=10)
            assert m.payload["id"] == jobid
            seen += [e["name"] for e in m.payload["events"]]
            if seen[-1] == "submit":
                assert m.payload["jobspec"] == stored
        assert [n for n in seen if n != "annotations"] == names
        stats = c.rpc("job-manager.stats-get", matchtag=3).payload
        assert stats["inactive_jobs"] == 1 and stats["max_jobid"] == jobid


def test_cancel_urgency_and_refusals(instance):
    with instance.client() as c, instance.client() as listener:
        assert listener.rpc("event.subscribe", {"topic": "job-exception"}).errnum == 0
        jobid = c.rpc("job-ingest.submit", submit_payload(urgency=0)).payload["id"]
        urg = c.rpc("job-manager.urgency", {"id": jobid, "urgency": 31}, matchtag=2)
        assert urg.payload == {"old_urgency": 0}
        bad = c.rpc("job-manager.urgency", {"id": jobid, "urgency": 99}, matchtag=3)
        assert (bad.errnum, bad.payload_str) == (errno.EINVAL, "urgency value is out of range")
        raised = c.rpc("job-manager.raise",
                       {"id": jobid, "severity": 0, "type": "cancel", "note": "bye"}, matchtag=4)
        assert raised.errnum == 0
        event = listener.recv(timeout=10)
        assert event.topic == "job-exception"
        assert event.payload == {"id": jobid, "type": "cancel", "severity": 0}
        names = [e["name"] for e in eventlog(c, jobid)]
        assert names == ["submit", "validate", "depend", "priority", "urgency", "priority",
                         "exception", "clean"]
        again = c.rpc("job-manager.raise", {"id": jobid, "severity": 0, "type": "cancel"},
                      matchtag=5)
        assert (again.errnum, again.payload_str) == (errno.ENOENT, "job is inactive")
        refused = c.rpc("job-ingest.submit", submit_payload(urgency=40), matchtag=6)
        assert (refused.errnum, refused.payload_str) == (errno.EINVAL, "urgency range is [0:31]")
        spec = dict(SPEC, attributes={"system": {"duration": 0, "dependencies": [
            {"scheme": "afterok", "value": str(jobid)}]}})
        dep = c.rpc("job-ingest.submit", submit_payload(spec=spec), matchtag=7)
        assert (dep.errnum, dep.payload_str) == (
            errno.EINVAL, f"dependency: after: {jobid} never started")
        wait = c.rpc("job-manager.wait", {"id": jobid}, matchtag=8)
        assert wait.errnum == errno.ECHILD


def test_batch_of_submissions_and_restart_with_statedir():
    statedir = short_tmpdir()
    try:
        with start_instance(f"statedir={statedir}") as inst, inst.client() as c:
            for tag in range(1, 6):  # sent together: answered together
                c.send(request(
                    "job-ingest.submit", submit_payload(urgency=0), tag))
            ids = sorted(c.recv(timeout=10).payload["id"] for _ in range(5))
            assert len(set(ids)) == 5
        with start_instance(f"statedir={statedir}") as inst, inst.client() as c:
            log = eventlog(c, ids[0])
            assert [e["name"] for e in log][-2:] == ["flux-restart", "priority"]
            new = c.rpc("job-ingest.submit", submit_payload(urgency=0), matchtag=2).payload["id"]
            assert new > ids[-1]
            stats = c.rpc("job-manager.stats-get", matchtag=3).payload
            assert stats["active_jobs"] == 6
    finally:
        shutil.rmtree(statedir, ignore_errors=True)

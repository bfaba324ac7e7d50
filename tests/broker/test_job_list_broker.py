"""job-list inside a real broker, following the real job-manager's journal: jobs
submitted with job-ingest.submit, scheduled and run by raw clients speaking the
scheduler's (RFC 27) and exec service's (RFC 32) sides, listed with raw RPCs."""

from __future__ import annotations

import errno
import json
import os

from rawclient import request

from flux.constants import FLUX_MSGFLAG_STREAMING
from flux.message import encode_json
from flux.response import derive_response
from flux.services.job_ingest import sign_none

SPEC = {"version": 1,
        "resources": [{"type": "slot", "count": 2, "label": "task",
                       "with": [{"type": "core", "count": 1}]}],
        "tasks": [{"command": ["/bin/true"], "slot": "task", "count": {"per_slot": 1}}],
        "attributes": {"system": {"duration": 0, "cwd": "/tmp"}}}
R = {"version": 1, "execution": {"R_lite": [{"rank": "0", "children": {"core": "0-1"}}],
                                 "starttime": 0.0, "expiration": 0.0, "nodelist": ["vm"]}}


def _submit(c, urgency: int = 16) -> int:
    answer = c.rpc("job-ingest.submit", {"J": sign_none.wrap(json.dumps(SPEC).encode(),
                                                             os.getuid()),
                                         "urgency": urgency, "flags": 0})
    assert answer.errnum == 0, answer.payload_str
    return answer.payload["id"]


def _next(client, topic):
    while True:
        m = client.recv(timeout=10)
        if m.type == 1 and m.topic == topic:
            return m


def _respond(client, req, payload):
    client.send(derive_response(req, 0, encode_json(payload)))


def test_jobs_listed_as_they_go(instance) -> None:
    with instance.client() as sched, instance.client() as ex, instance.client() as c:
        assert sched.rpc("service.add", {"service": "sched"}).errnum == 0
        assert [m.errnum for m in sched.stream("job-manager.sched-hello", {"partial-ok": True},
                                               matchtag=2)] == [errno.ENODATA]
        assert sched.rpc("job-manager.sched-ready", {"mode": "unlimited"},
                         matchtag=3).errnum == 0
        assert ex.rpc("service.add", {"service": "testexec"}).errnum == 0
        assert ex.rpc("job-manager.exec-hello", {"service": "testexec"}, matchtag=2).errnum == 0

        ran = _submit(c)
        # a list-id that waits for RUN, answered when the journal brings it
        c.send(request("job-list.list-id", {"id": ran, "attrs": ["state"], "state": 16}, 50))
        alloc = _next(sched, "sched.alloc")
        _respond(sched, alloc, {"id": ran, "type": 0, "R": R})
        start = _next(ex, "testexec.start")
        waited = c.recv(timeout=10)
        assert (waited.matchtag, waited.payload) == (50, {"job": {"id": ran, "state": 16}})
        for kind, data in (("start", {}), ("finish", {"status": 256}),
                           ("release", {"ranks": "all", "final": True})):
            _respond(ex, start, {"id": ran, "type": kind, "data": data})
        _next(sched, "sched.free")
        done = c.rpc("job-list.list-id", {"id": ran, "attrs": [], "state": 64}, matchtag=4)
        assert done.payload == {"job": {"id": ran}}

        held = _submit(c, urgency=0)
        canceled = _submit(c)
        pending = _next(sched, "sched.alloc")
        assert pending.payload["id"] == canceled
        assert c.rpc("job-manager.raise", {"id": canceled, "severity": 0, "type": "cancel",
                                           "note": ""}, matchtag=5).errnum == 0
        _next(sched, "sched.cancel")
        _respond(sched, pending, {"id": canceled, "type": 3})  # RFC 27: the alloc ends
        got = c.rpc("job-list.list-id", {"id": canceled, "attrs": ["result"], "state": 64},
                    matchtag=6)
        assert got.payload == {"job": {"id": canceled, "result": 4}}

        jobs = c.rpc("job-list.list", {"max_entries": 0, "attrs": [
            "state", "name", "cwd", "ntasks", "ncores", "nnodes", "ranks", "nodelist",
            "result", "waitstatus", "success", "urgency", "priority"]},
            matchtag=7).payload["jobs"]
        assert [j["id"] for j in jobs] == [held, canceled, ran]
        assert jobs[0] == {"id": held, "state": 8, "name": "true", "cwd": "/tmp",
                           "ntasks": 2, "ncores": 2, "urgency": 0, "priority": 0}
        assert jobs[2] == {"id": ran, "state": 64, "name": "true", "cwd": "/tmp",
                           "ntasks": 2, "ncores": 2, "nnodes": 1, "ranks": "0",
                           "nodelist": "vm", "result": 2, "waitstatus": 256,
                           "success": False, "urgency": 16, "priority": 16}
        failed = c.rpc("job-list.list", {"max_entries": 0, "attrs": [],
                                         "constraint": {"results": ["failed"]}}, matchtag=8)
        assert failed.payload == {"jobs": [{"id": ran}]}
        stats = c.rpc("job-list.job-stats", {}, matchtag=9).payload
        assert stats["job_states"]["sched"] == 1 and stats["failed"] == 1
        assert stats["canceled"] == 1
        streamed = c.stream("job-list.list", {"max_entries": 1, "attrs": []}, matchtag=10)
        assert [(m.errnum, m.payload if not m.errnum else None) for m in streamed] == \
            [(0, {"jobs": [{"id": held}], "version": 1}), (errno.ENODATA, None)]
        unknown = c.rpc("job-list.list-id", {"id": 12345, "attrs": []}, matchtag=11)
        assert unknown.errnum == errno.ENOENT


def test_job_info_reads_a_submitted_job(instance) -> None:
    with instance.client() as c:
        jobid = _submit(c)
        got = c.rpc("job-info.lookup", {"id": jobid, "keys": ["jobspec"], "flags": 1})
        assert got.errnum == 0 and got.payload["jobspec"]["tasks"] == SPEC["tasks"]
        c.send(request("job-info.eventlog-watch", {"id": jobid, "path": "eventlog",
                                                   "flags": 0}, 3, FLUX_MSGFLAG_STREAMING))
        assert json.loads(c.recv(timeout=10).payload["event"])["name"] == "submit"

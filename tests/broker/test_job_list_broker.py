"""job-list inside a real broker, following the real job-manager's journal: jobs
submitted with job-ingest.submit, run by the broker's scheduler and test execution
service, listed with raw RPCs."""

from __future__ import annotations

import errno
import json
import os

from rawclient import request

from flux.constants import FLUX_MSGFLAG_STREAMING
from flux.services.job_ingest import sign_none

SPEC = {"version": 1,
        "resources": [{"type": "slot", "count": 1, "label": "task",
                       "with": [{"type": "core", "count": 1}]}],
        "tasks": [{"command": ["/bin/true"], "slot": "task", "count": {"per_slot": 1}}],
        "attributes": {"system": {"duration": 0, "cwd": "/tmp"}}}


def _submit(c, urgency: int = 16, test: dict | None = None) -> int:
    spec = json.loads(json.dumps(SPEC))
    if test is not None:
        spec["attributes"]["system"]["exec"] = {"test": test}
    answer = c.rpc("job-ingest.submit", {"J": sign_none.wrap(json.dumps(spec).encode(),
                                                             os.getuid()),
                                         "urgency": urgency, "flags": 0})
    assert answer.errnum == 0, answer.payload_str
    return answer.payload["id"]


def test_jobs_listed_as_they_go(instance) -> None:
    with instance.client() as c:
        ran = _submit(c, test={"run_duration": "0.01s", "wait_status": 256})
        # list-id waiting for RUN, then for INACTIVE: answered as the journal brings them
        running = c.rpc("job-list.list-id", {"id": ran, "attrs": ["state"], "state": 16},
                        matchtag=2)
        assert running.payload["job"]["state"] in (16, 32, 64)
        done = c.rpc("job-list.list-id", {"id": ran, "attrs": [], "state": 64}, matchtag=3)
        assert done.payload == {"job": {"id": ran}}

        held = _submit(c, urgency=0)
        canceled = _submit(c, urgency=0)
        assert c.rpc("job-manager.raise", {"id": canceled, "severity": 0, "type": "cancel",
                                           "note": ""}, matchtag=4).errnum == 0
        got = c.rpc("job-list.list-id", {"id": canceled, "attrs": ["result"], "state": 64},
                    matchtag=5)
        assert got.payload == {"job": {"id": canceled, "result": 4}}

        jobs = c.rpc("job-list.list", {"max_entries": 0, "attrs": [
            "state", "name", "cwd", "ntasks", "ncores", "nnodes", "ranks", "result",
            "waitstatus", "success", "urgency", "priority"]}, matchtag=6).payload["jobs"]
        assert [j["id"] for j in jobs] == [held, canceled, ran]
        assert jobs[0] == {"id": held, "state": 8, "name": "true", "cwd": "/tmp",
                           "ntasks": 1, "ncores": 1, "urgency": 0, "priority": 0}
        assert jobs[2] == {"id": ran, "state": 64, "name": "true", "cwd": "/tmp",
                           "ntasks": 1, "ncores": 1, "nnodes": 1, "ranks": "0",
                           "result": 2, "waitstatus": 256, "success": False,
                           "urgency": 16, "priority": 16}
        failed = c.rpc("job-list.list", {"max_entries": 0, "attrs": [],
                                         "constraint": {"results": ["failed"]}}, matchtag=7)
        assert failed.payload == {"jobs": [{"id": ran}]}
        stats = c.rpc("job-list.job-stats", {}, matchtag=8).payload
        assert stats["job_states"]["sched"] == 1 and stats["failed"] == 1
        assert stats["canceled"] == 1
        streamed = c.stream("job-list.list", {"max_entries": 1, "attrs": []}, matchtag=9)
        assert [(m.errnum, m.payload if not m.errnum else None) for m in streamed] == \
            [(0, {"jobs": [{"id": held}], "version": 1}), (errno.ENODATA, None)]
        unknown = c.rpc("job-list.list-id", {"id": 12345, "attrs": []}, matchtag=10)
        assert unknown.errnum == errno.ENOENT


def test_job_info_reads_a_submitted_job(instance) -> None:
    with instance.client() as c:
        jobid = _submit(c)
        got = c.rpc("job-info.lookup", {"id": jobid, "keys": ["jobspec"], "flags": 1})
        assert got.errnum == 0 and got.payload["jobspec"]["tasks"] == SPEC["tasks"]
        c.send(request("job-info.eventlog-watch", {"id": jobid, "path": "eventlog",
                                                   "flags": 0}, 3, FLUX_MSGFLAG_STREAMING))
        assert json.loads(c.recv(timeout=10).payload["event"])["name"] == "submit"

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
import time

import pytest
from conftest import short_tmpdir, start_instance
from guest import GUEST_UID, run_as_guest
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
    """A job through the broker's own scheduler and test exec service, end to end."""
    spec = json.loads(json.dumps(SPEC))
    spec["attributes"]["system"]["exec"] = {"test": {"run_duration": "0.01s"}}
    with instance.client() as c, instance.client() as journal:
        journal.send(request(
            "job-manager.events-journal", {}, 7, FLUX_MSGFLAG_STREAMING))
        sentinel = journal.recv(timeout=10)
        assert sentinel.payload == {"id": -1, "events": []}

        answer = c.rpc("job-ingest.submit", submit_payload(flags=4, spec=spec))
        assert answer.errnum == 0, answer.payload_str
        jobid = answer.payload["id"]
        # the KVS holds J and the jobspec (without the environment) at RFC 16's keys
        key = f"job.{dothex(jobid)}"
        j = kvs_get(c, f"{key}.J").decode()
        assert sign_none.unwrap(j)[1] == os.getuid()
        stored = json.loads(kvs_get(c, f"{key}.jobspec", matchtag=901))
        assert "environment" not in stored["attributes"]["system"]

        waited = c.rpc("job-manager.wait", {"id": jobid}, matchtag=2)
        assert waited.payload == {"id": jobid, "success": True, "errstr": ""}
        names = [e["name"] for e in eventlog(c, jobid)]
        assert names == ["submit", "validate", "depend", "priority", "alloc", "start",
                         "finish", "release", "free", "clean"]
        first = eventlog(c, jobid)[0]
        assert first["context"] == {"userid": os.getuid(), "urgency": 16, "flags": 4,
                                    "version": 1}
        # the scheduler wrote R before answering the allocation
        r = json.loads(kvs_get(c, f"{key}.R", matchtag=902))
        assert r["version"] == 1 and r["execution"]["R_lite"][0]["rank"] == "0"
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
        journal.send(request("job-manager.events-journal-cancel", {"matchtag": 7}, 8))
        end = journal.recv(timeout=10)
        assert (end.matchtag, end.errnum) == (7, errno.ENODATA)


def test_cancel_urgency_and_refusals(instance):
    with instance.client() as c, instance.client() as listener:
        assert listener.rpc("event.subscribe", {"topic": "job-exception"}).errnum == 0
        spec = json.loads(json.dumps(SPEC))
        spec["attributes"]["system"]["exec"] = {"test": {"run_duration": "100s"}}
        jobid = c.rpc("job-ingest.submit", submit_payload(urgency=0, spec=spec)).payload["id"]
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
        deadline = time.monotonic() + 10
        while "clean" not in (names := [e["name"] for e in eventlog(c, jobid)]):
            assert time.monotonic() < deadline, names
            time.sleep(0.02)
        # urgency 31 released it to the scheduler: it ran until cancelled
        assert names[:8] == ["submit", "validate", "depend", "priority", "urgency", "priority",
                             "alloc", "start"]
        assert "exception" in names and names[-1] == "clean"
        again = c.rpc("job-manager.raise", {"id": jobid, "severity": 0, "type": "cancel"},
                      matchtag=5)
        assert (again.errnum, again.payload_str) == (errno.ENOENT, "job is inactive")
        refused = c.rpc("job-ingest.submit", submit_payload(urgency=40), matchtag=6)
        assert (refused.errnum, refused.payload_str) == (errno.EINVAL, "urgency range is [0:31]")
        spec = dict(SPEC, attributes={"system": {"duration": 0, "dependencies": [
            {"scheme": "afterok", "value": str(jobid)}]}})
        dep = c.rpc("job-ingest.submit", submit_payload(spec=spec), matchtag=7)
        assert (dep.errnum, dep.payload_str) == (
            errno.EINVAL, f"dependency: afterok: job {jobid} failed or was canceled")
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


def test_anonymous_queue_status(instance):
    with instance.client() as c:
        assert c.rpc("job-manager.queue-list").payload == {"queues": []}
        assert c.rpc("job-manager.queue-status", {}, matchtag=2).payload == {
            "enable": True, "start": True}
        named = c.rpc("job-manager.queue-status", {"name": "x"}, matchtag=3)
        assert (named.errnum, named.payload_str) == (errno.EINVAL, "'x' is not a valid queue")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as a second (guest) uid")
def test_guests():
    with start_instance("access.allow-guest-user=true") as inst:
        with inst.client() as c:
            jobid = c.rpc("job-ingest.submit", submit_payload(urgency=0)).payload["id"]
        owners = submit_payload()  # signed by the owner

        def work() -> list:
            out = []
            with inst.client() as g:
                for tag, (topic, payload) in enumerate([
                        ("job-ingest.submit", {**submit_payload(), "J": sign_none.wrap(
                            json.dumps(SPEC).encode(), GUEST_UID)}),
                        ("job-ingest.submit", owners),
                        ("job-manager.raise", {"id": jobid, "severity": 0, "type": "cancel"}),
                        ("job-manager.urgency", {"id": jobid, "urgency": 1}),
                        ("job-manager.kill", {"id": jobid, "signum": 9}),
                        ("job-manager.wait", {"id": jobid}),
                        ("job-manager.getinfo", None)], start=1):
                    m = g.rpc(topic, payload, matchtag=tag)
                    out.append([m.errnum, m.payload_str if m.errnum else None])
            return out

        assert run_as_guest(work) == [
            [errno.EPERM, "only instance owner can use sign-type=none"],
            [errno.EPERM, f"signer={os.getuid()} != requestor={GUEST_UID}"],
            [errno.EPERM, "guests can only raise exceptions on their own jobs"],
            [errno.EPERM, "guests can only reprioritize their own jobs"],
            [errno.EPERM, "guests may only send signals to their own jobs"],
            [errno.EPERM, "Request requires owner credentials"],
            [0, None]]


def test_malformed_requests_are_eproto(instance):
    with instance.client() as c:
        for tag, topic in enumerate(["job-manager.raise", "job-manager.urgency",
                                     "job-manager.kill", "job-manager.wait",
                                     "job-manager.sched-ready", "job-manager.exec-hello",
                                     "job-ingest.submit", "job-manager.submit"], start=1):
            for payload in ([1, 2], b"not json", {"id": "x"}):
                m = c.rpc(topic, payload, matchtag=tag)
                assert m.errnum == errno.EPROTO, (topic, payload, m.errnum, m.payload_str)
        bad_job = c.rpc("job-manager.submit", {"jobs": [{"id": 1}]}, matchtag=98)
        assert bad_job.errnum == errno.EPROTO
        assert c.rpc("job-manager.stats-get", matchtag=99).payload["active_jobs"] == 0

"""flux.job without a broker: the requests it sends, how it reads answers, its errors.

A fake server thread on an ``fd://`` socketpair answers each request from a
script.  The expected request payloads are those flux-core 0.88's ``flux.job``
sent to its own services (captured with FLUX_HANDLE_TRACE=1), byte for byte;
the answers are shaped as flux-core's services answer.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fakeserver import FakeServer

import flux
import flux.job
from flux.constants import (
    FLUX_JOB_RESULT_CANCELED,
    FLUX_JOB_RESULT_COMPLETED,
    FLUX_JOB_RESULT_FAILED,
    FLUX_JOB_RESULT_TIMEOUT,
    FLUX_JOB_STATE_INACTIVE,
    FLUX_JOB_STATE_RUN,
    FLUX_JOB_STATE_SCHED,
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_USERID_UNKNOWN,
)
from flux.eventlog import EventLogEvent
from flux.job import JobID, JobspecV1
from flux.services.job_ingest.sign_none import unwrap as sign_none_unwrap
from flux.services.job_ingest.sign_none import wrap as sign_none_wrap

pytestmark = pytest.mark.timeout(20)

JOBID = 6559891456


@pytest.fixture
def srv():
    server = FakeServer()
    yield server
    server.close()


def entry(name: str, ts: float = 1.5, **context) -> dict:
    e: dict = {"timestamp": ts, "name": name}
    if context:
        e["context"] = context
    return e


def eventlog_answers(entries: list, end: int = errno.ENODATA):
    """job-info.eventlog-watch: one ``{"event": line}`` per entry, then the end."""

    def answer(topic, payload):
        if topic != "job-info.eventlog-watch":
            return []
        out = [(0, {"event": json.dumps(e, separators=(",", ":")) + "\n"}) for e in entries]
        return out + [(end, None)]

    return answer


COMPLETED = [entry("submit", 1.0, userid=0, urgency=16, flags=0, version=1),
             entry("depend", 1.1), entry("priority", 1.2, priority=16),
             entry("alloc", 2.0), entry("start", 2.1),
             entry("finish", 3.0, status=0), entry("release", 3.1, ranks="all", final=True),
             entry("free", 3.2), entry("clean", 3.3)]


# -- import cost, names ----------------------------------------------------------------


def test_import_is_light():
    code = ("import sys, flux.job\n"
            "heavy = ('json', 'flux.rpc', 'flux.job.Jobspec', 'flux.job.submit', 'flux.kvs')\n"
            "print([m for m in heavy if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_flux_core_names():
    names = ["Jobspec", "JobspecV1", "validate_jobspec", "submit", "submit_async",
             "submit_get_id", "wait", "wait_async", "wait_get_status", "result", "result_async",
             "cancel", "cancel_async", "kill", "kill_async", "job_raise", "job_raise_async",
             "event_watch", "event_watch_async", "event_wait", "JobEventWatchFuture",
             "EventLogEvent", "JobException", "MAIN_EVENTS", "job_list", "job_list_inactive",
             "job_list_id", "JobList", "get_job", "JobInfo", "job_kvs", "job_kvs_guest",
             "job_info_lookup", "JobKVSLookup", "job_kvs_lookup", "timeleft", "JobID",
             "id_parse", "id_encode"]
    for name in names:
        assert name in flux.job.__all__
        assert getattr(flux.job, name) is not None
    with pytest.raises(AttributeError):
        flux.job.no_such_name  # noqa: B018
    # __all__ is written out (mypy reads it) and must name exactly what loads on demand
    assert set(flux.job.__all__) == set(flux.job._HOME) | {"JobID", "id_encode", "id_parse"}


def test_submodule_import_keeps_the_function():
    """``from flux.job.wait import ...`` must not turn ``flux.job.wait`` into the module."""
    import flux.job.kill
    import flux.job.submit
    import flux.job.timeleft
    import flux.job.wait  # noqa: F401

    for name in ("wait", "submit", "kill", "timeleft"):
        assert callable(getattr(flux.job, name)), name
    assert sys.modules["flux.job.wait"].JobWaitResult


# -- Jobspec ------------------------------------------------------------------------------


def test_jobspec_matches_flux_core_capture():
    """Factories, setters, and the checks (146 refusals, their types and texts) give
    flux-core's output line for line."""
    data = Path(__file__).resolve().parents[1] / "data" / "job_api"
    out = subprocess.run([sys.executable, str(data / "jobspec_probe.py")],
                         capture_output=True, text=True, check=True).stdout
    assert out == (data / "jobspec_flux_core.out").read_text()


# -- submit -------------------------------------------------------------------------------


def test_submit_request_matches_flux_core(srv):
    srv.answer = lambda topic, payload: [(0, {"id": JOBID})]
    js = JobspecV1.from_command(["true"], environment={"A": "1"})
    jid = flux.job.submit(srv.h, js, waitable=True, urgency=15)
    assert type(jid) is JobID and jid == JOBID
    (msg,) = srv.sent()
    assert msg.topic == "job-ingest.submit"
    J = sign_none_wrap(js.dumps().encode(), os.getuid())
    assert msg.payload_bytes == b'{"J":"%s","urgency":15,"flags":4}\0' % J.encode()
    # the jobspec text inside J is exactly what flux-core's JobspecV1 dumps
    assert sign_none_unwrap(J)[0] == (
        b'{"resources": [{"type": "slot", "count": 1, "with": [{"type": "core", "count": 1}],'
        b' "label": "task"}], "tasks": [{"command": ["true"], "slot": "task", "count":'
        b' {"per_slot": 1}}], "attributes": {"system": {"duration": 0, "environment":'
        b' {"A": "1"}}}, "version": 1}')


def test_submit_flags_and_forms(srv):
    srv.answer = lambda topic, payload: [(0, {"id": 7})]
    text = JobspecV1.from_command(["x"], environment={}).dumps()
    f = flux.job.submit_async(srv.h, text, debug=True, novalidate=True)
    assert f.get_id() == 7 and flux.job.submit_get_id(f) == 7
    assert json.loads(srv.sent()[-1].payload_str)["flags"] == 2 | 8
    flux.job.submit(srv.h, "PRE.SIGNED.J", pre_signed=True)
    assert json.loads(srv.sent()[-1].payload_str) == {"J": "PRE.SIGNED.J", "urgency": 16,
                                                       "flags": 0}
    with pytest.raises(OSError) as exc:
        flux.job.submit(srv.h, None)
    assert exc.value.errno == errno.EINVAL
    with pytest.raises(TypeError):
        flux.job.submit(srv.h, 42)


def test_submit_error_carries_service_text(srv):
    srv.answer = lambda topic, payload: [(errno.EINVAL, "jobspec: missing duration")]
    with pytest.raises(OSError) as exc:
        flux.job.submit(srv.h, JobspecV1.from_command(["x"]))
    assert exc.value.errno == errno.EINVAL
    assert exc.value.strerror == "jobspec: missing duration"


# -- wait, kill, cancel, raise ------------------------------------------------------------


def test_wait(srv):
    srv.answer = lambda topic, payload: [(0, {"id": JOBID, "success": False,
                                              "errstr": "task(s) exited with exit code 1"})]
    status = flux.job.wait(srv.h, JOBID)
    assert status == (JOBID, False, b"task(s) exited with exit code 1")
    assert status.jobid == JOBID and status.success is False
    assert srv.sent()[0].topic == "job-manager.wait"
    assert srv.sent()[0].payload_bytes == b'{"id":6559891456}\0'
    flux.job.wait(srv.h)
    # FLUX_JOBID_ANY as libflux packs a uint64: -1 (a flux-core job-manager refuses 2**64-1)
    assert srv.sent()[1].payload_bytes == b'{"id":-1}\0'


def test_wait_error(srv):
    text = "invalid job id, or job may be inactive and not waitable"
    srv.answer = lambda topic, payload: [(errno.ECHILD, text)]
    with pytest.raises(OSError) as exc:
        flux.job.wait(srv.h, JOBID)
    assert (exc.value.errno, exc.value.strerror) == (errno.ECHILD, text)


def test_kill_cancel_raise_requests_match_flux_core(srv):
    srv.answer = lambda topic, payload: [(0, None)]
    assert flux.job.kill(srv.h, JOBID, 9) is None
    assert flux.job.cancel(srv.h, JobID(JOBID), "why") is None
    flux.job.cancel(srv.h, JOBID)
    flux.job.job_raise(srv.h, JOBID, "t", 3, "n")
    flux.job.kill(srv.h, JOBID)
    got = [(m.topic, m.payload_bytes) for m in srv.sent()]
    assert got == [
        ("job-manager.kill", b'{"id":6559891456,"signum":9}\0'),
        ("job-manager.raise", b'{"id":6559891456,"type":"cancel","severity":0,"note":"why"}\0'),
        ("job-manager.raise", b'{"id":6559891456,"type":"cancel","severity":0}\0'),
        ("job-manager.raise", b'{"id":6559891456,"type":"t","severity":3,"note":"n"}\0'),
        ("job-manager.kill", b'{"id":6559891456,"signum":15}\0'),
    ]


def test_kill_errors(srv):
    srv.answer = lambda topic, payload: [(errno.EINVAL, "unknown job id")]
    with pytest.raises(OSError) as exc:
        flux.job.kill(srv.h, 1, 15)
    assert (exc.value.errno, exc.value.strerror) == (errno.EINVAL, "unknown job id")
    with pytest.raises(OSError):
        flux.job.kill_async(srv.h, 1, -3)


# -- eventlogs ----------------------------------------------------------------------------


def test_event_watch_request_and_events(srv):
    srv.answer = eventlog_answers(COMPLETED)
    events = list(flux.job.event_watch(srv.h, JOBID))
    assert [e.name for e in events] == [e["name"] for e in COMPLETED]
    assert isinstance(events[0], EventLogEvent)
    assert events[0].context == {"userid": 0, "urgency": 16, "flags": 0, "version": 1}
    assert events[3].context == {}
    (msg,) = srv.sent()
    assert msg.topic == "job-info.eventlog-watch"
    assert msg.flags & FLUX_MSGFLAG_STREAMING
    assert msg.payload_bytes == b'{"id":6559891456,"path":"eventlog","flags":0}\0'
    list(flux.job.event_watch(srv.h, JOBID, "guest.exec.eventlog"))
    assert json.loads(srv.sent()[-1].payload_str)["path"] == "guest.exec.eventlog"


def test_event_watch_cancel_request_matches_flux_core(srv):
    srv.answer = lambda topic, payload: (
        [(0, {"event": json.dumps(COMPLETED[0]) + "\n"})] if topic.endswith("watch") else [])
    w = flux.job.event_watch_async(srv.h, JOBID)
    assert w.get_event().name == "submit"
    w.cancel()
    srv.wait_count(2)
    msg = srv.sent()[1]
    assert msg.topic == "job-info.eventlog-watch-cancel"
    assert msg.flags & FLUX_MSGFLAG_NORESPONSE
    assert msg.payload_bytes == b'{"matchtag":%d}\0' % srv.sent()[0].matchtag


def test_event_watch_error(srv):
    srv.answer = lambda topic, payload: [(errno.ENOENT, None)]
    with pytest.raises(OSError) as exc:
        list(flux.job.event_watch(srv.h, JOBID))
    assert exc.value.errno == errno.ENOENT


def test_event_wait(srv):
    srv.answer = eventlog_answers(COMPLETED)
    assert flux.job.event_wait(srv.h, JOBID, "start").timestamp == 2.1
    with pytest.raises(OSError) as exc:
        flux.job.event_wait(srv.h, JOBID, "nosuch")
    assert exc.value.errno == errno.ENODATA
    assert str(exc.value) == "[Errno 61] eventlog ended before event='nosuch'"


def test_event_wait_raises_job_exception(srv):
    log = COMPLETED[:3] + [entry("exception", 1.7, type="cancel", severity=0, note="because",
                                 userid=0)] + [entry("clean", 1.8)]
    srv.answer = eventlog_answers(log)
    with pytest.raises(flux.job.JobException) as exc:
        flux.job.event_wait(srv.h, JOBID, "start")
    assert str(exc.value) == "job.exception: type=cancel: because"
    assert (exc.value.type, exc.value.severity, exc.value.note) == ("cancel", 0, "because")
    assert flux.job.event_wait(srv.h, JOBID, "clean", raiseJobException=False).name == "clean"


def test_main_events():
    assert "clean" in flux.job.MAIN_EVENTS and "validate" not in flux.job.MAIN_EVENTS


def test_eventlog_event():
    ev = EventLogEvent('{"timestamp":1.25,"name":"x","context":{"b":2,"a":"é"}}')
    assert (ev.name, ev.timestamp) == ("x", 1.25)
    assert ev.context_string == '{"a":"é","b":2}'
    assert str(ev) == "1.25000: x {'b': 2, 'a': 'é'}"
    assert EventLogEvent({"timestamp": 1, "name": "y"}).context == {}
    assert EventLogEvent({"timestamp": 1, "name": "y"}).context_string == ""


# -- result -------------------------------------------------------------------------------


@pytest.mark.parametrize(("log", "code", "extra"), [
    (COMPLETED, FLUX_JOB_RESULT_COMPLETED, {"waitstatus": 0}),
    (COMPLETED[:5] + [entry("finish", 3.0, status=256)] + COMPLETED[6:],
     FLUX_JOB_RESULT_FAILED, {"waitstatus": 256}),
    (COMPLETED[:3] + [entry("exception", 1.5, type="cancel", severity=0, note="")]
     + [entry("clean", 1.6)], FLUX_JOB_RESULT_CANCELED,
     {"exception_type": "cancel", "exception_severity": 0, "exception_note": ""}),
    (COMPLETED[:5] + [entry("exception", 2.5, type="timeout", severity=0, note="t"),
                      entry("finish", 3.0, status=15)] + COMPLETED[6:],
     FLUX_JOB_RESULT_TIMEOUT, {"exception_type": "timeout", "waitstatus": 15}),
])
def test_result(srv, log, code, extra):
    srv.answer = eventlog_answers(log)
    info = flux.job.result(srv.h, JOBID)
    assert info.id == JOBID and info.result_id == code
    d = flux.job.result_async(srv.h, JOBID).get_dict()
    assert d["id"] == JOBID and d["result"] == code and d["t_submit"] == 1.0
    assert d["exception_occurred"] == ("exception_type" in extra)
    for key, value in extra.items():
        assert d[key] == value
    assert srv.sent()[0].payload_bytes == b'{"id":6559891456,"path":"eventlog","flags":0}\0'


def test_result_info_of_canceled_job(srv):
    srv.answer = eventlog_answers(COMPLETED[:3] + [
        entry("exception", 1.5, type="cancel", severity=0, note="")] + [entry("clean", 1.6)])
    info = flux.job.result(srv.h, JOBID)
    assert (info.result, info.returncode) == ("CANCELED", -128)


def test_result_error(srv):
    srv.answer = lambda topic, payload: [(errno.EPERM, "not yours")]
    with pytest.raises(OSError) as exc:
        flux.job.result(srv.h, JOBID)
    assert (exc.value.errno, exc.value.strerror) == (errno.EPERM, "not yours")


def test_result_then(srv):
    srv.answer = eventlog_answers(COMPLETED)
    seen = []
    flux.job.result_async(srv.h, JOBID).then(lambda f: seen.append(f.get_dict()["result"]))
    srv.h.reactor_run()
    assert seen == [FLUX_JOB_RESULT_COMPLETED]


# -- job-list, job-info -------------------------------------------------------------------


def job_record(**kw) -> dict:
    rec = {"id": JOBID, "userid": os.getuid(), "urgency": 16, "priority": 16,
           "t_submit": 1.0, "t_depend": 1.1, "t_run": 2.0, "t_cleanup": 3.0,
           "t_inactive": 3.3, "state": FLUX_JOB_STATE_INACTIVE, "name": "true",
           "ntasks": 1, "ncores": 1, "duration": 0.0, "nnodes": 1, "ranks": "0",
           "nodelist": "node0", "success": True, "exception_occurred": False,
           "result": FLUX_JOB_RESULT_COMPLETED, "waitstatus": 0, "expiration": 0.0}
    rec.update(kw)
    return rec


def test_job_list_request_matches_flux_core(srv):
    srv.answer = lambda topic, payload: [(0, {"jobs": [job_record()], "version": 1}),
                                         (0, {"jobs": [job_record(id=2)], "version": 1}),
                                         (errno.ENODATA, None)]
    jobs = flux.job.job_list(srv.h, max_entries=5, states=2, results=1, name="x", queue="q",
                             userid=0).get_jobs()
    assert [j["id"] for j in jobs] == [JOBID, 2]
    msg = srv.sent()[0]
    assert msg.topic == "job-list.list" and msg.flags & FLUX_MSGFLAG_STREAMING
    assert msg.payload_str == (
        '{"max_entries": 5, "attrs": ["all"], "since": 0.0, "constraint": {"and": '
        '[{"userid": [0]}, {"name": ["x"]}, {"queue": ["q"]}, {"or": [{"states": [2]}, '
        '{"results": [1]}]}]}}')


def test_job_list_version0_and_inactive(srv):
    srv.answer = lambda topic, payload: [(0, {"jobs": [job_record()]})]
    rpc = flux.job.job_list_inactive(srv.h, since=5.0, constraint={"name": ["a"]})
    assert [i.id for i in rpc.get_jobinfos()] == [JOBID]
    assert srv.sent()[0].payload_json() == {
        "max_entries": 1000, "attrs": ["all"], "since": 5.0,
        "constraint": {"and": [{"name": ["a"]}, {"states": [FLUX_JOB_STATE_INACTIVE]}]}}


def test_job_list_id_and_get_job(srv):
    def answer(topic, payload):
        if payload["id"] == JOBID:
            return [(0, {"job": job_record()})]
        return [(errno.ENOENT, None)]

    srv.answer = answer
    info = flux.job.job_list_id(srv.h, JOBID).get_jobinfo()
    assert srv.sent()[0].topic == "job-list.list-id"
    assert srv.sent()[0].payload_str == '{"id": 6559891456, "attrs": ["all"]}'
    assert (info.state, info.result, info.status, info.status_abbrev) == \
        ("INACTIVE", "COMPLETED", "COMPLETED", "CD")
    job = flux.job.get_job(srv.h, JOBID)
    assert job["jobid"] == JobID(JOBID).f58 and job["state"] == "INACTIVE"
    assert job["returncode"] == 0 and job["runtime"] == 1.0
    assert flux.job.get_job(srv.h, 99) is None


def test_joblist_class(srv):
    def answer(topic, payload):
        if topic == "job-list.list-id":
            if payload["id"] == JOBID:
                return [(0, {"job": job_record()})]
            return [(errno.ENOENT, None)]
        return [(0, {"jobs": [job_record()], "version": 1}), (errno.ENODATA, None)]

    srv.answer = answer
    jl = flux.job.JobList(srv.h, filters=["pending,running", "failed"], user="all")
    assert len(jl.jobs()) == 1
    constraint = srv.sent()[-1].payload_json()["constraint"]
    assert constraint == {"and": [{"or": [{"states": [14 | 48]}, {"results": [2]}]}]}
    jl = flux.job.JobList(srv.h, ids=[JOBID, 5])
    assert [j.id for j in jl.jobs()] == [JOBID]
    assert jl.errors == [f"JobID {JobID(5).orig} unknown"]
    with pytest.raises(ValueError, match="Invalid filter specified: bogus"):
        flux.job.JobList(srv.h, filters=["bogus"])
    assert flux.job.JobList(srv.h, user="0").userid == 0
    assert flux.job.JobList(srv.h).userid == os.getuid()


def test_job_info_lookup(srv):
    jobspec = JobspecV1.from_command(["x"], environment={"A": "1"})
    J = sign_none_wrap(jobspec.dumps().encode(), 0)

    def answer(topic, payload):
        if payload["id"] != JOBID:
            return [(errno.ENOENT, None)]
        out = {"id": JOBID}
        for key in payload["keys"]:
            out[key] = {"jobspec": '{"current": 1}', "R": '{"version": 1}', "J": J}[key]
        return [(0, out)]

    srv.answer = answer
    rpc = flux.job.job_info_lookup(srv.h, JOBID, keys=["R"])
    assert rpc.get() == {"id": JOBID, "R": '{"version": 1}'}
    assert srv.sent()[0].payload_str == '{"id": 6559891456, "keys": ["R"], "flags": 0}'
    assert rpc.get_decode()["R"] == {"version": 1}
    assert flux.job.job_kvs_lookup(srv.h, JOBID)["jobspec"] == {"current": 1}
    assert srv.sent()[-1].payload_json()["flags"] == 2
    orig = flux.job.job_kvs_lookup(srv.h, JOBID, original=True, base=True)
    assert orig["jobspec"] == jobspec.jobspec and "J" not in orig
    assert srv.sent()[-1].payload_json() == {"id": JOBID, "keys": ["J"], "flags": 0}
    assert flux.job.job_kvs_lookup(srv.h, 3) is None
    lookup = flux.job.JobKVSLookup(srv.h, ids=[JOBID, 3], keys=["R", "jobspec"], decode=False)
    assert lookup.data() == [{"id": JOBID, "R": '{"version": 1}', "jobspec": '{"current": 1}'}]
    assert lookup.errors == [f"JobID {JobID(3).orig} unknown"]


# -- timeleft -----------------------------------------------------------------------------


def test_timeleft_in_a_job(srv, monkeypatch):
    import time

    expiration = time.time() + 100

    def answer(topic, payload):
        assert topic == "job-list.list-id"
        return [(0, {"job": {"id": JOBID, "state": FLUX_JOB_STATE_RUN,
                             "expiration": expiration}})]

    srv.answer = answer
    monkeypatch.setenv("FLUX_JOB_ID", JobID(JOBID).f58)
    assert 90 < flux.job.timeleft(srv.h) <= 100
    assert srv.sent()[0].payload_bytes == b'{"id":6559891456,"attrs":["expiration","state"]}\0'
    srv.answer = lambda t, p: [(0, {"job": {"id": JOBID, "state": FLUX_JOB_STATE_INACTIVE}})]
    assert flux.job.timeleft(srv.h) == 0.0
    srv.answer = lambda t, p: [(0, {"job": {"id": JOBID, "state": FLUX_JOB_STATE_SCHED}})]
    with pytest.raises(OSError, match=r"job \S+ has not started"):
        flux.job.timeleft(srv.h)
    srv.answer = lambda t, p: [(errno.ENOENT, None)]
    with pytest.raises(OSError, match="no such jobid"):
        flux.job.timeleft(srv.h)
    monkeypatch.setenv("FLUX_JOB_ID", "bad")
    with pytest.raises(OSError, match="failed to parse jobid bad"):
        flux.job.timeleft(srv.h)


def test_timeleft_of_the_instance(srv, monkeypatch):
    monkeypatch.delenv("FLUX_JOB_ID", raising=False)
    srv.answer = lambda t, p: [(0, {"R": {"version": 1, "execution": {"R_lite": []}}})]
    assert flux.job.timeleft(srv.h) == float("inf")
    assert srv.sent()[0].topic == "resource.status"
    srv.answer = lambda t, p: [(errno.ENOSYS, None)]
    with pytest.raises(OSError, match="failed to get instance expiration"):
        flux.job.timeleft(srv.h)


# -- asyncio --------------------------------------------------------------------------------


def test_futures_are_awaitable(srv):
    def answer(topic, payload):
        if topic == "job-ingest.submit":
            return [(0, {"id": JOBID})]
        if topic == "job-manager.wait":
            return [(0, {"id": JOBID, "success": True, "errstr": ""})]
        if topic == "job-list.list":
            return [(0, {"jobs": [job_record(), job_record(id=2)], "version": 1}),
                    (errno.ENODATA, None)]
        if topic == "job-manager.raise":
            return [(0, None)]
        return eventlog_answers(COMPLETED)(topic, payload)

    srv.answer = answer

    async def main():
        jid = await flux.job.submit_async(srv.h, JobspecV1.from_command(["x"]))
        status = await flux.job.wait_async(srv.h, jid)
        info = await flux.job.result_async(srv.h, jid)
        names = [ev.name async for ev in flux.job.event_watch_async(srv.h, jid)]
        ids = [job["id"] async for job in flux.job.job_list(srv.h)]
        canceled = await flux.job.cancel_async(srv.h, jid)
        return jid, status, info.result, names, ids, canceled

    jid, status, result, names, ids, canceled = asyncio.run(main())
    assert jid == JOBID and type(jid) is JobID
    assert status.success is True
    assert result == "COMPLETED"
    assert names == [e["name"] for e in COMPLETED]
    assert ids == [JOBID, 2]
    assert canceled is None


# -- JobInfo --------------------------------------------------------------------------------


def test_jobinfo_derived_values():
    info = flux.job.JobInfo(job_record(state=FLUX_JOB_STATE_SCHED, result="", waitstatus="",
                                       urgency=0))
    assert (info.state, info.state_single, info.status, info.result) == \
        ("SCHED", "S", "SCHED", "")
    assert info.contextual_info == "held" and info.returncode == ""
    assert info.inactive_reason == ""
    info = flux.job.JobInfo(job_record(waitstatus=9, result=FLUX_JOB_RESULT_FAILED))
    assert info.returncode == -9 and info.inactive_reason == "Exit -9"
    info = flux.job.JobInfo(job_record(waitstatus=(137 << 8), result=FLUX_JOB_RESULT_FAILED))
    assert info.returncode == 137 and info.inactive_reason == "Killed"
    info = flux.job.JobInfo(job_record(
        result=FLUX_JOB_RESULT_FAILED, waitstatus="", exception_occurred=True,
        exception_type="exec", exception_severity=0, exception_note="nope"))
    assert info.returncode == 1
    info = flux.job.JobInfo(job_record(
        result=FLUX_JOB_RESULT_FAILED, exception_occurred=True, exception_type="oom",
        exception_severity=0, exception_note="mem"))
    assert info.inactive_reason == "Exception: type=oom note=mem"
    with pytest.raises(AttributeError, match="invalid JobInfo attribute 'bogus'"):
        info.bogus  # noqa: B018


@pytest.mark.skipif(os.getuid() != 0, reason="the capture was made as root (usernames)")
def test_jobinfo_matches_flux_core_capture():
    """The same JobInfo cases give flux-core's output, line for line (to_dict, filters,
    emoji, dependencies, contextual values, return codes, reasons, state names)."""
    data = Path(__file__).resolve().parents[1] / "data" / "job_api"
    env = dict(os.environ, TZ="UTC", LANG="C.UTF-8", PYTHONIOENCODING="utf-8")
    out = subprocess.run([sys.executable, str(data / "jobinfo_probe.py")], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out == (data / "jobinfo_flux_core.out").read_text()


def test_jobinfo_username_of_unknown_uid():
    assert flux.job.JobInfo({"id": 1, "userid": 4242424}).username == "4242424"
    assert FLUX_USERID_UNKNOWN == 0xFFFFFFFF


# -- FluxExecutor -----------------------------------------------------------------------------


class ExecutorServer(FakeServer):
    """A FakeServer whose far end is handed to an executor's worker (``handle_args``)."""

    def __init__(self) -> None:  # noqa: D107 - same as FakeServer without its own handle
        self.requests = []
        self.answer = lambda topic, payload: [(errno.ENOSYS, None)]
        self.lock = threading.Condition()
        mine, theirs = socket.socketpair()
        self.sock = mine
        self.sock.sendall(b"\0")
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        self.uri = f"fd://{theirs.detach()}"


def test_flux_executor():
    server = ExecutorServer()
    next_id = iter(range(100, 200))
    logs: dict = {}

    def answer(topic, payload):
        if topic == "job-ingest.submit":
            jobspec = json.loads(sign_none_unwrap(payload["J"])[0])
            command = jobspec["tasks"][0]["command"][0]
            if command == "bad":
                return [(errno.EINVAL, "bad jobspec")]
            jid = next(next_id)
            status = {"ok": 0, "fail": 3 << 8, "sig": 9}.get(command)
            if status is None:
                logs[jid] = COMPLETED[:3] + [
                    entry("exception", 1.5, type="cancel", severity=0, note="x"),
                    entry("clean", 1.6)]
            else:
                logs[jid] = COMPLETED[:5] + [entry("finish", 3.0, status=status)] \
                    + COMPLETED[6:]
            return [(0, {"id": jid})]
        if topic == "job-info.eventlog-watch":
            log = logs.get(payload["id"])
            if log is None:
                return [(errno.ENOENT, None)]
            return eventlog_answers(log)(topic, payload)
        return []

    server.answer = answer
    starts = []
    with flux.job.FluxExecutor(handle_args=(server.uri,), poll_interval=0.01) as executor:
        futs = {name: executor.submit(JobspecV1.from_command([name], environment={}))
                for name in ("ok", "fail", "sig", "cancel", "bad")}
        futs["ok"].add_event_callback("start", lambda f, ev: starts.append(ev.name))
        assert futs["ok"].result(timeout=10) == 0
        assert futs["fail"].result(timeout=10) == 3
        assert futs["sig"].result(timeout=10) == -9
        with pytest.raises(flux.job.JobException):
            futs["cancel"].result(timeout=10)
        with pytest.raises(OSError, match="bad jobspec"):
            futs["bad"].result(timeout=10)
        with pytest.raises(RuntimeError, match="could not be submitted"):
            futs["bad"].jobid()
        assert futs["ok"].jobid() == 100
        attached = executor.attach(100)
        assert attached.result(timeout=10) == 0 and attached.jobid() == 100
        unknown = executor.attach(5)
        with pytest.raises(ValueError, match="job ID does not match any job"):
            unknown.result(timeout=10)
        seen = []
        futs["ok"].add_event_callback("clean", lambda f, ev: seen.append(ev.name))
        futs["ok"].add_jobid_callback(lambda f: seen.append(f.jobid()))
    assert starts == ["start"] and seen == ["clean", 100]
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(JobspecV1.from_command(["ok"]))
    with pytest.raises(ValueError):
        futs["ok"].add_event_callback("nosuch", lambda f, ev: None)
    server.sock.shutdown(socket.SHUT_RDWR)
    server.thread.join(5)
    server.sock.close()

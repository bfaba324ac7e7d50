"""``flux queue`` and RFC 33 queues against pureflux instances.

Expected texts are what flux-core 0.88's ``flux queue`` and ``flux submit``
printed against an instance with the same configuration (checked by hand).
Jobs "run" in the test execution mode (``system.exec.test.run_duration``).
"""

from __future__ import annotations

import json
import shutil
import time

import pytest
from cmdhelpers import run_fails, run_ok
from conftest import short_tmpdir, start_instance

import flux

pytestmark = pytest.mark.timeout(90)

TEST_RUN = "--setattr=system.exec.test.run_duration=0.01s"
ON = "\033[01;32m ✔\033[0;0m"
OFF = "\033[01;31m ✗\033[0;0m"

CONFIG = """
[queues.batch]
[queues.debug]
requires = ["debug"]

[policy.jobspec.defaults.system]
queue = "batch"
duration = "1h"
"""


_ok, _fail = run_ok, run_fails


def _state(inst, jobid: str) -> str:
    return _ok(inst, "jobs", "-n", "-o", "{state}", jobid).strip()


def _wait_state(inst, jobid: str, state: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while _state(inst, jobid) != state:
        assert time.monotonic() < deadline, f"{jobid} never reached {state}"
        time.sleep(0.1)


@pytest.fixture
def queued(tmp_path):
    conf = tmp_path / "queues.toml"
    conf.write_text(CONFIG)
    with start_instance(args=("-c", str(conf))) as inst:
        yield inst


def test_anonymous_queue_stop_start_drain_idle(instance):
    inst = instance
    assert _ok(inst, "queue", "status") == (
        "Job submission is enabled\nScheduling is started\n")
    assert _ok(inst, "queue", "stop", "-m", "maintenance") == (
        "Scheduling is stopped: maintenance\n")
    jobid = _ok(inst, "submit", TEST_RUN, "true").strip()
    time.sleep(0.3)
    assert _state(inst, jobid) == "SCHED"  # held while the queue is stopped
    assert _ok(inst, "queue", "idle") == "1 jobs\n"
    assert _ok(inst, "queue", "idle", "--quiet") == "1 jobs\n"
    assert _fail(inst, "queue", "drain", "-t", "0.2s") == "flux-queue: ERROR: drain: timeout\n"
    assert _ok(inst, "queue", "status", "-v") == (  # a stopped queue's job is not queued
        "Job submission is enabled\nScheduling is stopped: maintenance\n"
        "0 alloc requests queued\n0 alloc requests pending to scheduler\n0 running jobs\n")
    assert _ok(inst, "queue", "start") == "Scheduling is started\n"
    assert _ok(inst, "queue", "drain", "-t", "20s") == ""
    assert _state(inst, jobid) == "INACTIVE"
    assert _ok(inst, "queue", "idle", "--quiet") == ""
    assert _ok(inst, "queue", "disable", "-m", "closed") == "Job submission is disabled: closed\n"
    r = inst.run("submit", "true")
    assert (r.returncode, r.stderr) == (
        1, "[Errno 22] job submission is disabled: closed\n")
    assert _ok(inst, "queue", "enable", "--quiet") == ""
    header, line = _ok(inst, "queue", "list").splitlines()
    assert header == " EN ST TDEFAULT   TLIMIT     NNODES     NCORES      NGPUS"
    assert line.startswith(f" {ON} {ON}      inf      inf        0-1 ")


def test_named_queues(queued):
    inst = queued
    lines = _ok(inst, "queue", "list").splitlines()
    assert lines[0] == "QUEUE    EN ST TDEFAULT   TLIMIT     NNODES     NCORES      NGPUS"
    assert lines[1].startswith(f"batch*   {ON} {OFF}       1h      inf        0-1 ")
    assert lines[2] == f"debug    {ON} {OFF}       1h      inf        0-0        0-0        0-0"
    assert _ok(inst, "queue", "list", "-n", "-q", "debug") == lines[2] + "\n"
    assert _fail(inst, "queue", "list", "-q", "nope") == "flux-queue: ERROR: No such queue: nope\n"
    assert _ok(inst, "queue", "status") == (
        "batch: Job submission is enabled\nbatch: Scheduling is stopped\n"
        "debug: Job submission is enabled\ndebug: Scheduling is stopped\n")
    assert _fail(inst, "queue", "stop") == (
        "flux-queue: ERROR: Named queues are defined. Specify queues or use --all.\n")
    assert _fail(inst, "queue", "enable", "nope") == (
        "flux-queue: ERROR: enable: 'nope' is not a valid queue\n")
    # the default queue and duration are applied at submission
    jobid = _ok(inst, "submit", TEST_RUN, "true").strip()
    system = json.loads(_ok(inst, "job", "info", jobid, "jobspec"))["attributes"]["system"]
    assert (system["queue"], system["duration"]) == ("batch", 3600.0)
    time.sleep(0.3)
    assert _state(inst, jobid) == "SCHED"
    assert _ok(inst, "queue", "start", "batch") == "batch: Scheduling is started\n"
    _wait_state(inst, jobid, "INACTIVE")
    # unknown and disabled queues are refused with flux-core's texts and errnos
    r = inst.run("submit", "--setattr=system.queue=nope", "true")
    assert r.stderr == "[Errno 1] Invalid queue 'nope' specified\n"
    assert _ok(inst, "queue", "disable", "-m", "going down", "debug") == (
        "debug: Job submission is disabled: going down\n")
    r = inst.run("submit", "--setattr=system.queue=debug", "true")
    assert r.stderr == ("[Errno 22] job submission to debug is "
                        "disabled: going down\n")
    with flux.Flux(inst.uri) as h:
        with pytest.raises(OSError) as exc:
            h.rpc("job-manager.queue-enable", {"enable": False, "all": True}).get()
        assert exc.value.errno == 22 and "reason is required for disable" in str(exc.value)
        with pytest.raises(OSError) as exc:
            h.rpc("job-manager.queue-start", {"start": True, "all": False}).get()
        assert "Use --all to apply this command to all queues" in str(exc.value)
        assert h.rpc("job-manager.queue-status", {"name": "debug"}).get() == {
            "enable": False, "start": False, "disable_reason": "going down"}
    assert _ok(inst, "queue", "stop", "--all", "-m", "why") == (
        "batch: Scheduling is stopped: why\ndebug: Scheduling is stopped: why\n")


def test_queue_state_survives_restart(tmp_path):
    conf = tmp_path / "queues.toml"
    conf.write_text(CONFIG)
    statedir = short_tmpdir()
    try:
        with start_instance(f"statedir={statedir}", args=("-c", str(conf))) as inst:
            _ok(inst, "queue", "start", "--all", "--quiet")
            _ok(inst, "queue", "stop", "-m", "kept", "batch", "--quiet")
            _ok(inst, "queue", "stop", "--nocheckpoint", "-m", "not kept", "debug", "--quiet")
            _ok(inst, "queue", "disable", "-m", "off", "debug", "--quiet")
            jobid = _ok(inst, "submit", TEST_RUN, "true").strip()
        with start_instance(f"statedir={statedir}", args=("-c", str(conf))) as inst:
            assert _ok(inst, "queue", "status") == (
                "batch: Job submission is enabled\nbatch: Scheduling is stopped: kept\n"
                "debug: Job submission is disabled: off\ndebug: Scheduling is started\n")
            time.sleep(0.3)
            assert _state(inst, jobid) == "SCHED"
            _ok(inst, "queue", "start", "batch")
            _wait_state(inst, jobid, "INACTIVE")
    finally:
        shutil.rmtree(statedir, ignore_errors=True)


def test_queue_requires_properties(tmp_path):
    """A queue's ``requires`` reaches the scheduler as a constraint: without the property
    in R the job is unsatisfiable (flux-core's text); with it (R from [resource] path)
    the job runs."""
    R = {"version": 1, "execution": {
        "R_lite": [{"rank": "0", "children": {"core": "0-1"}}], "starttime": 0.0,
        "expiration": 0.0, "nodelist": ["fakehost"], "properties": {"debug": "0"}}}
    (tmp_path / "R.json").write_text(json.dumps(R))
    plain = tmp_path / "plain.toml"
    plain.write_text(CONFIG)
    withR = tmp_path / "withR.toml"
    withR.write_text(CONFIG + f'\n[resource]\npath = "{tmp_path / "R.json"}"\n')
    with start_instance(args=("-c", str(plain))) as inst:
        _ok(inst, "queue", "start", "--all", "--quiet")
        jobid = _ok(inst, "submit", TEST_RUN, "--setattr=system.queue=debug", "true").strip()
        _wait_state(inst, jobid, "INACTIVE")
        log = _ok(inst, "job", "eventlog", jobid)
        assert ('exception type="alloc" severity=0 note="unsatisfiable request: need 1 '
                'slot(s) of 1 core(s), only 0 such slot(s) available (total cores: 0)"') in log
    with start_instance(args=("-c", str(withR))) as inst:
        _ok(inst, "queue", "start", "--all", "--quiet")
        jobid = _ok(inst, "submit", TEST_RUN, "--setattr=system.queue=debug", "true").strip()
        _wait_state(inst, jobid, "INACTIVE")
        assert _ok(inst, "jobs", "-n", "-o", "{result}", jobid) == "COMPLETED\n"


POLICY = """
[queues.batch]
policy.limits.duration = "2h"
policy.limits.job-size.max.ncores = 1
[queues.debug]
requires = ["debug"]
[policy.jobspec.defaults.system]
queue = "batch"
duration = "30m"
[policy.limits.job-size.min]
nnodes = 1
"""


def test_list_formats(tmp_path):
    conf = tmp_path / "policy.toml"
    conf.write_text(POLICY)
    with start_instance(args=("-c", str(conf))) as inst:
        lines = _ok(inst, "queue", "list").splitlines()
        assert lines[1] == f"batch*   {ON} {OFF}      30m       2h        1-1        0-1        0-0"
        assert lines[2] == f"debug    {ON} {OFF}      30m      inf        1-0        0-0        0-0"
        assert _ok(inst, "queue", "list", "-o", "policy").splitlines()[1:] == [
            f"batch*   {ON} {OFF}      30m       2h      1-inf        0-1      0-inf",
            f"debug    {ON} {OFF}      30m      inf      1-inf      0-inf      0-inf"]
        nodes = _ok(inst, "queue", "list", "-o", "nodes").splitlines()
        assert nodes[0] == "QUEUE    EN ST  NODES   NODES:UP NODES:DOWN NODES:ALLOC NODES:FREE"
        assert nodes[2] == f"debug    {ON} {OFF}      0          0          0           0          0"
        custom = _ok(inst, "queue", "list", "-o", "{queue} {submission} {scheduling} "
                     "{enabled.ascii} {limits.max.ncores} {limits.min.nnodes}").splitlines()
        assert custom == ["QUEUE SUBMIT SCHED EN MAXCORES MINNODES",
                          "batch enabled stopped y 1 1", "debug enabled stopped y inf 1"]
        assert _ok(inst, "queue", "list", "-o", "help").startswith(
            "\nConfigured flux-queue output formats:\n")
        assert _fail(inst, "queue", "list", "-o", "bogus") == (
            "flux-queue: ERROR: --format: No such format bogus (Did you mean '{bogus}'?)\n")

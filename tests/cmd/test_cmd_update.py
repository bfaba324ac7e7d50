"""``flux update``, ``job-manager.update`` and job-info's ``update-lookup`` /
``update-watch`` against pureflux instances; the texts are what flux-core 0.88 printed
for the same commands (checked by hand).
"""

from __future__ import annotations

import json
import shutil
import time

import pytest
from cmdhelpers import run_fails, run_ok
from conftest import short_tmpdir, start_instance

import flux
from flux.constants import FLUX_RPC_STREAMING
from flux.job.JobID import id_parse

pytestmark = pytest.mark.timeout(90)

CONFIG = "[queues.batch]\n[queues.debug]\n"
LONG_RUN = "--setattr=system.exec.test.run_duration=60s"


_ok, _err = run_ok, run_fails


def _events(inst, jobid: str) -> list[tuple[str, dict]]:
    out = []
    for line in _ok(inst, "job", "eventlog", "-f", "json", jobid).splitlines():
        entry = json.loads(line)
        out.append((entry["name"], entry.get("context", {})))
    return out


def _system(inst, jobid: str, *opts: str) -> dict:
    return json.loads(_ok(inst, "job", "info", *opts, jobid, "jobspec"))["attributes"]["system"]


@pytest.fixture
def queued(tmp_path):
    conf = tmp_path / "q.toml"
    conf.write_text(CONFIG)
    with start_instance(args=("-c", str(conf))) as inst:
        _ok(inst, "queue", "start", "--all", "--quiet")
        yield inst


def test_update_pending_job(queued):
    inst = queued
    jobid = _ok(inst, "submit", "--setattr=system.queue=batch", "--urgency=hold",
                "-t", "10m", "true").strip()
    assert _err(inst, "update", jobid, "name=foo") == (
        "flux-update: ERROR: update of attributes.system.job.name not supported\n")
    assert _ok(inst, "update", jobid, "duration=1h") == ""
    assert _ok(inst, "update", jobid, "duration=+10m") == ""
    assert _err(inst, "update", "-v", jobid, "queue=debug", rc=0) == (
        "flux-update: INFO: updated attributes.system.queue to debug\n")
    assert _err(inst, "update", jobid, "queue=debug") == (
        "flux-update: ERROR: job queue is already set to debug\n")
    assert _err(inst, "update", jobid, "queue=nope") == (
        "flux-update: ERROR: 'nope' is not a valid queue\n")
    assert _err(inst, "update", jobid, "urgency=3") == (
        "flux-update: ERROR: update of attributes.system.urgency not supported\n")
    assert _ok(inst, "update", "-n", jobid, "duration=1h", "name=x", "attributes.user.x=[1,2]") \
        == ('{"attributes.system.duration": 3600.0, "attributes.system.job.name": "x", '
            '"attributes.user.x": [1, 2]}\n')
    assert _ok(inst, "update", jobid, "duration=-1") == ""
    assert _err(inst, "update", jobid, "duration=-2h") == (
        f"flux-update: ERROR: current duration for {jobid} (1.166h) cannot be reduced by 2h\n")
    updates = [(n, c) for n, c in _events(inst, jobid) if n in ("jobspec-update", "priority")]
    assert updates[1:] == [
        ("jobspec-update", {"attributes.system.duration": 3600.0}), ("priority", {"priority": 0}),
        ("jobspec-update", {"attributes.system.duration": 4200.0}), ("priority", {"priority": 0}),
        ("jobspec-update", {"attributes.system.queue": "debug",
                            "attributes.system.constraints": {}}),
        ("priority", {"priority": 0}),
        ("jobspec-update", {"attributes.system.duration": 4199.0}), ("priority", {"priority": 0})]
    current, base = _system(inst, jobid), _system(inst, jobid, "-b")
    assert (current["duration"], current["queue"], current["constraints"]) == (4199.0, "debug", {})
    assert (base["duration"], base["queue"]) == (600.0, "batch")
    assert _ok(inst, "jobs", "-n", "-o", "{queue} {duration}", jobid) == "debug 4199.0\n"
    _ok(inst, "cancel", jobid)
    assert _err(inst, "update", jobid, "duration=1h") == "flux-update: ERROR: job is inactive\n"
    assert _err(inst, "update", "1234", "duration=1h") == "flux-update: ERROR: unknown job id\n"
    assert "invalid JobID value: 'x'" in _err(inst, "update", "x", "duration=1h", rc=2)
    with flux.Flux(inst.uri) as h:
        with pytest.raises(OSError) as exc:
            h.rpc("job-manager.update", {"id": 1, "updates": {"x": 1}}).get()
        assert (exc.value.errno, exc.value.strerror) == (
            22, "one or more jobspec updates are invalid")


def test_update_running_job_and_update_watch(instance):
    inst = instance
    jobid = _ok(inst, "submit", "-t", "10m", LONG_RUN, "true").strip()
    _ok(inst, "job", "wait-event", "-t", "20s", jobid, "start")
    with flux.Flux(inst.uri) as h:
        watch = h.rpc("job-info.update-watch", {"id": id_parse(jobid), "key": "R", "flags": 0},
                      flags=FLUX_RPC_STREAMING)
        first = watch.get()["R"]["execution"]
        watch.reset()
        assert first["expiration"] == pytest.approx(first["starttime"] + 600)
        assert _ok(inst, "update", jobid, "duration=1h") == ""
        second = watch.get()["R"]["execution"]
        watch.reset()
        assert second["expiration"] == pytest.approx(first["starttime"] + 3600)
        names = [n for n, _ in _events(inst, jobid)]
        assert names[names.index("jobspec-update") + 1] == "resource-update"
        R = json.loads(_ok(inst, "job", "info", jobid, "R"))
        assert R["execution"]["expiration"] == second["expiration"]
        base = json.loads(_ok(inst, "job", "info", "-b", jobid, "R"))
        assert base["execution"]["expiration"] == first["expiration"]
        looked = h.rpc("job-info.update-lookup", {"id": id_parse(jobid), "key": "R",
                                                  "flags": 0}).get()["R"]
        assert looked["execution"]["expiration"] == second["expiration"]
        assert _err(inst, "update", jobid, "queue=batch") == (
            "flux-update: ERROR: update of queue for running job not supported\n")
        assert _err(inst, "update", jobid, "duration=0.001s") == (
            "flux-update: ERROR: requested duration places job expiration in the past\n")
        _ok(inst, "cancel", jobid)
        with pytest.raises(OSError) as exc:
            watch.get()
        assert exc.value.errno == 61  # ENODATA: the job ended
        for payload, text in (({"key": "jobspec", "flags": 0},
                               "update-lookup unsupported key specified"),
                              ({"key": "R", "flags": 1},
                               "update-lookup request rejected with invalid flag")):
            with pytest.raises(OSError) as exc:
                h.rpc("job-info.update-lookup", dict(payload, id=id_parse(jobid))).get()
            assert exc.value.strerror == text
        with pytest.raises(OSError) as exc:
            h.rpc("job-info.update-watch", {"id": id_parse(jobid), "key": "eventlog",
                                            "flags": 0}, flags=FLUX_RPC_STREAMING).get()
        assert exc.value.strerror == "update-watch unsupported key specified"


def test_updates_survive_restart(tmp_path):
    conf = tmp_path / "q.toml"
    conf.write_text(CONFIG)
    statedir = short_tmpdir()
    try:
        with start_instance(f"statedir={statedir}", args=("-c", str(conf))) as inst:
            _ok(inst, "queue", "start", "batch", "--quiet")  # debug stays stopped
            jobid = _ok(inst, "submit", "--setattr=system.queue=batch", "--urgency=hold",
                        "true").strip()
            _ok(inst, "update", jobid, "queue=debug")
        with start_instance(f"statedir={statedir}", args=("-c", str(conf))) as inst:
            # the replayed job is in queue debug (stopped): it waits even when released
            _ok(inst, "job", "urgency", jobid, "default")
            time.sleep(0.3)
            assert _ok(inst, "jobs", "-n", "-o", "{state} {queue}", jobid) == "SCHED debug\n"
            assert _err(inst, "update", jobid, "queue=debug") == (
                "flux-update: ERROR: job queue is already set to debug\n")
    finally:
        shutil.rmtree(statedir, ignore_errors=True)

"""``flux job purge`` and the job-manager's purge of inactive jobs (flux-core 0.88's
texts, checked by hand against it): jobs leave the job-manager, job-list and the KVS,
stay gone after a restart, and the ``[job-manager]`` inactive limits purge by themselves.
"""

from __future__ import annotations

import shutil
import time

import pytest
from cmdhelpers import run_fails, run_ok
from conftest import short_tmpdir, start_instance

import flux

pytestmark = pytest.mark.timeout(90)

TEST_RUN = "--setattr=system.exec.test.run_duration=0.01s"


_ok, _fail = run_ok, run_fails


def _run_jobs(inst, n: int) -> list[str]:
    ids = [_ok(inst, "submit", TEST_RUN, "true").strip() for _ in range(n)]
    _ok(inst, "queue", "drain", "-t", "30s")
    return ids


def _listed(inst) -> int:
    return len(_ok(inst, "jobs", "-a", "-n", "-o", "{id}").split())


def test_purge_counts_limits_and_errors(instance):
    inst = instance
    ids = _run_jobs(inst, 5)
    assert _ok(inst, "job", "purge") == "use --force to purge 0 of 5 inactive jobs\n"
    assert _ok(inst, "job", "purge", "--num-limit=2") == (
        "use --force to purge 3 of 5 inactive jobs\n")
    assert _ok(inst, "job", "purge", "--num-limit=2", "--force", "--batch=2") == (
        "purged 3 inactive jobs, 2 remaining\n")
    assert _listed(inst) == 2
    # the oldest went: their KVS directories too
    # never looked up before its purge: flux-core's job-info says the id is invalid
    assert _fail(inst, "job", "info", ids[0], "eventlog") == "flux-job: invalid job id\n"
    assert _fail(inst, "job", "info", ids[1], "R") == "flux-job: invalid job id\n"
    assert _fail(inst, "job", "info", "123", "R") == "flux-job: invalid job id\n"
    assert _ok(inst, "job", "info", ids[4], "eventlog")
    assert _fail(inst, "job", "purge", "--batch=0") == (
        "flux-job: purge: batch must be >= 1 and <= 100\n")
    assert _fail(inst, "job", "purge", "--num-limit=-3") == (
        "flux-job: purge: if set, num limit must be >= 0\n")
    held = _ok(inst, "submit", "--urgency=hold", "true").strip()
    assert _fail(inst, "job", "purge", held) == "flux-job: purge: cannot purge active job\n"
    assert _fail(inst, "job", "purge", "123") == "flux-job: purge: id not found\n"
    assert _ok(inst, "job", "purge", ids[3]) == "use --force to purge 1 of 2 inactive jobs\n"
    assert _ok(inst, "job", "purge", "-f", ids[3]) == "purged 1 inactive jobs, 1 remaining\n"
    assert _ok(inst, "job", "purge", "--age-limit=1h", "--force") == (
        "purged 0 inactive jobs, 1 remaining\n")
    assert _ok(inst, "job", "purge", "--age-limit=0", "-f") == (
        "purged 1 inactive jobs, 0 remaining\n")
    assert _listed(inst) == 1  # the held job
    with flux.Flux(inst.uri) as h:
        assert h.rpc("job-manager.stats-get").get()["inactive_jobs"] == 0
        with pytest.raises(OSError) as exc:
            h.rpc("job-manager.purge", {"age_limit": -2.0, "num_limit": -1, "batch": 1,
                                        "force": False}).get()
        assert "if set, age limit must be >= 0" in str(exc.value)


def test_purged_jobs_stay_gone_after_restart():
    statedir = short_tmpdir()
    try:
        with start_instance(f"statedir={statedir}") as inst:
            ids = _run_jobs(inst, 3)
            assert _ok(inst, "job", "purge", "-f", "--num-limit=0") == (
                "purged 3 inactive jobs, 0 remaining\n")
        with start_instance(f"statedir={statedir}") as inst:
            assert _listed(inst) == 0
            with flux.Flux(inst.uri) as h:
                assert h.rpc("job-manager.stats-get").get()["inactive_jobs"] == 0
            new = _ok(inst, "submit", "--urgency=hold", "true").strip()
            from flux.job.JobID import id_parse

            assert id_parse(new) > id_parse(ids[-1])  # the checkpoint kept max_jobid
    finally:
        shutil.rmtree(statedir, ignore_errors=True)


def test_configured_inactive_num_limit(tmp_path):
    conf = tmp_path / "jm.toml"
    conf.write_text("[job-manager]\ninactive-num-limit = 2\n")
    with start_instance(args=("-c", str(conf))) as inst:
        _run_jobs(inst, 4)
        deadline = time.monotonic() + 20
        while _listed(inst) != 2:
            assert time.monotonic() < deadline, "inactive jobs were not purged"
            time.sleep(0.2)
        with flux.Flux(inst.uri) as h:
            assert h.rpc("job-manager.stats-get").get()["inactive_jobs"] == 2

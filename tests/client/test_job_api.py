"""flux.job against a pureflux instance: submit, wait, cancel, kill, list, job KVS, results.

Jobs are test jobs (``attributes.system.exec.test``): the instance's test
execution service "runs" them for ``run_duration`` and ends them with
``wait_status``, no process started.  Tests share one broker; each uses its
own jobs.
"""

from __future__ import annotations

import asyncio
import errno
import time

import pytest

import flux
import flux.job
from flux.constants import (
    FLUX_JOB_RESULT_CANCELED,
    FLUX_JOB_RESULT_COMPLETED,
    FLUX_JOB_RESULT_FAILED,
    FLUX_JOB_STATE_INACTIVE,
)
from flux.job import JobID, JobspecV1

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def h(shared_instance):
    with flux.Flux(shared_instance.uri) as handle:
        yield handle


def test_job(command="true", run="0.01s", status=0, **kwargs) -> JobspecV1:
    """A test job that 'runs' ``run`` and exits with wait status ``status``."""
    js = JobspecV1.from_command([command], environment={}, **kwargs)
    test = {"run_duration": run, "wait_status": status}
    js.setattr("system.exec.test", test)
    return js


test_job.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def wait_inactive(h, jobid, timeout=10.0) -> dict:
    """job-list's record once the job is inactive."""
    deadline = time.monotonic() + timeout
    while True:
        job = flux.job.job_list_id(h, jobid).get_job()
        if job["state"] == FLUX_JOB_STATE_INACTIVE or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_submit_and_wait(h):
    jobid = flux.job.submit(h, test_job(), waitable=True)
    assert type(jobid) is JobID and jobid > 0
    status = flux.job.wait(h, jobid)
    assert status == (jobid, True, b"")


def test_wait_reports_failure(h):
    jobid = flux.job.submit(h, test_job(status=2 << 8), waitable=True)
    status = flux.job.wait_async(h, jobid).get_status()
    assert status.jobid == jobid and status.success is False
    assert status.errstr == b"task(s) exited with exit code 2"


def test_wait_of_a_job_not_waitable(h):
    jobid = flux.job.submit(h, test_job())
    with pytest.raises(OSError) as exc:
        flux.job.wait(h, jobid)
    assert exc.value.errno == errno.ECHILD


def test_held_job_canceled_and_waited(h):
    """A held job (urgency 0) is accepted, canceled, waited for; it cannot be killed."""
    jobid = flux.job.submit(h, test_job(), urgency=0, waitable=True)
    assert type(jobid) is JobID
    flux.job.cancel(h, jobid, "held")
    status = flux.job.wait(h, jobid)
    assert status.jobid == jobid and status.success is False
    assert b"cancel" in status.errstr
    with pytest.raises(OSError) as exc:
        flux.job.kill(h, jobid)
    assert exc.value.errno == errno.EINVAL


def test_submit_refused(h):
    with pytest.raises(OSError) as exc:
        flux.job.submit(h, '{"version": 1}')
    assert exc.value.errno == errno.EINVAL and exc.value.strerror


def test_cancel_pending_job(h):
    jobid = flux.job.submit(h, test_job(), urgency=0)
    flux.job.cancel(h, jobid, "not today")
    job = wait_inactive(h, jobid)
    assert job["result"] == FLUX_JOB_RESULT_CANCELED
    info = flux.job.JobInfo(job)
    assert info.result == "CANCELED" and info.returncode == -128
    assert info.inactive_reason == "Canceled: not today"


def test_kill_and_raise_errors(h):
    jobid = flux.job.submit(h, test_job(), urgency=0)
    with pytest.raises(OSError) as exc:
        flux.job.kill(h, jobid, 15)  # not running
    assert exc.value.errno == errno.EINVAL
    flux.job.job_raise(h, jobid, "test", 0, "a note")
    job = wait_inactive(h, jobid)
    assert (job["result"], job["exception_type"], job["exception_note"]) == \
        (FLUX_JOB_RESULT_FAILED, "test", "a note")
    with pytest.raises(OSError) as exc:
        flux.job.cancel(h, jobid)
    assert (exc.value.errno, exc.value.strerror) == (errno.ENOENT, "job is inactive")


def test_kill_then_cancel_running_job(h):
    """A kill is accepted for a running job (job-manager publishes it to the job's
    shell; a test job has none, as in flux-core), a cancel ends the job."""
    jobid = flux.job.submit(h, test_job(run="0"), waitable=True)
    deadline = time.monotonic() + 10
    while flux.job.job_list_id(h, jobid).get_job()["state"] != 16:  # RUN
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert flux.job.kill(h, jobid, 9) is None
    assert flux.job.cancel_async(h, jobid).get() is None
    status = flux.job.wait(h, jobid)
    assert status.success is False and status.errstr


def test_job_list_and_get_job(h):
    jobid = flux.job.submit(h, test_job(name="listed"))
    wait_inactive(h, jobid)
    ids = [job["id"] for job in flux.job.job_list(h, name="listed").get_jobs()]
    assert jobid in ids
    job = flux.job.get_job(h, jobid)
    assert job["name"] == "listed" and job["result"] == "COMPLETED"
    assert job["jobid"] == jobid.f58 and job["returncode"] == 0
    assert flux.job.get_job(h, 12345) is None
    jobs = flux.job.JobList(h, filters=["completed"], name="listed").jobs()
    assert [j.id for j in jobs] == [jobid] and jobs[0].status_abbrev == "CD"
    listing = flux.job.JobList(h, ids=[jobid, 12345])
    assert [j.id for j in listing.jobs()] == [jobid]
    assert listing.errors == [f"JobID {JobID(12345).orig} unknown"]
    inactive = flux.job.job_list_inactive(h).get_jobinfos()
    assert jobid in [j.id for j in inactive]


def test_job_kvs(h):
    jobid = flux.job.submit(h, test_job())
    wait_inactive(h, jobid)
    directory = flux.job.job_kvs(h, jobid)
    assert {"J", "jobspec", "eventlog", "R"} <= set(directory.keys())
    assert directory["jobspec"]["tasks"][0]["command"] == ["true"]
    assert flux.job.job_kvs_guest(h, jobid) is not None


def test_asyncio(h):
    async def main():
        jobid = await flux.job.submit_async(h, test_job(), waitable=True)
        status = await flux.job.wait_async(h, jobid)
        records = [job async for job in flux.job.job_list(h, max_entries=2)]
        return jobid, status, records

    jobid, status, records = asyncio.run(main())
    assert status.jobid == jobid and status.success
    assert len(records) == 2


# -- needing job-info ------------------------------------------------------------------------


def test_event_watch_and_result(h):
    jobid = flux.job.submit(h, test_job())
    names = [event.name for event in flux.job.event_watch(h, jobid)]
    assert names[0] == "submit" and names[-1] == "clean"
    assert {"alloc", "start", "finish", "free"} <= set(names)
    assert flux.job.event_wait(h, jobid, "finish").context["status"] == 0
    info = flux.job.result(h, jobid)
    assert info.result_id == FLUX_JOB_RESULT_COMPLETED and info.returncode == 0


def test_cancel_of_an_ended_watch_spares_the_request_that_took_its_tag(h):
    """A watch whose stream has ended freed its matchtag; a request made since may
    have it.  Cancelling the ended watch sends nothing, so that request goes on (the
    cancel ended ``flux job attach``'s exec watch of an inactive flux-core job)."""
    jobid = flux.job.submit(h, test_job())
    wait_inactive(h, jobid)
    running = flux.job.submit(h, test_job(run="60s"))
    flux.job.event_wait(h, running, "start")
    h2 = flux.Flux(h.attr_get("local-uri"))  # nothing else of its own in flight
    main = flux.job.event_watch_async(h2, jobid)
    while main.get_event() is not None:
        pass
    tag = main._s.get_matchtag()
    other = flux.job.event_watch_async(h2, running)
    assert other._s.get_matchtag() == tag  # the freed tag, taken again
    main.cancel()
    assert other.get_event().name == "submit"
    flux.job.cancel(h, running)
    names = ["submit"]
    while (event := other.get_event()) is not None:
        names.append(event.name)
    assert names[-1] == "clean" and "exception" in names
    del other, main, h2


def test_event_wait_raises_job_exception(h):
    jobid = flux.job.submit(h, test_job(), urgency=0)
    flux.job.cancel(h, jobid, "stop")
    with pytest.raises(flux.job.JobException) as exc:
        flux.job.event_wait(h, jobid, "start")
    assert exc.value.type == "cancel" and exc.value.note == "stop"
    assert flux.job.result(h, jobid).result == "CANCELED"


def test_job_info_lookup(h):
    js = test_job()
    jobid = flux.job.submit(h, js)
    wait_inactive(h, jobid)
    data = flux.job.job_info_lookup(h, jobid, keys=["jobspec", "R"]).get_decode()
    assert data["jobspec"]["tasks"] == js.tasks and "execution" in data["R"]
    original = flux.job.job_kvs_lookup(h, jobid, original=True)
    assert original["jobspec"] == js.jobspec


def test_async_event_watch(h):
    async def main():
        jobid = await flux.job.submit_async(h, test_job())
        names = [ev.name async for ev in flux.job.event_watch_async(h, jobid)]
        info = await flux.job.result_async(h, jobid)
        return names, info

    names, info = asyncio.run(main())
    assert names[-1] == "clean" and info.result == "COMPLETED"


def test_flux_executor(shared_instance):
    with flux.job.FluxExecutor(handle_args=(shared_instance.uri,), poll_interval=0.01) as ex:
        good = ex.submit(test_job())
        failing = ex.submit(test_job(status=3 << 8))
        assert good.result(timeout=20) == 0
        assert failing.result(timeout=20) == 3
        assert good.jobid() > 0

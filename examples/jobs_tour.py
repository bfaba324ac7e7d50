"""Jobs from Python (docs/guide/jobs.md): ``flux start python3 examples/jobs_tour.py``."""

import asyncio

import flux
import flux.job


def one_job(h):
    spec = flux.job.JobspecV1.from_command(["sh", "-c", "exit 2"])
    spec.cwd = "/tmp"
    jobid = flux.job.submit(h, spec, waitable=True)
    result = flux.job.wait(h, jobid)
    print(jobid, "success:", result.success, result.errstr.decode())
    print("events:", [event.name for event in flux.job.event_watch(h, jobid)])


async def many_jobs(h, n=5):
    spec = flux.job.JobspecV1.from_command(["true"])
    ids = await asyncio.gather(*(flux.job.submit_async(h, spec, waitable=True)
                                 for _ in range(n)))
    results = [await flux.job.wait_async(h, jobid) for jobid in ids]
    print(f"{sum(r.success for r in results)} of {n} jobs succeeded")


def executor():
    with flux.job.FluxExecutor() as ex:
        futures = [ex.submit(flux.job.JobspecV1.from_command(["true"])) for _ in range(3)]
        print("executor exit codes:", [f.result() for f in futures])


if __name__ == "__main__":
    handle = flux.Flux()
    one_job(handle)
    asyncio.run(many_jobs(handle))
    executor()

#!/usr/bin/env python3
"""Jobs: throughput of many small jobs, one job's latency, and `flux jobs -a` on a long history.

Usage: python bench/jobs.py [--runs R] [--jobs N] [--latency-count L] [--history H]
                            [--megabytes M] [--lines L] [--test-exec] [--parts abcdef]

One pureflux broker (``flux broker``, its own rundir and statedir), and:

(a) throughput: N (200) ``true`` jobs submitted at once (``submit_async``, all
    in flight) and each waited for (``flux.job.wait``, waitable jobs), against
    the floor of the same Python running ``subprocess.run(["true"])`` N times
    in a row, just before and just after (averaged); the ratio is jobs/s over
    the floor's runs/s, target >= 0.1;
(b) the latency of one ``true`` job, from submit to its ``wait`` answer
    (INACTIVE), one job at a time (no floor: reported);
(c) ``flux jobs -a`` with H (10,000) inactive jobs in the instance: the
    command's wall time, output to a pipe (no floor: reported): the default
    listing (flux-core's default count, 1000), all of them (``-c 0``), and
    ``-c 1`` to show what start-up alone costs.

(d) ``flux run true``: the command's wall time, against ``python3 -c pass``
    (issue 13's target: within 5x);
(e) output throughput: one task writing M (100) MB to stdout, read by
    ``flux run`` into a pipe, against ``cat`` of the same bytes through a pipe
    (reported);
(f) many short lines: one task printing L (200,000) lines (``seq L``), read by
    ``flux run`` into a pipe, in lines/s, against ``seq L`` itself through a
    pipe (reported: one eventlog entry, one KVS append share and one response
    per line, as flux-core carries them).

``--test-exec`` runs every job in the job-exec service's test mode
(``system.exec.test.run_duration=1ms``: no process started; 0 would mean
"until killed", as in flux-core), to separate the job services' own cost
from the cost of starting job shells and tasks.  The
jobs of (c) always use the test mode: the figure is about listing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _harness import Procs  # noqa: E402

import flux  # noqa: E402
import flux.job  # noqa: E402


def jobspec(test_exec: bool) -> str:
    """The text of a one-task ``true`` jobspec, built once and reused."""
    js = flux.job.JobspecV1.from_command(["true"])
    js.cwd = os.getcwd()
    js.environment = dict(os.environ)
    if test_exec:
        js.setattr("system.exec.test.run_duration", "1ms")
    return js.dumps()


def floor_true(count: int) -> float:
    """Seconds for ``count`` sequential ``subprocess.run(["true"])``."""
    t0 = time.perf_counter()
    for _ in range(count):
        subprocess.run(["true"], check=True)
    return time.perf_counter() - t0


def jobs_at_once(h: flux.Flux, spec: str, count: int) -> float:
    """Seconds from the first submit to the last ``wait`` answer of ``count`` jobs."""
    t0 = time.perf_counter()
    futs = [flux.job.submit_async(h, spec, waitable=True) for _ in range(count)]
    ids = [f.get_id() for f in futs]
    waits = [flux.job.wait_async(h, jid) for jid in ids]
    for w in waits:
        ok = w.get_status()
        if not ok.success:
            raise RuntimeError(f"job {ok.jobid}: {ok.errstr}")
    return time.perf_counter() - t0


def one_job(h: flux.Flux, spec: str) -> float:
    """Seconds from submit to the ``wait`` answer of one job."""
    t0 = time.perf_counter()
    jid = flux.job.submit(h, spec, waitable=True)
    res = flux.job.wait(h, jid)
    if not res.success:
        raise RuntimeError(f"job {jid}: {res.errstr}")
    return time.perf_counter() - t0


def spread(vals: list[float], scale: float = 1.0, fmt: str = "{:.1f}") -> str:
    return (fmt.format(statistics.median(vals) * scale) + " ["
            + fmt.format(min(vals) * scale) + ".." + fmt.format(max(vals) * scale) + "]")


def part_a(h: flux.Flux, spec: str, args: argparse.Namespace) -> None:
    print(f"(a) {args.jobs} `true` jobs submitted at once and waited for, vs {args.jobs} "
          "sequential subprocess.run(['true'])")
    jobs_at_once(h, spec, min(20, args.jobs))  # warm-up
    floor_true(10)
    rates, floors, ratios = [], [], []
    for _ in range(args.runs):
        # the floor is measured just before and just after the subject and averaged, so
        # that a machine whose speed drifts (shared hosts do) weighs on both alike
        before = floor_true(args.jobs)
        subject = jobs_at_once(h, spec, args.jobs)
        after = floor_true(args.jobs)
        rate, floor = args.jobs / subject, 2 * args.jobs / (before + after)
        rates.append(rate)
        floors.append(floor)
        ratios.append(rate / floor)
    print(f"  jobs/s                      {spread(rates, fmt='{:.0f}')}")
    print(f"  floor: true runs/s          {spread(floors, fmt='{:.0f}')}")
    print(f"  ratio jobs/s / floor        {spread(ratios, fmt='{:.3f}')}   (target >= 0.1)")


def part_b(h: flux.Flux, spec: str, args: argparse.Namespace) -> None:
    print(f"(b) one `true` job, submit to INACTIVE ({args.latency_count} jobs in turn, "
          f"{args.runs} runs)")
    one_job(h, spec)
    runs, allv = [], []
    for _ in range(args.runs):
        v = [one_job(h, spec) for _ in range(args.latency_count)]
        runs.append(statistics.median(v))
        allv.extend(v)
    allv.sort()
    print(f"  latency                     {spread(runs, 1e3, '{:.2f}')} ms  "
          f"(p10 {allv[len(allv) // 10] * 1e3:.2f}, p90 {allv[len(allv) * 9 // 10] * 1e3:.2f})")


def part_c(h: flux.Flux, procs: Procs, uri: str, args: argparse.Namespace) -> None:
    print(f"(c) `flux jobs -a` with {args.history} inactive jobs")
    spec = jobspec(True)
    t0 = time.perf_counter()
    left = args.history
    while left:
        n = min(500, left)
        for f in [flux.job.submit_async(h, spec, waitable=True) for _ in range(n)]:
            f.get_id()
        left -= n
    for _ in range(args.history):
        flux.job.wait(h)
    made = time.perf_counter() - t0
    print(f"  ({args.history} test-mode jobs submitted and ended in {made:.1f} s: "
          f"{args.history / made:.0f} jobs/s)")
    env = procs.broker_env(uri[len("local://"):])

    def timed(cmd: list[str]) -> tuple[float, int]:
        t = time.perf_counter()
        out = subprocess.run(cmd, env=env, capture_output=True, check=True).stdout
        return time.perf_counter() - t, out.count(b"\n")

    lines = 0
    lines_all = 0
    full, every, small = [], [], []
    for _ in range(args.runs):
        dt, lines = timed([procs.flux, "jobs", "-a"])
        full.append(dt)
        dt, lines_all = timed([procs.flux, "jobs", "-a", "-c", "0"])
        every.append(dt)
        small.append(timed([procs.flux, "jobs", "-a", "-c", "1"])[0])
    print(f"  flux jobs -a ({lines} lines)        {spread(full, 1e3, '{:.0f}')} ms")
    print(f"  flux jobs -a -c 0 ({lines_all} lines)  {spread(every, 1e3, '{:.0f}')} ms")
    print(f"  flux jobs -a -c 1                {spread(small, 1e3, '{:.0f}')} ms")


def part_d(procs: Procs, uri: str, args: argparse.Namespace) -> None:
    print(f"(d) `flux run true` wall time vs `python3 -c pass` ({args.runs} runs of 5 each)")
    env = procs.broker_env(uri[len("local://"):])

    def timed(cmd: list[str]) -> float:
        t = time.perf_counter()
        subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=True)
        return time.perf_counter() - t

    timed([procs.flux, "run", "true"])
    runs, floors, ratios = [], [], []
    for _ in range(args.runs):
        floor = statistics.median(timed([sys.executable, "-c", "pass"]) for _ in range(5))
        subject = statistics.median(timed([procs.flux, "run", "true"]) for _ in range(5))
        runs.append(subject)
        floors.append(floor)
        ratios.append(subject / floor)
    print(f"  flux run true               {spread(runs, 1e3, '{:.1f}')} ms")
    print(f"  floor: python3 -c pass      {spread(floors, 1e3, '{:.1f}')} ms")
    print(f"  ratio                       {spread(ratios, fmt='{:.2f}')}   (target <= 5)")


def part_e(procs: Procs, uri: str, args: argparse.Namespace) -> None:
    mb = args.megabytes
    print(f"(e) one task writing {mb} MB to stdout, read by `flux run` through a pipe")
    env = procs.broker_env(uri[len("local://"):])
    path = os.path.join(procs.tmp, "payload")
    with open(path, "wb") as f:
        chunk = (b"0123456789abcdef" * 64 + b"\n") * 1024
        for _ in range(mb * (1 << 20) // len(chunk) + 1):
            f.write(chunk)
    size = os.path.getsize(path)

    def rate(cmd: list[str]) -> float:
        t = time.perf_counter()
        out = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                             check=True).stdout
        dt = time.perf_counter() - t
        if len(out) != size:
            raise RuntimeError(f"{cmd[0]}: {len(out)} bytes of {size}")
        return size / dt / 1e6

    runs = max(1, args.runs // 2)
    subject = [rate([procs.flux, "run", "cat", path]) for _ in range(runs)]
    floor = [rate(["cat", path]) for _ in range(runs)]
    print(f"  flux run cat FILE           {spread(subject, fmt='{:.1f}')} MB/s")
    print(f"  floor: cat FILE             {spread(floor, fmt='{:.0f}')} MB/s")


def part_f(procs: Procs, uri: str, args: argparse.Namespace) -> None:
    n = args.lines
    print(f"(f) one task printing {n:,} short lines (`seq {n}`), read by `flux run` through a pipe")
    env = procs.broker_env(uri[len("local://"):])
    expect = "".join(f"{i}\n" for i in range(1, n + 1)).encode()

    def rate(cmd: list[str]) -> float:
        t = time.perf_counter()
        out = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                             check=True).stdout
        dt = time.perf_counter() - t
        if out != expect:
            raise RuntimeError(f"{cmd[0]}: {len(out)} bytes, not the {len(expect)} expected")
        return n / dt

    runs = max(1, args.runs // 2)
    subject = [rate([procs.flux, "run", "seq", str(n)]) for _ in range(runs)]
    floor = [rate(["seq", str(n)]) for _ in range(runs)]
    ratios = [s / f for s, f in zip(subject, floor)]
    print(f"  flux run seq N              {spread(subject, 1e-3, '{:.0f}')}k lines/s")
    print(f"  floor: seq N                {spread(floor, 1e-3, '{:.0f}')}k lines/s")
    print(f"  ratio                       {spread(ratios, fmt='{:.4f}')}   (reported)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=200, help="jobs of (a)")
    ap.add_argument("--latency-count", type=int, default=20, help="jobs per run of (b)")
    ap.add_argument("--history", type=int, default=10000, help="inactive jobs of (c)")
    ap.add_argument("--test-exec", action="store_true",
                    help="run jobs in job-exec's test mode (no processes) for (a) and (b)")
    ap.add_argument("--megabytes", type=int, default=100, help="output of (e)")
    ap.add_argument("--lines", type=int, default=200000, help="output lines of (f)")
    ap.add_argument("--parts", default="abcdef", help="the figures to measure (default abcdef)")
    args = ap.parse_args()

    with Procs() as procs:
        statedir = os.path.join(procs.tmp, "state")
        bpath = procs.broker([f"statedir={statedir}"])
        uri = f"local://{bpath}"
        h = flux.Flux(uri)
        spec = jobspec(args.test_exec)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
              f"{'test-mode execution' if args.test_exec else 'real execution'}; "
              f"median [min..max] of {args.runs} runs")
        if "a" in args.parts:
            part_a(h, spec, args)
        if "b" in args.parts:
            part_b(h, spec, args)
        if "c" in args.parts:
            part_c(h, procs, uri, args)
        if "d" in args.parts:
            part_d(procs, uri, args)
        if "e" in args.parts:
            part_e(procs, uri, args)
        if "f" in args.parts:
            part_f(procs, uri, args)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)

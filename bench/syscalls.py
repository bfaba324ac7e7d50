#!/usr/bin/env python3
"""System calls the broker makes per request, under load and one request at a time.

Usage: python bench/syscalls.py [--seconds S] [--clients C] [--window W] [-S NAME=VALUE]

Counts the broker process's system calls with ``perf stat`` on the syscall
tracepoints (needs perf and the right to trace: root, or
kernel.perf_event_paranoid <= -1).  Not ``strace -c``: it slows every system
call so much that the broker reads bigger batches than it does untraced, and the
counts (and even the throughput) are no longer the broker's own.

  (a) ``broker.ping``, C client processes x W requests in flight (raw frames);
  (b) ``echo.echo`` served by examples/echo.py, the same load;
  (c) ``broker.ping`` with one ``flux.Flux`` client, one request at a time.

Prints requests/s and, per request: the broker's CPU time (from
/proc/PID/task/*/schedstat: on a shared machine the rate says little, the CPU
per request much more), all system calls, recvfrom, sendto, epoll_wait,
sched_yield (the spin's).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from _harness import SPIN_US, Procs  # noqa: E402
from spin import cpu_ns  # noqa: E402

import flux  # noqa: E402

PING = ("broker.ping", {"seq": 0, "pad": "p" * 64, "time.tv_sec": 0, "time.tv_nsec": 0})
ECHO = ("echo.echo", {"seq": 0, "time.tv_sec": 0, "time.tv_nsec": 0, "pad": ""})
EVENTS = ["raw_syscalls:sys_enter", "syscalls:sys_enter_recvfrom", "syscalls:sys_enter_sendto",
          "syscalls:sys_enter_epoll_wait", "syscalls:sys_enter_sched_yield"]
NAMES = ["all", "recvfrom", "sendto", "epoll_wait", "sched_yield"]


def counted(pid: int, work) -> tuple[float, dict[str, int]]:
    """Run ``work()`` (returns a request count) while perf counts ``pid``'s system calls."""
    out = f"/tmp/pf-bench-syscalls-{os.getpid()}.csv"
    perf = subprocess.Popen(["perf", "stat", "-x", ",", "-o", out, "-e", ",".join(EVENTS),
                             "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)  # perf attached
    try:
        c0 = cpu_ns([pid])
        n = work()
        cpu = cpu_ns([pid]) - c0
    finally:
        perf.send_signal(signal.SIGINT)
        perf.wait()
    counts = {}
    with open(out) as f:
        for line in f:
            fields = line.strip().split(",")
            if len(fields) > 2 and fields[2] in EVENTS:
                counts[NAMES[EVENTS.index(fields[2])]] = int(fields[0]) if fields[0].isdigit() else 0
    os.unlink(out)
    counts["cpu_ns"] = cpu
    return n, counts


def report(label: str, n: float, seconds: float, counts: dict[str, int]) -> None:
    per = "  ".join(f"{k} {counts.get(k, 0) / n:.3f}" for k in NAMES)
    print(f"  {label:<44} {n / seconds:8.0f} req/s;  per request: broker CPU "
          f"{counts['cpu_ns'] / n / 1e3:.2f} us, syscalls {per}")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--count", type=int, default=5000, help="sequential requests in (c)")
    ap.add_argument("-S", action="append", default=[], help="broker attribute NAME=VALUE")
    args = ap.parse_args(argv)
    if shutil.which("perf") is None:
        print("bench/syscalls.py: perf is not installed", file=sys.stderr)
        return 1
    with Procs("pf-bench-syscalls-") as procs:
        path = procs.broker(args.S)
        pid = procs.brokers[-1][0].pid
        subprocess.run([procs.flux, "module", "load", os.path.join(REPO, "examples", "echo.py")],
                       env=procs.broker_env(path), check=True)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; broker attributes "
              f"{args.S or 'default'}; clients spin {SPIN_US:g} us")
        for label, (topic, payload) in (("(a) broker.ping", PING), ("(b) echo.echo (module)", ECHO)):
            def load(topic=topic, payload=payload) -> float:
                return procs.throughput(path, topic, payload, args.clients, args.window,
                                        args.seconds, SPIN_US) * args.seconds
            n, counts = counted(pid, load)
            report(f"{label}, {args.clients} x {args.window} in flight", n, args.seconds, counts)
        h = flux.Flux(f"local://{path}")

        def sequential(h: flux.Flux = h) -> float:
            for _ in range(args.count):
                h.rpc(*PING).get()
            return float(args.count)

        t0 = time.perf_counter()
        n, counts = counted(pid, sequential)
        report("(c) broker.ping, one flux.Flux, one at a time", n, time.perf_counter() - t0, counts)
        del h
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)

#!/usr/bin/env python3
"""What busy-polling costs: CPU per 1,000 requests and idle CPU, with each spin policy.

Usage: python bench/spin.py [--runs R] [--count N] [--sparse-count M] [--gap-ms G]
                            [--policies always,adaptive,off]

For each policy a broker is started with it (``FLUX_SPIN_POLICY``, read by the
broker loop, module processes and client handles alike; ``off`` sets the
three windows to 0: ``-S broker.spin-us=0``, FLUX_MODULE_SPIN_US=0 and the
handle's FLUX_HANDLE_SPIN_US), examples/echo.py is loaded into it, and one
``flux.Flux`` client in this process measures, R runs each, interleaved:

  ping busy    N ``broker.ping`` RPCs back to back (a tight RPC loop)
  ping sparse  M ``broker.ping`` RPCs, one every G ms (a job node's trickle)
  module busy  N ``echo.echo`` RPCs to a module process, back to back
  module sparse  M ``echo.echo`` RPCs, one every G ms
  idle         the second after traffic stops (no requests at all)

and prints, per line: latency (median of the run medians), the CPU the
broker's process tree (broker + module processes) used per 1,000 requests
and the client's own CPU per 1,000 requests (thread CPU time of this
process).  CPU is read from /proc/PID/task/*/schedstat (ns resolution).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from _harness import Procs  # noqa: E402

import flux  # noqa: E402
import flux.core.connection as fconn  # noqa: E402

PING = ("broker.ping", {"seq": 0, "pad": "p" * 64, "time.tv_sec": 0, "time.tv_nsec": 0})
ECHO = ("echo.echo", {"seq": 0, "time.tv_sec": 0, "time.tv_nsec": 0, "pad": ""})


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    out = [pid]
    i = 0
    while i < len(out):
        p = out[i]
        i += 1
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    out.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def cpu_ns(pids: list[int]) -> int:
    """CPU time (ns) used so far by every thread of ``pids``."""
    total = 0
    for p in pids:
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def self_ns() -> int:
    return time.thread_time_ns()


class Subject:
    """One broker run with one spin policy, and a client handle to it."""

    def __init__(self, procs: Procs, policy: str) -> None:
        self.policy = policy
        env = dict(procs.env, FLUX_SPIN_POLICY=policy if policy != "off" else "always")
        attrs = []
        if policy == "off":
            env["FLUX_MODULE_SPIN_US"] = "0"
            attrs.append("broker.spin-us=0")
        path = procs.broker(attrs, env=env)
        benv = procs.broker_env(path, env)
        subprocess.run([procs.flux, "module", "load", os.path.join(REPO, "examples", "echo.py")],
                       env=benv, check=True)
        self.pid = procs.brokers[-1][0].pid
        self.h = flux.Flux(f"local://{path}")
        self.client_spin = 0.0 if policy == "off" else fconn.SPIN_SECONDS

    def run(self, what: tuple[str, dict], count: int, gap: float) -> tuple[float, float, float]:
        """(median latency s, tree CPU ns per request, client CPU ns per request)."""
        rpc = self.h.rpc
        topic, payload = what
        saved_spin, saved_adaptive = fconn.SPIN_SECONDS, fconn._ADAPTIVE
        fconn.SPIN_SECONDS = self.client_spin
        fconn._ADAPTIVE = self.policy == "adaptive"
        pids = tree_pids(self.pid)
        perf = time.perf_counter
        lat = []
        try:
            c0, s0 = cpu_ns(pids), self_ns()
            for _ in range(count):
                t0 = perf()
                rpc(topic, payload).get()
                t1 = perf()
                lat.append(t1 - t0)
                if gap:
                    time.sleep(gap)
            c1, s1 = cpu_ns(pids), self_ns()
        finally:
            fconn.SPIN_SECONDS, fconn._ADAPTIVE = saved_spin, saved_adaptive
        return statistics.median(lat), (c1 - c0) / count, (s1 - s0) / count

    def idle(self, seconds: float) -> float:
        """Tree CPU ns per second right after a burst of traffic."""
        self.run(PING, 300, 0)
        self.run(ECHO, 300, 0)
        pids = tree_pids(self.pid)
        c0 = cpu_ns(pids)
        time.sleep(seconds)
        return (cpu_ns(pids) - c0) / seconds


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--sparse-count", type=int, default=200)
    ap.add_argument("--gap-ms", type=float, default=2.0)
    ap.add_argument("--policies", default="always,adaptive,off")
    args = ap.parse_args(argv)
    policies = args.policies.split(",")
    cases = [("ping busy", PING, args.count, 0.0),
             (f"ping sparse ({args.gap_ms:g} ms apart)", PING, args.sparse_count, args.gap_ms / 1e3),
             ("module busy", ECHO, args.count, 0.0),
             (f"module sparse ({args.gap_ms:g} ms apart)", ECHO, args.sparse_count,
              args.gap_ms / 1e3)]
    with Procs("pf-bench-spin-") as procs:
        subjects = [Subject(procs, p) for p in policies]
        res: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        idle: dict[str, list[float]] = {p: [] for p in policies}
        for s in subjects:  # warm-up
            s.run(PING, 200, 0)
            s.run(ECHO, 200, 0)
        for r in range(args.runs):
            for name, what, count, gap in cases:
                for j in range(len(subjects)):
                    s = subjects[(r + j) % len(subjects)]
                    res.setdefault((name, s.policy), []).append(s.run(what, count, gap))
            for j in range(len(subjects)):
                s = subjects[(r + j) % len(subjects)]
                idle[s.policy].append(s.idle(1.0))
        for s in subjects:
            del s.h  # closes the connection

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; median of {args.runs} runs "
          "[min..max over runs]; CPU in us per request (= ms per 1,000 requests)")
    print(f"  {'case':<30} {'policy':<9} {'latency us':>18} {'broker+modules CPU':>24}"
          f" {'client CPU':>20}")

    def fmt(v: list[float], scale: float) -> str:
        return (f"{statistics.median(v) * scale:6.1f} [{min(v) * scale:.1f}..{max(v) * scale:.1f}]")

    for name, *_ in cases:
        for p in policies:
            rows = res[(name, p)]
            print(f"  {name:<30} {p:<9} {fmt([x[0] for x in rows], 1e6):>18}"
                  f" {fmt([x[1] for x in rows], 1e-3):>24} {fmt([x[2] for x in rows], 1e-3):>20}")
    for p in policies:
        v = idle[p]
        print(f"  {'idle, 1 s after traffic':<30} {p:<9} broker+modules CPU "
              f"{statistics.median(v) / 1e6:.2f} ms/s [{min(v) / 1e6:.2f}..{max(v) / 1e6:.2f}]")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)

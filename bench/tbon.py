"""Instances of many brokers: start-up, ping and event fan-out across the tree,
resident memory per broker.

- start-up of ``flux start --test-size=N true`` for each N, against the floor of
  N ``python3 -c "import flux"`` processes started at once (target: 16 brokers
  within 2x their floor);
- ``broker.ping`` round trip to rank 0 and to the deepest rank (``-S
  tbon.fanout=2`` makes the tree deep), from a client of rank 0;
- event fan-out: from ``flux event pub`` on rank 0 until a subscriber on the
  deepest rank has it;
- resident memory (VmRSS) of every broker (target: under 40 MB).

``python bench/tbon.py [--sizes 1,4,16,32] [--runs 3] [--size 16]``

Wall times follow the rest of the machine's load (subject and floor are
interleaved, medians compared).  On a shared machine, ``chrt -f 10 python
bench/tbon.py`` (root) keeps other processes from preempting the runs and
gives the floor a quiet machine measures (docs/tbon.md, "Performance").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FLUX = os.path.join(os.path.dirname(sys.executable), "flux")
if not os.access(FLUX, os.X_OK):
    FLUX = "flux"


def env() -> dict[str, str]:
    e = dict(os.environ)
    e.pop("FLUX_URI", None)
    e["PYTHONPATH"] = os.path.join(REPO, "src") + os.pathsep + e.get("PYTHONPATH", "")
    return e


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env(), check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def floor(n: int) -> float:
    """N interpreters importing flux, started at once, all waited for."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", "import flux"], env=env())
             for _ in range(n)]
    for p in procs:
        p.wait()
    return time.perf_counter() - t0


def startup(sizes: list[int], runs: int) -> None:
    print("start-up: flux start --test-size=N true  vs  N x python -c 'import flux'")
    for n in sizes:
        subject, base = [], []
        for _ in range(runs):  # interleaved, so drift hits both alike
            subject.append(timed([FLUX, "start", f"--test-size={n}", "true"]))
            base.append(floor(n))
        s, b = statistics.median(subject), statistics.median(base)
        print(f"  N={n:3d}  start {s * 1e3:8.1f} ms  floor {b * 1e3:8.1f} ms  "
              f"ratio {s / b:5.2f}  (start {min(subject) * 1e3:.0f}..{max(subject) * 1e3:.0f})")


INNER = r'''
import json, os, statistics, sys, threading, time
import flux
from flux.constants import FLUX_MSGTYPE_EVENT
size = int(sys.argv[1]); count = int(sys.argv[2])
h = flux.Flux()
rundir = h.attr_get("rundir")
deep = size - 1
out = {}
def ping(rank):
    lat = []
    for i in range(count):
        t0 = time.perf_counter()
        h.rpc("broker.ping", {"seq": i}, nodeid=rank).get()
        lat.append(time.perf_counter() - t0)
    return statistics.median(lat)
out["ping0"] = ping(0)
out["pingdeep"] = ping(deep)
out["level"] = int(flux.Flux(f"local://{rundir}/local-{deep}").attr_get("tbon.level"))
# event fan-out to the deepest rank
sub = flux.Flux(f"local://{rundir}/local-{deep}")
sub.event_subscribe("benchtbon.")
lat = []
for i in range(count):
    t0 = time.perf_counter()
    h.event_send("benchtbon.x")
    sub.event_recv()
    lat.append(time.perf_counter() - t0)
out["event"] = statistics.median(lat)
rss = []
for r in range(size):
    pid = flux.Flux(f"local://{rundir}/local-{r}").attr_get("broker.pid")
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss.append(int(line.split()[1]) / 1024)
out["rss"] = rss
print(json.dumps(out))
'''


def tree(size: int, count: int) -> None:
    r = subprocess.run([FLUX, "start", f"--test-size={size}", "-Stbon.fanout=2",
                        sys.executable, "-c", INNER, str(size), str(count)],
                       env=env(), capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        print(r.stderr, file=sys.stderr)
        raise SystemExit(1)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"tree: {size} brokers, kary:2 (deepest rank {size - 1} at level {out['level']})")
    print(f"  broker.ping rank 0        {out['ping0'] * 1e6:8.0f} us")
    print(f"  broker.ping rank {size - 1:<3d}      {out['pingdeep'] * 1e6:8.0f} us  "
          f"({out['pingdeep'] / out['ping0']:.1f}x)")
    print(f"  event rank 0 -> rank {size - 1:<3d}  {out['event'] * 1e6:8.0f} us")
    rss = out["rss"]
    print(f"  resident memory per broker: rank 0 {rss[0]:.1f} MB, others "
          f"{statistics.median(rss[1:]):.1f} MB median, max {max(rss):.1f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,4,16,32")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", type=int, default=16, help="tree size for ping/events/memory")
    ap.add_argument("--count", type=int, default=200)
    args = ap.parse_args()
    startup([int(s) for s in args.sizes.split(",")], args.runs)
    tree(args.size, args.count)


if __name__ == "__main__":
    main()

"""Load: many clients at once, every request answered once and correctly, every event
delivered once and in order, nothing lost, memory flat after the load (issue: reliability).

Each client (load_worker.py, a process of its own) mixes pings, module requests, KVS
commits and lookups, events and streaming RPCs, and checks every answer.  In CI a
short run on one broker and on 8; with ``--stress``, 64 clients x 5,000 rounds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flux.testing.instance import start_instance

HERE = Path(__file__).resolve().parent
WORKER = HERE / "load_worker.py"
MODULES = [HERE.parent.parent / "examples" / "echo.py", HERE.parent / "data" / "load" / "streamer.py"]


def run_load(rundir_uris: list[str], clients: int, iterations: int, timeout: float) -> list[dict]:
    """Start ``clients`` workers spread over the URIs, release them together, and
    return their reports (every worker must report)."""
    env = dict(os.environ)
    env.pop("FLUX_URI", None)
    procs = []
    try:
        for cid in range(clients):
            uri = rundir_uris[cid % len(rundir_uris)]
            procs.append(subprocess.Popen(
                [sys.executable, str(WORKER), uri, str(cid), str(iterations), str(clients)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, env=env))
        for p in procs:  # subscribed, every one of them, before anyone publishes
            line = p.stdout.readline()
            assert line.strip() == "ready", p.stderr.read()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        reports = []
        deadline = time.monotonic() + timeout
        for p in procs:
            out, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            assert p.returncode == 0 and out.strip(), err
            reports.append(json.loads(out.strip().splitlines()[-1]))
        return reports
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def check(reports: list[dict], clients: int, iterations: int) -> None:
    events = clients * len(range(0, iterations, 5))
    for r in reports:
        assert r["errors"] == [], r
        c = r["counts"]
        assert (c["ping"], c["echo"]) == (iterations, iterations), r
        assert c["kvs"] == len(range(0, iterations, 10)), r
        assert c["stream"] == len(range(0, iterations, 25)), r
        assert r["events"] == events, r


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def broker_pids(h, size: int) -> list[int]:
    return [int(h.attr_get("broker.pid") if r == 0 else
                h.rpc("attr.get", {"name": "broker.pid"}, nodeid=r).get()["value"])
            for r in range(size)]


def load_instance(size: int, clients: int, iterations: int, timeout: float,
                  memory_check: bool) -> dict:
    with start_instance(size=size) as inst:
        for path in MODULES:
            inst.load_module(path)
        uris = [f"local://{inst.rundir}/local-{r}" for r in range(size)] if size > 1 \
            else [inst.uri]
        h = inst.handle()
        pids = broker_pids(h, size)
        # a first, shorter round warms the caches and pools, then the measured one
        warm = max(50, iterations // 10)
        check(run_load(uris, clients, warm, timeout), clients, warm)
        time.sleep(0.5)
        before = [rss_kb(p) for p in pids]
        t0 = time.monotonic()
        reports = run_load(uris, clients, iterations, timeout)
        seconds = time.monotonic() - t0
        check(reports, clients, iterations)
        time.sleep(0.5)
        after = [rss_kb(p) for p in pids]
        assert h.rpc("broker.ping", {}).get() is not None
        growth = [a - b for a, b in zip(after, before)]
        if memory_check:
            assert max(growth) < 8 * 1024, f"RSS growth per broker (kB): {growth}"
        requests = sum(r["counts"]["ping"] + r["counts"]["echo"] + 2 * r["counts"]["kvs"]
                       + r["counts"]["stream"] for r in reports)
        events = sum(r["events"] for r in reports)
        return {"seconds": seconds, "requests": requests, "events": events,
                "rss_before_kb": before, "rss_growth_kb": growth}


def test_load_one_broker():
    load_instance(1, clients=8, iterations=400, timeout=120, memory_check=True)


def test_load_eight_brokers():
    load_instance(8, clients=16, iterations=100, timeout=120, memory_check=False)


#: a round is a ping and a module request, plus a KVS commit and lookup every 10th,
#: an event every 5th (to all 64 clients) and a streaming RPC every 25th: 2,500 rounds
#: are about 5,500 requests per client
@pytest.mark.parametrize("size,clients,iterations", [(1, 64, 2500), (8, 64, 1000)])
def test_stress_load(request, size, clients, iterations):
    if not request.config.getoption("--stress"):
        pytest.skip("the long load run needs --stress")
    r = load_instance(size, clients, iterations, timeout=3600, memory_check=True)
    print(f"\nload: {size} broker(s), {clients} clients x {iterations} rounds: "
          f"{r['requests']} requests and {r['events']} event deliveries checked in "
          f"{r['seconds']:.1f} s; broker RSS before {max(r['rss_before_kb']) // 1024} MB, "
          f"growth {max(r['rss_growth_kb'])} kB")

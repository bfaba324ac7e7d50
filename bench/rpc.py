#!/usr/bin/env python3
"""RPC rate of the client handle (flux.Flux) against two same-run socket floors.

Usage: python bench/rpc.py [--runs N] [--seconds S] [--window W]

Starts a pureflux broker (``flux broker`` in a temp dir) and two minimal
unix-socket echo servers (bench/_harness.py: same Python, same framing, a
canned answer of the broker's response size, no broker logic), and measures
N runs of S seconds of each figure, interleaved (order rotated every run):

  (a) sync       ``h.rpc("broker.ping", payload).get()`` one at a time
  (b) pipelined  W RPCs kept in flight with ``then()`` (each callback sends the next)
  (c) asyncio    ``await h.rpc("broker.ping", payload)`` one at a time
  (a0), (c0)     (a) and (c) with neither polling its socket before sleeping
                 (FLUX_HANDLE_SPIN_US=0: ``connection.SPIN_SECONDS = 0``), like for like
  floor (i)      blocking echo: server sleeps in select, client blocks in recv
  floor (ii)     polling echo: both poll ~150 us before blocking, with
                 pureflux's own wait strategy (poll(0) + sched_yield in the
                 client like Connection.wait_readable; zero-timeout polls after
                 traffic in the server like the broker loop)

Prints medians with [min..max] over runs and the ratios (a)/floor against the
stricter (faster) floor (target >= 0.5), (b)/(a) (target >= 2) and (c)/(a)
(target >= 0.7), and (c0)/(a0); ratios are the median of per-run ratios.

(d) the CPU the handle adds per call: this thread's CPU time per sync
``h.rpc(...).get()`` minus that of a raw client (pre-encoded request, frames
counted, not parsed) on the same broker, neither spinning (the handle with
FLUX_HANDLE_SPIN_US=0, the raw client blocking in recv), interleaved runs.
It includes what a raw client skips: encoding the request's JSON payload and
decoding the response's.  Target <= 10 us.  (broker.ping needs a JSON object payload, as
in flux-core.)

(e) this thread's CPU time per call in the runs of (a), (c), (a0) and (c0), and
what asyncio costs more than the synchronous call, polling and not; and the
same for the raw client (its least: a kept reader completing one asyncio
future per call), the share of that which is asyncio's own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _harness import (SPIN_US, Procs, RawClient, fetch_response, interleave_rates,  # noqa: E402
                      rate_line, ratio_runs, request)

import flux  # noqa: E402

TOPIC = "broker.ping"
PAYLOAD = {"seq": 0, "pad": "p" * 64, "time.tv_sec": 0, "time.tv_nsec": 0}


#: (e): this thread's CPU seconds per call of each run of (a), (c), (a0), (c0), by name
CPU: dict[str, list[float]] = {}


def sync_run(h, seconds: float, name: str = "") -> float:
    rpc = h.rpc
    n = 0
    t0 = time.perf_counter()
    c0 = time.thread_time()
    end = t0 + seconds
    while True:
        for _ in range(100):
            rpc(TOPIC, PAYLOAD).get()
        n += 100
        if time.perf_counter() >= end:
            break
    if name:
        CPU.setdefault(name, []).append((time.thread_time() - c0) / n)
    return n / (time.perf_counter() - t0)


def pipelined_run(h, seconds: float, window: int) -> float:
    state = {"n": 0, "stop": False}
    end = time.perf_counter() + seconds

    def cb(f):
        f.get()
        state["n"] += 1
        if state["n"] % 256 == 0 and time.perf_counter() >= end:
            state["stop"] = True
        if not state["stop"]:
            h.rpc(TOPIC, PAYLOAD).then(cb)

    t0 = time.perf_counter()
    for _ in range(window):
        h.rpc(TOPIC, PAYLOAD).then(cb)
    h.reactor_run()
    return state["n"] / (time.perf_counter() - t0)


def cpu_per_call(fn, count: int) -> float:
    """This thread's CPU seconds per call of ``fn()`` over ``count`` calls."""
    t0 = time.thread_time()
    for _ in range(count):
        fn()
    return (time.thread_time() - t0) / count


def handle_cpu(h, raw: RawClient, runs: int, count: int = 2000) -> tuple[list[float], list[float], list[float]]:
    """(d): per-run CPU per call of the handle and of the raw client, not spinning;
    and (e) that of the raw client in asyncio."""
    import flux.core.connection as fconn

    saved = fconn.SPIN_SECONDS
    fconn.SPIN_SECONDS = 0.0
    rpc = h.rpc
    try:
        handle, rawc, rawa = [], [], []
        for r in range(runs):
            trio = [("h", lambda: rpc(TOPIC, PAYLOAD).get()), ("r", raw._one)]
            for name, fn in (trio if r % 2 else trio[::-1]):
                (handle if name == "h" else rawc).append(cpu_per_call(fn, count))
            rawa.append(raw_aio_cpu(raw, count))
        return handle, rawc, rawa
    finally:
        fconn.SPIN_SECONDS = saved


def raw_aio_cpu(raw: RawClient, count: int) -> float:
    """CPU per call of the least an asyncio client does: send the pre-encoded request,
    await a future that a (kept) reader callback completes when a whole frame is in."""
    from _harness import take_frames

    async def main() -> float:
        loop = asyncio.get_running_loop()
        s, buf = raw.s, raw.buf
        state: dict = {"f": None}

        def readable() -> None:
            data = s.recv(1 << 16)
            if not data:
                raise EOFError("server closed the connection")
            buf.extend(data)
            if take_frames(buf) and state["f"] is not None:
                state["f"].set_result(None)

        loop.add_reader(s.fileno(), readable)
        try:
            t0 = time.thread_time()
            for _ in range(count):
                f = state["f"] = loop.create_future()
                s.sendall(raw.req)
                await f
            return (time.thread_time() - t0) / count
        finally:
            loop.remove_reader(s.fileno())

    return asyncio.run(main())


def no_spin(run):
    """``run`` with the handle's poll window closed (what FLUX_HANDLE_SPIN_US=0 sets)."""
    import flux.core.connection as fconn

    def wrapped(*args: object) -> float:
        saved = fconn.SPIN_SECONDS
        fconn.SPIN_SECONDS = 0.0
        try:
            return run(*args)
        finally:
            fconn.SPIN_SECONDS = saved

    return wrapped


def aio_run(h, seconds: float, name: str = "") -> float:
    async def main() -> float:
        rpc = h.rpc
        n = 0
        t0 = time.perf_counter()
        c0 = time.thread_time()
        end = t0 + seconds
        while True:
            for _ in range(100):
                await rpc(TOPIC, PAYLOAD)
            n += 100
            if time.perf_counter() >= end:
                break
        if name:
            CPU.setdefault(name, []).append((time.thread_time() - c0) / n)
        return n / (time.perf_counter() - t0)

    return asyncio.run(main())


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=0.5)
    ap.add_argument("--window", type=int, default=64)
    args = ap.parse_args(argv)

    with Procs() as procs:
        bpath = procs.broker()
        req = request(TOPIC, PAYLOAD)
        response = fetch_response(bpath, req)
        fb = RawClient(procs.echo(response, 0), req, 0)
        fp = RawClient(procs.echo(response, SPIN_US), req, SPIN_US)
        h = flux.Flux(f"local://{bpath}")
        res = interleave_rates([
            ("floor_block", fb.rate),
            ("floor_poll", fp.rate),
            # (F821: h is deleted below, after these ran)
            ("sync", lambda s: sync_run(h, s, "a")),  # noqa: F821
            ("pipelined", lambda s: pipelined_run(h, s, args.window)),  # noqa: F821
            ("asyncio", lambda s: aio_run(h, s, "c")),  # noqa: F821
            ("sync0", lambda s: no_spin(sync_run)(h, s, "a0")),  # noqa: F821
            ("asyncio0", lambda s: no_spin(aio_run)(h, s, "c0")),  # noqa: F821
        ], args.runs, args.seconds)
        rc = RawClient(bpath, req, 0)
        hcpu, rcpu, racpu = handle_cpu(h, rc, args.runs)
        rc.close()
        del h
        fb.close()
        fp.close()

    med = {k: statistics.median(v) for k, v in res.items()}
    strict = "floor_block" if med["floor_block"] >= med["floor_poll"] else "floor_poll"
    other = "floor_poll" if strict == "floor_block" else "floor_block"
    names = {"floor_block": "blocking floor", "floor_poll": "polling floor"}
    W = 44
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; request {len(req)} B, "
          f"response {len(response)} B; median of {args.runs} runs x {args.seconds:g} s "
          "[min..max over runs]; ratios: median of per-run ratios [min..max]")
    print(rate_line("floor (i)  blocking echo (both block)", res["floor_block"], "round trips/s", W))
    print(rate_line(f"floor (ii) polling echo (both spin {SPIN_US:g} us)", res["floor_poll"],
                    "round trips/s", W))
    print(f"  stricter floor: {names[strict]}")
    print(rate_line("(a) sync h.rpc().get()", res["sync"], "calls/s", W))
    print(rate_line(f"(b) pipelined then(), {args.window} in flight", res["pipelined"], "calls/s", W))
    print(rate_line("(c) asyncio await h.rpc()", res["asyncio"], "calls/s", W))
    print(rate_line("(a0) sync, not spinning", res["sync0"], "calls/s", W))
    print(rate_line("(c0) asyncio, not spinning", res["asyncio0"], "calls/s", W))
    ra = statistics.median(a / b for a, b in zip(res["sync"], res[strict]))
    rb = statistics.median(a / b for a, b in zip(res["pipelined"], res["sync"]))
    print(f"HEADLINE (a)/{names[strict]} (stricter) = {ratio_runs(res['sync'], res[strict])}"
          f"   (target >= 0.5) {'OK' if ra >= 0.5 else 'MISSED'}")
    print(f"         (a)/{names[other]} = {ratio_runs(res['sync'], res[other])}")
    print(f"         (b)/(a) = {ratio_runs(res['pipelined'], res['sync'])}"
          f"   (target >= 2) {'OK' if rb >= 2 else 'MISSED'}")
    rc = statistics.median(a / b for a, b in zip(res["asyncio"], res["sync"]))
    print(f"         (c)/(a) = {ratio_runs(res['asyncio'], res['sync'])}"
          f"   (target >= 0.7) {'OK' if rc >= 0.7 else 'MISSED'}")
    print(f"         (c0)/(a0) = {ratio_runs(res['asyncio0'], res['sync0'])}   (neither spinning)")
    added = [(a - b) * 1e6 for a, b in zip(hcpu, rcpu)]
    md = statistics.median(added)
    print(f"(d) CPU per call, not spinning: flux.Flux {statistics.median(hcpu) * 1e6:.1f} us "
          f"[runs {min(hcpu) * 1e6:.1f}..{max(hcpu) * 1e6:.1f}], raw client "
          f"{statistics.median(rcpu) * 1e6:.1f} us [runs {min(rcpu) * 1e6:.1f}..{max(rcpu) * 1e6:.1f}]")
    print(f"    the handle adds {md:.1f} us [runs {min(added):.1f}..{max(added):.1f}]"
          f"   (target <= 10) {'OK' if md <= 10 else 'MISSED'}")
    cpu = {k: v[-args.runs:] for k, v in CPU.items()}  # (not the warm-up)
    print("(e) CPU per call of this thread in (a), (c), (a0), (c0): "
          + ", ".join(f"{k} {statistics.median(v) * 1e6:.1f} us" for k, v in cpu.items()))
    for x, y in (("c", "a"), ("c0", "a0")):
        extra = [(p - q) * 1e6 for p, q in zip(cpu[x], cpu[y])]
        print(f"    asyncio costs ({x}) - ({y}) = {statistics.median(extra):.1f} us more "
              f"[runs {min(extra):.1f}..{max(extra):.1f}]")
    extra = [(p - q) * 1e6 for p, q in zip(racpu, rcpu)]
    print(f"    a raw client costs {statistics.median(racpu) * 1e6:.1f} us in asyncio against "
          f"{statistics.median(rcpu) * 1e6:.1f} us blocking: asyncio itself, not spinning, "
          f"{statistics.median(extra):.1f} us [runs {min(extra):.1f}..{max(extra):.1f}]")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)

#!/usr/bin/env python3
"""``broker.ping`` round trip and throughput against two same-run floors.

Usage: python bench/ping.py [--runs R] [--count N] [--seconds S] [--clients C] [--window W]

Starts pureflux brokers (``flux broker``; one with the default
``broker.spin-us``, one with ``-S broker.spin-us=0``) and two minimal
unix-socket echo servers (same Python, same framing, a canned answer of the
broker's response size, no broker logic) -- the floors (bench/_harness.py):

  blocking floor  echo server sleeps in select, client blocks in recv;
  polling floor   both poll ~150 us before blocking, with pureflux's own wait
                  strategy (client: poll(0) + sched_yield like
                  Connection.wait_readable; server: zero-timeout polls after
                  traffic like the broker loop).

1. latency, one request at a time, all subjects interleaved in chunks, R runs:
   headline = ``flux.Flux`` ``h.rpc("broker.ping", payload).get()`` against
   the stricter (faster) floor, target <= 2.0 (issue 14: <= 1.3); also against the other floor,
   with the broker not polling (``-S broker.spin-us=0``), with nothing
   polling (plus the client's spin off, vs the blocking floor), and a raw
   client (no flux.Flux) for scale;
2. throughput: C client processes x W requests in flight (distinct
   matchtags), against both floors, R runs interleaved.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _harness import (SPIN_US, Procs, RawClient, fetch_response, interleave,  # noqa: E402
                      interleave_rates, lat_line, rate_line, ratio_runs, request)

import flux  # noqa: E402
import flux.core.connection as fconn  # noqa: E402

TOPIC = "broker.ping"
PAYLOAD = {"seq": 0, "time.tv_sec": 0, "time.tv_nsec": 0, "pad": ""}


def handle_fn(uri: str, client_spin: bool = True):
    """fn(count) -> latencies of h.rpc("broker.ping", ...).get() with flux.Flux.
    client_spin=False: the handle's busy-poll off (as FLUX_HANDLE_SPIN_US=0)."""
    h = flux.Flux(uri)
    rpc = h.rpc
    seq = [0]

    def fn(count: int) -> list[float]:
        saved = fconn.SPIN_SECONDS
        if not client_spin:
            fconn.SPIN_SECONDS = 0.0
        try:
            perf = __import__("time").perf_counter
            out = []
            i = seq[0]
            for i in range(i, i + count):  # noqa: B020 (continues from the saved sequence)
                p = dict(PAYLOAD, seq=i)
                t0 = perf()
                rpc(TOPIC, p).get()
                out.append(perf() - t0)
            seq[0] = i + 1
            return out
        finally:
            fconn.SPIN_SECONDS = saved

    return fn


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--count", type=int, default=1000, help="round trips per subject per run")
    ap.add_argument("--seconds", type=float, default=1.5, help="per throughput measurement")
    ap.add_argument("--tp-runs", type=int, default=3, help="throughput runs")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("-S", action="append", default=[], help="broker attribute NAME=VALUE")
    args = ap.parse_args()

    with Procs() as procs:
        bpath = procs.broker(args.S)
        npath = procs.broker(args.S + ["broker.spin-us=0"])
        req = request(TOPIC, PAYLOAD)
        response = fetch_response(bpath, req)
        block = procs.echo(response, 0)
        poll = procs.echo(response, SPIN_US)
        print(f"python {sys.version.split()[0]}, request {len(req)} B, response {len(response)} B, "
              f"{os.cpu_count()} CPUs; spin {SPIN_US:g} us; median of {args.runs} runs "
              f"[min..max of the run medians; p10/p90 of all samples]; ratios: median of the "
              "per-run ratios [min..max]")

        raw = {k: RawClient(p, req, s) for k, p, s in
               [("fb", block, 0), ("fp", poll, SPIN_US), ("rb", bpath, 0), ("rp", bpath, SPIN_US)]}
        subjects = [
            ("floor_block", raw["fb"].latency),
            ("floor_poll", raw["fp"].latency),
            ("flux", handle_fn(f"local://{bpath}")),
            ("flux_nospin_broker", handle_fn(f"local://{npath}")),
            ("flux_nospin_all", handle_fn(f"local://{npath}", client_spin=False)),
            ("raw_block", raw["rb"].latency),
            ("raw_poll", raw["rp"].latency),
        ]
        r = interleave(subjects, args.runs, args.count)
        for c in raw.values():
            c.close()
        med = {k: statistics.median(v["runs"]) for k, v in r.items()}
        strict = "floor_block" if med["floor_block"] <= med["floor_poll"] else "floor_poll"
        other = "floor_poll" if strict == "floor_block" else "floor_block"
        names = {"floor_block": "blocking floor", "floor_poll": "polling floor"}
        W = 50
        print(f"latency, one request at a time, {args.count} round trips x {args.runs} runs per line, "
              "interleaved:")
        print(lat_line("floor (i)  blocking echo (both block in recv)", r["floor_block"], W))
        print(lat_line(f"floor (ii) polling echo (both spin {SPIN_US:g} us)", r["floor_poll"], W))
        print(f"  stricter floor: {names[strict]}")
        print(lat_line("flux.Flux h.rpc('broker.ping').get()", r["flux"], W))

        def ratio(a: str, b: str) -> str:
            return ratio_runs(r[a]["runs"], r[b]["runs"])

        print(f"  HEADLINE flux.Flux / {names[strict]} (stricter) = {ratio('flux', strict)}"
              "   (target <= 2.0; issue 14: <= 1.3)")
        print(f"           flux.Flux / {names[other]} = {ratio('flux', other)}")
        print(lat_line("flux.Flux, broker -S broker.spin-us=0", r["flux_nospin_broker"], W))
        print(f"           / {names[strict]} = {ratio('flux_nospin_broker', strict)}"
              "   (broker not polling; the client still spins)")
        print(lat_line("flux.Flux, nothing polls (+ client spin 0)", r["flux_nospin_all"], W))
        print(f"           / blocking floor = {ratio('flux_nospin_all', 'floor_block')}"
              "   (broker spin-us=0, FLUX_HANDLE_SPIN_US=0: like for like with floor (i))")
        print(lat_line("raw client (no flux.Flux), blocks in recv", r["raw_block"], W))
        print(f"           / blocking floor = {ratio('raw_block', 'floor_block')}")
        print(lat_line(f"raw client (no flux.Flux), spins {SPIN_US:g} us", r["raw_poll"], W))
        print(f"           / polling floor = {ratio('raw_poll', 'floor_poll')}")

        def tp(path, spin):
            return lambda s: procs.throughput(path, TOPIC, PAYLOAD, args.clients, args.window, s, spin)

        t = interleave_rates([("broker", tp(bpath, SPIN_US)), ("floor_block", tp(block, 0)),
                              ("floor_poll", tp(poll, SPIN_US))], args.tp_runs, args.seconds)
        tmed = {k: statistics.median(v) for k, v in t.items()}
        tstrict = "floor_block" if tmed["floor_block"] >= tmed["floor_poll"] else "floor_poll"
        print(f"throughput, {args.clients} client processes x {args.window} in flight (matchtags "
              f"1..{args.window}), raw frames, {args.seconds:g} s x {len(t['broker'])} runs:")
        print(rate_line("floor (i)  blocking echo, blocking clients", t["floor_block"], "req/s", W))
        print(rate_line(f"floor (ii) polling echo, clients spin {SPIN_US:g} us", t["floor_poll"], "req/s", W))
        print(rate_line(f"pureflux broker, clients spin {SPIN_US:g} us", t["broker"], "req/s", W))
        ot = "floor_poll" if tstrict == "floor_block" else "floor_block"
        print(f"  broker / {names[tstrict]} (stricter) = {ratio_runs(t['broker'], t[tstrict])}")
        print(f"  broker / {names[ot]} = {ratio_runs(t['broker'], t[ot])}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)

#!/usr/bin/env python3
"""Python broker modules: round trip, throughput, load/remove cost, against same-run floors.

Usage: python bench/module.py [--runs R] [--count N] [--seconds S] [--clients C] [--window W] [--loads L]
                              [--only PARTS]

Floors (bench/_harness.py): minimal unix-socket echo servers (same Python,
same framing, a canned answer of the module's response size, no broker
logic), in two flavours measured in the same run:
  blocking floor  echo server sleeps in select, client blocks in recv;
  polling floor   both poll ~150 us before blocking, with pureflux's own wait
                  strategy (client: poll(0) + sched_yield like
                  Connection.wait_readable; server: zero-timeout polls after
                  traffic like the broker loop and FLUX_MODULE_SPIN_US).
Headline ratios use the stricter (faster) floor.

(a) latency: round trip of ``echo.echo`` served by a BrokerModule
    (examples/echo.py): client -> broker -> module process -> broker ->
    client, one at a time, all lines interleaved in chunks, R runs; median
    with [min..max] of the run medians.  Headline: ``flux.Flux``
    ``h.rpc("echo.echo", ...).get()`` / stricter floor, target <= 4.0 (issue 12; issue 14 asks <= 2.5).  Also:
    a raw client (no flux.Flux), and nothing polling at all (a second broker
    with ``-S broker.spin-us=0`` and FLUX_MODULE_SPIN_US=0, client spin off)
    against the blocking floor.
(b) throughput: requests/s with C client processes x W requests in flight
    (distinct matchtags) to the module, against both floors.
(c) ``flux module load`` + ``flux module remove`` of a trivial module, wall
    time (median of L), against the start-up of a bare ``python -c pass``
    (sys.executable) measured alternately in the same run.  Target <= 3.0.
    src/flux is byte-compiled first, as an installed package would be
    (``--no-compile`` to skip; this matters when PYTHONDONTWRITEBYTECODE is set;
    the .pyc files go to __pycache__/, which git ignores).
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

from _harness import (SPIN_US, Procs, RawClient, fetch_response, interleave,  # noqa: E402
                      interleave_rates, lat_line, rate_line, ratio_runs, request)

import flux  # noqa: E402
import flux.core.connection as fconn  # noqa: E402

TOPIC = "echo.echo"
PAYLOAD = {"seq": 0, "time.tv_sec": 0, "time.tv_nsec": 0, "pad": ""}
TRIVIAL = "from flux.brokermod import BrokerModule\n\n\nclass Trivial(BrokerModule):\n    pass\n"


def handle_fn(uri: str, client_spin: bool = True):
    """fn(count) -> latencies of h.rpc("echo.echo", ...).get() with flux.Flux.
    client_spin=False: the handle's busy-poll off (as FLUX_HANDLE_SPIN_US=0)."""
    h = flux.Flux(uri)
    rpc = h.rpc

    def fn(count: int) -> list[float]:
        saved = fconn.SPIN_SECONDS
        if not client_spin:
            fconn.SPIN_SECONDS = 0.0
        try:
            perf = time.perf_counter
            out = []
            for _ in range(count):
                t0 = perf()
                rpc(TOPIC, PAYLOAD).get()
                out.append(perf() - t0)
            return out
        finally:
            fconn.SPIN_SECONDS = saved

    return fn


def load_remove_times(flux_cmd: str, env: dict, path: str, n: int) -> tuple[list[float], list[float]]:
    """Alternate `flux module load`+`remove` and `python -c pass`; wall times."""
    return load_remove_times_cmd([flux_cmd], env, path, n)


def load_remove_times_cmd(flux_cmd: list[str], env: dict, path: str,
                          n: int) -> tuple[list[float], list[float]]:
    fl, py = [], []
    perf = time.perf_counter
    run = subprocess.run
    for i in range(n + 2):
        t0 = perf()
        run([sys.executable, "-c", "pass"], check=True)
        t1 = perf()
        run([*flux_cmd, "module", "load", path], env=env, check=True)
        run([*flux_cmd, "module", "remove", "trivial"], env=env, check=True)
        t2 = perf()
        if i >= 2:  # warm-up
            py.append(t1 - t0)
            fl.append(t2 - t1)
    return fl, py


def latency_and_throughput(args: argparse.Namespace, procs: Procs, bpath: str, benv: dict) -> None:
    """Figures (a) and (b): echo.echo served by examples/echo.py."""
    echo_py = os.path.join(REPO, "examples", "echo.py")
    nenv = dict(procs.env, FLUX_MODULE_SPIN_US="0")
    npath = procs.broker(args.S + ["broker.spin-us=0"], env=nenv)
    for path, env in ((bpath, benv), (npath, procs.broker_env(npath, nenv))):
        subprocess.run([procs.flux, "module", "load", echo_py], env=env, check=True)
    req = request(TOPIC, PAYLOAD)
    response = fetch_response(bpath, req)
    block = procs.echo(response, 0)
    poll = procs.echo(response, SPIN_US)
    print(f"python {sys.version.split()[0]} ({sys.executable}), request {len(req)} B, "
          f"response {len(response)} B, {os.cpu_count()} CPUs; spin {SPIN_US:g} us")
    print(f"median of {args.runs} runs [min..max of the run medians; p10/p90 of all samples]; "
          "ratios: median of the per-run ratios [min..max]")

    raw = {k: RawClient(p, req, s) for k, p, s in
           [("fb", block, 0), ("fp", poll, SPIN_US), ("rb", bpath, 0), ("rp", bpath, SPIN_US)]}
    r = interleave([
        ("floor_block", raw["fb"].latency),
        ("floor_poll", raw["fp"].latency),
        ("flux", handle_fn(f"local://{bpath}")),
        ("flux_nospin_all", handle_fn(f"local://{npath}", client_spin=False)),
        ("raw_block", raw["rb"].latency),
        ("raw_poll", raw["rp"].latency),
    ], args.runs, args.count)
    for c in raw.values():
        c.close()
    med = {k: statistics.median(v["runs"]) for k, v in r.items()}
    strict = "floor_block" if med["floor_block"] <= med["floor_poll"] else "floor_poll"
    other = "floor_poll" if strict == "floor_block" else "floor_block"
    names = {"floor_block": "blocking floor", "floor_poll": "polling floor"}

    def ratio(a: str, b: str) -> str:
        return ratio_runs(r[a]["runs"], r[b]["runs"])

    W = 50
    print(f"(a) latency, one request at a time, {args.count} round trips x {args.runs} runs per line, "
          "interleaved:")
    print(lat_line("floor (i)  blocking echo (both block in recv)", r["floor_block"], W))
    print(lat_line(f"floor (ii) polling echo (both spin {SPIN_US:g} us)", r["floor_poll"], W))
    print(f"  stricter floor: {names[strict]}")
    print(lat_line("flux.Flux h.rpc('echo.echo').get() -> module", r["flux"], W))
    print(f"  HEADLINE flux.Flux / {names[strict]} (stricter) = {ratio('flux', strict)}"
          "   (target <= 4.0; issue 14: <= 2.5)")
    print(f"           flux.Flux / {names[other]} = {ratio('flux', other)}")
    print(lat_line("flux.Flux, nothing polls", r["flux_nospin_all"], W))
    print(f"           / blocking floor = {ratio('flux_nospin_all', 'floor_block')}"
          "   (broker spin-us=0, FLUX_MODULE_SPIN_US=0, client spin 0: like for like with floor (i))")
    print(lat_line("raw client (no flux.Flux), blocks in recv", r["raw_block"], W))
    print(f"           / blocking floor = {ratio('raw_block', 'floor_block')}")
    print(lat_line(f"raw client (no flux.Flux), spins {SPIN_US:g} us", r["raw_poll"], W))
    print(f"           / polling floor = {ratio('raw_poll', 'floor_poll')}")

    def tp(path, spin):
        return lambda s: procs.throughput(path, TOPIC, PAYLOAD, args.clients, args.window, s, spin)

    t = interleave_rates([("module", tp(bpath, SPIN_US)), ("floor_block", tp(block, 0)),
                          ("floor_poll", tp(poll, SPIN_US))], args.tp_runs, args.seconds)
    tmed = {k: statistics.median(v) for k, v in t.items()}
    tstrict = "floor_block" if tmed["floor_block"] >= tmed["floor_poll"] else "floor_poll"
    ot = "floor_poll" if tstrict == "floor_block" else "floor_block"
    print(f"(b) throughput, {args.clients} client processes x {args.window} in flight (matchtags "
          f"1..{args.window}), raw frames, {args.seconds:g} s x {len(t['module'])} runs:")
    print(rate_line("floor (i)  blocking echo, blocking clients", t["floor_block"], "req/s", W))
    print(rate_line(f"floor (ii) polling echo, clients spin {SPIN_US:g} us", t["floor_poll"], "req/s", W))
    print(rate_line(f"echo.echo via BrokerModule, clients spin {SPIN_US:g} us", t["module"], "req/s", W))
    print(f"  module / {names[tstrict]} (stricter) = {ratio_runs(t['module'], t[tstrict])}")
    print(f"  module / {names[ot]} = {ratio_runs(t['module'], t[ot])}")

    subprocess.run([procs.flux, "module", "remove", "echo"], env=benv, check=True)


def load_remove(args: argparse.Namespace, procs: Procs, benv: dict) -> None:
    """Figure (c): flux module load + remove of a trivial module."""
    trivial = os.path.join(procs.tmp, "trivial.py")
    with open(trivial, "w") as f:
        f.write(TRIVIAL)
    fl, py = load_remove_times(procs.flux, benv, trivial, args.loads)
    f_ms, p_ms = statistics.median(fl) * 1e3, statistics.median(py) * 1e3
    print(f"(c) module load + remove of a trivial module, {len(fl)} runs, median wall time "
          "[min..max]:")
    print(f"  flux module load + flux module remove  {f_ms:7.2f} ms  "
          f"[{min(fl) * 1e3:.2f}..{max(fl) * 1e3:.2f}]")
    print(f"  {os.path.basename(sys.executable)} -c pass (floor)            {p_ms:7.2f} ms  "
          f"[{min(py) * 1e3:.2f}..{max(py) * 1e3:.2f}]")
    rs = [a / b for a, b in zip(fl, py)]
    print(f"  ratio                                  {f_ms / p_ms:7.2f}   (target <= 3.0; "
          f"per pair {min(rs):.2f}..{max(rs):.2f})")
    # the same commands without pip's console-script wrapper, which imports re
    direct = [sys.executable, "-c", "import sys; from flux.cmd.main import entry; "
              "sys.argv[0] = 'flux'; entry()"]
    fd, _ = load_remove_times_cmd(direct, benv, trivial, args.loads)
    d_ms = statistics.median(fd) * 1e3
    print(f"  same via python -c 'flux.cmd.main.entry()' {d_ms:7.2f} ms   (ratio {d_ms / p_ms:.2f}; "
          f"the cost of the bin/flux launcher itself)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--count", type=int, default=700, help="round trips per line per run")
    ap.add_argument("--tp-runs", type=int, default=3, help="throughput runs")
    ap.add_argument("--seconds", type=float, default=1.5, help="per throughput measurement")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--loads", type=int, default=30)
    ap.add_argument("-S", action="append", default=[], help="broker attribute NAME=VALUE")
    ap.add_argument("--only", default="abc", metavar="PARTS",
                    help="which figures to measure, e.g. --only c (default: abc; a and b "
                         "share their set-up and run together)")
    ap.add_argument("--no-compile", action="store_true",
                    help="do not byte-compile src/flux first (an installed package has .pyc files; "
                         "with PYTHONDONTWRITEBYTECODE set an editable checkout has none)")
    args = ap.parse_args()
    if not args.no_compile:
        import compileall

        compileall.compile_dir(os.path.join(REPO, "src", "flux"), quiet=1)

    with Procs("pf-mbench-") as procs:
        bpath = procs.broker(args.S)
        benv = procs.broker_env(bpath)
        if "a" in args.only or "b" in args.only:
            latency_and_throughput(args, procs, bpath, benv)
        if "c" in args.only:
            load_remove(args, procs, benv)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)

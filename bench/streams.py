#!/usr/bin/env python3
"""Streams and events in asyncio against the same with the reactor (same run).

Usage: python bench/streams.py [--runs N] [--count C]

Starts a pureflux broker and a service process (``bstrm.get`` answers C
responses then ENODATA; ``bstrm.pub`` publishes C events ``bev.x`` then one
``bev.end``), then measures, interleaved, N runs of:

  (s) asyncio   ``async for r in h.rpc("bstrm.get", ..., FLUX_RPC_STREAMING)``
  (s') reactor  the same stream with ``then()`` + ``reset()`` and ``h.reactor_run()``
  (e) asyncio   ``async for ev in h.events("bev.")``
  (e') reactor  a message watcher on ``bev.*`` and ``h.reactor_run()``

Each prints items/s and this thread's CPU per item, median [min..max] over
runs; and the ratios (s)/(s') and (e)/(e') of the rates (median of per-run
ratios).  The responses come in bursts, so most reads carry many of them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _harness import Procs  # noqa: E402

import flux  # noqa: E402
from flux.constants import FLUX_MSGTYPE_EVENT, FLUX_RPC_STREAMING  # noqa: E402

SERVICE = r'''
import errno, sys
import flux
from flux.constants import FLUX_MSGTYPE_REQUEST
h = flux.Flux(sys.argv[1])
h.service_register("bstrm").get()
def get(h, w, msg, arg):
    for i in range(msg.payload["count"]):
        h.respond(msg, {"i": i})
    h.respond_error(msg, errno.ENODATA, None)
def pub(h, w, msg, arg):
    h.respond(msg, {})
    for i in range(msg.payload["count"]):
        h.event_send("bev.x", {"i": i})
    h.event_send("bev.end", {})
h.msg_watcher_create(get, FLUX_MSGTYPE_REQUEST, "bstrm.get").start()
h.msg_watcher_create(pub, FLUX_MSGTYPE_REQUEST, "bstrm.pub").start()
print("ready", flush=True)
h.reactor_run()
'''


def timed(run, h, count: int):
    """(items/s, CPU s per item) of ``run(h, count) -> items``."""
    t0, c0 = time.perf_counter(), time.thread_time()
    n = run(h, count)
    return n / (time.perf_counter() - t0), (time.thread_time() - c0) / n


def stream_aio(h, count: int) -> int:
    async def main() -> int:
        n = 0
        async for _ in h.rpc("bstrm.get", {"count": count}, flags=FLUX_RPC_STREAMING):
            n += 1
        return n
    return asyncio.run(main())


def stream_reactor(h, count: int) -> int:
    state = {"n": 0}

    def cb(f):
        try:
            f.get()
        except OSError:
            return  # ENODATA: the stream is over
        state["n"] += 1
        f.reset()

    h.rpc("bstrm.get", {"count": count}, flags=FLUX_RPC_STREAMING).then(cb)
    h.reactor_run()
    return state["n"]


def events_aio(h, count: int) -> int:
    async def main() -> int:
        stream = h.events("bev.")
        await stream._open()  # subscribed before the events are sent
        await h.rpc("bstrm.pub", {"count": count})
        n = 0
        async for ev in stream:
            if ev.topic == "bev.end":
                break
            n += 1
        await stream.aclose()
        return n
    return asyncio.run(main())


def events_reactor(h, count: int) -> int:
    state = {"n": 0}

    def cb(hh, w, msg, arg):
        if msg.topic == "bev.end":
            w.stop()
        else:
            state["n"] += 1

    h.event_subscribe("bev.")
    w = h.msg_watcher_create(cb, FLUX_MSGTYPE_EVENT, "bev.*")
    w.start()
    h.rpc("bstrm.pub", {"count": count}).get()
    h.reactor_run()
    w.destroy()
    h.event_unsubscribe("bev.")
    return state["n"]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--count", type=int, default=2000)
    args = ap.parse_args(argv)
    subjects = [("(s) asyncio async for, stream", stream_aio),
                ("(s') reactor then(), stream", stream_reactor),
                ("(e) asyncio h.events()", events_aio),
                ("(e') reactor message watcher, events", events_reactor)]
    with Procs() as procs:
        path = procs.broker()
        svc = subprocess.Popen([sys.executable, "-c", SERVICE, f"local://{path}"],
                               stdout=subprocess.PIPE, text=True, env=procs.env)
        procs.others.append(svc)
        assert svc.stdout is not None
        if svc.stdout.readline().strip() != "ready":
            raise RuntimeError("the stream service did not start")
        h = flux.Flux(f"local://{path}")
        for _, fn in subjects:
            fn(h, 200)  # warm-up
        res: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in subjects}
        for r in range(args.runs):
            for j in range(len(subjects)):
                name, fn = subjects[(r + j) % len(subjects)]
                res[name].append(timed(fn, h, args.count))
        del h
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {args.count} items a run, "
          f"median of {args.runs} runs [min..max]")
    for name, v in res.items():
        rates = [x[0] for x in v]
        cpu = [x[1] * 1e6 for x in v]
        print(f"  {name:<40} {statistics.median(rates):8.0f} items/s [runs {min(rates):.0f}..{max(rates):.0f}]"
              f"  CPU {statistics.median(cpu):.2f} us/item [{min(cpu):.2f}..{max(cpu):.2f}]")
    names = [n for n, _ in subjects]
    for a, b in ((names[0], names[1]), (names[2], names[3])):
        rs = [x[0] / y[0] for x, y in zip(res[a], res[b])]
        print(f"  {a.split()[0]}/{b.split()[0]} = {statistics.median(rs):.2f} [runs {min(rs):.2f}..{max(rs):.2f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""RPC rate of the client handle (flux.Flux) against a same-run socket floor.

Usage: python bench/rpc.py [--runs N] [--seconds S] [--window W]

Starts a pureflux broker (``flux broker`` in a temp dir) and measures, as the
median of N runs of S seconds each (runs interleaved so machine drift hits all
figures alike):

  (a) sync       ``h.rpc("broker.ping", payload).get()`` one at a time
  (b) pipelined  W RPCs kept in flight with ``then()`` (each callback sends the next)
  (c) asyncio    ``await h.rpc("broker.ping", payload)`` one at a time
  floor          a minimal echo server (separate process, blocking socket loop,
                 same Python) and a client doing send/recv round trips of an
                 encoded broker.ping request of the same size

and prints the ratios (a)/floor (target >= 0.5) and (b)/(a) (target >= 2).
(broker.ping needs a JSON object payload, as in flux-core.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))

import flux  # noqa: E402
from flux.codec import encode_stream  # noqa: E402
from flux.message import Message  # noqa: E402

PAYLOAD = {"seq": 0, "pad": "p" * 64, "time.tv_sec": 0, "time.tv_nsec": 0}


def request_bytes() -> bytes:
    m = Message()
    m.route_enable()
    m.topic = "broker.ping"
    m.payload = PAYLOAD
    m.matchtag = 1
    return encode_stream(m)


# -- the floor ----------------------------------------------------------------------------------

ECHO_SERVER = r"""
import socket, sys
path = sys.argv[1]
ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
ls.bind(path)
ls.listen(1)
print("ready", flush=True)
while True:
    c, _ = ls.accept()
    while True:
        data = c.recv(65536)
        if not data:
            break
        c.sendall(data)
    c.close()
"""


def floor_run(path: str, seconds: float) -> float:
    req = request_bytes()
    size = len(req)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    recv, send = s.recv, s.sendall
    n = 0
    end = time.perf_counter() + seconds
    t0 = time.perf_counter()
    while True:
        for _ in range(100):
            send(req)
            got = len(recv(size))
            while got < size:
                got += len(recv(size - got))
        n += 100
        if time.perf_counter() >= end:
            break
    rate = n / (time.perf_counter() - t0)
    s.close()
    return rate


# -- the handle ------------------------------------------------------------------------------------


def sync_run(h, seconds: float) -> float:
    rpc = h.rpc
    n = 0
    end = time.perf_counter() + seconds
    t0 = time.perf_counter()
    while True:
        for _ in range(100):
            rpc("broker.ping", PAYLOAD).get()
        n += 100
        if time.perf_counter() >= end:
            break
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
            h.rpc("broker.ping", PAYLOAD).then(cb)

    t0 = time.perf_counter()
    for _ in range(window):
        h.rpc("broker.ping", PAYLOAD).then(cb)
    h.reactor_run()
    return state["n"] / (time.perf_counter() - t0)


def aio_run(h, seconds: float) -> float:
    async def main() -> float:
        rpc = h.rpc
        n = 0
        end = time.perf_counter() + seconds
        t0 = time.perf_counter()
        while True:
            for _ in range(100):
                await rpc("broker.ping", PAYLOAD)
            n += 100
            if time.perf_counter() >= end:
                break
        return n / (time.perf_counter() - t0)

    return asyncio.run(main())


# -- main ------------------------------------------------------------------------------------------


def wait_socket(path: str, proc: subprocess.Popen, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(path)
                if s.recv(1) == b"\0":
                    return
        except OSError:
            time.sleep(0.01)
    raise TimeoutError(path)


def flux_cmd() -> str:
    cand = os.path.join(os.path.dirname(sys.executable), "flux")
    return cand if os.path.exists(cand) else (shutil.which("flux") or "flux")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=0.5)
    ap.add_argument("--window", type=int, default=64)
    args = ap.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="pf-bench-", dir="/tmp")
    rundir = os.path.join(tmp, "run")
    env = dict(os.environ)
    env.pop("FLUX_URI", None)
    broker = subprocess.Popen([flux_cmd(), "broker", "-S", f"rundir={rundir}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    echo_path = os.path.join(tmp, "echo")
    echo = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, echo_path],
                            stdout=subprocess.PIPE, text=True)
    results: dict[str, list[float]] = {"sync": [], "pipelined": [], "asyncio": [], "floor": []}
    try:
        uri = f"local://{rundir}/local-0"
        wait_socket(f"{rundir}/local-0", broker)
        assert echo.stdout is not None and echo.stdout.readline().strip() == "ready"
        h = flux.Flux(uri)
        # warm-up
        sync_run(h, 0.2)
        pipelined_run(h, 0.2, args.window)
        aio_run(h, 0.2)
        floor_run(echo_path, 0.2)
        for _ in range(args.runs):
            results["floor"].append(floor_run(echo_path, args.seconds))
            results["sync"].append(sync_run(h, args.seconds))
            results["pipelined"].append(pipelined_run(h, args.seconds, args.window))
            results["asyncio"].append(aio_run(h, args.seconds))
        h._close()
    finally:
        echo.kill()
        echo.wait()
        if broker.poll() is None:
            subprocess.run([flux_cmd(), "shutdown"], env=dict(env, FLUX_URI=f"local://{rundir}/local-0"),
                           capture_output=True, timeout=20)
            try:
                broker.wait(10)
            except subprocess.TimeoutExpired:
                broker.kill()
                broker.wait()
        if broker.stderr:
            broker.stderr.close()
        shutil.rmtree(tmp, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in results.items()}
    spread = {k: f"[{min(v):.0f}..{max(v):.0f}]" for k, v in results.items()}
    print(f"request size: {len(request_bytes())} bytes on the wire; "
          f"median of {args.runs} runs x {args.seconds:g} s")
    print(f"(a) sync h.rpc().get()          {med['sync']:10.0f} calls/s  {spread['sync']}")
    print(f"(b) pipelined then() window={args.window:<3d} {med['pipelined']:10.0f} calls/s  {spread['pipelined']}")
    print(f"(c) asyncio await h.rpc()       {med['asyncio']:10.0f} calls/s  {spread['asyncio']}")
    print(f"floor: raw unix-socket echo     {med['floor']:10.0f} round trips/s  {spread['floor']}")
    ra = med["sync"] / med["floor"]
    rb = med["pipelined"] / med["sync"]
    print(f"(a)/floor = {ra:.2f} (target >= 0.5) {'OK' if ra >= 0.5 else 'MISSED'}")
    print(f"(b)/(a)   = {rb:.2f} (target >= 2)   {'OK' if rb >= 2 else 'MISSED'}")
    print(f"(c)/(a)   = {med['asyncio'] / med['sync']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

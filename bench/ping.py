#!/usr/bin/env python3
"""Round trip and throughput of ``broker.ping`` against a same-run physical floor.

Usage: python bench/ping.py [--count N] [--seconds S] [--clients C] [--window W]

Starts a pureflux broker (``flux broker``) and a minimal unix-socket echo
server (same Python, same framing, answers every request with a canned
response of the broker's response size, no broker logic), then measures:

1. latency: median round trip of one request at a time, with the same raw
   client against both servers (ratio = broker / floor), plus the median
   with ``flux.Flux`` (``h.rpc("broker.ping", ...).get()``) when available;
2. throughput: requests/s with C client processes each keeping W requests in
   flight, against both servers.
"""

from __future__ import annotations

import argparse
import os
import selectors
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))

from flux.codec import encode_stream  # noqa: E402
from flux.constants import FLUX_MSGFLAG_ROUTE  # noqa: E402
from flux.message import Message  # noqa: E402

PAYLOAD = {"seq": 0, "time.tv_sec": 0, "time.tv_nsec": 0, "pad": ""}


def ping_request(tag: int = 1) -> bytes:
    m = Message()
    m.flags |= FLUX_MSGFLAG_ROUTE
    m.topic = "broker.ping"
    m.payload = PAYLOAD
    m.matchtag = tag
    return encode_stream(m)


def connect(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    assert s.recv(1) == b"\x00"
    return s


def read_frames(s: socket.socket, buf: bytearray, want: int) -> int:
    """Read until ``want`` whole frames are in ``buf``; consume them; return count."""
    got = 0
    while got < want:
        while len(buf) >= 8:
            n = struct.unpack_from(">I", buf, 4)[0] + 8
            if len(buf) < n:
                break
            del buf[:n]
            got += 1
        if got >= want:
            break
        data = s.recv(1 << 20)
        if not data:
            raise EOFError
        buf += data
    return got


# -- the floor: an echo server with framing and nothing else ---------------------------


def echo_server(path: str, response: bytes) -> None:
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(64)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)
    bufs: dict[socket.socket, bytearray] = {}
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            if key.data is None:
                c, _ = ls.accept()
                c.sendall(b"\x00")
                bufs[c] = bytearray()
                sel.register(c, selectors.EVENT_READ, 1)
                continue
            c = key.fileobj
            try:
                data = c.recv(1 << 20)
            except OSError:
                data = b""
            if not data:
                sel.unregister(c)
                c.close()
                del bufs[c]
                continue
            buf = bufs[c]
            buf += data
            count = 0
            while len(buf) >= 8:
                n = struct.unpack_from(">I", buf, 4)[0] + 8
                if len(buf) < n:
                    break
                del buf[:n]
                count += 1
            if count:
                try:
                    c.sendall(response * count)
                except OSError:
                    pass


# -- clients -------------------------------------------------------------------------------


class RawPinger:
    """One connection doing one request at a time, blocking in recv."""

    def __init__(self, path: str) -> None:
        self.s = connect(path)
        self.req = ping_request()
        self.buf = bytearray()

    def run(self, count: int) -> list[float]:
        s, req, buf = self.s, self.req, self.buf
        out = []
        perf = time.perf_counter
        for _ in range(count):
            t0 = perf()
            s.sendall(req)
            read_frames(s, buf, 1)
            out.append(perf() - t0)
        return out

    def close(self) -> None:
        self.s.close()


def interleaved(paths: list[str], count: int, chunk: int = 250) -> list[list[float]]:
    """Latency samples per server, measured in alternating chunks so that
    drift on a shared machine (CPU placement, other load) hits all alike."""
    pingers = [RawPinger(p) for p in paths]
    for p in pingers:
        p.run(chunk)  # warm-up
    out: list[list[float]] = [[] for _ in paths]
    for _ in range(max(1, count // chunk)):
        for i, p in enumerate(pingers):
            out[i].extend(p.run(chunk))
    for p in pingers:
        p.close()
    return out


def latency_handle(uri: str, count: int) -> list[float] | None:
    try:
        import flux

        h = flux.Flux(uri)
    except Exception:
        return None
    perf = time.perf_counter
    for i in range(count // 10):
        h.rpc("broker.ping", dict(PAYLOAD, seq=i)).get()
    out = []
    for i in range(count):
        t0 = perf()
        h.rpc("broker.ping", dict(PAYLOAD, seq=i)).get()
        out.append(perf() - t0)
    return out


def worker(path: str, seconds: float, window: int) -> None:
    """One load process: keep ``window`` requests in flight, print completions."""
    s = connect(path)
    req = ping_request()
    s.sendall(req * window)
    buf = bytearray()
    done = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data = s.recv(1 << 20)
        except OSError:
            break
        if not data:
            break
        buf += data
        n = 0
        while len(buf) >= 8:
            size = struct.unpack_from(">I", buf, 4)[0] + 8
            if len(buf) < size:
                break
            del buf[:size]
            n += 1
        if n:
            done += n
            try:
                s.sendall(req * n)
            except OSError:
                break
    print(done, flush=True)
    s.close()


def throughput(path: str, clients: int, window: int, seconds: float) -> float:
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", path, str(seconds), str(window)],
                              stdout=subprocess.PIPE, text=True) for _ in range(clients)]
    total = sum(int(p.communicate(timeout=seconds + 30)[0].strip() or 0) for p in procs)
    return total / seconds


def start_broker(flux_cmd: str, rundir: str, env: dict, setattrs: list[str]):
    cmd = [flux_cmd, "broker", "-S", f"rundir={rundir}"] + [f"-S{a}" for a in setattrs]
    proc = subprocess.Popen(cmd, env=env)
    path = os.path.join(rundir, "local-0")
    for _ in range(1000):
        try:
            connect(path).close()
            break
        except OSError:
            time.sleep(0.01)
    return proc, path


def stop_broker(flux_cmd: str, env: dict, proc: subprocess.Popen, path: str) -> None:
    subprocess.run([flux_cmd, "shutdown"], env=dict(env, FLUX_URI=f"local://{path}"), timeout=30)
    proc.wait(timeout=30)


def med_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--runs", type=int, default=3, help="latency runs (median of medians)")
    ap.add_argument("-S", action="append", default=[], help="broker attribute NAME=VALUE")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="pf-bench-", dir="/tmp")
    flux_cmd = shutil.which("flux", path=os.path.dirname(sys.executable)) or "flux"
    env = {k: v for k, v in os.environ.items() if k != "FLUX_URI"}
    broker, bpath = start_broker(flux_cmd, os.path.join(tmp, "run"), env, args.S)
    epath = os.path.join(tmp, "echo")
    echo = None
    try:
        # the canned response: exactly what the broker answers
        s = connect(bpath)
        s.sendall(ping_request())
        head = s.recv(8)
        response = head + s.recv(struct.unpack(">I", head[4:])[0], socket.MSG_WAITALL)
        s.close()
        echo = subprocess.Popen([sys.executable, __file__, "--echo", epath, response.hex()],
                                stdout=subprocess.PIPE, text=True)
        assert echo.stdout is not None and echo.stdout.readline().strip() == "ready"

        print(f"python {sys.version.split()[0]}, request {len(ping_request())} B, "
              f"response {len(response)} B, {os.cpu_count()} CPUs")
        nospin = start_broker(flux_cmd, os.path.join(tmp, "run0"), env,
                              args.S + ["broker.spin-us=0"])
        try:
            b_s, e_s, n_s = interleaved([bpath, epath, nospin[1]], args.count * args.runs)
        finally:
            stop_broker(flux_cmd, env, *nospin)
        b, e, n = med_us(b_s), med_us(e_s), med_us(n_s)
        print(f"latency (raw client blocking in recv, {len(b_s)} round trips each, "
              f"interleaved, median):")
        print(f"  broker.ping via pureflux broker  {b:8.1f} us")
        print(f"  echo server (physical floor)     {e:8.1f} us")
        print(f"  ratio broker / floor             {b / e:8.2f}   (target <= 2.0)")
        print(f"  same, broker busy-poll disabled  {n:8.1f} us   (ratio {n / e:.2f}; -S broker.spin-us=0)")
        h = latency_handle(f"local://{bpath}", args.count)
        if h is not None:
            print(f"  broker.ping via flux.Flux        {med_us(h):8.1f} us   (h.rpc(...).get())")
        else:
            print("  flux.Flux not available: raw client figures only")

        print(f"throughput ({args.clients} client processes x {args.window} in flight, "
              f"{args.seconds:g} s, raw client):")
        tb = throughput(bpath, args.clients, args.window, args.seconds)
        te = throughput(epath, args.clients, args.window, args.seconds)
        print(f"  pureflux broker                  {tb:10.0f} req/s")
        print(f"  echo server (physical floor)     {te:10.0f} req/s")
        print(f"  ratio floor / broker             {te / tb:10.2f}")
    finally:
        if echo is not None:
            echo.kill()
            echo.wait()
        stop_broker(flux_cmd, env, broker, bpath)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--echo":
        echo_server(sys.argv[2], bytes.fromhex(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(main())

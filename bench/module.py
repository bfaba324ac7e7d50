#!/usr/bin/env python3
"""Python broker modules: round trip, throughput, load/remove cost, against same-run floors.

Usage: python bench/module.py [--count N] [--seconds S] [--clients C] [--window W] [--loads L]

(a) latency: median round trip of ``echo.echo`` served by a BrokerModule
    (examples/echo.py): client -> broker -> module process -> broker ->
    client, against a minimal unix-socket echo server (same Python, same
    framing, answers with a canned response of the same size).  Raw client
    blocking in recv for both; also the figure with ``flux.Flux``.
    Target: ratio <= 4.0.
(b) throughput: requests/s with C client processes x W requests in flight
    to the module (and to the echo floor, for scale).
(c) ``flux module load`` + ``flux module remove`` of a trivial module, wall
    time (median of L), against the start-up of a bare ``python -c pass``
    (sys.executable) measured alternately in the same run.  Target <= 3.0.
    src/flux is byte-compiled first, as an installed package would be
    (``--no-compile`` to skip; this matters when PYTHONDONTWRITEBYTECODE is set).
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
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "src"))

from flux.codec import encode_stream  # noqa: E402
from flux.constants import FLUX_MSGFLAG_ROUTE  # noqa: E402
from flux.message import Message  # noqa: E402

PAYLOAD = {"seq": 0, "time.tv_sec": 0, "time.tv_nsec": 0, "pad": ""}
TRIVIAL = "from flux.brokermod import BrokerModule\n\n\nclass Trivial(BrokerModule):\n    pass\n"


def echo_request(tag: int = 1) -> bytes:
    m = Message()
    m.flags |= FLUX_MSGFLAG_ROUTE
    m.topic = "echo.echo"
    m.payload = PAYLOAD
    m.matchtag = tag
    return encode_stream(m)


def connect(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    assert s.recv(1) == b"\x00"
    return s


def take_frames(buf: bytearray) -> int:
    n = 0
    while len(buf) >= 8:
        size = struct.unpack_from(">I", buf, 4)[0] + 8
        if len(buf) < size:
            break
        del buf[:size]
        n += 1
    return n


def echo_server(path: str, response: bytes) -> None:
    """The floor: framing and a canned answer, nothing else."""
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
            count = take_frames(buf)
            if count:
                try:
                    c.sendall(response * count)
                except OSError:
                    pass


class RawClient:
    def __init__(self, path: str) -> None:
        self.s = connect(path)
        self.req = echo_request()
        self.buf = bytearray()

    def run(self, count: int) -> list[float]:
        s, req, buf = self.s, self.req, self.buf
        perf = time.perf_counter
        out = []
        for _ in range(count):
            t0 = perf()
            s.sendall(req)
            while not take_frames(buf):
                data = s.recv(1 << 16)
                if not data:
                    raise EOFError
                buf += data
            out.append(perf() - t0)
        return out


def interleaved(paths: list[str], count: int, chunk: int = 250) -> list[list[float]]:
    clients = [RawClient(p) for p in paths]
    for c in clients:
        c.run(chunk)
    out: list[list[float]] = [[] for _ in paths]
    for _ in range(max(1, count // chunk)):
        for i, c in enumerate(clients):
            out[i].extend(c.run(chunk))
    for c in clients:
        c.s.close()
    return out


def latency_handle(uri: str, count: int) -> list[float]:
    import flux

    h = flux.Flux(uri)
    for _ in range(count // 10):
        h.rpc("echo.echo", PAYLOAD).get()
    perf = time.perf_counter
    out = []
    for _ in range(count):
        t0 = perf()
        h.rpc("echo.echo", PAYLOAD).get()
        out.append(perf() - t0)
    return out


def worker(path: str, seconds: float, window: int) -> None:
    s = connect(path)
    req = echo_request()
    s.sendall(req * window)
    buf = bytearray()
    done = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        data = s.recv(1 << 20)
        if not data:
            break
        buf += data
        n = take_frames(buf)
        if n:
            done += n
            s.sendall(req * n)
    print(done, flush=True)
    s.close()


def throughput(path: str, clients: int, window: int, seconds: float) -> float:
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", path, str(seconds), str(window)],
                              stdout=subprocess.PIPE, text=True) for _ in range(clients)]
    total = sum(int(p.communicate(timeout=seconds + 30)[0].strip() or 0) for p in procs)
    return total / seconds


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


def med_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=4000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--loads", type=int, default=30)
    ap.add_argument("-S", action="append", default=[], help="broker attribute NAME=VALUE")
    ap.add_argument("--no-compile", action="store_true",
                    help="do not byte-compile src/flux first (an installed package has .pyc files; "
                         "with PYTHONDONTWRITEBYTECODE set an editable checkout has none)")
    args = ap.parse_args()
    if not args.no_compile:
        import compileall

        compileall.compile_dir(os.path.join(REPO, "src", "flux"), quiet=1)

    tmp = tempfile.mkdtemp(prefix="pf-mbench-", dir="/tmp")
    flux_cmd = shutil.which("flux", path=os.path.dirname(sys.executable)) or "flux"
    env = {k: v for k, v in os.environ.items() if k != "FLUX_URI"}
    broker, bpath = start_broker(flux_cmd, os.path.join(tmp, "run"), env, args.S)
    benv = dict(env, FLUX_URI=f"local://{bpath}")
    echo = None
    try:
        subprocess.run([flux_cmd, "module", "load", os.path.join(REPO, "examples", "echo.py")],
                       env=benv, check=True)
        s = connect(bpath)
        s.sendall(echo_request())
        head = s.recv(8)
        response = head + s.recv(struct.unpack(">I", head[4:])[0], socket.MSG_WAITALL)
        s.close()
        epath = os.path.join(tmp, "echo")
        echo = subprocess.Popen([sys.executable, __file__, "--echo", epath, response.hex()],
                                stdout=subprocess.PIPE, text=True)
        assert echo.stdout is not None and echo.stdout.readline().strip() == "ready"
        print(f"python {sys.version.split()[0]} ({sys.executable}), request {len(echo_request())} B, "
              f"response {len(response)} B, {os.cpu_count()} CPUs")

        m_s, e_s = interleaved([bpath, epath], args.count * args.runs)
        m, e = med_us(m_s), med_us(e_s)
        print(f"(a) latency, raw client blocking in recv, {len(m_s)} round trips each, interleaved, median:")
        print(f"  echo.echo via broker + BrokerModule  {m:8.1f} us")
        print(f"  unix-socket echo server (floor)      {e:8.1f} us")
        print(f"  ratio module / floor                 {m / e:8.2f}   (target <= 4.0)")
        hl = latency_handle(f"local://{bpath}", args.count)
        print(f"  same with flux.Flux h.rpc().get()    {med_us(hl):8.1f} us   (ratio {med_us(hl) / e:.2f})")

        print(f"(b) throughput, {args.clients} client processes x {args.window} in flight, {args.seconds:g} s:")
        tm = throughput(bpath, args.clients, args.window, args.seconds)
        te = throughput(epath, args.clients, args.window, args.seconds)
        print(f"  echo.echo via BrokerModule           {tm:10.0f} req/s")
        print(f"  unix-socket echo server (floor)      {te:10.0f} req/s   (floor / module {te / tm:.2f})")

        subprocess.run([flux_cmd, "module", "remove", "echo"], env=benv, check=True)
        trivial = os.path.join(tmp, "trivial.py")
        with open(trivial, "w") as f:
            f.write(TRIVIAL)
        fl, py = load_remove_times(flux_cmd, benv, trivial, args.loads)
        f_ms, p_ms = statistics.median(fl) * 1e3, statistics.median(py) * 1e3
        print(f"(c) module load + remove of a trivial module, {len(fl)} runs, median wall time:")
        print(f"  flux module load + flux module remove  {f_ms:7.2f} ms")
        print(f"  {os.path.basename(sys.executable)} -c pass (floor)            {p_ms:7.2f} ms")
        print(f"  ratio                                  {f_ms / p_ms:7.2f}   (target <= 3.0)")
        # the same commands without pip's console-script wrapper, which imports re
        direct = [sys.executable, "-c", "import sys; from flux.cmd.main import entry; "
                  "sys.argv[0] = 'flux'; entry()"]
        fd, _ = load_remove_times_cmd(direct, benv, trivial, args.loads)
        d_ms = statistics.median(fd) * 1e3
        print(f"  same via python -c 'flux.cmd.main.entry()' {d_ms:7.2f} ms   (ratio {d_ms / p_ms:.2f}; "
              f"the pip-generated 'flux' script imports re first)")
    finally:
        if echo is not None:
            echo.kill()
            echo.wait()
        subprocess.run([flux_cmd, "shutdown"], env=benv, timeout=30)
        broker.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--echo":
        echo_server(sys.argv[2], bytes.fromhex(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(main())

"""Shared pieces of the round-trip benchmarks (ping.py, rpc.py, module.py).

The *floors* are minimal unix-socket echo servers (same Python, same stream
framing, a canned answer of the subject's response size, no broker logic),
measured in the same run as the subject, in two flavours:

- ``blocking``: the echo server sleeps in ``select`` and the client in
  ``recv`` -- every round trip pays two process wake-ups;
- ``polling``: both sides use pureflux's wait strategy -- the client polls
  ``poll(0)`` + ``os.sched_yield()`` for SPIN_US before blocking, like
  ``Connection.wait_readable`` (src/flux/core/connection.py), and the server
  keeps polling with a zero timeout for SPIN_US after traffic, like the
  broker's loop (src/flux/broker/loop.py, ``broker.spin-us``).

A benchmark reports its subject against both and takes the faster floor (the
stricter one) for its headline ratio.  Measurements are interleaved in small
chunks and repeated, so drift on a shared machine hits every figure alike;
figures are given as the median with the spread (min..max) over runs.

``python bench/_harness.py --echo PATH RESPONSE_HEX SPIN_US`` runs an echo
server; ``--worker ...`` runs one throughput load process (see ``worker``).
Both exit when their parent goes away (EOF on stdin).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if os.path.join(REPO, "src") not in sys.path:
    sys.path.insert(0, os.path.join(REPO, "src"))

from flux.codec import encode_stream  # noqa: E402
from flux.constants import FLUX_MSGFLAG_ROUTE  # noqa: E402
from flux.message import Message  # noqa: E402

# pureflux's defaults: connection.py FLUX_HANDLE_SPIN_US, broker.py DEFAULT_SPIN_US,
# module_exec.py FLUX_MODULE_SPIN_US
SPIN_US = 150.0
_yield = getattr(os, "sched_yield", lambda: None)


def request(topic: str, payload: dict, tag: int = 1) -> bytes:
    m = Message()
    m.flags |= FLUX_MSGFLAG_ROUTE
    m.topic = topic
    m.payload = payload
    m.matchtag = tag
    return encode_stream(m)


def connect(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    if s.recv(1) != b"\x00":
        raise OSError(f"{path}: bad handshake")
    return s


def take_frames(buf: bytearray) -> int:
    """Consume the whole frames at the start of ``buf``; return how many."""
    n = 0
    while len(buf) >= 8:
        size = struct.unpack_from(">I", buf, 4)[0] + 8
        if len(buf) < size:
            break
        del buf[:size]
        n += 1
    return n


def fetch_response(path: str, req: bytes) -> bytes:
    """One request to a live server; the raw response bytes (for the canned answer)."""
    s = connect(path)
    try:
        s.sendall(req)
        head = s.recv(8, socket.MSG_WAITALL)
        return head + s.recv(struct.unpack(">I", head[4:])[0], socket.MSG_WAITALL)
    finally:
        s.close()


def make_waiter(sock: socket.socket, spin_us: float):
    """A function that returns once ``sock`` is readable.

    spin_us > 0: poll(0) + sched_yield for that long, then block in poll --
    the same strategy as pureflux's ``Connection.wait_readable``.
    spin_us == 0: returns at once (the caller then blocks in recv).
    """
    if spin_us <= 0:
        return lambda: None
    p = select.poll()
    p.register(sock.fileno(), select.POLLIN)
    poll = p.poll
    perf = time.perf_counter
    spin = spin_us / 1e6

    def wait() -> None:
        end = perf() + spin
        while True:
            if poll(0):
                return
            if perf() >= end:
                break
            _yield()
        poll(-1)

    return wait


class RawClient:
    """One connection, one request at a time (raw frames, no flux.Flux)."""

    def __init__(self, path: str, req: bytes, spin_us: float) -> None:
        self.s = connect(path)
        self.req = req
        self.buf = bytearray()
        self.wait = make_waiter(self.s, spin_us)

    def _one(self) -> None:
        s, buf, wait = self.s, self.buf, self.wait
        s.sendall(self.req)
        while True:
            wait()
            data = s.recv(1 << 16)
            if not data:
                raise EOFError("server closed the connection")
            buf += data
            if take_frames(buf):
                return

    def latency(self, count: int) -> list[float]:
        perf = time.perf_counter
        one = self._one
        out = []
        for _ in range(count):
            t0 = perf()
            one()
            out.append(perf() - t0)
        return out

    def rate(self, seconds: float) -> float:
        perf = time.perf_counter
        one = self._one
        n = 0
        t0 = perf()
        end = t0 + seconds
        while True:
            for _ in range(100):
                one()
            n += 100
            if perf() >= end:
                break
        return n / (perf() - t0)

    def close(self) -> None:
        self.s.close()


# -- processes -----------------------------------------------------------------------------


def flux_cmd() -> str:
    cand = os.path.join(os.path.dirname(sys.executable), "flux")
    return cand if os.access(cand, os.X_OK) else (shutil.which("flux") or "flux")


class Procs:
    """Every process a benchmark starts, stopped on exit (also on Ctrl-C or errors)."""

    def __init__(self, prefix: str = "pf-bench-") -> None:
        self.tmp = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
        self.env = {k: v for k, v in os.environ.items() if k != "FLUX_URI"}
        self.flux = flux_cmd()
        self.brokers: list[tuple[subprocess.Popen, str]] = []
        self.others: list[subprocess.Popen] = []
        self._n = 0

    def __enter__(self) -> "Procs":
        def on_term(signum, frame):
            raise KeyboardInterrupt

        self._old_term = signal.signal(signal.SIGTERM, on_term)
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.close()
        finally:
            signal.signal(signal.SIGTERM, self._old_term)

    def broker(self, setattrs: list[str] = (), env: dict | None = None) -> str:
        """Start ``flux broker``; return its local-0 socket path."""
        self._n += 1
        rundir = os.path.join(self.tmp, f"run{self._n}")
        log = open(os.path.join(self.tmp, f"broker{self._n}.log"), "wb")
        cmd = [self.flux, "broker", "-S", f"rundir={rundir}"] + [f"-S{a}" for a in setattrs]
        proc = subprocess.Popen(cmd, env=env or self.env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)
        log.close()
        path = os.path.join(rundir, "local-0")
        self.brokers.append((proc, path))
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"broker exited with {proc.returncode}: "
                                   + open(os.path.join(self.tmp, f"broker{self._n}.log")).read())
            try:
                connect(path).close()
                return path
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(path) from None
                time.sleep(0.01)

    def broker_env(self, path: str, env: dict | None = None) -> dict:
        return dict(env or self.env, FLUX_URI=f"local://{path}")

    def echo(self, response: bytes, spin_us: float) -> str:
        """Start an echo server answering every frame with ``response``; its path."""
        self._n += 1
        path = os.path.join(self.tmp, f"echo{self._n}")
        proc = subprocess.Popen([sys.executable, __file__, "--echo", path, response.hex(), str(spin_us)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.others.append(proc)
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("echo server did not start")
        return path

    def throughput(self, path: str, topic: str, payload: dict, clients: int, window: int,
                   seconds: float, spin_us: float) -> float:
        """Requests/s of ``clients`` processes each keeping ``window`` requests in flight
        (distinct matchtags 1..window per connection).  All start together."""
        args = [sys.executable, __file__, "--worker", path, str(seconds), str(window), str(spin_us),
                topic, json.dumps(payload)]
        procs = [subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                 for _ in range(clients)]
        self.others.extend(procs)
        try:
            for p in procs:
                assert p.stdout is not None
                if p.stdout.readline().strip() != "ready":
                    raise RuntimeError("worker did not start")
            for p in procs:
                assert p.stdin is not None
                p.stdin.write("go\n")
                p.stdin.flush()
            total = 0
            for p in procs:
                out, _ = p.communicate(timeout=seconds + 30)
                total += int(out.strip() or 0)
            return total / seconds
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                p.wait()
                self.others.remove(p)

    def close(self) -> None:
        for p in self.others:
            if p.poll() is None:
                p.kill()
            p.wait()
        self.others.clear()
        for proc, path in self.brokers:
            if proc.poll() is None:
                try:
                    subprocess.run([self.flux, "shutdown"], env=self.broker_env(path),
                                   stdin=subprocess.DEVNULL, capture_output=True, timeout=15)
                    proc.wait(timeout=15)
                except (subprocess.TimeoutExpired, OSError):
                    pass
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.brokers.clear()
        shutil.rmtree(self.tmp, ignore_errors=True)


# -- measuring and reporting ---------------------------------------------------------------


def interleave(subjects: list[tuple[str, object]], runs: int, per_run: int,
               chunk: int = 100) -> dict[str, dict]:
    """Measure ``subjects`` ((name, fn(count) -> seconds per round trip)) round-robin
    in chunks, rotating the order; ``runs`` runs of ``per_run`` round trips each.
    Returns {name: {"runs": [median per run], "samples": [all samples]}}."""
    for _, fn in subjects:
        fn(chunk)  # warm-up
    res = {name: {"runs": [], "samples": []} for name, _ in subjects}
    k = 0
    for _ in range(runs):
        cur: dict[str, list[float]] = {name: [] for name, _ in subjects}
        for _ in range(max(1, per_run // chunk)):
            for j in range(len(subjects)):
                name, fn = subjects[(k + j) % len(subjects)]
                cur[name].extend(fn(chunk))
            k += 1
        for name, samples in cur.items():
            res[name]["runs"].append(statistics.median(samples))
            res[name]["samples"].extend(samples)
    return res


def interleave_rates(subjects: list[tuple[str, object]], runs: int, seconds: float) -> dict[str, list[float]]:
    """Rates (fn(seconds) -> per second), one measurement of each per run, order rotated."""
    for _, fn in subjects:
        fn(min(0.2, seconds))  # warm-up
    res: dict[str, list[float]] = {name: [] for name, _ in subjects}
    for r in range(runs):
        for j in range(len(subjects)):
            name, fn = subjects[(r + j) % len(subjects)]
            res[name].append(fn(seconds))
    return res


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def lat_line(label: str, r: dict, width: int = 44) -> str:
    """'label  median us  [runs min..max]  p10/p90' (median of the per-run medians)."""
    runs, smp = r["runs"], r["samples"]
    return (f"  {label:<{width}} {statistics.median(runs) * 1e6:7.1f} us"
            f"  [runs {min(runs) * 1e6:.1f}..{max(runs) * 1e6:.1f}; "
            f"p10 {pct(smp, 0.1) * 1e6:.1f}, p90 {pct(smp, 0.9) * 1e6:.1f}]")


def rate_line(label: str, v: list[float], unit: str, width: int = 44) -> str:
    return f"  {label:<{width}} {statistics.median(v):9.0f} {unit}  [runs {min(v):.0f}..{max(v):.0f}]"


def ratio_runs(num: list[float], den: list[float]) -> str:
    """Median of the per-run ratios and their min..max (runs are paired in time)."""
    rs = [a / b for a, b in zip(num, den)]
    return f"{statistics.median(rs):.2f} [runs {min(rs):.2f}..{max(rs):.2f}]"


# -- child processes -----------------------------------------------------------------------


def echo_server(path: str, response: bytes, spin_us: float) -> None:
    """Answer every request frame with ``response`` (epoll, like the broker's loop).
    spin_us > 0: after traffic keep polling with a zero timeout for that long,
    as the broker's loop does with ``broker.spin-us``."""
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(64)
    ep = select.epoll()
    ep.register(ls.fileno(), select.EPOLLIN)
    parent = sys.stdin.fileno()
    ep.register(parent, select.EPOLLIN)
    conns: dict[int, tuple[socket.socket, bytearray]] = {}
    spin = spin_us / 1e6
    monotonic = time.monotonic
    poll = ep.poll
    lfd = ls.fileno()
    last = 0.0
    print("ready", flush=True)
    while True:
        events = poll(0 if spin and monotonic() - last < spin else -1)
        if not events:
            continue
        for fd, _ in events:
            if fd == lfd:
                c, _ = ls.accept()
                c.sendall(b"\x00")
                conns[c.fileno()] = (c, bytearray())
                ep.register(c.fileno(), select.EPOLLIN)
                continue
            if fd == parent:
                if not os.read(parent, 4096):
                    return
                continue
            c, buf = conns[fd]
            try:
                data = c.recv(1 << 20)
            except OSError:
                data = b""
            if not data:
                ep.unregister(fd)
                del conns[fd]
                c.close()
                continue
            buf += data
            count = take_frames(buf)
            if count:
                try:
                    c.sendall(response * count)
                except OSError:
                    pass
        last = monotonic()


def worker(path: str, seconds: float, window: int, spin_us: float, topic: str, payload: dict) -> None:
    """Keep ``window`` requests (matchtags 1..window) in flight on one connection;
    each answer sends the next tag in turn.  Prints the completions."""
    s = connect(path)
    reqs = [request(topic, payload, tag) for tag in range(1, window + 1)]
    wait = make_waiter(s, spin_us)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    s.sendall(b"".join(reqs))
    nxt = 0
    buf = bytearray()
    done = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        wait()
        try:
            data = s.recv(1 << 20)
        except OSError:
            break
        if not data:
            break
        buf += data
        n = take_frames(buf)
        if n:
            done += n
            out = []
            for _ in range(n):
                out.append(reqs[nxt])
                nxt = (nxt + 1) % window
            try:
                s.sendall(b"".join(out))
            except OSError:
                break
    print(done, flush=True)
    s.close()


if __name__ == "__main__":
    try:
        if sys.argv[1] == "--echo":
            echo_server(sys.argv[2], bytes.fromhex(sys.argv[3]), float(sys.argv[4]))
        elif sys.argv[1] == "--worker":
            worker(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]),
                   sys.argv[6], json.loads(sys.argv[7]))
    except (KeyboardInterrupt, BrokenPipeError):
        pass

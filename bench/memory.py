#!/usr/bin/env python3
"""Resident memory of a broker: idle, with many connected clients, and after load.

Usage: python bench/memory.py [--clients N] [--seconds S] [--rounds R]

Starts a pureflux broker (``flux broker`` in a temp dir) and reads its
resident set size (VmRSS in /proc/PID/status; module processes are separate
and not counted) at each step:

  idle           after start-up and a second of quiet
  N clients      N raw connections opened (handshake done), idle
  load k         after each of R rounds of S s of 8 client processes x 32
                 ``broker.ping`` in flight, and R rounds of the N clients
                 each sending one request and reading its answer
  N closed       the N connections closed, a second of quiet

Flat under load means the "load k" figures do not grow round after round.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _harness import Procs, connect, request, take_frames  # noqa: E402

PING = ("broker.ping", {"seq": 0, "pad": "p" * 64, "time.tv_sec": 0, "time.tv_nsec": 0})


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def one_each(socks: list[socket.socket]) -> None:
    """Every connection sends one ping; then every answer is read."""
    req = request(*PING)
    for s in socks:
        s.sendall(req)
    for s in socks:
        buf = bytearray()
        while not take_frames(buf):
            data = s.recv(65536)
            if not data:
                raise EOFError("broker closed a connection")
            buf += data


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    rows: list[tuple[str, int]] = []
    with Procs("pf-bench-mem-") as procs:
        path = procs.broker()
        pid = procs.brokers[-1][0].pid
        time.sleep(1.0)
        rows.append(("idle", rss_kib(pid)))
        socks = [connect(path) for _ in range(args.clients)]
        time.sleep(0.5)
        rows.append((f"{args.clients} clients connected", rss_kib(pid)))
        for k in range(1, args.rounds + 1):
            procs.throughput(path, *PING, 8, 32, args.seconds, 150.0)
            one_each(socks)
            rows.append((f"load {k}: 8 x 32 in flight {args.seconds:g} s + 1 each", rss_kib(pid)))
        for s in socks:
            s.close()
        time.sleep(1.0)
        rows.append((f"{args.clients} clients closed", rss_kib(pid)))
    print(f"python {sys.version.split()[0]}; broker resident memory (VmRSS)")
    base = rows[0][1]
    for label, kib in rows:
        print(f"  {label:<44} {kib / 1024:7.1f} MiB  ({(kib - base) / 1024:+.1f})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)

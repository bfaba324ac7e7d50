#!/usr/bin/env python3
"""The KVS: commits, a large commit, lookups, and readers beside a writer, against floors.

Usage: python bench/kvs.py [--runs R] [--count N] [--keys K] [--seconds S] [--readers C]

One pureflux broker with ``-S statedir=DIR`` (the durable settings: SQLite in
WAL mode, ``synchronous=NORMAL``, as flux-core's content store with a
statedir), and floors measured in the same run, interleaved with the subject:

(a) commits/s, one small ``flux.kvs.put`` + synchronous ``flux.kvs.commit``
    each, against the same Python inserting and committing one row at a time
    into SQLite (WAL, ``synchronous=NORMAL``, the content store's table);
    target >= 0.1x the floor;
(b) one commit of K (10,000) keys (staging the puts in a ``KVSTxn`` and the
    commit), against SQLite inserting those K rows in one transaction;
    target <= 8x the floor;
(c) the round trip of ``flux.kvs.get`` of an existing key, against the
    polling echo floor of bench/ping.py (a canned answer of the lookup
    response's size); target <= 3x the floor;
(d) C reader processes calling ``flux.kvs.get`` in a loop while one process
    commits: lookups/s and commits/s (no floor).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _harness import (SPIN_US, Procs, RawClient, fetch_response, interleave,  # noqa: E402
                      lat_line, ratio_runs, request)

import flux  # noqa: E402
import flux.kvs  # noqa: E402

_SCHEMA = ("CREATE TABLE IF NOT EXISTS objects("
           " hash BLOB PRIMARY KEY, size INT, object BLOB, epoch INT DEFAULT 0)")
_INSERT = "INSERT INTO objects (hash, size, object) VALUES (CAST(?1 AS TEXT), -1, ?2)"


def sqlite_db(path: str) -> sqlite3.Connection:
    """A database with the content store's durable settings and table."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA locking_mode=EXCLUSIVE")
    db.execute(_SCHEMA)
    return db


def floor_commits(db: sqlite3.Connection):
    """fn(count): seconds per insert+commit of one small row."""
    n = [0]

    def fn(count: int) -> list[float]:
        perf = time.perf_counter
        out = []
        for _ in range(count):
            n[0] += 1
            row = (os.urandom(20), b'{"data":"MQ==","type":"val","ver":1}' + str(n[0]).encode())
            t0 = perf()
            db.execute("BEGIN")
            db.execute(_INSERT, row)
            db.execute("COMMIT")
            out.append(perf() - t0)
        return out

    return fn


def kvs_commits(h, keys: int = 100):
    """fn(count): seconds per flux.kvs.put + flux.kvs.commit of one small value, to one of
    ``keys`` keys of one directory in turn (the directory is rewritten whole each time)."""
    n = [0]

    def fn(count: int) -> list[float]:
        perf = time.perf_counter
        put, commit = flux.kvs.put, flux.kvs.commit
        out = []
        for _ in range(count):
            n[0] += 1
            t0 = perf()
            put(h, f"bench.d{keys}.k{n[0] % keys}", n[0])
            commit(h)
            out.append(perf() - t0)
        return out

    return fn


def floor_bulk(db: sqlite3.Connection, keys: int):
    """fn(count): seconds to insert ``keys`` rows (key, value) in one transaction."""
    n = [0]

    def fn(count: int) -> list[float]:
        out = []
        for _ in range(count):
            n[0] += 1
            t0 = time.perf_counter()
            rows = [(f"b{n[0]}.k{i}".encode(), str(i).encode()) for i in range(keys)]
            db.execute("BEGIN")
            db.executemany(_INSERT, rows)
            db.execute("COMMIT")
            out.append(time.perf_counter() - t0)
        return out

    return fn


def kvs_bulk(h, keys: int, commit_only: list[float]):
    """fn(count): seconds to stage ``keys`` puts in a KVSTxn and commit them (one commit);
    the commit round trip alone is appended to ``commit_only``."""
    n = [0]

    def fn(count: int) -> list[float]:
        out = []
        for _ in range(count):
            n[0] += 1
            t0 = time.perf_counter()
            txn = flux.kvs.KVSTxn(h, f"bulk{n[0]}")
            for i in range(keys):
                txn.put(f"k{i}", i)
            t1 = time.perf_counter()
            txn.commit()
            t2 = time.perf_counter()
            out.append(t2 - t0)
            commit_only.append(t2 - t1)
        return out

    return fn


def kvs_gets(h, keys: list[str]):
    """fn(count): seconds per flux.kvs.get, cycling through ``keys``."""
    n = [0]

    def fn(count: int) -> list[float]:
        perf = time.perf_counter
        get = flux.kvs.get
        out = []
        i = n[0]
        for i in range(i, i + count):  # noqa: B020 (continues from the saved index)
            key = keys[i % len(keys)]
            t0 = perf()
            get(h, key)
            out.append(perf() - t0)
        n[0] = i + 1
        return out

    return fn


def reader(uri: str, seconds: float) -> None:
    """Child: flux.kvs.get in a loop once told to go; prints the count."""
    h = flux.Flux(uri)
    flux.kvs.get(h, "bench.read")
    print("ready", flush=True)
    sys.stdin.readline()
    n = 0
    end = time.monotonic() + seconds
    get = flux.kvs.get
    while time.monotonic() < end:
        for _ in range(20):
            get(h, "bench.read")
        n += 20
    print(n, flush=True)


def writer(uri: str, seconds: float) -> None:
    """Child: put + commit in a loop once told to go; prints the count."""
    h = flux.Flux(uri)
    print("ready", flush=True)
    sys.stdin.readline()
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        flux.kvs.put(h, f"bench.w.k{n % 100}", n)
        flux.kvs.commit(h)
        n += 1
    print(n, flush=True)


def mixed(uri: str, readers: int, seconds: float) -> tuple[float, float]:
    """(lookups/s, commits/s) of ``readers`` readers and one writer running together."""
    env = dict(os.environ, FLUX_URI=uri)
    me = os.path.abspath(__file__)
    procs = [subprocess.Popen([sys.executable, me, "--reader", uri, str(seconds)], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for _ in range(readers)]
    procs.append(subprocess.Popen([sys.executable, me, "--writer", uri, str(seconds)], env=env,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    try:
        for p in procs:
            assert p.stdout is not None
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError("bench child did not start")
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        counts = [int(p.communicate(timeout=seconds + 60)[0].strip() or 0) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
    return sum(counts[:-1]) / seconds, counts[-1] / seconds


W = 52


def part_a(h, db, args) -> None:
    r = interleave([("floor", floor_commits(db)), ("kvs", kvs_commits(h)),
                    ("one", kvs_commits(h, 1))], args.runs, args.count, chunk=50)
    print(f"(a) one small put + synchronous commit, {args.count} x {args.runs} runs, "
          "interleaved:")
    print(lat_line("floor: SQLite insert + commit of one row", r["floor"], W))
    print(lat_line("put + commit, keys bench.d100.k0..k99 in turn", r["kvs"], W))
    print(lat_line("put + commit, always bench.d1.k0", r["one"], W))
    print(f"           commits/s / floor = {ratio_runs(r['floor']['runs'], r['one']['runs'])}"
          "   (a directory of one entry rewritten)")
    rates = {k: 1 / statistics.median(v["runs"]) for k, v in r.items()}
    print(f"  commits/s: kvs {rates['kvs']:.0f}, floor {rates['floor']:.0f}")
    print(f"  HEADLINE commits/s / floor = {ratio_runs(r['floor']['runs'], r['kvs']['runs'])}"
          "   (target >= 0.1; the 100-key directory)")


def part_b(h, db, args) -> None:
    commit_only: list[float] = []
    r = interleave([("floor", floor_bulk(db, args.keys)),
                    ("kvs", kvs_bulk(h, args.keys, commit_only))],
                   args.bulk_runs, 1, chunk=1)
    print(f"(b) one commit of {args.keys} keys (one directory, small values), "
          f"{args.bulk_runs} runs, interleaved:")
    print(lat_line(f"floor: SQLite inserts {args.keys} rows, one transaction", r["floor"], W))
    print(lat_line("KVSTxn: stage the puts + commit", r["kvs"], W))
    print(f"  of which the commit round trip: median {statistics.median(commit_only) * 1e3:.1f}"
          f" ms [{min(commit_only) * 1e3:.1f}..{max(commit_only) * 1e3:.1f}]")
    print(f"  HEADLINE large commit / floor = {ratio_runs(r['kvs']['runs'], r['floor']['runs'])}"
          "   (target <= 8)")


def part_c(h, procs, bpath, args) -> None:
    flux.kvs.put(h, "bench.read", {"value": 42})
    flux.kvs.commit(h)
    payload = {"key": "bench.read", "flags": 0, "namespace": "primary"}
    req = request("kvs.lookup", payload)
    response = fetch_response(bpath, req)
    poll = procs.echo(response, SPIN_US)
    floor = RawClient(poll, req, SPIN_US)
    many = [f"bench.many.k{i}" for i in range(5000)]
    txn = flux.kvs.KVSTxn(h)
    for key in many:
        txn.put(key, {"value": 42})
    txn.commit()
    r = interleave([("floor", floor.latency), ("kvs", kvs_gets(h, ["bench.read"])),
                    ("many", kvs_gets(h, many))], args.runs, args.count * 2)
    floor.close()
    print(f"(c) flux.kvs.get of an existing key, {args.count * 2} x {args.runs} runs, "
          f"response {len(response)} B, interleaved:")
    print(lat_line(f"floor: polling echo (both spin {SPIN_US:g} us)", r["floor"], W))
    print(lat_line("flux.kvs.get(h, 'bench.read')", r["kvs"], W))
    print(f"  HEADLINE get / polling floor = {ratio_runs(r['kvs']['runs'], r['floor']['runs'])}"
          "   (target <= 3)")
    print(lat_line("flux.kvs.get, 5000 keys in turn (none kept)", r["many"], W))
    print(f"           / polling floor = {ratio_runs(r['many']['runs'], r['floor']['runs'])}"
          "   (the broker keeps the last 4096 answers per root: here every lookup walks)")


def part_d(uri, args) -> None:
    print(f"(d) {args.readers} reader processes (flux.kvs.get) + 1 writer (put + commit), "
          f"{args.seconds:g} s x 3 runs:")
    flux.kvs.put(flux.Flux(uri), "bench.read", {"value": 42})
    flux.kvs.commit(flux.Flux(uri))
    res = [mixed(uri, args.readers, args.seconds) for _ in range(3)]
    look = [a for a, _ in res]
    com = [b for _, b in res]
    print(f"  lookups/s {statistics.median(look):.0f} [runs {min(look):.0f}..{max(look):.0f}],"
          f" commits/s {statistics.median(com):.0f} [runs {min(com):.0f}..{max(com):.0f}]")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--count", type=int, default=500, help="commits and gets per subject per run")
    ap.add_argument("--keys", type=int, default=10000, help="keys of the large commit (b)")
    ap.add_argument("--bulk-runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0, help="duration of (d)")
    ap.add_argument("--readers", type=int, default=8)
    ap.add_argument("--parts", default="abcd", help="the figures to measure (default abcd)")
    args = ap.parse_args()

    with Procs() as procs:
        statedir = os.path.join(procs.tmp, "state")
        bpath = procs.broker([f"statedir={statedir}"])
        uri = f"local://{bpath}"
        h = flux.Flux(uri)
        db = sqlite_db(os.path.join(procs.tmp, "floor.sqlite"))
        print(f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, "
              f"{os.cpu_count()} CPUs; broker -S statedir (WAL, synchronous=NORMAL); median of "
              f"{args.runs} runs [min..max of the run medians; p10/p90 of all samples]; "
              "ratios: median of the per-run ratios [min..max]")
        if "a" in args.parts:
            part_a(h, db, args)
        if "b" in args.parts:
            part_b(h, db, args)
        if "c" in args.parts:
            part_c(h, procs, bpath, args)
        if "d" in args.parts:
            part_d(uri, args)
        db.close()
    return 0


if __name__ == "__main__":
    try:
        if len(sys.argv) == 4 and sys.argv[1] == "--reader":
            reader(sys.argv[2], float(sys.argv[3]))
        elif len(sys.argv) == 4 and sys.argv[1] == "--writer":
            writer(sys.argv[2], float(sys.argv[3]))
        else:
            sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)

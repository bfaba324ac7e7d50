"""One client of the load test: ``python load_worker.py URI CLIENT ITERATIONS CLIENTS``.

It subscribes to the load events, says ``ready``, waits for ``go`` on stdin, then
runs ITERATIONS rounds mixing pings, module requests (``echo.echo``), KVS commits and
lookups of its own keys, events, and streaming RPCs (``streamer.stream``), checking
every answer; last it waits for every client's events.  It prints one JSON report.
"""

from __future__ import annotations

import errno
import json
import sys
import time

import flux
import flux.kvs
from flux.constants import FLUX_MSGTYPE_EVENT, FLUX_RPC_STREAMING

EVENT_EVERY = 5
KVS_EVERY = 10
STREAM_EVERY = 25
STREAM_COUNT = 5
WINDOW = 8


def main() -> int:
    uri, cid, iterations, clients = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
        int(sys.argv[4])
    h = flux.Flux(uri)
    errors: list[str] = []
    counts = {"ping": 0, "echo": 0, "kvs": 0, "events_sent": 0, "stream": 0}
    seen: dict[str, int] = {}  # source client -> last sequence received
    received = [0]

    def on_event(handle, watcher, msg, arg):
        src = msg.topic.rsplit(".", 1)[-1]
        seq = msg.payload["i"]
        if seq <= seen.get(src, -1):
            errors.append(f"event from {src}: {seq} after {seen[src]}")
        seen[src] = seq
        received[0] += 1

    h.event_subscribe("load.")
    watcher = h.msg_watcher_create(on_event, FLUX_MSGTYPE_EVENT, "load.*")
    watcher.start()
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1
    t0 = time.monotonic()
    inflight: list = []

    def settle(limit: int) -> None:
        while len(inflight) > limit:
            kind, want, fut = inflight.pop(0)
            try:
                got = fut.get()
            except OSError as exc:
                errors.append(f"{kind}: {exc}")
                continue
            if kind == "ping" and (got.get("seq"), got.get("pad")) != want:
                errors.append(f"ping: {got} for {want}")
            elif kind == "echo" and got != want:
                errors.append(f"echo: {got} for {want}")
            counts[kind] += 1

    for i in range(iterations):
        inflight.append(("ping", (i, f"c{cid}"),
                         h.rpc("broker.ping", {"seq": i, "pad": f"c{cid}"})))
        body = {"c": cid, "i": i}
        inflight.append(("echo", body, h.rpc("echo.echo", body)))
        settle(WINDOW)
        if i % KVS_EVERY == 0:
            key = f"load.c{cid}.k{i % 7}"
            flux.kvs.put(h, key, {"i": i})
            flux.kvs.commit(h)
            got = flux.kvs.get(h, key)
            if got != {"i": i}:
                errors.append(f"kvs {key}: {got}")
            counts["kvs"] += 1
        if i % EVENT_EVERY == 0:
            h.event_send(f"load.c{cid}", {"i": i})
            counts["events_sent"] += 1
        if i % STREAM_EVERY == 0:
            fut = h.rpc("streamer.stream", {"count": STREAM_COUNT}, flags=FLUX_RPC_STREAMING)
            got = []
            while True:
                try:
                    got.append(fut.get()["seq"])
                except OSError as exc:
                    if exc.errno != errno.ENODATA:
                        errors.append(f"stream: {exc}")
                    break
                fut.reset()
            if got != list(range(STREAM_COUNT)):
                errors.append(f"stream: {got}")
            counts["stream"] += 1
    settle(0)
    elapsed = time.monotonic() - t0
    expected = clients * len(range(0, iterations, EVENT_EVERY))

    def check(handle, timer, revents, arg):
        if received[0] >= expected or time.monotonic() > deadline:
            handle.reactor_stop()

    deadline = time.monotonic() + 60
    timer = h.timer_watcher_create(0.0, check, repeat=0.05)
    timer.start()
    h.reactor_run()
    if received[0] != expected:
        errors.append(f"events: {received[0]} of {expected}")
    print(json.dumps({"client": cid, "counts": counts, "events": received[0],
                      "errors": errors[:20], "seconds": elapsed}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

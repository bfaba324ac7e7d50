#!/usr/bin/env python3
"""Codec benchmark: full message cycle against a same-run JSON floor.

(a) full cycle on a typical request: build a Message (12-character topic,
    ~100-byte JSON object payload), encode_stream, feed the bytes to a
    persistent StreamDecoder, read ``.payload`` of the decoded message;
(b) floor: ``json.dumps`` + ``json.loads`` of the same payload object with the
    json module's defaults -- the least any JSON-over-a-wire message costs.

Reports the median over several repeats and the ratio cycle/floor
(target <= 1.5).  Run: ``python bench/codec.py``.  Not a test: no asserts.
"""

from __future__ import annotations

import json
import statistics
import sys
import timeit
from pathlib import Path

try:
    from flux.codec import StreamDecoder, encode_stream
    from flux.message import Message
except ImportError:  # running from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from flux.codec import StreamDecoder, encode_stream
    from flux.message import Message

REPEATS = 9
TARGET_SECONDS_PER_REPEAT = 0.25

TOPIC = "kvs.lookup.x"  # 12 characters
PAYLOAD = {
    "key": "jobs.active.f2Qx7ZnVEQR",
    "namespace": "primary",
    "flags": 0,
    "rootref": "sha1-4bb7d372bb5f1732",
}


def cycle_fn():
    decoder = StreamDecoder()
    feed = decoder.feed
    topic = TOPIC
    payload = PAYLOAD

    def cycle():
        msg = Message()
        msg.topic = topic
        msg.payload = payload
        for out in feed(encode_stream(msg)):
            out.payload  # noqa: B018 (decoding the payload is what is measured)

    return cycle


def floor_fn():
    dumps = json.dumps
    loads = json.loads
    payload = PAYLOAD

    def floor():
        loads(dumps(payload))

    return floor


def sanity_check() -> int:
    cycle = cycle_fn()
    cycle()
    msg = Message()
    msg.topic = TOPIC
    msg.payload = PAYLOAD
    [out] = StreamDecoder().feed(encode_stream(msg))
    if out.payload != PAYLOAD or out.topic != TOPIC:
        raise SystemExit("codec cycle does not round-trip the payload")
    return len(msg.payload_bytes) - 1


def calibrate(fn) -> int:
    timer = timeit.Timer(fn)
    number, elapsed = timer.autorange()
    return max(1, int(number * TARGET_SECONDS_PER_REPEAT / max(elapsed, 1e-9)))


def measure(fn_cycle, fn_floor) -> tuple[list[float], list[float]]:
    """Per-call seconds for each repeat; the two loops are interleaved."""
    n_cycle = calibrate(fn_cycle)
    n_floor = calibrate(fn_floor)
    t_cycle = timeit.Timer(fn_cycle)
    t_floor = timeit.Timer(fn_floor)
    cycles, floors = [], []
    for _ in range(REPEATS):
        cycles.append(t_cycle.timeit(n_cycle) / n_cycle)
        floors.append(t_floor.timeit(n_floor) / n_floor)
    return cycles, floors


def main() -> int:
    json_len = sanity_check()
    cycles, floors = measure(cycle_fn(), floor_fn())
    cycle = statistics.median(cycles)
    floor = statistics.median(floors)
    ratio = cycle / floor
    print(f"python {sys.version.split()[0]}; topic {len(TOPIC)} chars, "
          f"payload {json_len} bytes of JSON; median of {REPEATS} repeats")
    print(f"codec full cycle: {1 / cycle:,.0f} msg/s ({cycle * 1e6:.2f} us)"
          f"  [min {min(cycles) * 1e6:.2f} us, max {max(cycles) * 1e6:.2f} us]")
    print(f"floor json.dumps+loads: {1 / floor:,.0f}/s ({floor * 1e6:.2f} us)"
          f"  [min {min(floors) * 1e6:.2f} us, max {max(floors) * 1e6:.2f} us]")
    print(f"ratio: {ratio:.2f} (target <= 1.5){'' if ratio <= 1.5 else '  ABOVE TARGET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

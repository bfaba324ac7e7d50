"""The broker loop's spin policy: adaptive spinning only while traffic is heavy."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from flux.broker.loop import Loop
from flux.core.connection import SPIN_STREAK


def run_traffic(loop: Loop, gaps: list[float]) -> tuple[int, int]:
    """Feed one byte after each gap (seconds) from a thread while ``loop`` runs;
    return (events handled, zero-timeout polls = spinning passes)."""
    r, w = socket.socketpair()
    r.setblocking(False)
    seen = [0]

    def on_read(events: int) -> None:
        seen[0] += len(r.recv(4096))
        if seen[0] == len(gaps):
            loop.call_later(0.05, loop.stop)  # a last quiet moment, then stop

    loop.add_reader(r.fileno(), on_read)
    spins = [0]
    real_poll = loop._poller.poll

    def counting_poll(timeout):
        if timeout == 0.0:
            spins[0] += 1
        return real_poll(timeout)

    loop._poller.poll = counting_poll  # type: ignore[method-assign]

    def feed() -> None:
        for gap in gaps:
            time.sleep(gap)
            w.send(b"x")

    t = threading.Thread(target=feed)
    t.start()
    guard = loop.call_later(30, loop.stop)
    try:
        loop.run()
    finally:
        guard.cancel()
        t.join()
        loop.remove(r.fileno())
        r.close()
        w.close()
        loop.close()
    assert seen[0] == len(gaps)
    return seen[0], spins[0]


def test_adaptive_loop_does_not_spin_on_a_trickle():
    # arrivals 20 ms apart, window 150 us: never a streak of quick arrivals
    _, spins = run_traffic(Loop(spin_us=150, adaptive=True), [0.02] * 6)
    assert spins == 0


def test_always_spinning_loop_spins_after_every_arrival():
    # a 20 ms window (so that a loaded machine cannot preempt the loop past it), arrivals
    # 50 ms apart: a trickle, and still every wake-up is followed by spinning
    _, spins = run_traffic(Loop(spin_us=20000, adaptive=False), [0.05] * 6)
    assert spins >= 6  # at least one empty zero-timeout poll per wake-up


def test_adaptive_loop_spins_once_traffic_is_heavy():
    # a window of 1 s: arrivals 2 ms apart are "quick"; after SPIN_STREAK of them it spins
    _, spins = run_traffic(Loop(spin_us=1e6, adaptive=True), [0.002] * (SPIN_STREAK + 4))
    assert spins > 0


@pytest.mark.parametrize("adaptive", [True, False])
def test_loop_with_spin_off_never_spins(adaptive):
    _, spins = run_traffic(Loop(spin_us=0, adaptive=adaptive), [0.001] * 6)
    assert spins == 0

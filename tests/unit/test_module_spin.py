"""A module process polls after traffic only while it is heavy (module_exec._start_spin)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

import flux
from flux.constants import FLUX_REACTOR_NOWAIT
from flux.core import module_exec
from flux.core.connection import SPIN_STREAK


def spinning(monkeypatch, policy: str, streak: int, since_rx: float) -> bool:
    """Whether the module's idle (spin) watcher runs after one reactor pass."""
    monkeypatch.setenv("FLUX_MODULE_SPIN_US", "150000")  # a 150 ms window
    monkeypatch.setenv("FLUX_SPIN_POLICY", policy)
    h = flux.Flux("loop://")
    stats = SimpleNamespace(last_rx=time.monotonic() - since_rx, streak=streak, quick=0.0)
    module_exec._start_spin(h, stats)
    assert stats.quick == pytest.approx(0.15)  # arrivals within the window count as quick
    idle, prepare = h._core.aux["flux::spin_watchers"]
    h.reactor_run(h.get_reactor(), FLUX_REACTOR_NOWAIT)
    on = idle.is_active()
    idle.stop()
    prepare.stop()
    return bool(on)


def test_a_heavy_stream_of_requests_keeps_the_module_polling(monkeypatch):
    assert spinning(monkeypatch, "adaptive", SPIN_STREAK, 0.0)


def test_a_trickle_does_not(monkeypatch):
    assert not spinning(monkeypatch, "adaptive", SPIN_STREAK - 1, 0.0)


def test_nothing_polls_once_the_window_has_passed(monkeypatch):
    assert not spinning(monkeypatch, "adaptive", SPIN_STREAK, 1.0)


def test_always_policy_polls_after_any_arrival(monkeypatch):
    assert spinning(monkeypatch, "always", 0, 0.0)

"""Flux Standard Duration (RFC 23) formatting, as flux-core prints durations.

The broker's state-machine log lines (``quorum-full: quorum->run 0.101027s``)
and ``flux uptime`` (``run 2.5m``) print durations this way; one function keeps
them identical to flux-core's (``fsd_format_duration_ex``): milliseconds below
0.1 s, then seconds, minutes, hours or days, with ``precision`` significant
digits (C's ``%.*g``).
"""

from __future__ import annotations

import math

__all__ = ["format_duration"]


def format_duration(seconds: float, precision: int = 6) -> str:
    """``0.0123`` -> ``"12.3ms"``, ``75`` -> ``"1.25m"``; ValueError if negative or NaN."""
    if math.isinf(seconds):
        return "infinity"
    if not seconds >= 0:  # negative or NaN
        raise ValueError(f"invalid duration {seconds!r}")
    if seconds < 0.1 and seconds != 0.0:
        return f"{seconds * 1000.0:.{precision}g}ms"
    if seconds < 60.0:
        return f"{seconds:.{precision}g}s"
    if seconds < 3600.0:
        return f"{seconds / 60.0:.{precision}g}m"
    if seconds < 86400.0:
        return f"{seconds / 3600.0:.{precision}g}h"
    return f"{seconds / 86400.0:.{precision}g}d"

"""flux.fsd.format_duration prints durations as flux-core's fsd_format_duration_ex."""

from __future__ import annotations

import math

import pytest

from flux.fsd import format_duration


@pytest.mark.parametrize("seconds, precision, text", [
    (0.0, 6, "0s"),
    (0.0123, 6, "12.3ms"),
    (1.23e-08, 6, "1.23e-05ms"),
    (0.101027, 6, "0.101027s"),
    (0.75, 2, "0.75s"),
    (3.14159, 2, "3.1s"),
    (59.9, 6, "59.9s"),
    (90.0, 2, "1.5m"),
    (7200.0, 6, "2h"),
    (86400.0 * 3, 2, "3d"),
    (math.inf, 6, "infinity"),
])
def test_format_duration(seconds, precision, text):
    assert format_duration(seconds, precision) == text


@pytest.mark.parametrize("bad", [-1.0, math.nan])
def test_invalid_durations_raise(bad):
    with pytest.raises(ValueError):
        format_duration(bad)

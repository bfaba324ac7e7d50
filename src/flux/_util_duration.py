"""``flux.util.parse_fsd`` and ``parse_datetime``: reading durations (RFC 23) and
times as flux-core's Python commands read them (``--begin-time=+1h``, ``-t 5m``)."""

from __future__ import annotations

import math
import re
from datetime import datetime

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

__all__ = ["parse_fsd", "parse_datetime"]

_UNITS = {"s": 1.0, "ms": 0.001, "m": 60.0, "h": 3600.0, "d": 86400.0}
_FSD = re.compile(r"(.*?)(s|m|h|d|ms)$")


def parse_fsd(fsd_string: str) -> float:
    """``"1.5m"`` -> 90.0; a bare number is seconds; ``inf``/``infinity`` -> inf.
    ValueError("invalid Flux standard duration") otherwise (negative, NaN, junk)."""
    if fsd_string in ("inf", "infinity", "INF", "INFINITY"):
        return math.inf
    match = _FSD.match(fsd_string)
    number, unit = (match.group(1), match.group(2)) if match else (fsd_string, "s")
    try:
        value = float(number)
    except (TypeError, ValueError):
        raise ValueError("invalid Flux standard duration") from None
    seconds = value * _UNITS[unit]
    if seconds < 0 or math.isnan(seconds) or math.isinf(seconds):
        raise ValueError("invalid Flux standard duration")
    return seconds


def parse_datetime(string: str, now: Optional[datetime] = None) -> datetime:
    """``now``, ``+FSD`` / ``-FSD`` (an offset from ``now``), or an ISO 8601 date or
    time (``2026-01-02``, ``2026-01-02T10:00``, ``10:30``: today, local time).

    flux-core also accepts the free text of the parsedatetime package ("tomorrow
    noon"); that is not supported here.  ValueError for what cannot be read.
    """
    if now is None:
        now = datetime.now().astimezone()
    if string == "now":
        return now
    if string.startswith("+"):
        return datetime.fromtimestamp(now.timestamp() + parse_fsd(string[1:])).astimezone()
    if string.startswith("-"):
        return datetime.fromtimestamp(now.timestamp() - parse_fsd(string[1:])).astimezone()
    text = string.strip()
    try:
        if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", text):
            parts = [int(p) for p in text.split(":")] + [0]
            when = now.replace(hour=parts[0], minute=parts[1], second=parts[2], microsecond=0)
            return when.replace(tzinfo=None).astimezone()
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f'Invalid datetime: "{string}"') from None
    return when.astimezone() if when.tzinfo is None else when

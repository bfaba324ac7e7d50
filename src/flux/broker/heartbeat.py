"""``heartbeat.pulse``: an event published by rank 0 every ``heartbeat.period``.

flux-core does this in a module; here it is one timer in the broker (no
process, no round trip).  The period is the runtime attribute
``heartbeat.period``, a Flux Standard Duration ("2s", "0.5", "100ms").
"""

from __future__ import annotations

from typing import Optional

from .attrs import Attrs, parse_fsd
from .events import Events
from .loop import Loop, Timer

__all__ = ["Heartbeat"]

DEFAULT_PERIOD = "2s"


class Heartbeat:
    def __init__(self, loop: Loop, events: Events, attrs: Attrs) -> None:
        self.loop = loop
        self.events = events
        self.timer: Optional[Timer] = None
        value = attrs.get("heartbeat.period") or DEFAULT_PERIOD
        self.period = self._parse(value)
        attrs.add("heartbeat.period", value, setter=self._set_period)

    @staticmethod
    def _parse(value: str) -> float:
        period = parse_fsd(value)
        if period <= 0:
            raise ValueError("heartbeat period must be positive")
        return period

    def _set_period(self, value: str) -> None:
        self.period = self._parse(value)
        if self.timer is not None:
            self.start()

    def start(self) -> None:
        self.stop()
        self.timer = self.loop.call_later(self.period, self._pulse, interval=self.period)

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _pulse(self) -> None:
        self.events.publish("heartbeat.pulse")

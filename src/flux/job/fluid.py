"""FLUIDs (RFC 19): the 64-bit ids Flux gives jobs, and a generator for them.

A FLUID is ``[timestamp:40 | generator id:14 | sequence:10]``: milliseconds since the
instance's epoch in the high bits, so ids from independent generators sort roughly by
creation time, and the generator id keeps them unique without coordination.

The generator is sans-I/O: the caller passes its own monotonic clock in milliseconds, so
job-ingest decides how to wait when a millisecond's sequence numbers run out, and tests can
drive time by hand.
"""

from __future__ import annotations

TIMESTAMP_BITS = 40
GENERATOR_BITS = 14
SEQUENCE_BITS = 10

MAX_GENERATOR = (1 << GENERATOR_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
MAX_TIMESTAMP = (1 << TIMESTAMP_BITS) - 1
MAX_FLUID = (1 << 64) - 1


def compose(timestamp: int, generator: int, sequence: int) -> int:
    """The FLUID made of these three fields (each must fit its width)."""
    if not (0 <= timestamp <= MAX_TIMESTAMP and 0 <= generator <= MAX_GENERATOR
            and 0 <= sequence <= MAX_SEQUENCE):
        raise ValueError(f"FLUID fields out of range: timestamp={timestamp} "
                         f"generator={generator} sequence={sequence}")
    return (timestamp << (GENERATOR_BITS + SEQUENCE_BITS)) | (generator << SEQUENCE_BITS) | sequence


def timestamp_of(fluid: int) -> int:
    """Milliseconds since the epoch of the instance that made ``fluid``."""
    return fluid >> (GENERATOR_BITS + SEQUENCE_BITS)


def generator_of(fluid: int) -> int:
    return (fluid >> SEQUENCE_BITS) & MAX_GENERATOR


def sequence_of(fluid: int) -> int:
    return fluid & MAX_SEQUENCE


class SequenceExhausted(Exception):
    """All sequence numbers of the current millisecond are used: ask again a millisecond later."""


class FluidGenerator:
    """Makes unique, increasing FLUIDs for one generator id.

    ``timestamp`` is where this generator's clock starts: a restarted instance passes
    ``timestamp_of(its largest id) + 1`` so that new ids sort after, and never equal, old ones;
    generators on other ranks start from rank 0's ``save_timestamp``.  ``now`` is the caller's
    monotonic clock, in milliseconds, at creation; every later call passes the same clock.  A
    clock that goes backwards is ignored: the timestamp never decreases.
    """

    __slots__ = ("_clock_zero", "_offset", "generator", "sequence", "timestamp")

    def __init__(self, generator: int, timestamp: int = 0, now: int = 0) -> None:
        if not 0 <= generator <= MAX_GENERATOR:
            raise ValueError(f"generator id {generator} is not in [0, {MAX_GENERATOR}]")
        if not 0 <= timestamp <= MAX_TIMESTAMP:
            raise ValueError(f"timestamp {timestamp} is not in [0, {MAX_TIMESTAMP}]")
        self.generator = generator
        self.timestamp = timestamp
        self.sequence = 0
        self._clock_zero = now
        self._offset = timestamp

    def _advance(self, now: int) -> None:
        timestamp = now - self._clock_zero + self._offset
        if timestamp > MAX_TIMESTAMP:
            raise OverflowError("FLUID timestamp space exhausted (about 35 years from the epoch)")
        if timestamp > self.timestamp:
            self.timestamp = timestamp
            self.sequence = 0

    def generate(self, now: int) -> int:
        """The next FLUID at clock reading ``now``.

        Raises SequenceExhausted after 1024 ids in one millisecond (flux-core busy-waits for the
        next millisecond there; here the caller chooses how to wait).
        """
        self._advance(now)
        if self.sequence > MAX_SEQUENCE:
            raise SequenceExhausted(f"1024 FLUIDs already made at timestamp {self.timestamp}")
        fluid = compose(self.timestamp, self.generator, self.sequence)
        self.sequence += 1
        return fluid

    def save_timestamp(self, now: int) -> int:
        """The current timestamp, to be stored and passed back as ``timestamp`` after a restart."""
        self._advance(now)
        return self.timestamp

"""The FLUID layout of RFC 19 and the sans-I/O generator (the clock is driven by hand)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux.job import fluid
from flux.job.fluid import FluidGenerator, SequenceExhausted


@given(st.integers(0, fluid.MAX_TIMESTAMP), st.integers(0, fluid.MAX_GENERATOR),
       st.integers(0, fluid.MAX_SEQUENCE))
def test_fields_round_trip(timestamp, generator, sequence):
    value = fluid.compose(timestamp, generator, sequence)
    assert 0 <= value <= fluid.MAX_FLUID
    assert (fluid.timestamp_of(value), fluid.generator_of(value), fluid.sequence_of(value)) \
        == (timestamp, generator, sequence)


def test_layout_is_rfc19s():
    assert (fluid.TIMESTAMP_BITS, fluid.GENERATOR_BITS, fluid.SEQUENCE_BITS) == (40, 14, 10)
    assert fluid.compose(1, 0, 0) == 1 << 24 and fluid.compose(0, 1, 0) == 1 << 10
    assert fluid.compose(fluid.MAX_TIMESTAMP, fluid.MAX_GENERATOR, fluid.MAX_SEQUENCE) \
        == fluid.MAX_FLUID == 2**64 - 1


@pytest.mark.parametrize("fields", [(-1, 0, 0), (2**40, 0, 0), (0, 2**14, 0), (0, 0, 1024)])
def test_compose_rejects_fields_too_wide(fields):
    with pytest.raises(ValueError):
        fluid.compose(*fields)


def test_ids_are_increasing_and_carry_the_generator():
    gen = FluidGenerator(7, timestamp=100, now=5000)
    ids = [gen.generate(5000), gen.generate(5000), gen.generate(5003), gen.generate(5003)]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert [fluid.timestamp_of(i) for i in ids] == [100, 100, 103, 103]
    assert [fluid.sequence_of(i) for i in ids] == [0, 1, 0, 1]
    assert {fluid.generator_of(i) for i in ids} == {7}


def test_a_millisecond_holds_1024_ids():
    gen = FluidGenerator(0)
    ids = [gen.generate(0) for _ in range(1024)]
    assert [fluid.sequence_of(i) for i in ids] == list(range(1024))
    with pytest.raises(SequenceExhausted):
        gen.generate(0)
    nxt = gen.generate(1)  # the caller waited for the next millisecond
    assert nxt > ids[-1] and fluid.sequence_of(nxt) == 0


def test_a_clock_going_backwards_never_lowers_the_timestamp():
    gen = FluidGenerator(1, now=1000)
    first = gen.generate(1010)
    second = gen.generate(1002)
    assert second > first and fluid.timestamp_of(second) == 10


@given(st.lists(st.integers(0, 3), min_size=1, max_size=300))
def test_ids_stay_unique_and_sorted_whatever_the_clock_does(steps):
    gen = FluidGenerator(3, timestamp=50)
    now, ids = 0, []
    for step in steps:
        now += step
        try:
            ids.append(gen.generate(now))
        except SequenceExhausted:
            pass
    assert ids == sorted(set(ids))


def test_restart_after_the_last_id_sorts_after_it():
    before = FluidGenerator(0, timestamp=0, now=0)
    last = max(before.generate(t) for t in (0, 5, 9))
    after = FluidGenerator(0, timestamp=fluid.timestamp_of(last) + 1, now=123456)
    assert after.generate(123456) > last


def test_save_timestamp_follows_the_clock():
    gen = FluidGenerator(2, timestamp=40, now=10)
    assert gen.save_timestamp(10) == 40
    assert gen.save_timestamp(25) == 55
    assert fluid.timestamp_of(gen.generate(25)) == 55
    other = FluidGenerator(3, timestamp=gen.save_timestamp(30), now=0)  # another rank
    assert fluid.timestamp_of(other.generate(0)) == 60


def test_the_end_of_time():
    gen = FluidGenerator(0, timestamp=fluid.MAX_TIMESTAMP)
    assert fluid.timestamp_of(gen.generate(0)) == fluid.MAX_TIMESTAMP
    with pytest.raises(OverflowError):
        gen.generate(1)


@pytest.mark.parametrize(("generator", "timestamp"), [(-1, 0), (2**14, 0), (0, -1), (0, 2**40)])
def test_bad_generator_arguments(generator, timestamp):
    with pytest.raises(ValueError):
        FluidGenerator(generator, timestamp=timestamp)

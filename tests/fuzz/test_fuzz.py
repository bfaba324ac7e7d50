"""The fuzz targets (targets.py), each on random bytes and on mutations of valid input,
with a budget that suits CI.  ``pytest --stress`` (or ``python -m tests.fuzz``) runs
them far longer, coverage-guided where atheris is installed."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.targets import TARGETS, seeds

CI = settings(max_examples=150, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def mutated(name: str) -> st.SearchStrategy[bytes]:
    """A seed with a few bytes changed, cut, or grown: mostly-valid input."""
    def mutate(args: tuple[bytes, list[tuple[int, int]], int, bytes]) -> bytes:
        seed, edits, cut, tail = args
        data = bytearray(seed)
        for pos, value in edits:
            if data:
                data[pos % len(data)] = value
        return bytes(data[:len(data) - cut % (len(data) + 1)]) + tail

    return st.tuples(st.sampled_from(seeds(name)),
                     st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)),
                              max_size=6),
                     st.integers(0, 8), st.binary(max_size=16)).map(mutate)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_on_random_and_mutated_input(name):
    target = TARGETS[name]
    for seed in seeds(name):  # valid input is handled as valid input
        target(seed)

    @CI
    @given(st.one_of(st.binary(max_size=400), mutated(name)))
    def run(data: bytes) -> None:
        target(data)

    run()


def test_stress_run(request, tmp_path):
    """The long run: at least a million inputs over all targets (``--stress``)."""
    if not request.config.getoption("--stress"):
        pytest.skip("the long fuzzing run needs --stress")
    from fuzz.__main__ import run_all

    report = run_all(total=1_000_000, workdir=tmp_path)
    print(f"\nfuzz: {report['inputs']} inputs in {report['seconds']} s ({report['engine']}), "
          f"max RSS {report['max_rss_mb']} MB, findings {len(report['findings'])}: "
          + ", ".join(f"{n} {t['inputs']}" for n, t in report["targets"].items()))
    assert report["inputs"] >= 1_000_000 and not report["findings"], report

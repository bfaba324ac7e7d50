"""The job shell's eventlog writer (flux.shell.kvsappend.Appender) against a real KVS.

Entries made while a commit is in flight wait for the next one, in order, and a long
run of them is linear work: each entry used to be added to the batch's bytes, copying
the whole batch per entry (a job printing 100,000 short lines took 11 s, 10 of them in
its shell)."""

from __future__ import annotations

import time

import pytest

import flux
from flux import eventlog
from flux.kvs.lookups import lookup
from flux.shell.kvsappend import Appender

pytestmark = pytest.mark.timeout(120)

FLUX_REACTOR_ONCE = 2


@pytest.fixture(scope="module")
def h(shared_instance):
    with flux.Flux(shared_instance.uri) as handle:
        yield handle


def settle(h, app: Appender, timeout: float = 60.0) -> None:
    """Run the reactor until everything appended so far is committed."""
    done: list[bool] = []
    app.when_idle(lambda: done.append(True))
    deadline = time.monotonic() + timeout
    while not done:
        assert time.monotonic() < deadline, "appender never became idle"
        h.reactor_run(flags=FLUX_REACTOR_ONCE)


def logged(h, key: str) -> list[dict]:
    return eventlog.decode(lookup(h, key, namespace="primary").get_value())


def test_entries_appended_during_a_commit_follow_in_order(h):
    app = Appender(h, "primary", delay=0.001)
    app.append("test.kvsappend.a", "first", {"n": 0}, now=True)  # a commit in flight
    assert app.inflight
    for n in range(1, 50):  # queued behind it, two keys interleaved in runs
        app.append("test.kvsappend.a" if n % 10 < 5 else "test.kvsappend.b", "data", {"n": n})
    assert app.busy
    settle(h, app)
    assert not app.busy and app.error is None
    a = logged(h, "test.kvsappend.a")
    b = logged(h, "test.kvsappend.b")
    assert [e["context"]["n"] for e in a] == [n for n in range(50) if n % 10 < 5]
    assert [e["context"]["n"] for e in b] == [n for n in range(50) if n % 10 >= 5]
    assert a[0]["name"] == "first" and all(e["name"] == "data" for e in a[1:] + b)


def _time_appends(h, key: str, count: int) -> float:
    app = Appender(h, "primary", delay=0.001)
    app.append(key, "start", None, now=True)  # everything below waits for this commit
    t0 = time.perf_counter()
    for n in range(count):
        app.append(key, "data", {"stream": "stdout", "rank": "0", "data": f"{n}\n"})
    spent = time.perf_counter() - t0
    settle(h, app)
    assert app.error is None
    return spent


def test_a_long_run_of_entries_is_linear_work(h):
    """Ten times the entries behind one commit cost about ten times the time (the
    copying batch took ~100 times: 5,000 entries 0.1 s, 50,000 about 10 s)."""
    small = min(_time_appends(h, "test.kvsappend.small", 5000) for _ in range(2))
    large = _time_appends(h, "test.kvsappend.large", 50000)
    assert large < 30 * small, (small, large)
    entries = logged(h, "test.kvsappend.large")
    assert len(entries) == 50001
    assert entries[-1]["context"]["data"] == "49999\n"

"""Random requests to every method of every service of a live broker, as the instance
owner: each gets an answer (or, for the methods that wait by design, none yet), and
the broker stays up and responsive, with bounded memory, to the end.

The method list is the broker's own (tests/brokermethods.py: a Broker built, not run,
and its router asked), so a new method is fuzzed as soon as it exists.
"""

from __future__ import annotations

import json
import os
import random
import time

import pytest

#: methods that would end the instance or run programs: not for random input
EXCLUDED = {"shutdown.start", "state-machine.post", "rexec.exec", "broker.disconnect",
            "module.load", "runat.push"}
#: methods that may wait for something before answering (a job, an event, a version...)
MAY_WAIT = {"kvs-watch.lookup", "kvs.wait-version", "log.dmesg", "job-manager.wait",
            "job-manager.events-journal", "job-info.eventlog-watch", "job-info.update-watch",
            "resource.journal", "resource.acquire", "state-machine.wait",
            "state-machine.monitor", "module.trace", "sched.alloc", "job-exec.start",
            "job-manager.sched-hello", "job-manager.exec-hello", "job-manager.sched-ready",
            "job-manager.idle", "job-manager.drain", "kvs.fence", "content.flush",
            "job-list.list", "job-list.list-id", "sched.resource-status"}


def never_answered(topic: str) -> bool:
    """Disconnect notices and stream cancels are answered by nobody (RFC 6): the
    cancel's answer is the end of the stream it cancels; nor are RFC 27's free, cancel
    and prioritize, or flux-core's resource.topo-reduce (sent with NORESPONSE)."""
    return topic.endswith(".disconnect") or topic.endswith("-cancel") \
        or topic in ("kvs-watch.cancel", "log.cancel", "sched.free", "sched.cancel",
                     "sched.prioritize", "resource.topo-reduce")


#: keys the services read, so random payloads reach past the first check
KEYS = ["key", "namespace", "id", "ids", "flags", "rank", "name", "value", "topic",
        "payload", "userid", "urgency", "jobs", "attrs", "type", "severity", "note",
        "max_entries", "since", "constraint", "state", "states", "results", "count",
        "rootref", "rootseq", "names", "ops", "owner", "targets", "idset", "reason",
        "mode", "signum", "pid", "io", "status", "queue", "enable", "start", "all",
        "data", "cmdline", "env", "cwd", "path", "args", "version", "sequence"]


def service_methods() -> list[str]:
    """The methods of the broker's builtin services (its own list: brokermethods.py)."""
    from brokermethods import registered

    return sorted(set(registered(local=False)) - EXCLUDED)


def random_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return rng.choice([0, 1, -1, 2**31, 2**63 - 1, -(2**63), 2**64, rng.randrange(100)])
    if kind == 1:
        return rng.choice(["", "primary", ".", "a.b", "x" * 300, "\u00e9", "f1", "0x10",
                           "all", "*", "job.0", "../..", rng.choice(KEYS)])
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return rng.choice([0.5, -1.5, 1e308, float(rng.randrange(10))])
    if kind == 4:
        return "".join(chr(rng.randrange(32, 0x2FF)) for _ in range(rng.randrange(12)))
    if kind == 5:
        return rng.randrange(-5, 40)
    if kind == 6:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(KEYS): random_value(rng, depth + 1) for _ in range(rng.randrange(5))}


def random_payload(rng: random.Random):
    roll = rng.random()
    if roll < 0.1:
        return None
    if roll < 0.2:
        return rng.randbytes(rng.randrange(64))  # not JSON at all
    if roll < 0.3:
        return json.dumps(random_value(rng))  # JSON, maybe not an object
    return {k: random_value(rng) for k in rng.sample(KEYS, rng.randrange(1, 6))}


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fuzz_services(inst, rounds: int, seed: int = 1) -> dict:
    import flux

    rng = random.Random(seed)
    methods = service_methods()
    assert len(methods) > 100, methods  # the router was read
    h = flux.Flux(inst.uri)
    sent = answered = 0
    silent: list[str] = []
    bugs: list[str] = []
    rss_start = None
    for rnd in range(rounds):
        pending = []
        for topic in methods:
            payload = random_payload(rng)
            try:
                pending.append((topic, payload, h.rpc(topic, payload)))
            except (OSError, TypeError, ValueError):
                continue  # refused by the client library before sending
            sent += 1
        deadline = time.monotonic() + 10
        for topic, payload, fut in pending:
            left = max(0.0, deadline - time.monotonic())
            if never_answered(topic):
                continue
            try:
                fut.wait_for(left if topic not in MAY_WAIT else min(left, 0.05))
            except OSError:  # ETIMEDOUT: no answer yet
                if topic not in MAY_WAIT:
                    silent.append(f"{topic} {payload!r:.120}")
                continue
            answered += 1
            try:
                fut.get()
            except OSError as exc:  # an error answer is right; a service bug is not
                if "internal error" in str(exc.strerror):
                    bugs.append(f"{topic} {payload!r:.120}: {exc.strerror}")
            except ValueError:  # a raw answer (a blob, say): not JSON, and not asked to be
                pass
        # still serving, and the broker is still the same process
        assert h.rpc("broker.ping", {"seq": rnd}).wait_for(10).get()["seq"] == rnd
        assert h.attr_get("rank") == "0"
        if rss_start is None:
            rss_start = _rss_kb(inst.proc.pid)
    del h
    return {"methods": len(methods), "sent": sent, "answered": answered, "silent": silent,
            "bugs": bugs,
            "rss_growth_kb": _rss_kb(inst.proc.pid) - (rss_start or 0)}


def test_random_requests_to_every_service(tmp_path):
    from conftest import start_instance

    with start_instance() as inst:
        report = fuzz_services(inst, rounds=int(os.environ.get("PF_FUZZ_ROUNDS", "3")))
        assert inst.proc.poll() is None, "the broker died"
    assert report["silent"] == [], "\n".join(report["silent"])
    assert report["bugs"] == [], "\n".join(report["bugs"])
    assert report["sent"] > 300, report


def test_stress_random_requests(request):
    """The long version: a few hundred rounds (every method each round)."""
    if not request.config.getoption("--stress"):
        pytest.skip("the long run needs --stress")
    from conftest import start_instance

    with start_instance() as inst:
        t0 = time.monotonic()
        report = fuzz_services(inst, rounds=300, seed=7)
        assert inst.proc.poll() is None, "the broker died"
    print(f"\nservices: {report['sent']} requests to {report['methods']} methods in "
          f"{time.monotonic() - t0:.1f} s, {report['answered']} answered, "
          f"RSS growth {report['rss_growth_kb']} kB")
    assert report["silent"] == [], "\n".join(report["silent"][:20])
    assert report["bugs"] == [], "\n".join(report["bugs"][:20])
    assert report["rss_growth_kb"] < 64 * 1024, report

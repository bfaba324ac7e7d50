"""The broker state machine in-process: flux-core's states, transitions, actions
and the state-machine service (get, monitor, wait, post, disconnect)."""

from __future__ import annotations

import errno

import pytest
from routerhelpers import GUEST, FakeLoop, body, error_text, make_router, request

from flux.broker.state_machine import STATES, TRANSITIONS, StateMachine, state_index
from flux.constants import FLUX_MSGFLAG_NORESPONSE, FLUX_MSGFLAG_STREAMING

STREAMING = FLUX_MSGFLAG_STREAMING


class FakeRunat:
    """Phases that are defined finish when the test says so."""

    def __init__(self, *defined: str) -> None:
        self.defined = set(defined)
        self.started: dict[str, object] = {}
        self.aborted: list[str] = []

    def is_defined(self, name: str) -> bool:
        return name in self.defined

    def start(self, name: str, done) -> None:
        self.started[name] = done

    def abort(self, name: str) -> None:
        self.aborted.append(name)

    def finish(self, name: str, rc: int) -> None:
        self.started.pop(name)(name, rc)  # type: ignore[operator]


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def machine(runat=None, program=None, hostname="node0"):
    router, peer = make_router()
    loop = FakeLoop()
    logs: list[tuple[int, str]] = []
    clock = Clock()
    sm = StateMachine(router, loop, lambda sev, text: logs.append((sev, text)),
                      runat or FakeRunat(), start_program=program, hostname=hostname, clock=clock)
    return sm, router, peer, loop, logs, clock


def names(logs):
    return [text.split(" ")[0] for sev, text in logs if sev == 6 and "->" in text]


def test_states_and_table_are_flux_cores():
    assert STATES == ("load-builtins", "join", "config-sync", "init", "quorum", "run", "cleanup",
                      "shutdown", "finalize", "goodbye", "unload-builtins", "exit")
    assert state_index("run") == 5 and state_index("exit") == 11
    assert TRANSITIONS[(state_index("run"), "shutdown")] == state_index("cleanup")
    assert TRANSITIONS[(state_index("init"), "rc1-fail")] == state_index("shutdown")


def test_single_broker_without_program_walks_to_run_and_stays():
    sm, router, peer, loop, logs, clock = machine()
    sm.kickoff()
    loop.drain()
    assert sm.state_name == "run"
    assert names(logs) == ["builtins-success:", "parent-none:", "sync-none:", "rc1-none:",
                           "quorum-full:"]
    assert (6, "online: node0 (ranks 0)") in logs
    assert (7, "rc2-none: ignored in run") in logs  # flux-core's run->run "transition"
    assert not loop.stopped


def test_shutdown_walks_cleanup_to_exit_and_stops_the_loop():
    sm, router, peer, loop, logs, clock = machine()
    sm.kickoff()
    loop.drain()
    clock.t += 2.5
    sm.post("shutdown")
    loop.drain()
    assert sm.state_name == "exit" and loop.stopped
    assert names(logs)[-6:] == ["shutdown:", "cleanup-none:", "children-none:", "rc3-none:",
                                "goodbye:", "builtins-done:"]
    assert (6, "shutdown: run->cleanup 2.5s") in logs


def test_transition_log_uses_flux_standard_duration():
    sm, router, peer, loop, logs, clock = machine()
    sm.kickoff()
    loop.drain()
    clock.t += 0.101027
    sm.post("shutdown")
    loop.drain(1)
    assert (6, "shutdown: run->cleanup 0.101027s") in logs  # as CLI-SAMPLES.md's quorum->run
    clock.t += 0.0123
    loop.drain(1)
    assert (6, "cleanup-none: cleanup->shutdown 12.3ms") in logs


def test_startup_settles_before_the_loop_runs_then_one_event_per_pass():
    sm, router, peer, loop, logs, clock = machine()
    sm.kickoff()
    assert sm.state_name == "run"  # no loop pass needed to get there
    assert (7, "rc2-none: ignored in run") in logs
    sm.post("shutdown")
    assert sm.state_name == "run"
    loop.drain(1)
    assert sm.state_name == "cleanup"
    loop.drain(1)
    assert sm.state_name == "shutdown"


def test_program_failing_at_once_ends_through_the_loop():
    sm = None

    def program():
        sm.post("rc2-fail")

    sm, router, peer, loop, logs, clock = machine(program=program)
    sm.kickoff()
    assert sm.state_name == "run" and not loop.stopped  # loop.stop() before run() would be lost
    loop.drain()
    assert sm.state_name == "exit" and loop.stopped


def test_program_starts_in_run_and_its_end_leads_to_exit():
    started = []
    sm, router, peer, loop, logs, clock = machine(program=lambda: started.append(sm.state_name))
    sm.kickoff()
    loop.drain()
    assert started == ["run"] and sm.state_name == "run"
    sm.post("rc2-fail")
    loop.drain()
    assert sm.state_name == "exit" and loop.stopped
    assert sm.exit_rc == 0  # the program's status is the broker's business


def test_rc1_rc3_and_cleanup_run_in_their_states():
    runat = FakeRunat("rc1", "cleanup", "rc3")
    sm, router, peer, loop, logs, clock = machine(runat=runat)
    sm.kickoff()
    loop.drain()
    assert sm.state_name == "init" and "rc1" in runat.started
    runat.finish("rc1", 0)
    loop.drain()
    assert sm.state_name == "run"
    sm.post("shutdown")
    loop.drain()
    assert sm.state_name == "cleanup"
    runat.finish("cleanup", 3)
    loop.drain()
    assert sm.state_name == "finalize"
    runat.finish("rc3", 5)
    loop.drain()
    assert sm.state_name == "exit"
    assert sm.exit_rc == 3  # the first failure after rc1 wins
    assert "cleanup-fail:" in names(logs) and "rc3-fail:" in names(logs)


def test_rc1_failure_skips_run():
    runat = FakeRunat("rc1")
    program = []
    sm, router, peer, loop, logs, clock = machine(runat=runat, program=lambda: program.append(1))
    sm.kickoff()
    loop.drain()
    runat.finish("rc1", 2)
    loop.drain()
    assert sm.state_name == "exit" and program == []
    assert "rc1-fail:" in names(logs) and sm.exit_rc == 2
    assert (6, "rc1-fail: init->shutdown 0s") in logs


def test_kill_aborts_the_running_phase_or_posts_shutdown():
    runat = FakeRunat("rc1")
    sm, router, peer, loop, logs, clock = machine(runat=runat)
    sm.kickoff()
    loop.drain()
    sm.kill(15)
    assert runat.aborted == ["rc1"]
    runat.finish("rc1", 129)
    loop.drain()
    assert sm.state_name == "exit"
    sm2, _, _, loop2, logs2, _ = machine()
    sm2.kickoff()
    loop2.drain()
    sm2.kill(2)
    loop2.drain()
    assert sm2.state_name == "exit"
    assert "shutdown:" in names(logs2)


def test_get_reports_state_and_time_in_it():
    sm, router, peer, loop, logs, clock = machine()
    sm.kickoff()
    loop.drain()
    clock.t += 0.75
    router.request(request("state-machine.get", rolemask=GUEST, userid=4242))
    (resp,) = peer.take()
    assert resp.aux1 == 0 and body(resp) == {"state": "run", "duration": pytest.approx(0.75)}


def test_monitor_without_streaming_answers_once():
    sm, router, peer, loop, logs, clock = machine()
    sm.kickoff()
    loop.drain()
    router.request(request("state-machine.monitor"))
    (resp,) = peer.take()
    assert body(resp) == {"state": 5}
    sm.post("shutdown")
    loop.drain()
    assert peer.take() == []


def test_monitor_streams_changes_up_to_final_then_enodata():
    sm, router, peer, loop, logs, clock = machine()
    sm.kickoff()
    loop.drain()
    router.request(request("state-machine.monitor", {"final": state_index("finalize")},
                           flags=STREAMING, matchtag=9))
    router.request(request("state-machine.monitor", flags=STREAMING, matchtag=10))
    assert [body(m) for m in peer.take()] == [{"state": 5}, {"state": 5}]
    sm.post("shutdown")
    loop.drain()
    got = peer.take()
    nine = [(m.aux1, body(m)) for m in got if m.aux2 == 9]
    ten = [(m.aux1, body(m)) for m in got if m.aux2 == 10]
    assert nine == [(0, {"state": 6}), (0, {"state": 7}), (0, {"state": 8}), (errno.ENODATA, None)]
    assert ten[-2:] == [(0, {"state": 11}), (errno.ENODATA, None)]
    assert [b["state"] for e, b in ten[:-1]] == list(range(6, 12))
    assert sm.monitors == []


def test_monitor_past_final_gets_enodata():
    sm, router, peer, loop, logs, clock = machine()
    sm.kickoff()
    loop.drain()
    router.request(request("state-machine.monitor", {"final": 2}, flags=STREAMING))
    (resp,) = peer.take()
    assert resp.aux1 == errno.ENODATA


def test_monitor_is_owner_only_and_wait_is_not():
    sm, router, peer, loop, logs, clock = machine()
    router.request(request("state-machine.monitor", rolemask=GUEST, userid=4242))
    (resp,) = peer.take()
    assert resp.aux1 == errno.EPERM
    router.request(request("state-machine.wait", rolemask=GUEST, userid=4242))
    assert peer.take() == []  # not in run yet: waits


def test_wait_answers_in_run_and_fails_after():
    sm, router, peer, loop, logs, clock = machine()
    router.request(request("state-machine.wait", matchtag=3))
    sm.kickoff()
    loop.drain()
    (resp,) = peer.take()
    assert resp.aux2 == 3 and resp.aux1 == 0 and resp.payload_bytes is None
    router.request(request("state-machine.wait", matchtag=4))
    assert peer.take()[0].aux1 == 0
    sm.post("shutdown")
    loop.drain()
    router.request(request("state-machine.wait", matchtag=5))
    (resp,) = peer.take()
    assert resp.aux1 == errno.ENOENT and error_text(resp) == "broker has surpassed RUN state"


def test_waiters_fail_when_run_is_skipped():
    runat = FakeRunat("rc1")
    sm, router, peer, loop, logs, clock = machine(runat=runat)
    sm.kickoff()
    loop.drain()
    router.request(request("state-machine.wait", matchtag=6))
    runat.finish("rc1", 1)
    loop.drain()
    (resp,) = peer.take()
    assert resp.aux1 == errno.ENOENT


def test_post_needs_noresponse_and_an_event():
    sm, router, peer, loop, logs, clock = machine()
    sm.kickoff()
    loop.drain()
    router.request(request("state-machine.post", {"event": "shutdown"}))
    (resp,) = peer.take()
    assert resp.aux1 == errno.EPROTO
    router.request(request("state-machine.post", {"nope": 1}))
    assert peer.take()[0].aux1 == errno.EPROTO
    router.request(request("state-machine.post", {"event": "shutdown", "error": True},
                           flags=FLUX_MSGFLAG_NORESPONSE))
    assert peer.take() == []
    loop.drain()
    assert sm.state_name == "exit" and sm.exit_rc == 1


def test_disconnect_drops_the_senders_requests():
    sm, router, peer, loop, logs, clock = machine()
    router.request(request("state-machine.wait", matchtag=1))
    router.request(request("state-machine.monitor", flags=STREAMING, matchtag=2))
    peer.take()
    router.request(request("state-machine.disconnect", flags=FLUX_MSGFLAG_NORESPONSE))
    assert sm.monitors == [] and sm.waiters == []
    sm.kickoff()
    loop.drain()
    assert peer.take() == []

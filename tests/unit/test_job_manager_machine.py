"""The job-manager's state machine without a broker: inputs in, actions out.

Event sequences are those a flux-core 0.88 instance writes for the same
histories (checked with `flux job eventlog` there).
"""

from __future__ import annotations

import errno
import json

import pytest

from flux.services.job_manager import job as J
from flux.services.job_manager.manager import JobManager, Refused

OWNER = 1000
SPEC = {"version": 1, "resources": [], "tasks": [], "attributes": {"system": {"duration": 0}}}


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


@pytest.fixture
def m():
    return JobManager(OWNER, clock=Clock())


def entry(jobid, urgency=16, flags=0, userid=OWNER, spec=SPEC):
    return {"id": jobid, "userid": userid, "urgency": urgency, "flags": flags,
            "t_submit": 50.0 + jobid, "jobspec": spec}


def submit(m, *entries):
    errors = m.submit(list(entries))
    for e in entries:
        m.release(e["id"])
    return errors


def names(m, jobid):
    return [e["name"] for e in m.find(jobid).eventlog]


def sends(actions, topic=None):
    return [a[2] for a in actions if a[0] == "send" and (topic is None or a[1] == topic)]


def online(m):
    m.sched_ready({"mode": "unlimited"}, "S")
    m.exec_hello({"service": "job-exec"}, "E")
    m.take()


def run_to_end(m, jobid, status=0):
    m.alloc_response({"id": jobid, "type": 0, "R": {"version": 1}})
    m.start_response("job-exec.start", {"id": jobid, "type": "start", "data": {}})
    m.start_response("job-exec.start", {"id": jobid, "type": "finish", "data": {"status": status}})
    m.start_response("job-exec.start",
                     {"id": jobid, "type": "release", "data": {"ranks": "all", "final": True}})


def test_submit_holds_events_until_release(m):
    assert m.submit([entry(1)]) == []
    out = m.take()
    assert [a[0] for a in out] == ["append"]
    line = json.loads(out[0][2])
    assert line == {"timestamp": 51.0, "name": "submit",
                    "context": {"userid": OWNER, "urgency": 16, "flags": 0, "version": 1}}
    assert m.find(1).state == J.NEW
    m.release(1)
    assert names(m, 1) == ["submit", "validate", "depend", "priority"]
    assert m.find(1).state == J.SCHED and m.find(1).priority == 16
    assert [json.loads(a[2])["name"] for a in m.take()] == ["validate", "depend", "priority"]


def test_full_life_with_scheduler_and_exec(m):
    online(m)
    submit(m, entry(1, flags=J.FLAG_WAITABLE))
    alloc = sends(m.take(), "sched.alloc")
    assert alloc == [{"id": 1, "priority": 16, "userid": OWNER, "t_submit": 51.0, "jobspec": SPEC}]
    m.alloc_response({"id": 1, "type": 0, "R": {"version": 1, "scheduling": {"x": 1}},
                      "annotations": {"sched": {"resource_summary": "rank0/core0"}}})
    out = m.take()
    start = sends(out, "job-exec.start")
    assert start == [{"id": 1, "userid": OWNER, "jobspec": SPEC, "reattach": False,
                      "R": {"version": 1}}]
    alloc_event = m.find(1).eventlog[-1]
    assert alloc_event["context"] == {"annotations": {"sched": {"resource_summary": "rank0/core0"}}}
    m.wait_request("waiter", {"id": 1})
    m.start_response("job-exec.start", {"id": 1, "type": "start", "data": {}})
    m.start_response("job-exec.start", {"id": 1, "type": "finish", "data": {"status": 256}})
    assert m.find(1).state == J.CLEANUP
    m.start_response("job-exec.start",
                     {"id": 1, "type": "release", "data": {"ranks": "all", "final": True}})
    assert names(m, 1) == ["submit", "validate", "depend", "priority", "alloc", "start",
                           "finish", "release", "free", "clean"]
    out = m.take()
    assert sends(out, "sched.free") == [{"id": 1, "R": {"version": 1}, "final": True}]
    assert ("respond", "waiter", {"id": 1, "success": False,
                                  "errstr": "task(s) exited with exit code 1"}) in out
    assert 1 in m.inactive and 1 not in m.active


def test_urgency_hold_and_expedite(m):
    online(m)
    submit(m, entry(1, urgency=0))
    assert m.find(1).priority == 0 and not sends(m.take(), "sched.alloc")
    assert m.urgency_request({"id": 1, "urgency": 31}, OWNER, True) == {"old_urgency": 0}
    assert names(m, 1)[-2:] == ["urgency", "priority"]
    assert m.find(1).eventlog[-1]["context"] == {"priority": J.PRIORITY_MAX}
    assert sends(m.take(), "sched.alloc")[0]["priority"] == J.PRIORITY_MAX


@pytest.mark.parametrize("obj,userid,owner,expect", [
    ({"id": 1, "urgency": 32}, OWNER, True, (errno.EINVAL, "urgency value is out of range")),
    ({"id": 9, "urgency": 3}, OWNER, True, (errno.EINVAL, "unknown job")),
    ({"id": 1, "urgency": 3}, 42, False,
     (errno.EPERM, "guests can only reprioritize their own jobs")),
    ({"id": 2, "urgency": 20}, 42, False,
     (errno.EPERM, "guests can only adjust urgency <= default")),
])
def test_urgency_refusals(m, obj, userid, owner, expect):
    submit(m, entry(1), entry(2, userid=42))
    with pytest.raises(Refused) as info:
        m.urgency_request(obj, userid, owner)
    assert (info.value.errnum, info.value.text) == expect


def test_cancel_pending_alloc_waits_for_scheduler(m):
    online(m)
    submit(m, entry(1))
    m.take()
    m.raise_request({"id": 1, "severity": 0, "type": "cancel"}, OWNER, True)
    out = m.take()
    assert sends(out, "sched.cancel") == [{"id": 1}]
    assert ("publish", "job-exception", {"id": 1, "type": "cancel", "severity": 0}) in out
    assert m.find(1).state == J.CLEANUP and "clean" not in names(m, 1)
    m.alloc_response({"id": 1, "type": 3})
    assert names(m, 1)[-2:] == ["exception", "clean"]
    assert m.find(1).eventlog[-2]["context"] == {"type": "cancel", "severity": 0, "note": "",
                                                 "userid": OWNER}
    with pytest.raises(Refused) as info:
        m.raise_request({"id": 1, "severity": 0, "type": "cancel"}, OWNER, True)
    assert (info.value.errnum, info.value.text) == (errno.ENOENT, "job is inactive")


def test_raise_checks(m):
    submit(m, entry(1))
    for obj, expect in [({"id": 1, "severity": 8, "type": "x"},
                         (errno.EPROTO, "invalid exception severity")),
                        ({"id": 1, "severity": 1, "type": "a b"},
                         (errno.EPROTO, "invalid exception type")),
                        ({"id": 7, "severity": 1, "type": "x"}, (errno.ENOENT, "unknown job id"))]:
        with pytest.raises(Refused) as info:
            m.raise_request(obj, OWNER, True)
        assert (info.value.errnum, info.value.text) == expect
    with pytest.raises(Refused) as info:
        m.raise_request({"id": 1, "severity": 1, "type": "x"}, 42, False)
    assert info.value.errnum == errno.EPERM
    m.raise_request({"id": 1, "severity": 3, "type": "warn", "note": "n"}, OWNER, True)
    assert m.find(1).state == J.SCHED  # not fatal


def test_alloc_deny_raises_alloc_exception(m):
    online(m)
    submit(m, entry(1))
    m.alloc_response({"id": 1, "type": 2, "note": "unsatisfiable"})
    assert m.find(1).eventlog[-2]["context"] == {"type": "alloc", "severity": 0,
                                                 "note": "unsatisfiable", "userid": OWNER}
    assert names(m, 1)[-1] == "clean"


def test_scheduler_teardown_requeues_and_hello_lists_allocated(m):
    online(m)
    submit(m, entry(1), entry(2))
    assert [a["id"] for a in sends(m.take(), "sched.alloc")] == [1, 2]
    m.alloc_response({"id": 1, "type": 0, "R": {"version": 1}})
    m.sched_teardown()
    assert m.queue == {2: m.find(2)}
    assert m.sched_hello() == [{"id": 1, "priority": 16, "userid": OWNER, "t_submit": 51.0}]
    assert m.sched_ready({"mode": "limited", "limit": 1}, "S2") == {"count": 1}
    assert [a["id"] for a in sends(m.take(), "sched.alloc")] == [2]


def test_queue_order_priority_then_submit_time(m):
    submit(m, entry(1, urgency=10), entry(2, urgency=20), entry(3, urgency=20))
    m.sched_ready({"mode": "unlimited"}, "S")
    assert [a["id"] for a in sends(m.take(), "sched.alloc")] == [2, 3, 1]


def test_exec_hello_starts_running_jobs(m):
    m.sched_ready({"mode": "unlimited"}, "S")
    submit(m, entry(1))
    m.alloc_response({"id": 1, "type": 0, "R": {"version": 1}})
    assert m.find(1).state == J.RUN and not sends(m.take(), "x.start")
    m.exec_hello({"service": "x"}, "E")
    assert sends(m.take(), "x.start")[0]["id"] == 1
    with pytest.raises(Refused):
        m.exec_hello({"service": "y"}, "E")  # a start is pending


def test_kill_publishes_to_the_shell(m):
    submit(m, entry(1))
    with pytest.raises(Refused) as info:
        m.kill_request({"id": 1, "signum": 15}, OWNER, True)
    assert (info.value.errnum, info.value.text) == (errno.EINVAL, "job is not running")
    online(m)
    m.alloc_response({"id": 1, "type": 0, "R": {"version": 1}})
    m.take()
    m.kill_request({"id": 1, "signum": 15}, OWNER, True)
    assert m.take() == [("publish", "shell-1.kill", {"signum": 15})]
    with pytest.raises(Refused) as info:
        m.kill_request({"id": 1, "signum": 0}, OWNER, True)
    assert info.value.text == "Invalid signal number"


def dep(scheme, value):
    return {**SPEC, "attributes": {"system": {"duration": 0, "dependencies": [
        {"scheme": scheme, "value": value}]}}}


def test_afterok_released_on_success_and_afternotok_fails(m):
    online(m)
    submit(m, entry(1))
    submit(m, entry(2, spec=dep("afterok", "1")), entry(3, spec=dep("afternotok", "1")))
    assert m.find(2).state == J.DEPEND and names(m, 2) == ["submit", "dependency-add", "validate"]
    run_to_end(m, 1, status=0)
    assert names(m, 2)[-3:] == ["dependency-remove", "depend", "priority"]
    assert m.find(3).eventlog[-2]["context"]["note"] == \
        "dependency after-failure=1 can never be satisfied"
    assert m.find(3).state == J.INACTIVE


def test_afterany_on_a_job_that_never_ran(m):
    submit(m, entry(1, urgency=0))
    submit(m, entry(2, spec=dep("afterany", "1")), entry(3, spec=dep("afterok", "1")))
    m.raise_request({"id": 1, "severity": 0, "type": "cancel"}, OWNER, True)
    assert m.find(2).state == J.SCHED
    assert m.find(3).eventlog[-2]["context"]["note"] == \
        "dependency after-success=1 job never started"


def test_dependency_refusals_at_submit(m):
    submit(m, entry(1, urgency=0))
    m.raise_request({"id": 1, "severity": 0, "type": "cancel"}, OWNER, True)
    cases = [
        (dep("afterok", "1"), "dependency: after: 1 never started"),
        (dep("bogus", "1"), 'dependency scheme "bogus" not supported'),
        (dep("afterok", "xyz"), 'dependency: afterok: "xyz" is not a valid jobid'),
        (dep("afterok", "12345"), "dependency: afterok: id 12345: job not found"),
    ]
    for i, (spec, text) in enumerate(cases, start=10):
        assert m.submit([entry(i, spec=spec)]) == [[i, text]]
        assert i not in m.active
    assert m.submit([entry(20, userid=7, spec=dep("afterany", "1"))]) == [
        [20, "afterany: Permission denied for job 1"]]
    afterany = m.submit([entry(21, spec=dep("afterany", "1"))])
    assert afterany == [] and names(m, 21) == ["submit", "dependency-add", "dependency-remove"]


def test_wait_any_and_errors(m):
    online(m)
    with pytest.raises(Refused) as info:
        m.wait_request("w", {"id": 5})
    assert info.value.errnum == errno.ECHILD
    submit(m, entry(1, flags=J.FLAG_WAITABLE), entry(2))
    with pytest.raises(Refused) as info:
        m.wait_request("w", {"id": 2})
    assert info.value.text == "job was not submitted with FLUX_JOB_WAITABLE"
    m.wait_request("any", {"id": -1})
    m.wait_request("any2", {"id": 0xFFFFFFFFFFFFFFFF})  # more waiters than waitable jobs
    assert ("error", "any2", errno.ECHILD, "there are no more waitable jobs") in m.take()
    m.raise_request({"id": 1, "severity": 0, "type": "cancel", "note": "bye"}, OWNER, True)
    m.alloc_response({"id": 1, "type": 3})
    assert ("respond", "any", {"id": 1, "success": False,
                               "errstr": "Fatal exception type=cancel bye"}) in m.take()


def test_journal_backlog_sentinel_and_filter(m):
    submit(m, entry(1))
    m.take()
    m.journal_request("j", {"allow": {"submit": 1, "urgency": 1}})
    out = m.take()
    assert out[0] == ("respond", "j", {"id": 1, "events": [m.find(1).eventlog[0]],
                                       "jobspec": SPEC})
    assert out[1] == ("respond", "j", {"id": -1, "events": []})
    m.urgency_request({"id": 1, "urgency": 3}, OWNER, True)
    out = [a for a in m.take() if a[0] == "respond"]
    assert [a[2]["events"][0]["name"] for a in out] == ["urgency"]
    m.journal_disconnect(lambda req: req == "j")
    assert m.listeners == []


def test_replay_restores_states(m):
    clock = Clock()
    first = JobManager(OWNER, clock=clock)
    online(first)
    submit(first, entry(1, urgency=0), entry(2), entry(3, flags=J.FLAG_WAITABLE))
    first.alloc_response({"id": 2, "type": 0, "R": {"version": 1}})
    first.start_response("job-exec.start", {"id": 2, "type": "start", "data": {}})
    run_to_end(first, 3)
    logs = {i: list(first.find(i).eventlog) for i in (1, 2, 3)}
    again = JobManager(OWNER, clock=clock)
    for i in (1, 2, 3):
        again.replay(i, logs[i], SPEC, {"version": 1} if i != 1 else None)
    again.restarted()
    assert again.find(1).state == J.SCHED and names(again, 1)[-2:] == ["flux-restart", "priority"]
    assert again.find(2).state == J.RUN and again.find(2).has_resources
    assert 3 in again.inactive and again.zombies == {3: again.find(3)}
    assert again.max_jobid == 3
    again.exec_hello({"service": "job-exec"}, "E")
    assert sends(again.take(), "job-exec.start")[0]["reattach"] is True


def test_raiseall_and_killall(m):
    online(m)
    submit(m, entry(1), entry(2, userid=7))
    m.alloc_response({"id": 1, "type": 0, "R": {"version": 1}})
    m.take()
    assert m.killall_request({"dry_run": False, "userid": -1, "signum": 9}, OWNER, True) == {
        "count": 1, "errors": 0}
    assert m.take() == [("publish", "shell-1.kill", {"signum": 9})]
    with pytest.raises(Refused) as info:
        m.killall_request({"dry_run": True, "userid": OWNER, "signum": 9}, 7, False)
    assert info.value.text == "guests can only kill their own jobs"
    pending = m.raiseall_request({"dry_run": True, "userid": -1, "states": J.PENDING,
                                  "severity": 0, "type": "cancel"}, OWNER, True)
    assert pending == {"count": 1, "errors": 0} and m.find(2).state == J.SCHED
    m.raiseall_request({"dry_run": False, "userid": 7, "states": J.ACTIVE,
                        "severity": 0, "type": "cancel"}, 7, False)
    assert m.find(2).state == J.CLEANUP  # its alloc request is still the scheduler's
    m.alloc_response({"id": 2, "type": 3})
    assert m.find(2).state == J.INACTIVE and m.find(1).state == J.RUN
    m.raise_request({"id": 1, "severity": 0, "type": "exec", "wait_status": 9}, OWNER, True)
    assert m.find(1).eventlog[-1]["context"] == {"type": "exec", "severity": 0, "note": "",
                                                 "userid": OWNER, "wait_status": 9}
    assert m.take()[-1] == ("publish", "job-exception",
                            {"id": 1, "type": "exec", "severity": 0, "wait_status": 9})


def test_debug_flag_events(m):
    online(m)
    submit(m, entry(1, flags=J.FLAG_DEBUG))
    m.alloc_response({"id": 1, "type": 0, "R": {"version": 1}})
    m.exec_teardown()
    assert names(m, 1)[4:] == ["debug.alloc-request", "alloc", "debug.start-request",
                               "debug.start-lost"]

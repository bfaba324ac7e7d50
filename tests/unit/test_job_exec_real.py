"""job-exec's real execution, sans-I/O: shells started through a launcher, the
responses, the exec eventlog, the kill sequence, the time limit, guests refused."""

from __future__ import annotations

import os
import signal
import time

from flux.message import Message
from flux.services.job_exec.service import KILL_TIMEOUT, ExecService
from flux.shell import taskmap
from flux.shell.output import _utf8_split, ioencode

R1 = {"version": 1, "execution": {"R_lite": [{"rank": "0", "children": {"core": "0"}}],
                                  "starttime": 0.0, "expiration": 0.0}}


class Proc:
    def __init__(self) -> None:
        self.signals: list[int] = []

    def kill(self, signum: int) -> None:
        self.signals.append(int(signum))


class Launcher:
    def __init__(self) -> None:
        self.launched: list = []

    def launch(self, jobid, userid, rank, events):
        proc = Proc()
        self.launched.append((jobid, rank, events, proc))
        return proc


class Timer:
    def __init__(self, delay, cb) -> None:
        self.delay, self.cb, self.cancelled = delay, cb, False

    def cancel(self) -> None:
        self.cancelled = True

    def fire(self) -> None:
        self.cancelled = True  # a one-shot timer that has run is gone
        self.cb()


class Harness:
    def __init__(self) -> None:
        self.responses: list = []
        self.events: list = []
        self.rpcs: list = []
        self.timers: list[Timer] = []
        self.launcher = Launcher()
        self.svc = ExecService(os.getuid(), self.rpc, lambda m, p: self.responses.append(p),
                               lambda m, e, t: self.responses.append(("error", e)),
                               lambda jobid, name, ctx: self.events.append((name, ctx)),
                               self.timer, lambda level, text: None, launcher=self.launcher)

    def rpc(self, topic, payload, cb=None, **kw) -> None:
        self.rpcs.append((topic, payload))

    def timer(self, delay, cb) -> Timer:
        t = Timer(delay, cb)
        self.timers.append(t)
        return t

    def live_timers(self) -> list[Timer]:
        return [t for t in self.timers if not t.cancelled]

    def start(self, jobid: int, R: dict = R1, userid: int | None = None) -> None:
        msg = Message()
        msg.topic = "job-exec.start"
        msg.payload = {"id": jobid, "userid": os.getuid() if userid is None else userid,
                       "reattach": False, "jobspec": {"attributes": {"system": {}}}, "R": R}
        self.svc.start_request(msg)


def test_shell_lifecycle() -> None:
    h = Harness()
    h.start(1)
    (jobid, rank, events, proc), = h.launcher.launched
    assert (jobid, rank) == (1, 0)
    assert [e[0] for e in h.events] == ["init", "starting"]
    assert h.responses == []
    events.running(0)
    assert [r["type"] for r in h.responses] == ["start"]
    events.exited(0, 3 << 8)
    assert [r["type"] for r in h.responses] == ["start", "finish", "release"]
    assert h.responses[1]["data"] == {"status": 3 << 8}
    assert [e[0] for e in h.events][2:] == ["shell-exit", "complete", "done"]
    assert h.events[2][1] == {"rank": 0, "wait_status": 3 << 8}
    assert 1 not in h.svc.jobs


def test_cancel_kill_sequence() -> None:
    h = Harness()
    h.start(2)
    _, _, events, proc = h.launcher.launched[0]
    events.running(0)
    msg = Message()
    msg.topic = "job-exception"
    msg.payload = {"id": 2, "type": "cancel", "severity": 0}
    h.svc.exception_event(msg)
    assert proc.signals == [signal.SIGTERM]
    delays = sorted(t.delay for t in h.live_timers())
    assert delays == [KILL_TIMEOUT, KILL_TIMEOUT * 5]
    kill_tasks = next(t for t in h.live_timers() if t.delay == KILL_TIMEOUT)
    kill_tasks.fire()
    assert h.rpcs[-1] == ("job-manager.kill", {"id": 2, "signum": signal.SIGKILL})
    kill_shell = next(t for t in h.live_timers() if t.delay == KILL_TIMEOUT * 5)
    kill_shell.fire()
    assert proc.signals[-1] == signal.SIGKILL
    events.exited(0, signal.SIGKILL)
    assert h.responses[-2]["data"] == {"status": signal.SIGKILL}
    assert h.live_timers() == []


def test_time_limit() -> None:
    h = Harness()
    R = {"version": 1, "execution": {"R_lite": [{"rank": "0", "children": {"core": "0"}}],
                                     "starttime": time.time(), "expiration": time.time() + 60}}
    h.start(3, R)
    _, _, events, proc = h.launcher.launched[0]
    events.running(0)
    expiry, = h.live_timers()
    assert 55 < expiry.delay <= 60
    expiry.fire()
    assert proc.signals == [signal.SIGALRM]
    assert ("job-manager.raise", {"id": 3, "type": "timeout", "severity": 0,
                                  "note": "resource allocation expired"}) in h.rpcs
    events.exited(0, (128 + signal.SIGALRM) << 8)
    assert h.responses[-2]["data"] == {"status": (128 + signal.SIGALRM) << 8}


def test_clean_exit_after_exception_is_a_failure() -> None:
    h = Harness()
    h.start(4)
    _, _, events, proc = h.launcher.launched[0]
    events.running(0)
    h.svc.fatal(h.svc.jobs[4], "boom")
    events.exited(0, 0)
    assert h.responses[-2] == {"id": 4, "type": "finish", "data": {"status": 256}}


def test_guest_refused_without_imp() -> None:
    h = Harness()
    h.start(5, userid=os.getuid() + 1)
    assert h.launcher.launched == []
    assert h.responses[0]["data"] == {"severity": 0, "type": "exec",
                                      "note": "failed to initialize implementation"}
    assert h.responses[-1]["type"] == "release"


def test_shell_failed_to_start() -> None:
    h = Harness()
    h.start(6)
    _, _, events, _ = h.launcher.launched[0]
    events.failed(0, 2, "No such file or directory")
    assert h.responses[0]["type"] == "exception"
    assert h.responses[0]["data"]["note"] == ("job shell exec error on broker 0 (rank 0): "
                                              "No such file or directory")
    assert [r["type"] for r in h.responses][-2:] == ["finish", "release"]


R2 = {"version": 1, "execution": {"R_lite": [{"rank": "0-1", "children": {"core": "0"}}],
                                  "starttime": 0.0, "expiration": 0.0}}


def _two_shells(h: Harness, jobid: int) -> tuple:
    h.start(jobid, R2)
    (_, _, ev0, p0), (_, _, ev1, p1) = h.launcher.launched
    ev0.running(0)
    ev1.running(1)
    return ev0, p0, ev1, p1


def _exception_rpc(h: Harness, jobid: int) -> tuple:
    from flux.job.JobID import id_encode

    topic = f"{os.getuid()}-shell-{id_encode(jobid, 'f58plain')}.exception"
    return next(p for t, p in h.rpcs if t == topic)


def test_node_lost() -> None:
    """flux-core's bulk-exec/job-exec: the leader told (lost-shell), a fatal exception,
    the others terminated; the lost shell's status 0 (the exception fails the job)."""
    import errno

    h = Harness()
    ev0, p0, ev1, p1 = _two_shells(h, 7)
    ev1.failed(1, errno.EHOSTUNREACH, "No route to host")
    assert _exception_rpc(h, 7) == {"type": "lost-shell", "severity": 0, "shell_rank": 1,
                                    "message": "node failure on 1 (shell rank 1)"}
    assert h.responses[1]["data"] == {"severity": 0, "type": "exec",
                                      "note": "node failure on 1 (rank 1)"}
    assert p0.signals == [signal.SIGTERM]
    ev0.exited(0, 0)
    assert h.responses[-2]["data"] == {"status": 256}  # the exception: 0 becomes 1


def test_shell_killed() -> None:
    """A killed leader is fatal, another shell's loss a lost-shell notice; a lone
    shell's signal is the job's status, no exception (flux-core's exit_cb)."""
    h = Harness()
    ev0, p0, ev1, p1 = _two_shells(h, 8)
    ev1.exited(1, signal.SIGKILL)
    assert [r["type"] for r in h.responses] == ["start"]
    assert _exception_rpc(h, 8)["message"] == "shell rank 1 (on 1): Killed"
    ev0.exited(0, 1 << 8)
    assert h.events[-3] == ("shell-exit", {"rank": 0, "wait_status": 256})
    assert h.responses[-2]["data"] == {"status": 256}  # the larger raw status, as bulk-exec

    h = Harness()
    ev0, p0, ev1, p1 = _two_shells(h, 9)
    ev0.exited(0, signal.SIGKILL)
    assert h.events[-1] == ("shell-exit", {"rank": 0, "wait_status": signal.SIGKILL,
                                           "active_ranks": "1"})
    assert h.responses[1]["data"]["note"] == "shell rank 0 (on 0): Killed"
    assert p1.signals == [signal.SIGTERM]

    h = Harness()
    h.start(10)
    _, _, events, _ = h.launcher.launched[0]
    events.running(0)
    events.exited(0, signal.SIGKILL)
    assert [r["type"] for r in h.responses] == ["start", "finish", "release"]
    assert h.responses[1]["data"] == {"status": signal.SIGKILL}


def test_shells_outliving_the_leader() -> None:
    """flux-core's exec.shell-exit-timeout: shells still running 30 s after the leader
    exited end the job (unless an exception is already ending it)."""
    from flux.broker.job_exec import _shell_exit_timeout
    from flux.services.job_exec.service import SHELL_EXIT_TIMEOUT

    h = Harness()
    ev0, p0, ev1, p1 = _two_shells(h, 11)
    ev0.exited(0, 0)
    assert h.events[-1] == ("shell-exit", {"rank": 0, "wait_status": 0,
                                           "active_ranks": "1"})
    timer, = h.live_timers()
    assert timer.delay == SHELL_EXIT_TIMEOUT == 30.0
    timer.fire()
    assert h.responses[-1]["data"]["note"] == ("job shells still active on 1 (rank 1) "
                                               "30s after leader shell exit")
    assert p1.signals == [signal.SIGTERM]
    ev1.exited(1, (128 + signal.SIGTERM) << 8)
    assert h.responses[-2]["data"] == {"status": (128 + signal.SIGTERM) << 8}
    # the [exec] table's key, as flux-core's
    log = []
    assert _shell_exit_timeout({"shell-exit-timeout": "1m"}, 30.0, log.append) == 60.0
    assert _shell_exit_timeout({"shell-exit-timeout": 0}, 30.0, log.append) == 0.0
    assert _shell_exit_timeout(None, 30.0, log.append) == 30.0
    assert log == []


def test_exception_wait_status_is_the_jobs() -> None:
    """An exception that names a task's wait status (the shell's exit timeout) makes it
    the job's: the exit code of that task, as flux-core's job-exec."""
    h = Harness()
    ev0, p0, ev1, p1 = _two_shells(h, 12)
    msg = Message()
    msg.topic = "job-exception"
    msg.payload = {"id": 12, "type": "exec", "severity": 0, "wait_status": 3 << 8}
    h.svc.exception_event(msg)
    ev0.exited(0, 1 << 8)
    ev1.exited(1, (128 + signal.SIGTERM) << 8)
    assert h.responses[-2]["data"] == {"status": 3 << 8}


def test_exit_timeout_option() -> None:
    from flux.shell.doom import parse_timeout

    assert parse_timeout(None) == 30.0
    assert parse_timeout("none") is None and parse_timeout("NONE") is None
    assert parse_timeout("1.5m") == 90.0 and parse_timeout(2) == 2.0
    for bad in (-1, "bad", True, [1], "-1s"):
        try:
            parse_timeout(bad)
        except ValueError as exc:
            assert str(exc) == "exit-timeout is not a valid Flux Standard Duration"
        else:
            raise AssertionError(f"{bad!r} accepted")


def test_taskmap_and_ioencode() -> None:
    assert taskmap.block_counts([1], None, 4) == [4]
    assert taskmap.block_counts([2, 2], 1, None) == [2, 2]
    assert taskmap.block_counts([1, 1, 1], None, 4) == [2, 1, 1]
    assert taskmap.encode([2, 2, 1]) == {"version": 1, "map": [[0, 2, 2, 1], [2, 1, 1, 1]]}
    assert ioencode("stdout", "0", b"hi\n") == {"stream": "stdout", "rank": "0",
                                                "data": "hi\n"}
    assert ioencode("stdout", "0", b"\xff") == {"stream": "stdout", "rank": "0",
                                                "data": "/w==", "encoding": "base64"}
    assert ioencode("stdin", "all", None, eof=True) == {"stream": "stdin", "rank": "all",
                                                        "eof": True}
    euro = "€".encode()
    assert _utf8_split(b"ab" + euro[:2]) == 2
    assert _utf8_split(b"ab" + euro) == 5


def test_job_output_parsing() -> None:
    from flux.job.output import JobOutput, _collect, Taskset

    lines = [
        '{"timestamp":1.0,"name":"header","context":{"version":1,"encoding":{"stdout":"UTF-8",'
        '"stderr":"UTF-8"},"count":{"stdout":2,"stderr":2},"options":{}}}',
        '{"timestamp":1.1,"name":"data","context":{"stream":"stdout","rank":"1","data":"b\\n"}}',
        '{"timestamp":1.2,"name":"data","context":{"stream":"stderr","rank":"0","data":"e\\n"}}',
        '{"timestamp":1.3,"name":"log","context":{"rank":0,"level":0,"message":"bad"}}',
    ]
    out = _collect(lines, Taskset("*"), True, 7)
    assert out == JobOutput("1: b\n", "0: e\nflux-shell[0]: FATAL: bad", "")
    assert _collect(lines, Taskset("0"), False, -1) == JobOutput("", "e\n",
                                                                 "flux-shell[0]: FATAL: bad")

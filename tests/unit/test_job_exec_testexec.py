"""job-exec's test implementation, sans-I/O: the responses and exec eventlog entries."""

from __future__ import annotations

import os
import signal

import pytest

from flux.message import Message
from flux.services.job_exec.service import NO_EXEC_NOTE, ExecService
from flux.services.job_exec.testconf import ExecTestConf, parse_fsd


class Fake:
    def __init__(self) -> None:
        self.responses: list = []
        self.events: list = []
        self.timers: list = []
        self.svc = ExecService(os.getuid(), lambda *a, **k: None,
                               lambda msg, p: self.responses.append(p),
                               lambda msg, e, t: self.responses.append(("error", e)),
                               lambda jobid, name, ctx: self.events.append((name, ctx)),
                               self.timer, lambda level, text: None)

    def timer(self, delay: float, cb):
        class T:
            def cancel(self) -> None:
                pass
        self.timers.append((delay, cb))
        return T()

    def start(self, jobid: int, test: dict | None) -> None:
        system: dict = {"duration": 0.0}
        if test is not None:
            system["exec"] = {"test": test}
        msg = Message()
        msg.topic = "job-exec.start"
        msg.payload = {"id": jobid, "userid": os.getuid(), "reattach": False,
                       "jobspec": {"attributes": {"system": system}}, "R": {}}
        self.svc.start_request(msg)


def test_fsd_and_testconf() -> None:
    assert parse_fsd("100ms") == pytest.approx(0.1)
    assert parse_fsd("2m") == 120.0
    with pytest.raises(ValueError):
        parse_fsd("x")
    with pytest.raises(ValueError, match="Expected string, got real"):
        ExecTestConf({"attributes": {"system": {"exec": {"test": {"run_duration": 0.1}}}}})
    assert not ExecTestConf({"attributes": {"system": {}}}).enabled


def test_run_finish_release() -> None:
    f = Fake()
    f.start(1, {"run_duration": "1s", "wait_status": 256})
    assert [r["type"] for r in f.responses] == ["start"]
    delay, cb = f.timers[0]
    assert delay == 1.0
    cb()
    assert f.responses[1] == {"id": 1, "type": "finish", "data": {"status": 256}}
    assert f.responses[2] == {"id": 1, "type": "release", "data": {"ranks": "all", "final": True}}
    assert [e[0] for e in f.events] == ["init", "starting", "recoverable", "complete", "done"]
    assert f.svc.jobs == {}


def test_no_test_attributes_is_an_exec_exception() -> None:
    f = Fake()
    f.start(2, None)
    assert f.responses[0] == {"id": 2, "type": "exception",
                              "data": {"severity": 0, "type": "exec", "note": NO_EXEC_NOTE}}
    assert f.responses[1]["type"] == "release"
    assert [e[0] for e in f.events] == ["init", "done"]


def test_mock_run_exception_kills_with_sigterm() -> None:
    f = Fake()
    f.start(3, {"run_duration": "10s", "mock_exception": "run"})
    types = [r["type"] for r in f.responses]
    assert types == ["start", "exception", "finish", "release"]
    assert f.responses[2]["data"]["status"] == signal.SIGTERM

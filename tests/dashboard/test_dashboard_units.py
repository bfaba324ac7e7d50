"""The dashboard's pieces that need no instance: chart samples, page queues, value formats,
log records, the actions configuration."""

from __future__ import annotations

import asyncio
import base64

import pytest

from flux.dashboard import hub as hubmod
from flux.dashboard.instance import describe_value


def test_samples_are_rates_between_polls(monkeypatch):
    h = hubmod.Hub(None, 1.0)  # type: ignore[arg-type]  (no RPC is made here)
    clock = iter([1000.0, 1002.0])
    monkeypatch.setattr(hubmod.time, "time", lambda: next(clock))
    assert h._sample({"messages": 100, "services": {"kvs": 10}}, []) is None
    jobs = [{"t_submit": 1001.0, "t_run": 1001.5, "t_inactive": 999.0},
            {"t_submit": 1000.5, "t_run": None, "t_inactive": None}]
    s = h._sample({"messages": 160, "services": {"kvs": 14, "attr": 2, "job-list": 0}}, jobs)
    assert s == {"t": 1002.0, "messages": 30.0, "services": {"kvs": 2.0, "attr": 1.0},
                 "submitted": 1.0, "started": 0.5, "finished": 0.0}


def test_a_page_that_stops_reading_has_its_stream_ended():
    async def scenario():
        h = hubmod.Hub(None, 1.0)  # type: ignore[arg-type]
        h.views["jobs"] = []
        q = h.subscribe()
        assert [q.get_nowait()[0] for _ in range(3)] == ["jobs", "history", "dmesg"]
        for i in range(q.maxsize + 1):
            h.publish("log", i)
        assert q not in h.subscribers
        assert q.qsize() == 1 and q.get_nowait() is None
    asyncio.run(scenario())


def test_log_records_as_the_page_shows_them():
    # PRI is severity*8 in Flux's records (see broker/log.py): 40 is notice
    text = "<40>1 2026-12-02T13:56:05.027976Z 3 logger 4242 - - hello world\0"
    assert hubmod.parse_record(text) == {
        "timestamp": "2026-12-02T13:56:05.027976Z", "rank": "3", "subsystem": "logger",
        "level": "notice", "severity": 5, "message": "hello world"}
    assert hubmod.parse_record("garbage") is None
    assert hubmod.parse_record({"not": "text"}) is None


@pytest.mark.parametrize("data, fmt, value", [
    (b'{"a": [1]}', "json", {"a": [1]}),
    (b"42", "json", 42),
    (b"plain text", "text", "plain text"),
    (b'{"timestamp":1.5,"name":"x"}\n', "eventlog", [{"timestamp": 1.5, "name": "x"}]),
    (b'{"not an eventlog"\n', "text", '{"not an eventlog"\n'),
    (b"\xff\xfe", "base64", base64.b64encode(b"\xff\xfe").decode()),
    (None, "none", None),
])
def test_values_are_described_by_what_they_hold(data, fmt, value):
    assert describe_value(data) == {"type": "value", "format": fmt, "value": value}


def test_configured_actions():
    pytest.importorskip("aiohttp", reason="the dashboard extra is not installed")
    from flux.dashboard.server import configured_actions

    assert configured_actions({}) == []
    assert configured_actions({"dashboard": {"actions": ["cancel", "cancel"]}}) == ["cancel"]
    for bad, text in (({"dashboard": {"actions": "cancel"}}, "array of strings"),
                      ({"dashboard": {"actions": ["rm -rf"]}}, "unknown action 'rm -rf'"),
                      ({"dashboard": 3}, "must be a table")):
        with pytest.raises(ValueError, match=text):
            configured_actions(bad)

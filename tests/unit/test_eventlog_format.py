"""The eventlog formatter: entries printed as flux-core's commands print them."""

from __future__ import annotations

import time

import pytest

from flux.cmd._eventlog_format import EventlogFormatter

T0 = 1700000000.25  # 2023-11-14 22:13:20.25 UTC


@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def entry(ts, name, context=None):
    e = {"timestamp": ts, "name": name}
    if context is not None:
        e["context"] = context
    return e


def test_raw_text():
    evf = EventlogFormatter()
    assert evf.format(entry(T0, "submit", {"urgency": 16, "note": "a b", "x": [1, 2.0],
                                           "ok": True})) == \
        '1700000000.250000 submit urgency=16 note="a b" x=[1,2.0] ok=true\n'
    assert evf.format(entry(5, "free")) == "5.000000 free\n"
    assert evf.format(entry(5, "free", {})) == "5.000000 free\n"


def test_json_form_keeps_the_entry():
    evf = EventlogFormatter()
    evf.set_format("JSON")
    text = evf.format({"timestamp": 1.5, "name": "n", "context": {"b": 1, "a": 0.1}})
    assert text == '{"timestamp":1.5,"name":"n","context":{"b":1,"a":0.10000000000000001}}\n'
    evf.set_no_newline()
    assert evf.format(entry(2, "m")) == '{"timestamp":2,"name":"m"}'


def test_human_timestamps(utc):
    evf = EventlogFormatter()
    evf.set_timestamp_format("human")
    assert evf.format(entry(T0, "a")) == "[Nov14 22:13] a\n"
    assert evf.format(entry(T0 + 1.5, "b")) == "[  +1.500000] b\n"
    # within the minute, offsets count from the line that showed the minute
    assert evf.format(entry(T0 + 2.0, "c")) == "[  +2.000000] c\n"
    assert evf.format(entry(T0 + 60, "d")) == "[Nov14 22:14] d\n"
    assert evf.format(entry(T0 + 61, "e")) == "[  +1.000000] e\n"
    evf.reset()
    assert evf.format(entry(T0 + 62, "f")) == "[Nov14 22:14] f\n"


def test_iso_and_offset_timestamps(utc):
    evf = EventlogFormatter()
    evf.set_timestamp_format("iso")
    assert evf.format(entry(T0, "a")) == "2023-11-14T22:13:20.250000Z a\n"
    evf.set_timestamp_format("offset")
    assert evf.format(entry(T0, "a")) == "0.000000 a\n"
    assert evf.format(entry(T0 + 2.5, "b")) == "2.500000 b\n"


def test_iso_with_an_offset_zone(monkeypatch):
    monkeypatch.setenv("TZ", "EST+5")
    time.tzset()
    try:
        evf = EventlogFormatter()
        evf.set_timestamp_format("ISO")
        assert evf.format(entry(T0, "a")) == "2023-11-14T17:13:20.250000-05:00 a\n"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_colors(utc):
    evf = EventlogFormatter()
    evf.set_color(True)
    assert evf.format(entry(1.0, "start", {"k": "v", "n": 3})) == (
        "\x1b[32m1.000000\x1b[0m \x1b[33mstart\x1b[0m"
        ' \x1b[34mk\x1b[0m=\x1b[35m"v"\x1b[0m \x1b[34mn\x1b[0m=\x1b[37m3\x1b[0m\n')
    assert evf.format(entry(1.0, "exception")) == \
        "\x1b[32m1.000000\x1b[0m \x1b[1m\x1b[31mexception\x1b[0m\n"
    evf.set_timestamp_format("human")
    assert evf.format(entry(T0, "x")).startswith("\x1b[1m\x1b[32m[Nov14 22:13]\x1b[0m ")


def test_bad_settings_and_entries():
    evf = EventlogFormatter()
    with pytest.raises(ValueError):
        evf.set_format("yaml")
    with pytest.raises(ValueError):
        evf.set_timestamp_format("never")
    evf.set_timestamp_format("reltime")
    assert evf.ts_format == "human"
    with pytest.raises(ValueError, match="eventlog_entry_parse: Invalid argument"):
        evf.format({"name": "x"})

"""The broker log in-process: the ring, levels, stderr echo, dmesg streaming."""

from __future__ import annotations

import errno

import pytest
from brokerfakes import CLIENT_UUID, GUEST_LOCAL, OWNER, Parts

from flux.broker.log import format_record, make_record
from flux.constants import FLUX_MSGFLAG_STREAMING
from flux.severity import LOG_CRIT, LOG_DEBUG, LOG_ERR, LOG_INFO

STREAM = FLUX_MSGFLAG_STREAMING


@pytest.fixture
def parts():
    return Parts()


def records(msgs):
    return [m.payload_bytes.rstrip(b"\0") for m in msgs if m.errnum == 0]


def test_record_format():
    rec = make_record(LOG_ERR, "app", "hello world", hostname="0", pid=42, now=0.0)
    assert rec == b"<24>1 1970-01-01T00:00:00.000000Z 0 app 42 - - hello world"
    assert format_record(rec) == "Jan 01 00:00:00.000000 UTC 1970 app.err[0]: hello world"
    assert format_record(b"not a record") == "not a record"


def test_ring_keeps_the_last_records(parts):
    parts.attrs.set_cmdline("log-ring-size", "2")  # immutable: -S only
    for i in range(3):
        parts.log.log(LOG_INFO, f"line {i}")
    assert [r.split(b" - - ")[1] for r in parts.log.ring] == [b"line 1", b"line 2"]
    assert parts.log.count == 3
    parts.log.log(LOG_INFO, "a\nb")  # one record per line
    assert [r.split(b" - - ")[1] for r in parts.log.ring] == [b"a", b"b"]


def test_levels_and_stderr_echo(parts):
    parts.log.log(LOG_DEBUG, "kept")
    parts.log.log(LOG_ERR, "echoed")
    assert "broker.err[0]: echoed" in parts.stderr.getvalue()
    assert "kept" not in parts.stderr.getvalue()
    parts.attrs.set_cmdline("log-level", str(LOG_INFO))  # immutable: -S only
    parts.log.log(LOG_DEBUG, "dropped")
    assert not any(b"dropped" in r for r in parts.log.ring)
    parts.attrs.update("log-stderr-level", str(LOG_CRIT))
    parts.log.log(LOG_ERR, "quiet")
    assert "quiet" not in parts.stderr.getvalue()


def test_append_answers_only_with_a_matchtag(parts):
    rec = make_record(LOG_INFO, "app", "from a client")
    assert parts.rpc("log.append", rec + b"\0", matchtag=0) == []
    assert parts.log.ring[-1] == rec
    assert parts.rpc("log.append", rec + b"\n\0", matchtag=5)[0].errnum == 0


def test_dmesg_backlog_then_end(parts):
    parts.log.log(LOG_INFO, "one")
    parts.log.log(LOG_INFO, "two")
    msgs = parts.rpc("log.dmesg", {"follow": False, "nobacklog": False}, flags=STREAM)
    assert [r.split(b" - - ")[1] for r in records(msgs)] == [b"one", b"two"]
    assert msgs[-1].errnum == errno.ENODATA  # end of stream
    assert parts.rpc("log.dmesg", {"follow": False})[0].errnum == errno.EPROTO  # not streaming
    assert parts.rpc("log.dmesg", {"follow": 1}, flags=STREAM)[0].errnum == errno.EPROTO


def test_dmesg_follow_cancel_and_disconnect(parts):
    parts.log.log(LOG_INFO, "old")
    msgs = parts.rpc("log.dmesg", {"follow": True, "nobacklog": True}, matchtag=4, flags=STREAM)
    assert msgs == []
    parts.log.log(LOG_INFO, "new")
    (m,) = parts.connector.take()
    assert m.matchtag == 4 and m.payload_bytes.endswith(b" - - new\0")
    # a guest cannot cancel the owner's stream
    guest = {"userid": OWNER + 1, "rolemask": GUEST_LOCAL}
    assert parts.rpc("log.cancel", {"matchtag": 4}, **guest)[0].errnum == errno.EPERM
    # the owner's cancel ends it with ENODATA and answers the cancel
    msgs = parts.rpc("log.cancel", {"matchtag": 4}, matchtag=5)
    assert [(m.matchtag, m.errnum) for m in msgs] == [(4, errno.ENODATA), (5, 0)]
    parts.log.log(LOG_INFO, "after")
    assert parts.connector.take() == []
    # a follower that disconnects is dropped without a reply
    parts.rpc("log.dmesg", {"follow": True, "nobacklog": True}, matchtag=6, flags=STREAM)
    assert parts.rpc("log.disconnect", sender=CLIENT_UUID) == []
    parts.log.log(LOG_INFO, "nobody listens")
    assert parts.connector.take() == [] and parts.log.followers == []


def test_clear_and_stats(parts):
    parts.log.log(LOG_INFO, "x")
    assert parts.rpc("log.stats-get")[0].payload == {"ring-used": 1, "count": 1, "local": 1,
                                                     "remote": 0}
    assert parts.rpc("log.clear")[0].errnum == 0
    assert len(parts.log.ring) == 0

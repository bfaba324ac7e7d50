"""The broker's stand-ins for stdlib helpers it no longer imports at start-up:
``uuids.uuid4`` (for ``uuid.uuid4``), ``rundir.make_rundir`` (for
``tempfile.mkdtemp``), ``overlay.zsock`` (for pyzmq's multipart calls), and
``log.make_record``'s timestamp (for ``datetime``)."""

from __future__ import annotations

import os
import stat
import uuid
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flux.broker.log import make_record
from flux.broker.rundir import make_rundir
from flux.broker.uuids import uuid4


def test_uuid4_is_a_version_4_uuid_in_canonical_form():
    seen = set()
    for _ in range(2000):
        text = uuid4()
        u = uuid.UUID(text)
        assert (str(u), u.version, u.variant) == (text, 4, uuid.RFC_4122)
        seen.add(text)
    assert len(seen) == 2000


def test_make_rundir_is_private_unique_and_refuses_a_missing_parent(tmp_path):
    made = {make_rundir(str(tmp_path)) for _ in range(200)}
    assert len(made) == 200
    for path in made:
        name = os.path.basename(path)
        assert os.path.dirname(path) == str(tmp_path) and name.startswith("flux-") and len(name) == 13
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    with pytest.raises(FileNotFoundError):
        make_rundir(str(tmp_path / "nosuch"))


@settings(max_examples=2000, deadline=None)
@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_record_timestamp_equals_datetimes(t):
    want = datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert make_record(6, "app", "text", now=t).split()[1].decode() == want


def test_zsock_moves_the_same_frames_as_pyzmq():
    zmq = pytest.importorskip("zmq")
    from flux.broker.overlay import zsock

    ctx = zmq.Context()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    try:
        a.bind("inproc://zsock-test")
        b.connect("inproc://zsock-test")
        assert not zsock.readable(b) and zsock.fd(b) > 0
        with pytest.raises(zmq.Again):
            zsock.recv_parts(b)
        for parts in ([b"one"], [b"ident", b"", b"topic", b"x" * 5000, b"\x8e" * 12]):
            zsock.send_parts(a, parts)
            assert zsock.readable(b)
            assert zsock.recv_parts(b) == parts
            a.send_multipart(parts)
            first, rest = zsock.recv_routed(b)
            assert [first.bytes] + rest == parts and isinstance(first, zmq.Frame)
            zsock.send_parts(a, parts)
            assert b.recv_multipart() == parts
    finally:
        a.close(0)
        b.close(0)
        ctx.term()

"""KVSService's API for services inside the broker: commit_ops and lookup_at, no messages."""

from __future__ import annotations

import base64
import errno
import os

import pytest

from flux.services.content.store import ContentStore
from flux.services.kvs.service import KVSService


@pytest.fixture
def svc(tmp_path):
    store = ContentStore(os.path.join(tmp_path, "c.sqlite"), "sha1", durable=False)
    events = []
    s = KVSService(owner=os.getuid(), rank=0, hashtype="sha1", store=lambda: store,
                   respond=lambda m, p: None, respond_error=lambda m, e, t: None,
                   publish=lambda t, p: events.append(t), schedule=lambda: None)
    yield s
    store.close()


def put(key: str, data: bytes) -> dict:
    return {"key": key, "flags": 0,
            "dirent": {"data": base64.b64encode(data).decode(), "type": "val", "ver": 1}}


def test_commit_ops_and_lookup_at(svc):
    done = []
    svc.commit_ops("primary", [put("job.1.eventlog", b"x")], 0, lambda e, r: done.append((e, r)))
    svc.commit_ops("primary", [put("job.2.eventlog", b"y")], 0, lambda e, r: done.append((e, r)))
    assert done == []  # applied at the end of the loop iteration
    svc.flush()
    assert [e for e, _ in done] == [0, 0]
    assert done[0][1] == done[1][1]  # merged: one root for both
    assert done[0][1]["rootseq"] == 1
    val = svc.lookup_at("primary", "job.2.eventlog")
    assert base64.b64decode(val["data"]) == b"y"
    with pytest.raises(OSError) as info:
        svc.lookup_at("primary", "job.3")
    assert info.value.errno == errno.ENOENT


def test_commit_ops_errors(svc):
    done = []
    svc.commit_ops("nosuch", [put("a", b"1")], 0, lambda e, r: done.append(e))
    svc.commit_ops("primary", [{"key": ".", "flags": 0, "dirent": None}], 0,
                   lambda e, r: done.append(e))
    svc.flush()
    assert done == [errno.ENOTSUP, errno.EINVAL]
    with pytest.raises(OSError) as info:
        svc.lookup_at("nosuch", "a")
    assert info.value.errno == errno.ENOTSUP


def test_apply_ready_leaves_what_answers_queue_for_the_next_call(svc):
    """A commit queued by the answer to another (a service's next event) waits for the
    next ``apply_ready``, so that what other services queue meanwhile merges with it;
    ``flush`` goes on until nothing is queued."""
    done = []

    def then(errnum, root):
        done.append(("first", root["rootseq"]))
        svc.commit_ops("primary", [put("job.1.b", b"2")], 0,
                       lambda e, r: done.append(("second", r["rootseq"])))

    svc.commit_ops("primary", [put("job.1.a", b"1")], 0, then)
    svc.apply_ready()
    assert done == [("first", 1)]
    svc.commit_ops("primary", [put("job.2.a", b"3")], 0,
                   lambda e, r: done.append(("other", r["rootseq"])))
    svc.apply_ready()
    assert done[1:] == [("second", 2), ("other", 2)]  # one commit for both
    svc.commit_ops("primary", [put("job.3.a", b"4")], 0, then)
    svc.flush()
    assert done[3:] == [("first", 3), ("second", 4)]

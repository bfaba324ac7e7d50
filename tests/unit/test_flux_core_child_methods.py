"""Rank-0 methods that a flux-core broker on a rank below calls (mixed trees,
docs/tbon.md): ``resource.get`` (its resource module at load) and ``kvs.relaycommit``
(its kvs module passing up a client's commit, whose outcome comes back only as the
setroot or error event naming it).  No flux-core needed: the requests are built as its
modules send them."""

from __future__ import annotations

import base64
import errno
import json
import os

import pytest

from flux.message import Message, encode_json
from flux.services.content.store import ContentStore
from flux.services.kvs.service import KVSService
from flux.services.resource.rv1 import build_R
from flux.services.resource.service import ResourceService


def request(payload: dict) -> Message:
    msg = Message()
    msg.payload_bytes = encode_json(payload)
    return msg


# -- resource.get -------------------------------------------------------------------------

def test_resource_get_enoent_until_defined_then_R_and_method():
    sent: list = []
    svc = ResourceService({0, 1}, "n0", lambda msg, p: sent.append(p),
                          lambda msg, e, t: sent.append(e), lambda ops, done: done(0, None))
    with pytest.raises(OSError) as exc:
        svc.get(request({}))
    assert exc.value.errno == errno.ENOENT
    cores = {0: {0, 1}, 1: {0, 1}}
    hosts = {0: "n0", 1: "n1"}
    svc.set_R(build_R(cores, hosts), cores, hosts)
    svc.define()
    svc.get(request({}))
    assert sent[-1] == {"R": build_R(cores, hosts), "method": "dynamic-discovery"}
    svc.define_configured()
    svc.get(request({}))
    assert sent[-1]["method"] == "configuration"


def test_resource_get_after_restart_from_kvs_says_kvs():
    sent: list = []
    svc = ResourceService({0}, "n0", lambda msg, p: sent.append(p),
                          lambda msg, e, t: sent.append(e), lambda ops, done: done(0, None))
    stored = build_R({0: {0, 1, 2}}, {0: "n0"})
    svc.define(stored, [])
    svc.get(request({}))
    assert sent[-1] == {"R": stored, "method": "kvs"}


def test_resource_get_not_defined_while_the_commit_fails():
    sent: list = []
    svc = ResourceService({0}, "n0", lambda msg, p: sent.append(p),
                          lambda msg, e, t: sent.append(e), lambda ops, done: done(5, None))
    svc.define()
    with pytest.raises(OSError) as exc:
        svc.get(request({}))
    assert exc.value.errno == errno.ENOENT


# -- kvs.relaycommit ----------------------------------------------------------------------

def _decode(payload) -> dict:
    data = payload() if callable(payload) else payload
    return json.loads(data.rstrip(b"\0"))  # a Flux string payload ends with NUL


@pytest.fixture
def kvs(tmp_path):
    store = ContentStore(os.path.join(tmp_path, "c.sqlite"), "sha1", durable=False)
    events: list = []
    answers: list = []
    s = KVSService(owner=os.getuid(), rank=0, hashtype="sha1", store=lambda: store,
                   respond=lambda m, p: answers.append(p),
                   respond_error=lambda m, e, t: answers.append(e),
                   publish=lambda t, p: events.append((t, _decode(p))),
                   schedule=lambda: None)
    s.test_events = events  # type: ignore[attr-defined]
    s.test_answers = answers  # type: ignore[attr-defined]
    yield s
    store.close()


def put(key: str, data: bytes) -> dict:
    return {"key": key, "flags": 0,
            "dirent": {"data": base64.b64encode(data).decode(), "type": "val", "ver": 1}}


def test_relaycommit_applies_and_names_it_in_the_setroot_event(kvs):
    kvs.relaycommit(request({"ops": [put("a.b", b"1")], "name": "transaction_req.1.0",
                             "namespace": "primary", "flags": 0}))
    kvs.relaycommit(request({"ops": [put("a.c", b"2")], "name": "transaction_req.3.7",
                             "namespace": "primary", "flags": 0}))
    kvs.flush()
    assert kvs.test_answers == []  # no response: the name is the answer
    setroots = [p for t, p in kvs.test_events if t == "kvs.namespace-primary-setroot"]
    assert len(setroots) == 1  # merged, as flux-core's rank 0 merges them
    assert setroots[0]["names"] == ["transaction_req.1.0", "transaction_req.3.7"]
    assert setroots[0]["keys"] == {"a.b": None, "a.c": None}
    assert base64.b64decode(kvs.lookup_at("primary", "a.c")["data"]) == b"2"


def test_relaycommit_errors_come_back_as_error_events(kvs):
    kvs.relaycommit(request({"ops": [put("x", b"1")], "name": "transaction_req.2.1",
                             "namespace": "nosuch", "flags": 0}))
    kvs.relaycommit(request({"ops": [{"key": ".", "flags": 0, "dirent": None}],
                             "name": "transaction_req.2.2", "namespace": "primary",
                             "flags": 0}))
    kvs.flush()
    errors = [(t, p) for t, p in kvs.test_events if t.endswith("-error")]
    assert errors == [
        ("kvs.namespace-nosuch-error",
         {"namespace": "nosuch", "names": ["transaction_req.2.1"], "errnum": errno.ENOTSUP}),
        ("kvs.namespace-primary-error",
         {"namespace": "primary", "names": ["transaction_req.2.2"], "errnum": errno.EINVAL}),
    ]
    assert kvs.test_answers == []
    with pytest.raises(OSError) as exc:  # not a relaycommit request: EPROTO, nothing applied
        kvs.relaycommit(request({"ops": "nope", "name": "n", "namespace": "primary",
                                 "flags": 0}))
    assert exc.value.errno == errno.EPROTO

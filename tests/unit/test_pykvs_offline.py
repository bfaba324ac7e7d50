"""flux.kvs without a broker: the requests it builds, how it reads answers, its errors.

A fake server thread on an ``fd://`` socketpair answers each request from a
script, so the synchronous API (``get``, ``commit``...) runs as against a
real KVS, and every request is kept to compare byte for byte with flux-core's.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import json
import os
import sys
from pathlib import Path

import pytest
from fakeserver import FakeServer
from hypothesis import given
from hypothesis import strategies as st

import flux
import flux.kvs
from flux.codec import StreamDecoder, encode_stream
from flux.constants import (
    FLUX_KVS_APPEND,
    FLUX_KVS_NO_MERGE,
    FLUX_KVS_READDIR,
    FLUX_KVS_READLINK,
    FLUX_KVS_STREAM,
    FLUX_KVS_SYNC,
    FLUX_KVS_TREEOBJ,
    FLUX_KVS_TXN_COMPACT,
    FLUX_KVS_WAITCREATE,
    FLUX_KVS_WATCH,
    FLUX_KVS_WATCH_APPEND,
    FLUX_KVS_WATCH_FULL,
    FLUX_KVS_WATCH_INITIAL_SENTINEL,
    FLUX_KVS_WATCH_UNIQ,
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_NODEID_ANY,
)
from flux.kvs.lookups import _lookup_payload, _val_bytes, decode_value
from flux.message import encode_json
from flux.response import derive_response
from flux.services.content.blobref import hash_blobref
from flux.services.kvs import treeobj

pytestmark = pytest.mark.timeout(20)

INTEROP = Path(__file__).resolve().parents[1] / "data" / "interop"
ROOTREF = "sha1-4bb7d372bb5f17329cfabbc048ed5432453f9b66"


def val(data: bytes) -> dict:
    return treeobj.create_val(data)


def jval(obj) -> dict:
    """The val flux-core's put stores for ``obj`` (json.dumps)."""
    return val(json.dumps(obj).encode())


@pytest.fixture
def srv(monkeypatch):
    monkeypatch.delenv("FLUX_KVS_NAMESPACE", raising=False)
    server = FakeServer()
    yield server
    server.close()


def lookup_answers(table: dict):
    """An ``answer`` serving kvs.lookup from ``{key: treeobj or errnum}``."""

    def answer(topic, payload):
        assert topic == "kvs.lookup"
        found = table.get(payload["key"], errno.ENOENT)
        if isinstance(found, int):
            return [(found, None)]
        if found["type"] == "dir" and not payload["flags"] & FLUX_KVS_READDIR:
            return [(errno.EISDIR, None)]
        if found["type"] != "dir" and payload["flags"] & FLUX_KVS_READDIR:
            return [(errno.ENOTDIR, None)]
        return [(0, {"val": found})]

    return answer


def commit_answers(seen: list):
    def answer(topic, payload):
        seen.append((topic, payload))
        return [(0, {"rootref": ROOTREF, "rootseq": len(seen)})]

    return answer


# -- import cost -------------------------------------------------------------------


def test_import_is_light():
    code = ("import sys, flux.kvs\n"
            "heavy = ('json', 'base64', 'flux.rpc', 'flux.kvs.kvsdir')\n"
            "print([m for m in heavy if m in sys.modules])\n"
            "flux.kvs.get\n"
            "print(sorted(m for m in sys.modules if m.startswith('flux.kvs.')))\n")
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, second = out.stdout.splitlines()
    assert first == "[]"
    assert "flux.kvs.kvsdir" in second and "flux.kvs.watch" not in second


def test_flux_package_exposes_kvs():
    assert "kvs" in flux.__all__
    assert flux.kvs is sys.modules["flux.kvs"]
    for name in flux.kvs.__all__:
        assert getattr(flux.kvs, name) is not None
    with pytest.raises(AttributeError):
        flux.kvs.no_such_name  # noqa: B018


# -- requests, byte for byte ------------------------------------------------------------


def _payload_of_capture(name: str) -> bytes:
    """The payload of an interop capture (JSON text plus its NUL)."""
    (msg,) = StreamDecoder().feed((INTEROP / name).read_bytes())
    return msg.payload_bytes


def test_lookup_request_matches_flux_core_capture(srv):
    srv.answer = lambda topic, payload: [(0, {"val": val(b"hello")})]
    assert flux.kvs.get(srv.h, "golden.key") == "hello"
    msg = srv.last()
    assert msg.topic == "kvs.lookup"
    assert msg.payload_bytes == _payload_of_capture("kvs-lookup-request.bin")
    assert msg.aux1 == FLUX_NODEID_ANY and not msg.flags & FLUX_MSGFLAG_STREAMING


def test_commit_request_matches_flux_core_capture(srv):
    srv.answer = lambda topic, payload: [(0, {"rootref": ROOTREF, "rootseq": 4})]
    flux.kvs.put(srv.h, "golden.key", b"hello", raw=True)
    flux.kvs.commit(srv.h)
    msg = srv.last()
    assert msg.topic == "kvs.commit"
    assert msg.payload_bytes == _payload_of_capture("kvs-commit-request.bin")


def test_namespace_from_argument_then_environment_then_primary(srv, monkeypatch):
    srv.answer = lambda topic, payload: [(0, {"val": jval(1)})]
    flux.kvs.get(srv.h, "a")
    assert srv.last().payload["namespace"] == "primary"
    monkeypatch.setenv("FLUX_KVS_NAMESPACE", "fromenv")
    flux.kvs.get(srv.h, "a")
    assert srv.last().payload["namespace"] == "fromenv"
    flux.kvs.get(srv.h, "a", namespace="arg")
    assert srv.last().payload["namespace"] == "arg"
    flux.kvs.put(srv.h, "a", 1)
    srv.answer = commit_answers([])
    flux.kvs.commit(srv.h)
    assert srv.last().payload["namespace"] == "fromenv"


@pytest.mark.parametrize("flags, topic, streaming", [
    (0, "kvs.lookup", False),
    (FLUX_KVS_READDIR, "kvs.lookup", False),
    (FLUX_KVS_READLINK, "kvs.lookup", False),
    (FLUX_KVS_TREEOBJ | FLUX_KVS_READDIR, "kvs.lookup", False),
    (FLUX_KVS_WATCH, "kvs-watch.lookup", True),
    (FLUX_KVS_WAITCREATE, "kvs-watch.lookup", False),
    (FLUX_KVS_WATCH | FLUX_KVS_WAITCREATE | FLUX_KVS_WATCH_UNIQ, "kvs-watch.lookup", True),
    (FLUX_KVS_STREAM, "kvs-watch.lookup", True),
])
def test_lookup_topic_and_streaming_follow_the_flags(srv, flags, topic, streaming):
    srv.answer = lambda t, p: [(errno.ENODATA, None)]
    f = flux.kvs.lookup(srv.h, "k", flags)
    with pytest.raises(OSError):
        f.get()
    msg = srv.last()
    assert msg.topic == topic
    assert bool(msg.flags & FLUX_MSGFLAG_STREAMING) == streaming
    assert msg.payload_bytes == encode_json({"key": "k", "namespace": "primary", "flags": flags})


@pytest.mark.parametrize("flags", [
    FLUX_KVS_WATCH_UNIQ, FLUX_KVS_WATCH_FULL, FLUX_KVS_WATCH_APPEND,
    FLUX_KVS_WATCH_INITIAL_SENTINEL, FLUX_KVS_APPEND, FLUX_KVS_READDIR | FLUX_KVS_READLINK,
    FLUX_KVS_READLINK | FLUX_KVS_TREEOBJ,
])
def test_bad_lookup_flags_are_einval_before_sending(srv, flags):
    with pytest.raises(OSError) as ei:
        flux.kvs.lookup(srv.h, "k", flags)
    assert ei.value.errno == errno.EINVAL
    assert ei.value.strerror == "EINVAL: Invalid argument"
    assert srv.sent() == []


def test_lookupat_sends_rootdir_and_refuses_watching(srv):
    srv.answer = lambda t, p: [(0, {"val": jval(7)})]
    root = treeobj.create_dirref(ROOTREF)
    f = flux.kvs.lookupat(srv.h, "a.b", root)
    assert decode_value(f.get_value()) == 7
    assert srv.last().payload_bytes == encode_json({"key": "a.b", "flags": 0, "rootdir": root})
    flux.kvs.lookupat(srv.h, "a", json.dumps(root), FLUX_KVS_READDIR).get()
    assert srv.last().payload["rootdir"] == root
    for bad in (FLUX_KVS_WATCH, FLUX_KVS_WAITCREATE):
        with pytest.raises(OSError) as ei:
            flux.kvs.lookupat(srv.h, "a", root, bad)
        assert ei.value.errno == errno.EINVAL
    with pytest.raises(OSError) as ei:
        flux.kvs.lookupat(srv.h, "a", "{not json")
    assert ei.value.errno == errno.EINVAL


def test_getroot_wait_version_and_version(srv):
    answer = {"owner": 4294967295 - (1 << 32), "rootseq": 9, "rootref": ROOTREF, "flags": 0,
              "namespace": "primary"}
    srv.answer = lambda t, p: [(0, answer)]
    f = flux.kvs.getroot(srv.h)
    assert f.get() == answer
    assert srv.last().payload_bytes == encode_json({"namespace": "primary", "flags": 0})
    assert f.get_sequence() == 9 and f.get_rootref() == ROOTREF == f.get_blobref()
    assert f.get_owner() == 0xFFFFFFFF
    assert f.get_treeobj() == {"ver": 1, "type": "dirref", "data": [ROOTREF]}
    assert flux.kvs.get_version(srv.h, "ns") == 9
    assert srv.last().payload_bytes == encode_json({"namespace": "ns"})
    f = flux.kvs.wait_version(srv.h, 12)
    assert f.get_sequence() == 9
    assert srv.last().topic == "kvs.wait-version"
    assert srv.last().payload_bytes == encode_json({"rootseq": 12, "namespace": "primary"})
    with pytest.raises(OSError) as ei:
        flux.kvs.getroot(srv.h, flags=1)
    assert ei.value.errno == errno.EINVAL


def test_namespace_requests(srv):
    srv.answer = lambda t, p: [(0, {"value": "sha1"} if t == "attr.get" else None)]
    flux.kvs.namespace_create(srv.h, "ns1")
    msg = srv.last()
    assert msg.topic == "kvs.namespace-create" and msg.aux1 == 0
    empty_dir = hash_blobref("sha1", b'{"data":{},"type":"dir","ver":1}')
    assert msg.payload_bytes == encode_json(
        {"namespace": "ns1", "rootref": empty_dir, "owner": os.getuid(), "flags": 0})
    flux.kvs.namespace_create(srv.h, "ns2", owner=4294967295)
    assert srv.last().payload["owner"] == -1
    flux.kvs.namespace_create(srv.h, "ns3", owner=1234)
    assert srv.last().payload["owner"] == 1234
    flux.kvs.namespace_remove(srv.h, "ns1")
    assert srv.last().topic == "kvs.namespace-remove" and srv.last().aux1 == 0
    assert srv.last().payload_bytes == encode_json({"namespace": "ns1"})
    for call in (lambda: flux.kvs.namespace_create(srv.h, "x", flags=1),
                 lambda: flux.kvs.namespace_create(srv.h, None),
                 lambda: flux.kvs.namespace_remove(srv.h, None)):
        with pytest.raises(OSError) as ei:
            call()
        assert ei.value.errno == errno.EINVAL
    srv.answer = lambda t, p: [(0, {"namespaces": [
        {"namespace": "primary", "owner": 0, "flags": 0},
        {"namespace": "ns2", "owner": 5, "flags": 0}]})]
    assert flux.kvs.namespace_list(srv.h) == ["primary", "ns2"]
    assert srv.last().topic == "kvs.namespace-list" and srv.last().payload_bytes is None
    srv.answer = lambda t, p: ([(0, {"value": "sha1"})] if t == "attr.get"
                               else [(errno.EEXIST, None)])
    with pytest.raises(FileExistsError) as ei:
        flux.kvs.namespace_create(srv.h, "ns2")
    assert ei.value.strerror == "EEXIST: File exists"


def test_dropcache_and_checkpoints(srv):
    srv.answer = lambda t, p: [(0, None)]
    assert flux.kvs.dropcache(srv.h) is None
    assert srv.last().topic == "kvs.dropcache" and srv.last().payload_bytes is None
    point = {"version": 1, "rootref": ROOTREF, "sequence": 3, "timestamp": 1.5}
    srv.answer = lambda t, p: [(0, {"value": point})]
    assert flux.kvs.kvs_checkpoint_lookup(srv.h) == [point]
    assert srv.last().topic == "content.checkpoint-get"
    srv.answer = lambda t, p: [(0, {"value": [point, point]})]
    assert flux.kvs.kvs_checkpoint_lookup(srv.h, cache_bypass=True) == [point, point]
    assert srv.last().topic == "content-backing.checkpoint-get"
    srv.answer = lambda t, p: [(errno.ENOSYS, "No service matching kvs.dropcache is registered")]
    with pytest.raises(OSError) as ei:
        flux.kvs.dropcache(srv.h)
    assert ei.value.errno == errno.ENOSYS and "No service matching" in ei.value.strerror


# -- values: put encodes, get decodes ------------------------------------------------------


@pytest.mark.parametrize("value, stored", [
    (10, b"10"), (10.5, b"10.5"), ("stuff", b'"stuff"'), (None, b"null"),
    ([1, 2, 3], b"[1, 2, 3]"), ({"a": 1, "b": "x"}, b'{"a": 1, "b": "x"}'),
    ("\u32db \u263a", b'"\\u32db \\u263a"'),  # json.dumps escapes, as flux-core's put
    (b"\xde\xad\xbe\xef", b"\xde\xad\xbe\xef"),  # bytes are not JSON: raw
    (b"{}", b"{}"),
])
def test_put_encodes_as_flux_core(srv, value, stored):
    flux.kvs.put(srv.h, "k", value)
    (op,) = srv.h.aux_txn
    assert op == {"key": "k", "flags": 0, "dirent": val(stored)}


def test_put_raw(srv):
    flux.kvs.put(srv.h, "a", "foobar", raw=True)
    flux.kvs.put(srv.h, "b", b"\x00\x01", raw=True)
    assert [op["dirent"] for op in srv.h.aux_txn] == [val(b"foobar"), val(b"\x00\x01")]
    with pytest.raises(AttributeError):
        flux.kvs.put(srv.h, "c", 1, raw=True)
    with pytest.raises(TypeError):
        flux.kvs.put(srv.h, "c", object())


@pytest.mark.parametrize("stored, expected", [
    (b"10", 10), (b"10.5", 10.5), (b'"stuff"', "stuff"), (b"null", None), (b"", None),
    (b'{"a": [1]}', {"a": [1]}), (b"{", "{"), (b"plain text", "plain text"),
    (b"\xde\xad\xbe\xef", b"\xde\xad\xbe\xef"), ("\u263a".encode(), "\u263a"),
    (b"a\x00b", "a\x00b"),
])
def test_get_decodes_json_then_text_then_bytes(srv, stored, expected):
    srv.answer = lookup_answers({"k": val(stored)})
    got = flux.kvs.get(srv.h, "k")
    assert got == expected and type(got) is type(expected)


def test_get_of_a_directory_is_a_kvsdir(srv):
    d = treeobj.create_dir({"x": jval(1), "sub": treeobj.create_dir(),
                            "l": treeobj.create_symlink("x")})
    srv.answer = lookup_answers({"d": d, "d.x": jval(1), "d.sub": treeobj.create_dir()})
    kd = flux.kvs.get(srv.h, "d")
    assert isinstance(kd, flux.kvs.KVSDir)
    assert list(kd) == ["l", "sub", "x"] and len(kd) == 3
    assert sorted(kd.files()) == ["l", "x"] and list(kd.directories()) == ["sub"]
    assert kd.list_all() == (["l", "x"], ["sub"])
    assert kd["x"] == 1
    assert kd.key_at("x") == "d.x"
    sub = kd["sub"]
    assert isinstance(sub, flux.kvs.KVSDir) and sub.kvstxn is kd.kvstxn
    topics = [(m.topic, m.payload["key"], m.payload["flags"]) for m in srv.sent()]
    assert topics[:2] == [("kvs.lookup", "d", 0), ("kvs.lookup", "d", FLUX_KVS_READDIR)]


def test_exists_and_isdir(srv):
    srv.answer = lookup_answers({"v": jval(1), "d": treeobj.create_dir(), "x.y": errno.ENOTDIR})
    assert flux.kvs.exists(srv.h, "v") and flux.kvs.exists(srv.h, "d")
    assert not flux.kvs.exists(srv.h, "missing")
    assert flux.kvs.isdir(srv.h, "d")
    assert not flux.kvs.isdir(srv.h, "v") and not flux.kvs.isdir(srv.h, "missing")
    for func in (flux.kvs.exists, flux.kvs.isdir):
        with pytest.raises(NotADirectoryError):
            func(srv.h, "x.y")


@pytest.mark.parametrize("func", [
    lambda h: flux.kvs.get(h, ""), lambda h: flux.kvs.exists(h, ""),
    lambda h: flux.kvs.isdir(h, ""), lambda h: flux.kvs.get_dir(h, ""),
    lambda h: flux.kvs.put(h, "", ""), lambda h: flux.kvs.put_mkdir(h, ""),
    lambda h: flux.kvs.put_unlink(h, ""), lambda h: flux.kvs.put_symlink(h, "", ""),
    lambda h: flux.kvs.put_symlink(h, "k", None), lambda h: flux.kvs.get(h, None),
])
def test_empty_key_is_einval_at_once(srv, func):
    with pytest.raises(OSError) as ei:
        func(srv.h)
    assert ei.value.errno == errno.EINVAL
    assert ei.value.strerror == "EINVAL: Invalid argument"
    assert srv.sent() == []


def test_errors_carry_the_server_text_else_flux_core_wording(srv):
    srv.answer = lambda t, p: [(errno.ENOENT, None)]
    with pytest.raises(FileNotFoundError) as ei:
        flux.kvs.get(srv.h, "k")
    assert ei.value.strerror == "ENOENT: No such file or directory"
    srv.answer = lambda t, p: [(errno.EPERM, "Request requires owner credentials")]
    with pytest.raises(PermissionError) as ei:
        flux.kvs.get(srv.h, "k")
    assert ei.value.strerror == "Request requires owner credentials"
    srv.answer = lambda t, p: [(errno.ENOENT, None)]
    with pytest.raises(OSError, match="No such file"):
        flux.kvs.KVSDir(srv.h, "nodir")


@pytest.mark.parametrize("payload", [{}, {"val": 3}, {"val": {"ver": 1, "type": "val"}},
                                     {"val": {"ver": 2, "type": "val", "data": ""}}])
def test_malformed_lookup_response_is_eproto(srv, payload):
    srv.answer = lambda t, p: [(0, payload)]
    with pytest.raises(OSError) as ei:
        flux.kvs.get(srv.h, "k")
    assert ei.value.errno == errno.EPROTO


def test_lookup_future_getters(srv):
    link = treeobj.create_symlink("target", "otherns")
    d = treeobj.create_dir({"a": jval(1)})
    srv.answer = lookup_answers({"l": link, "d": d, "v": val(b"raw")})
    f = flux.kvs.lookup(srv.h, "l", FLUX_KVS_READLINK)
    assert f.get_symlink() == ("otherns", "target")
    assert f.get_treeobj() == link and f.get_key() == "l"
    assert f.get() == {"val": link}
    with pytest.raises(OSError) as ei:
        f.get_value()
    assert ei.value.errno == errno.EINVAL
    with pytest.raises(OSError) as ei:
        f.get_dir()
    assert ei.value.errno == errno.EINVAL
    assert flux.kvs.lookup(srv.h, "d", FLUX_KVS_READDIR).get_dir() == d
    f = flux.kvs.lookup(srv.h, "v")
    assert f.get_value() == b"raw"
    with pytest.raises(OSError) as ei:
        f.get_symlink()
    assert ei.value.errno == errno.EINVAL
    with pytest.raises(OSError) as ei:
        f.cancel()  # not a watch
    assert ei.value.errno == errno.EINVAL


# -- transactions -----------------------------------------------------------------------------


def test_implicit_txn_is_discarded_after_each_commit(srv):
    seen: list = []
    srv.answer = commit_answers(seen)
    flux.kvs.commit(srv.h)  # nothing staged: nothing sent
    assert srv.sent() == []
    flux.kvs.put(srv.h, "a.b", 1)
    flux.kvs.put_mkdir(srv.h, "d")
    flux.kvs.put_unlink(srv.h, "old")
    flux.kvs.put_symlink(srv.h, "l", "a.b")
    flux.kvs.commit(srv.h, FLUX_KVS_NO_MERGE | FLUX_KVS_SYNC, namespace="ns")
    assert srv.h.aux_txn is None
    (topic, payload), = seen
    assert payload == {"namespace": "ns", "flags": FLUX_KVS_NO_MERGE | FLUX_KVS_SYNC, "ops": [
        {"key": "a.b", "flags": 0, "dirent": jval(1)},
        {"key": "d", "flags": 0, "dirent": {"ver": 1, "type": "dir", "data": {}}},
        {"key": "old", "flags": 0, "dirent": None},
        {"key": "l", "flags": 0, "dirent": {"ver": 1, "type": "symlink",
                                            "data": {"target": "a.b"}}},
    ]}
    # a failed commit discards the transaction too; the next commit sends nothing
    srv.answer = lambda t, p: [(errno.EINVAL, None)]
    flux.kvs.put(srv.h, ".", "root")
    with pytest.raises(OSError) as ei:
        flux.kvs.commit(srv.h)
    assert ei.value.errno == errno.EINVAL and srv.h.aux_txn is None
    count = len(srv.sent())
    flux.kvs.commit(srv.h)
    assert len(srv.sent()) == count


def test_commit_async_returns_the_new_root(srv):
    srv.answer = commit_answers([])
    flux.kvs.put(srv.h, "k", "v")
    f = flux.kvs.commit_async(srv.h)
    assert srv.h.aux_txn is None
    assert f.get() == {"rootref": ROOTREF, "rootseq": 1}
    assert f.get_rootref() == ROOTREF and f.get_sequence() == 1
    assert f.get_treeobj() == treeobj.create_dirref(ROOTREF)
    # as flux-core: with nothing staged, an empty commit is still sent
    flux.kvs.commit_async(srv.h).get()
    assert srv.last().payload["ops"] == []


def test_kvstxn_paths_ops_and_context_manager(srv):
    seen: list = []
    srv.answer = commit_answers(seen)
    with flux.kvs.KVSTxn(srv.h, "base", namespace="ns") as txn:
        txn.put("a", 1)
        txn.put("r", "text", raw=True)
        txn.put_raw("b", b"\x01")
        txn.put_treeobj("t", json.dumps(val(b"x")))
        txn.append("log", "line\n")
        txn.mkdir("d")
        txn.unlink("u")
        txn.symlink("s", "a", namespace="other")
    (_, payload), = seen
    assert payload["namespace"] == "ns"
    assert [(op["key"], op["flags"]) for op in payload["ops"]] == [
        ("base.a", 0), ("base.r", 0), ("base.b", 0), ("base.t", 0), ("base.log", FLUX_KVS_APPEND),
        ("base.d", 0), ("base.u", 0), ("base.s", 0)]
    assert payload["ops"][-1]["dirent"]["data"] == {"namespace": "other", "target": "a"}
    assert txn.txn == []
    txn.commit()  # empty: nothing sent
    assert len(seen) == 1
    f = flux.kvs.KVSTxn(srv.h, "x.").commit_async()  # empty, but sent, as flux-core
    assert f.get()["rootseq"] == 2 and seen[1][1]["ops"] == []


def test_kvstxn_rejects_bad_ops_at_once(srv):
    txn = flux.kvs.KVSTxn(srv.h)
    for bad in (lambda: txn.put_raw("k", b"", flags=FLUX_KVS_SYNC),
                lambda: txn.put_treeobj("k", {"ver": 1, "type": "nope", "data": 1}),
                lambda: txn.mkdir("")):
        with pytest.raises(OSError) as ei:
            bad()
        assert ei.value.errno == errno.EINVAL
    with pytest.raises(OSError) as ei:
        txn.put_treeobj("k", "{not json")
    assert ei.value.errno == errno.EPROTO
    assert txn.txn == []


def test_txn_compact_merges_appends_on_the_client(srv):
    seen: list = []
    srv.answer = commit_answers(seen)
    txn = flux.kvs.KVSTxn(srv.h)
    txn.append("log", "a")
    txn.put("other", 1)
    txn.append("log", "b")
    txn.append("one", "x")
    txn.append("log", "c")
    txn.commit(FLUX_KVS_TXN_COMPACT | FLUX_KVS_NO_MERGE)
    (_, payload), = seen
    assert payload["flags"] == FLUX_KVS_NO_MERGE
    assert payload["ops"] == [
        {"key": "log", "flags": FLUX_KVS_APPEND, "dirent": val(b"abc")},
        {"key": "other", "flags": 0, "dirent": jval(1)},
        {"key": "one", "flags": FLUX_KVS_APPEND, "dirent": val(b"x")},
    ]
    txn.append("log", "a")
    txn.put("log", 2)
    with pytest.raises(OSError) as ei:
        txn.commit(FLUX_KVS_TXN_COMPACT)
    assert ei.value.errno == errno.EINVAL
    assert len(seen) == 1 and txn.txn == []


def test_compact_leaves_single_and_empty_appends_alone():
    from flux.kvs.ops import compact, put_raw_op

    single = [put_raw_op("k", b"a", FLUX_KVS_APPEND), put_raw_op("j", b"1")]
    assert compact(single) == single
    empties = [put_raw_op("k", b"", FLUX_KVS_APPEND), put_raw_op("k", b"", FLUX_KVS_APPEND)]
    assert compact(empties) == empties[:1]
    assert compact([]) == []


def test_module_functions_stage_into_a_given_txn(srv):
    seen: list = []
    srv.answer = commit_answers(seen)
    txn = flux.kvs.KVSTxn(srv.h)
    flux.kvs.put_mkdir(srv.h, "d", _kvstxn=txn)
    flux.kvs.put(srv.h, "d.a", 1, _kvstxn=txn)
    flux.kvs.commit(srv.h, _kvstxn=txn)
    assert [op["key"] for op in seen[0][1]["ops"]] == ["d", "d.a"]
    assert srv.h.aux_txn is None
    flux.kvs.commit_async(srv.h, _kvstxn=txn).get()
    assert len(seen) == 2


# -- KVSDir ---------------------------------------------------------------------------------


def test_kvsdir_needs_a_handle_or_a_tree_object():
    with pytest.raises(ValueError):
        flux.kvs.KVSDir()
    kd = flux.kvs.KVSDir(handle=treeobj.create_dir({"b": jval(1), "a": treeobj.create_dir()}))
    assert list(kd) == ["a", "b"] and list(kd.files()) == ["b"]
    with pytest.raises(OSError) as ei:
        flux.kvs.KVSDir(handle=jval(1))
    assert ei.value.errno == errno.EINVAL


def test_kvsdir_writes_share_one_txn_with_absolute_keys(srv):
    tree = {".": treeobj.create_dir({"sub": treeobj.create_dir()}),
            "sub": treeobj.create_dir({"deeper": treeobj.create_dir()}),
            "sub.deeper": treeobj.create_dir()}
    seen: list = []

    def answer(topic, payload):
        if topic == "kvs.commit":
            return commit_answers(seen)(topic, payload)
        return lookup_answers(tree)(topic, payload)

    srv.answer = answer
    with flux.kvs.get_dir(srv.h) as kd:
        kd["sub"]["deeper"]["x"] = 1
        kd["top"] = 2
        del kd["sub"]["gone"]
        with pytest.raises(KeyError, match="nothere not found under directory "):
            kd["nothere"]
    (_, payload), = seen
    assert [(op["key"], op["dirent"]) for op in payload["ops"]] == [
        ("sub.deeper.x", jval(1)), ("top", jval(2)), ("sub.gone", None)]
    kd = flux.kvs.KVSDir(srv.h, "sub")
    assert kd.key_at("") == "sub." and kd.key_at("deeper") == "sub.deeper"
    tree["sub.new"] = treeobj.create_dir()  # as it will be once the mkdir is committed
    kd.mkdir("new", {"k": "v"})  # commits the mkdir, then fills the new directory
    assert [op["key"] for op in seen[1][1]["ops"]] == ["sub.new"]
    assert [(op["key"], op["dirent"]) for op in seen[2][1]["ops"]] == [("sub.new.k", jval("v"))]


def test_kvsdir_fill_and_commit_async(srv):
    seen: list = []

    def answer(topic, payload):
        if topic == "kvs.commit":
            return commit_answers(seen)(topic, payload)
        return lookup_answers({"d.": treeobj.create_dir()})(topic, payload)

    srv.answer = answer
    kd = flux.kvs.KVSDir(srv.h, "d.")
    kd.fill({"a": 1, "b.c": "x"})
    assert [op["key"] for op in seen[0][1]["ops"]] == ["d.a", "d.b.c"]
    with pytest.raises(ValueError):
        kd.fill(None)
    kd["z"] = 0
    f = kd.commit_async()
    assert f.get()["rootref"] == ROOTREF and kd.kvstxn.txn == []


def test_walk_and_join(srv):
    tree = {".": treeobj.create_dir({"a": treeobj.create_dir(), "f": jval(1)}),
            "a": treeobj.create_dir({"b": treeobj.create_dir(), "g": jval(2)}),
            "a.b": treeobj.create_dir({"h": jval(3)})}
    srv.answer = lookup_answers(tree)
    walked = [(r, list(ds), list(fs)) for r, ds, fs in flux.kvs.walk(".", flux_handle=srv.h)]
    assert walked == [("a.b", [], ["h"]), ("a", ["b"], ["g"]), ("", ["a"], ["f"])]
    top = [(r, list(ds), list(fs)) for r, ds, fs in
           flux.kvs.walk(flux.kvs.get_dir(srv.h), topdown=True)]
    assert [r for r, _, _ in top] == ["", "a", "a.b"]
    with pytest.raises(ValueError):
        flux.kvs.walk("dir")
    assert flux.kvs.join("a", "", "b", "c") == "a.b.c"


# -- watches -----------------------------------------------------------------------------


def watch_stream(values: list, end: tuple = (errno.ENODATA, None)):
    """An ``answer`` that streams ``values`` for a kvs-watch.lookup; the end waits for cancel."""
    def answer(topic, payload):
        if topic == "kvs-watch.lookup":
            return [(0, {"val": v}) for v in values]
        return []

    return answer


def test_kvs_watch_async_flags_and_values(srv):
    srv.answer = watch_stream([jval(1), jval(None), val(b"text")])
    f = flux.kvs.kvs_watch_async(srv.h, "k", waitcreate=True, uniq=True, full=True)
    assert isinstance(f, flux.kvs.KVSWatchFuture)
    srv.wait_count(1)
    msg = srv.last()
    assert msg.topic == "kvs-watch.lookup" and msg.flags & FLUX_MSGFLAG_STREAMING
    assert msg.payload["flags"] == (FLUX_KVS_WATCH | FLUX_KVS_WAITCREATE | FLUX_KVS_WATCH_UNIQ
                                    | FLUX_KVS_WATCH_FULL)
    assert f.get() == 1
    assert f.get(autoreset=False) is None  # JSON null, not the end
    assert f.get() is None  # same response again: no autoreset last time
    assert f.get() == "text"
    tag = srv.sent()[0].aux2
    srv.answer = lambda t, p: [] if t == "kvs-watch.cancel" else [(errno.ENODATA, None)]
    f.cancel()
    srv.wait_count(2)
    cancel = srv.last()
    assert cancel.topic == "kvs-watch.cancel" and cancel.flags & FLUX_MSGFLAG_NORESPONSE
    assert cancel.payload_bytes == encode_json({"matchtag": tag})
    assert f.needs_cancel is False
    flux.kvs.kvs_watch_async(srv.h, "k", append=True)  # dropped at once: cancelled
    srv.wait_count(4)
    watch, cancel = srv.sent()[2:]
    assert watch.payload["flags"] == FLUX_KVS_WATCH | FLUX_KVS_WATCH_APPEND
    assert cancel.topic == "kvs-watch.cancel"
    assert cancel.payload == {"matchtag": watch.aux2}


def _serve_cancel_with_enodata(srv, values):
    """Stream ``values``; answer kvs-watch.cancel by ending the watched stream with ENODATA."""
    watched = []

    def answer(topic, payload):
        if topic == "kvs-watch.lookup":
            watched.append(srv.sent()[-1])
            return [(0, {"val": v}) for v in values]
        if topic == "kvs-watch.cancel":
            req = watched[-1]
            srv.sock.sendall(encode_stream(derive_response(req, errno.ENODATA, None)))
        return []

    srv.answer = answer


def test_watch_then_callbacks_until_enodata(srv):
    _serve_cancel_with_enodata(srv, [jval(1), jval(2)])
    got = []

    def cb(f, arg):
        value = f.get()
        got.append(value)
        if value == 2:
            f.cancel()

    f = flux.kvs.kvs_watch_async(srv.h, "k")
    f.then(cb, None)
    assert srv.h.reactor_run() >= 0
    assert got == [1, 2, None]


def test_watch_errors_keep_the_server_text(srv):
    srv.answer = lambda t, p: [(errno.ENOENT, None)]
    f = flux.kvs.kvs_watch_async(srv.h, "missing")
    with pytest.raises(FileNotFoundError) as ei:
        f.get()
    assert ei.value.strerror == "No such file or directory"
    srv.answer = lambda t, p: [(errno.EPERM, "not yours")]
    with pytest.raises(PermissionError, match="not yours"):
        flux.kvs.kvs_watch_async(srv.h, "k").get()


def test_initial_sentinel_response(srv):
    srv.answer = lambda t, p: [(0, None), (0, {"val": jval(5)})]
    f = flux.kvs.lookup(srv.h, "k", FLUX_KVS_WATCH | FLUX_KVS_WATCH_INITIAL_SENTINEL)
    assert f.get_value() is None and f.get_treeobj() is None
    f.reset()
    assert f.get_value() == b"5"
    srv.answer = lambda t, p: [(0, None)]
    with pytest.raises(OSError) as ei:
        flux.kvs.lookup(srv.h, "k", FLUX_KVS_WATCH).get_value()
    assert ei.value.errno == errno.EPROTO


def test_watch_implementation_is_abstract():
    with pytest.raises(TypeError):
        flux.kvs.WatchImplementation(None)


# -- asyncio -----------------------------------------------------------------------------------


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_futures_are_awaitable(srv):
    def answer(topic, payload):
        if topic == "kvs.lookup":
            return [(0, {"val": jval({"x": 1})})]
        return [(0, {"rootref": ROOTREF, "rootseq": 3})]

    srv.answer = answer

    async def main():
        resp = await flux.kvs.lookup(srv.h, "k")
        txn = flux.kvs.KVSTxn(srv.h)
        txn.put("k", 1)
        committed, root = await asyncio.gather(txn.commit_async(), flux.kvs.getroot(srv.h))
        return resp, committed, root

    resp, committed, root = run(main())
    assert resp == {"val": jval({"x": 1})}
    assert committed == {"rootref": ROOTREF, "rootseq": 3} and root["rootseq"] == 3


def test_async_for_over_a_watch(srv):
    _serve_cancel_with_enodata(srv, [jval(1), jval(None), jval(3)])

    async def main():
        got = []
        watch = flux.kvs.kvs_watch_async(srv.h, "k")
        async for value in watch:
            got.append(value)
            if value == 3:
                watch.cancel()
        return got

    assert run(main()) == [1, None, 3]


def test_await_a_watch_gives_the_next_value(srv):
    _serve_cancel_with_enodata(srv, [jval("a"), jval("b")])

    async def main():
        watch = flux.kvs.kvs_watch_async(srv.h, "k")
        first = await watch
        second = await watch
        watch.cancel()
        end = await watch
        return first, second, end

    assert run(main()) == ("a", "b", None)


def test_base64_of_stored_values_is_standard():
    # what the commit carries is RFC 11's base64 (padded, standard alphabet)
    assert val(b"\xfb\xff")["data"] == base64.b64encode(b"\xfb\xff").decode()


# -- the hot path's shortcuts give what the general code gives ------------------------------


@given(st.text(), st.text(), st.integers(min_value=0, max_value=4095))
def test_lookup_payload_is_libflux_compact_json(key, namespace, flags):
    try:
        expected = encode_json({"key": key, "namespace": namespace, "flags": flags})
    except UnicodeEncodeError:  # a lone surrogate: neither can send it
        with pytest.raises(UnicodeEncodeError):
            _lookup_payload(key, namespace, flags)
        return
    assert _lookup_payload(key, namespace, flags) == expected


@given(st.binary(max_size=300))
def test_val_bytes_reads_canonical_base64(data):
    assert _val_bytes(base64.b64encode(data).decode()) == data


def test_val_bytes_reads_base64_as_flux_core_does():
    assert _val_bytes("aGVsbG8") == b"hello"  # padding left out
    with pytest.raises(OSError) as ei:
        _val_bytes("a*b=")
    assert ei.value.errno == errno.EINVAL


@given(st.one_of(st.text(), st.binary()))
def test_decode_value_is_json_then_text_then_bytes(data):
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        expected = raw
    else:
        try:
            expected = json.loads(text)
        except ValueError:
            expected = text
    if not raw:
        expected = None
    got = decode_value(raw)
    assert got == expected or (got != got and expected != expected)  # NaN


@pytest.mark.parametrize("text, expected", [
    (" 1", 1), ("1 ", 1), ("\t[1]\n", [1]), ("1 2", "1 2"), ("NaN", None), ("[1,", "[1,"),
])
def test_decode_value_edges(text, expected):
    got = decode_value(text.encode())
    if text == "NaN":
        assert got != got
    else:
        assert got == expected


def test_namespace_environment_variable_even_empty(monkeypatch):
    from flux.kvs.namespaces import get_namespace

    monkeypatch.delenv("FLUX_KVS_NAMESPACE", raising=False)
    assert get_namespace() == "primary" and get_namespace("x") == "x"
    monkeypatch.setenv("FLUX_KVS_NAMESPACE", "")
    assert get_namespace() == ""  # libkvs uses a set variable as it is
    monkeypatch.setenv("FLUX_KVS_NAMESPACE", "jobns")
    assert get_namespace() == "jobns"

"""KVS transaction ops: the client constructors, decoding as the service does, compaction."""

from __future__ import annotations

import base64
import errno
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux import codec
from flux.constants import FLUX_KVS_APPEND
from flux.services.kvs import treeobj, txn

DATA = Path(__file__).resolve().parents[1] / "data" / "interop"
REF = "sha1-" + "a" * 40


def capture_payload(name: str) -> tuple[dict, bytes]:
    """(payload, payload bytes) of a flux-core capture."""
    raw = (DATA / name).read_bytes()
    msg = codec.decode(raw[8:])
    return msg.payload, raw


def assert_errno(num: int, fn, *args) -> OSError:
    with pytest.raises(OSError) as info:
        fn(*args)
    assert info.value.errno == num, info.value
    return info.value


def val(data: bytes) -> dict:
    return treeobj.create_val(data)


def append(key: str, data: bytes) -> dict:
    return txn.op_append(key, data)


# -- constructors ----------------------------------------------------------------------


def test_put_is_what_flux_kvs_put_sends():
    # flux kvs put a.b=1: the value's bytes, no NUL, flags 0; members in libkvs's order
    op = txn.op_put("a.b", b"1")
    assert op == {"key": "a.b", "flags": 0, "dirent": {"ver": 1, "type": "val", "data": "MQ=="}}
    assert list(op) == ["key", "flags", "dirent"]
    assert txn.op_put("k", "é") == txn.op_put("k", "é".encode())
    assert txn.op_put("k", b"")["dirent"]["data"] == ""


def test_capture_op_is_op_put():
    payload, raw = capture_payload("kvs-commit-request.bin")
    (op,) = payload["ops"]
    assert op == txn.op_put("golden.key", b"hello")
    assert txn.decode_op(op) == ("golden.key", 0, val(b"hello"))
    # the same bytes flux-core's client wrote for the op
    assert json.dumps(txn.op_put("golden.key", b"hello"), separators=(",", ":")).encode() in raw


def test_other_constructors():
    assert txn.op_append("k", b"x") == {"key": "k", "flags": FLUX_KVS_APPEND, "dirent": val(b"x")}
    assert txn.op_mkdir("d") == {"key": "d", "flags": 0,
                                 "dirent": {"ver": 1, "type": "dir", "data": {}}}
    assert txn.op_unlink("k") == {"key": "k", "flags": 0, "dirent": None}
    assert txn.op_symlink("l", "a.b")["dirent"] == {
        "ver": 1, "type": "symlink", "data": {"target": "a.b"}}
    assert txn.op_symlink("l", "a.b", "ns")["dirent"]["data"] == {"namespace": "ns",
                                                                   "target": "a.b"}
    ref = treeobj.create_valref(REF)
    assert txn.op_put_treeobj("k", ref)["dirent"] == ref
    assert txn.op_put_treeobj("k", json.dumps(ref))["dirent"] == ref
    assert txn.op_put_treeobj("k", json.dumps(ref).encode())["dirent"] == ref


def test_constructor_errors():
    assert_errno(errno.EINVAL, txn.op_put, "", b"x")
    assert_errno(errno.EINVAL, txn.op_put, None, b"x")
    assert_errno(errno.EINVAL, txn.op_put, "k", 5)
    assert_errno(errno.EINVAL, txn.op_unlink, "")
    assert_errno(errno.EINVAL, txn.op_symlink, "l", None)
    assert_errno(errno.EPROTO, txn.op_put_treeobj, "k", "not json")
    assert_errno(errno.EPROTO, txn.op_put_treeobj, "k", '{"ver":1,"type":"val","data":5}')
    assert_errno(errno.EINVAL, txn.op_put_treeobj, "k", {"ver": 2, "type": "val", "data": ""})
    assert_errno(errno.EINVAL, txn.encode_op, "k", 1, val(b""))  # only APPEND is an op flag
    assert_errno(errno.EINVAL, txn.encode_op, "k", FLUX_KVS_APPEND | 2, val(b""))
    assert_errno(errno.EINVAL, txn.encode_op, "k", True, val(b""))


# -- decoding on the service side ---------------------------------------------------------------


@pytest.mark.parametrize("op", [
    None, [], "op", {},
    {"key": "k", "flags": 0},
    {"key": "k", "dirent": None},
    {"flags": 0, "dirent": None},
    {"key": "k", "flags": 0, "dirent": None, "extra": 1},
    {"key": 5, "flags": 0, "dirent": None},
    {"key": "k", "flags": "0", "dirent": None},
    {"key": "k", "flags": 1.0, "dirent": None},
    {"key": "k", "flags": True, "dirent": None},
    {"key": "k", "flags": 2**63, "dirent": None},
    {"key": "a\0b", "flags": 0, "dirent": None},
])
def test_decode_op_eproto(op):
    assert_errno(errno.EPROTO, txn.decode_op, op)


def test_decode_op_leaves_the_dirent_and_flags_to_the_commit():
    # flux-core's unpack only checks the shape; the commit judges the rest
    assert txn.decode_op({"key": "", "flags": 12345, "dirent": 7}) == ("", 12345, 7)
    assert txn.decode_op({"dirent": None, "flags": -1, "key": "k"}) == ("k", -1, None)


@given(st.binary(max_size=100))
def test_decode_val_data_reads_what_base64_writes(data):
    text = base64.b64encode(data).decode()
    assert txn.decode_val_data(text) == data
    assert txn.decode_val_data(text.rstrip("=")) == data  # padding is optional
    if text.endswith("=="):
        assert txn.decode_val_data(text[:-1]) == data  # or short


def test_decode_val_data_is_lenient_as_flux_core():
    assert txn.decode_val_data("") == b""
    assert txn.decode_val_data("====") == b""
    assert txn.decode_val_data("QR==") == b"A"  # unused low bits ignored
    assert txn.decode_val_data("QUJD") == b"ABC"
    for bad in ("Q", "QUJDQ", "QU=D", "QUJD=QUJD", "QUJ!", "QUJD\n", "é===", "QUJDQ==="):
        assert_errno(errno.EPROTO, txn.decode_val_data, bad)


# -- guests ------------------------------------------------------------------------------------


def test_guest_may_put_values_unlink_and_make_empty_dirs():
    txn.guest_authorize([txn.op_put("a", b"x"), txn.op_unlink("b"), txn.op_mkdir("c"),
                         txn.op_append("d", b"y")])
    txn.guest_authorize([])


@pytest.mark.parametrize(("dirent", "text"), [
    (treeobj.create_symlink("x"), "guests may not commit symlink objects"),
    (treeobj.create_valref(REF), "guests may not commit valref objects"),
    (treeobj.create_dirref(REF), "guests may not commit dirref objects"),
    (treeobj.create_dir({"x": val(b"")}), "guests may not commit non-empty dir objects"),
    ({"ver": 1, "type": "hdir", "data": {}}, "guests may not commit hdir objects"),
    ("junk", "guests may not commit ??? objects"),
])
def test_guest_refused_other_objects(dirent, text):
    err = assert_errno(errno.EPERM, txn.guest_authorize,
                       [txn.op_put("ok", b""), {"key": "k", "flags": 0, "dirent": dirent}])
    assert err.strerror == text


def test_guest_undecodable_op():
    err = assert_errno(errno.EPROTO, txn.guest_authorize, [{"key": "k"}])
    assert err.strerror == "could not decode commit operation"


# -- compaction ---------------------------------------------------------------------------------


def test_compact_merges_appends_to_one_key_in_its_first_place():
    ops = [append("foo", b"A"), txn.op_put("bar", b"x"), append("foo", b"B"),
           append("baz", b"1"), append("foo", b"C")]
    before = json.dumps(ops)
    out = txn.compact(ops)
    assert out == [append("foo", b"ABC"), txn.op_put("bar", b"x"), append("baz", b"1")]
    assert out[2] is ops[3]  # untouched ops are shared
    assert json.dumps(ops) == before


def test_compact_keeps_ops_before_the_first_append():
    ops = [txn.op_put("foo", b"x"), append("foo", b"A"), append("foo", b"B")]
    assert txn.compact(ops) == [txn.op_put("foo", b"x"), append("foo", b"AB")]


def test_compact_compares_keys_as_written():
    ops = [append("a.b", b"1"), append("a..b", b"2")]
    assert txn.compact(ops) == ops


def test_compact_leaves_single_and_empty_appends():
    one = [append("k", b"A"), txn.op_put("j", b"")]
    assert txn.compact(one) == one
    empties = [append("k", b""), append("k", b"")]
    assert txn.compact(empties) == [empties[0]]
    assert txn.compact([{"not": "an op"}]) == [{"not": "an op"}]  # fewer than two: as is
    assert txn.compact([]) == []


def test_compact_errors():
    assert_errno(errno.EINVAL, txn.compact, [append("k", b"A"), txn.op_put("k", b"B")])
    assert_errno(errno.EINVAL, txn.compact, [append("k", b"A"), txn.op_unlink("k")])
    bad = {"key": "k", "flags": FLUX_KVS_APPEND, "dirent": treeobj.create_dir()}
    assert_errno(errno.EINVAL, txn.compact, [txn.op_put("j", b""), bad])
    bad64 = {"key": "k", "flags": FLUX_KVS_APPEND,
             "dirent": {"ver": 1, "type": "val", "data": "!!"}}
    assert_errno(errno.EINVAL, txn.compact, [append("k", b"A"), bad64])
    assert_errno(errno.EPROTO, txn.compact, [append("k", b"A"), {"key": "k"}])

"""RFC 11 tree objects: building, checking, and the bytes flux-core hashes."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux import codec
from flux.services.content.blobref import hash_blobref
from flux.services.kvs import treeobj

DATA = Path(__file__).resolve().parents[1] / "data" / "interop"
REF_A = "sha1-" + "a" * 40
REF_B = "sha256-" + "b" * 64


def capture_payload(name: str) -> dict:
    raw = (DATA / name).read_bytes()
    return codec.decode(raw[8:]).payload


def assert_errno(num: int, fn, *args):
    with pytest.raises(OSError) as info:
        fn(*args)
    assert info.value.errno == num


# -- RFC 11 examples -----------------------------------------------------------


def test_rfc_val_example():
    obj = treeobj.create_val(b"422\n")
    assert obj == {"ver": 1, "type": "val", "data": "NDIyCg=="}
    assert treeobj.decode_val(obj) == b"422\n"
    assert treeobj.get_count(obj) == 1


def test_rfc_dir_example_validates_and_sorts():
    obj = treeobj.create_dir({
        "b": treeobj.create_val(b"422\n"),
        "a": treeobj.create_dirref(REF_A),
        "c": treeobj.create_valref(REF_A, REF_B),
        "d": treeobj.create_dir(),
    })
    treeobj.validate(obj)
    assert treeobj.get_count(obj) == 4
    assert treeobj.encode(obj) == (
        b'{"data":{"a":{"data":["' + REF_A.encode() + b'"],"type":"dirref","ver":1},'
        b'"b":{"data":"NDIyCg==","type":"val","ver":1},'
        b'"c":{"data":["' + REF_A.encode() + b'","' + REF_B.encode() + b'"],'
        b'"type":"valref","ver":1},'
        b'"d":{"data":{},"type":"dir","ver":1}},"type":"dir","ver":1}'
    )


def test_rfc_symlink_examples():
    plain = treeobj.create_symlink("a.a")
    assert plain == {"ver": 1, "type": "symlink", "data": {"target": "a.a"}}
    assert treeobj.get_symlink(plain) == (None, "a.a")
    ns = treeobj.create_symlink("b.b", namespace="a")
    assert ns["data"] == {"namespace": "a", "target": "b.b"}
    assert treeobj.get_symlink(ns) == ("a", "b.b")
    assert treeobj.encode(ns) == (
        b'{"data":{"namespace":"a","target":"b.b"},"type":"symlink","ver":1}')


def test_empty_dir_bytes_and_blobref():
    # PROTOCOL.md: these exact bytes, hashed without a NUL, are a new namespace's root
    data = treeobj.encode(treeobj.create_dir())
    assert data == b'{"data":{},"type":"dir","ver":1}'
    assert hash_blobref("sha1", data) == "sha1-c0a9faf907dda6216fd73bf81d0b3b21a1a8cb91"


def test_type_names():
    objs = {
        "val": treeobj.create_val(b""),
        "valref": treeobj.create_valref(REF_A),
        "dir": treeobj.create_dir(),
        "dirref": treeobj.create_dirref(REF_A),
        "symlink": treeobj.create_symlink("x"),
    }
    for name, obj in objs.items():
        treeobj.validate(obj)
        assert treeobj.get_type(obj) == name
        assert treeobj.type_name(obj) == name
    assert treeobj.type_name({"ver": 1, "type": "hdir", "data": {}}) == "unknown"
    assert treeobj.type_name(None) == "unknown"


# -- invalid objects -------------------------------------------------------------

INVALID = [
    None,
    [],
    "val",
    {"ver": 1, "type": "val"},
    {"ver": 1, "type": "val", "data": "", "extra": 0},
    {"ver": 2, "type": "val", "data": ""},
    {"ver": True, "type": "val", "data": ""},
    {"ver": 1.0, "type": "val", "data": ""},
    {"ver": "1", "type": "val", "data": ""},
    {"ver": 1, "type": 3, "data": ""},
    {"ver": 1, "type": "hdir", "data": {}},
    {"ver": 1, "type": "val", "data": 42},
    {"ver": 1, "type": "valref", "data": []},
    {"ver": 1, "type": "valref", "data": "sha1-" + "a" * 40},
    {"ver": 1, "type": "valref", "data": ["sha1-aaa"]},
    {"ver": 1, "type": "valref", "data": [REF_A, 7]},
    {"ver": 1, "type": "dirref", "data": ["sha1-" + "A" * 40]},
    {"ver": 1, "type": "dir", "data": []},
    {"ver": 1, "type": "dir", "data": {"x": {"ver": 1, "type": "val", "data": 1}}},
    {"ver": 1, "type": "dir", "data": {"x": {"y": {"ver": 1, "type": "dir", "data": {}}}}},
    {"ver": 1, "type": "symlink", "data": "a.b"},
    {"ver": 1, "type": "symlink", "data": {}},
    {"ver": 1, "type": "symlink", "data": {"target": 1}},
    {"ver": 1, "type": "symlink", "data": {"target": "a", "namespace": None}},
]


@pytest.mark.parametrize("obj", INVALID, ids=[json.dumps(o)[:60] for o in INVALID])
def test_invalid_objects_are_einval(obj):
    assert_errno(errno.EINVAL, treeobj.validate, obj)


@pytest.mark.parametrize("obj", INVALID[1:], ids=[json.dumps(o)[:60] for o in INVALID[1:]])
def test_invalid_bytes_are_eproto(obj):
    assert_errno(errno.EPROTO, treeobj.decode, json.dumps(obj).encode())


def test_decode_rejects_bad_json():
    for buf in (b"", b"{", b"null", b'{"ver":1,"type":"val","data":"x"}garbage'):
        assert_errno(errno.EPROTO, treeobj.decode, buf)


def test_symlink_extra_members_tolerated():
    # flux-core checks only target and namespace
    treeobj.validate({"ver": 1, "type": "symlink", "data": {"target": "a", "x": 1}})


def test_bad_arguments_to_creators():
    assert_errno(errno.EINVAL, treeobj.create_valref, "sha1-aaa")
    assert_errno(errno.EINVAL, treeobj.create_dirref, "")
    assert_errno(errno.EINVAL, treeobj.create_symlink, None)
    assert_errno(errno.EINVAL, treeobj.create_symlink, "a", 5)
    assert_errno(errno.EINVAL, treeobj.decode_val, treeobj.create_dir())
    assert_errno(errno.EINVAL, treeobj.decode_val, {"ver": 1, "type": "val", "data": "a"})


# -- entries and refs ------------------------------------------------------------


def test_dir_entries():
    d = treeobj.create_dir()
    val = treeobj.create_val(b"v")
    treeobj.insert_entry(d, "k", val)
    assert treeobj.get_entry(d, "k") is val
    assert_errno(errno.ENOENT, treeobj.get_entry, d, "nope")
    assert_errno(errno.EINVAL, treeobj.get_entry, val, "k")
    assert_errno(errno.EINVAL, treeobj.insert_entry, d, "bad", {"ver": 1})
    assert_errno(errno.EINVAL, treeobj.insert_entry, d, "a\0b", val)
    assert_errno(errno.EINVAL, treeobj.insert_entry, val, "k", val)
    treeobj.insert_entry(d, "k", treeobj.create_symlink("t"))
    assert treeobj.get_type(treeobj.get_entry(d, "k")) == "symlink"
    treeobj.delete_entry(d, "k")
    assert_errno(errno.ENOENT, treeobj.delete_entry, d, "k")
    assert_errno(errno.EINVAL, treeobj.delete_entry, val, "k")
    assert treeobj.get_count(d) == 0


def test_copy_of_dir_is_independent_table():
    d = treeobj.create_dir({"a": treeobj.create_val(b"1")})
    c = treeobj.copy(d)
    treeobj.insert_entry(c, "b", treeobj.create_val(b"2"))
    treeobj.delete_entry(c, "a")
    assert list(treeobj.get_data(d)) == ["a"]
    v = treeobj.create_valref(REF_A)
    vc = treeobj.copy(v)
    treeobj.append_blobref(vc, REF_B)
    assert treeobj.get_count(v) == 1


def test_valref_with_several_blobrefs():
    v = treeobj.create_valref()
    assert_errno(errno.EINVAL, treeobj.validate, v)  # empty until a blobref is appended
    treeobj.append_blobref(v, REF_A)
    treeobj.append_blobref(v, REF_B)
    treeobj.validate(v)
    assert treeobj.get_count(v) == 2
    assert treeobj.get_blobref(v, 0) == REF_A
    assert treeobj.get_blobref(v, 1) == REF_B
    assert_errno(errno.EINVAL, treeobj.get_blobref, v, 2)
    assert_errno(errno.EINVAL, treeobj.get_blobref, treeobj.create_val(b""), 0)
    assert_errno(errno.EINVAL, treeobj.append_blobref, v, "sha1-xyz")
    assert_errno(errno.EINVAL, treeobj.append_blobref, treeobj.create_dir(), REF_A)


def test_valref_buf_cuts_blobs():
    data = bytes(range(256)) * 3
    v, blobs = treeobj.create_valref_buf("sha1", 300, data)
    assert [len(b) for b in blobs] == [300, 300, 168]
    assert b"".join(blobs) == data
    assert treeobj.get_data(v) == [hash_blobref("sha1", b) for b in blobs]
    one, [blob] = treeobj.create_valref_buf("sha256", 0, data)
    assert blob == data and treeobj.get_blobref(one, 0).startswith("sha256-")
    empty, blobs = treeobj.create_valref_buf("sha1", 10, b"")
    assert blobs == [b""] and treeobj.get_count(empty) == 1


# -- the inline threshold --------------------------------------------------------------


def test_inline_threshold():
    assert treeobj.INLINE_MAX == 72
    assert treeobj.is_inline(b"x" * 54)  # 72 base64 characters
    assert not treeobj.is_inline(b"x" * 55)  # 76
    assert treeobj.is_inline(b"")
    assert treeobj.stays_inline(treeobj.create_val(b"x" * 54))
    assert not treeobj.stays_inline(treeobj.create_val(b"x" * 55))
    assert_errno(errno.EINVAL, treeobj.stays_inline, treeobj.create_dir())


@given(st.binary(max_size=200))
def test_inline_agrees_with_base64_length(data):
    val = treeobj.create_val(data)
    assert treeobj.is_inline(data) == treeobj.stays_inline(val)
    assert treeobj.is_inline(data) == (len(treeobj.get_data(val)) <= 72)


# -- serialization -------------------------------------------------------------------


def test_encode_escapes_as_jansson():
    d = treeobj.create_dir({
        "q\"b\\": treeobj.create_symlink("\x01\x1f\n\t\b\f\r\x7f/é€😀"),
        "\\u0001": treeobj.create_val(b""),
    })
    assert treeobj.encode(d) == (
        '{"data":{"\\\\u0001":{"data":"","type":"val","ver":1},'
        '"q\\"b\\\\":{"data":{"target":"\\u0001\\u001F\\n\\t\\b\\f\\r\x7f/é€😀"},'
        '"type":"symlink","ver":1}},"type":"dir","ver":1}'
    ).encode()


def test_encode_sorts_keys_by_utf8_bytes():
    d = treeobj.create_dir({k: treeobj.create_val(b"") for k in ("é", "z", "A", "😀", "a")})
    names = list(json.loads(treeobj.encode(d))["data"])
    assert names == sorted(names, key=lambda s: s.encode("utf-8"))


names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                max_size=8)
leaves = st.one_of(
    st.binary(max_size=80).map(treeobj.create_val),
    st.lists(st.sampled_from([REF_A, REF_B]), min_size=1, max_size=3).map(
        lambda refs: treeobj.create_valref(*refs)),
    st.just(treeobj.create_dirref(REF_B)),
    st.builds(treeobj.create_symlink, names, st.none() | names),
)
trees = st.recursive(leaves, lambda kids: st.dictionaries(names, kids, max_size=4).map(
    treeobj.create_dir), max_leaves=12)


@given(trees)
def test_round_trip(obj):
    treeobj.validate(obj)
    data = treeobj.encode(obj)
    back = treeobj.decode(data)
    assert back == obj
    assert treeobj.encode(back) == data
    assert treeobj.decode(data + b"\0") == obj
    # the same JSON as Python's sorted dump; only spacing and escapes may differ
    assert json.loads(data) == json.loads(json.dumps(obj, sort_keys=True))


@given(st.binary(max_size=300))
def test_val_round_trip(data):
    val = treeobj.create_val(data)
    assert treeobj.decode_val(val) == data
    assert treeobj.decode_val(treeobj.decode(treeobj.encode(val))) == data


# -- flux-core 0.88 captures --------------------------------------------------------------


def test_commit_request_capture():
    payload = capture_payload("kvs-commit-request.bin")
    [op] = payload["ops"]
    dirent = op["dirent"]
    treeobj.validate(dirent)
    assert dirent == treeobj.create_val(b"hello")
    assert treeobj.decode_val(dirent) == b"hello"
    # the client packed it in creation order; the store hashes it sorted
    assert treeobj.encode(dirent) == b'{"data":"aGVsbG8=","type":"val","ver":1}'
    assert treeobj.stays_inline(dirent)
    # what flux-core hashes for the directory "golden" after this commit
    golden = treeobj.create_dir({"key": dirent})
    assert treeobj.encode(golden) == (
        b'{"data":{"key":{"data":"aGVsbG8=","type":"val","ver":1}},"type":"dir","ver":1}')


def test_lookup_response_capture():
    raw = (DATA / "kvs-lookup-response.bin").read_bytes()
    msg = codec.decode(raw[8:])
    val = msg.payload["val"]
    treeobj.validate(val)
    assert treeobj.decode_val(val) == b"hello"
    # the val came back from the store as stored: our bytes are flux-core's
    stored = msg.payload_bytes.rstrip(b"\0")[len(b'{"val":'):-1]
    assert treeobj.encode(val) == stored
    assert treeobj.decode(stored) == val

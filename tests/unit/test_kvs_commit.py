"""The KVS commit engine: flux-core's semantics, its errnos, and its exact bytes."""

from __future__ import annotations

import copy
import errno
import hashlib
import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flux import codec
from flux.constants import (
    FLUX_KVS_APPEND,
    FLUX_KVS_NO_MERGE,
    FLUX_KVS_READDIR,
    FLUX_KVS_SYNC,
    FLUX_KVS_TREEOBJ,
)
from flux.services.kvs import commit, treeobj, txn
from flux.services.kvs.blobcache import BlobCache
from flux.services.kvs.blobsource import MemoryBlobSource
from flux.services.kvs.lookup import lookup

DATA = Path(__file__).resolve().parents[1] / "data" / "interop"
EMPTY_DIR = b'{"data":{},"type":"dir","ver":1}'
EMPTY_REF = "sha1-c0a9faf907dda6216fd73bf81d0b3b21a1a8cb91"
BIG = bytes(range(100))  # beyond the inline threshold: a valref


def sha1(data: bytes) -> str:
    return "sha1-" + hashlib.sha1(data).hexdigest()


class LoadOnly:
    """A source with ``load`` only (no decoded-object fast path), counting loads."""

    def __init__(self, inner: MemoryBlobSource) -> None:
        self.inner = inner
        self.loads = 0

    def load(self, ref: str) -> bytes:
        self.loads += 1
        return self.inner.load(ref)


@pytest.fixture
def src() -> MemoryBlobSource:
    s = MemoryBlobSource()
    assert s.store(EMPTY_DIR) == EMPTY_REF
    return s


def run(src: MemoryBlobSource, root: str, *ops: dict, **kw) -> commit.CommitResult:
    """Apply ``ops`` and store what the commit wrote, as the service would."""
    result = commit.apply(root, list(ops), src, **kw)
    for ref, data in result.blobs.items():
        assert src.store(data) == ref
    return result


def get(src, root: str, key: str, flags: int = 0):
    obj = lookup(root, key, src, flags)
    if flags:
        return obj
    return treeobj.decode_val(obj)


def dir_obj(src, ref: str) -> dict:
    return treeobj.decode(src.load(ref))


def assert_errno(num: int, src, root: str, *ops: dict, **kw) -> OSError:
    before = dict(src.blobs)
    frozen = copy.deepcopy(list(ops))
    with pytest.raises(OSError) as info:
        commit.apply(root, list(ops), src, **kw)
    assert info.value.errno == num, info.value
    assert src.blobs == before and list(ops) == frozen  # a failed commit changes nothing
    return info.value


# -- the exact bytes ---------------------------------------------------------------------------


def test_a_b_equals_1_byte_exact(src):
    # flux kvs put a.b=1 on a new instance: the bytes flux-core writes, hashed by hand
    a_dir = b'{"data":{"b":{"data":"MQ==","type":"val","ver":1}},"type":"dir","ver":1}'
    root = (b'{"data":{"a":{"data":["' + sha1(a_dir).encode()
            + b'"],"type":"dirref","ver":1}},"type":"dir","ver":1}')
    result = commit.apply(EMPTY_REF, [txn.op_put("a.b", b"1")], src)
    assert result.rootref == sha1(root)
    assert result.blobs == {sha1(a_dir): a_dir, sha1(root): root}
    assert result.keys == {"a.b"}
    assert result.treeobjs == {ref: json.loads(data) for ref, data in result.blobs.items()}


def test_sha256(src):
    ref256 = src.store(EMPTY_DIR)  # MemoryBlobSource hashes with its own hashtype
    result = commit.apply(ref256, [txn.op_put("k", b"v")], src, hashtype="sha256")
    data = b'{"data":{"k":{"data":"dg==","type":"val","ver":1}},"type":"dir","ver":1}'
    assert result.rootref == "sha256-" + hashlib.sha256(data).hexdigest()


def test_sorted_escaped_and_unicode(src):
    ops = [txn.op_put("zz", b""), txn.op_put("a\tb", b"x"), txn.op_put("é", b"y"),
           txn.op_put('q"\\', b"z"), txn.op_symlink("ln", "t\x01", "ns")]
    result = commit.apply(EMPTY_REF, ops, src)
    (data,) = result.blobs.values()
    assert data == treeobj.encode(result.treeobjs[result.rootref])
    assert data == (
        '{"data":{"a\\tb":{"data":"eA==","type":"val","ver":1},'
        '"ln":{"data":{"namespace":"ns","target":"t\\u0001"},"type":"symlink","ver":1},'
        '"q\\"\\\\":{"data":"eg==","type":"val","ver":1},'
        '"zz":{"data":"","type":"val","ver":1},'
        '"é":{"data":"eQ==","type":"val","ver":1}},"type":"dir","ver":1}').encode()


NAMES = st.text(st.characters(blacklist_characters=".\0", blacklist_categories=("Cs",)),
                min_size=1, max_size=6)
TEXT = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)),
               max_size=8)
DIRENTS = st.one_of(
    st.binary(max_size=60).map(treeobj.create_val),
    TEXT.map(lambda t: {"ver": 1, "type": "val", "data": t}),  # not base64: kept inline as is
    st.tuples(TEXT, st.none() | TEXT).map(lambda t: treeobj.create_symlink(*t)),
    st.just(treeobj.create_valref("sha1-" + "a" * 40, "sha1-" + "b" * 40)),
    st.just(treeobj.create_dir()),
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(NAMES, DIRENTS, min_size=1, max_size=8))
def test_directory_bytes_are_treeobj_encode(entries):
    """The engine's own serializer writes exactly what ``treeobj.encode`` writes."""
    src = MemoryBlobSource()
    root = src.store(EMPTY_DIR)
    ops = [{"key": f"d.{name}", "flags": 0, "dirent": dirent} for name, dirent in entries.items()]
    result = commit.apply(root, ops, src)
    for ref, obj in result.treeobjs.items():
        assert result.blobs[ref] == treeobj.encode(obj)
        assert treeobj.decode(result.blobs[ref]) == obj


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.tuples(st.sampled_from(["put", "unlink", "mkdir", "big"]),
                                   st.integers(0, 79)), min_size=1, max_size=6),
                min_size=1, max_size=6))
def test_large_directories_spliced_from_their_last_version(steps):
    """A large directory's next version is spliced from its previous text (only the names
    touched are encoded again): the bytes are still exactly ``treeobj.encode``'s, and the
    contents those of a dict model."""
    src = BlobCache(MemoryBlobSource())
    root = src.source.store(EMPTY_DIR)
    model = {f"k{i:02d}": str(i).encode() for i in range(0, 80, 2)}
    result = commit.apply(root, [txn.op_put(f"big.{k}", v) for k, v in model.items()], src)
    for step in steps:
        for ref, data in result.blobs.items():
            src.source.blobs[ref] = data
        for ref, obj in result.treeobjs.items():
            src.add(ref, obj)
        ops = []
        for what, i in step:
            key = f"k{i:02d}"
            if what == "put":
                model[key] = f"v{i}".encode()
                ops.append(txn.op_put(f"big.{key}", model[key]))
            elif what == "big":
                model[key] = BIG
                ops.append(txn.op_put(f"big.{key}", BIG))
            elif what == "unlink":
                model.pop(key, None)
                ops.append(txn.op_unlink(f"big.{key}"))
            else:
                model[key] = {}
                ops.append(txn.op_mkdir(f"big.{key}"))
        result = commit.apply(result.rootref, ops, src)
        for ref, obj in result.treeobjs.items():
            assert result.blobs[ref] == treeobj.encode(obj)
    for ref, data in result.blobs.items():
        src.source.blobs[ref] = data
    listing = lookup(result.rootref, "big", src, FLUX_KVS_READDIR)["data"]
    assert sorted(listing) == sorted(model)
    for key, value in model.items():
        if value == {}:
            assert lookup(result.rootref, f"big.{key}", src, FLUX_KVS_READDIR)["data"] == {}
        else:
            assert get(src, result.rootref, f"big.{key}") == value


def test_capture_commit_then_lookup(src):
    """The captured commit's op, applied, reads back as the captured lookup answered."""
    def payload(name: str) -> tuple[dict, bytes]:
        raw = (DATA / name).read_bytes()
        return codec.decode(raw[8:]).payload, raw

    request, _ = payload("kvs-commit-request.bin")
    response, raw = payload("kvs-lookup-response.bin")
    result = run(src, EMPTY_REF, *request["ops"], namespace=request["namespace"])
    got = lookup(result.rootref, "golden.key", src)
    assert got == response["val"]
    assert b'{"val":' + treeobj.encode(got) + b"}" in raw
    assert result.keys == {"golden.key"}


def test_same_contents_same_root(src):
    one = run(src, EMPTY_REF, txn.op_put("a.x", b"1"), txn.op_put("b", BIG),
              txn.op_mkdir("c.d"))
    step = run(src, EMPTY_REF, txn.op_mkdir("c"), txn.op_put("b", b"old"))
    step = run(src, step.rootref, txn.op_put("a.x", b"1"), txn.op_put("c.d.e", b""))
    two = run(src, step.rootref, txn.op_unlink("c.d.e"), txn.op_put("b", BIG))
    assert one.rootref == two.rootref


# -- puts, unlinks, directories ------------------------------------------------------------------


def test_intermediate_dirs_each_their_own_blob(src):
    result = run(src, EMPTY_REF, txn.op_put("a.b.c.d", b"deep"))
    assert len(result.blobs) == 4
    assert get(src, result.rootref, "a.b.c.d") == b"deep"
    for key in ("a", "a.b", "a.b.c"):
        assert treeobj.get_type(get(src, result.rootref, key, FLUX_KVS_TREEOBJ)) == "dirref"


def test_unchanged_dirs_keep_their_dirref(src):
    first = run(src, EMPTY_REF, txn.op_put("x.y", b"1"), txn.op_put("p.q", b"2"))
    second = run(src, first.rootref, txn.op_put("p.r", b"3"))
    keep = get(src, first.rootref, "x", FLUX_KVS_TREEOBJ)
    assert get(src, second.rootref, "x", FLUX_KVS_TREEOBJ) == keep
    assert keep["data"][0] not in second.blobs
    assert len(second.blobs) == 2  # p and the root


def test_value_in_path_replaced_by_dir(src):
    first = run(src, EMPTY_REF, txn.op_put("a", b"v"), txn.op_put("big", BIG))
    second = run(src, first.rootref, txn.op_put("a.b", b"1"), txn.op_put("big.c", b"2"))
    assert get(src, second.rootref, "a.b") == b"1"
    assert get(src, second.rootref, "big.c") == b"2"


def test_unlink(src):
    first = run(src, EMPTY_REF, txn.op_put("a.b", b"1"), txn.op_put("v", b"x"))
    # missing keys, keys below a value or below a missing dir: not an error, nothing changes
    same = run(src, first.rootref, txn.op_unlink("nope"), txn.op_unlink("v.below"),
               txn.op_unlink("no.such.dir"), txn.op_unlink("a.nope"))
    assert same.rootref == first.rootref
    assert same.keys == {"nope", "v.below", "no.such.dir", "a.nope"}
    gone = run(src, first.rootref, txn.op_unlink("a"))
    assert get(src, gone.rootref, ".", FLUX_KVS_READDIR)["data"].keys() == {"v"}


def test_mkdir_replaces_and_empties(src):
    first = run(src, EMPTY_REF, txn.op_put("d.x", b"1"))
    second = run(src, first.rootref, txn.op_mkdir("d"))
    assert get(src, second.rootref, "d", FLUX_KVS_TREEOBJ) == treeobj.create_dirref(EMPTY_REF)


def test_ops_in_order(src):
    r = run(src, EMPTY_REF, txn.op_put("a", b"1"), txn.op_put("a", b"2"))
    assert get(src, r.rootref, "a") == b"2"
    r = run(src, EMPTY_REF, txn.op_put("a.b", b"1"), txn.op_unlink("a"), txn.op_put("c", b""))
    assert get(src, r.rootref, ".", FLUX_KVS_READDIR)["data"].keys() == {"c"}
    r = run(src, EMPTY_REF, txn.op_unlink("a"), txn.op_put("a", b"3"))
    assert get(src, r.rootref, "a") == b"3"


def test_keys_normalized(src):
    r = run(src, EMPTY_REF, txn.op_put("a..b", b"1"), txn.op_put(".c.", b"2"),
            txn.op_put("a.b", b"3"))
    assert r.keys == {"a.b", "c"}
    assert get(src, r.rootref, "a.b") == b"3"


def test_inline_threshold(src):
    edge, over = b"x" * 54, b"x" * 55  # base64 lengths 72 and 76
    r = run(src, EMPTY_REF, txn.op_put("edge", edge), txn.op_put("over", over))
    assert get(src, r.rootref, "edge", FLUX_KVS_TREEOBJ) == treeobj.create_val(edge)
    assert get(src, r.rootref, "over", FLUX_KVS_TREEOBJ) == treeobj.create_valref(sha1(over))
    assert r.blobs[sha1(over)] == over
    assert get(src, r.rootref, "over") == over


def test_inline_dir_dirent_is_unrolled(src):
    tree = treeobj.create_dir({"sub": treeobj.create_dir({"big": treeobj.create_val(BIG)}),
                               "small": treeobj.create_val(b"s")})
    r = run(src, EMPTY_REF, txn.op_put_treeobj("t", tree))
    top = get(src, r.rootref, "t", FLUX_KVS_TREEOBJ)
    assert top["type"] == "dirref"
    assert get(src, r.rootref, "t.sub", FLUX_KVS_TREEOBJ)["type"] == "dirref"
    assert get(src, r.rootref, "t.sub.big", FLUX_KVS_TREEOBJ) == treeobj.create_valref(sha1(BIG))
    assert get(src, r.rootref, "t.sub.big") == BIG
    # a later op may write below the dir the same transaction put
    r = run(src, EMPTY_REF, txn.op_put_treeobj("t", tree), txn.op_put("t.sub.n", b"1"))
    assert get(src, r.rootref, "t.sub.n") == b"1"
    assert tree["data"]["sub"]["data"].keys() == {"big"}  # the op was not changed


def test_no_ops(src):
    r = commit.apply(EMPTY_REF, [], src)
    assert (r.rootref, r.blobs, r.keys) == (EMPTY_REF, {}, set())
    assert commit.apply(EMPTY_REF, {"not": "a list"}, src).rootref == EMPTY_REF
    garbage = src.store(b"garbage")
    with pytest.raises(OSError) as info:
        commit.apply(garbage, [], src)  # the root is still loaded
    assert info.value.errno == errno.ENOTRECOVERABLE


def test_tuple_of_ops(src):
    r = commit.apply(EMPTY_REF, (txn.op_put("k", b"v"),), src)
    assert r.keys == {"k"}


# -- APPEND ---------------------------------------------------------------------------------------


def test_append_to_missing_is_a_put(src):
    r = run(src, EMPTY_REF, txn.op_append("k", b"A"), txn.op_append("big", BIG))
    assert get(src, r.rootref, "k", FLUX_KVS_TREEOBJ) == treeobj.create_val(b"A")
    assert get(src, r.rootref, "big", FLUX_KVS_TREEOBJ) == treeobj.create_valref(sha1(BIG))


def test_append_to_val_makes_valref_of_both(src):
    first = run(src, EMPTY_REF, txn.op_put("k", b"A"))
    r = run(src, first.rootref, txn.op_append("k", b"B"))
    assert get(src, r.rootref, "k", FLUX_KVS_TREEOBJ) == treeobj.create_valref(sha1(b"A"),
                                                                              sha1(b"B"))
    assert r.blobs[sha1(b"A")] == b"A" and r.blobs[sha1(b"B")] == b"B"
    assert get(src, r.rootref, "k") == b"AB"


def test_append_to_valref_adds_a_blob(src):
    first = run(src, EMPTY_REF, txn.op_put("k", BIG))
    r = run(src, first.rootref, txn.op_append("k", b""), txn.op_append("k", b"C"),
            txn.op_append("k", b"D"))
    assert get(src, r.rootref, "k", FLUX_KVS_TREEOBJ) == treeobj.create_valref(
        sha1(BIG), sha1(b""), sha1(b"C"), sha1(b"D"))
    assert get(src, r.rootref, "k") == BIG + b"CD"
    # the valref in the earlier root is untouched
    assert get(src, first.rootref, "k", FLUX_KVS_TREEOBJ) == treeobj.create_valref(sha1(BIG))


def test_append_in_one_transaction_after_put(src):
    r = run(src, EMPTY_REF, txn.op_put("k", b"1"), txn.op_append("k", b"2"),
            txn.op_append("k", b"3"))
    assert get(src, r.rootref, "k") == b"123"
    assert len(get(src, r.rootref, "k", FLUX_KVS_TREEOBJ)["data"]) == 3


def test_append_errors(src):
    first = run(src, EMPTY_REF, txn.op_mkdir("d"), txn.op_symlink("l", "d"),
                txn.op_symlink("lns", "d", "other"), txn.op_put("v", b"x"))
    root = first.rootref
    assert_errno(errno.EISDIR, src, root, txn.op_append("d", b"1"))  # a dirref
    assert_errno(errno.EISDIR, src, root, txn.op_put("n.x", b""), txn.op_append("n", b"1"))
    assert_errno(errno.EISDIR, src, root, txn.op_put_treeobj("i", treeobj.create_dir()),
                 txn.op_append("i", b"1"))
    assert_errno(errno.EOPNOTSUPP, src, root, txn.op_append("l", b"1"))
    assert_errno(errno.EOPNOTSUPP, src, root, txn.op_append("lns", b"1"))
    not_val = {"key": "v", "flags": FLUX_KVS_APPEND, "dirent": treeobj.create_dir()}
    assert_errno(errno.EPROTO, src, root, not_val)
    bad64 = {"key": "v", "flags": FLUX_KVS_APPEND,
             "dirent": {"ver": 1, "type": "val", "data": "Q"}}
    assert_errno(errno.EPROTO, src, root, bad64)
    bad_old = {"key": "w", "flags": 0, "dirent": {"ver": 1, "type": "val", "data": "!"}}
    assert_errno(errno.EPROTO, src, root, bad_old, txn.op_append("w", b"1"))
    odd = {"key": "v", "flags": FLUX_KVS_APPEND, "dirent": {"ver": 1, "type": "val", "data": 5}}
    assert_errno(errno.EINVAL, src, root, odd)


# -- symlinks -------------------------------------------------------------------------------------


@pytest.fixture
def linked(src) -> str:
    return run(src, EMPTY_REF, txn.op_put("a.b.v", b"1"), txn.op_symlink("l", "a.b"),
               txn.op_symlink("lr", "."), txn.op_symlink("lns", "a", "primary"),
               txn.op_symlink("lother", "a", "other"), txn.op_symlink("loop", "loop"),
               txn.op_symlink("chain", "l")).rootref


def test_put_through_a_link_is_applied_below_its_target(src, linked):
    r = run(src, linked, txn.op_put("l.x", b"2"), txn.op_put("chain.y", b"3"),
            txn.op_put("lr.top", b"4"), txn.op_put("lns.z", b"5"))
    assert get(src, r.rootref, "a.b.x") == b"2"
    assert get(src, r.rootref, "a.b.y") == b"3"
    assert get(src, r.rootref, "top") == b"4"
    assert get(src, r.rootref, "a.z") == b"5"
    assert get(src, r.rootref, "l", FLUX_KVS_TREEOBJ) == treeobj.create_symlink("a.b")
    assert r.keys == {"l.x", "chain.y", "lr.top", "lns.z"}  # as the ops named them


def test_link_as_last_component_is_replaced_or_removed(src, linked):
    r = run(src, linked, txn.op_put("l", b"v"), txn.op_unlink("chain"))
    assert get(src, r.rootref, "l") == b"v"
    assert get(src, r.rootref, "a.b.v") == b"1"
    assert "chain" not in get(src, r.rootref, ".", FLUX_KVS_READDIR)["data"]


def test_unlink_through_a_link(src, linked):
    r = run(src, linked, txn.op_unlink("l.v"))
    assert get(src, r.rootref, "a.b", FLUX_KVS_READDIR)["data"] == {}


def test_link_errors(src, linked):
    assert_errno(errno.EINVAL, src, linked, txn.op_put("lother.x", b""))  # another namespace
    assert_errno(errno.EINVAL, src, linked, txn.op_put("lns.x", b""), namespace="mine")
    assert_errno(errno.ELOOP, src, linked, txn.op_put("loop.x", b""))
    assert_errno(errno.ELOOP, src, linked, txn.op_unlink("loop.x"))


def test_link_chain_limit(src):
    ops = [txn.op_mkdir("d")] + [txn.op_symlink(f"l{i}", f"l{i - 1}") for i in range(1, 12)]
    ops.append(txn.op_symlink("l0", "d"))
    root = run(src, EMPTY_REF, *ops).rootref
    r = run(src, root, txn.op_put("l9.x", b"1"))  # ten links to follow: l9 ... l0
    assert get(src, r.rootref, "d.x") == b"1"
    assert_errno(errno.ELOOP, src, root, txn.op_put("l10.x", b"1"))


# -- errors ----------------------------------------------------------------------------------------


def test_put_to_root_is_einval(src):
    for key in (".", "..", "..."):
        assert_errno(errno.EINVAL, src, EMPTY_REF, txn.op_put("k", b""),
                     {"key": key, "flags": 0, "dirent": treeobj.create_val(b"")})
    assert_errno(errno.EINVAL, src, EMPTY_REF, {"key": ".", "flags": 0, "dirent": None})


def test_bad_dirent_and_op(src):
    assert_errno(errno.EINVAL, src, EMPTY_REF,
                 {"key": "k", "flags": 0, "dirent": {"ver": 1, "type": "val", "data": 5}})
    assert_errno(errno.EINVAL, src, EMPTY_REF, {"key": "k", "flags": 0, "dirent": 5})
    assert_errno(errno.EINVAL, src, EMPTY_REF,
                 {"key": "k", "flags": 0,
                  "dirent": {"ver": 1, "type": "dir", "data": {"x": {"ver": 1}}}})
    assert_errno(errno.EPROTO, src, EMPTY_REF, txn.op_put("ok", b""), {"key": "k"})
    assert_errno(errno.EPROTO, src, EMPTY_REF, txn.op_put("ok", b""), "op")
    # a lone surrogate cannot have come through jansson
    assert_errno(errno.EPROTO, src, EMPTY_REF, txn.op_put("\ud800", b""))
    # a long val is decoded when stored: bad base64 fails the commit
    assert_errno(errno.EPROTO, src, EMPTY_REF,
                 {"key": "k", "flags": 0, "dirent": {"ver": 1, "type": "val", "data": "!" * 80}})
    # short, it stays inline as it is, as in flux-core
    r = commit.apply(EMPTY_REF, [{"key": "k", "flags": 0,
                                  "dirent": {"ver": 1, "type": "val", "data": "!"}}], src)
    assert r.treeobjs[r.rootref]["data"]["k"]["data"] == "!"


def test_unknown_hash_is_einval(src):
    assert_errno(errno.EINVAL, src, EMPTY_REF, txn.op_put("k", b""), hashtype="md5")


def test_corrupt_trees(src):
    garbage = src.store(b"not json")
    val_blob = src.store_treeobj(treeobj.create_val(b"x"))
    d = src.store(EMPTY_DIR)
    root = run(src, EMPTY_REF,
               txn.op_put_treeobj("two", treeobj.create_dirref(d, d)),
               txn.op_put_treeobj("junk", treeobj.create_dirref(garbage)),
               txn.op_put_treeobj("notdir", treeobj.create_dirref(val_blob)),
               txn.op_put_treeobj("gone", treeobj.create_dirref("sha1-" + "0" * 40))).rootref
    assert_errno(errno.ENOTRECOVERABLE, src, root, txn.op_put("two.x", b""))
    assert_errno(errno.ENOTRECOVERABLE, src, root, txn.op_unlink("two.x"))
    assert_errno(errno.ENOTRECOVERABLE, src, root, txn.op_put("junk.x", b""))
    assert_errno(errno.ENOTRECOVERABLE, src, root, txn.op_put("notdir.x.y", b""))
    assert_errno(errno.EINVAL, src, root, txn.op_put("notdir.x", b""))
    assert_errno(errno.EINVAL, src, root, txn.op_unlink("notdir.x"))
    assert_errno(errno.EINVAL, src, root, txn.op_append("notdir.x", b""))
    assert_errno(errno.EPROTO, src, root,
                 {"key": "notdir.x", "flags": FLUX_KVS_APPEND, "dirent": treeobj.create_dir()})
    assert_errno(errno.ENOENT, src, root, txn.op_put("gone.x", b""))
    assert_errno(errno.ENOENT, src, "sha1-" + "1" * 40, txn.op_put("k", b""))
    # a root that is no directory (flux-core's kvstxn tests)
    assert_errno(errno.EINVAL, src, val_blob, txn.op_put("k", b""))
    assert_errno(errno.ENOTRECOVERABLE, src, val_blob, txn.op_put("k.j", b""))
    assert_errno(errno.ENOTRECOVERABLE, src, garbage, txn.op_put("k", b""))


def test_failure_after_changes_leaves_every_object_alone(src):
    first = run(src, EMPTY_REF, txn.op_put("a.b", b"1"), txn.op_put("k", BIG))
    cache = BlobCache(src)
    for ref, obj in first.treeobjs.items():
        cache.add(ref, obj)
    before = copy.deepcopy(first.treeobjs)
    with pytest.raises(OSError):
        commit.apply(first.rootref, [txn.op_put("a.c", b"2"), txn.op_append("k", b"x"),
                                     txn.op_unlink("a.b"), txn.op_put(".", b"")], cache)
    assert first.treeobjs == before
    assert get(src, first.rootref, "a.b") == b"1"


# -- blob sources and the decoded-object cache ------------------------------------------------


def test_sources_agree_and_cache_skips_loads(src):
    first = run(src, EMPTY_REF, txn.op_put("a.b", b"1"), txn.op_put("c.d", b"2"))
    ops = [txn.op_put("a.x", b"3"), txn.op_unlink("c.d")]
    counting = LoadOnly(src)
    plain = commit.apply(first.rootref, ops, counting)
    assert counting.loads == 3  # the root, a, and c (an unlink walks too)
    cached = BlobCache(LoadOnly(src))
    assert commit.apply(first.rootref, ops, src).rootref == plain.rootref
    assert commit.apply(first.rootref, ops, cached).rootref == plain.rootref
    assert commit.apply(first.rootref, ops, cached).rootref == plain.rootref
    assert cached.source.loads == 3  # the root, a, c: once each


def test_treeobjs_prime_a_cache(src):
    first = run(src, EMPTY_REF, txn.op_put("a.b", b"1"), txn.op_put("z", b""),
                txn.op_put("m.n", BIG))
    for ref, obj in first.treeobjs.items():
        decoded = treeobj.decode(first.blobs[ref])
        assert obj == decoded and list(obj["data"]) == list(decoded["data"])
    counting = LoadOnly(src)
    cache = BlobCache(counting)
    for ref, obj in first.treeobjs.items():
        cache.add(ref, obj)
    run(src, first.rootref, txn.op_put("a.c", b"2"))
    commit.apply(first.rootref, [txn.op_put("a.c", b"2"), txn.op_put("m.o", b"")], cache)
    assert counting.loads == 0


def test_blobcache_limit_and_clear(src):
    cache = BlobCache(src, limit=2)
    refs = [src.store_treeobj(treeobj.create_dir({str(i): treeobj.create_val(b"")}))
            for i in range(3)]
    for ref in refs:
        cache.load_treeobj(ref)
    # full: a new generation (refs[2]); the old one holds refs 0 and 1
    assert len(cache) == 3 and all(ref in cache for ref in refs)
    cache.load_treeobj(refs[0])  # back to the young generation, beside refs[2]
    cache.add("sha1-" + "1" * 40, treeobj.create_dir())  # full again: refs[1] ages out
    assert refs[1] not in cache and refs[0] in cache and refs[2] in cache
    assert cache.load(refs[0]) == src.load(refs[0])
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(OSError) as info:
        cache.load_treeobj(src.store(b"junk"))
    assert info.value.errno == errno.EPROTO


def test_memory_source_decodes_once_while_bytes_are_held(src):
    ref = src.store_treeobj(treeobj.create_dir())
    assert src.load_treeobj(ref) is src.load_treeobj(ref)
    src.blobs[ref] = b"replaced"
    with pytest.raises(OSError):
        src.load_treeobj(ref)
    del src.blobs[ref]
    with pytest.raises(OSError) as info:
        src.load_treeobj(ref)
    assert info.value.errno == errno.ENOENT


def test_lookup_copies_what_a_cache_shares(src):
    first = run(src, EMPTY_REF, txn.op_put("d.x", b"1"))
    cache = BlobCache(src)
    listing = lookup(first.rootref, "d", cache, FLUX_KVS_READDIR)
    listing["data"].clear()
    root_listing = lookup(first.rootref, ".", cache, FLUX_KVS_READDIR)
    root_listing["data"].clear()
    assert lookup(first.rootref, "d", cache, FLUX_KVS_READDIR)["data"].keys() == {"x"}
    assert lookup(first.rootref, ".", cache, FLUX_KVS_READDIR)["data"].keys() == {"d"}


# -- merging ---------------------------------------------------------------------------------------


def test_merge_run():
    assert commit.merge_run([]) == 0
    assert commit.merge_run([0]) == 0
    assert commit.merge_run([0, 0, 0, FLUX_KVS_NO_MERGE, 0]) == 3
    assert commit.merge_run([0, 0, 8]) == 2
    assert commit.merge_run([FLUX_KVS_NO_MERGE, FLUX_KVS_NO_MERGE]) == 0
    assert commit.merge_run([FLUX_KVS_SYNC, FLUX_KVS_SYNC]) == 0
    assert commit.merge_run([0, FLUX_KVS_SYNC, 0]) == 0
    assert commit.merge_run([8, 8, 0]) == 2


def test_retry_unmerged():
    assert commit.retry_unmerged(errno.EINVAL)
    assert commit.retry_unmerged(errno.ENOENT)
    assert not commit.retry_unmerged(errno.ENOMEM)
    assert not commit.retry_unmerged(errno.ENOTSUP)


def test_merged_is_the_concatenation(src):
    """A merged commit is its parts' ops in order: the same root as applying them in turn."""
    parts = [[txn.op_put("a", b"1")], [txn.op_append("a", b"2"), txn.op_put("b.c", b"")],
             [txn.op_unlink("b")]]
    merged = run(src, EMPTY_REF, *[op for part in parts for op in part])
    root = EMPTY_REF
    for part in parts:
        root = run(src, root, *part).rootref
    assert merged.rootref == root


# -- speed -----------------------------------------------------------------------------------------


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def test_ten_thousand_keys_in_one_directory(src):
    ops = [txn.op_put(f"dir.key{i}", b"value %d" % i) for i in range(10_000)]
    elapsed = best_of(3, lambda: commit.apply(EMPTY_REF, ops, src))
    assert elapsed < 0.1, f"{elapsed * 1e3:.1f} ms"  # about 25 ms on the project machine


def test_small_put_into_small_tree(src):
    first = run(src, EMPTY_REF, txn.op_put("a.b", b"1"), txn.op_put("c", b"2"))
    cache = BlobCache(src)
    ops = [txn.op_put("a.x", b"y")]
    elapsed = best_of(5, lambda: [commit.apply(first.rootref, ops, cache) for _ in range(100)])
    assert elapsed / 100 < 200e-6, f"{elapsed * 1e4:.1f} us"  # about 20 us


# -- a model ---------------------------------------------------------------------------------------

COMPONENTS = st.sampled_from(["a", "b", "c"])
KEYS = st.lists(COMPONENTS, min_size=1, max_size=3).map(".".join)
VALUES = st.one_of(st.binary(max_size=8), st.binary(min_size=50, max_size=80))
OPS = st.one_of(
    st.tuples(st.just("put"), KEYS, VALUES),
    st.tuples(st.just("append"), KEYS, VALUES),
    st.tuples(st.just("unlink"), KEYS, st.none()),
    st.tuples(st.just("mkdir"), KEYS, st.none()),
)


class ModelError(Exception):
    pass


def model_apply(tree: dict, kind: str, key: str, value: bytes | None) -> None:
    """The same op on nested dicts (dirs) and bytes (values), as flux-core's rules say."""
    *path, name = key.split(".")
    node = tree
    for comp in path:
        child = node.get(comp)
        if not isinstance(child, dict):
            if kind == "unlink":
                return
            child = node[comp] = {}
        node = child
    if kind == "put":
        node[name] = value
    elif kind == "mkdir":
        node[name] = {}
    elif kind == "unlink":
        node.pop(name, None)
    else:
        old = node.get(name, b"")
        if isinstance(old, dict):
            raise ModelError(errno.EISDIR)
        node[name] = old + value


def make_op(kind: str, key: str, value: bytes | None) -> dict:
    if kind == "put":
        return txn.op_put(key, value)
    if kind == "append":
        return txn.op_append(key, value)
    if kind == "unlink":
        return txn.op_unlink(key)
    return txn.op_mkdir(key)


def check_tree(src, root: str, tree: dict, prefix: str = "") -> None:
    listing = lookup(root, prefix or ".", src, FLUX_KVS_READDIR)
    assert listing["data"].keys() == tree.keys()
    for name, node in tree.items():
        key = f"{prefix}.{name}" if prefix else name
        if isinstance(node, dict):
            check_tree(src, root, node, key)
        else:
            assert get(src, root, key) == node


def flatten(tree: dict, prefix: str = "") -> list[dict]:
    """Ops that build ``tree`` from nothing."""
    ops = []
    for name, node in tree.items():
        key = f"{prefix}.{name}" if prefix else name
        if isinstance(node, dict):
            ops.extend(flatten(node, key) if node else [txn.op_mkdir(key)])
        else:
            ops.append(txn.op_put(key, node))
    return ops


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(OPS, min_size=1, max_size=6), min_size=1, max_size=4),
       st.booleans())
def test_commits_agree_with_a_dict_model(txns, cached):
    src = MemoryBlobSource()
    root = src.store(EMPTY_DIR)
    source = BlobCache(src) if cached else src
    tree: dict = {}
    appended = False
    for ops in txns:
        trial = copy.deepcopy(tree)
        try:
            for op in ops:
                model_apply(trial, *op)
            expected = None
        except ModelError as err:
            expected = err.args[0]
        if expected is not None:
            with pytest.raises(OSError) as info:
                commit.apply(root, [make_op(*op) for op in ops], source)
            assert info.value.errno == expected
            continue
        result = commit.apply(root, [make_op(*op) for op in ops], source)
        for ref, data in result.blobs.items():
            src.store(data)
        if cached:
            for ref, obj in result.treeobjs.items():
                source.add(ref, obj)
        root, tree = result.rootref, trial
        appended = appended or any(op[0] == "append" for op in ops)
        assert result.keys == {op[1] for op in ops}
        check_tree(source, root, tree)
    if not appended:  # appends leave multi-blob valrefs a fresh put would not
        fresh = commit.apply(EMPTY_REF, flatten(tree), src)
        assert fresh.rootref == root or not tree


def test_blob_cache_keeps_what_is_used_and_ages_out_the_rest():
    """Two generations of ``limit`` entries: a stream of new objects never holds more
    than two generations, and an object still in use survives every rotation."""
    src = MemoryBlobSource()
    hot = src.store_treeobj(treeobj.create_dir())
    cache = BlobCache(src, limit=10)
    for i in range(1000):
        cache.add(f"sha1-{i:040x}", {"type": "val", "data": "", "ver": 1})
        if i % 5 == 0:
            assert cache.load_treeobj(hot) == treeobj.create_dir()
    assert len(cache) <= 20
    assert hot in cache
    cache.clear()
    assert len(cache) == 0 and hot not in cache

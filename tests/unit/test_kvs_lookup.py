"""KVS lookup walk: each errno flux-core answers, symlinks, valref assembly, the flags."""

from __future__ import annotations

import errno

import pytest

from flux.constants import FLUX_KVS_READDIR, FLUX_KVS_READLINK, FLUX_KVS_TREEOBJ
from flux.services.content.blobref import hash_blobref
from flux.services.kvs import keypath, treeobj
from flux.services.kvs.blobsource import MemoryBlobSource
from flux.services.kvs.lookup import MissingNamespace, lookup

READDIR, READLINK, TREEOBJ = FLUX_KVS_READDIR, FLUX_KVS_READLINK, FLUX_KVS_TREEOBJ
BIG = bytes(range(200))  # 200 bytes: beyond INLINE_MAX, so stored as a valref


def build(src: MemoryBlobSource, node: object) -> dict:
    """The dirent for ``node``, its blobs stored as a commit would: a plain dict is a
    directory (stored, named by a dirref), bytes a value (a valref in 64-byte blobs if too
    big to stay inline), a tree object itself."""
    if isinstance(node, bytes):
        if treeobj.is_inline(node):
            return treeobj.create_val(node)
        valref, blobs = treeobj.create_valref_buf(src.hashtype, 64, node)
        for blob in blobs:
            src.store(blob)
        return valref
    assert isinstance(node, dict)
    if "ver" in node:
        return node
    directory = treeobj.create_dir({name: build(src, sub) for name, sub in node.items()})
    return treeobj.create_dirref(src.store_treeobj(directory))


def tree(node: dict) -> tuple[str, MemoryBlobSource]:
    """(root blobref, source holding the tree)."""
    src = MemoryBlobSource()
    return build(src, node)["data"][0], src


def link(target: str, namespace: str | None = None) -> dict:
    return treeobj.create_symlink(target, namespace)


def value(root: str, key: str, src: MemoryBlobSource, **kw) -> bytes:
    return treeobj.decode_val(lookup(root, key, src, **kw))


def assert_errno(num: int, *args, **kw) -> OSError:
    with pytest.raises(OSError) as info:
        lookup(*args, **kw)
    assert info.value.errno == num, info.value
    return info.value


@pytest.fixture
def sample() -> tuple[str, MemoryBlobSource]:
    return tree({
        "a": {"b": {"c": b"deep", "lnk": link("v")}, "v": b"x"},
        "v": b"hello",
        "big": BIG,
        "empty": {},
        "l_dir": link("a.b"),
        "l_val": link("v"),
        "l_root": link("."),
        "l_chain": link("l_dir"),
        "dangling": link("nowhere"),
        "self": link("self"),
    })


# -- values and directories ---------------------------------------------------------


def test_values_at_any_depth_and_keys_normalized(sample):
    root, src = sample
    assert value(root, "v", src) == b"hello"
    assert value(root, "a.b.c", src) == b"deep"
    assert value(root, "..a...b.c.", src) == b"deep"


def test_valref_blobs_are_assembled_in_order(sample):
    root, src = sample
    stored = lookup(root, "big", src, flags=TREEOBJ)
    assert stored["type"] == "valref" and len(stored["data"]) == 4
    answer = lookup(root, "big", src)
    assert answer["type"] == "val" and treeobj.decode_val(answer) == BIG


def test_single_blob_valref_and_empty_blob():
    src = MemoryBlobSource()
    one = treeobj.create_valref(src.store(b"just one blob"))
    empty = treeobj.create_valref(src.store(b""))
    directory = treeobj.create_dir({"one": one, "empty": empty})
    root = src.store_treeobj(directory)
    assert value(root, "one", src) == b"just one blob"
    assert value(root, "empty", src) == b""


def test_valref_with_a_missing_blob_is_enoent(sample):
    root, src = sample
    ref = lookup(root, "big", src, flags=TREEOBJ)["data"][2]
    del src.blobs[ref]
    assert_errno(errno.ENOENT, root, "big", src)


def test_missing_key_is_enoent_naming_the_key(sample):
    root, src = sample
    err = assert_errno(errno.ENOENT, root, "a.nope", src)
    assert err.filename == "a.nope"
    assert_errno(errno.ENOENT, root, "nope.deeper", src)


def test_value_in_the_path_is_enoent_as_flux_core(sample):
    root, src = sample
    assert_errno(errno.ENOENT, root, "v.x", src)
    assert_errno(errno.ENOENT, root, "big.x.y", src)


def test_directory_needs_readdir(sample):
    root, src = sample
    assert_errno(errno.EISDIR, root, "a", src)
    answer = lookup(root, "a", src, flags=READDIR)
    assert answer["type"] == "dir" and sorted(answer["data"]) == ["b", "v"]
    assert lookup(root, "empty", src, flags=READDIR)["data"] == {}


def test_readdir_on_a_value_is_enotdir(sample):
    root, src = sample
    assert_errno(errno.ENOTDIR, root, "v", src, flags=READDIR)
    assert_errno(errno.ENOTDIR, root, "big", src, flags=READDIR)


def test_root_key(sample):
    root, src = sample
    assert_errno(errno.EISDIR, root, ".", src)
    assert sorted(lookup(root, ".", src, flags=READDIR)["data"])[:2] == ["a", "big"]
    assert lookup(root, ".", src, flags=TREEOBJ) == treeobj.create_dirref(root)
    assert_errno(errno.ENOENT, root, "", src, flags=READDIR)  # "" is no name for the root


def test_bad_roots():
    src = MemoryBlobSource()
    junk = src.store(b"not json")
    a_val = src.store_treeobj(treeobj.create_val(b"x"))
    assert_errno(errno.EINVAL, junk, ".", src, flags=READDIR)
    assert_errno(errno.ENOTRECOVERABLE, a_val, ".", src, flags=READDIR)
    assert_errno(errno.EINVAL, junk, "a", src)
    assert_errno(errno.EINVAL, a_val, "a", src)
    assert_errno(errno.EINVAL, "not-a-blobref", "a", src)
    assert_errno(errno.EINVAL, treeobj.create_val(b"x"), "a", src)
    assert_errno(errno.ENOENT, hash_blobref("sha1", b"absent"), "a", src)


def test_root_given_as_a_tree_object(sample):
    root, src = sample
    assert value(treeobj.create_dirref(root), "a.v", src) == b"x"
    inline = treeobj.create_dir({"k": treeobj.create_val(b"1"),
                                 "d": treeobj.create_dirref(root)})
    assert value(inline, "k", src) == b"1"
    assert value(inline, "d.a.b.c", src) == b"deep"
    assert lookup(inline, ".", src, flags=READDIR) == inline


def test_corrupt_dirref_below_the_root_is_enotrecoverable():
    src = MemoryBlobSource()
    bad = {"ver": 1, "type": "dirref", "data": [src.store(b"not json")]}
    to_val = treeobj.create_dirref(src.store_treeobj(treeobj.create_val(b"x")))
    root = src.store_treeobj(treeobj.create_dir({"bad": bad, "to_val": to_val}))
    assert_errno(errno.ENOTRECOVERABLE, root, "bad.x", src)
    assert_errno(errno.ENOTRECOVERABLE, root, "to_val.x", src)
    assert_errno(errno.ENOTRECOVERABLE, root, "to_val", src, flags=READDIR)


def test_inline_dir_is_an_answer_but_not_a_path():
    """Commits store every dir as a dirref; flux-core walks through none inline."""
    src = MemoryBlobSource()
    inline = treeobj.create_dir({"k": treeobj.create_val(b"1")})
    root = src.store_treeobj(treeobj.create_dir({"d": inline}))
    assert_errno(errno.ENOTRECOVERABLE, root, "d.k", src)
    assert lookup(root, "d", src, flags=READDIR) == inline
    assert_errno(errno.EISDIR, root, "d", src)
    assert_errno(errno.EINVAL, root, "d", src, flags=READLINK)
    assert lookup(root, "d", src, flags=TREEOBJ) == inline


def test_answers_are_copies(sample):
    root, src = sample
    answer = lookup(root, "a", src, flags=READDIR)
    answer["data"].clear()
    assert sorted(lookup(root, "a", src, flags=READDIR)["data"]) == ["b", "v"]
    inline = treeobj.create_dir({"k": treeobj.create_val(b"1")})
    lookup(inline, "k", src)["data"] = "changed"
    assert inline["data"]["k"] == treeobj.create_val(b"1")


# -- symlinks ------------------------------------------------------------------------


def test_symlinks_are_followed_in_the_middle_and_at_the_end(sample):
    root, src = sample
    assert value(root, "l_dir.c", src) == b"deep"
    assert value(root, "l_val", src) == b"hello"
    assert value(root, "l_chain.c", src) == b"deep"
    assert value(root, "l_root.l_root.a.v", src) == b"x"
    assert sorted(lookup(root, "l_dir", src, flags=READDIR)["data"]) == ["c", "lnk"]
    assert_errno(errno.EISDIR, root, "l_root", src)


def test_dangling_symlink_is_enoent(sample):
    root, src = sample
    assert_errno(errno.ENOENT, root, "dangling", src)
    assert_errno(errno.ENOENT, root, "dangling.x", src)


def test_readlink_returns_the_final_symlink(sample):
    root, src = sample
    assert lookup(root, "l_val", src, flags=READLINK) == link("v")
    assert lookup(root, "self", src, flags=READLINK) == link("self")
    assert lookup(root, "l_root.l_dir", src, flags=READLINK) == link("a.b")


def test_readlink_on_what_is_not_a_symlink_is_einval(sample):
    root, src = sample
    assert_errno(errno.EINVAL, root, "v", src, flags=READLINK)
    assert_errno(errno.EINVAL, root, "big", src, flags=READLINK)
    assert_errno(errno.EINVAL, root, "a", src, flags=READLINK)
    assert_errno(errno.EINVAL, root, "a", src, flags=READLINK | READDIR)


def test_readlink_with_readdir_on_a_symlink_is_enotdir(sample):
    root, src = sample
    assert_errno(errno.ENOTDIR, root, "l_dir", src, flags=READLINK | READDIR)


def test_readlink_still_follows_a_chain_in_the_middle(sample):
    """flux-core 0.88 answers ENOTRECOVERABLE here (see the lookup module's docstring)."""
    root, src = sample
    assert lookup(root, "l_chain.lnk", src, flags=READLINK) == link("v")
    assert lookup(root, "l_chain.c", src, flags=TREEOBJ) == treeobj.create_val(b"deep")


def test_symlink_cycle_is_eloop(sample):
    root, src = sample
    assert_errno(errno.ELOOP, root, "self", src)
    assert_errno(errno.ELOOP, root, "self.x", src)


def chain(length: int) -> dict:
    """``l0 -> l1 -> ... -> l{length-1} -> v``."""
    links = {f"l{i}": link(f"l{i + 1}") for i in range(length - 1)}
    links[f"l{length - 1}"] = link("v")
    return {"v": b"end", **links}


def test_symlink_chains_up_to_the_limit():
    limit = keypath.SYMLINK_CYCLE_LIMIT
    root, src = tree(chain(limit))
    assert value(root, "l0", src) == b"end"
    root, src = tree(chain(limit + 1))
    assert_errno(errno.ELOOP, root, "l0", src)
    assert value(root, "l1", src) == b"end"


def test_links_one_after_another_do_not_add_up():
    """The limit is on nesting: each link met along the key is resolved from depth 0."""
    root, src = tree({"d": {"v": b"end", "again": link("d")}})
    key = ".".join(["d"] + ["again"] * (2 * keypath.SYMLINK_CYCLE_LIMIT) + ["v"])
    assert value(root, key, src) == b"end"


# -- the TREEOBJ flag ----------------------------------------------------------------


def test_treeobj_returns_the_entry_itself(sample):
    root, src = sample
    assert lookup(root, "v", src, flags=TREEOBJ) == treeobj.create_val(b"hello")
    assert lookup(root, "a", src, flags=TREEOBJ)["type"] == "dirref"
    assert lookup(root, "l_dir", src, flags=TREEOBJ) == link("a.b")
    assert lookup(root, "l_dir.c", src, flags=TREEOBJ) == treeobj.create_val(b"deep")
    assert_errno(errno.ENOENT, root, "nope", src, flags=TREEOBJ)


# -- namespaces ----------------------------------------------------------------------


def test_symlink_into_a_namespace_needs_its_root():
    root, src = tree({"x": link("a.b", "other"), "top": link(".", "other")})
    other = build(src, {"a": {"b": b"theirs"}, "l": link("a")})["data"][0]
    with pytest.raises(MissingNamespace) as info:
        lookup(root, "x", src)
    assert info.value.errno == errno.ENOTSUP and info.value.namespace == "other"
    roots = {"other": other}.__getitem__
    assert value(root, "x", src, namespace_root=roots) == b"theirs"
    assert value(root, "top.a.b", src, namespace_root=roots) == b"theirs"
    assert sorted(lookup(root, "top", src, flags=READDIR, namespace_root=roots)["data"]) \
        == ["a", "l"]
    assert lookup(root, "x", src, flags=READLINK) == link("a.b", "other")


def test_links_met_through_a_namespace_root_link_resolve_in_the_first_namespace():
    """As flux-core: a ``"."`` link into another namespace switches the directory but not
    the root later links start from (a link to a key in it does switch both)."""
    root, src = tree({"top": link(".", "other"), "x": link("a", "other"), "a": {"b": b"ours"}})
    other = build(src, {"a": {"b": b"theirs"}, "l": link("a")})["data"][0]
    roots = {"other": other}.__getitem__
    assert value(root, "top.l.b", src, namespace_root=roots) == b"ours"
    assert value(root, "x.b", src, namespace_root=roots) == b"theirs"


def test_namespace_resolver_errors_pass_through():
    root, src = tree({"x": link("a", "secret")})

    def denied(name: str) -> str:
        raise OSError(errno.EPERM, "not yours")

    assert_errno(errno.EPERM, root, "x", src, namespace_root=denied)


# -- the blob source -------------------------------------------------------------------


def test_memory_blob_source():
    src = MemoryBlobSource("sha256")
    ref = src.store(b"data")
    assert ref == hash_blobref("sha256", b"data") and src.load(ref) == b"data"
    with pytest.raises(OSError) as info:
        src.load(hash_blobref("sha256", b"other"))
    assert info.value.errno == errno.ENOENT

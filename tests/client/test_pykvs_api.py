"""flux.kvs against a real instance: flux-core's Python KVS API, API-NOTES items 21 and 22.

Values and staging (put encodes JSON, raw bytes, get decodes; the implicit
transaction discarded after every commit), KVSDir and KVSTxn (mapping
semantics, shared transactions, paths, namespaces, context managers), walk,
namespaces, checkpoints, dropcache.  Tests share one broker: each uses its
own keys.
"""

from __future__ import annotations

import errno
import os

import pytest

import flux
import flux.kvs
from flux.constants import FLUX_KVS_NO_MERGE, FLUX_KVS_SYNC, FLUX_KVS_TXN_COMPACT

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def h(shared_instance):
    with flux.Flux(shared_instance.uri) as handle:
        yield handle


@pytest.fixture(autouse=True)
def _no_namespace_env(monkeypatch):
    monkeypatch.delenv("FLUX_KVS_NAMESPACE", raising=False)


# -- item 21: values and staging --------------------------------------------------------


@pytest.mark.parametrize("key, value, kind", [
    ("v.int", 10, int), ("v.float", 10.5, float), ("v.str", "stuff", str),
    ("v.none", None, type(None)), ("v.unicode", "\u32db \u263a \u32e1", str),
    ("v.bytes", bytes.fromhex("deadbeef"), bytes), ("v.list", [1, 2, 3, 4], list),
    ("v.dict", {"thing": "stuff", "other thing": "more stuff"}, dict),
    ("v.legaljson", b"{}", dict), ("v.notjson", b"{", str),
    ("v.deep.a.b.c.e.f", 5, int),
])
def test_value_round_trip_through_kvsdir(h, key, value, kind):
    kd = flux.kvs.KVSDir(h)
    kd[key] = value
    kd.commit()
    got = flux.kvs.KVSDir(h)[key]
    assert type(got) is kind
    if isinstance(value, bytes) and kind is dict:
        assert got == {}
    elif isinstance(value, bytes) and kind is str:
        assert got == value.decode()
    else:
        assert got == value
    assert flux.kvs.get(h, key) == got


def test_put_and_commit_module_functions(h):
    flux.kvs.put(h, "api.thing", 15)
    flux.kvs.put(h, "api.raw_bytes", b"foobar", raw=True)
    flux.kvs.put(h, "api.raw_str", "foobar", raw=True)
    flux.kvs.put_mkdir(h, "api.dir")
    flux.kvs.put(h, "api.gone", 1)
    assert h.aux_txn is not None
    flux.kvs.commit(h)
    assert h.aux_txn is None
    assert flux.kvs.get(h, "api.thing") == 15
    assert flux.kvs.get(h, "api.raw_bytes") == "foobar"
    assert flux.kvs.get(h, "api.raw_str") == "foobar"
    assert flux.kvs.exists(h, "api.dir") and flux.kvs.isdir(h, "api.dir")
    assert not flux.kvs.isdir(h, "api.thing") and not flux.kvs.isdir(h, "api.nothing")
    assert not flux.kvs.exists(h, "api.nothing")
    flux.kvs.put_unlink(h, "api.gone")
    flux.kvs.commit(h)
    assert not flux.kvs.exists(h, "api.gone")


def test_directories_read_as_kvsdir_and_dotted_keys_make_them(h):
    flux.kvs.put(h, "mk.a.b.c", "deep")
    flux.kvs.commit(h)
    d = flux.kvs.get(h, "mk.a")
    assert isinstance(d, flux.kvs.KVSDir)
    assert list(d) == ["b"] and list(d.directories()) == ["b"]
    assert flux.kvs.get(h, "mk.a.b.c") == "deep"
    assert flux.kvs.get(h, "mk..a.b.c.") == "deep"  # normalized by the KVS


def test_symlinks_are_followed_and_a_dangling_one_does_not_exist(h):
    flux.kvs.put(h, "sl.target", 42)
    flux.kvs.put_symlink(h, "sl.link", "sl.target")
    flux.kvs.put_symlink(h, "sl.dangling", "sl.nowhere")
    flux.kvs.commit(h)
    assert flux.kvs.get(h, "sl.link") == 42
    assert not flux.kvs.exists(h, "sl.dangling")


@pytest.mark.parametrize("call", [
    lambda h: flux.kvs.exists(h, ""), lambda h: flux.kvs.isdir(h, ""),
    lambda h: flux.kvs.get(h, ""), lambda h: flux.kvs.get_dir(h, ""),
    lambda h: flux.kvs.put(h, "", ""), lambda h: flux.kvs.put_mkdir(h, ""),
    lambda h: flux.kvs.put_unlink(h, ""), lambda h: flux.kvs.put_symlink(h, "", ""),
])
def test_empty_key_is_einval(h, call):
    with pytest.raises(OSError) as ei:
        call(h)
    assert ei.value.errno == errno.EINVAL
    h.aux_txn = None  # flux-core creates the implicit txn before checking the key


def test_raw_put_of_a_non_string_is_attribute_error(h):
    with pytest.raises(AttributeError):
        flux.kvs.put(h, "legit_key", 1, raw=True)
    h.aux_txn = None


def test_putting_the_root_fails_at_commit_and_the_txn_is_discarded(h):
    with pytest.raises(OSError) as ei:
        flux.kvs.put(h, ".", "foof")
        flux.kvs.commit(h)
    assert ei.value.errno == errno.EINVAL
    assert h.aux_txn is None
    flux.kvs.commit(h)  # nothing staged: a no-op


@pytest.mark.parametrize("flags", [0, 1, FLUX_KVS_NO_MERGE, FLUX_KVS_TXN_COMPACT, FLUX_KVS_SYNC])
def test_commit_flags(h, flags):
    flux.kvs.put(h, f"flags.k{flags}", flags)
    flux.kvs.commit(h, flags)
    assert flux.kvs.get(h, f"flags.k{flags}") == flags


def test_commit_async_variants(h):
    flux.kvs.put(h, "ca.one", "foo")
    assert flux.kvs.commit_async(h).get()["rootseq"] > 0
    assert flux.kvs.get(h, "ca.one") == "foo"
    txn = flux.kvs.KVSTxn(h)
    txn.put("ca.two", "bar")
    flux.kvs.commit_async(h, _kvstxn=txn).get()
    assert flux.kvs.get(h, "ca.two") == "bar"
    txn = flux.kvs.KVSTxn(h)
    txn.put("ca.three", "baz")
    txn.commit_async().get()
    assert flux.kvs.get(h, "ca.three") == "baz"
    kd = flux.kvs.KVSDir(h)
    kd["ca.four"] = "qux"
    kd.commit_async().get()
    assert flux.kvs.get(h, "ca.four") == "qux"


def test_dropped_commit_async_still_commits(h):
    flux.kvs.put(h, "ca.dropped", 1)
    flux.kvs.commit_async(h)  # nobody waits for it
    root = flux.kvs.getroot(h).get()  # answered after the commit (same connection, in order)
    flux.kvs.wait_version(h, root["rootseq"]).get()
    assert flux.kvs.get(h, "ca.dropped") == 1


# -- item 22: KVSDir and KVSTxn -------------------------------------------------------------


def test_kvsdir_construction(h):
    with flux.kvs.get_dir(h) as d:
        assert d is not None
    with pytest.raises(ValueError):
        flux.kvs.KVSDir()
    with pytest.raises(OSError, match="No such file") as ei:
        flux.kvs.KVSDir(h, "crazykeythatclearlydoesntexist")
    assert ei.value.errno == errno.ENOENT
    flux.kvs.put(h, "kdc.value", 1)
    flux.kvs.commit(h)
    with pytest.raises(NotADirectoryError):
        flux.kvs.KVSDir(h, "kdc.value")
    with pytest.raises(KeyError):
        flux.kvs.KVSDir(h)["crazykeythatclearlydoesntexist"]


def test_kvsdir_delete_and_missing_item(h):
    kd = flux.kvs.KVSDir(h)
    kd["kdd.todel"] = "things to delete"
    kd.commit()
    kd2 = flux.kvs.KVSDir(h)
    del kd2["kdd.todel"]
    kd2.commit()
    with pytest.raises(KeyError):
        kd2["kdd.todel"]
    assert "kdd.todel" not in kd2


def test_kvsdir_fill_and_mkdir_with_contents(h):
    with flux.kvs.get_dir(h) as kd:
        kd.fill({"kdf.things": 1, "kdf.stuff": "strstuff", "kdf.dir.other": "dirstuff"})
        kd.mkdir("kdf.made", {"thingies": 1, "dir.other": "x"})
    with flux.kvs.get_dir(h, "kdf") as kd:
        assert kd["things"] == 1 and kd["stuff"] == "strstuff"
        assert kd["dir"]["other"] == "dirstuff"
        assert kd["made.thingies"] == 1 and kd["made"]["dir"]["other"] == "x"
    # mkdir with contents below a KVSDir's own path (flux-core fills the wrong directory)
    with flux.kvs.get_dir(h, "kdf.made") as kd:
        kd.mkdir("sub", {"k": "v"})
    assert flux.kvs.get(h, "kdf.made.sub.k") == "v"


def test_kvsdir_paths_key_at_and_exists(h):
    with flux.kvs.get_dir(h) as kd:
        kd.mkdir("kdp")
        kd["kdp.top"] = 1
        kd.mkdir("kdp.sub")
        kd["kdp.sub.inner"] = 2
    with flux.kvs.get_dir(h, "kdp") as kd:
        assert kd.key_at("meh") == "kdp.meh"
        assert kd.exists("top") and kd.exists("sub.inner") and not kd.exists("inner")
    with flux.kvs.get_dir(h, "kdp.sub") as kd:
        assert kd.exists("inner") and not kd.exists("top")
    kd = flux.kvs.KVSDir(h, "kdp")
    kd["c"] = 3
    kd["d.e.f"] = 4
    kd.commit()
    root = flux.kvs.KVSDir(h)
    assert root["kdp.c"] == 3 and root["kdp"]["c"] == 3
    assert root["kdp.d.e.f"] == 4 and root["kdp"]["d"]["e"]["f"] == 4
    kd = flux.kvs.KVSDir(h, "kdp")
    del kd["c"]
    kd.commit()
    with pytest.raises(KeyError):
        flux.kvs.KVSDir(h)["kdp.c"]


def test_kvsdir_iteration_files_directories_list_all(h):
    with flux.kvs.get_dir(h) as kd:
        kd.mkdir("kdi", {"somefile": 1, "somefile2": 2})
        kd.mkdir("kdi.subdir")
        for i in range(1, 15):
            kd[f"kdi.many.{i}"] = "bar"
    with flux.kvs.get_dir(h, "kdi") as kd:
        assert sorted(kd.files()) == ["somefile", "somefile2"]
        assert sorted(kd.directories()) == ["many", "subdir"]
        files, dirs = kd.list_all()
        assert sorted(files) == ["somefile", "somefile2"] and sorted(dirs) == ["many", "subdir"]
        assert len(kd) == 4 and list(kd) == sorted(kd)
    many = flux.kvs.get_dir(h, "kdi.many")
    assert dict(many.items()) == {str(i): "bar" for i in range(1, 15)}


def test_kvsdir_is_a_snapshot_for_listing(h):
    flux.kvs.put(h, "snap.a", 1)
    flux.kvs.commit(h)
    kd = flux.kvs.get_dir(h, "snap")
    flux.kvs.put(h, "snap.b", 2)
    flux.kvs.commit(h)
    assert list(kd) == ["a"]
    assert kd["b"] == 2  # items are looked up afresh
    assert list(flux.kvs.get_dir(h, "snap")) == ["a", "b"]


def test_subdirectories_share_the_parent_transaction(h):
    with flux.kvs.KVSTxn(h) as txn:
        txn.mkdir("shared")
        txn.mkdir("shared.subdir")
        txn.mkdir("shared.subdir.dir2")
    kvsdir = flux.kvs.get_dir(h)
    kvsdir["shared"]["subdir"]["a"] = 1
    keep = kvsdir["shared"]["subdir"]["dir2"]
    keep["b"] = 2
    kvsdir.commit()
    assert flux.kvs.get(h, "shared.subdir.a") == 1
    assert flux.kvs.get(h, "shared.subdir.dir2.b") == 2


def test_two_kvsdirs_commit_independently(h):
    with flux.kvs.KVSTxn(h) as txn:
        txn.mkdir("indep")
    d1 = flux.kvs.get_dir(h, "indep")
    d1["a"] = 1
    d2 = flux.kvs.get_dir(h, "indep")
    d2["b"] = 2
    d1.commit()
    assert flux.kvs.exists(h, "indep.a") and not flux.kvs.exists(h, "indep.b")
    d2.commit()
    assert flux.kvs.exists(h, "indep.b")


def test_kvstxn_basic_paths_context_and_multiple(h):
    txn = flux.kvs.KVSTxn(h)
    txn.mkdir("ktx")
    txn.put("ktx.a", 1)
    txn.put("ktx.b", 2)
    txn.put("ktx.c", b"foobar", raw=True)
    txn.put("ktx.d", "boobar", raw=True)
    txn.symlink("ktx.link", "ktx.a")
    txn.commit()
    assert flux.kvs.isdir(h, "ktx")
    assert [flux.kvs.get(h, f"ktx.{k}") for k in "abcd"] == [1, 2, "foobar", "boobar"]
    assert flux.kvs.get(h, "ktx.link") == 1
    txn.unlink("ktx.b")
    txn.commit()
    assert not flux.kvs.exists(h, "ktx.b")
    base = flux.kvs.KVSTxn(h, "ktx")
    base.put("e", 3)
    base.commit()
    assert flux.kvs.get(h, "ktx.e") == 3
    with flux.kvs.KVSTxn(h) as t:
        t.put("ktx.f", 4)
    assert flux.kvs.get(h, "ktx.f") == 4
    t1, t2 = flux.kvs.KVSTxn(h), flux.kvs.KVSTxn(h)
    t1.put("ktx.m1", 1)
    t2.put("ktx.m2", 2)
    t1.commit()
    assert flux.kvs.exists(h, "ktx.m1") and not flux.kvs.exists(h, "ktx.m2")
    t2.commit()
    assert flux.kvs.exists(h, "ktx.m2")


def test_kvstxn_passed_to_the_module_functions(h):
    txn = flux.kvs.KVSTxn(h)
    flux.kvs.put_mkdir(h, "ktapi", _kvstxn=txn)
    flux.kvs.put(h, "ktapi.a", 1, _kvstxn=txn)
    flux.kvs.put_symlink(h, "ktapi.l", "ktapi.a", _kvstxn=txn)
    flux.kvs.commit(h, _kvstxn=txn)
    assert flux.kvs.get(h, "ktapi.l") == 1
    assert h.aux_txn is None


def test_kvstxn_libkvs_extras_append_treeobj_namespace_symlink(h):
    txn = flux.kvs.KVSTxn(h, "ext")
    txn.append("log", "one\n")
    txn.append("log", b"two\n")
    txn.put_treeobj("tree", {"ver": 1, "type": "val", "data": "aGVsbG8="})
    txn.put_raw("raw", b"\xff\x00")
    txn.commit()
    txn.append("log", "three\n")
    txn.commit()
    assert flux.kvs.get(h, "ext.log") == "one\ntwo\nthree\n"
    assert flux.kvs.get(h, "ext.tree") == "hello"
    assert flux.kvs.get(h, "ext.raw") == b"\xff\x00"
    txn.append("compact", "a")
    txn.append("compact", "b")
    txn.commit(FLUX_KVS_TXN_COMPACT)
    assert flux.kvs.get(h, "ext.compact") == "ab"


def test_walk(h):
    with flux.kvs.get_dir(h) as kd:
        for i in range(1, 15):
            kd[f"testwalk.{i}"] = "bar"
            kd[f"testwalk.{i}d.x"] = "meh"
    gen = flux.kvs.walk("testwalk", flux_handle=h, topdown=True)
    root, dirs, files = next(gen)
    assert root == "" and len(list(dirs)) == 14 and len(list(files)) == 14
    rest = [(r, list(ds), list(fs)) for r, ds, fs in gen]
    assert len(rest) == 14 and all(fs == ["x"] and ds == [] for _, ds, fs in rest)
    bottom_up = [r for r, _, _ in flux.kvs.walk(flux.kvs.get_dir(h, "testwalk"))]
    assert bottom_up[-1] == "" and "1d" in bottom_up
    with pytest.raises(ValueError):
        flux.kvs.walk("dir")


# -- namespaces ---------------------------------------------------------------------------


def test_namespaces(h, monkeypatch):
    assert "primary" in flux.kvs.namespace_list(h)
    for ns in ("pyns1", "pyns2", "pyns3"):
        flux.kvs.namespace_create(h, ns)
    assert {"pyns1", "pyns2", "pyns3"} <= set(flux.kvs.namespace_list(h))
    with pytest.raises(FileExistsError):
        flux.kvs.namespace_create(h, "pyns1")
    flux.kvs.namespace_remove(h, "pyns3")
    for _ in range(300):
        if "pyns3" not in flux.kvs.namespace_list(h):
            break
    assert "pyns3" not in flux.kvs.namespace_list(h)

    flux.kvs.put_mkdir(h, "d1")
    flux.kvs.put(h, "d1.a", 1)
    flux.kvs.commit(h, namespace="pyns1")
    flux.kvs.put_mkdir(h, "d2")
    flux.kvs.put(h, "d2.a", 2)
    flux.kvs.commit(h, namespace="pyns2")
    assert flux.kvs.get(h, "d1.a", namespace="pyns1") == 1
    assert flux.kvs.get(h, "d2.a", namespace="pyns2") == 2
    with pytest.raises(FileNotFoundError):
        flux.kvs.get(h, "d1.a", namespace="pyns2")
    assert flux.kvs.exists(h, "d1", namespace="pyns1")
    assert not flux.kvs.exists(h, "d1", namespace="pyns2")
    assert flux.kvs.isdir(h, "d2", namespace="pyns2")
    assert not flux.kvs.isdir(h, "d2.a", namespace="pyns2")
    assert not flux.kvs.exists(h, "d1")  # not in primary

    with flux.kvs.get_dir(h, "d1", namespace="pyns1") as kd:
        assert kd.exists("a")
        kd["b"] = 2
    with flux.kvs.get_dir(h, namespace="pyns1") as kd:
        assert kd.exists("d1.b") and list(kd.directories()) == ["d1"]
        assert kd.list_all() == ([], ["d1"])
    assert sorted(flux.kvs.get_dir(h, "d1", namespace="pyns1").files()) == ["a", "b"]
    with flux.kvs.get_dir(h, namespace="pyns2") as kd:
        kd.fill({"filled.a": 1})
        kd.mkdir("made", {"a": 1})
    assert flux.kvs.exists(h, "filled.a", namespace="pyns2")
    assert flux.kvs.exists(h, "made.a", namespace="pyns2")
    walked = list(flux.kvs.walk(".", flux_handle=h, topdown=True, namespace="pyns1"))
    assert [(r, list(ds), list(fs)) for r, ds, fs in walked] == [("", ["d1"], []),
                                                                ("d1", [], ["a", "b"])]
    txn = flux.kvs.KVSTxn(h, namespace="pyns1")
    txn.put("nskey", 1)
    txn.commit()
    assert flux.kvs.exists(h, "nskey", namespace="pyns1") and not flux.kvs.exists(h, "nskey")

    monkeypatch.setenv("FLUX_KVS_NAMESPACE", "pyns2")
    assert flux.kvs.get(h, "d2.a") == 2
    flux.kvs.put(h, "fromenv", 1)
    flux.kvs.commit(h)
    assert flux.kvs.exists(h, "fromenv", namespace="pyns2")
    monkeypatch.delenv("FLUX_KVS_NAMESPACE")
    assert not flux.kvs.exists(h, "fromenv")

    flux.kvs.namespace_create(h, "pyns-unlink")
    flux.kvs.put(h, "todelete", 1)
    flux.kvs.commit(h, namespace="pyns-unlink")
    flux.kvs.put_unlink(h, "todelete")
    flux.kvs.commit(h, namespace="pyns-unlink")
    with pytest.raises(FileNotFoundError):
        flux.kvs.get(h, "todelete", namespace="pyns-unlink")


def test_namespace_owner_defaults_to_the_uid_at_import(h):
    flux.kvs.namespace_create(h, "pyns-owner")
    flux.kvs.namespace_create(h, "pyns-other", owner=os.getuid() + 1000)
    owners = {ns["namespace"]: ns["owner"]
              for ns in h.rpc("kvs.namespace-list").get()["namespaces"]}
    assert owners["pyns-owner"] == os.getuid()
    assert owners["pyns-other"] == os.getuid() + 1000
    assert flux.kvs.getroot(h, "pyns-owner").get_owner() == os.getuid()


def test_missing_namespace(h):
    with pytest.raises(OSError) as ei:
        flux.kvs.get(h, "a", namespace="pyns-missing")
    assert ei.value.errno == errno.EOPNOTSUPP
    flux.kvs.put(h, "a", 1)
    with pytest.raises(OSError) as ei:
        flux.kvs.commit(h, namespace="pyns-missing")
    assert ei.value.errno == errno.EOPNOTSUPP


# -- service requests -------------------------------------------------------------------------


def test_checkpoints_follow_primary_commits(h):
    flux.kvs.put(h, "cp.k", 1)
    flux.kvs.commit(h, FLUX_KVS_SYNC)
    root = flux.kvs.getroot(h).get()
    cps = flux.kvs.kvs_checkpoint_lookup(h)
    for cp in cps:
        assert cp["version"] == 1
        assert {"sequence", "timestamp", "rootref"} <= set(cp)
    assert root["rootref"] in [cp["rootref"] for cp in cps]


def test_dropcache(h):
    flux.kvs.put(h, "dc.k", "kept")
    flux.kvs.commit(h)
    assert flux.kvs.dropcache(h) is None
    assert flux.kvs.get(h, "dc.k") == "kept"  # read back from the content store


def test_namespace_create_names_the_empty_root_with_the_instance_hash():
    from conftest import start_instance

    with start_instance("content.hash=sha256") as inst, flux.Flux(inst.uri) as h:
        flux.kvs.namespace_create(h, "sha")
        assert flux.kvs.getroot(h, "sha").get_rootref().startswith("sha256-")
        flux.kvs.put(h, "k", "v")
        flux.kvs.commit(h, namespace="sha")
        assert flux.kvs.get(h, "k", namespace="sha") == "v"


def test_kvsdir_watch_and_watch_once(instance):
    """KVSDir.watch: the value now, then each change; watch_once: the next value."""
    import threading
    import time

    import flux
    import flux.kvs

    h = flux.Flux(instance.uri)
    flux.kvs.put(h, "wd.x", 1)
    flux.kvs.commit(h)
    d = flux.kvs.get_dir(h, "wd")
    w = d.watch("x")
    assert w.get() == 1
    other = flux.Flux(instance.uri)
    flux.kvs.put(other, "wd.x", 2)
    flux.kvs.commit(other)
    assert w.get() == 2
    w.cancel()

    def later() -> None:
        time.sleep(0.2)
        flux.kvs.put(other, "wd.x", 3)
        flux.kvs.commit(other)

    t = threading.Thread(target=later)
    t.start()
    assert d.watch_once("x") == 3
    t.join()

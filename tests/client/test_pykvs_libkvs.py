"""flux.kvs's libkvs layer against a real instance: lookups and their flags, snapshots,
roots and versions, raw commits, and asyncio (every future awaitable)."""

from __future__ import annotations

import asyncio
import errno

import pytest

import flux
import flux.kvs
from flux.constants import (
    FLUX_KVS_READDIR,
    FLUX_KVS_READLINK,
    FLUX_KVS_TREEOBJ,
)
from flux.kvs.lookups import decode_value
from flux.kvs.ops import put_raw_op

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def h(shared_instance):
    with flux.Flux(shared_instance.uri) as handle:
        yield handle


@pytest.fixture(autouse=True)
def _no_namespace_env(monkeypatch):
    monkeypatch.delenv("FLUX_KVS_NAMESPACE", raising=False)


def test_lookup_flags_give_what_libkvs_gives(h):
    big = bytes(range(256)) * 4  # beyond the inline limit: stored as a valref
    with flux.kvs.KVSTxn(h, "lk") as txn:
        txn.put("val", {"a": 1})
        txn.put_raw("big", big)
        txn.mkdir("dir")
        txn.put("dir.x", 1)
        txn.symlink("link", "lk.val")
    f = flux.kvs.lookup(h, "lk.val")
    assert decode_value(f.get_value()) == {"a": 1}
    assert f.get_treeobj()["type"] == "val" and f.get()["val"] == f.get_treeobj()
    assert flux.kvs.lookup(h, "lk.big").get_value() == big
    assert flux.kvs.lookup(h, "lk.big", FLUX_KVS_TREEOBJ).get_treeobj()["type"] == "valref"
    d = flux.kvs.lookup(h, "lk.dir", FLUX_KVS_READDIR).get_dir()
    assert d["type"] == "dir" and list(d["data"]) == ["x"]
    stored = flux.kvs.lookup(h, "lk.dir", FLUX_KVS_TREEOBJ).get_treeobj()
    assert stored["type"] in ("dir", "dirref")
    assert flux.kvs.lookup(h, "lk.link", FLUX_KVS_READLINK).get_symlink() == (None, "lk.val")
    assert flux.kvs.lookup(h, "lk.link").get_value() == flux.kvs.lookup(h, "lk.val").get_value()
    for key, flags, errnum in [("lk.dir", 0, errno.EISDIR),
                               ("lk.val", FLUX_KVS_READDIR, errno.ENOTDIR),
                               ("lk.val", FLUX_KVS_READLINK, errno.EINVAL),
                               ("lk.nothing", 0, errno.ENOENT),
                               ("lk.val.below", 0, errno.ENOENT)]:  # a value is no directory
        with pytest.raises(OSError) as ei:
            flux.kvs.lookup(h, key, flags).get_value()
        assert ei.value.errno == errnum, key


def test_lookupat_reads_a_snapshot(h):
    flux.kvs.put(h, "snapat.k", "old")
    f = flux.kvs.commit_async(h)
    old_root = f.get_treeobj()
    assert old_root == {"ver": 1, "type": "dirref", "data": [f.get_rootref()]}
    flux.kvs.put(h, "snapat.k", "new")
    flux.kvs.put(h, "snapat.added", 1)
    flux.kvs.commit(h)
    assert decode_value(flux.kvs.lookupat(h, "snapat.k", old_root).get_value()) == "old"
    assert flux.kvs.get(h, "snapat.k") == "new"
    with pytest.raises(FileNotFoundError):
        flux.kvs.lookupat(h, "snapat.added", old_root).get_value()
    listing = flux.kvs.lookupat(h, "snapat", old_root, FLUX_KVS_READDIR).get_dir()
    assert list(listing["data"]) == ["k"]
    root = flux.kvs.getroot(h).get_treeobj()
    assert decode_value(flux.kvs.lookupat(h, "snapat.k", root).get_value()) == "new"


def test_roots_versions_and_raw_commits(h):
    before = flux.kvs.getroot(h)
    root = before.get()
    assert set(root) >= {"owner", "rootseq", "rootref", "flags", "namespace"}
    assert root["namespace"] == "primary" and before.get_sequence() == root["rootseq"]
    assert flux.kvs.get_version(h) >= root["rootseq"]
    f = flux.kvs.commit_ops(h, [put_raw_op("raw.k", b"v")])
    done = f.get()
    assert done["rootseq"] > root["rootseq"]
    assert flux.kvs.getroot(h).get()["rootseq"] >= done["rootseq"]
    assert flux.kvs.wait_version(h, done["rootseq"]).get_sequence() >= done["rootseq"]

    waiter = flux.kvs.wait_version(h, done["rootseq"] + 1)
    with pytest.raises(TimeoutError):
        waiter.wait_for(0.2)
    flux.kvs.put(h, "raw.k2", 1)
    flux.kvs.commit(h)
    assert waiter.get_sequence() == done["rootseq"] + 1


def test_namespace_symlink(h):
    flux.kvs.namespace_create(h, "lkns")
    flux.kvs.put(h, "there", "in lkns")
    flux.kvs.commit(h, namespace="lkns")
    txn = flux.kvs.KVSTxn(h)
    txn.symlink("nslink", "there", namespace="lkns")
    txn.commit()
    assert flux.kvs.lookup(h, "nslink", FLUX_KVS_READLINK).get_symlink() == ("lkns", "there")
    assert flux.kvs.get(h, "nslink") == "in lkns"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_every_future_is_awaitable(h):
    async def main():
        txn = flux.kvs.KVSTxn(h, "aio")
        txn.put("a", {"x": 1})
        committed = await txn.commit_async()
        resp = await flux.kvs.lookup(h, "aio.a")
        root = await flux.kvs.getroot(h)
        reached = await flux.kvs.wait_version(h, committed["rootseq"])
        return committed, resp, root, reached

    committed, resp, root, reached = run(main())
    assert set(committed) == {"rootref", "rootseq"}
    assert decode_value(flux.kvs.lookups.treeobj.decode_val(resp["val"])) == {"x": 1}
    assert root["rootseq"] >= committed["rootseq"] and reached["rootseq"] >= committed["rootseq"]


def test_many_commits_and_lookups_in_flight(h):
    async def main():
        txns = []
        for i in range(20):
            txn = flux.kvs.KVSTxn(h, "many")
            txn.put(str(i), i)
            txns.append(txn.commit_async())
        roots = await asyncio.gather(*txns)
        values = await asyncio.gather(*(flux.kvs.lookup(h, f"many.{i}") for i in range(20)))
        return roots, values

    roots, values = run(main())
    assert len({r["rootseq"] for r in roots}) >= 1
    got = [decode_value(flux.kvs.lookups.treeobj.decode_val(v["val"])) for v in values]
    assert got == list(range(20))


def test_await_does_not_block_the_loop(h):
    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.ensure_future(ticker())
        waiter = flux.kvs.wait_version(h, flux.kvs.get_version(h) + 1)

        async def later():
            await asyncio.sleep(0.2)
            txn = flux.kvs.KVSTxn(h)
            txn.put("aio.later", 1)
            await txn.commit_async()

        await asyncio.gather(waiter, later())
        task.cancel()
        return ticks

    assert run(main()) >= 5

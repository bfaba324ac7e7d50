"""The content store's SQLite core (flux.services.content.store), no broker."""

import errno
import os
import sqlite3

import pytest

from flux.services.content.blobref import hash_raw
from flux.services.content.store import (
    DB_FILENAME,
    DEFAULT_BLOB_SIZE_LIMIT,
    ContentStore,
)


@pytest.fixture
def dbpath(tmp_path):
    return str(tmp_path / DB_FILENAME)


def _errno(fn, *args):
    with pytest.raises(OSError) as info:
        fn(*args)
    return info.value.errno


def test_round_trip_and_dedup(dbpath):
    store = ContentStore(dbpath)
    blobs = [b"", b"abc", b"\0\xff" * 1000, b"ends with NUL\0"]
    digests = [store.store(b) for b in blobs]
    assert digests == [hash_raw("sha1", b) for b in blobs]
    assert [store.load(d) for d in digests] == blobs
    assert store.store(b"abc") == digests[1]  # idempotent
    assert store.count() == len(blobs)
    store.close()


def test_sha256(dbpath):
    store = ContentStore(dbpath, "sha256")
    digest = store.store(b"abc")
    assert len(digest) == 32 and store.load(digest) == b"abc"
    assert _errno(store.load, hash_raw("sha1", b"abc")) == errno.EPROTO  # wrong size
    store.close()


def test_errors(dbpath):
    store = ContentStore(dbpath, blob_size_limit=4)
    assert store.store(b"1234") == hash_raw("sha1", b"1234")
    assert _errno(store.store, b"12345") == errno.EFBIG
    assert _errno(store.load, hash_raw("sha1", b"nope")) == errno.ENOENT
    assert _errno(store.load, b"") == errno.EPROTO
    store.close()
    assert _errno(store.load, hash_raw("sha1", b"1234")) == errno.ENOSYS
    store.close()  # twice is fine
    assert DEFAULT_BLOB_SIZE_LIMIT == 1 << 30
    with pytest.raises(ValueError):
        ContentStore(dbpath, "md5")


def test_persists_across_reopen(dbpath):
    store = ContentStore(dbpath)
    digest = store.store(b"kept")
    store.close()
    assert not os.path.exists(dbpath + "-wal")  # checkpointed at close
    store = ContentStore(dbpath)
    assert store.load(digest) == b"kept"
    store.close()


def test_pragmas(dbpath, tmp_path):
    store = ContentStore(dbpath)
    db = store._conn()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    store.close()
    scratch = ContentStore(str(tmp_path / "scratch.sqlite"), durable=False)
    db = scratch._conn()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "off"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 0
    scratch.close()


def test_flux_core_schema(dbpath):
    """flux-core's content-sqlite table: digest bound as text, size -1 = uncompressed."""
    store = ContentStore(dbpath)
    digest = store.store(b"x\0y")
    store.close()
    db = sqlite3.connect(dbpath)
    rows = db.execute("SELECT typeof(hash), CAST(hash AS BLOB), size, object, epoch"
                      " FROM objects").fetchall()
    assert rows == [("text", digest, -1, b"x\0y", 0)]
    db.execute("INSERT INTO objects (hash, size, object) VALUES (CAST(? AS TEXT), 3, x'00')",
               (hash_raw("sha1", b"zip"),))  # a row flux-core compressed (LZ4)
    db.commit()
    db.close()
    store = ContentStore(dbpath)
    assert _errno(store.load, hash_raw("sha1", b"zip")) == errno.EINVAL
    store.close()


def test_second_opener_is_refused(dbpath):
    store = ContentStore(dbpath)
    store.store(b"a")
    assert _errno(ContentStore, dbpath) == errno.EBUSY  # exclusive locking
    store.close()


def test_unopenable_path(tmp_path):
    with pytest.raises(OSError):
        ContentStore(str(tmp_path / "missing" / DB_FILENAME))

"""The content store's SQLite database: blobs by raw digest, with a size limit.

The table is flux-core's content-sqlite schema (``objects``: hash, size,
object, epoch) in a file named ``content.sqlite``, so either implementation
can open the other's database: the digest is stored with text affinity (as
libflux binds it) and ``size`` -1 marks an uncompressed blob.  pureflux never
compresses; a row flux-core compressed (LZ4, size >= 0) cannot be read here.

Durable databases (a ``statedir`` kept across restarts) use WAL and
synchronous=NORMAL; a throw-away one turns journaling and syncs off, as
flux-core does for a statedir it removes at exit.  The exclusive locking mode
keeps a second instance off a database in use.
"""

from __future__ import annotations

import errno
import os
import sqlite3

from . import DB_FILENAME, DEFAULT_BLOB_SIZE_LIMIT
from .blobref import digest_size, hash_raw

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

__all__ = ["DB_FILENAME", "DEFAULT_BLOB_SIZE_LIMIT", "ContentStore"]

#: flux-core's limit (RFC 10 says 1 MiB but was raised to 1 GiB for now)

_SCHEMA = ("CREATE TABLE IF NOT EXISTS objects("
           " hash BLOB PRIMARY KEY, size INT, object BLOB, epoch INT DEFAULT 0)")
_LOAD = "SELECT object, size FROM objects WHERE hash = CAST(?1 AS TEXT) LIMIT 1"
_STORE = ("INSERT INTO objects (hash, size, object) VALUES (CAST(?1 AS TEXT), -1, ?2)"
          " ON CONFLICT(hash) DO NOTHING")

# SQLite result codes (primary) -> errno; anything else is EIO
_SQLITE_ERRNO = {3: errno.EPERM, 5: errno.EBUSY, 6: errno.EBUSY, 7: errno.ENOMEM,
                 8: errno.EROFS, 13: errno.ENOSPC, 14: errno.ENOENT, 23: errno.EPERM}


def _oserror(exc: sqlite3.Error, what: str) -> OSError:
    code = getattr(exc, "sqlite_errorcode", None)
    errnum = _SQLITE_ERRNO.get(code & 0xFF, errno.EIO) if code is not None else errno.EIO
    return OSError(errnum, f"{what}: {exc}")


class ContentStore:
    """Blobs keyed by their digest under one hash (the instance's ``content.hash``).

    Errors are OSError with flux-core's errnos: EFBIG over the size limit,
    ENOENT for an unknown digest, EPROTO for a digest of the wrong size.
    """

    def __init__(self, path: str, hashtype: str = "sha1",
                 blob_size_limit: int = DEFAULT_BLOB_SIZE_LIMIT, durable: bool = True) -> None:
        self.hashtype = hashtype
        self.digest_size = digest_size(hashtype)  # ValueError for an unknown hash
        self.blob_size_limit = blob_size_limit
        self.path = path
        self.durable = durable
        try:
            db = sqlite3.connect(path, timeout=1.0, isolation_level=None,
                                 check_same_thread=False)
        except sqlite3.Error as exc:
            raise _oserror(exc, path) from None
        try:
            mode, sync = ("WAL", "NORMAL") if durable else ("OFF", "OFF")
            db.execute(f"PRAGMA journal_mode={mode}")
            db.execute(f"PRAGMA synchronous={sync}")
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.execute(_SCHEMA)
        except sqlite3.Error as exc:
            db.close()
            raise _oserror(exc, path) from None
        self._db: Optional[sqlite3.Connection] = db

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise OSError(errno.ENOSYS, "content store is closed")
        return self._db

    def store(self, blob: bytes) -> bytes:
        """Keep ``blob`` (idempotent); its raw digest."""
        if len(blob) > self.blob_size_limit:
            raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))
        digest = hash_raw(self.hashtype, blob)
        try:
            self._conn().execute(_STORE, (digest, blob))
        except sqlite3.Error as exc:
            raise _oserror(exc, "store") from None
        return digest

    def load(self, digest: bytes) -> bytes:
        """The blob stored under the raw ``digest``."""
        if len(digest) != self.digest_size:
            raise OSError(errno.EPROTO, os.strerror(errno.EPROTO))
        try:
            row = self._conn().execute(_LOAD, (digest,)).fetchone()
        except sqlite3.Error as exc:
            raise _oserror(exc, "load") from None
        if row is None:
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT))
        obj, size = row
        if size != -1:
            raise OSError(errno.EINVAL, "blob is compressed (flux-core's LZ4): not supported")
        return bytes(obj) if obj is not None else b""

    def count(self) -> int:
        """How many blobs the store holds."""
        try:
            return int(self._conn().execute("SELECT count(1) FROM objects").fetchone()[0])
        except sqlite3.Error as exc:
            raise _oserror(exc, "count") from None

    def close(self) -> None:
        """Close the database (WAL checkpointed into the file); later calls fail with ENOSYS."""
        if self._db is not None:
            db, self._db = self._db, None
            db.close()

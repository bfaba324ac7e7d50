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
# checkpoints: flux-core's checkpt_v2 table, newest row first, a few kept
_CHECKPT_SCHEMA = ("CREATE TABLE IF NOT EXISTS checkpt_v2("
                   " id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, value TEXT)")
_CHECKPT_GET = "SELECT value FROM checkpt_v2 ORDER BY id DESC"
_CHECKPT_PUT = "INSERT INTO checkpt_v2 (value) VALUES (?1)"
_CHECKPT_UPDATE = "UPDATE checkpt_v2 SET value = ?2 WHERE id = ?1"
_CHECKPT_PRUNE = ("DELETE FROM checkpt_v2 WHERE id IN"
                  " (SELECT id FROM checkpt_v2 ORDER BY id DESC LIMIT -1 OFFSET ?1)")
#: checkpoints kept (flux-core's content-sqlite keeps a few for recovery)
MAX_CHECKPOINTS = 5

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
            db.execute(_CHECKPT_SCHEMA)
        except sqlite3.Error as exc:
            db.close()
            raise _oserror(exc, path) from None
        self._db: Optional[sqlite3.Connection] = db
        self._own_checkpoint: Optional[int] = None  # the row store_batch keeps current

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

    def store_batch(self, blobs: dict[str, bytes], checkpoint: Optional[str] = None) -> None:
        """Keep ``blobs`` (blobref -> bytes, already hashed by the caller under this
        store's hash) and, if given, a checkpoint value, in one SQLite transaction.

        This is the KVS's commit: a root and the checkpoint naming it reach the
        database together or not at all, so a returned commit survives a killed
        process (WAL; ``synchronous=NORMAL`` does not sync each transaction, so
        a power loss may lose the last ones)."""
        limit = self.blob_size_limit
        rows = []
        for ref, blob in blobs.items():
            if len(blob) > limit:
                raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))
            rows.append((bytes.fromhex(ref[ref.index("-") + 1:]), blob))
        db = self._conn()
        try:
            db.execute("BEGIN")
            try:
                db.executemany(_STORE, rows)
                if checkpoint is not None:
                    self._checkpoint_current(db, checkpoint)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise _oserror(exc, "store") from None

    def _checkpoint_put(self, db: sqlite3.Connection, value: str) -> int:
        rowid = db.execute(_CHECKPT_PUT, (value,)).lastrowid
        db.execute(_CHECKPT_PRUNE, (MAX_CHECKPOINTS,))
        return rowid or 0

    def _checkpoint_current(self, db: sqlite3.Connection, value: str) -> None:
        """The checkpoint that follows every commit: one new row per run of the store
        (earlier runs' stay, as flux-core keeps a few), then updated in place (a
        smaller write than a row per commit)."""
        if self._own_checkpoint is None:
            self._own_checkpoint = self._checkpoint_put(db, value)
        else:
            db.execute(_CHECKPT_UPDATE, (self._own_checkpoint, value))

    def checkpoint_put(self, value: str) -> None:
        """Add a checkpoint (a JSON text: ``{"version":1,"rootref",...}``)."""
        try:
            self._checkpoint_put(self._conn(), value)
            self._own_checkpoint = None  # the next commit's checkpoint is newer than this one
        except sqlite3.Error as exc:
            raise _oserror(exc, "checkpoint-put") from None

    def checkpoint_get(self) -> list[str]:
        """The checkpoints kept, newest first (JSON texts); ENOENT if there is none."""
        try:
            rows = self._conn().execute(_CHECKPT_GET).fetchall()
        except sqlite3.Error as exc:
            raise _oserror(exc, "checkpoint-get") from None
        if not rows:
            raise OSError(errno.ENOENT, "checkpoint not found")
        return [row[0] for row in rows[:MAX_CHECKPOINTS]]

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

"""Where a KVS walk gets the blobs a tree refers to: the *blob source* protocol.

The lookup is sans-I/O: it asks ``source.load(blobref) -> bytes`` for each
blob it needs and never talks to the content service itself.  A source raises
OSError(ENOENT) for a blob it does not hold, as the content store answers.
A source may also offer ``load_treeobj(blobref) -> dict``: the blob decoded
and validated as a tree object (EPROTO if it is not one), possibly cached and
shared, so callers never change it; walks use it when present (see
``blobcache.py`` to add it in front of any source).
``MemoryBlobSource`` is the dict-backed source tests (and in-process callers)
use; it also stores, so a tree can be built into it.
"""

from __future__ import annotations

import errno

from flux.services.content import blobref as _blobref
from flux.services.kvs import treeobj

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Protocol

    class BlobSource(Protocol):
        """Anything with ``load``: the bytes of a blob, OSError(ENOENT) if absent."""

        def load(self, blobref: str) -> bytes: ...

__all__ = ["MemoryBlobSource"]


class MemoryBlobSource:
    """Blobs kept in a dict by blobref; ``store`` hashes as the content store does."""

    def __init__(self, hashtype: str = "sha1", blobs: dict[str, bytes] | None = None) -> None:
        self.hashtype = hashtype
        self.blobs: dict[str, bytes] = dict(blobs or {})
        # blobref -> (the bytes decoded, the object): kept only while those bytes are held
        self._decoded: dict[str, tuple[bytes, dict]] = {}

    def load(self, blobref: str) -> bytes:
        """The blob's bytes; OSError(ENOENT) if it is not held."""
        try:
            return self.blobs[blobref]
        except KeyError:
            raise OSError(errno.ENOENT, f"no blob {blobref}") from None

    def load_treeobj(self, blobref: str) -> dict:
        """The blob as a tree object, decoded once (shared: do not change it); EPROTO, ENOENT."""
        data = self.load(blobref)
        hit = self._decoded.get(blobref)
        if hit is not None and hit[0] is data:
            return hit[1]
        obj = treeobj.decode(data)
        self._decoded[blobref] = (data, obj)
        return obj

    def store(self, data: bytes) -> str:
        """Keep ``data``; its blobref."""
        ref = _blobref.hash_blobref(self.hashtype, data)
        self.blobs[ref] = bytes(data)
        return ref

    def store_treeobj(self, obj: dict) -> str:
        """Keep a tree object in flux-core's encoding (a dir becomes what a ``dirref`` names)."""
        return self.store(treeobj.encode(obj))

"""Decoded tree objects kept in front of a blob source, so a walk does not re-parse them.

A KVS commit or lookup reads the same directories again and again (the root
above all); decoding a large directory's JSON costs far more than the walk.
``BlobCache`` wraps any blob source and answers ``load_treeobj`` from a dict
of decoded objects, which the commit engine and the lookup walk use when
present.  Objects it hands out are shared: callers must never change them.
Blobs are content-addressed, so an entry never goes stale; the cache keeps two
generations of a bounded size (what is used moves to the young one, the rest ages
out: memory stays flat under a stream of commits), and ``clear`` (what
``kvs.dropcache`` asks for) empties both.
"""

from __future__ import annotations

from flux.services.kvs import treeobj

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from flux.services.kvs.blobsource import BlobSource

__all__ = ["BlobCache"]


class BlobCache:
    """A blob source with ``load_treeobj``: decoded, validated objects cached by blobref.

    Two generations bound its memory: objects go into the young one; when it holds
    ``limit`` entries it becomes the old one (the previous old one is dropped).  An
    object found in the old generation moves back to the young one, so what is used
    keeps its place (the root, the directories commits walk) and what is not goes
    within two generations, as flux-core's KVS expires cache entries nobody used.
    """

    __slots__ = ("_objects", "_old", "limit", "source")

    def __init__(self, source: BlobSource, limit: int | None = None) -> None:
        self.source = source
        #: entries a generation holds (None: no bound, one generation)
        self.limit = limit
        self._objects: dict[str, dict] = {}
        self._old: dict[str, dict] = {}

    def load(self, blobref: str) -> bytes:
        """The blob's bytes, from the source (raw blobs are not cached)."""
        return self.source.load(blobref)

    def load_treeobj(self, blobref: str) -> dict:
        """The tree object the blob holds (shared: do not change it); EPROTO if it holds none."""
        obj = self._objects.get(blobref)
        if obj is None:
            obj = self._old.pop(blobref, None)
            if obj is None:
                inner = getattr(self.source, "load_treeobj", None)
                obj = inner(blobref) if inner is not None \
                    else treeobj.decode(self.source.load(blobref))
            self.add(blobref, obj)
        return obj

    def add(self, blobref: str, obj: dict) -> None:
        """Remember ``obj`` as what ``blobref``'s blob decodes to (e.g. a commit's new
        directories, ``CommitResult.treeobjs``); the caller vouches for it and gives it up."""
        objects = self._objects
        if self.limit is not None and len(objects) >= self.limit and blobref not in objects:
            self._old = objects  # a new generation; the oldest one goes
            objects = self._objects = {}
        objects[blobref] = obj

    def clear(self) -> None:
        """Forget every decoded object."""
        self._objects = {}
        self._old = {}

    def __len__(self) -> int:
        return len(self._objects) + len(self._old)

    def __contains__(self, blobref: object) -> bool:
        return blobref in self._objects or blobref in self._old

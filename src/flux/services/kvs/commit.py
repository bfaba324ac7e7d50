"""Apply a KVS transaction to a root, as flux-core's kvstxn does, without I/O.

``apply(rootref, ops, source, hashtype)`` walks each op's key from the root,
in order, and answers the new root's blobref, every blob the caller must store
before answering (the root's included), the new directories decoded (to prime
a ``BlobCache``), and the normalized keys for the setroot event.  Nothing is
changed in place: directories on an op's path are copied on first write, the
rest of the tree is shared, so a failed transaction changes nothing.

flux-core's semantics, kept exactly:

* a put creates missing directories on its path and replaces a value met on
  it by a new directory; an unlink stops quietly where its path ends;
* a symlink met on the path is followed: the rest of the key is applied below
  its target, from the root; a link into another namespace is EINVAL;
  a link as the key's last component is replaced (put) or removed (unlink);
* at the end, every directory changed is written as a blob and named by a
  ``dirref`` (an inline ``dir`` a put brought in too), and a ``val`` longer
  than ``treeobj.INLINE_MAX`` in base64 becomes a ``valref`` to a raw blob;
* APPEND: to a missing key, a put; to a ``valref``, the new data's blob is
  added to it; to a ``val``, a ``valref`` of the old and the new data (two
  blobs, however short); to a symlink EOPNOTSUPP; to a directory EISDIR;
  an APPEND whose dirent is not a ``val`` is EPROTO;
* a put to ``"."`` is EINVAL; a dirent that is not a valid tree object is
  EINVAL; an op that does not decode is EPROTO (see ``txn.decode_op``);
* a blob on the path that is no tree object, or a ``dirref`` of more than one
  blob, is ENOTRECOVERABLE; a ``dirref`` to a non-directory is
  ENOTRECOVERABLE, or EINVAL where the key ends in it; a blob the source lacks
  raises what the source raises (ENOENT).

One difference: flux-core follows symlinks on a put's path without a bound
(a cycle exhausts its stack); here ``keypath.SYMLINK_CYCLE_LIMIT`` links are
followed per op, then ELOOP.

Merging (flux-core's ``kvstxn_mgr_merge_ready_transactions``) is plain
concatenation of the ops of a run of ready transactions, so there is no merge
function: ``merge_run`` says how long the run is, and ``retry_unmerged`` what
to do when the merged transaction fails (see there).
"""

from __future__ import annotations

import errno
import json as _json
from bisect import bisect_left

from flux.constants import FLUX_KVS_APPEND, FLUX_KVS_NO_MERGE, FLUX_KVS_SYNC
from flux.services.content import blobref as _blobref
from flux.services.kvs import keypath, treeobj
from flux.services.kvs.txn import decode_op, decode_val_data

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable, Sequence
    from typing import Any

    from flux.services.kvs.blobsource import BlobSource

__all__ = ["CommitResult", "apply", "merge_run", "retry_unmerged"]

_INLINE_MAX = treeobj.INLINE_MAX
_VERSION = treeobj.VERSION
_LOOP_LIMIT = keypath.SYMLINK_CYCLE_LIMIT
# A directory's bytes are put together here rather than by one json.dumps of
# the whole object (3x faster on a large directory); ``_json_str`` is the very
# function json.dumps(ensure_ascii=False) quotes strings with, and whatever
# needs a \u escape goes through ``treeobj.encode``, so the bytes are the same.
_json_str = _json.encoder.encode_basestring
_REF_SEP = '","'


class CommitResult:
    """What a transaction made: the new root, the blobs to store, the keys it touched."""

    __slots__ = ("blobs", "keys", "rootref", "treeobjs")

    def __init__(self, rootref: str, blobs: dict[str, bytes], keys: set[str],
                 treeobjs: dict[str, dict]) -> None:
        #: the new root directory's blobref
        self.rootref = rootref
        #: blobref -> bytes of every blob written (store them all before answering)
        self.blobs = blobs
        #: the ops' keys, normalized (the setroot event's ``keys``)
        self.keys = keys
        #: blobref -> the directory object each new dir blob decodes to, entries in
        #: the blob's order (shared with the ops: give them to a ``BlobCache``, never change)
        self.treeobjs = treeobjs

    def __repr__(self) -> str:
        return f"CommitResult({self.rootref!r}, {len(self.blobs)} blobs, {len(self.keys)} keys)"


class _Dir(dict):
    """A directory's entries being changed by this transaction (a private copy).

    ``origin`` is the blobref it was copied from (None for a new one) and
    ``touched`` the names set or removed since: writing it back splices those
    into the origin's text (see ``_PARTS``) instead of encoding every entry.
    """

    __slots__ = ("origin", "touched")

    def __init__(self, entries: dict | None = None, origin: str | None = None) -> None:
        super().__init__(entries or ())
        self.origin = origin
        self.touched: set[str] = set()

    def __setitem__(self, name: str, entry: Any) -> None:
        self.touched.add(name)
        dict.__setitem__(self, name, entry)

    def pop(self, name: str, *default: Any) -> Any:
        self.touched.add(name)
        return dict.pop(self, name, *default)


# The text of the directories written lately, by blobref: their names, sorted, and each
# entry's ``"name":{...}`` text in that order.  A directory is rewritten whole whenever
# one of its entries changes (RFC 11), so the next version of a large directory is
# spliced from its previous one: only the entries touched are encoded again.
# Bounded by the entries held (oldest versions dropped first): each version's lists are
# its own, though the strings in them are shared with the version before.
_PARTS: dict[str, tuple[list[str], list[str]]] = {}
_PARTS_BUDGET = 100_000
_parts_held = [0]


#: where a ``dirref`` on the path names something other than a directory
_NOT_DIR = object()


def _error(errnum: int, key: str) -> OSError:
    return keypath.error(errnum, key)


def _val_too_long(text: str) -> bool:
    """True if a ``val`` is stored as a blob (flux-core measures its UTF-8 length)."""
    return len(text) > _INLINE_MAX or not text.isascii() and len(text.encode("utf-8")) > _INLINE_MAX


def _plain_val(obj: object) -> bool:
    """True for a valid ``val`` (the common dirent), checked faster than ``treeobj.validate``."""
    return (type(obj) is dict and len(obj) == 3 and obj.get("type") == "val"
            and type(obj.get("data")) is str and type(obj.get("ver")) is int
            and obj["ver"] == _VERSION)


class _Txn:
    """One application: the working root, the loader, and what has been written."""

    __slots__ = ("blobs", "fresh", "hashtype", "head", "key", "load", "namespace", "node", "root",
                 "treeobjs")

    def __init__(self, load: Callable[[str], dict], hashtype: str, namespace: str) -> None:
        self.load = load
        self.hashtype = hashtype
        self.namespace = namespace
        self.root: Any = _NOT_DIR
        # the directory the last op walked to, and its key (the root's is "")
        self.head = ""
        self.node: Any = _NOT_DIR
        self.key = ""  # the op's key, for errors
        self.blobs: dict[str, bytes] = {}
        self.treeobjs: dict[str, dict] = {}
        # valrefs made here (id -> object, kept alive so ids stay unique): appended in place
        self.fresh: dict[int, dict] = {}

    # -- the walk --------------------------------------------------------------------

    def open_dir(self, dirref: dict) -> Any:
        """A private copy of the directory a ``dirref`` on the path names."""
        refs = dirref["data"]
        if len(refs) != 1:
            raise _error(errno.ENOTRECOVERABLE, self.key)
        obj = self.load(refs[0])
        if obj["type"] != "dir":
            return _NOT_DIR
        return _Dir(obj["data"], refs[0])

    def link(self, path: str, dirent: dict | None, flags: int) -> None:
        """Apply one op to its normalized key (flux-core's ``kvstxn_link_dirent``)."""
        self.key = path
        for _ in range(_LOOP_LIMIT + 1):
            if path == keypath.ROOT:
                raise _error(errno.EINVAL, self.key)
            head, _, name = path.rpartition(keypath.SEP)
            if head == self.head:
                node = self.node
            elif not head:  # a key in the root
                node = self.node = self.root
                self.head = ""
            else:
                node = self.walk(head, name, dirent)
                if node is None:  # unlinking below a missing key: nothing to do
                    self.head, self.node = "", self.root
                    return
                if type(node) is str:
                    path = node
                    continue
                if node is not _NOT_DIR:
                    self.head, self.node = head, node
            if type(node) is _Dir and not flags & FLUX_KVS_APPEND and _plain_val(dirent):
                node[name] = dirent  # the common put, checked
            else:
                self.set_entry(node, name, dirent, flags)
            return
        raise _error(errno.ELOOP, self.key)

    def walk(self, head: str, name: str, dirent: dict | None) -> Any:
        """The directory ``head`` names, made private on the way (and made if missing).

        None if an unlink need go no further; ``_NOT_DIR`` for a ``dirref`` to a
        non-directory at the end; the key to apply instead if a symlink is met.
        The last directory walked is remembered (``head``, ``node``): the next op
        in it skips the walk.  Only an op that changes a directory on that path
        could detach it, and that op walks (and is remembered) itself.
        """
        node: Any = self.root
        dirs = head.split(keypath.SEP)
        for i, comp in enumerate(dirs):
            if node is _NOT_DIR:
                raise _error(errno.ENOTRECOVERABLE, self.key)
            entry = node.get(comp)
            if type(entry) is _Dir:
                node = entry
                continue
            if entry is None:
                if dirent is None:
                    return None
                child: Any = _Dir()
            else:
                typ = entry["type"]
                if typ == "dirref":
                    child = self.open_dir(entry)
                    if child is _NOT_DIR:
                        node = child
                        continue
                elif typ == "dir":
                    child = _Dir(entry["data"])
                elif typ == "symlink":
                    return keypath.normalize(self.through_link(entry["data"], dirs[i + 1:], name))
                else:  # a value in the path
                    if dirent is None:
                        return None
                    child = _Dir()
            node[comp] = child
            node = child
        return node

    def through_link(self, link: dict, rest: list[str], name: str) -> str:
        """The key to apply instead, a symlink being met on the path (``rest``, ``name`` after it)."""
        namespace = link.get("namespace")
        if namespace is not None and namespace != self.namespace:
            raise _error(errno.EINVAL, self.key)  # a commit cannot cross namespaces
        return keypath.SEP.join((link["target"], *rest, name))

    def set_entry(self, node: Any, name: str, dirent: dict | None, flags: int) -> None:
        """The key's last component: put, append or unlink it in ``node``."""
        if dirent is None:
            if node is _NOT_DIR:
                raise _error(errno.EINVAL, self.key)
            node.pop(name, None)
        elif flags & FLUX_KVS_APPEND:
            self.append(node, name, dirent)
        else:
            if node is _NOT_DIR:
                raise _error(errno.EINVAL, self.key)
            if not _plain_val(dirent):
                treeobj.validate(dirent)
            node[name] = dirent

    def append(self, node: Any, name: str, dirent: dict) -> None:
        """APPEND ``dirent`` (a ``val``) to entry ``name`` (flux-core's ``kvstxn_append``)."""
        if treeobj.type_name(dirent) != "val":
            raise _error(errno.EPROTO, self.key)
        treeobj.validate(dirent)
        if node is _NOT_DIR:
            raise _error(errno.EINVAL, self.key)
        entry = node.get(name)
        if entry is None:
            node[name] = dirent
            return
        if type(entry) is _Dir:
            raise _error(errno.EISDIR, self.key)
        typ = entry["type"]
        if typ == "valref":
            ref = self.store_raw(dirent["data"])
            if id(entry) in self.fresh:
                entry["data"].append(ref)
                return
            refs = [*entry["data"], ref]
        elif typ == "val":
            refs = [self.store_raw(entry["data"]), self.store_raw(dirent["data"])]
        elif typ == "symlink":
            raise _error(errno.EOPNOTSUPP, self.key)
        elif typ in ("dir", "dirref"):
            raise _error(errno.EISDIR, self.key)
        else:  # pragma: no cover - entries are validated
            raise _error(errno.ENOTRECOVERABLE, self.key)
        valref = {"data": refs, "type": "valref", "ver": _VERSION}
        self.fresh[id(valref)] = valref
        node[name] = valref

    # -- writing ----------------------------------------------------------------------

    def store_raw(self, text: str) -> str:
        """Store the bytes a ``val``'s base64 holds; their blobref (EPROTO if not base64)."""
        try:
            data = decode_val_data(text)
        except OSError:
            raise _error(errno.EPROTO, self.key) from None
        ref = _blobref.hash_blobref(self.hashtype, data)
        self.blobs[ref] = data
        return ref

    def entry_text(self, entry: Any) -> tuple[dict, str]:
        """The dirent to store for ``entry`` (a written-out dir, a long val made a
        valref) and its JSON text; child directories are written first.

        The dirent kept is in the blob's key order (what decoding the blob gives), not
        the order the committing client wrote: lookups answer it as flux-core does."""
        if type(entry) is _Dir:
            ref = self.store_dir(entry)
            return ({"data": [ref], "type": "dirref", "ver": _VERSION},
                    f'{{"data":["{ref}"],"type":"dirref","ver":1}}')
        typ = entry["type"]
        if typ == "val":
            data = entry["data"]
            if len(data) > _INLINE_MAX or not data.isascii() and _val_too_long(data):
                ref = self.store_raw(data)
                return ({"data": [ref], "type": "valref", "ver": _VERSION},
                        f'{{"data":["{ref}"],"type":"valref","ver":1}}')
            return ({"data": data, "type": "val", "ver": _VERSION},
                    f'{{"data":{_json_str(data)},"type":"val","ver":1}}')
        if typ == "dirref" or typ == "valref":
            # validated blobrefs: nothing to escape
            refs = entry["data"]
            return ({"data": refs, "type": typ, "ver": _VERSION},
                    f'{{"data":["{_REF_SEP.join(refs)}"],"type":"{typ}","ver":1}}')
        if typ == "dir":
            ref = self.store_dir(entry["data"])
            return ({"data": [ref], "type": "dirref", "ver": _VERSION},
                    f'{{"data":["{ref}"],"type":"dirref","ver":1}}')
        text = _json.dumps(entry, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        return _json.loads(text), text

    def store_dir(self, entries: dict) -> str:
        """Write a directory (its inline dirs and long vals first, depth first); its blobref."""
        origin = getattr(entries, "origin", None)
        cached = _PARTS.get(origin) if origin is not None else None
        entry_text = self.entry_text
        if cached is not None and len(entries.touched) * 4 < len(cached[0]):  # type: ignore[attr-defined]
            # splice the touched names into the origin's text
            names, parts = list(cached[0]), list(cached[1])
            out = dict(entries)
            for name in sorted(entries.touched):  # type: ignore[attr-defined]
                i = bisect_left(names, name)
                present = i < len(names) and names[i] == name
                entry = entries.get(name)
                if entry is None:
                    if present:
                        del names[i], parts[i]
                    continue
                out[name], text = entry_text(entry)
                part = f"{_json_str(name)}:{text}"
                if present:
                    parts[i] = part
                else:
                    names.insert(i, name)
                    parts.insert(i, part)
        else:
            out = {}
            names = sorted(entries)
            parts = []
            for name in names:
                out[name], text = entry_text(entries[name])
                parts.append(f"{_json_str(name)}:{text}")
        obj = {"data": out, "type": "dir", "ver": _VERSION}
        text = '{"data":{' + ",".join(parts) + '},"type":"dir","ver":1}'
        try:
            if "\\u" in text:  # an escape jansson writes differently: its own encoder
                data = treeobj.encode(obj)
            else:
                data = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: no JSON flux-core would have parsed
            raise _error(errno.EPROTO, self.key) from None
        ref = _blobref.hash_blobref(self.hashtype, data)
        if 32 <= len(names) <= _PARTS_BUDGET and ref not in _PARTS:
            # small directories are cheap to encode whole
            held = _parts_held[0] + len(names)
            while held > _PARTS_BUDGET:
                held -= len(_PARTS.pop(next(iter(_PARTS)))[0])
            _PARTS[ref] = (names, parts)
            _parts_held[0] = held
        self.blobs[ref] = data
        self.treeobjs[ref] = obj
        return ref


def _loader(source: BlobSource) -> Callable[[str], dict]:
    """``load(blobref) -> tree object``: ENOTRECOVERABLE if the blob holds none."""
    load_treeobj = getattr(source, "load_treeobj", None)

    def load(blobref: str) -> dict:
        try:
            if load_treeobj is not None:
                return load_treeobj(blobref)
            return treeobj.decode(source.load(blobref))
        except OSError as err:
            if err.errno != errno.EPROTO:
                raise
            raise OSError(errno.ENOTRECOVERABLE, f"{blobref}: not a tree object") from None

    return load


def apply(rootref: str, ops: Sequence[dict], source: BlobSource, hashtype: str = "sha1",
          namespace: str = "primary") -> CommitResult:
    """Apply ``ops`` in order to the tree at ``rootref``; the new root and what to store.

    ``source`` gives the blobs (``load``, and ``load_treeobj`` if it has one);
    ``hashtype`` is the instance's ``content.hash``; ``namespace`` is the
    namespace committed to (a symlink into any other is EINVAL).  OSError with
    flux-core's errno on failure, nothing changed.  ``ops`` that are not a
    list (or tuple) are no ops, as flux-core counts a non-array; no ops give
    back ``rootref`` itself (its blob still has to be a tree object), nothing
    to store, no keys.  ``ops`` are not changed, but the new directories share
    their dirents.
    """
    load = _loader(source)
    root = load(rootref)
    if not isinstance(ops, (list, tuple)) or not ops:
        return CommitResult(rootref, {}, set(), {})
    try:
        _blobref.digest_size(hashtype)
    except (ValueError, TypeError):
        raise OSError(errno.EINVAL, f"unknown hash type {hashtype!r}") from None
    txn = _Txn(load, hashtype, namespace)
    txn.root = txn.node = _Dir(root["data"], rootref) if root["type"] == "dir" else _NOT_DIR
    keys = set()
    normalize = keypath.normalize
    link = txn.link
    for op in ops:
        key, flags, dirent = decode_op(op)
        # most keys are already normalized: no empty component, no dot at either end
        if ".." in key or key[:1] == "." or key[-1:] == ".":
            key = normalize(key)
        link(key, dirent, flags)
        keys.add(key)
    if txn.root is _NOT_DIR:  # pragma: no cover - every op would have failed
        raise OSError(errno.ENOTRECOVERABLE, "root is not a directory")
    newroot = txn.store_dir(txn.root)
    return CommitResult(newroot, txn.blobs, keys, txn.treeobjs)


# -- merging ------------------------------------------------------------------------------


def _mergeable(flags: int) -> bool:
    return not flags & (FLUX_KVS_NO_MERGE | FLUX_KVS_SYNC)


def merge_run(flags: Sequence[int]) -> int:
    """How many of the ready transactions, from the head of the queue, merge into one.

    ``flags`` are their commit flags in queue order.  As flux-core: the head
    and the ones after it merge while each has the head's flags exactly and
    neither ``FLUX_KVS_NO_MERGE`` nor ``FLUX_KVS_SYNC``; fewer than two is no
    merge (0).  Only adjacent ones merge, so no op passes another.  The merged
    transaction is the concatenation of their ops in that order (its keys the
    union, its names all of theirs), applied as one.
    """
    if not flags or not _mergeable(flags[0]):
        return 0
    head = flags[0]
    count = 1
    while count < len(flags) and flags[count] == head:
        count += 1
    return count if count > 1 else 0


def retry_unmerged(errnum: int) -> bool:
    """Whether a failed merged transaction is retried as its parts, one at a time.

    flux-core does so (each part with ``FLUX_KVS_NO_MERGE`` added, so it is
    not merged again, and at the head of the queue in its old order) unless
    the error is ENOMEM or ENOTSUP (the namespace is gone), where every part
    fails with that errno.  A part then fails or succeeds on its own.
    """
    return errnum not in (errno.ENOMEM, errno.ENOTSUP)

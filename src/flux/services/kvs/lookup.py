"""Resolve a KVS key in a tree, as flux-core's KVS lookup does, without I/O.

The walk starts at a root (a blobref, or a ``dirref``/``dir`` tree object),
loads each directory it passes through from a blob source (see
``blobsource.py``; its ``load_treeobj`` when it has one), follows symlinks,
and answers the tree object the key names, shaped by the lookup flags
(``FLUX_KVS_READDIR``, ``FLUX_KVS_READLINK``, ``FLUX_KVS_TREEOBJ``).  Errors
are OSError with flux-core's errno:

* ENOENT: a component is missing, or a value sits where a directory is needed
  (flux-core answers ENOENT there, not ENOTDIR);
* EISDIR: a directory without READDIR; ENOTDIR: READDIR on a value or symlink;
* EINVAL: READLINK on anything but a symlink, or a root that is not a directory;
* ELOOP: symlinks nested deeper than ``SYMLINK_CYCLE_LIMIT``;
* EPROTO: a final symlink without READLINK (cannot happen: it is followed);
* ENOTRECOVERABLE: a corrupt tree (a ``dirref`` to a non-directory, an
  inline ``dir`` in the middle of a key: commits store every dir as a ``dirref``);
* whatever the blob source raises for a missing blob (ENOENT).

A symlink into another namespace needs that namespace's root: the caller
passes ``namespace_root(name) -> blobref`` (which may raise ENOTSUP for an
unknown namespace or EPERM, as flux-core does); without it the walk raises
``MissingNamespace``, for the caller to resolve the name and look up again.
As in flux-core, a link to ``"."`` of another namespace changes the directory
but not the root that later links in the key are resolved from.

One deliberate difference: flux-core 0.88, given READLINK or TREEOBJ, does not
follow a chain of symlinks met in the *middle* of a key (a -> b -> dir, key
``a.x``) and reports ENOTRECOVERABLE; here such a chain is followed, since
only the key's final component is what READLINK is about.
"""

from __future__ import annotations

import errno

from flux.constants import FLUX_KVS_READDIR, FLUX_KVS_READLINK, FLUX_KVS_TREEOBJ
from flux.services.kvs import keypath, treeobj

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from flux.services.kvs.blobsource import BlobSource

__all__ = ["MissingNamespace", "lookup"]

#: the length limit flux-core puts on an assembled value (it sums lengths in an int)
_VALUE_MAX = 2**31 - 1
_NO_FOLLOW = FLUX_KVS_READLINK | FLUX_KVS_TREEOBJ


class MissingNamespace(OSError):
    """A symlink leads into ``namespace``, whose root the caller must supply.

    Its errno is ENOTSUP, flux-core's answer when the namespace does not exist,
    so a caller that cannot resolve it may pass it on as is.
    """

    def __init__(self, namespace: str) -> None:
        super().__init__(errno.ENOTSUP, f"namespace {namespace!r} needed")
        self.namespace = namespace


#: the last blobref root looked up and its dirref (a namespace's root is looked up again
#: and again): checking a blobref costs more than the rest of a short lookup
_last_root: list = [None, None]


def _root_dirent(root: str | dict) -> dict:
    """The root as a walkable tree object; EINVAL if it is neither a blobref nor a directory."""
    if isinstance(root, str):
        if root == _last_root[0]:
            return _last_root[1]
        dirent = treeobj.create_dirref(root)  # EINVAL for a bad blobref
        _last_root[:] = (root, dirent)
        return dirent
    treeobj.validate(root)
    typ = treeobj.get_type(root)
    if typ not in ("dirref", "dir") or typ == "dirref" and len(root["data"]) != 1:
        raise OSError(errno.EINVAL, "lookup root is not a directory")
    return root


class _Walk:
    """One lookup's state: where blobs come from, the flags, the key for errors."""

    __slots__ = ("blobs", "copy", "flags", "key", "load_treeobj", "namespace_root")

    def __init__(self, blobs: BlobSource, flags: int, key: str,
                 namespace_root: Callable[[str], str] | None, share: bool = False) -> None:
        self.copy = _share if share else _deep_copy
        self.blobs = blobs
        self.flags = flags
        self.key = key
        self.namespace_root = namespace_root
        # the source's decoded-object fast path, if it has one (its objects are shared)
        self.load_treeobj = getattr(blobs, "load_treeobj", None)

    def own_dir(self, dirref: dict, bad_errno: int, not_dir_errno: int | None = None) -> dict:
        """``load_dir``, as an object the caller may keep."""
        obj = self.load_dir(dirref, bad_errno, not_dir_errno)
        return obj if self.load_treeobj is None else self.copy(obj)

    def load_dir(self, dirref: dict, bad_errno: int, not_dir_errno: int | None = None) -> dict:
        """The ``dir`` a single-blob ``dirref`` names.

        ``bad_errno`` if the blob is no tree object, ``not_dir_errno`` (default
        the same) if it is one but not a ``dir``: flux-core's answers differ by place.
        """
        data = dirref["data"]
        if len(data) != 1:
            raise keypath.error(errno.ENOTRECOVERABLE, self.key)
        try:
            if self.load_treeobj is not None:
                obj = self.load_treeobj(data[0])  # shared: never changed here, copied out
            else:
                obj = treeobj.decode(self.blobs.load(data[0]))
        except OSError as err:
            if err.errno != errno.EPROTO:
                raise
            raise keypath.error(bad_errno, self.key) from None
        if obj["type"] != "dir":
            raise keypath.error(bad_errno if not_dir_errno is None else not_dir_errno, self.key)
        return obj

    def walk(self, root: dict, comps: list[str], depth: int, final: bool) -> dict | None:
        """The dirent ``comps`` name below ``root``, or None if missing (ENOENT to the caller).

        ``depth`` counts the symlinks being resolved around this walk; ``final``
        says whether this walk's last component is the key's last one.
        """
        dirent = root
        last = len(comps) - 1
        for i, comp in enumerate(comps):
            typ = dirent["type"]
            if typ == "dirref":
                # a bad root given by the user is EINVAL; anything deeper is corruption
                user_root = depth == 0 and dirent is root
                directory = self.load_dir(
                    dirent, errno.EINVAL if user_root else errno.ENOTRECOVERABLE)
            elif typ == "dir" and dirent is root:
                directory = dirent  # a root the caller gave as a dir object
            elif typ in ("val", "valref"):
                return None
            else:
                raise keypath.error(errno.ENOTRECOVERABLE, self.key)
            entry = directory["data"].get(comp)
            if entry is None:
                return None
            if entry["type"] == "symlink" and not (
                    final and i == last and self.flags & _NO_FOLLOW):
                entry = self.follow(entry, root, depth)
                if entry is None:
                    return None
            dirent = entry
        return dirent

    def follow(self, link: dict, root: dict, depth: int) -> dict | None:
        """The dirent a symlink leads to (its target walked from the root of its namespace)."""
        if depth == keypath.SYMLINK_CYCLE_LIMIT:
            raise keypath.error(errno.ELOOP, self.key)
        namespace, target = treeobj.get_symlink(link)
        if namespace is not None:
            if self.namespace_root is None:
                raise MissingNamespace(namespace)
            root = treeobj.create_dirref(self.namespace_root(namespace))
        if target == keypath.ROOT:
            return root
        return self.walk(root, target.split(keypath.SEP), depth + 1, False)

    def value(self, dirent: dict) -> dict:
        """The answer for the dirent the key names, as the flags ask for it."""
        flags = self.flags
        if flags & FLUX_KVS_TREEOBJ:
            return self.copy(dirent)
        typ = dirent["type"]
        if typ == "symlink":
            if not flags & FLUX_KVS_READLINK:
                raise keypath.error(errno.EPROTO, self.key)
            if flags & FLUX_KVS_READDIR:
                raise keypath.error(errno.ENOTDIR, self.key)
            return self.copy(dirent)
        if flags & FLUX_KVS_READLINK:
            raise keypath.error(errno.EINVAL, self.key)
        if typ in ("dir", "dirref"):
            if not flags & FLUX_KVS_READDIR:
                raise keypath.error(errno.EISDIR, self.key)
            if typ == "dir":
                return self.copy(dirent)
            return self.own_dir(dirent, errno.ENOTRECOVERABLE)
        if flags & FLUX_KVS_READDIR:
            raise keypath.error(errno.ENOTDIR, self.key)
        if typ == "val":
            return self.copy(dirent)
        return self.assemble(dirent)

    def assemble(self, valref: dict) -> dict:
        """A ``val`` holding the concatenated blobs of a ``valref``."""
        refs = valref["data"]
        if not refs:
            raise keypath.error(errno.ENOTRECOVERABLE, self.key)
        parts = [self.blobs.load(ref) for ref in refs]
        if sum(len(p) for p in parts) > _VALUE_MAX:
            raise keypath.error(errno.EOVERFLOW, self.key)
        return treeobj.create_val(b"".join(parts))


def _deep_copy(obj: dict) -> dict:
    """A copy of a validated tree object (dicts, lists of strings, scalars), for the caller
    to keep: several times faster than ``copy.deepcopy``."""
    return {k: _deep_copy(v) if type(v) is dict else [*v] if type(v) is list else v
            for k, v in obj.items()}


def _share(obj: dict) -> dict:
    return obj


def lookup(root: str | dict, key: str, blobs: BlobSource, flags: int = 0,
           namespace_root: Callable[[str], str] | None = None, share: bool = False) -> dict:
    """The tree object ``key`` names in the tree at ``root`` (see the module docstring).

    The result is a copy the caller may keep: a ``val`` (a ``valref``'s blobs
    assembled) for a value, a ``dir`` with READDIR, a ``symlink`` with READLINK,
    the entry itself with TREEOBJ (the root as a ``dirref`` for ``"."``).  With
    ``share`` it may instead be an object the blob source keeps, for a caller that
    serializes it at once and never changes it (the KVS service answering a request).
    """
    path = keypath.normalize(key)
    root_dirent = _root_dirent(root)
    walk = _Walk(blobs, flags, path, namespace_root, share)
    if path == keypath.ROOT:
        if flags & FLUX_KVS_TREEOBJ:
            return walk.copy(root_dirent)
        if not flags & FLUX_KVS_READDIR:
            raise keypath.error(errno.EISDIR, path)
        if root_dirent["type"] == "dir":
            return walk.copy(root_dirent)
        return walk.own_dir(root_dirent, errno.EINVAL, errno.ENOTRECOVERABLE)
    dirent = walk.walk(root_dirent, path.split(keypath.SEP), 0, True)
    if dirent is None:
        raise keypath.error(errno.ENOENT, path)
    return walk.value(dirent)

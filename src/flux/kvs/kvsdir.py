"""Directories: :class:`KVSDir`, a mutable mapping over a KVS directory, and ``walk``.

A KVSDir lists the directory as it was when it was made (a snapshot:
iteration, ``len``, ``files()``), reads items with fresh lookups, and stages
writes in a transaction that subdirectories reached with ``[]`` share, so
one ``commit()`` covers them all.  :func:`get` lives here because a key that
is a directory reads as a KVSDir.
"""

from __future__ import annotations

import errno
from collections.abc import MutableMapping

from flux.constants import FLUX_KVS_READDIR
from flux.kvs.errors import error
from flux.kvs.lookups import exists as _exists
from flux.kvs.lookups import get_key_direct, lookup
from flux.kvs.txn import KVSTxn

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Iterator, Mapping, Optional

    from flux.core.handle import Flux
    from flux.kvs.roots import RootFuture

__all__ = ["KVSDir", "get", "get_dir", "join", "walk"]


def get_dir(flux_handle: "Flux", key: str = ".", namespace: Optional[str] = None,
            _kvstxn: Optional[KVSTxn] = None) -> "KVSDir":
    """The directory ``key`` (default the root); ENOENT if missing, ENOTDIR if a value."""
    return KVSDir(path=key, flux_handle=flux_handle, namespace=namespace, _kvstxn=_kvstxn)


def get(flux_handle: "Flux", key: str, namespace: Optional[str] = None,
        _kvstxn: Optional[KVSTxn] = None) -> Any:
    """The value of ``key`` (decoded JSON, else str, else bytes), or a KVSDir for a directory."""
    try:
        return get_key_direct(flux_handle, key, namespace=namespace)
    except OSError as err:
        if err.errno != errno.EISDIR:
            raise
    return get_dir(flux_handle, key, namespace=namespace, _kvstxn=_kvstxn)


def _is_dir_entry(entry: dict[str, Any]) -> bool:
    return entry.get("type") in ("dir", "dirref")


class KVSDir(MutableMapping[str, "Any"]):  # quoted: typing is imported for type checkers only
    """The KVS directory ``path`` as a mapping; a context manager that commits on exit.

    ``handle`` may give the directory as a ``dir`` tree object instead of
    looking it up.
    """

    def __init__(self, flux_handle: Optional["Flux"] = None, path: str = ".",
                 handle: Optional[dict[str, Any]] = None, namespace: Optional[str] = None,
                 _kvstxn: Optional[KVSTxn] = None) -> None:
        super().__init__()
        self.fhdl: Any = flux_handle  # None: a KVSDir made from a tree object
        self.path = path
        if not path or path == ".":
            self._path = ""
        else:
            self._path = path if path[-1] == "." else path + "."
        self.namespace = namespace
        if handle is None:
            if flux_handle is None:
                raise ValueError("flux_handle must be a valid Flux object or "
                                 "handle must be a valid kvsdir tree object")
            handle = lookup(flux_handle, path, FLUX_KVS_READDIR, namespace).get_dir()
        elif not isinstance(handle, dict) or handle.get("type") != "dir":
            raise error(errno.EINVAL)
        self._dir: dict[str, Any] = handle["data"]
        # Writes go to absolute keys (self._path + key) so that subdirectories
        # reached through [] can share this transaction.
        self.kvstxn = _kvstxn if _kvstxn is not None else KVSTxn(flux_handle, ".",
                                                                 namespace=namespace)

    def commit(self, flags: int = 0) -> None:
        """Commit the changes staged here (and in subdirectories reached with ``[]``)."""
        try:
            self.kvstxn.commit(flags=flags)
        finally:
            self.kvstxn.clear()

    def commit_async(self, flags: int = 0) -> "RootFuture":
        """Commit without waiting; the future's ``get()`` is ``{"rootref", "rootseq"}``."""
        return self.kvstxn.commit_async(flags=flags)

    def key_at(self, key: str) -> str:
        """The full key of ``key`` in this directory."""
        path = self.path
        if path == "." or not path:
            return key
        return path + key if path[-1] == "." else f"{path}.{key}"

    def exists(self, name: str) -> bool:
        """True if ``name`` (relative, dotted names allowed) exists now."""
        return _exists(self.fhdl, self._path + name, namespace=self.namespace)

    def __getitem__(self, key: str) -> Any:
        try:
            return get(self.fhdl, self.key_at(key), namespace=self.namespace,
                       _kvstxn=self.kvstxn)
        except OSError:
            raise KeyError(f"{key} not found under directory {self.key_at('')}") from None

    def __setitem__(self, key: str, value: Any) -> None:
        self.kvstxn.put(self._path + key, value)

    def __delitem__(self, key: str) -> None:
        self.kvstxn.unlink(self._path + key)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._dir))

    def __len__(self) -> int:
        return len(self._dir)

    def fill(self, contents: Mapping[str, Any]) -> None:
        """Set every key of ``contents`` (dotted keys make subdirectories), then commit."""
        if contents is None:
            raise ValueError("contents must be non-None")
        try:
            for key, val in contents.items():
                self[key] = val
        finally:
            self.commit()

    def mkdir(self, key: str, contents: Optional[Mapping[str, Any]] = None) -> None:
        """Create the subdirectory ``key`` now (commits), then ``fill()`` it with ``contents``."""
        self.kvstxn.mkdir(self._path + key)
        self.commit()
        if contents is not None:
            KVSDir(self.fhdl, self._path + key, namespace=self.namespace).fill(contents)

    def files(self) -> Iterator[str]:
        """Names of the entries that are not directories."""
        for name in self:
            if not _is_dir_entry(self._dir[name]):
                yield name

    def directories(self) -> Iterator[str]:
        """Names of the subdirectories."""
        for name in self:
            if _is_dir_entry(self._dir[name]):
                yield name

    def list_all(self) -> tuple[list[str], list[str]]:
        """``(files, directories)``."""
        files: list[str] = []
        dirs: list[str] = []
        for name in self:
            (dirs if _is_dir_entry(self._dir[name]) else files).append(name)
        return files, dirs

    def watch(self, key: str, waitcreate: bool = False, uniq: bool = False,
              full: bool = False) -> Any:
        """A ``KVSWatchFuture`` on the value ``key`` below this directory: its value now,
        then at each change (``kvs_watch_async``'s options; a directory is EISDIR, as
        there).  flux-core's KVSDir lost its watch methods in 2019; this is their modern
        form."""
        from flux.kvs.watch import kvs_watch_async

        return kvs_watch_async(self.fhdl, self.key_at(key), namespace=self.namespace,
                               waitcreate=waitcreate, uniq=uniq, full=full)

    def watch_once(self, key: str) -> Any:
        """Wait for the next change of ``key`` (older flux-core's ``watch_once``); its value
        then (None once it is removed)."""
        future = self.watch(key, full=True)
        try:
            future.get()  # the value now
            return future.get()  # the next one
        except OSError as err:
            if err.errno == errno.ENOENT:
                return None
            raise
        finally:
            future.cancel()

    def __enter__(self) -> "KVSDir":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.commit()


def join(*args: str) -> str:
    """Join key parts with dots, skipping empty ones (for use with :func:`walk`)."""
    return ".".join(a for a in args if len(a) > 0)


def _inner_walk(kvsdir: KVSDir, curr_dir: str, topdown: bool,
                namespace: Optional[str]) -> Iterator[tuple[str, Iterator[str], Iterator[str]]]:
    if topdown:
        yield (curr_dir, kvsdir.directories(), kvsdir.files())
    for directory in kvsdir.directories():
        sub = get_dir(kvsdir.fhdl, kvsdir.key_at(directory), namespace=namespace)
        yield from _inner_walk(sub, join(curr_dir, directory), topdown, namespace)
    if not topdown:
        yield (curr_dir, kvsdir.directories(), kvsdir.files())


def walk(directory: KVSDir | str, topdown: bool = False, flux_handle: Optional["Flux"] = None,
         namespace: Optional[str] = None) -> Iterator[tuple[str, Iterator[str], Iterator[str]]]:
    """Walk a directory as ``os.walk`` does: ``(relative path, directories, files)``.

    ``directory`` is a KVSDir, or a key (then ``flux_handle`` is required:
    ValueError at once without it).
    """
    if not isinstance(directory, KVSDir):
        if flux_handle is None:
            raise ValueError("If directory is a key, flux_handle must be specified")
        directory = KVSDir(flux_handle, directory, namespace=namespace)
    return _inner_walk(directory, "", topdown, namespace)

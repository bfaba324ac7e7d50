"""KVS snapshots as tar archives, in the layout flux-core's ``flux dump``/``flux restore`` use.

An archive holds one regular file per value key (its path is the key with
``/`` for ``.``, its contents the raw value) and one symbolic link per KVS
symlink (the target, prefixed ``NAMESPACE::`` when the link names a
namespace).  Directories are not archived, so empty ones are lost, as with
flux-core.  A file from a ``val`` carries mtime 0 and owner 0, a file from a
``valref`` the dump's time and owner: flux-core's dump stamps only those.

Sans I/O: :func:`walk` reads a tree through a ``load(blobref) -> bytes``
callable, :func:`restore` builds one through ``store(bytes) -> blobref``, so
the commands (RPCs) and the broker (its own content store) share them.
"""

from __future__ import annotations

import errno
import os
import tarfile

from flux.services.kvs import treeobj

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Callable, Iterator, NamedTuple, Optional, Union
else:
    from typing import NamedTuple

__all__ = ["ArchiveError", "DumpEntry", "ReadFailure", "add_entry", "open_reader",
           "open_writer", "restore", "walk", "writer_mode"]

#: flux-core's libarchive picks the format from the name's end: POSIX tar, maybe compressed
_SUFFIX_MODES = ((".tar", "w"), (".tgz", "w:gz"), (".tar.gz", "w:gz"),
                 (".tar.bz2", "w:bz2"), (".tar.xz", "w:xz"))

#: restore keeps a value shorter than this inline (flux-core: BLOBREF_MAX_STRING_SIZE)
_INLINE_LIMIT = 72


class ArchiveError(Exception):
    """A fatal problem with an archive or a tree: one line of text."""


class DumpEntry(NamedTuple):
    """One archived key: a regular file (``data``) or a symlink (``target``)."""

    path: str
    data: bytes = b""
    target: Optional[str] = None
    from_ref: bool = False  # a valref: flux-core stamps its mtime and owner


class ReadFailure(NamedTuple):
    """Content that could not be loaded (a missing blob): fatal unless
    ``--ignore-failed-read``; the key (or directory) is skipped."""

    text: str


# -- dump --------------------------------------------------------------------------------


def writer_mode(path: str) -> str:
    """The tarfile mode for an output file named ``path``; ArchiveError as flux-core's
    libarchive words an unknown suffix."""
    for suffix, mode in _SUFFIX_MODES:
        if path.endswith(suffix) and len(path) > len(suffix):
            return mode
    raise ArchiveError(f"No such format '{path}'")


def open_writer(path: str, stdout: Optional[IO[bytes]] = None) -> tarfile.TarFile:
    """A tar writer on ``path`` (``-``: uncompressed on ``stdout``); ArchiveError."""
    if path == "-":
        assert stdout is not None
        return tarfile.open(fileobj=stdout, mode="w|", format=tarfile.PAX_FORMAT,
                            encoding="utf-8")
    mode = writer_mode(path)
    try:
        return tarfile.open(path, mode,  # type: ignore[call-overload]
                            format=tarfile.PAX_FORMAT, encoding="utf-8")
    except OSError:
        raise ArchiveError(f"Failed to open '{path}'") from None


def add_entry(tar: tarfile.TarFile, entry: DumpEntry, mtime: int, uid: int, gid: int) -> None:
    """Write one entry as flux-core does: mode 0644, time and owner for valrefs only."""
    import io

    info = tarfile.TarInfo(entry.path)
    info.mode = 0o644
    if entry.target is not None:
        info.type = tarfile.SYMTYPE
        info.linkname = entry.target
        tar.addfile(info)
        return
    info.size = len(entry.data)
    if entry.from_ref:
        info.mtime, info.uid, info.gid = mtime, uid, gid
    else:
        info.mtime = 0
    tar.addfile(info, io.BytesIO(entry.data))


def walk(rootref: str, load: Callable[[str], bytes],
         sep: str = "/") -> Iterator[Union[DumpEntry, ReadFailure]]:
    """Every value and symlink under the directory ``rootref``, depth first in name order.

    A blob ``load`` cannot give (OSError) is a :class:`ReadFailure` and its key
    or subtree is skipped; a tree that is not one (bad object, a dirref to a
    value) raises ArchiveError, as flux-core's tree walk stops there."""
    stack: list[tuple[str, dict]] = [(".", treeobj.create_dirref(rootref))]
    while stack:
        path, obj = stack.pop()
        try:
            typ = treeobj.get_type(obj)
        except OSError:
            raise ArchiveError(f"{path}: invalid tree object") from None
        if typ == "dirref":
            refs = treeobj.get_data(obj)
            if len(refs) != 1:
                raise ArchiveError(f"{path}: dirref blobref count is not 1")
            try:
                blob = load(refs[0])
            except OSError as exc:
                yield ReadFailure(f"{path}: could not load content: {_strerror(exc)}")
                continue
            try:
                obj = treeobj.decode(blob)
            except OSError:
                raise ArchiveError(f"{path}: could not decode tree object") from None
            if treeobj.get_type(obj) != "dir":
                raise ArchiveError(f"{path}: dirref references non-directory")
            typ = "dir"
        if typ == "dir":
            entries = treeobj.get_data(obj)
            prefix = "" if path == "." else path + sep
            # reversed onto the stack: popped (and archived) in name order
            for name in sorted(entries, reverse=True):
                stack.append((prefix + name, entries[name]))
        elif typ == "val":
            try:
                yield DumpEntry(path, treeobj.decode_val(obj))
            except OSError:
                raise ArchiveError(f"{path}: invalid value object") from None
        elif typ == "valref":
            parts = []
            for index, ref in enumerate(treeobj.get_data(obj)):
                try:
                    parts.append(load(ref))
                except OSError as exc:
                    yield ReadFailure(f"{path}: missing blobref {index}: {_strerror(exc)}")
                    break
            else:
                yield DumpEntry(path, b"".join(parts), from_ref=True)
        elif typ == "symlink":
            ns, target = treeobj.get_symlink(obj)
            yield DumpEntry(path, target=target if ns is None else f"{ns}::{target}")
        else:
            raise ArchiveError(f"{path}: invalid tree object")


def _strerror(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


# -- restore -----------------------------------------------------------------------------


def open_reader(path: str, stdin: Optional[IO[bytes]] = None) -> Optional[tarfile.TarFile]:
    """A tar reader on ``path`` (``-``: ``stdin``, a buffered reader), compressed in any way
    tarfile knows; None for an empty input (libarchive reads it as an empty archive);
    ArchiveError."""
    try:
        if path == "-":
            assert stdin is not None
            if not stdin.peek(1):  # type: ignore[attr-defined]
                return None
            return tarfile.open(fileobj=stdin, mode="r|*", encoding="utf-8")
        if os.path.isfile(path) and os.path.getsize(path) == 0:
            return None
        return tarfile.open(path, "r:*", encoding="utf-8")
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise ArchiveError(f"Failed to open '{path}'") from None
    except (tarfile.TarError, OSError, EOFError):
        raise ArchiveError("Unrecognized archive format") from None


class Restored(NamedTuple):
    rootref: str
    timestamp: int  # the newest entry's mtime: the checkpoint's time
    keys: int
    blobs: int


def restore(tar: Optional[tarfile.TarFile], store: Callable[[bytes], str],
            size_limit: int = 0,
            progress: Optional[Callable[[int, int], None]] = None,
            restored: Optional[Callable[[str, Optional[str]], None]] = None,
            skipped: Optional[Callable[[str, int], None]] = None) -> Restored:
    """Store every file and symlink of ``tar`` (None: empty) as a KVS tree; its root.

    Values shorter than 72 bytes stay inline, longer ones become a valref of
    one blob, and directories are stored bottom-up, as flux-core's restore does
    (same tree, same root blobref).  ``progress(blobs, keys)`` counts as it
    goes, ``restored(path, target)`` names each key, ``skipped(path, size)``
    each file over ``size_limit`` (> 0).  Errors: ArchiveError (bad archive,
    a path through a value), OSError from ``store``."""
    root = treeobj.create_dir()
    newest = 0
    keys = blobs = 0

    def count(nblobs: int, nkeys: int) -> None:
        nonlocal keys, blobs
        keys += nkeys
        blobs += nblobs
        if progress is not None:
            progress(nblobs, nkeys)

    try:
        for member in (tar if tar is not None else ()):
            newest = max(newest, int(member.mtime))
            if member.issym():
                target = member.linkname
                ns, sep, rest = target.partition("::")
                obj = (treeobj.create_symlink(rest, ns) if sep
                       else treeobj.create_symlink(target))
                _insert(root, member.name, obj)
                count(0, 1)
                if restored is not None:
                    restored(member.name, target)
            elif member.isreg():
                if size_limit > 0 and member.size > size_limit:
                    if skipped is not None:
                        skipped(member.name, member.size)
                    continue
                assert tar is not None
                fobj = tar.extractfile(member)
                data = fobj.read() if fobj is not None else b""
                if len(data) != member.size:
                    raise ArchiveError("short read from archive")
                if len(data) < _INLINE_LIMIT:
                    _insert(root, member.name, treeobj.create_val(data))
                    count(0, 1)
                else:
                    _insert(root, member.name, treeobj.create_valref(store(data)))
                    count(1, 1)
                if restored is not None:
                    restored(member.name, None)
        if tar is not None:
            _check_end(tar)
    except (tarfile.TarError, EOFError, ValueError) as exc:
        text = str(exc) or "error reading archive"
        if "unexpected end of data" in text or isinstance(exc, EOFError):
            text = "Truncated tar archive"
        raise ArchiveError(text) from None
    rootref = _store_dirs(root, store, lambda: count(1, 0))
    return Restored(rootref, newest, keys, blobs)


def _check_end(tar: tarfile.TarFile) -> None:
    """tarfile ends quietly at a cut header; libarchive calls it truncated: so does this
    (for a file: in stream mode what follows the last member is gone already)."""
    fobj = tar.fileobj
    seekable = getattr(fobj, "seekable", None)  # a stream ("r|*") has none
    if fobj is None or seekable is None or not seekable():
        return
    fobj.seek(tar.offset)
    while True:
        block = fobj.read(65536)
        if not block:
            return
        if block.strip(b"\0"):
            raise ArchiveError("Truncated tar archive")


def _insert(root: dict, path: str, obj: dict) -> None:
    """Put ``obj`` at ``path`` (``/``-separated), making the directories on the way."""
    names = [name for name in path.split("/") if name]
    if not names:
        raise ArchiveError(f"error inserting {path} into root directory")
    here = root
    for name in names[:-1]:
        data = treeobj.get_data(here)
        sub = data.get(name)
        if sub is None:
            sub = data[name] = treeobj.create_dir()
        elif treeobj.get_type(sub) != "dir":
            raise ArchiveError(f"{name} in {path} is not a directory")
        here = sub
    try:
        treeobj.insert_entry(here, names[-1], obj)
    except OSError as exc:
        raise ArchiveError(f"error inserting {path} into root directory: "
                           f"{os.strerror(exc.errno or errno.EINVAL)}") from None


def _store_dirs(directory: dict, store: Callable[[bytes], str],
                stored: Callable[[], None]) -> str:
    """Store ``directory``'s subdirectories (each becomes a dirref), then itself; its blobref."""
    data = treeobj.get_data(directory)
    for name in sorted(data):
        if treeobj.get_type(data[name]) == "dir":
            data[name] = treeobj.create_dirref(_store_dirs(data[name], store, stored))
    ref = store(treeobj.encode(directory))
    stored()
    return ref

"""A new run directory with a random name, as ``tempfile.mkdtemp`` makes one.

``flux start`` and a broker without ``rundir`` need one directory: importing
:mod:`tempfile` for it (which imports shutil, random, bz2 and lzma) cost every
start-up ~3 ms, paid before the first broker could start.
"""

from __future__ import annotations

import os

__all__ = ["make_rundir", "remove_tree"]

_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"


def make_rundir(parent: str, prefix: str = "flux-") -> str:
    """Create ``PARENT/PREFIXxxxxxxxx`` (mode 0700, eight random characters) and
    return its absolute path; raises OSError as ``os.mkdir`` does."""
    parent = os.path.abspath(parent)
    for _ in range(100):
        name = prefix + "".join(_CHARS[b % len(_CHARS)] for b in os.urandom(8))
        path = os.path.join(parent, name)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{parent}: no unused name for a run directory")


def remove_tree(path: str) -> None:
    """Remove ``path`` and everything under it, ignoring errors (as
    ``shutil.rmtree(path, ignore_errors=True)``; symbolic links are removed,
    never followed).  Run directories hold a few sockets and files: importing
    shutil for them (it imports bz2 and lzma) cost each instance's exit ~2 ms."""
    try:
        entries = list(os.scandir(path))
    except OSError:
        entries = []
    for entry in entries:
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        if is_dir:
            remove_tree(entry.path)
        else:
            try:
                os.unlink(entry.path)
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass

"""KVS keys as flux-core reads them: normalization, path components, errors.

A key is a dot-separated path.  Normalizing collapses runs of dots and drops
one leading and one trailing dot; ``"."`` is the root directory.  A trailing
dot asks for a directory.  flux-core 0.88 has no ``ns:NAME/key`` prefix form
(the namespace travels beside the key), so such a key is an ordinary one.
Errors are OSError carrying flux-core's errno.
"""

from __future__ import annotations

import errno

__all__ = [
    "ROOT",
    "SEP",
    "SYMLINK_CYCLE_LIMIT",
    "error",
    "join",
    "normalize",
    "normalize_dir",
    "split",
    "split_parent",
]

SEP = "."
ROOT = "."

#: symlinks followed while resolving one key before ELOOP (flux-core's lookup)
SYMLINK_CYCLE_LIMIT = 10


def error(errnum: int, key: str | None = None) -> OSError:
    """OSError(errnum) with the text the Python API shows (``os.strerror``), naming ``key``."""
    import os

    err = OSError(errnum, os.strerror(errnum))
    if key is not None:
        err.filename = key
    return err


def normalize_dir(key: str) -> tuple[str, bool]:
    """(normalized key, whether it names a directory: a trailing dot or the root).

    ``"a..b"`` -> ``"a.b"``, ``".a"`` -> ``"a"``, ``"a."`` -> ``("a", True)``,
    ``"."`` and ``".."`` -> ``(".", True)``, ``""`` -> ``""``.
    """
    if not isinstance(key, str):
        raise error(errno.EINVAL)
    if ".." in key:
        parts = key.split(SEP)
        # runs of dots become one: drop the empty parts between separators
        key = SEP.join(p for i, p in enumerate(parts)
                       if p or i == 0 or i == len(parts) - 1)
    want_dir = False
    if len(key) > 1 and key[0] == SEP:
        key = key[1:]
    if len(key) > 1 and key[-1] == SEP:
        key = key[:-1]
        want_dir = True
    if key == ROOT:
        want_dir = True
    return key, want_dir


def normalize(key: str) -> str:
    """The normalized key (see ``normalize_dir``)."""
    return normalize_dir(key)[0]


def split(key: str) -> list[str]:
    """Path components of ``key`` after normalizing; the root has none.

    As in flux-core, ``""`` is one component named ``""``.
    """
    key = normalize(key)
    return [] if key == ROOT else key.split(SEP)


def split_parent(key: str) -> tuple[list[str], str]:
    """(directory components, final name) of a key that names an entry to set or unlink.

    The root cannot be set: EINVAL, as flux-core's commit answers.
    """
    parts = split(key)
    if not parts:
        raise error(errno.EINVAL, key)
    return parts[:-1], parts[-1]


def join(target: str, rest: str) -> str:
    """The key reached through a symlink to ``target`` followed by ``rest``."""
    return f"{target}{SEP}{rest}" if rest else target

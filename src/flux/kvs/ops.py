"""Transaction operations: the ``{"key", "flags", "dirent"}`` objects a commit carries.

An operation gives ``key`` a new directory entry (an RFC 11 tree object), or
removes it (``dirent`` null).  They are built by the one constructor module
the KVS service shares (:mod:`flux.services.kvs.txn`), checked there as
libkvs checks them when they are staged (a non-empty key, only the APPEND
flag, a valid tree object); whether the key can be set (``.`` cannot) is the
KVS's decision, at commit.  Here their errors read as flux-core's wrappers
word them (``EINVAL: Invalid argument``).  :func:`compact` is libkvs's
client-side FLUX_KVS_TXN_COMPACT.
"""

from __future__ import annotations

import errno

from flux.constants import FLUX_KVS_APPEND
from flux.kvs.errors import error
from flux.services.kvs import txn as _txn

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional, TypeVar

    _T = TypeVar("_T")

__all__ = ["make_op", "put_raw_op", "put_treeobj_op", "mkdir_op", "unlink_op", "symlink_op",
           "compact"]


def _build(constructor: Callable[..., _T], *args: Any) -> _T:
    try:
        return constructor(*args)
    except OSError as exc:
        raise error(exc.errno or errno.EINVAL) from None


def make_op(key: str, flags: int, dirent: Optional[dict[str, Any]]) -> dict[str, Any]:
    """An operation setting ``key`` to ``dirent`` (None: removing it)."""
    return _build(_txn.encode_op, key, flags, dirent)


def put_raw_op(key: str, data: bytes | str, flags: int = 0) -> dict[str, Any]:
    """Set ``key`` to the bytes ``data`` (a str is UTF-8); ``flags`` may be FLUX_KVS_APPEND."""
    if flags == FLUX_KVS_APPEND:
        return _build(_txn.op_append, key, data)
    if flags:
        raise error(errno.EINVAL)
    return _build(_txn.op_put, key, data)


def put_treeobj_op(key: str, obj: dict[str, Any] | str | bytes) -> dict[str, Any]:
    """Set ``key`` to a tree object given as a dict or as its JSON (EPROTO if that is not one)."""
    return _build(_txn.op_put_treeobj, key, obj)


def mkdir_op(key: str) -> dict[str, Any]:
    """Make ``key`` an empty directory."""
    return _build(_txn.op_mkdir, key)


def unlink_op(key: str) -> dict[str, Any]:
    """Remove ``key``."""
    return _build(_txn.op_unlink, key)


def symlink_op(key: str, target: str, namespace: Optional[str] = None) -> dict[str, Any]:
    """Make ``key`` a symlink to ``target`` (in ``namespace``, if given)."""
    return _build(_txn.op_symlink, key, target, namespace)


def compact(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``ops`` with the appends to each key merged into the first one (a new list).

    As libkvs: an append followed by anything but another append to the same
    key cannot be merged (EINVAL); a key appended once, or only with empty
    data, is left as it is.
    """
    return _build(_txn.compact, ops)

"""Transaction operations: the ``{"key", "flags", "dirent"}`` objects a commit carries.

An operation gives ``key`` a new directory entry (an RFC 11 tree object), or
removes it (``dirent`` null).  They are checked as libkvs checks them when
they are staged (a non-empty key, only the APPEND flag, a valid tree object),
so a bad one fails at once with EINVAL; whether the key can be set (``.``
cannot) is the KVS's decision, at commit.  :func:`compact` is libkvs's
client-side FLUX_KVS_TXN_COMPACT: appends to one key merged into one.
"""

from __future__ import annotations

import errno

from flux.constants import FLUX_KVS_APPEND
from flux.kvs.errors import error
from flux.services.kvs import treeobj

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional

__all__ = ["make_op", "put_raw_op", "put_treeobj_op", "mkdir_op", "unlink_op", "symlink_op",
           "compact"]


def _check_key(key: Any) -> str:
    if isinstance(key, bytes):
        key = key.decode("utf-8")
    if key is None or key == "":
        raise error(errno.EINVAL)
    if not isinstance(key, str):
        raise TypeError(f"key must be a str, not {type(key).__name__}")
    return key


def make_op(key: str, flags: int, dirent: Optional[dict]) -> dict:
    """An operation, checked as libkvs checks it (EINVAL)."""
    key = _check_key(key)
    if flags & ~FLUX_KVS_APPEND:
        raise error(errno.EINVAL)
    if dirent is not None:
        try:
            treeobj.validate(dirent)
        except OSError:
            raise error(errno.EINVAL) from None
    return {"key": key, "flags": flags, "dirent": dirent}


def _bytes(data: Any) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"value must be bytes or str, not {type(data).__name__}")


def put_raw_op(key: str, data: bytes | str, flags: int = 0) -> dict:
    """Set ``key`` to the bytes ``data`` (a str is UTF-8); ``flags`` may be FLUX_KVS_APPEND."""
    key = _check_key(key)
    if flags & ~FLUX_KVS_APPEND:
        raise error(errno.EINVAL)
    return {"key": key, "flags": flags, "dirent": treeobj.create_val(_bytes(data))}


def put_treeobj_op(key: str, obj: dict | str | bytes) -> dict:
    """Set ``key`` to a tree object given as a dict or as its JSON (EPROTO if that is not one)."""
    key = _check_key(key)
    if not isinstance(obj, dict):
        obj = treeobj.decode(obj)
    return make_op(key, 0, obj)


def mkdir_op(key: str) -> dict:
    """Make ``key`` an empty directory."""
    return {"key": _check_key(key), "flags": 0, "dirent": treeobj.create_dir()}


def unlink_op(key: str) -> dict:
    """Remove ``key``."""
    return {"key": _check_key(key), "flags": 0, "dirent": None}


def symlink_op(key: str, target: str, namespace: Optional[str] = None) -> dict:
    """Make ``key`` a symlink to ``target`` (in ``namespace``, if given)."""
    key = _check_key(key)
    if target is None:
        raise error(errno.EINVAL)
    try:
        dirent = treeobj.create_symlink(target, namespace)
    except OSError:
        raise error(errno.EINVAL) from None
    return {"key": key, "flags": 0, "dirent": dirent}


def compact(ops: list[dict]) -> list[dict]:
    """``ops`` with the appends to each key merged into the first one (a new list).

    As libkvs: an append followed by anything but another append to the same
    key cannot be merged (EINVAL); a key appended once, or only with empty
    data, is left as it is.
    """
    if len(ops) < 2:
        return ops
    out: list[dict] = []
    appends: dict[str, tuple[int, list[bytes]]] = {}  # key -> (index in out, data)
    for op in ops:
        key, flags = op["key"], op["flags"]
        pending = appends.get(key)
        if pending is not None:
            if flags != FLUX_KVS_APPEND:
                raise error(errno.EINVAL)
            pending[1].append(_val_data(op["dirent"]))
        elif flags == FLUX_KVS_APPEND:
            appends[key] = (len(out), [_val_data(op["dirent"])])
            out.append(op)
        else:
            out.append(op)
    for index, chunks in appends.values():
        if len(chunks) > 1 and any(chunks):
            first = out[index]
            out[index] = {"key": first["key"], "flags": first["flags"],
                          "dirent": treeobj.create_val(b"".join(chunks))}
    return out


def _val_data(dirent: Any) -> bytes:
    try:
        return treeobj.decode_val(dirent)
    except OSError:
        raise error(errno.EINVAL) from None

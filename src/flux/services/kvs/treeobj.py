"""RFC 11 tree objects: ``val``, ``valref``, ``dir``, ``dirref``, ``symlink``.

A tree object is the plain JSON value (a dict) it is on the wire, so payloads
carry it as is.  The serialization that is hashed into the content store is
flux-core's (compact, keys sorted, jansson's escapes): the same tree gives the
same blobref as flux-core's.  Errors are OSError with flux-core's errno
(EINVAL for a bad object, ENOENT for a missing entry, EPROTO for bad bytes).
"""

from __future__ import annotations

import errno

from flux.services.content import blobref as _blobref

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "INLINE_MAX",
    "TYPES",
    "VERSION",
    "append_blobref",
    "copy",
    "create_dir",
    "create_dirref",
    "create_symlink",
    "create_val",
    "create_valref",
    "create_valref_buf",
    "decode",
    "decode_val",
    "delete_entry",
    "encode",
    "get_blobref",
    "get_count",
    "get_data",
    "get_entry",
    "get_symlink",
    "get_type",
    "insert_entry",
    "is_inline",
    "stays_inline",
    "type_name",
    "validate",
]

#: the tree object version flux-core writes and accepts
VERSION = 1
TYPES = ("val", "valref", "dir", "dirref", "symlink")

#: A ``val`` whose base64 text is longer than this is stored in the content
#: store and replaced by a ``valref`` at commit (flux-core's kvstxn compares
#: the base64 length with BLOBREF_MAX_STRING_SIZE, 72): up to 54 raw bytes
#: stay inline.
INLINE_MAX = _blobref.MAX_STRING_SIZE


def _einval(what: str) -> OSError:
    return OSError(errno.EINVAL, f"invalid tree object: {what}")


# -- checking ----------------------------------------------------------------


def _peek(obj: object) -> tuple[str, Any]:
    """(type, data) of an object with exactly ``ver``/``type``/``data``; EINVAL otherwise."""
    if not isinstance(obj, dict) or len(obj) != 3:
        raise _einval("not an object with exactly ver, type, data")
    try:
        ver, typ, data = obj["ver"], obj["type"], obj["data"]
    except KeyError:
        raise _einval("not an object with exactly ver, type, data") from None
    if type(ver) is not int or ver != VERSION:
        raise _einval(f"unsupported version {ver!r}")
    if not isinstance(typ, str):
        raise _einval("type is not a string")
    return typ, data


def validate(obj: object) -> None:
    """Check ``obj`` as flux-core's ``treeobj_validate`` does (dirs recursively); EINVAL."""
    typ, data = _peek(obj)
    if typ in ("valref", "dirref"):
        if not isinstance(data, list) or not data:
            raise _einval(f"{typ} needs a non-empty array of blobrefs")
        for ref in data:
            if not isinstance(ref, str) or not _blobref.validate(ref):
                raise _einval(f"{typ} holds a bad blobref")
    elif typ == "dir":
        if not isinstance(data, dict):
            raise _einval("dir data is not an object")
        for entry in data.values():
            validate(entry)
    elif typ == "symlink":
        if not isinstance(data, dict) or not isinstance(data.get("target"), str):
            raise _einval("symlink needs a string target")
        if "namespace" in data and not isinstance(data["namespace"], str):
            raise _einval("symlink namespace is not a string")
    elif typ == "val":
        if not isinstance(data, str):
            raise _einval("val data is not a string")
    else:
        raise _einval(f"unknown type {typ!r}")


def get_type(obj: object) -> str:
    """The type name of ``obj`` (only its envelope is checked); EINVAL."""
    return _peek(obj)[0]


def type_name(obj: object) -> str:
    """The type name, or ``"unknown"`` (flux-core's ``treeobj_type_name``)."""
    try:
        typ = _peek(obj)[0]
    except OSError:
        return "unknown"
    return typ if typ in TYPES else "unknown"


def get_data(obj: object) -> Any:
    """The ``data`` member (shared, not copied); EINVAL."""
    return _peek(obj)[1]


def get_count(obj: object) -> int:
    """Blobrefs of a ref, entries of a dir, 1 for a val or a symlink; EINVAL."""
    typ, data = _peek(obj)
    if typ in ("valref", "dirref", "dir"):
        return len(data)
    if typ in ("val", "symlink"):
        return 1
    raise _einval(f"unknown type {typ!r}")


# -- creating ----------------------------------------------------------------


def create_val(data: bytes) -> dict:
    """A ``val`` holding ``data`` (base64, standard alphabet, padded)."""
    import base64

    return {"ver": VERSION, "type": "val", "data": base64.b64encode(data).decode("ascii")}


def create_valref(*blobrefs: str) -> dict:
    """A ``valref`` of ``blobrefs`` in order (none gives an empty one to append to)."""
    return _create_ref("valref", blobrefs)


def create_dirref(*blobrefs: str) -> dict:
    """A ``dirref`` (one blobref in a valid tree; none gives an empty one)."""
    return _create_ref("dirref", blobrefs)


def _create_ref(typ: str, blobrefs: tuple[str, ...]) -> dict:
    for ref in blobrefs:
        if not isinstance(ref, str) or not _blobref.validate(ref):
            raise _einval(f"bad blobref {ref!r}")
    return {"ver": VERSION, "type": typ, "data": list(blobrefs)}


def create_dir(entries: dict | None = None) -> dict:
    """A ``dir``, empty or holding ``entries`` (each validated; the dict is copied)."""
    obj = {"ver": VERSION, "type": "dir", "data": {}}
    for name, entry in (entries or {}).items():
        insert_entry(obj, name, entry)
    return obj


def create_symlink(target: str, namespace: str | None = None) -> dict:
    """A ``symlink`` to ``target``, in ``namespace`` if given."""
    if not isinstance(target, str) or not (namespace is None or isinstance(namespace, str)):
        raise _einval("symlink target and namespace must be strings")
    data = {"target": target} if namespace is None else {"namespace": namespace, "target": target}
    return {"ver": VERSION, "type": "symlink", "data": data}


def create_valref_buf(hashtype: str, maxblob: int, data: bytes) -> tuple[dict, list[bytes]]:
    """A ``valref`` of ``data`` cut in blobs of at most ``maxblob`` bytes (<= 0: one blob).

    Returns the valref and the blobs, in order, for the caller to store.  An
    empty ``data`` is one empty blob, as flux-core's ``treeobj_create_valref_buf``.
    """
    size = maxblob if maxblob > 0 else max(len(data), 1)
    blobs = [bytes(data[i:i + size]) for i in range(0, len(data), size)] or [b""]
    return create_valref(*(_blobref.hash_blobref(hashtype, b) for b in blobs)), blobs


# -- values and refs -----------------------------------------------------------


def decode_val(obj: object) -> bytes:
    """The bytes a ``val`` holds; EINVAL if not a val or not base64."""
    import base64
    import binascii

    typ, data = _peek(obj)
    if typ != "val" or not isinstance(data, str):
        raise _einval("not a val")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _einval("val data is not base64") from None


def is_inline(data: bytes) -> bool:
    """True if a value of ``data`` stays an inline ``val`` at commit, False if it becomes a valref."""
    return (len(data) + 2) // 3 * 4 <= INLINE_MAX


def stays_inline(val: object) -> bool:
    """True if the ``val`` object stays inline at commit (its base64 length <= INLINE_MAX)."""
    typ, data = _peek(val)
    if typ != "val" or not isinstance(data, str):
        raise _einval("not a val")
    return len(data) <= INLINE_MAX


def get_blobref(obj: object, index: int) -> str:
    """Blobref ``index`` of a ``valref`` or ``dirref``; EINVAL if none."""
    typ, data = _peek(obj)
    if typ not in ("valref", "dirref") or not isinstance(data, list):
        raise _einval("not a valref or dirref")
    if not 0 <= index < len(data) or not isinstance(data[index], str):
        raise _einval(f"no blobref at index {index}")
    return data[index]


def append_blobref(obj: dict, blobref: str) -> None:
    """Append a blobref to a ``valref`` or ``dirref`` in place; EINVAL."""
    typ, data = _peek(obj)
    if typ not in ("valref", "dirref") or not isinstance(data, list):
        raise _einval("not a valref or dirref")
    if not isinstance(blobref, str) or not _blobref.validate(blobref):
        raise _einval(f"bad blobref {blobref!r}")
    data.append(blobref)


def get_symlink(obj: object) -> tuple[str | None, str]:
    """(namespace or None, target) of a ``symlink``; EINVAL."""
    typ, data = _peek(obj)
    if typ != "symlink" or not isinstance(data, dict):
        raise _einval("not a symlink")
    ns, target = data.get("namespace"), data.get("target")
    if not isinstance(target, str) or not (ns is None or isinstance(ns, str)):
        raise _einval("bad symlink")
    return ns, target


# -- directory entries ------------------------------------------------------------


def _dir_data(obj: object) -> dict:
    typ, data = _peek(obj)
    if typ != "dir" or not isinstance(data, dict):
        raise _einval("not a dir")
    return data


def get_entry(obj: object, name: str) -> dict:
    """Entry ``name`` of a ``dir`` (shared, not copied); EINVAL if not a dir, ENOENT."""
    try:
        return _dir_data(obj)[name]
    except KeyError:
        raise OSError(errno.ENOENT, f"no entry {name!r}") from None


def insert_entry(obj: dict, name: str, entry: object) -> None:
    """Set entry ``name`` of a ``dir`` in place, after validating ``entry``; EINVAL.

    A name must be a string jansson can hold as a key: no NUL.
    """
    data = _dir_data(obj)
    if not isinstance(name, str) or "\0" in name:
        raise _einval(f"bad entry name {name!r}")
    validate(entry)
    data[name] = entry


def delete_entry(obj: dict, name: str) -> None:
    """Remove entry ``name`` of a ``dir`` in place; EINVAL if not a dir, ENOENT."""
    try:
        del _dir_data(obj)[name]
    except KeyError:
        raise OSError(errno.ENOENT, f"no entry {name!r}") from None


def copy(obj: dict) -> dict:
    """A copy that may be changed without changing ``obj``: a dir's entry table is new
    (entries shared, as flux-core's shallow ``treeobj_copy``), anything else deep."""
    import copy as _copy

    typ, data = _peek(obj)
    if typ == "dir":
        return {"ver": VERSION, "type": "dir", "data": dict(data)}
    return _copy.deepcopy(obj)


# -- bytes ------------------------------------------------------------------------


def _jansson_escape(match: Any) -> str:
    """Jansson writes control characters as ``\\u00XX`` with upper-case hex."""
    text = match.group(0)
    return text if text == "\\\\" else text.upper().replace("\\U", "\\u")


def encode(obj: object) -> bytes:
    """The bytes flux-core hashes for a tree object: jansson's JSON_COMPACT|JSON_SORT_KEYS.

    UTF-8, not ASCII-escaped; ``"``, ``\\`` and control characters escaped as
    jansson escapes them.  No trailing NUL (flux-core hashes ``strlen`` bytes).
    """
    import json

    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True,
                      allow_nan=False)
    if "\\u" in text:
        import re

        text = re.sub(r"\\(?:\\|u00[0-9a-f]{2})", _jansson_escape, text)
    return text.encode("utf-8")


def decode(buf: bytes | str) -> dict:
    """A tree object from its bytes (a trailing NUL allowed); EPROTO if not valid JSON or
    not a valid tree object, as flux-core's ``treeobj_decodeb``."""
    import json

    if isinstance(buf, (bytes, bytearray, memoryview)):
        buf = bytes(buf)
        if buf.endswith(b"\0"):
            buf = buf[:-1]
    try:
        obj = json.loads(buf)
        validate(obj)
    except (ValueError, OSError, RecursionError):
        raise OSError(errno.EPROTO, "invalid tree object") from None
    return obj

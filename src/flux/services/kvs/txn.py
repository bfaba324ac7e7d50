"""KVS transaction ops (RFC 11): ``{"key": str, "flags": int, "dirent": treeobj | null}``.

Both sides use this: clients build ops with the ``op_*`` constructors (which
check what flux-core's libkvs checks before sending, EINVAL), the service
decodes what arrives with ``decode_op`` (EPROTO for an op that is not exactly
those three members, as flux-core answers).  A ``null`` dirent unlinks; flag
``FLUX_KVS_APPEND`` appends the op's ``val`` to the key.  ``compact`` is
flux-core's client-side ``FLUX_KVS_TXN_COMPACT``; ``guest_authorize`` is the
check flux-core's KVS makes before a guest's commit.
"""

from __future__ import annotations

import errno

from flux.constants import FLUX_KVS_APPEND
from flux.services.kvs import treeobj

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

__all__ = [
    "compact",
    "decode_op",
    "decode_val_data",
    "encode_op",
    "guest_authorize",
    "op_append",
    "op_mkdir",
    "op_put",
    "op_put_treeobj",
    "op_symlink",
    "op_unlink",
]

# jansson holds integers in 64 bits (wider JSON numbers are reals); "i" then keeps the low bits
_INT_MIN, _INT_MAX = -2**63, 2**63 - 1
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _is_b64(text: str) -> bool:
    """Whether ``text`` holds base64 alphabet only: one pass in C (a set's ``issuperset``
    of a str hashed each character, the largest cost of committing job output)."""
    return text.isascii() and not text.encode("ascii").translate(None, _B64_ALPHABET)


def _error(errnum: int, text: str) -> OSError:
    return OSError(errnum, text)


# -- the service side ------------------------------------------------------------------


def decode_op(op: object) -> tuple[str, int, Any]:
    """(key, flags, dirent) of an op as received; the dirent is not checked here.

    EPROTO unless ``op`` is an object with exactly a string ``key``, an integer
    ``flags`` and a ``dirent`` (flux-core's strict unpack of the op).  A key
    holding NUL cannot have come through jansson either: EPROTO.
    """
    try:
        if type(op) is not dict or len(op) != 3:
            raise KeyError
        key, flags, dirent = op["key"], op["flags"], op["dirent"]
    except KeyError:
        raise _error(errno.EPROTO, "malformed transaction op") from None
    if type(key) is not str or "\0" in key:
        raise _error(errno.EPROTO, "transaction op key is not a string")
    if type(flags) is not int or not _INT_MIN <= flags <= _INT_MAX:
        raise _error(errno.EPROTO, "transaction op flags is not an integer")
    return key, flags, dirent


def decode_val_data(text: str) -> bytes:
    """The bytes a ``val``'s base64 text holds, read as flux-core's (ccan) decoder reads it.

    More lenient than ``treeobj.decode_val``: padding may be missing or
    repeated at the end, and the unused low bits of the last group are
    ignored; a character outside the alphabet, or a last group of one
    character, is EPROTO (flux-core's answer when a commit stores such a value).
    """
    import binascii

    # whole groups while more than four characters remain, then a tail of 1-4
    cut = (len(text) - 1) // 4 * 4 if text else 0
    head, tail = text[:cut], text[cut:].rstrip("=")
    if len(tail) == 1 or not _is_b64(head) or not _is_b64(tail):
        raise _error(errno.EPROTO, "val data is not base64")
    data = binascii.a2b_base64(head) if head else b""
    if tail:
        data += binascii.a2b_base64(tail + "A" * (4 - len(tail)))[:len(tail) - 1]
    return data


def guest_authorize(ops: list) -> None:
    """The check flux-core's KVS makes on a guest's commit (a user who is not the owner).

    A guest may only unlink, put values and make empty directories: EPERM
    otherwise, with flux-core's message; EPROTO for an op that does not decode.
    """
    for op in ops:
        try:
            dirent = decode_op(op)[2]
        except OSError:
            raise _error(errno.EPROTO, "could not decode commit operation") from None
        if dirent is None:
            continue
        typ = _raw_type(dirent)
        # flux-core counts a dir whose data is not an object as empty
        if typ == "val" or typ == "dir" and not (isinstance(dirent["data"], dict)
                                                 and dirent["data"]):
            continue
        non_empty = "non-empty " if typ == "dir" else ""
        raise _error(errno.EPERM, f"guests may not commit {non_empty}{typ} objects")


def _raw_type(dirent: object) -> str:
    """The ``type`` of a well-formed envelope, whatever it says; ``???`` otherwise."""
    try:
        return treeobj.get_type(dirent)
    except OSError:
        return "???"


# -- the client side ----------------------------------------------------------------------


def encode_op(key: str, flags: int, dirent: dict | None) -> dict:
    """An op as flux-core's libkvs builds it (member order: key, flags, dirent).

    EINVAL for an empty or non-string key, flags other than ``FLUX_KVS_APPEND``,
    or a dirent that is neither None nor a valid tree object.
    """
    if not isinstance(key, str) or not key:
        raise _error(errno.EINVAL, "key must be a non-empty string")
    if type(flags) is not int or flags & ~FLUX_KVS_APPEND:
        raise _error(errno.EINVAL, f"invalid op flags {flags!r}")
    if dirent is not None:
        treeobj.validate(dirent)
    return {"key": key, "flags": flags, "dirent": dirent}


def _bytes(data: object) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise _error(errno.EINVAL, "value must be bytes")
    return bytes(data)


def op_put(key: str, data: bytes) -> dict:
    """Set ``key`` to the bytes ``data`` (a ``val``; a str is taken as UTF-8, no NUL added)."""
    return encode_op(key, 0, treeobj.create_val(_bytes(data)))


def op_append(key: str, data: bytes) -> dict:
    """Append ``data`` to the value at ``key`` (``FLUX_KVS_APPEND``; creates it if missing)."""
    return encode_op(key, FLUX_KVS_APPEND, treeobj.create_val(_bytes(data)))


def op_put_treeobj(key: str, obj: dict | str | bytes) -> dict:
    """Set ``key`` to a tree object, given as one or as its JSON text (EPROTO if that is bad)."""
    if isinstance(obj, (str, bytes, bytearray)):
        obj = treeobj.decode(obj)
    return encode_op(key, 0, obj)


def op_mkdir(key: str) -> dict:
    """Make ``key`` an empty directory (replacing whatever it was)."""
    return encode_op(key, 0, treeobj.create_dir())


def op_unlink(key: str) -> dict:
    """Remove ``key`` (a null dirent); removing a missing key is not an error."""
    return encode_op(key, 0, None)


def op_symlink(key: str, target: str, ns: str | None = None) -> dict:
    """Make ``key`` a symlink to ``target``, in namespace ``ns`` if given."""
    return encode_op(key, 0, treeobj.create_symlink(target, ns))


def compact(ops: list) -> list:
    """The ops with consecutive appends to one key merged, as ``FLUX_KVS_TXN_COMPACT`` does.

    Every append to a key is folded into that key's first append, which keeps
    its place (so an append may move ahead of other keys' ops, as in
    flux-core).  Keys are compared as written, not normalized.  Once a key has
    been appended to, any other op on it is EINVAL (flux-core will not compact
    ``append A; put B; append C``), as is an append whose dirent is not a
    decodable ``val``; an op that does not decode is EPROTO.  ``ops`` is not
    changed; the result shares the ops it leaves alone.
    """
    if len(ops) < 2:
        return list(ops)
    out: list = []
    appends: dict[str, tuple[int, list[bytes]]] = {}
    for op in ops:
        key, flags, dirent = decode_op(op)
        seen = appends.get(key)
        if seen is not None:
            if flags != FLUX_KVS_APPEND:
                raise _error(errno.EINVAL, f"{key}: cannot compact a non-append after an append")
            seen[1].append(_append_data(dirent))
        elif flags == FLUX_KVS_APPEND:
            appends[key] = (len(out), [_append_data(dirent)])
            out.append(op)
        else:
            out.append(op)
    for key, (index, parts) in appends.items():
        if len(parts) > 1 and any(parts):
            out[index] = encode_op(key, FLUX_KVS_APPEND, treeobj.create_val(b"".join(parts)))
    return out


def _append_data(dirent: object) -> bytes:
    """The bytes an append op adds; EINVAL if its dirent is not a decodable val."""
    if treeobj.type_name(dirent) != "val" or not isinstance(dirent["data"], str):  # type: ignore[index]
        raise _error(errno.EINVAL, "append dirent is not a val")
    try:
        return decode_val_data(dirent["data"])  # type: ignore[index]
    except OSError:
        raise _error(errno.EINVAL, "append val is not base64") from None

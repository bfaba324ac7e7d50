"""Looking keys up: libkvs's ``flux_kvs_lookup`` layer, and flux-core's value readers.

:func:`lookup` sends ``kvs.lookup`` (or ``kvs-watch.lookup`` when the flags
ask to watch or wait) and returns a :class:`LookupFuture`, whose getters
decode the response as libkvs's do.  :func:`get_key_direct`, :func:`exists`
and :func:`isdir` are flux-core's Python functions built on it.
"""

from __future__ import annotations

import binascii
import errno
import sys
from binascii import a2b_base64

from flux.constants import (
    FLUX_KVS_READDIR,
    FLUX_KVS_READLINK,
    FLUX_KVS_STREAM,
    FLUX_KVS_TREEOBJ,
    FLUX_KVS_WAITCREATE,
    FLUX_KVS_WATCH,
    FLUX_KVS_WATCH_APPEND,
    FLUX_KVS_WATCH_FULL,
    FLUX_KVS_WATCH_INITIAL_SENTINEL,
    FLUX_KVS_WATCH_UNIQ,
    FLUX_NODEID_ANY,
    FLUX_RPC_NORESPONSE,
    FLUX_RPC_STREAMING,
)
from flux.kvs.errors import error, wait_result
from flux.kvs.namespaces import get_namespace
from flux.message import encode_json
from flux.rpc import RPC
from flux.services.kvs import treeobj

try:
    from _json import encode_basestring as _quote  # a JSON string's text, non-ASCII kept
except ImportError:  # pragma: no cover - not CPython
    from json.encoder import py_encode_basestring as _quote

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional

    from flux.core.handle import Flux

__all__ = ["LookupFuture", "lookup", "lookupat", "decode_value", "get_key_direct", "exists",
           "isdir"]

_WATCH_OPTIONS = FLUX_KVS_WATCH_FULL | FLUX_KVS_WATCH_UNIQ | FLUX_KVS_WATCH_APPEND \
    | FLUX_KVS_WATCH_INITIAL_SENTINEL
_TO_KVS_WATCH = FLUX_KVS_WATCH | FLUX_KVS_WAITCREATE | FLUX_KVS_STREAM
_STREAMS = FLUX_KVS_WATCH | FLUX_KVS_STREAM
_STRICT_B64 = sys.version_info >= (3, 11)  # a2b_base64's strict_mode
_READ_MODES = (0, FLUX_KVS_TREEOBJ, FLUX_KVS_READDIR, FLUX_KVS_READDIR | FLUX_KVS_TREEOBJ,
               FLUX_KVS_READLINK)


def _flags_ok(flags: int, watch_ok: bool) -> bool:
    """libkvs's rules: watch options need WATCH; WATCH, WAITCREATE, STREAM need kvs-watch."""
    if flags & _WATCH_OPTIONS and not flags & FLUX_KVS_WATCH:
        return False
    if flags & _TO_KVS_WATCH and not watch_ok:
        return False
    return flags & ~(_TO_KVS_WATCH | _WATCH_OPTIONS) in _READ_MODES


class LookupFuture(RPC):
    """The response(s) to a lookup, read with libkvs's getters.

    ``get()`` (and ``await``) give the response payload, ``{"val": treeobj}``;
    a watch gives one response per change until its stream ends (ENODATA).
    """

    _key = ""
    _lookup_flags = 0

    def get_key(self) -> str:
        """The key as it was asked for."""
        return self._key

    def get_treeobj(self) -> Optional[dict[str, Any]]:
        """The tree object found (None for the WATCH_INITIAL_SENTINEL response); EPROTO if bad."""
        msg = wait_result(self)[1]
        if msg is None or msg._payload is None:
            if self._lookup_flags & FLUX_KVS_WATCH_INITIAL_SENTINEL:
                return None
            raise error(errno.EPROTO)
        try:
            obj: dict[str, Any] = msg.payload_json()["val"]
            treeobj.validate(obj)
        except (OSError, KeyError, TypeError):
            raise error(errno.EPROTO) from None
        return obj

    def get_value(self) -> Optional[bytes]:
        """The bytes of the value found (None for the sentinel); EINVAL if not a value."""
        obj = self.get_treeobj()
        if obj is None:
            return None
        if obj["type"] != "val":
            raise error(errno.EINVAL)
        return _val_bytes(obj["data"])

    def get_dir(self) -> dict[str, Any]:
        """The directory found, as a ``dir`` tree object; EINVAL if not one."""
        obj = self.get_treeobj()
        if obj is None or obj["type"] != "dir":
            raise error(errno.EINVAL)
        return obj

    def get_symlink(self) -> tuple[Optional[str], str]:
        """``(namespace or None, target)`` of the symlink found; EINVAL if not one."""
        obj = self.get_treeobj()
        if obj is None or obj["type"] != "symlink":
            raise error(errno.EINVAL)
        return treeobj.get_symlink(obj)

    def cancel(self) -> None:
        """End a watch: kvs-watch answers with ENODATA, the stream's last response.

        EINVAL unless the lookup went to kvs-watch.  Nothing is sent once the
        stream is over (its matchtag may belong to another request by then).
        """
        if not self._lookup_flags & _TO_KVS_WATCH:
            raise error(errno.EINVAL)
        if self._s._done:
            return
        payload = encode_json({"matchtag": self.get_matchtag()})
        RPC(self.flux_handle, "kvs-watch.cancel", payload, FLUX_NODEID_ANY, FLUX_RPC_NORESPONSE)


def _val_bytes(text: str) -> bytes:
    """A val's base64 text decoded as libkvs decodes it (leniently, as flux-core's decoder)."""
    if _STRICT_B64:  # mypy checks for 3.10, which lacks strict_mode
        try:
            return a2b_base64(text, strict_mode=True)  # type: ignore[call-arg]
        except (binascii.Error, ValueError):
            pass  # not canonical: read it as flux-core's decoder would
    from flux.services.kvs.txn import decode_val_data

    try:
        return decode_val_data(text)
    except OSError:
        raise error(errno.EINVAL) from None


def _lookup_payload(key: str, namespace: str, flags: int) -> bytes:
    """``encode_json({"key", "namespace", "flags"})``, spelled out: it is on every lookup."""
    if type(key) is str and type(namespace) is str and type(flags) is int:
        text = '{"key":%s,"namespace":%s,"flags":%d}' % (_quote(key), _quote(namespace), flags)
        return text.encode("utf-8", "surrogateescape") + b"\0"
    return encode_json({"key": key, "namespace": namespace, "flags": flags})


def lookup(flux_handle: "Flux", key: str, flags: int = 0,
           namespace: Optional[str] = None) -> LookupFuture:
    """Look ``key`` up (``kvs.lookup``, or ``kvs-watch.lookup`` to watch or wait for it)."""
    if flux_handle is None or not key or not _flags_ok(flags, True):
        raise error(errno.EINVAL)
    if namespace is None:
        namespace = get_namespace()
    payload = _lookup_payload(key, namespace, flags)
    if flags & _TO_KVS_WATCH:
        rpc_flags = FLUX_RPC_STREAMING if flags & _STREAMS else 0
        f = LookupFuture(flux_handle, "kvs-watch.lookup", payload, FLUX_NODEID_ANY, rpc_flags)
    else:
        f = LookupFuture(flux_handle, "kvs.lookup", payload, FLUX_NODEID_ANY, 0)
    f._key = key
    f._lookup_flags = flags
    return f


def lookupat(flux_handle: "Flux", key: str, treeobj_: dict[str, Any] | str | bytes,
             flags: int = 0) -> LookupFuture:
    """Look ``key`` up in the snapshot whose root is the tree object ``treeobj_`` (a dirref).

    No watching here: a snapshot does not change.
    """
    if flux_handle is None or not key or treeobj_ is None or not _flags_ok(flags, False):
        raise error(errno.EINVAL)
    if not isinstance(treeobj_, dict):
        import json

        try:
            treeobj_ = json.loads(treeobj_)
        except ValueError:
            raise error(errno.EINVAL) from None
    payload = encode_json({"key": key, "flags": flags, "rootdir": treeobj_})
    f = LookupFuture(flux_handle, "kvs.lookup", payload, FLUX_NODEID_ANY, 0)
    f._key = key
    f._lookup_flags = flags
    return f


def decode_value(data: Optional[bytes]) -> Any:
    """A value as flux-core's ``flux.kvs.get`` returns it: decoded JSON, else str, else bytes.

    An empty value is None, as in flux-core.
    """
    if not data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    try:
        return _json_loads(text)
    except ValueError:
        return text


def _json_loads(text: str) -> Any:
    """``json.loads(text)`` (this first call binds the decoder)."""
    global _json_loads
    import json

    # scan_once is set by JSONDecoder.__init__ (typeshed omits it)
    scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
    loads = json.loads

    def json_loads(text: str) -> Any:
        # the scanner alone when it reads the whole text (json.loads adds two regex passes)
        try:
            obj, end = scan(text, 0)
        except StopIteration:
            return loads(text)
        return obj if end == len(text) else loads(text)

    _json_loads = json_loads
    return json_loads(text)


def get_key_direct(flux_handle: "Flux", key: str, namespace: Optional[str] = None) -> Any:
    """The value of ``key`` (see :func:`decode_value`); EISDIR for a directory, ENOENT if none."""
    return decode_value(lookup(flux_handle, key, 0, namespace).get_value())


def _probe(flux_handle: "Flux", key: str, namespace: Optional[str]) -> Optional[bool]:
    """True for a directory, False for a value, None if there is nothing (ENOENT)."""
    try:
        lookup(flux_handle, key, 0, namespace).get_value()
    except OSError as err:
        if err.errno == errno.ENOENT:
            return None
        if err.errno == errno.EISDIR:
            return True
        raise
    return False


def exists(flux_handle: "Flux", key: str, namespace: Optional[str] = None) -> bool:
    """True if ``key`` is a value or a directory (a dangling symlink does not exist)."""
    return _probe(flux_handle, key, namespace) is not None


def isdir(flux_handle: "Flux", key: str, namespace: Optional[str] = None) -> bool:
    """True if ``key`` is a directory."""
    return _probe(flux_handle, key, namespace) is True

"""Transactions: staging changes, and committing them in one ``kvs.commit``.

A raw transaction is a plain list of operations (:mod:`flux.kvs.ops`).  The
module-level ``put*`` functions stage into the handle's implicit one,
``h.aux_txn``, which every :func:`commit` attempt discards, success or
failure; :class:`KVSTxn` holds its own, with keys relative to its path.
"""

from __future__ import annotations

import errno

from flux.constants import FLUX_KVS_APPEND, FLUX_KVS_TXN_COMPACT, FLUX_NODEID_ANY
from flux.kvs import ops as _ops
from flux.kvs.errors import error, wait_result
from flux.kvs.namespaces import get_namespace
from flux.kvs.roots import RootFuture
from flux.message import encode_json

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional, Union

    from flux.core.handle import Flux

    RawTxn = Union["KVSTxn", list[Any]]

__all__ = ["KVSTxn", "put", "put_mkdir", "put_unlink", "put_symlink", "commit", "commit_async",
           "commit_ops"]


def commit_ops(flux_handle: "Flux", ops: list[dict[str, Any]], flags: int = 0,
               namespace: Optional[str] = None) -> RootFuture:
    """Send ``ops`` in one ``kvs.commit``; the future's ``get()`` is ``{"rootref", "rootseq"}``.

    FLUX_KVS_TXN_COMPACT is libkvs's and applied here (then cleared);
    FLUX_KVS_NO_MERGE and FLUX_KVS_SYNC go to the KVS.
    """
    if flux_handle is None or ops is None:
        raise error(errno.EINVAL)
    if flags & FLUX_KVS_TXN_COMPACT:
        ops = _ops.compact(ops)
        flags &= ~FLUX_KVS_TXN_COMPACT
    payload = encode_json({"namespace": get_namespace(namespace), "flags": flags, "ops": ops})
    return RootFuture(flux_handle, "kvs.commit", payload, FLUX_NODEID_ANY, 0)


def _raw(flux_handle: "Flux", _kvstxn: Optional["RawTxn"]) -> list[Any]:
    """The op list to stage into: ``_kvstxn``'s, else the handle's implicit one (created here)."""
    if _kvstxn is None:
        if flux_handle.aux_txn is None:
            flux_handle.aux_txn = []
        implicit: list[Any] = flux_handle.aux_txn
        return implicit
    if isinstance(_kvstxn, KVSTxn):
        return _kvstxn.txn
    return _kvstxn


def _put_op(key: str, value: Any, raw: bool) -> dict[str, Any]:
    """flux-core's encoding: ``json.dumps``; bytes that are not JSON-able go raw."""
    if raw:
        if not isinstance(value, bytes):
            value = value.encode("utf-8")  # AttributeError for other types, as flux-core
        return _ops.put_raw_op(key, value)
    import json

    try:
        text = json.dumps(value)
    except TypeError:
        if isinstance(value, bytes):
            return _ops.put_raw_op(key, value)
        raise TypeError from None
    return _ops.put_raw_op(key, text.encode("utf-8"))


def put(flux_handle: "Flux", key: str, value: Any, _kvstxn: Optional["RawTxn"] = None,
        raw: bool = False) -> None:
    """Stage ``key`` = ``value`` (JSON-encoded unless ``raw``: then bytes, or a str as UTF-8)."""
    txn = _raw(flux_handle, _kvstxn)
    txn.append(_put_op(key, value, raw))


def put_mkdir(flux_handle: "Flux", key: str, _kvstxn: Optional["RawTxn"] = None) -> None:
    """Stage making ``key`` an empty directory."""
    txn = _raw(flux_handle, _kvstxn)
    txn.append(_ops.mkdir_op(key))


def put_unlink(flux_handle: "Flux", key: str, _kvstxn: Optional["RawTxn"] = None) -> None:
    """Stage removing ``key``."""
    txn = _raw(flux_handle, _kvstxn)
    txn.append(_ops.unlink_op(key))


def put_symlink(flux_handle: "Flux", key: str, target: str,
                _kvstxn: Optional["RawTxn"] = None) -> None:
    """Stage making ``key`` a symlink to ``target``."""
    txn = _raw(flux_handle, _kvstxn)
    txn.append(_ops.symlink_op(key, target))


def commit(flux_handle: "Flux", flags: int = 0, namespace: Optional[str] = None,
           _kvstxn: Optional["RawTxn"] = None) -> None:
    """Commit what was staged and wait; nothing staged sends nothing.

    Flags: FLUX_KVS_NO_MERGE, FLUX_KVS_TXN_COMPACT, FLUX_KVS_SYNC.  The
    handle's implicit transaction is discarded whatever the outcome.
    """
    if _kvstxn is None:
        ops = flux_handle.aux_txn
        if ops is None:
            return
        try:
            wait_result(commit_ops(flux_handle, ops, flags, namespace))
        finally:
            flux_handle.aux_txn = None
    else:
        wait_result(commit_ops(flux_handle, _raw(flux_handle, _kvstxn), flags, namespace))


def commit_async(flux_handle: "Flux", flags: int = 0, namespace: Optional[str] = None,
                 _kvstxn: Optional["RawTxn"] = None) -> RootFuture:
    """Commit what was staged without waiting (an empty commit if nothing was, as flux-core).

    The commit happens even if the future is dropped.
    """
    if _kvstxn is None:
        if flux_handle.aux_txn is None:
            flux_handle.aux_txn = []
        f = commit_ops(flux_handle, flux_handle.aux_txn, flags, namespace)
        flux_handle.aux_txn = None
        return f
    return commit_ops(flux_handle, _raw(flux_handle, _kvstxn), flags, namespace)


class KVSTxn:
    """A transaction of its own: stage changes, then ``commit()`` them at once.

    Keys are relative to ``path``; as a context manager it commits on exit.
    ``txn`` is the list of staged operations.
    """

    def __init__(self, flux_handle: Optional["Flux"] = None, path: str = ".",
                 namespace: Optional[str] = None) -> None:
        self.fhdl: Any = flux_handle
        self.path = path
        if not path or path == ".":
            self._path = ""
        else:
            self._path = path if path[-1] == "." else path + "."
        self.namespace = namespace
        self.txn: list[dict[str, Any]] = []

    def commit(self, flags: int = 0) -> None:
        """Commit and wait; does nothing if nothing is staged; the ops are cleared either way."""
        if not self.txn:
            return
        try:
            wait_result(commit_ops(self.fhdl, self.txn, flags, self.namespace))
        finally:
            self.clear()

    def commit_async(self, flags: int = 0) -> RootFuture:
        """Commit without waiting; the future's ``get()`` is ``{"rootref", "rootseq"}``."""
        f = commit_ops(self.fhdl, self.txn, flags, self.namespace)
        self.clear()
        return f

    def put(self, key: str, value: Any, raw: bool = False) -> None:
        """Stage ``key`` = ``value``, encoded as :func:`put` does."""
        self.txn.append(_put_op(self._path + key, value, raw))

    def put_raw(self, key: str, data: bytes | str, flags: int = 0) -> None:
        """Stage ``key`` = the bytes ``data``; ``flags`` may be FLUX_KVS_APPEND."""
        self.txn.append(_ops.put_raw_op(self._path + key, data, flags))

    def put_treeobj(self, key: str, treeobj: dict[str, Any] | str | bytes) -> None:
        """Stage ``key`` = a tree object (a dict, or its JSON)."""
        self.txn.append(_ops.put_treeobj_op(self._path + key, treeobj))

    def append(self, key: str, value: bytes | str) -> None:
        """Stage appending ``value`` (bytes, or a str as UTF-8) to the value of ``key``."""
        self.txn.append(_ops.put_raw_op(self._path + key, value, FLUX_KVS_APPEND))

    def mkdir(self, key: str) -> None:
        """Stage making ``key`` an empty directory."""
        self.txn.append(_ops.mkdir_op(self._path + key))

    def unlink(self, key: str) -> None:
        """Stage removing ``key``."""
        self.txn.append(_ops.unlink_op(self._path + key))

    def symlink(self, key: str, target: str, namespace: Optional[str] = None) -> None:
        """Stage making ``key`` a symlink to ``target`` (in ``namespace``, if given)."""
        self.txn.append(_ops.symlink_op(self._path + key, target, namespace))

    def clear(self) -> None:
        """Drop the staged operations."""
        self.txn.clear()

    def __enter__(self) -> "KVSTxn":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.commit()

"""KVS namespaces: which one a call uses, and creating, removing, listing them.

A call's namespace is its argument, else ``$FLUX_KVS_NAMESPACE``, else
``primary`` (libkvs reads the variable at each call, so a script may change
it between calls).
"""

from __future__ import annotations

import errno
import os

from flux.constants import FLUX_NODEID_ANY
from flux.kvs.errors import error, wait_result
from flux.message import encode_json
from flux.rpc import RPC

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

    from flux.core.handle import Flux

__all__ = ["PRIMARY", "get_namespace", "namespace_create", "namespace_remove", "namespace_list"]

PRIMARY = "primary"

# flux-core's default owner is evaluated once, when the module is imported.
_UID_AT_IMPORT = os.getuid()


# ``os.environ.get`` of an unset variable costs ~2 us (a KeyError raised and
# caught twice), paid by every lookup; its underlying dict answers "unset" at
# once (os.environ keeps it current, putenv included).
_ENV = "FLUX_KVS_NAMESPACE"
_ENV_DATA = getattr(os.environ, "_data", None)
_ENV_KEY = os.environ.encodekey(_ENV) if _ENV_DATA is not None else None


def get_namespace(namespace: Optional[str] = None) -> str:
    """``namespace``, else ``$FLUX_KVS_NAMESPACE`` (even if empty, as libkvs), else primary."""
    if namespace is not None:
        return namespace
    if _ENV_DATA is not None and _ENV_KEY not in _ENV_DATA:
        return PRIMARY
    return os.environ.get(_ENV, PRIMARY)


def _owner_on_wire(owner: int) -> int:
    """libkvs sends the uint32 owner as a JSON int: 4294967295 (unknown) becomes -1."""
    if not isinstance(owner, int):
        raise TypeError("owner must be an integer uid")
    if owner == -1:  # the instance owner, as flux-core's C API spells it
        return -1
    if not 0 <= owner < 1 << 32:
        raise OverflowError(f"owner {owner} is not a valid uid")
    return owner - (1 << 32) if owner >= 1 << 31 else owner


def namespace_create(flux_handle: "Flux", namespace: str, owner: int = _UID_AT_IMPORT,
                     flags: int = 0) -> None:
    """Create ``namespace`` owned by ``owner`` (default: this process's uid); EEXIST if it exists.

    Its root is the empty directory, named by its blobref under the
    instance's ``content.hash``, as libkvs names it.
    """
    if namespace is None or flags:
        raise error(errno.EINVAL)
    owner = _owner_on_wire(owner)
    from flux.services.content.blobref import hash_blobref
    from flux.services.kvs import treeobj

    hash_name = flux_handle.attr_get("content.hash")
    rootref = hash_blobref(hash_name, treeobj.encode(treeobj.create_dir()))
    payload = {"namespace": namespace, "rootref": rootref, "owner": owner, "flags": flags}
    wait_result(RPC(flux_handle, "kvs.namespace-create", encode_json(payload), 0))


def namespace_remove(flux_handle: "Flux", namespace: str) -> None:
    """Remove ``namespace``; the KVS finishes removing it in the background."""
    if namespace is None:
        raise error(errno.EINVAL)
    wait_result(RPC(flux_handle, "kvs.namespace-remove", encode_json({"namespace": namespace}), 0))


def namespace_list(flux_handle: "Flux") -> list[str]:
    """The names of the namespaces (``primary`` among them)."""
    resp = RPC(flux_handle, "kvs.namespace-list", None, FLUX_NODEID_ANY).get()
    return [ns["namespace"] for ns in resp["namespaces"]]

"""KVS roots: a namespace's current root (``kvs.getroot``), waiting for a version.

A root is named by its blobref (``rootref``) and numbered by its sequence
(``rootseq``, the namespace's version).  Commits answer with the root they
made, so their futures are :class:`RootFuture` too.
"""

from __future__ import annotations

import errno

from flux.constants import FLUX_NODEID_ANY
from flux.kvs.errors import error, wait_result
from flux.kvs.namespaces import get_namespace
from flux.message import encode_json
from flux.rpc import RPC

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional

    from flux.core.handle import Flux

__all__ = ["RootFuture", "getroot", "wait_version", "get_version"]


class RootFuture(RPC):
    """A response naming a root; ``get()`` (and ``await``) give its payload as a dict."""

    def _field(self, name: str) -> Any:
        msg = wait_result(self)[1]
        try:
            return msg.payload_json()[name]
        except (OSError, KeyError, AttributeError):
            raise error(errno.EPROTO) from None

    def get_rootref(self) -> str:
        """The root's blobref."""
        rootref: str = self._field("rootref")
        return rootref

    get_blobref = get_rootref  # libkvs's name for a getroot response

    def get_sequence(self) -> int:
        """The root's sequence number (the namespace's version)."""
        rootseq: int = self._field("rootseq")
        return rootseq

    def get_owner(self) -> int:
        """The namespace's owner (a getroot response)."""
        owner: int = self._field("owner")
        return owner & 0xFFFFFFFF

    def get_treeobj(self) -> dict[str, Any]:
        """The root as a ``dirref`` tree object, to look keys up in that snapshot."""
        from flux.services.kvs import treeobj

        return treeobj.create_dirref(self.get_rootref())


def getroot(flux_handle: "Flux", namespace: Optional[str] = None, flags: int = 0) -> RootFuture:
    """The current root of ``namespace``: ``{owner, rootseq, rootref, flags, namespace}``."""
    if flux_handle is None or flags:
        raise error(errno.EINVAL)
    payload = encode_json({"namespace": get_namespace(namespace), "flags": flags})
    return RootFuture(flux_handle, "kvs.getroot", payload, FLUX_NODEID_ANY, 0)


def wait_version(flux_handle: "Flux", version: int, namespace: Optional[str] = None) -> RootFuture:
    """Ready once ``namespace`` has reached ``version`` (``{"rootseq", "rootref"}``)."""
    payload = encode_json({"rootseq": version, "namespace": get_namespace(namespace)})
    return RootFuture(flux_handle, "kvs.wait-version", payload, FLUX_NODEID_ANY, 0)


def get_version(flux_handle: "Flux", namespace: Optional[str] = None) -> int:
    """The current version (root sequence number) of ``namespace``."""
    payload = encode_json({"namespace": get_namespace(namespace)})
    return RootFuture(flux_handle, "kvs.getroot", payload, FLUX_NODEID_ANY, 0).get_sequence()

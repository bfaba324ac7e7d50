"""Requests about the KVS service itself rather than its keys: its cache, its checkpoints."""

from __future__ import annotations

from flux.constants import FLUX_NODEID_ANY
from flux.rpc import RPC

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from flux.core.handle import Flux

__all__ = ["dropcache", "kvs_checkpoint_lookup"]


def dropcache(flux_handle: "Flux") -> None:
    """Ask the KVS to drop its unreferenced cache entries (``kvs.dropcache``).

    flux-core 0.88's KVS no longer has it (ENOSYS there); older releases do.
    """
    RPC(flux_handle, "kvs.dropcache", None, FLUX_NODEID_ANY).get()


def kvs_checkpoint_lookup(flux_handle: "Flux", cache_bypass: bool = False) -> list[dict[str, Any]]:
    """The KVS checkpoints (``version``, ``sequence``, ``timestamp``, ``rootref`` each).

    ``cache_bypass`` asks the backing store directly.  An older server's
    single checkpoint comes back as a list of one.
    """
    topic = "content-backing.checkpoint-get" if cache_bypass else "content.checkpoint-get"
    value = RPC(flux_handle, topic, None, FLUX_NODEID_ANY).get()["value"]
    return [value] if isinstance(value, dict) else value

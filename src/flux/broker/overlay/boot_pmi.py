"""Bootstrap from a PMI-1 launcher (flux-core's boot_pmi.c): bind, exchange
business cards through the PMI KVS, learn the parent and the children.

1. With children, bind: ``ipc://<rundir>/tbon-<rank>`` when they all run on
   this node (per ``PMI_process_mapping``), ``tcp://<address>:*`` when none
   do or ``tbon.prefertcp`` is set, both otherwise.
2. Put this broker's card under the key ``"<rank>"``; barrier.
3. Read every card (the hostlist attribute lists every rank's host): the
   parent's gives its URI (ipc:// preferred on the same node) and public key;
   each child's public key is authorized under the child's rank.
4. Barrier again, so no child connects before its parent authorizes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from flux.pmi import mapping as pmimap

from .boot_util import bizcard, parse_bizcard, primary_address

if TYPE_CHECKING:  # pragma: no cover
    from flux.pmi.client import SimpleClient

    from .overlay import Overlay

__all__ = ["boot_pmi", "BootError", "BootResult"]


class BootError(Exception):
    """Bootstrap failed: one line for the broker's stderr."""


class BootResult:
    __slots__ = ("hosts", "mapping", "endpoint", "parent_endpoint")

    def __init__(self, hosts: list[str], mapping: str, endpoint: Optional[str],
                 parent_endpoint: Optional[str]) -> None:
        self.hosts = hosts
        self.mapping = mapping
        self.endpoint = endpoint
        self.parent_endpoint = parent_endpoint


def boot_pmi(pmi: "SimpleClient", overlay: "Overlay", hostname: str, rundir: str,
             prefer_tcp: bool = False) -> BootResult:
    from flux.pmi.client import PMIError

    topo = overlay.topology
    rank, size = topo.rank, topo.size
    try:
        blocks: list[list[int]] = []
        text = pmi.get("PMI_process_mapping")
        if text:
            try:
                blocks = pmimap.parse_pmi(text)
            except ValueError as exc:
                raise BootError(f"PMI_process_mapping: {exc}") from None
        nodes = pmimap.nodeids(blocks, size)
        my_node = nodes[rank]

        def local(r: int) -> bool:
            return my_node >= 0 and nodes[r] == my_node

        children = topo.children
        if children:
            nlocal = sum(1 for c in children if local(c))
            ipc = f"ipc://{rundir}/tbon-{rank}"
            tcp = f"tcp://{primary_address()}:*"
            try:
                if prefer_tcp or nlocal == 0:
                    overlay.bind(tcp)
                elif nlocal == len(children):
                    overlay.bind(ipc)
                else:
                    overlay.bind(tcp)
                    overlay.bind(ipc)
            except Exception as exc:  # zmq.ZMQError
                raise BootError(f"overlay bind: {exc}") from None
        pmi.put(str(rank), bizcard(hostname, overlay.public_key.decode(), overlay.endpoints))
        pmi.barrier()
        cards = []
        for r, value in enumerate(pmi.get_many([str(r) for r in range(size)])):
            if value is None:
                raise BootError(f"rank {r}: no business card in the PMI KVS")
            try:
                cards.append(parse_bizcard(value))
            except ValueError as exc:
                raise BootError(f"rank {r}: {exc}") from None
        parent_uri = None
        if rank > 0:
            card = cards[topo.parent]
            uris = [u for u in card.get("uri", []) if isinstance(u, str)]
            if not prefer_tcp and local(topo.parent):
                parent_uri = next((u for u in uris if u.startswith("ipc://")), None)
            if parent_uri is None and uris:
                parent_uri = uris[0]
            if parent_uri is None or not isinstance(card.get("pubkey"), str):
                raise BootError(f"rank {topo.parent}: business card has no URI or key")
            overlay.set_parent(parent_uri, card["pubkey"])
        for c in children:
            key = cards[c].get("pubkey")
            if not isinstance(key, str):
                raise BootError(f"rank {c}: business card has no public key")
            overlay.authorize(str(c), key)
        pmi.barrier()
    except PMIError as exc:
        raise BootError(f"PMI: {exc}") from None
    mapping = pmimap.from_nodeids(nodes) if my_node >= 0 else [[0, 1, size, 1]]
    return BootResult([c["host"] for c in cards], pmimap.to_taskmap(mapping),
                      overlay.endpoints[0] if overlay.endpoints else None, parent_uri)

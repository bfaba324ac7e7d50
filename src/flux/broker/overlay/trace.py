"""``overlay.trace``: a record of every message this broker's overlay sends to or
receives from a peer, as flux-core's overlay module streams them.

Request ``{"typemask": i, "topic_glob": s, "nodeid": i, "full"?: b}`` (streaming;
``nodeid`` -1, flux-core's FLUX_NODEID_ANY as an int, means every peer); records as
``module.trace``'s (module_trace.py) with ``"name": null`` and ``"rank"`` the peer
(-1 for an event sent to every child).  Controls from children are traced only
when they carry a status, as flux-core's.  ``overlay.disconnect`` drops the
sender's requests.  The overlay calls :meth:`OverlayTracer.peer` only while
:attr:`requests` is non-empty.
"""

from __future__ import annotations

import errno

from flux.constants import FLUX_MSGFLAG_STREAMING
from flux.message import Message

from ..module_trace import ModuleTracer, _Filter
from ..router import RequestError

__all__ = ["OverlayTracer"]


class OverlayTracer(ModuleTracer):
    """The open ``overlay.trace`` requests and the records sent to them."""

    def request(self, msg: Message) -> None:
        obj = msg.payload_json()
        typemask = obj.get("typemask") if isinstance(obj, dict) else None
        glob = obj.get("topic_glob") if isinstance(obj, dict) else None
        nodeid = obj.get("nodeid") if isinstance(obj, dict) else None
        full = obj.get("full", False) if isinstance(obj, dict) else None
        if not isinstance(typemask, int) or not isinstance(glob, str) \
                or not isinstance(nodeid, int) or not isinstance(full, (bool, int)):
            raise RequestError(errno.EPROTO)
        if not msg.flags & FLUX_MSGFLAG_STREAMING:
            raise RequestError(errno.EPROTO)
        if nodeid == 0xFFFFFFFF:
            nodeid = -1
        self.requests.append(_Filter(msg, typemask, glob, None, bool(full), nodeid))

    def peer(self, prefix: str, rank: int, msg: Message) -> None:
        """Report ``msg`` sent to (``tx``) or received from (``rx``) peer ``rank``."""
        self.trace(prefix, None, msg, rank)

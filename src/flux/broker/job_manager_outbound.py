"""The job-manager's own peer on the router: how its requests to the scheduler and the
exec service leave, and how their responses find their way back.

Each request carries the peer's uuid as its first hop, so the router hands its
responses to the peer's ``send``, which the job-manager dispatches by topic as
flux-core's dispatches ``sched.alloc`` and ``<exec>.start`` responses.
"""

from __future__ import annotations

from flux.constants import (
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGTYPE_REQUEST,
    FLUX_ROLE_LOCAL,
    FLUX_ROLE_OWNER,
)
from flux.message import Message, encode_json

from .router import Router
from .uuids import uuid4

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable

__all__ = ["Outbound"]

#: requests flux-core's job-manager sends without wanting an answer
_NORESPONSE_TOPICS = ("sched.cancel", "sched.prioritize")


class Outbound:
    """The job-manager's own peer: requests it sends carry its uuid as their first hop,
    so their responses come back here."""

    def __init__(self, router: Router, owner: int, on_response: Callable[[Message], None]) -> None:
        self.uuid = uuid4()
        self.router = router
        self.owner = owner
        self.send = on_response  # the router hands responses to ``send``
        router.add_peer(self)

    def request(self, topic: str, payload: Any) -> None:
        msg = Message(FLUX_MSGTYPE_REQUEST)
        msg.topic = topic
        msg.payload_bytes = encode_json(payload)
        msg.flags |= FLUX_MSGFLAG_ROUTE
        if topic in _NORESPONSE_TOPICS:
            msg.flags |= FLUX_MSGFLAG_NORESPONSE
        msg.routes.append(self.uuid)
        msg.userid = self.owner
        msg.rolemask = FLUX_ROLE_OWNER | FLUX_ROLE_LOCAL
        self.router.request(msg)

    def close(self) -> None:
        self.router.remove_peer(self)

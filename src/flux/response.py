"""The one place a response is derived from a request (libflux's ``flux_response_derive``).

Clients answering requests (``h.respond``), the broker's builtin services, the
connector's own services and the module table all answer through
:func:`derive_response`, so flags, route stack, matchtag and error payloads
follow one rule (RFC 6: an error is an errno plus an optional NUL-terminated
text).
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

from flux.constants import (
    FLUX_MSGFLAG_PAYLOAD,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGFLAG_UPSTREAM,
    FLUX_MSGTYPE_RESPONSE,
    FLUX_USERID_UNKNOWN,
)
from flux.message import Message

#: Request flags a response keeps; PAYLOAD follows the response's own payload,
#: NORESPONSE never applies to a response.
KEEP_ON_RESPONSE = FLUX_MSGFLAG_ROUTE | FLUX_MSGFLAG_STREAMING | FLUX_MSGFLAG_UPSTREAM

_RESPONSE = FLUX_MSGTYPE_RESPONSE
_PAYLOAD = FLUX_MSGFLAG_PAYLOAD


def derive_response(request: Message, errnum: int = 0, payload: Optional[bytes] = None,
                    userid: int = FLUX_USERID_UNKNOWN, rolemask: int = 0) -> Message:
    """A response to ``request``: same topic, matchtag and route stack; ``payload`` is wire bytes.

    ``userid``/``rolemask`` default to "unset" (the sender's connector or broker
    stamps them); a broker answering on its own behalf passes its owner's.
    """
    resp = Message.__new__(Message)
    resp.type = _RESPONSE
    resp.flags = request.flags & KEEP_ON_RESPONSE
    resp.userid = userid
    resp.rolemask = rolemask
    resp.aux1 = errnum
    resp.aux2 = request.aux2
    resp.routes = list(request.routes)
    resp._topic = request._topic
    resp._topic_b = request._topic_b
    if payload:
        resp._payload = payload
        resp.flags |= _PAYLOAD
    else:
        resp._payload = None  # (KEEP_ON_RESPONSE has no PAYLOAD flag)
    return resp


def error_payload(text: Optional[str]) -> Optional[bytes]:
    """The payload of an error response: ``text`` NUL-terminated, or none (RFC 6)."""
    return text.encode() + b"\0" if text else None

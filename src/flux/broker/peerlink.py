"""What the broker keeps about one peer, whatever carries its messages.

A *peer link* is the broker's end of a client connection, of a module
process, and (next) of an overlay neighbour.  Whatever the transport, the
broker must track the same things for each, and this class is the one place
it does:

- requests delivered to the peer's services and not yet answered (the
  *in-flight* table): when the peer goes away each requester gets an error
  at once instead of waiting forever; when a requester goes away (its
  ``*.disconnect`` notice reaches the peer) its entries are forgotten;
- the services the peer registered (``service.add``/``service.remove``),
  released when the peer goes;
- its event subscriptions (reference counted, see events.py), dropped when
  it goes;
- the four requests a peer makes *about itself* (``event.subscribe``,
  ``event.unsubscribe``, ``service.add``, ``service.remove``), answered here
  for clients and modules alike, never reaching the router (as flux-core's
  connector does);
- what arrives from a local peer (:meth:`PeerLink.receive`): stamped with
  its credentials (a guest's always, otherwise only where unset; a module
  is an owner), its responses and events handed to the router;
- tracing: while ``traced`` is non-empty (module links share the open
  ``module.trace`` requests), every message to and from the peer is shown
  to :meth:`PeerLink.trace`; an untraced link pays one test per message.

A transport subclass (socketlink.py) moves the bytes and implements ``send``
and ``write``; an owner subclass (the connector's Client, a ModuleLink)
decides how its requests are forwarded (route hops, disconnect notices) and
has its own life cycle.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from flux.constants import (
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGTYPE_EVENT,
    FLUX_MSGTYPE_REQUEST,
    FLUX_MSGTYPE_RESPONSE,
    FLUX_ROLE_OWNER,
    FLUX_USERID_UNKNOWN,
)
from flux.codec import decode
from flux.message import Message
from flux.response import derive_response

from .router import RequestError

if TYPE_CHECKING:  # pragma: no cover
    from .events import Events
    from .router import Router

__all__ = ["PeerLink", "LOCAL_REQUESTS"]

_NORESPONSE = FLUX_MSGFLAG_NORESPONSE
_ROUTE = FLUX_MSGFLAG_ROUTE
_STREAMING = FLUX_MSGFLAG_STREAMING
_REQUEST = FLUX_MSGTYPE_REQUEST
_RESPONSE = FLUX_MSGTYPE_RESPONSE
_EVENT = FLUX_MSGTYPE_EVENT
_UNKNOWN = FLUX_USERID_UNKNOWN


class PeerLink:
    """Requests in flight, services and subscriptions of one peer (transport-agnostic)."""

    __slots__ = ("uuid", "router", "events", "userid", "rolemask", "guest", "reply_creds",
                 "hop", "traced", "inflight", "subs", "services", "rx", "tx")

    def __init__(self, uuid: str, router: Router, events: Events, userid: int, rolemask: int,
                 guest: bool, reply_creds: tuple[int, int], hop: str) -> None:
        self.uuid = uuid
        self.router = router
        self.events = events
        # who the peer is: its messages are stamped with these (by its owner)
        self.userid = userid
        self.rolemask = rolemask
        self.guest = guest
        # (userid, rolemask) of the answers to LOCAL_REQUESTS (they differ
        # between clients and modules on the wire, docs/architecture.md)
        self.reply_creds = reply_creds
        # the hop pushed on what the peer sends: C for clients (their requests
        # get their own X first), M for modules
        self.hop = hop
        # non-empty while someone traces this link's messages (see trace)
        self.traced: Sequence[Any] = ()
        # requests delivered to this peer's services, by (route stack, matchtag)
        self.inflight: dict[tuple[tuple[str, ...], int], Message | bytes] = {}
        self.subs: dict[str, int] = {}
        self.services: set[str] = set()
        self.rx = 0
        self.tx = 0

    # -- messages from the peer ---------------------------------------------------------

    def receive(self, msg: Message) -> None:
        """A message from the peer: stamp it, answer it here or hand it to the router."""
        if self.traced:
            self.trace("tx", msg)
        self.rx += 1
        if self.guest:
            msg.userid = self.userid
            msg.rolemask = self.rolemask
        else:
            if msg.userid == _UNKNOWN:
                msg.userid = self.userid
            if not msg.rolemask:
                msg.rolemask = self.rolemask
        mtype = msg.type
        if mtype == _REQUEST:
            local = LOCAL_REQUESTS.get(msg._topic)  # the slot: the property costs a call
            if local is not None:
                local(self, msg)
            else:
                self.forward_request(msg)
        elif mtype == _RESPONSE:
            if self.inflight and (msg.aux1 or not msg.flags & _STREAMING):
                self.inflight.pop((tuple(msg.routes), msg.aux2), None)
            self.router.response(msg)
        elif mtype == _EVENT:
            msg.routes.append(self.hop)
            msg.flags |= _ROUTE
            self.router.event(msg)
        # control messages from peers have no meaning here: dropped

    def forward_request(self, msg: Message) -> None:  # pragma: no cover - the owner's
        """Push the peer's hops and hand the request to the router."""
        raise NotImplementedError

    def trace(self, prefix: str, msg: Message) -> None:  # pragma: no cover - the owner's
        """Show ``msg`` to whoever traces this link ("rx": to the peer, "tx": from it)."""

    # -- requests in flight -----------------------------------------------------------

    def forget_requester(self, notice: Message) -> None:
        """A ``*.disconnect`` notice: its sender's requests need no error reply any more."""
        topic = notice.topic
        if topic is None or not topic.endswith(".disconnect"):
            return
        sender = notice.route_first
        owner = notice.rolemask & FLUX_ROLE_OWNER  # else only the notice's user's requests
        for key in [k for k, req in self.inflight.items() if k[0] and k[0][0] == sender
                    and (owner or _userid(req) == notice.userid)]:
            del self.inflight[key]

    def fail_inflight(self, errnum: int, text: Optional[str] = None) -> None:
        """Answer every request still in flight with ``errnum``.

        Without ``text`` each gets "SERVICE service provider disconnected".
        """
        if not self.inflight:
            return
        # a request relayed on its bytes waits as those bytes (socketlink.py)
        pending = [decode(r[8:]) if isinstance(r, bytes) else r for r in self.inflight.values()]
        self.inflight.clear()
        respond_error = self.router.respond_error
        for req in pending:
            if text is None:
                service = (req.topic or "").split(".", 1)[0]
                respond_error(req, errnum, f"{service} service provider disconnected")
            else:
                respond_error(req, errnum, text)

    def release(self) -> None:
        """The peer is gone: its services, its route and its subscriptions go with it."""
        self.router.remove_peer(self)
        self.events.forget(self)

    # -- what a transport provides ---------------------------------------------------------

    def send(self, msg: Message) -> None:  # pragma: no cover - the transport's
        """Router peer: deliver a request for one of its services, or a response."""
        raise NotImplementedError

    def write(self, data: bytes) -> None:  # pragma: no cover - the transport's
        """Queue bytes already encoded by :meth:`encode` (events: once for all links)."""
        raise NotImplementedError

    @staticmethod
    def encode(msg: Message) -> bytes:  # pragma: no cover - the transport's
        raise NotImplementedError

    # -- the requests a peer makes about itself ---------------------------------------------

    def reply(self, req: Message, errnum: int = 0) -> None:
        """Answer one of LOCAL_REQUESTS (no payload) straight back to this peer."""
        if req.flags & _NORESPONSE:
            return
        userid, rolemask = self.reply_creds
        self.send(derive_response(req, errnum, None, userid, rolemask))

    def _local(self, req: Message, key: str, action: Callable[[PeerLink, str], Any]) -> None:
        """Run ``action(self, payload[key])`` and answer: EPROTO without a string there."""
        try:
            try:
                value = req.payload_json().get(key)
            except OSError:
                raise RequestError(errno.EPROTO) from None
            if not isinstance(value, str):
                raise RequestError(errno.EPROTO)
            action(self, value)
        except RequestError as exc:
            self.reply(req, exc.errnum)
            return
        self.reply(req)

    def subscribe(self, req: Message) -> None:
        self._local(req, "topic", self.events.subscribe)

    def unsubscribe(self, req: Message) -> None:
        self._local(req, "topic", self.events.unsubscribe)

    def service_add(self, req: Message) -> None:
        self._local(req, "service", PeerLink._add_service)

    def service_remove(self, req: Message) -> None:
        self._local(req, "service", PeerLink._remove_service)

    def _add_service(self, name: str) -> None:
        if self.guest and not name.startswith(f"{self.userid}-"):
            raise RequestError(errno.EPERM)
        self.router.service_add(name, self)
        self.services.add(name)

    def _remove_service(self, name: str) -> None:
        if self.guest and not name.startswith(f"{self.userid}-"):
            raise RequestError(errno.EPERM)
        self.router.service_remove(name, self)
        self.services.discard(name)


#: Topic -> handler of the requests a peer makes about itself (see the module docstring).
LOCAL_REQUESTS: dict[Optional[str], Callable[[PeerLink, Message], None]] = {
    "event.subscribe": PeerLink.subscribe,
    "event.unsubscribe": PeerLink.unsubscribe,
    "service.add": PeerLink.service_add,
    "service.remove": PeerLink.service_remove,
}


def _userid(req: "Message | bytes") -> Optional[int]:
    """The sender's userid of a request in flight (a relayed one waits as its stream bytes,
    read without decoding)."""
    if isinstance(req, bytes):
        from flux.codec import peek

        header = peek(req, 8, len(req))
        return header[2] if header is not None else None
    return req.userid

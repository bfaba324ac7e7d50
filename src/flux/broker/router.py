"""The broker's router: service table, request/response routing, errors.

Everything that can exchange messages with the router is a *peer*: an object
with a ``uuid`` and a ``send(msg)`` method.  The local connector is one peer
(uuid C, it owns the client connections); a client that registers a service
is a peer for that service; a module link is a peer too: its requests arrive
with its uuid pushed, it registers its own name as a service, and responses
addressed to it are routed by its uuid.

Route stacks follow docs/architecture.md: a request from client X arrives as
``[X, C]``; delivering it to a peer's service pushes the broker uuid B; a
response pops B (if present), then the hop naming the peer it goes to (the
connector pops the client's own hop X).

Whether a request is for this broker at all is the topology's decision
(topology.py).  In an instance of many brokers the overlay (overlay/) carries
the rest: a request for a rank below goes to the child toward it, one for
any other rank to the parent, and a request for ANY (or UPSTREAM from a
rank below) that no local service takes goes to the parent too (rank 0
answers ENOSYS); where the overlay cannot deliver, EHOSTUNREACH.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Any, Callable, Optional, Protocol

from flux.constants import (
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGFLAG_UPSTREAM,
    FLUX_NODEID_ANY,
    FLUX_ROLE_LOCAL,
    FLUX_ROLE_OWNER,
)
from flux.codec import decode_range, message_from_head
from flux.message import Message, encode_json
from flux.response import derive_response, error_payload

from .topology import LOCAL, PARENT, REMOTE, Topology

__all__ = ["Peer", "RequestError", "BuiltinService", "Router", "Handler", "Overlay",
           "relayed_message"]

_NORESPONSE = FLUX_MSGFLAG_NORESPONSE
_ROUTE = FLUX_MSGFLAG_ROUTE
_UPSTREAM = FLUX_MSGFLAG_UPSTREAM
_ANY = FLUX_NODEID_ANY
_OWNER_LOCAL = FLUX_ROLE_OWNER | FLUX_ROLE_LOCAL

Handler = Callable[[Message], None]


class Peer(Protocol):
    """Something the router can hand messages to (connector, client service, module)."""

    uuid: str

    def send(self, msg: Message) -> None:
        """Deliver ``msg`` (request for a service it provides, or response)."""


def from_sender(req: Message, msg: Message) -> bool:
    """Whether ``msg`` (a ``*.disconnect`` or ``*.cancel`` request) speaks for ``req``: both
    came from the same client, and ``msg``'s sender is the owner or ``req``'s user."""
    return req.route_first == msg.route_first and (
        bool(msg.rolemask & FLUX_ROLE_OWNER) or req.userid == msg.userid)


def relayed_message(buf: bytes, start: int, stop: int, routes: list[str], pop: int,
                    userid: Optional[int], rolemask: Optional[int]) -> Message:
    """The Message a relayed response stands for (for a peer that takes only Messages)."""
    msg = decode_range(buf, start, stop)
    if pop:
        del msg.routes[len(msg.routes) - pop:]
    if userid is not None:
        msg.userid = userid
    if rolemask is not None:
        msg.rolemask = rolemask
    return msg


class Overlay(Protocol):
    """What the router needs of the TBON overlay (overlay/overlay.py)."""

    def forward_up(self, msg: Message) -> bool:
        """Send a request to the parent; False if there is no way up."""

    def forward_down(self, rank: int, msg: Message) -> bool:
        """Send a request toward descendant ``rank``; False if its subtree is offline."""


class RequestError(Exception):
    """Raised by a service handler: answer the request with ``errnum`` and ``text``."""

    def __init__(self, errnum: int, text: Optional[str] = None) -> None:
        super().__init__(errnum, text)
        self.errnum = errnum
        self.text = text


class _PeerService:
    """A service provided by a peer: requests get the broker uuid pushed."""

    __slots__ = ("peer", "broker_uuid", "relay")

    def __init__(self, peer: Peer, broker_uuid: str) -> None:
        self.peer = peer
        self.broker_uuid = broker_uuid
        # how the peer takes a request still in its bytes (socketlink.py), if it does
        self.relay: Optional[Callable[..., None]] = getattr(peer, "relay_request_out", None)

    def deliver(self, msg: Message) -> None:
        msg.routes.append(self.broker_uuid)
        msg.flags |= _ROUTE
        self.peer.send(msg)


class _RefusedService:
    """A peer's service that takes no more requests (its module is unloading)."""

    __slots__ = ("peer", "router", "errnum", "text")

    def __init__(self, peer: Peer, router: "Router", errnum: int, text: str) -> None:
        self.peer = peer
        self.router = router
        self.errnum = errnum
        self.text = text

    def deliver(self, msg: Message) -> None:
        self.router.respond_error(msg, self.errnum, self.text)


class BuiltinService:
    """A service implemented inside the broker: a table of methods with roles."""

    peer = None

    def __init__(self, router: "Router", name: str) -> None:
        self.router = router
        self.name = name
        self.methods: dict[str, tuple[Handler, int]] = {}

    def method(self, method: str, handler: Handler, roles: int = 0) -> None:
        """Register ``NAME.method``; the owner is always allowed, ``roles`` adds more."""
        self.methods[f"{self.name}.{method}"] = (handler, roles | FLUX_ROLE_OWNER)

    def methods_of(self, table: tuple, target: Callable[[], Any]) -> None:
        """Register ``table`` (``(method, handler name, roles)`` rows) as methods of the
        object ``target()`` returns, called on the first request to any of them (a
        service created on first use, so an instance that never needs it pays nothing);
        from then on the methods are its bound handlers, with no stub in between."""
        def first_use(handler: str) -> Handler:
            def call(msg: Message) -> None:
                obj = target()
                for method, name, roles in table:
                    self.method(method, getattr(obj, name), roles)
                getattr(obj, handler)(msg)
            return call

        for method, handler, roles in table:
            self.method(method, first_use(handler), roles)

    def deliver(self, msg: Message) -> None:
        entry = self.methods.get(msg._topic)  # type: ignore[arg-type]  # a request routed to a service always has a topic
        router = self.router
        if entry is None:
            router.respond_error(msg, errno.ENOSYS, f"Unknown service method '{msg.topic}'")
            return
        handler, roles = entry
        if not msg.rolemask & roles:
            router.respond_error(msg, errno.EPERM, "Request requires owner credentials")
            return
        try:
            handler(msg)
        except RequestError as exc:
            router.respond_error(msg, exc.errnum, exc.text)
        except OSError as exc:  # e.g. payload_json() -> EPROTO
            errnum = exc.errno or errno.EINVAL
            text = exc.strerror
            if text and text == os.strerror(errnum):
                text = None  # flux-core sends no text where strerror says it all
            router.respond_error(msg, errnum, text)
        except Exception as exc:  # a service bug must not take the broker down
            router.logger.exception("%s: unexpected error", msg.topic)
            router.respond_error(msg, errno.EINVAL, f"internal error: {exc}"[:79])


class StderrLogger:
    """A service's unexpected failure, on the broker's stderr: what ``logging`` would
    print with no handler configured, without its import on every broker's start-up."""

    disabled = False

    def error(self, fmt: str, *args: Any) -> None:
        if not self.disabled:
            sys.stderr.write((fmt % args if args else fmt) + "\n")

    def exception(self, fmt: str, *args: Any) -> None:
        """``error`` and the traceback of the exception being handled."""
        if not self.disabled:
            import traceback

            sys.stderr.write((fmt % args if args else fmt) + "\n" + traceback.format_exc())


class Router:
    """Routes requests to services and responses back along their route stack."""

    def __init__(self, uuid: str, topology: Topology, owner: int) -> None:
        self.uuid = uuid
        self.topology = topology
        self.owner = owner
        self.services: dict[str, Any] = {}
        self.peers: dict[str, Peer] = {}
        self.event_handler: Optional[Callable[[Message], Any]] = None
        self.overlay: Optional[Overlay] = None
        self.logger = StderrLogger()
        # message counters for broker.stats-get, indexed by message type
        self.rx = [0] * 9
        self.tx = [0] * 9
        # requests delivered per service name, for broker.service-stats (flux dashboard's chart)
        self.requests_by_service: dict[str, int] = {}

    # -- table -------------------------------------------------------------------

    def builtin(self, name: str) -> BuiltinService:
        """Create and register a builtin service called ``name``."""
        svc = BuiltinService(self, name)
        self.services[name] = svc
        return svc

    def add_peer(self, peer: Peer) -> None:
        """Make ``peer`` reachable for responses addressed to its uuid."""
        self.peers[peer.uuid] = peer

    def remove_peer(self, peer: Peer) -> None:
        """Forget ``peer``: no more responses to its uuid, its services are released."""
        if self.peers.get(peer.uuid) is peer:
            del self.peers[peer.uuid]
        self.service_remove_peer(peer)

    def service_add(self, name: str, peer: Peer) -> None:
        """Route requests for ``name`` to ``peer``; EEXIST if taken."""
        if not name or "." in name:
            raise RequestError(errno.EINVAL, "invalid service name")
        if name in self.services:
            raise RequestError(errno.EEXIST)
        self.services[name] = _PeerService(peer, self.uuid)

    def service_remove(self, name: str, peer: Optional[Peer] = None) -> None:
        """Unregister ``name`` (only if ``peer`` owns it, when given); ENOENT otherwise."""
        svc = self.services.get(name)
        if svc is None or svc.peer is None or (peer is not None and svc.peer is not peer):
            raise RequestError(errno.ENOENT)
        del self.services[name]

    def service_remove_peer(self, peer: Peer) -> None:
        for name in [n for n, s in self.services.items() if s.peer is peer]:
            del self.services[name]

    def refuse_peer(self, peer: Peer, errnum: int, text: str) -> None:
        """Answer new requests for ``peer``'s services with an error; the names stay taken."""
        for name, svc in self.services.items():
            if svc.peer is peer:
                self.services[name] = _RefusedService(peer, self, errnum, text)

    # -- requests --------------------------------------------------------------------

    def request(self, msg: Message) -> None:
        """Route a request whose sender's hops are already pushed."""
        self.rx[1] += 1
        topic = msg._topic  # the slot: the property costs a call per message
        if topic is None:
            self.respond_error(msg, errno.EPROTO)
            return
        nodeid = msg.aux1
        upstream = msg.flags & _UPSTREAM
        if nodeid != _ANY:
            where = self.topology.route(nodeid, bool(upstream))
            if where != LOCAL:
                overlay = self.overlay
                if overlay is not None:
                    if where == REMOTE and overlay.forward_down(nodeid, msg):
                        return
                    if where == PARENT and overlay.forward_up(msg):
                        return
                self.respond_error(msg, errno.EHOSTUNREACH)
                return
        dot = topic.find(".")
        name = topic if dot < 0 else topic[:dot]
        svc = self.services.get(name)
        if svc is None:
            # ANY, or UPSTREAM from a rank below: try the parent's services
            if (nodeid == _ANY or upstream) and self.overlay is not None \
                    and self.topology.has_parent:
                if self.overlay.forward_up(msg):
                    return
                self.respond_error(msg, errno.EHOSTUNREACH)
                return
            self.respond_error(msg, errno.ENOSYS, f"No service matching {topic} is registered")
            return
        counts = self.requests_by_service
        counts[name] = counts.get(name, 0) + 1
        svc.deliver(msg)

    def relay_request(self, buf: bytes, start: int, stop: int, head: tuple,
                      push: tuple[str, ...], frames: bytes, userid: Optional[int],
                      rolemask: Optional[int]) -> bool:
        """:meth:`request` for a request still in its stream bytes (socketlink.py
        ``relay_in``; ``head``: what ``codec.peek_head`` read of it) that is for this
        broker, where the sender's hops ``push`` and the credentials (where not None) are
        still to be put on:

        - for a local peer's service that takes bytes (``relay_request_out``) it stays
          bytes: ``push`` and B are pushed on the way (``frames``: their route frames);
        - for a builtin service it is decoded once and delivered as :meth:`request` would.

        False, having done nothing, for any other request: the caller decodes it."""
        _, flags, _, _, nodeid, matchtag, routes, topic, _, _ = head
        if nodeid != _ANY and self.topology.route(nodeid, bool(flags & _UPSTREAM)) != LOCAL:
            return False
        dot = topic.find(".")
        name = topic if dot < 0 else topic[:dot]
        svc: Any = self.services.get(name)
        kind = type(svc)
        if kind is BuiltinService:
            msg = message_from_head(buf, start, stop, head)
            if userid is not None:
                msg.userid = userid
            if rolemask is not None:
                msg.rolemask = rolemask
            msg.routes.extend(push)
            msg.flags |= _ROUTE
            self.rx[1] += 1
            counts = self.requests_by_service
            counts[name] = counts.get(name, 0) + 1
            svc.deliver(msg)
            return True
        if kind is not _PeerService:
            return False
        relay_out = svc.relay
        if relay_out is None:
            return False
        self.rx[1] += 1
        counts = self.requests_by_service
        counts[name] = counts.get(name, 0) + 1
        routes.extend(push)
        routes.append(self.uuid)
        relay_out(buf, start, stop, matchtag, routes, frames, userid, rolemask)
        return True

    # -- responses ---------------------------------------------------------------------

    def response(self, msg: Message) -> None:
        """Route a response (from a peer's service) back toward its requester."""
        self.rx[2] += 1
        self._route_response(msg)

    def relay_response(self, buf: bytes, start: int, stop: int, routes: list[str], rend: int,
                       userid: Optional[int], rolemask: Optional[int]) -> None:
        """:meth:`response` for a response still in its stream bytes ``buf[start:stop]``
        (socketlink.py ``relay_in``): ``routes`` is its route stack (its frames end at
        ``rend``), ``userid``/``rolemask`` (where not None) its new credentials.  The next
        peer gets the bytes with the route ids popped here (``relay_out``); a peer without
        ``relay_out`` gets a Message."""
        self.rx[2] += 1
        n = len(routes)
        pop = 1 if n and routes[-1] == self.uuid else 0
        if pop == n:
            return  # addressed to the broker itself: nothing is waiting for it
        pop += 1
        peer = self.peers.get(routes[n - pop])
        if peer is None:
            return
        self.tx[2] += 1
        relay_out = getattr(peer, "relay_out", None)
        if relay_out is not None:
            relay_out(buf, start, stop, routes, rend, pop, userid, rolemask)
        else:
            peer.send(relayed_message(buf, start, stop, routes, pop, userid, rolemask))

    def _route_response(self, msg: Message) -> None:
        routes = msg.routes
        if routes and routes[-1] == self.uuid:
            routes.pop()
        if not routes:
            return  # addressed to the broker itself: nothing is waiting for it
        peer = self.peers.get(routes.pop())
        if peer is not None:
            self.tx[2] += 1
            peer.send(msg)

    def respond(self, req: Message, payload: Any = None) -> None:
        """Answer ``req`` from a builtin service (dict -> JSON, str -> string, bytes raw)."""
        if req.flags & _NORESPONSE:
            return
        if type(payload) is bytes:
            data = payload
        elif payload is None:
            data = None
        elif isinstance(payload, dict):
            data = encode_json(payload)
        elif isinstance(payload, str):
            data = payload.encode() + b"\0"
        else:
            data = bytes(payload)
        self._route_response(derive_response(req, 0, data, self.owner, _OWNER_LOCAL))

    def respond_many(self, req: Message, payloads: list[bytes]) -> None:
        """:meth:`respond` with each of ``payloads`` (wire bytes) in turn: a stream's
        responses that differ only in payload (job output, one per line).  A peer with
        ``send_many`` (a client's connector) gets them at once, to encode the
        response's routes and header once."""
        if req.flags & _NORESPONSE or not payloads:
            return
        routes = req.routes
        n = len(routes)
        if n and routes[-1] == self.uuid:
            n -= 1
        if not n:
            return  # addressed to the broker itself: nothing is waiting for it
        peer = self.peers.get(routes[n - 1])
        many = getattr(peer, "send_many", None)
        if many is None:
            for payload in payloads:
                self.respond(req, payload)
            return
        msg = derive_response(req, 0, None, self.owner, _OWNER_LOCAL)
        msg.routes = routes[:n - 1]
        self.tx[2] += len(payloads)
        many(msg, payloads)

    def respond_error(self, req: Message, errnum: int, text: Optional[str] = None) -> None:
        """Answer ``req`` with an error number and optional text (RFC 6)."""
        if req.flags & _NORESPONSE:
            return
        self._route_response(derive_response(req, errnum or errno.EINVAL, error_payload(text),
                                             self.owner, _OWNER_LOCAL))

    # -- events ---------------------------------------------------------------------------

    def event(self, msg: Message) -> None:
        """A raw event from a peer: publish it (events.py installs the handler)."""
        self.rx[4] += 1
        if self.event_handler is not None:
            self.event_handler(msg)


"""The TBON overlay: one ZeroMQ ROUTER for this broker's children, one DEALER
to its parent, integrated in the broker's loop (each socket's FD in the poll
set, drained on every wake-up and after every send, as ZeroMQ's edge-triggered
FD requires).

Wire facts (PROTOCOL.md §5, flux-core 0.88's overlay): every Flux frame is
one ZeroMQ part; the child's DEALER identity is its broker uuid; the ROUTER
prepends that identity, which the parent reads as the most recent route hop.
The child's first message is the request ``overlay.hello``; its reply carries
the parent's uuid, and only then does the child pass anything but control
messages.  Controls (HEARTBEAT, STATUS child -> parent, DISCONNECT parent ->
child) carry their type and status in aux1/aux2.

Routing, with this broker's uuid B, a child's uuid D, the parent's uuid P:

- a request for a rank below: push B, send to the child toward it (ROUTER
  pops D as the destination); a response coming back from D has ``[..., B, D]``:
  drop D, then the router pops B and follows the rest;
- a request for elsewhere (or ANY/UPSTREAM with no local service): sent to the
  parent as is; its response comes back with the stack it left with;
- a request from the parent ends with P: answering it pops back to P, which is
  the parent's link (a router peer): the response goes up, P pushed back.

Requests in flight to a peer are tracked (flux-core's rpc_track): when the
peer is lost they are answered EHOSTUNREACH "overlay disconnect" at once.  A
lost child is seen through the ROUTER's monitor socket (a disconnect of the
TCP/IPC connection its hello came in on), a lost parent through the
DEALER's; CURVE keys are checked by the ZAP handler (zap.py).
"""

from __future__ import annotations

import errno
import struct
import time
from typing import Any, Callable, Optional

import zmq

from flux.codec import ProtocolError, from_frames, to_frames
from flux.constants import (
    FLUX_CONTROL_DISCONNECT,
    FLUX_CONTROL_HEARTBEAT,
    FLUX_CONTROL_STATUS,
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGTYPE_CONTROL,
    FLUX_MSGTYPE_EVENT,
    FLUX_MSGTYPE_REQUEST,
    FLUX_MSGTYPE_RESPONSE,
    FLUX_ROLE_LOCAL,
    FLUX_ROLE_OWNER,
)
from flux.message import Message, encode_json
from flux.response import derive_response, error_payload
from flux.severity import LOG_CRIT, LOG_DEBUG, LOG_ERR

from .zap import ZapHandler
from .zsock import fd as _fd
from .zsock import readable as _readable
from .zsock import recv_parts, recv_routed, send_parts

_MONITOR_HEAD = struct.Struct("=Hi")

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from ..events import Events
    from ..loop import Loop
    from ..router import Router
    from ..topology import Topology

__all__ = ["Overlay", "STATUS_NAMES", "FULL", "PARTIAL", "DEGRADED", "LOST", "OFFLINE",
           "version_hex"]

STATUS_NAMES = ("unknown", "full", "partial", "degraded", "lost", "offline")
UNKNOWN, FULL, PARTIAL, DEGRADED, LOST, OFFLINE = range(6)
_ONLINE = (FULL, PARTIAL, DEGRADED)

_ROUTE = FLUX_MSGFLAG_ROUTE
_NORESPONSE = FLUX_MSGFLAG_NORESPONSE
_STREAMING = FLUX_MSGFLAG_STREAMING
_NOT_LOCAL = ~FLUX_ROLE_LOCAL & 0xFFFFFFFF

Log = Callable[[int, str], Any]


def version_hex(version: str) -> int:
    """``"0.88.0"`` -> 0x005800 (flux-core's FLUX_CORE_VERSION_HEX)."""
    parts = (version.split("-")[0].split(".") + ["0", "0", "0"])[:3]
    major, minor, patch = (int("".join(c for c in p if c.isdigit()) or 0) for p in parts)
    return (major << 16) | (minor << 8) | patch


#: why a child was lost -> what flux-core logs, and the error its health report shows
_LOST_LOGS = {"disconnect": "failed", "send failure": "failed",
              "administrative disconnect": "disconnected by request"}
_LOST_ERRORS = {"disconnect": "lost connection", "send failure": "lost connection",
                "administrative disconnect": "administrative disconnect"}


class _Tracker:
    """Requests sent to one peer and not yet fully answered (flux-core's rpc_track)."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending: dict[tuple[tuple[str, ...], int], Message] = {}

    def sent(self, msg: Message) -> None:
        if not msg.flags & _NORESPONSE:
            self.pending[(tuple(msg.routes), msg.aux2)] = msg.copy(payload=False)

    def answered(self, msg: Message) -> None:
        if self.pending and (msg.aux1 or not msg.flags & _STREAMING):
            self.pending.pop((tuple(msg.routes), msg.aux2), None)

    def take(self) -> list[Message]:
        out = list(self.pending.values())
        self.pending.clear()
        return out


class _Child:
    __slots__ = ("rank", "uuid", "status", "since", "hostname", "fd", "last_seen",
                 "tracker", "error", "torpid")

    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.uuid: Optional[str] = None
        self.status = OFFLINE
        self.since = time.monotonic()
        self.hostname = ""
        self.fd = -1
        self.last_seen = 0.0
        self.tracker = _Tracker()
        self.error = ""
        #: online, but nothing heard from it for tbon.torpid_max
        self.torpid = False

    @property
    def online(self) -> bool:
        return self.status in _ONLINE


class _PeerLink:
    """A router peer standing for the parent or a child: what the router hands it
    (a response popped down to that peer's uuid) goes out on the overlay."""

    __slots__ = ("uuid", "overlay", "child")

    def __init__(self, uuid: str, overlay: "Overlay", child: Optional[_Child]) -> None:
        self.uuid = uuid
        self.overlay = overlay
        self.child = child

    def send(self, msg: Message) -> None:
        if self.child is None:
            msg.routes.append(self.uuid)  # P goes back on: the parent strips it
            msg.flags |= _ROUTE
            self.overlay.send_parent_raw(msg)
        else:
            self.overlay.send_child_raw(self.child, msg)


class Overlay:
    """This broker's overlay links and the ``overlay`` service."""

    def __init__(self, loop: "Loop", router: "Router", events: "Events",
                 topology: "Topology", uuid: str, hostname: str, log: Log,
                 version: int, hostlist: Callable[[], list[str]],
                 torpid_min: float = 5.0, torpid_max: float = 30.0) -> None:
        self.loop = loop
        self.router = router
        self.events = events
        self.topology = topology
        self.uuid = uuid
        self.hostname = hostname
        self.log = log
        self.version = version
        self.hostlist = hostlist
        self.torpid_min = torpid_min
        self.torpid_max = torpid_max
        self.ctx = zmq.Context()
        self.ctx.setsockopt(zmq.BLOCKY, False)
        pub, sec = zmq.curve_keypair()
        self.public_key: bytes = pub
        self.secret_key: bytes = sec
        self.zap: Optional[ZapHandler] = None
        self.bind_sock: Optional[zmq.Socket] = None
        self.bind_mon: Optional[zmq.Socket] = None
        self.endpoints: list[str] = []
        self.children = {r: _Child(r) for r in topology.children}
        self.by_uuid: dict[str, _Child] = {}
        self.status = FULL if not self.children else PARTIAL
        self.status_since = time.monotonic()
        # parent side
        self.parent_uri: Optional[str] = None
        self.parent_pubkey: Optional[bytes] = None
        self.parent_sock: Optional[zmq.Socket] = None
        self.parent_mon: Optional[zmq.Socket] = None
        self.parent_uuid: Optional[str] = None
        self.parent_online = False
        self.parent_lost = False
        self.parent_tracker = _Tracker()
        self.parent_last_send = 0.0
        self.goodbye_sent = False
        self.on_parent_ready: Optional[Callable[[], Any]] = None
        self.on_parent_lost: Optional[Callable[[str], Any]] = None
        self.on_goodbye: Optional[Callable[[], Any]] = None
        self.on_status: Optional[Callable[[int], Any]] = None
        #: a child's subtree went offline or was lost: called with the child's rank
        self.on_child_lost: Optional[Callable[[int], Any]] = None
        #: a child became torpid (True) or responsive again (False)
        self.on_torpid: Optional[Callable[[int, bool], Any]] = None
        #: streaming overlay.monitor requests, told of each child's status or torpidity
        self.monitors: list[Message] = []
        from .trace import OverlayTracer

        #: overlay.trace requests (trace.py); tested before each traced message
        self.tracer = OverlayTracer(router)
        self.traced = self.tracer.requests
        self.refuse_hello = False  # set in shutdown: no child may join any more
        self.last_seq = 0
        self._fds: list[int] = []
        self._drain_scheduled = False
        self._heartbeat: Any = None
        self.closed = False
        self._register_service()

    # -- set-up (bootstrap) --------------------------------------------------------

    def bind(self, uri: str) -> str:
        """Bind the children's ROUTER to ``uri`` (a ``tcp://host:*`` gets its port);
        returns the endpoint as children must connect to it."""
        if self.bind_sock is None:
            self.zap = ZapHandler(self.ctx, log=lambda text: self.log(LOG_ERR, text))
            sock = self.ctx.socket(zmq.ROUTER)
            sock.setsockopt(zmq.CURVE_SERVER, 1)
            sock.setsockopt(zmq.CURVE_SECRETKEY, self.secret_key)
            sock.setsockopt(zmq.ZAP_DOMAIN, b"flux")
            sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
            sock.setsockopt(zmq.SNDHWM, 0)
            sock.setsockopt(zmq.RCVHWM, 0)
            sock.setsockopt(zmq.LINGER, 5)
            sock.setsockopt(zmq.IPV6, 1)
            self.bind_mon = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
            self.bind_sock = sock
        self.bind_sock.bind(uri)
        endpoint = self.bind_sock.getsockopt_string(zmq.LAST_ENDPOINT)
        if uri.startswith("tcp://"):  # the address as given, the port as chosen
            endpoint = uri.rsplit(":", 1)[0] + ":" + endpoint.rsplit(":", 1)[1]
        self.endpoints.append(endpoint)
        return endpoint

    def authorize(self, name: str, pubkey: bytes | str) -> None:
        """Let the holder of ``pubkey`` (Z85) connect; ``name`` is how it is logged."""
        if self.zap is None:
            raise OSError(errno.EINVAL, "overlay: authorize before bind")
        self.zap.authorize(name, pubkey)

    def set_parent(self, uri: str, pubkey: bytes | str) -> None:
        self.parent_uri = uri
        self.parent_pubkey = pubkey.encode() if isinstance(pubkey, str) else pubkey

    def set_keypair(self, public: bytes, secret: bytes) -> None:
        """Use a shared certificate (config boot) instead of the generated pair."""
        self.public_key = public
        self.secret_key = secret

    def start(self) -> None:
        """Put the sockets in the loop (after bootstrap, before the loop runs)."""
        if self.bind_sock is not None:
            assert self.zap is not None and self.bind_mon is not None
            self._watch(self.zap.fd(), lambda ev: self.zap.process() if self.zap else None)
            self._watch(_fd(self.bind_sock), lambda ev: self._drain_children())
            self._watch(_fd(self.bind_mon), lambda ev: self._drain_bind_monitor())
        self._heartbeat = self.loop.call_later(self.torpid_min, self._tick,
                                               interval=min(self.torpid_min, 1.0))

    def _watch(self, fd: int, callback: Callable[[int], Any]) -> None:
        """Poll a ZeroMQ FD; a first call arms it (it signals only after a look at
        ZMQ_EVENTS has found the socket empty)."""
        self.loop.add_reader(fd, callback)
        self._fds.append(fd)
        self.loop.call_soon(lambda: callback(0))

    def connect(self) -> None:
        """Connect to the parent and say hello (the JOIN state)."""
        if self.parent_uri is None or self.parent_pubkey is None:
            raise OSError(errno.EINVAL, "overlay: no parent to connect to")
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.IDENTITY, self.uuid.encode())
        sock.setsockopt(zmq.CURVE_SERVERKEY, self.parent_pubkey)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, self.public_key)
        sock.setsockopt(zmq.CURVE_SECRETKEY, self.secret_key)
        sock.setsockopt(zmq.SNDHWM, 0)
        sock.setsockopt(zmq.RCVHWM, 0)
        sock.setsockopt(zmq.LINGER, 5)
        sock.setsockopt(zmq.IPV6, 1)
        self.parent_mon = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED
                                                  | zmq.EVENT_HANDSHAKE_FAILED_AUTH
                                                  | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL)
        sock.connect(self.parent_uri)
        self.parent_sock = sock
        self._watch(_fd(sock), lambda ev: self._drain_parent())
        self._watch(_fd(self.parent_mon), lambda ev: self._drain_parent_monitor())
        hello = Message(FLUX_MSGTYPE_REQUEST)
        hello.topic = "overlay.hello"
        hello.flags |= _ROUTE
        hello.rolemask = FLUX_ROLE_OWNER
        hello.payload_bytes = encode_json({"rank": self.topology.rank, "version": self.version,
                                           "uuid": self.uuid, "status": self.status,
                                           "hostname": self.hostname})
        self._send_parent(hello)

    # -- sending -----------------------------------------------------------------

    def _schedule_drain(self) -> None:
        """A send may consume the FD's edge: look for input on the next pass."""
        if not self._drain_scheduled:
            self._drain_scheduled = True
            self.loop.call_soon(self._drain_all)

    def _drain_all(self) -> None:
        self._drain_scheduled = False
        if self.bind_sock is not None:
            self._drain_children()
        if self.parent_sock is not None:
            self._drain_parent()

    def _send_parent(self, msg: Message) -> bool:
        sock = self.parent_sock
        if sock is None or self.closed or self.goodbye_sent:  # nothing after goodbye
            return False
        try:
            send_parts(sock, to_frames(msg))
        except zmq.ZMQError:
            return False
        self.parent_last_send = time.monotonic()
        if self.traced:
            self.tracer.peer("tx", self.topology.parent, msg)
        self._schedule_drain()
        return True

    def _send_child(self, child: _Child, frames: list[bytes],
                    msg: Optional[Message] = None) -> bool:
        """``frames`` to ``child``; ``msg`` (what they encode) is traced when given."""
        sock = self.bind_sock
        if sock is None or child.uuid is None or self.closed:
            return False
        try:
            send_parts(sock, [child.uuid.encode()] + frames)
        except zmq.ZMQError:  # EHOSTUNREACH (ROUTER_MANDATORY): not connected
            if child.online:
                self.loop.call_soon(lambda: self._child_lost(child, "send failure", LOST)
                                    if child.online else None)
            return False
        if msg is not None and self.traced:
            self.tracer.peer("tx", child.rank, msg)
        self._schedule_drain()
        return True

    def send_parent_raw(self, msg: Message) -> None:
        """A response going back up (the router popped P, the link pushed it back)."""
        self.router.tx[msg.type] += 1
        self._send_parent(msg)

    def send_child_raw(self, child: _Child, msg: Message) -> None:
        """A response going down to ``child`` (its identity is the destination)."""
        if child.online:
            self.router.tx[msg.type] += 1
            self._send_child(child, to_frames(msg), msg)

    def forward_up(self, msg: Message) -> bool:
        """A request (or unpublished event) for the parent; False if it cannot go."""
        if not self.parent_online:
            return False
        msg.flags |= _ROUTE
        if msg.type == FLUX_MSGTYPE_REQUEST:
            self.parent_tracker.sent(msg)
        if not self._send_parent(msg):
            if msg.type == FLUX_MSGTYPE_REQUEST:
                self.parent_tracker.answered(_as_final(msg))
            return False
        return True

    def forward_down(self, rank: int, msg: Message) -> bool:
        """A request for ``rank`` (a descendant): to the child toward it."""
        child = self.children.get(self.topology.child_toward(rank))
        if child is None or not child.online:
            return False
        msg.routes.append(self.uuid)
        msg.flags |= _ROUTE
        child.tracker.sent(msg)
        if not self._send_child(child, to_frames(msg), msg):
            msg.routes.pop()
            child.tracker.answered(_as_final(msg))
            return False
        return True

    def fan_out_event(self, msg: Message) -> None:
        """A published event to every online child (encoded once)."""
        frames = None
        for child in self.children.values():
            if child.online:
                if frames is None:
                    frames = to_frames(msg)
                self._send_child(child, frames)
        if frames is not None and self.traced:  # once, to every child: flux-core's "*"
            self.tracer.peer("tx", -1, msg)

    def has_online_children(self) -> bool:
        return any(c.online for c in self.children.values())

    def _control(self, ctype: int, status: int) -> Message:
        msg = Message(FLUX_MSGTYPE_CONTROL)
        msg.flags = _ROUTE
        msg.aux1 = ctype
        msg.aux2 = status
        return msg

    # -- receiving from children ------------------------------------------------------

    def _drain_children(self) -> None:
        sock = self.bind_sock
        if sock is None:
            return
        while not self.closed and _readable(sock):
            try:
                ident_frame, parts = recv_routed(sock)
            except zmq.Again:
                return
            try:
                ident = ident_frame.bytes.decode()
                msg = from_frames(parts)
            except (ProtocolError, UnicodeDecodeError):
                continue
            self.router.rx[msg.type] += 1
            self._from_child(ident, ident_frame, msg)

    def _from_child(self, ident: str, frame: Any, msg: Message) -> None:
        mtype = msg.type
        if mtype == FLUX_MSGTYPE_REQUEST and msg._topic == "overlay.hello":
            if self.traced:
                self.tracer.peer("rx", _hello_rank(msg), msg)
            self._hello(ident, frame, msg)
            return
        child = self.by_uuid.get(ident)
        if child is None or not child.online:
            if mtype != FLUX_MSGTYPE_CONTROL:
                self._send_raw_child_ident(ident, self._control(FLUX_CONTROL_DISCONNECT, 0))
            return
        child.last_seen = time.monotonic()
        if self.traced and (mtype != FLUX_MSGTYPE_CONTROL or msg.aux1 == FLUX_CONTROL_STATUS):
            self.tracer.peer("rx", child.rank, msg)
        msg.rolemask &= _NOT_LOCAL
        if mtype == FLUX_MSGTYPE_REQUEST:
            if msg._topic == "overlay.goodbye":
                self._goodbye_from(child, msg)
                return
            msg.routes.append(ident)
            msg.flags |= _ROUTE
            self.router.request(msg)
        elif mtype == FLUX_MSGTYPE_RESPONSE:
            child.tracker.answered(msg)
            self.router.response(msg)
        elif mtype == FLUX_MSGTYPE_EVENT:
            if self.topology.rank == 0:
                self.events.publish_msg(msg)
            else:
                self.forward_up(msg)
        elif mtype == FLUX_MSGTYPE_CONTROL:
            if msg.aux1 == FLUX_CONTROL_STATUS and msg.aux2 in _ONLINE:
                self._child_status(child, msg.aux2)

    def _send_raw_child_ident(self, ident: str, msg: Message) -> None:
        if self.bind_sock is None:
            return
        try:
            send_parts(self.bind_sock, [ident.encode()] + to_frames(msg))
        except zmq.ZMQError:
            pass

    def _hello(self, ident: str, frame: Any, msg: Message) -> None:
        def refuse(errnum: int, text: Optional[str]) -> None:
            self._send_raw_child_ident(ident, derive_response(msg, errnum, error_payload(text)))

        try:
            obj = msg.payload_json()
            rank = obj["rank"]
            version = obj["version"]
            uuid = obj["uuid"]
            status = obj["status"]
            hostname = obj.get("hostname")
            if not (isinstance(rank, int) and isinstance(version, int)
                    and isinstance(uuid, str) and isinstance(status, int)):
                raise TypeError
        except (OSError, KeyError, TypeError, AttributeError):
            refuse(errno.EPROTO, None)
            return
        if not msg.rolemask & FLUX_ROLE_OWNER:
            refuse(errno.EPERM, None)
            return
        hosts = self.hostlist()
        if hostname and rank < len(hosts) and hosts[rank] != hostname:
            text = f"{hosts[rank]} is configured as rank {rank}: mismatched config?"
            self.log(LOG_ERR, f"rejecting connection from {hostname} (rank {rank}): {text}")
            refuse(errno.EINVAL, text)
            return
        child = self.children.get(rank)
        if child is None:
            text = (f"rank {rank} is not a child of rank {self.topology.rank}: "
                    "mismatched config?")
            self.log(LOG_ERR, f"rejecting connection from {hostname} (rank {rank}): {text}")
            refuse(errno.EINVAL, text)
            return
        if self.refuse_hello:
            refuse(errno.ECONNREFUSED, "broker is shutting down")
            return
        if (version >> 8) != (self.version >> 8):
            text = (f"client ({_vstr(version)}) version mismatched with server "
                    f"({_vstr(self.version)})")
            child.error = text
            refuse(errno.EINVAL, text)
            return
        if child.online:
            self.log(LOG_ERR, f"{child.hostname or hostname} (rank {rank}) reconnected after "
                              "crash, dropping old connection state")
            self._child_lost(child, "reconnected", LOST)
        if child.uuid is not None:
            self.by_uuid.pop(child.uuid, None)
            self.router.peers.pop(child.uuid, None)
        child.uuid = ident
        child.hostname = hostname or ""
        child.last_seen = time.monotonic()
        child.error = ""
        try:
            child.fd = frame.get(zmq.SRCFD)
        except (zmq.ZMQError, AttributeError):
            child.fd = -1
        self.by_uuid[ident] = child
        self.router.add_peer(_PeerLink(ident, self, child))
        self.log(LOG_DEBUG, f"accepting connection from {hostname} (rank {rank}) "
                            f"status {STATUS_NAMES[status] if 0 <= status < 6 else status}")
        self._child_status(child, status if status in _ONLINE else PARTIAL)
        resp = derive_response(msg, 0, encode_json({"uuid": self.uuid}))
        self._send_raw_child_ident(ident, resp)

    def _goodbye_from(self, child: _Child, msg: Message) -> None:
        resp = derive_response(msg, 0, None)
        if not msg.flags & _NORESPONSE:
            self._send_child(child, to_frames(resp))
        self._child_lost(child, "goodbye", OFFLINE)

    def _child_status(self, child: _Child, status: int) -> None:
        if child.status != status:
            child.status = status
            child.since = time.monotonic()
            self._monitor_notify(child)
        self._update_status()

    def _child_lost(self, child: _Child, why: str, status: int) -> None:
        was_online = child.online
        child.status = status
        child.since = time.monotonic()
        if child.uuid is not None:
            self.router.peers.pop(child.uuid, None)
        # as flux-core's: "HOST (rank N) failed and severed contact with K other nodes",
        # and the reason `flux overlay status` shows beside a lost child
        child.error = _LOST_ERRORS.get(why, "")
        if was_online and why in _LOST_LOGS:
            below = self.topology.descendants(child.rank)
            more = f" and severed contact with {below} other nodes" if below else ""
            self.log(LOG_ERR, f"{self._host(child)} (rank {child.rank}) {_LOST_LOGS[why]}{more}")
        for req in child.tracker.take():
            if req.routes and req.routes[-1] == self.uuid:
                self.router.respond_error(req, errno.EHOSTUNREACH, "overlay disconnect")
        if child.torpid:
            child.torpid = False
        self._monitor_notify(child)
        if was_online and self.on_child_lost is not None:
            self.on_child_lost(child.rank)
        self._update_status()

    def _update_status(self) -> None:
        statuses = [c.status for c in self.children.values()]
        if all(s == FULL for s in statuses):
            status = FULL
        elif any(s in (LOST, DEGRADED) for s in statuses):
            status = DEGRADED
        else:
            status = PARTIAL
        if status != self.status:
            self.status = status
            self.status_since = time.monotonic()
            if self.parent_online:
                self._send_parent(self._control(FLUX_CONTROL_STATUS, status))
        if self.on_status is not None:
            self.on_status(status)

    def _drain_bind_monitor(self) -> None:
        mon = self.bind_mon
        while mon is not None and _readable(mon):
            try:
                event, fd = _monitor_event(recv_parts(mon))
            except zmq.Again:
                return
            if event == zmq.EVENT_DISCONNECTED:
                for child in self.children.values():
                    if child.online and child.fd == fd:
                        self._child_lost(child, "disconnect", LOST)

    def online_children(self) -> int:
        return sum(1 for c in self.children.values() if c.online)

    def disconnect_child(self, rank: int) -> None:
        child = self.children[rank]
        if child.uuid is not None:
            self._send_raw_child_ident(child.uuid, self._control(FLUX_CONTROL_DISCONNECT, 0))
        self._child_lost(child, "administrative disconnect", LOST)

    # -- receiving from the parent ---------------------------------------------------------

    def _drain_parent(self) -> None:
        sock = self.parent_sock
        if sock is None:
            return
        while not self.closed and _readable(sock):
            try:
                parts = recv_parts(sock)
            except zmq.Again:
                return
            try:
                msg = from_frames(parts)
            except ProtocolError:
                continue
            self.router.rx[msg.type] += 1
            self._from_parent(msg)

    def _from_parent(self, msg: Message) -> None:
        mtype = msg.type
        if self.traced:
            self.tracer.peer("rx", self.topology.parent, msg)
        if mtype == FLUX_MSGTYPE_CONTROL:
            if msg.aux1 == FLUX_CONTROL_DISCONNECT and not self.goodbye_sent \
                    and not self.parent_lost:
                parent = self.topology.parent
                hosts = self.hostlist()
                host = hosts[parent] if 0 <= parent < len(hosts) else "?"
                self.log(LOG_CRIT, f"{host} (rank {parent}) sent disconnect control message")
                self._parent_gone("disconnect requested by parent")
            return
        if not self.parent_online:
            if mtype == FLUX_MSGTYPE_RESPONSE and msg._topic == "overlay.hello":
                self._hello_response(msg)
            return
        msg.rolemask &= _NOT_LOCAL
        if mtype == FLUX_MSGTYPE_REQUEST:
            self.router.request(msg)
        elif mtype == FLUX_MSGTYPE_RESPONSE:
            if msg._topic == "overlay.goodbye" and not msg.routes:
                if self.on_goodbye is not None:
                    self.on_goodbye()
                return
            self.parent_tracker.answered(msg)
            self.router.response(msg)
        elif mtype == FLUX_MSGTYPE_EVENT:
            self._event_from_parent(msg)

    def _hello_response(self, msg: Message) -> None:
        if msg.aux1:
            text = msg.payload_bytes.rstrip(b"\0").decode(errors="replace") if msg.payload_bytes \
                else errno.errorcode.get(msg.aux1, str(msg.aux1))
            self.log(LOG_ERR, f"overlay.hello: {text}")
            self._parent_gone(text)
            return
        try:
            uuid = msg.payload_json()["uuid"]
            if not isinstance(uuid, str):
                raise TypeError
        except (OSError, KeyError, TypeError):
            self._parent_gone("overlay.hello: protocol error")
            return
        self.parent_uuid = uuid
        self.parent_online = True
        self.router.add_peer(_PeerLink(uuid, self, None))
        self._send_parent(self._control(FLUX_CONTROL_STATUS, self.status))
        if self.on_parent_ready is not None:
            self.on_parent_ready()

    def _event_from_parent(self, msg: Message) -> None:
        seq = msg.aux1
        if self.last_seq and seq <= self.last_seq:
            self.log(LOG_ERR, f"duplicate event {seq} dropped ({msg.topic})")
            return
        if self.last_seq and seq != self.last_seq + 1:
            self.log(LOG_ERR, f"lost events {self.last_seq + 1}-{seq - 1}")
        self.last_seq = seq
        self.events.deliver(msg)

    def _drain_parent_monitor(self) -> None:
        mon = self.parent_mon
        while mon is not None and _readable(mon):
            try:
                event, _value = _monitor_event(recv_parts(mon))
            except zmq.Again:
                return
            if event == zmq.EVENT_DISCONNECTED and self.parent_online \
                    and not self.goodbye_sent:
                self._parent_gone("parent disconnected")
            elif event in (zmq.EVENT_HANDSHAKE_FAILED_AUTH,
                                    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL):
                self.log(LOG_ERR, "overlay: parent refused our key")
                self._parent_gone("authentication failed")

    def _parent_gone(self, why: str) -> None:
        if self.parent_lost:
            return
        self.parent_lost = True
        self.parent_online = False
        if self.parent_uuid is not None:
            self.router.peers.pop(self.parent_uuid, None)
        for req in self.parent_tracker.take():
            self.router.respond_error(req, errno.EHOSTUNREACH, "overlay disconnect")
        if self.on_parent_lost is not None:
            self.on_parent_lost(why)

    def goodbye(self) -> bool:
        """Say goodbye to the parent (GOODBYE state); False if there is none to hear it."""
        if not self.parent_online:
            return False
        msg = Message(FLUX_MSGTYPE_REQUEST)
        msg.topic = "overlay.goodbye"
        msg.flags |= _ROUTE
        msg.rolemask = FLUX_ROLE_OWNER
        sent = self._send_parent(msg)
        self.goodbye_sent = True
        return sent

    # -- timers ------------------------------------------------------------------------

    def _tick(self) -> None:
        now = time.monotonic()
        if self.parent_online and now - self.parent_last_send >= self.torpid_min:
            self._send_parent(self._control(FLUX_CONTROL_HEARTBEAT, 0))
        self._check_torpid(now)

    def _check_torpid(self, now: float) -> None:
        """Children not heard from for ``torpid_max`` are torpid (0 turns this off);
        one heard from again is responsive, as flux-core's overlay judges them."""
        for child in self.children.values():
            if not child.online or child.last_seen <= 0:
                continue
            idle = now - child.last_seen
            torpid = self.torpid_max > 0 and idle >= self.torpid_max
            if torpid != child.torpid:
                self._set_torpid(child, torpid, idle)

    def _set_torpid(self, child: _Child, torpid: bool, idle: float) -> None:
        child.torpid = torpid
        host = self._host(child)
        if torpid:
            from flux.fsd import format_duration

            self.log(LOG_ERR, f"broker on {host} (rank {child.rank}) has been "
                              f"unresponsive for {format_duration(idle)}")
        else:
            self.log(LOG_ERR, f"broker on {host} (rank {child.rank}) is responsive now")
        self._monitor_notify(child)
        if self.on_torpid is not None:
            self.on_torpid(child.rank, torpid)

    def _host(self, child: _Child) -> str:
        hosts = self.hostlist()
        return hosts[child.rank] if child.rank < len(hosts) else child.hostname or "?"

    # -- overlay.monitor -----------------------------------------------------------------

    @staticmethod
    def _monitor_entry(child: _Child) -> dict[str, Any]:
        return {"rank": child.rank, "status": STATUS_NAMES[child.status],
                "torpid": child.torpid}

    def _monitor(self, msg: Message) -> None:
        """``overlay.monitor`` (streaming): each child's status and torpidity now (those
        offline and not torpid left out, as flux-core's first batch), then every change."""
        from ..router import RequestError

        if not msg.flags & _STREAMING:
            raise RequestError(errno.EPROTO)
        for child in self.children.values():
            if child.status != OFFLINE or child.torpid:
                self.router.respond(msg, self._monitor_entry(child))
        self.monitors.append(msg)

    def _monitor_notify(self, child: _Child) -> None:
        if self.monitors:
            entry = self._monitor_entry(child)
            for msg in self.monitors:
                self.router.respond(msg, entry)

    def _monitor_disconnect(self, msg: Message) -> None:
        """``overlay.disconnect``: a client went away, its monitor and trace streams
        with it."""
        from ..router import from_sender

        self.monitors = [m for m in self.monitors if not from_sender(m, msg)]
        self.tracer.disconnect(msg)

    # -- the overlay service -----------------------------------------------------------

    def _register_service(self) -> None:
        from flux.constants import FLUX_ROLE_USER

        svc = self.router.builtin("overlay")
        svc.method("health", self._health, FLUX_ROLE_USER)
        svc.method("stats-get", self._stats, FLUX_ROLE_USER)
        svc.method("topology", self._topology, FLUX_ROLE_USER)
        svc.method("disconnect-subtree", self._disconnect_subtree)
        svc.method("monitor", self._monitor)
        svc.method("trace", self.tracer.request)
        # open to guests, as flux-core's: it ends only the sender's own streams
        svc.method("disconnect", self._monitor_disconnect, FLUX_ROLE_USER)

    def _health(self, msg: Message) -> None:
        now = time.monotonic()
        children = []
        for c in self.children.values():
            entry: dict[str, Any] = {"rank": c.rank, "status": STATUS_NAMES[c.status],
                                     "duration": now - c.since}
            if not c.online and c.error:
                entry["error"] = c.error
            children.append(entry)
        self.router.respond(msg, {"rank": self.topology.rank,
                                  "status": STATUS_NAMES[self.status],
                                  "duration": now - self.status_since,
                                  "children": children})

    def _stats(self, msg: Message) -> None:
        self.router.respond(msg, {
            "child-count": len(self.children),
            "child-connected": self.online_children(),
            "parent-count": 1 if self.topology.has_parent else 0,
            "parent-rpc": len(self.parent_tracker.pending),
            "child-rpc": sum(len(c.tracker.pending) for c in self.children.values()),
            "interthread": {"sendq": 0, "recvq": 0},
        })

    def subtree_json(self, rank: int) -> dict[str, Any]:
        topo = self.topology
        return {"rank": rank, "size": topo.descendants(rank) + 1,
                "children": [self.subtree_json(c) for c in topo.children_of(rank)]}

    def _topology(self, msg: Message) -> None:
        from ..router import RequestError

        rank = msg.payload_json().get("rank")
        if not isinstance(rank, int):
            raise RequestError(errno.EPROTO)
        if rank != self.topology.rank and rank not in self.children:
            raise RequestError(errno.ENOENT,
                               "requested rank is not this broker or its direct child")
        self.router.respond(msg, self.subtree_json(rank))

    def _disconnect_subtree(self, msg: Message) -> None:
        from ..router import RequestError

        rank = msg.payload_json().get("rank")
        if not isinstance(rank, int):
            raise RequestError(errno.EPROTO)
        child = self.children.get(rank)
        if child is None:
            raise RequestError(errno.ENOENT, "requested rank is not this broker's direct child")
        if not child.online:
            raise RequestError(errno.EINVAL,
                               f"rank {rank} is already {STATUS_NAMES[child.status]}")
        self.disconnect_child(rank)
        self.router.respond(msg)

    # -- end -----------------------------------------------------------------------------

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        for fd in self._fds:
            self.loop.remove(fd)
        self._fds.clear()
        # Monitors off before their reading ends close: libzmq's I/O thread sends a
        # monitor event (a peer leaving as we do) with a blocking send, holding the
        # socket's monitor lock; with our end closed that send never returns and
        # disable_monitor() (or close) waits for the lock forever.
        for sock in (self.parent_sock, self.bind_sock):
            if sock is not None:
                try:
                    sock.disable_monitor()
                except zmq.ZMQError:
                    pass
        for sock in (self.parent_mon, self.bind_mon):
            if sock is not None:
                sock.close(0)
        for sock in (self.parent_sock, self.bind_sock):
            if sock is not None:
                sock.close(5)
        if self.zap is not None:
            self.zap.close()
        self.ctx.term()


def _monitor_event(parts: list[bytes]) -> tuple[int, int]:
    """A monitor socket's message -> (event, value): a uint16 and an int32, packed
    (libzmq's version 1 format).  Decoded here because pyzmq's
    ``zmq.utils.monitor`` imports asyncio, ~20 ms of CPU in every broker."""
    if len(parts) != 2 or len(parts[0]) != 6:
        return 0, 0
    event, value = _MONITOR_HEAD.unpack(parts[0])
    return event, value


def _hello_rank(msg: Message) -> int:
    """The rank an ``overlay.hello`` claims (-1 if it does not say), for its trace."""
    try:
        rank = msg.payload_json().get("rank")
    except (OSError, AttributeError):
        return -1
    return rank if isinstance(rank, int) else -1


def _as_final(msg: Message) -> Message:
    """``msg`` seen as its own final response (to untrack a request that never left)."""
    resp = msg.copy(payload=False)
    resp.aux1 = errno.EHOSTUNREACH
    return resp


def _vstr(v: int) -> str:
    return f"{v >> 16}.{(v >> 8) & 0xff}.{v & 0xff}"


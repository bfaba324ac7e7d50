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

The class's parts, one file each: the parent side (parent.py), the children
side (children.py), sending and forwarding (routing.py), the ``overlay``
service (service.py); what they share is declared in fields.py, the peers'
bookkeeping is peers.py's.  This file holds the sockets: set-up, the loop's
watches, the timer, the end.
"""

from __future__ import annotations

import errno
import time
from typing import Any, Callable, Optional

import zmq

from flux.constants import FLUX_CONTROL_HEARTBEAT
from flux.severity import LOG_ERR

from .children import ChildSide
from .parent import ParentSide
from .peers import DEGRADED, FULL, LOST, OFFLINE, PARTIAL, STATUS_NAMES, _Child, _Tracker
from .routing import Routing
from .service import OverlayService
from .version import version_hex
from .zap import ZapHandler
from .zsock import fd as _fd

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from flux.message import Message

    from ..events import Events
    from ..loop import Loop
    from ..router import Router
    from ..topology import Topology

__all__ = ["Overlay", "STATUS_NAMES", "FULL", "PARTIAL", "DEGRADED", "LOST", "OFFLINE",
           "version_hex"]

Log = Callable[[int, str], Any]


class Overlay(ParentSide, ChildSide, Routing, OverlayService):
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

    # -- the loop ----------------------------------------------------------------------

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

    def _tick(self) -> None:
        now = time.monotonic()
        if self.parent_online and now - self.parent_last_send >= self.torpid_min:
            self._send_parent(self._control(FLUX_CONTROL_HEARTBEAT, 0))
        self._check_torpid(now)

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

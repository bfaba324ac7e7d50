"""The local connector: the broker's ``local://`` unix-socket server.

One listening socket, many clients.  Each client connection:

- is authenticated once with SO_PEERCRED (owner -> OWNER|LOCAL; another uid
  is refused with handshake byte EPERM unless guest access is enabled, then
  USER|LOCAL) and answered with the one handshake byte;
- has every message it sends stamped with its credentials
  (docs/architecture.md "Credentials");
- may subscribe to events and register services; those four requests are
  answered here, never reaching the router (as flux-core's connector does);
- has its requests forwarded with route stack ``[X, C]`` and its
  ``<prefix>.disconnect`` notices armed, sent when it goes away.

Output is buffered per client and flushed once per loop iteration; a client
that stops reading is cut off when its buffer passes ``max_outbuf`` so it can
never stall the broker or exhaust its memory.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import uuid as uuidlib
from typing import Any, Callable, Optional

from flux.codec import ProtocolError, StreamDecoder, encode_stream
from flux.constants import (
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_PRIVATE,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGFLAG_UPSTREAM,
    FLUX_MSGTYPE_EVENT,
    FLUX_MSGTYPE_REQUEST,
    FLUX_MSGTYPE_RESPONSE,
    FLUX_ROLE_LOCAL,
    FLUX_ROLE_OWNER,
    FLUX_ROLE_USER,
    FLUX_USERID_UNKNOWN,
)
from flux.message import Message

from .loop import EV_ERR, EV_IN, RECV_SIZE, Loop, QueuedOutput, is_writable, recv_some
from .events import subscribe, unsubscribe
from .router import RequestError, Router

__all__ = ["Connector", "Client", "DEFAULT_MAX_OUTBUF"]

DEFAULT_MAX_OUTBUF = 64 << 20
_RECV_SIZE = RECV_SIZE
_PEERCRED = struct.Struct("3i")
_ROUTE = FLUX_MSGFLAG_ROUTE
_NORESPONSE = FLUX_MSGFLAG_NORESPONSE
_UPSTREAM = FLUX_MSGFLAG_UPSTREAM
_REQUEST = FLUX_MSGTYPE_REQUEST
_RESPONSE = FLUX_MSGTYPE_RESPONSE
_EVENT = FLUX_MSGTYPE_EVENT
_UNKNOWN = FLUX_USERID_UNKNOWN
_STREAMING = FLUX_MSGFLAG_STREAMING


class Client(QueuedOutput):
    """One connection.  Also a router peer for the services it registers."""

    __slots__ = ("connector", "sock", "fd", "uuid", "userid", "rolemask", "guest", "pid",
                 "decoder", "out", "outlen", "writing", "subs", "services", "seen", "disc",
                 "closed", "rx", "tx", "inflight")

    def __init__(self, connector: "Connector", sock: socket.socket, userid: int,
                 rolemask: int, guest: bool, pid: int) -> None:
        self.connector = connector
        self.sock = sock
        self.fd = sock.fileno()
        self.uuid = str(uuidlib.uuid4())
        self.userid = userid
        self.rolemask = rolemask
        self.guest = guest
        self.pid = pid
        self.decoder = StreamDecoder()
        self.out: list[Any] = []
        self.outlen = 0
        self.writing = False
        self.subs: dict[str, int] = {}
        self.services: set[str] = set()
        self.seen: set[tuple[str, int, int]] = set()
        self.disc: dict[tuple[str, int, int], Message] = {}
        self.closed = False
        self.rx = 0
        self.tx = 0
        # requests delivered to this client's services and not yet answered,
        # by (route stack, matchtag): failed if this client goes away
        self.inflight: dict[tuple[tuple[str, ...], int], Message] = {}

    # -- output ---------------------------------------------------------------------

    def send(self, msg: Message) -> None:
        """Queue ``msg`` for this client (responses reach it with ROUTE set)."""
        msg.flags |= _ROUTE
        if msg.type == _REQUEST and not msg.flags & _NORESPONSE:
            self.inflight[(tuple(msg.routes), msg.aux2)] = msg
        self.write(encode_stream(msg))

    def write(self, data: bytes) -> None:
        if self.closed:
            return
        self.out.append(data)
        self.outlen += len(data)
        self.tx += 1
        if self.outlen > self.connector.max_outbuf:
            self.connector.drop(self, "output buffer limit reached (client not reading)")
            return
        self.connector.loop.mark_dirty(self)

    def flush(self) -> None:
        """Send what is queued with one ``send``; keep the rest for POLLOUT."""
        if self.closed or not self.out:
            return
        if not self.send_queued(self.connector.loop):
            self.connector.drop(self, None)

    def __repr__(self) -> str:
        return f"<Client {self.uuid[:8]} uid={self.userid} pid={self.pid}>"


class Connector:
    """The ``local://`` server.  Router peer with uuid C for responses to clients."""

    def __init__(self, loop: Loop, router: Router, path: str, owner: int,
                 allow_guest: bool = False, allow_root_owner: bool = False,
                 max_outbuf: int = DEFAULT_MAX_OUTBUF,
                 log: Optional[Callable[[int, str], None]] = None) -> None:
        self.loop = loop
        self.router = router
        self.path = path
        self.owner = owner
        self.allow_guest = allow_guest
        self.allow_root_owner = allow_root_owner
        self.max_outbuf = max_outbuf
        self.uuid = str(uuidlib.uuid4())
        self.clients: dict[str, Client] = {}
        self.by_fd: dict[int, Client] = {}
        self.subscribers: set[Client] = set()
        self.connects = 0
        self.log = log or (lambda level, text: None)
        self.internal: dict[Optional[str], Callable[[Client, Message], None]] = {
            "event.subscribe": self._subscribe,
            "event.unsubscribe": self._unsubscribe,
            "service.add": self._service_add,
            "service.remove": self._service_remove,
        }
        self.sock: Optional[socket.socket] = None

    # -- listening ----------------------------------------------------------------------

    def listen(self) -> None:
        """Bind the socket (mode 0777 like flux-core: access is checked per peer)."""
        if len(os.fsencode(self.path)) >= 108:
            raise OSError(errno.ENAMETOOLONG, f"socket path too long: {self.path}")
        if os.path.exists(self.path):
            os.unlink(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(self.path)
        os.chmod(self.path, 0o777)
        sock.listen(128)
        sock.setblocking(False)
        self.sock = sock
        self.loop.add_reader(sock.fileno(), self._on_accept)
        self.router.add_peer(self)

    def close(self) -> None:
        """Flush what can be flushed, disconnect every client, remove the socket."""
        for client in list(self.clients.values()):
            client.flush()
            self._close_client(client)
        if self.sock is not None:
            self.loop.remove(self.sock.fileno())
            self.sock.close()
            self.sock = None
            try:
                os.unlink(self.path)
            except OSError:
                pass

    def _on_accept(self, events: int) -> None:
        assert self.sock is not None
        while True:
            try:
                sock, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and friends: keep serving the others
                self.log(3, f"accept: {exc.strerror}")
                return
            self._authenticate(sock)

    def _authenticate(self, sock: socket.socket) -> None:
        try:
            pid, uid, _gid = _PEERCRED.unpack(
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
        except OSError:
            sock.close()
            return
        guest = False
        if uid == self.owner or (uid == 0 and self.allow_root_owner):
            rolemask = FLUX_ROLE_OWNER | FLUX_ROLE_LOCAL
        elif self.allow_guest:
            rolemask = FLUX_ROLE_USER | FLUX_ROLE_LOCAL
            guest = True
        else:
            try:
                sock.send(bytes((errno.EPERM,)))
            except OSError:
                pass
            sock.close()
            return
        try:
            sock.send(b"\x00")
        except OSError:
            sock.close()
            return
        sock.setblocking(False)
        client = Client(self, sock, uid, rolemask, guest, pid)
        self.clients[client.uuid] = client
        self.by_fd[client.fd] = client
        self.connects += 1
        self.loop.add_reader(client.fd, lambda events, c=client: self._on_client(c, events))

    # -- input ------------------------------------------------------------------------------

    def _on_client(self, client: Client, events: int) -> None:
        if client.writing and is_writable(events):
            client.flush()
            if client.closed:
                return
        if not events & (EV_IN | EV_ERR):  # only writable
            return
        sock = client.sock
        for _ in range(4):  # read what is there, but let other clients in too
            try:
                data = recv_some(sock)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.drop(client, None)
                return
            if not data:
                self.drop(client, None)
                return
            try:
                msgs = client.decoder.feed(data)
            except ProtocolError as exc:
                self.drop(client, exc.detail)
                return
            handle = self._handle
            for msg in msgs:
                handle(client, msg)
                if client.closed:
                    return
            if len(data) < _RECV_SIZE:
                return

    def _handle(self, client: Client, msg: Message) -> None:
        client.rx += 1
        if client.guest:
            msg.userid = client.userid
            msg.rolemask = client.rolemask
        else:
            if msg.userid == _UNKNOWN:
                msg.userid = client.userid
            if not msg.rolemask:
                msg.rolemask = client.rolemask
        mtype = msg.type
        if mtype == _REQUEST:
            topic = msg.topic
            internal = self.internal.get(topic)
            if internal is not None:
                internal(client, msg)
                return
            routes = msg.routes
            routes.append(client.uuid)
            routes.append(self.uuid)
            msg.flags |= _ROUTE
            if topic is not None and not msg.flags & _NORESPONSE:
                key = (topic, msg.aux1, msg.flags & _UPSTREAM)
                if key not in client.seen:
                    self._arm_disconnect(client, key, msg)
            self.router.request(msg)
        elif mtype == _RESPONSE:
            if client.inflight and (msg.aux1 or not msg.flags & _STREAMING):
                client.inflight.pop((tuple(msg.routes), msg.aux2), None)
            self.router.response(msg)
        elif mtype == _EVENT:
            msg.routes.append(self.uuid)
            msg.flags |= _ROUTE
            self.router.event(msg)
        # control messages from clients have no meaning here: dropped

    def _arm_disconnect(self, client: Client, key: tuple[str, int, int], msg: Message) -> None:
        client.seen.add(key)
        topic = key[0]
        dot = topic.rfind(".")
        dtopic = topic[:dot] + ".disconnect" if dot >= 0 else "disconnect"
        dkey = (dtopic, key[1], key[2])
        if dkey in client.disc:
            return
        notice = msg.copy(payload=False)
        notice.topic = dtopic
        notice.set_flag(_NORESPONSE)
        client.disc[dkey] = notice

    # -- router peer ------------------------------------------------------------------------

    def send(self, msg: Message) -> None:
        """A response for one of our clients: pop C and the client's uuid."""
        routes = msg.routes
        if routes and routes[-1] == self.uuid:
            routes.pop()
        if not routes:
            return
        client = self.clients.get(routes.pop())
        if client is not None:
            client.send(msg)
        # else: the requester is gone; the response costs nothing more

    def send_event(self, msg: Message) -> None:
        """Deliver an event to every client with a matching subscription."""
        if not self.subscribers:
            return
        topic = msg.topic or ""
        private = msg.flags & FLUX_MSGFLAG_PRIVATE
        data = None
        for client in tuple(self.subscribers):
            for prefix in client.subs:
                if topic.startswith(prefix):
                    break
            else:
                continue
            if private and client.guest and client.userid != msg.userid:
                continue
            if data is None:
                msg.flags |= _ROUTE
                data = encode_stream(msg)
            client.write(data)

    # -- requests handled inside the connector ----------------------------------------------

    def _reply(self, client: Client, req: Message, errnum: int = 0) -> None:
        if req.flags & _NORESPONSE:
            return
        r = req.copy(payload=False)
        r.type = _RESPONSE
        r.aux1 = errnum
        r.userid = _UNKNOWN
        r.rolemask = FLUX_ROLE_OWNER
        client.send(r)

    @staticmethod
    def _string_arg(req: Message, key: str) -> str:
        try:
            value = req.payload_json().get(key)
        except OSError:
            raise RequestError(errno.EPROTO) from None
        if not isinstance(value, str):
            raise RequestError(errno.EPROTO)
        return value

    def _guarded(self, fn: Callable[[Client, Message], None], client: Client, req: Message) -> None:
        try:
            fn(client, req)
        except RequestError as exc:
            self._reply(client, req, exc.errnum)
            return
        self._reply(client, req)

    def _subscribe(self, client: Client, req: Message) -> None:
        def do(client: Client, req: Message) -> None:
            subscribe(client.subs, self._string_arg(req, "topic"))
            self.subscribers.add(client)
        self._guarded(do, client, req)

    def _unsubscribe(self, client: Client, req: Message) -> None:
        def do(client: Client, req: Message) -> None:
            if unsubscribe(client.subs, self._string_arg(req, "topic")):
                self.subscribers.discard(client)
        self._guarded(do, client, req)

    def _service_add(self, client: Client, req: Message) -> None:
        def do(client: Client, req: Message) -> None:
            name = self._string_arg(req, "service")
            if client.guest and not name.startswith(f"{client.userid}-"):
                raise RequestError(errno.EPERM)
            self.router.service_add(name, client)
            client.services.add(name)
        self._guarded(do, client, req)

    def _service_remove(self, client: Client, req: Message) -> None:
        def do(client: Client, req: Message) -> None:
            name = self._string_arg(req, "service")
            self.router.service_remove(name, client)
            client.services.discard(name)
        self._guarded(do, client, req)

    # -- disconnect --------------------------------------------------------------------------

    def drop(self, client: Client, reason: Optional[str]) -> None:
        """Forget a client: close it, send its disconnect notices, drop its state."""
        if client.closed:
            return
        if reason:
            self.log(4, f"dropping client {client.uuid[:8]} (pid {client.pid}): {reason}")
        self._close_client(client)
        if client.services:
            self.router.service_remove_peer(client)
            client.services.clear()
        if client.inflight:
            # Requests this client was serving would otherwise wait forever.
            pending = list(client.inflight.values())
            client.inflight.clear()
            for req in pending:
                service = (req.topic or "").split(".", 1)[0]
                self.router.respond_error(req, errno.ECONNRESET,
                                          f"{service} service provider disconnected")
        for notice in client.disc.values():
            self.router.request(notice)
            self._forget_inflight_of(notice)
        client.disc.clear()

    def _forget_inflight_of(self, notice: Message) -> None:
        """A requester went away: its requests at client services need no error reply."""
        sender = notice.routes[0] if notice.routes else None
        for other in self.clients.values():
            if other.inflight:
                for key in [k for k in other.inflight if k[0] and k[0][0] == sender]:
                    del other.inflight[key]

    def _close_client(self, client: Client) -> None:
        client.closed = True
        self.loop.remove(client.fd)
        self.clients.pop(client.uuid, None)
        self.by_fd.pop(client.fd, None)
        self.subscribers.discard(client)
        client.out = []
        try:
            client.sock.close()
        except OSError:
            pass

    def stats(self) -> dict[str, Any]:
        """``connector-local.stats-get`` payload."""
        return {
            "server": {
                "clients": [
                    {"uuid": c.uuid, "userid": c.userid, "pid": c.pid, "txcount": c.tx,
                     "rxcount": c.rx, "rxbacklog": c.decoder.buffered}
                    for c in self.clients.values()
                ],
                "connects": self.connects,
            },
            "allow_guest_user": self.allow_guest,
            "allow_root_owner": self.allow_root_owner,
        }

"""The local connector: the broker's ``local://`` unix-socket server.

One listening socket, many clients.  Each client connection is a peer link
(socketlink.py: framing, output queue with a 64 MiB cap, requests in flight,
subscriptions, services) that this file adds the client's part to:

- it is authenticated once with SO_PEERCRED (owner -> OWNER|LOCAL; another
  uid is refused with handshake byte EPERM unless guest access is enabled,
  then USER|LOCAL) and answered with the one handshake byte;
- every message it sends is stamped with its credentials
  (docs/architecture.md "Credentials");
- ``event.subscribe/unsubscribe`` and ``service.add/remove`` are answered by
  its link (peerlink.py), never reaching the router (as flux-core's
  connector does);
- its requests are forwarded with route stack ``[X, C]`` and its
  ``<prefix>.disconnect`` notices armed, sent when it goes away; requests
  it was serving then fail with ENOSYS, as requests to a service nobody
  provides.  (flux-core drops them unanswered, so their senders wait forever;
  its clients expect ENOSYS there: ``flux job attach`` ignores it for the
  stdin it sends a job shell that has just exited, and fails on any other
  errno.)
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from .uuids import uuid4
from typing import Any, Callable, Optional

from flux.codec import DEFAULT_MAX_MESSAGE_SIZE, encode_stream_many
from flux.constants import (
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGFLAG_UPSTREAM,
    FLUX_ROLE_LOCAL,
    FLUX_ROLE_OWNER,
    FLUX_ROLE_USER,
    FLUX_USERID_UNKNOWN,
)
from flux.message import Message
from flux.response import derive_response
from flux.severity import LOG_ERR, LOG_WARNING

from .events import Events
from .loop import Loop
from .router import Router
from .socketlink import SocketLink

__all__ = ["Connector", "Client", "DEFAULT_MAX_OUTBUF"]

DEFAULT_MAX_OUTBUF = 64 << 20
_PEERCRED = struct.Struct("3i")
_ROUTE = FLUX_MSGFLAG_ROUTE
_NORESPONSE = FLUX_MSGFLAG_NORESPONSE
_UPSTREAM = FLUX_MSGFLAG_UPSTREAM
#: the connector answers LOCAL_REQUESTS as flux-core's does: no userid, OWNER only
_REPLY_CREDS = (FLUX_USERID_UNKNOWN, FLUX_ROLE_OWNER)


class Client(SocketLink):
    """One connection: a peer link that stamps credentials and arms disconnect notices."""

    __slots__ = ("connector", "pid", "seen", "disc", "hops")

    def __init__(self, connector: "Connector", sock: socket.socket, userid: int,
                 rolemask: int, guest: bool, pid: int) -> None:
        super().__init__(uuid4(), connector.router, connector.events,
                         connector.loop, sock, userid, rolemask, guest, _REPLY_CREDS,
                         connector.uuid, connector.max_outbuf, connector.max_message)
        self.connector = connector
        self.pid = pid
        # (topic, nodeid, upstream) of the requests sent, and the disconnect
        # notice armed for each service prefix: sent when the client goes
        self.seen: set[tuple[str, int, int]] = set()
        self.disc: dict[tuple[str, int, int], Message] = {}
        self.hops = (self.uuid, self.hop)  # what its requests get pushed: [X, C]

    def send_many(self, msg: Message, payloads: list[bytes]) -> None:
        """:meth:`send` of response ``msg`` with each of ``payloads`` in turn, its routes
        and header encoded once (a traced link sees each message)."""
        if self.traced:
            for payload in payloads:
                one = derive_response(msg, msg.aux1, payload or None, msg.userid, msg.rolemask)
                self.send(one)
            return
        msg.flags |= _ROUTE
        write = self.write
        for data in encode_stream_many(msg, payloads):
            write(data)

    def forward_request(self, msg: Message) -> None:
        """Push ``[X, C]``, arm the disconnect notice for its service, route it."""
        routes = msg.routes
        routes.append(self.uuid)
        routes.append(self.hop)
        msg.flags |= _ROUTE
        topic = msg._topic  # the slot: the property costs a call per message
        if topic is not None and not msg.flags & _NORESPONSE:
            key = (topic, msg.aux1, msg.flags & _UPSTREAM)
            if key not in self.seen:
                self._arm_disconnect(key, msg)
        self.router.request(msg)

    def request_hops(self, topic: str, nodeid: int, flags: int) -> Optional[tuple[str, ...]]:
        """``[X, C]`` for a request relayed on its bytes -- once its disconnect notice is
        armed (the first request of each kind goes through :meth:`forward_request`)."""
        if (topic, nodeid, flags & _UPSTREAM) not in self.seen:
            return None
        return self.hops

    def _arm_disconnect(self, key: tuple[str, int, int], msg: Message) -> None:
        self.seen.add(key)
        topic = key[0]
        dot = topic.rfind(".")
        dtopic = topic[:dot] + ".disconnect" if dot >= 0 else "disconnect"
        dkey = (dtopic, key[1], key[2])
        if dkey in self.disc:
            return
        notice = msg.copy(payload=False)
        notice.topic = dtopic
        notice.set_flag(_NORESPONSE)
        self.disc[dkey] = notice

    def lost(self, reason: Optional[str]) -> None:
        self.connector.drop(self, reason)

    def __repr__(self) -> str:
        return f"<Client {self.uuid[:8]} uid={self.userid} pid={self.pid}>"


class Connector:
    """The ``local://`` server.  Router peer with uuid C for responses to clients."""

    def __init__(self, loop: Loop, router: Router, events: Events, path: str, owner: int,
                 allow_guest: bool = False, allow_root_owner: bool = False,
                 max_outbuf: int = DEFAULT_MAX_OUTBUF,
                 log: Optional[Callable[[int, str], None]] = None,
                 max_message: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self.loop = loop
        self.router = router
        self.events = events
        self.path = path
        self.owner = owner
        self.allow_guest = allow_guest
        self.allow_root_owner = allow_root_owner
        self.max_outbuf = max_outbuf
        self.max_message = max_message  # broker.message-max: the largest message a client sends
        self.uuid = uuid4()
        self.clients: dict[str, Client] = {}
        self.connects = 0
        self.log = log or (lambda level, text: None)
        self.sock: Optional[socket.socket] = None
        router.add_peer(self)  # responses to [X, C] come here

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
                self.log(LOG_ERR, f"accept: {exc.strerror}")
                return
            self.accept(sock)

    def accept(self, sock: socket.socket) -> Optional[Client]:
        """Authenticate a new connection (SO_PEERCRED), answer the handshake byte, serve it."""
        try:
            pid, uid, _gid = _PEERCRED.unpack(
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
        except OSError:
            sock.close()
            return None
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
            return None
        try:
            sock.send(b"\x00")
        except OSError:
            sock.close()
            return None
        client = Client(self, sock, uid, rolemask, guest, pid)
        self.clients[client.uuid] = client
        self.connects += 1
        return client

    # -- router peer ------------------------------------------------------------------------

    def send(self, msg: Message) -> None:
        """A response for one of our clients (the router popped C): pop the client's hop."""
        routes = msg.routes
        if not routes:
            return
        client = self.clients.get(routes.pop())
        if client is not None:
            client.send(msg)
        # else: the requester is gone; the response costs nothing more

    def send_many(self, msg: Message, payloads: list[bytes]) -> None:
        """:meth:`send` of ``msg`` with each of ``payloads`` (Router.respond_many)."""
        routes = msg.routes
        if not routes:
            return
        client = self.clients.get(routes.pop())
        if client is not None:
            client.send_many(msg, payloads)

    def relay_out(self, buf: bytes, start: int, stop: int, routes: list[str], rend: int,
                  pop: int, userid: Optional[int], rolemask: Optional[int]) -> None:
        """:meth:`send` for a response still in its bytes (router.relay_response)."""
        n = len(routes) - pop
        if n <= 0:
            return
        client = self.clients.get(routes[n - 1])
        if client is not None:
            client.relay_out(buf, start, stop, routes, rend, pop + 1, userid, rolemask)

    # -- disconnect --------------------------------------------------------------------------

    def drop(self, client: Client, reason: Optional[str]) -> None:
        """Forget a client: close it, release what it held, send its disconnect notices."""
        if client.closed:
            return
        if reason:
            self.log(LOG_WARNING, f"dropping client {client.uuid[:8]} (pid {client.pid}): {reason}")
        self._close_client(client)
        client.release()
        # requests this client was serving would otherwise wait forever
        client.fail_inflight(errno.ENOSYS)
        for notice in client.disc.values():
            self.router.request(notice)
        client.disc.clear()

    def _close_client(self, client: Client) -> None:
        client.close_transport()
        self.clients.pop(client.uuid, None)

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

"""This broker as a child: connecting to the parent and saying hello, what
comes from the parent (controls, the hello's answer, requests, responses,
events in sequence), losing the parent (its disconnect seen through the
DEALER's monitor socket, requests in flight answered EHOSTUNREACH), and the
goodbye."""

from __future__ import annotations

import errno

import zmq

from flux.codec import ProtocolError, from_frames
from flux.constants import (
    FLUX_CONTROL_DISCONNECT,
    FLUX_CONTROL_STATUS,
    FLUX_MSGTYPE_CONTROL,
    FLUX_MSGTYPE_EVENT,
    FLUX_MSGTYPE_REQUEST,
    FLUX_MSGTYPE_RESPONSE,
    FLUX_ROLE_LOCAL,
    FLUX_ROLE_OWNER,
)
from flux.message import Message, encode_json
from flux.severity import LOG_CRIT, LOG_ERR

from .fields import OverlayFields
from .peers import _ROUTE, _PeerLink
from .zsock import fd as _fd
from .zsock import monitor_event, recv_parts
from .zsock import readable as _readable

__all__ = ["ParentSide"]

_NOT_LOCAL = ~FLUX_ROLE_LOCAL & 0xFFFFFFFF


class ParentSide(OverlayFields):
    """The ``Overlay``'s part that talks to its parent."""

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
                event, _value = monitor_event(recv_parts(mon))
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

"""This broker as a parent: what its children send (hello checked and
answered, goodbye, requests, responses, events, status controls), their
status and this subtree's, a child lost (its disconnect seen through the
ROUTER's monitor socket, its requests in flight answered EHOSTUNREACH), an
administrative disconnect, and torpid children."""

from __future__ import annotations

import errno
import time

import zmq

from flux.codec import ProtocolError, from_frames, to_frames
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
from flux.response import derive_response, error_payload
from flux.severity import LOG_DEBUG, LOG_ERR

from .fields import OverlayFields
from .peers import (DEGRADED, FULL, LOST, OFFLINE, PARTIAL, STATUS_NAMES, _NORESPONSE, _ONLINE,
                    _ROUTE, _Child, _PeerLink)
from .version import _vstr
from .zsock import monitor_event, recv_parts, recv_routed, send_parts
from .zsock import readable as _readable

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional

__all__ = ["ChildSide"]

_NOT_LOCAL = ~FLUX_ROLE_LOCAL & 0xFFFFFFFF

#: why a child was lost -> what flux-core logs, and the error its health report shows
_LOST_LOGS = {"disconnect": "failed", "send failure": "failed",
              "administrative disconnect": "disconnected by request"}
_LOST_ERRORS = {"disconnect": "lost connection", "send failure": "lost connection",
                "administrative disconnect": "administrative disconnect"}


class ChildSide(OverlayFields):
    """The ``Overlay``'s part that serves its children."""

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
                event, fd = monitor_event(recv_parts(mon))
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


def _hello_rank(msg: Message) -> int:
    """The rank an ``overlay.hello`` claims (-1 if it does not say), for its trace."""
    try:
        rank = msg.payload_json().get("rank")
    except (OSError, AttributeError):
        return -1
    return rank if isinstance(rank, int) else -1

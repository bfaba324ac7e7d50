"""A peer link over a stream socket: the transport of clients and module processes.

Both a ``local://`` client connection and a module's socketpair carry the
stream framing (flux.codec); this class is the one read loop and the one
output queue for them:

- reading: everything available (up to four buffers per wake-up, so one busy
  peer cannot starve the others), decoded and handed to ``receive(msg)``
  (peerlink.py) one message at a time -- except what only passes through (a
  response, a request for another peer's service): it is routed on its bytes
  (:meth:`relay_in`, the codec's relay functions: route ids popped or pushed,
  credentials stamped, topic and payload copied as they are), never becoming
  a Message (docs/architecture.md "Relaying without decoding");
- writing: messages are queued and the loop flushes each dirty link once per
  iteration, so all messages produced by one wake-up leave in one ``send``;
  what the socket does not take waits for POLLOUT;
- a peer whose queue passes ``max_outbuf`` is not read from until it has taken its
  queue back under it (its own requests cannot grow the queue further); one whose
  queue stays past the limit for :data:`STALL_SECONDS` without it taking a byte (it
  stopped reading), or passes :data:`HARD_LIMIT_FACTOR` times the limit, is dropped,
  so it can never exhaust the broker's memory. One that reads, however slowly, is
  served whole as flux-core serves it (a client reading a large job's output behind
  the job, ``flux run`` piped to a pager). A long queue is sent from its front a
  bounded slice at a time, so a slow reader costs no copy of its backlog per loop pass;
- the end of the socket (EOF, error, malformed bytes, overflow) is reported
  once to the owner's ``lost(reason)``.
"""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING, Any, Optional

from flux.codec import (DEFAULT_MAX_MESSAGE_SIZE, ProtocolError, StreamDecoder, decode_range,
                        encode_stream, peek_head, push_stream, relay_stream, route_frames)
from flux.constants import (
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGTYPE_REQUEST,
    FLUX_MSGTYPE_RESPONSE,
    FLUX_USERID_UNKNOWN,
)
from flux.message import Message

from .loop import EV_ERR, EV_IN, RECV_SIZE, Loop, is_writable, recv_some
from .peerlink import LOCAL_REQUESTS, PeerLink
from .router import relayed_message

if TYPE_CHECKING:  # pragma: no cover
    from .events import Events
    from .router import Router

__all__ = ["SocketLink", "UNLIMITED"]

UNLIMITED = 1 << 62  # max_outbuf of a peer that is never cut off
#: how long a queue past max_outbuf may go without the peer taking a byte
STALL_SECONDS = 10.0
#: a queue this many times max_outbuf is dropped at once (events still arrive for a
#: peer that is not read from)
HARD_LIMIT_FACTOR = 8
#: the most one send is given of a longer queue (a unix socket takes far less per call)
SEND_SLICE = 1 << 20
_RECV_SIZE = RECV_SIZE
_ROUTE = FLUX_MSGFLAG_ROUTE
_NORESPONSE = FLUX_MSGFLAG_NORESPONSE
_REQUEST = FLUX_MSGTYPE_REQUEST
_RESPONSE = FLUX_MSGTYPE_RESPONSE
_STREAMING = FLUX_MSGFLAG_STREAMING
_UNKNOWN = FLUX_USERID_UNKNOWN
_monotonic = time.monotonic


class SocketLink(PeerLink):
    """One non-blocking stream socket to a peer, served by the broker's loop."""

    __slots__ = ("loop", "sock", "fd", "decoder", "out", "outlen", "writing", "max_outbuf",
                 "closed", "last_rx", "dirty", "push_frames", "over_since", "stall_timer")

    #: How a message becomes bytes on this transport (events are encoded once for all links).
    encode = staticmethod(encode_stream)

    def __init__(self, uuid: str, router: Router, events: Events, loop: Loop,
                 sock: socket.socket, userid: int, rolemask: int, guest: bool,
                 reply_creds: tuple[int, int], hop: str,
                 max_outbuf: int = UNLIMITED,
                 max_message: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        super().__init__(uuid, router, events, userid, rolemask, guest, reply_creds, hop)
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        # a longer message is refused from its 8-byte header, before its body is buffered
        self.decoder = StreamDecoder(max_message)
        self.out: list[Any] = []
        self.outlen = 0
        self.writing = False  # POLLOUT wanted
        self.max_outbuf = max_outbuf
        self.over_since: Optional[float] = None  # when the queue passed max_outbuf (not yet taken)
        self.stall_timer: Any = None  # checks a peer over the limit that gets no more writes
        self.closed = False
        self.last_rx = _monotonic()
        self.dirty = False  # waiting for the loop's flush (marked once per iteration)
        # (hops, route_frames(hops + (B,))) of the requests this link relays (request_hops)
        self.push_frames: Optional[tuple[tuple[str, ...], bytes]] = None
        sock.setblocking(False)
        loop.add_reader(self.fd, self.on_io)

    # -- owner hook ---------------------------------------------------------------------

    def lost(self, reason: Optional[str]) -> None:  # pragma: no cover - the owner's
        """The socket failed or closed (``reason`` when the broker cut it)."""
        raise NotImplementedError

    # -- output -------------------------------------------------------------------------

    def send(self, msg: Message) -> None:
        """Router peer: a request for one of the peer's services, or a response for it."""
        if self.traced:
            self.trace("rx", msg)
        msg.flags |= _ROUTE
        if msg.type == _REQUEST:
            if not msg.flags & _NORESPONSE:
                self.inflight[(tuple(msg.routes), msg.aux2)] = msg
            elif self.inflight:
                self.forget_requester(msg)
        self.write(encode_stream(msg))

    def relay_out(self, buf: bytes, start: int, stop: int, routes: list[str], rend: int,
                  pop: int, userid: Optional[int], rolemask: Optional[int]) -> None:
        """Router peer: :meth:`send` for a response still in its bytes (see :meth:`relay_in`;
        its route frames end at ``rend``): its ``pop`` newest route ids are gone,
        ``userid``/``rolemask`` (where not None) set."""
        if self.traced:
            self.send(relayed_message(buf, start, stop, routes, pop, userid, rolemask))
            return
        if pop == len(routes):  # all of them (a client's own request had none): from the
            self.write(push_stream(buf, rend - 1, stop, b"", userid, rolemask))  # delimiter
        else:
            self.write(relay_stream(buf, start, stop, pop, (), userid, rolemask))

    def write(self, data: bytes) -> None:
        """Queue encoded bytes; the loop flushes them at the end of this iteration."""
        if self.closed:
            return
        self.out.append(data)
        self.outlen += len(data)
        self.tx += 1
        if self.outlen > self.max_outbuf and self._over_limit():
            return
        if not self.dirty:
            self.dirty = True
            self.loop.mark_dirty(self)

    def flush(self) -> None:
        """Send what is queued with one ``send``; keep the rest for POLLOUT."""
        self.dirty = False
        out = self.out
        if self.closed or not out:
            return
        if len(out) == 1:
            data = out[0]
            taken = 1
        elif self.outlen <= SEND_SLICE:
            data = b"".join(out)
            taken = len(out)
        else:  # a long backlog: its front, not a copy of all of it per pass
            size = taken = 0
            while size < SEND_SLICE:
                size += len(out[taken])
                taken += 1
            data = b"".join(out[:taken])
        try:
            n = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError:
            self.lost(None)
            return
        if n == self.outlen:  # all of it (the usual case)
            out.clear()
            self.outlen = 0
            if self.over_since is not None:
                self._under_limit()
            if self.writing:
                self.writing = False
                self.loop.want_write(self.fd, False)
            return
        if n == len(data):
            del out[:taken]
        else:
            out[:taken] = [memoryview(data)[n:]]
        self.outlen -= n
        if n and self.over_since is not None:  # it reads: the limit's clock starts again
            if self.outlen <= self.max_outbuf:
                self._under_limit()
            else:
                self.over_since = _monotonic()
        if not self.writing:
            self.writing = True
            self.loop.want_write(self.fd, True)

    def _over_limit(self) -> bool:
        """The queue is past max_outbuf: stop reading the peer (the clock starts), or,
        if it has taken nothing for STALL_SECONDS or the queue is past the hard limit,
        drop it (True)."""
        now = _monotonic()
        if self.over_since is None:
            self.over_since = now
            self.loop.want_read(self.fd, False)
            self.stall_timer = self.loop.call_later(STALL_SECONDS, self._check_stall,
                                                    interval=max(STALL_SECONDS, 0.1))
        if (now - self.over_since >= STALL_SECONDS
                or self.outlen > HARD_LIMIT_FACTOR * self.max_outbuf):
            self.lost("output buffer limit reached (peer not reading)")
            return True
        return False

    def _under_limit(self) -> None:
        """The peer took its queue back under max_outbuf: read it again."""
        self.over_since = None
        if self.stall_timer is not None:
            self.stall_timer.cancel()
            self.stall_timer = None
        if not self.closed:
            self.loop.want_read(self.fd, True)

    def _check_stall(self) -> None:
        """Timer: a peer over the limit that nothing more was written to."""
        if (self.over_since is not None and not self.closed
                and _monotonic() - self.over_since >= STALL_SECONDS):
            self.stall_timer.cancel()
            self.stall_timer = None
            self.lost("output buffer limit reached (peer not reading)")

    # -- input --------------------------------------------------------------------------

    def on_io(self, events: int) -> None:
        """Loop callback: flush if writable, then read and dispatch what arrived."""
        if self.writing and is_writable(events):
            self.flush()
            if self.closed:
                return
        if not events & (EV_IN | EV_ERR):  # only writable
            return
        sock = self.sock
        receive = self.receive
        for _ in range(4):  # read what is there, but let other peers in too
            try:
                data = recv_some(sock)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self.lost(None)
                return
            try:
                view, ranges = self.decoder.feed_ranges(data)
            except ProtocolError as exc:
                self.lost(f"protocol error: {exc.detail}")
                return
            self.last_rx = _monotonic()
            relay_in = self.relay_in
            for start, stop in ranges:
                try:
                    if relay_in(view, start, stop):
                        msg = None
                    else:
                        msg = decode_range(view, start, stop)
                except ProtocolError as exc:
                    self.lost(f"protocol error: {exc.detail}")
                    return
                if msg is not None:
                    receive(msg)
                if self.closed:
                    return
            if len(data) < _RECV_SIZE:
                return

    def relay_in(self, buf: bytes, start: int, stop: int) -> bool:
        """A message from the peer, in its bytes: route it now, on its bytes, if it only
        passes through -- a response, or a request for another peer's service (what
        :meth:`PeerLink.receive`, the owner's ``forward_request`` and the router would do)
        -- or, decoded once, if it is a request for a builtin service (the router checks
        and counts it as :meth:`Router.request` would).
        False for anything else, or while the link is traced: the caller decodes it and
        calls ``receive``."""
        mtype = buf[stop - 18]  # the PROTO type byte (if the body is well formed)
        if (mtype != _RESPONSE and mtype != _REQUEST) or self.traced:
            return False
        head = peek_head(buf, start, stop)
        if head is None:
            return False
        _, flags, userid, rolemask, aux1, aux2, routes, topic, rend, _ = head
        # the credentials PeerLink.receive would stamp (None: unchanged): a guest's
        # always, otherwise only where unset
        if self.guest:
            new_userid: Optional[int] = self.userid
            new_rolemask: Optional[int] = self.rolemask
        else:
            new_userid = self.userid if userid == _UNKNOWN else None
            new_rolemask = self.rolemask if not rolemask else None
        if mtype == _REQUEST:
            if flags & _NORESPONSE or topic is None or topic in LOCAL_REQUESTS:
                # notices (disconnects) may change what is in flight: the full path
                return False
            push = self.request_hops(topic, aux1, flags)
            if push is None:
                return False
            frames = self.push_frames
            if frames is None or frames[0] is not push:  # (an owner returns the same tuple)
                frames = self.push_frames = (push, route_frames(push + (self.router.uuid,)))
            self.rx += 1  # before the router: a builtin service may report it
            if self.router.relay_request(buf, start, stop, head, push, frames[1], new_userid,
                                         new_rolemask):
                return True
            self.rx -= 1
            return False
        self.rx += 1
        if self.inflight and (aux1 or not flags & _STREAMING):
            self.inflight.pop((tuple(routes), aux2), None)
        self.router.relay_response(buf, start, stop, routes, rend, new_userid, new_rolemask)
        return True

    def request_hops(self, topic: str, nodeid: int, flags: int) -> Optional[tuple[str, ...]]:
        """The hops the owner's ``forward_request`` would push on a request it may relay
        on its bytes; None where it must see the Message (the default)."""
        return None

    def relay_request_out(self, buf: bytes, start: int, stop: int, matchtag: int,
                          routes: list[str], frames: bytes, userid: Optional[int],
                          rolemask: Optional[int]) -> None:
        """Router peer: :meth:`send` for a request still in its bytes, with route stack
        ``routes`` (the pushed hops included, encoded in ``frames``) and ``userid``/
        ``rolemask`` (where not None) set.  It waits in the in-flight table as those
        bytes (``fail_inflight`` decodes them if it must)."""
        if self.traced:
            msg = decode_range(buf, start, stop)
            msg.routes = routes
            msg.flags |= _ROUTE
            if userid is not None:
                msg.userid = userid
            if rolemask is not None:
                msg.rolemask = rolemask
            self.send(msg)
            return
        data = push_stream(buf, start, stop, frames, userid, rolemask)
        self.inflight[(tuple(routes), matchtag)] = data
        self.write(data)

    def close_transport(self) -> None:
        """Stop serving the socket and close it; queued output is dropped."""
        if self.closed:
            return
        self.closed = True
        self.loop.remove(self.fd)
        self.out = []
        self.outlen = 0
        if self.stall_timer is not None:
            self.stall_timer.cancel()
            self.stall_timer = None
        try:
            self.sock.close()
        except OSError:
            pass


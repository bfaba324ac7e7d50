"""Message dispatch for one connection: RPC matchtags, message watchers, requeue.

A :class:`HandleCore` is what a ``flux.Flux`` object wraps.  Several Flux
objects may wrap one core (``Future.get_flux()`` returns a new wrapper each
time, as flux-core does).

Rules (flux-core's ``msg_handler.c`` semantics):

* responses go to the RPC waiting on their matchtag when their route stack is
  empty, else to the most recently started matching message watcher, else
  are dropped;
* requests go to the watcher registered for their exact topic, else to the
  most recently started glob match, else are answered ENOSYS; a request whose
  rolemask the watcher does not allow is answered EPERM;
* events go to every matching watcher.

Messages that arrive while a blocking ``get()`` waits for another future are
kept in a backlog, in order, and dispatched later: nothing is lost.
"""

from __future__ import annotations

import errno
import heapq
import os
from collections import deque
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

from flux.codec import ProtocolError, fill_template, request_template
from flux.constants import (
    FLUX_MATCHTAG_NONE,
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGTYPE_EVENT,
    FLUX_MSGTYPE_REQUEST,
    FLUX_MSGTYPE_RESPONSE,
    FLUX_POLLIN,
    FLUX_USERID_UNKNOWN,
)
from flux.core import threadstate
from flux.core.connection import Connection, ConnectionLost
from flux.core.reactor import Reactor, Source
from flux.message import Message
from flux.response import derive_response

if TYPE_CHECKING:  # pragma: no cover
    from flux.core.watchers import MessageWatcher
    from flux.future import Future
    from flux.rpc import RPC

_RESPONSE = FLUX_MSGTYPE_RESPONSE
_REQUEST = FLUX_MSGTYPE_REQUEST
_EVENT = FLUX_MSGTYPE_EVENT
_NORESPONSE = FLUX_MSGFLAG_NORESPONSE
_USERID_UNKNOWN = FLUX_USERID_UNKNOWN
_MAX_TEMPLATES = 256  # request templates kept per handle (send_request)


class HandleCore:
    """Connection, reactor and dispatch state shared by Flux objects."""

    def __init__(self, conn: Connection, flags: int = 0) -> None:
        self.conn = conn
        self.flags = flags
        self.reactor: Optional[Reactor] = None
        self.backlog: deque[Message] = deque()
        self.rpcs: dict[int, "RPC"] = {}
        self._free_tags: list[int] = []
        self._next_tag = 1
        self._templates: dict[tuple[str | bytes, int, bool], tuple[bytes, bytes]] = {}
        self.watchers: list["MessageWatcher"] = []
        self.exact: dict[str, list["MessageWatcher"]] = {}
        self.users = 0
        self._src: Optional[Source] = None
        self._drain_scheduled = False
        self.aux: dict[str, Any] = {}
        self.attr_cache: dict[str, str] = {}
        self.conf: Optional[dict] = None
        self.lost: Optional[OSError] = None
        self.aio_loop: Any = None
        self.rank: Optional[int] = None
        userid = os.environ.get("FLUX_HANDLE_USERID")
        rolemask = os.environ.get("FLUX_HANDLE_ROLEMASK")
        self.cred_userid = int(userid, 0) if userid else None
        self.cred_rolemask = int(rolemask, 0) if rolemask else None

    # -- reactor ------------------------------------------------------------------

    def get_reactor(self) -> Reactor:
        if self.reactor is None:
            self.reactor = Reactor()
            self._src = Source(self.reactor, "fd", self._on_readable)
            self._src.fd = self.conn.fileno()
            self._src.events = FLUX_POLLIN
            if self.users > 0:
                self._src.start()
        return self.reactor

    def add_user(self) -> None:
        self.users += 1
        if self.users == 1:
            if self._src is not None and not self.conn.closed:
                self._src.start()
            drv = self.aio_loop
            if drv is not None:
                if drv.loop.is_closed():  # e.g. after asyncio.run() returned
                    self.aio_loop = None
                else:
                    drv.attach()
        if self.backlog:
            self.schedule_drain()

    def drop_user(self) -> None:
        self.users -= 1
        if self.users <= 0:
            self.users = 0
            if self._src is not None:
                self._src.stop()

    def schedule(self, func: Callable[[], None]) -> None:
        """Run ``func`` soon on whatever loop drives this handle."""
        drv = self.aio_loop
        if drv is not None and drv.loop.is_running():
            drv.call_soon(func)
        else:
            self.get_reactor().call_soon(func)

    def schedule_drain(self) -> None:
        if not self._drain_scheduled and self.users > 0:
            self._drain_scheduled = True
            self.schedule(self._drain)

    def _drain(self) -> None:
        self._drain_scheduled = False
        backlog = self.backlog
        for _ in range(len(backlog)):
            if self.users <= 0 or not backlog:
                break
            self.dispatch(backlog.popleft())

    # -- matchtags ------------------------------------------------------------------

    def alloc_tag(self) -> int:
        if self._free_tags:
            return heapq.heappop(self._free_tags)
        tag = self._next_tag
        self._next_tag += 1
        return tag

    def free_tag(self, tag: int) -> None:
        if tag != FLUX_MATCHTAG_NONE:
            self.rpcs.pop(tag, None)
            heapq.heappush(self._free_tags, tag)

    # -- sending ----------------------------------------------------------------------

    def send(self, msg: Message) -> None:
        if self.lost is not None:
            raise OSError(self.lost.errno, self.lost.strerror)
        if self.cred_userid is not None:
            msg.userid = self.cred_userid
        if self.cred_rolemask is not None:
            msg.rolemask = self.cred_rolemask
        self.conn.send(msg)

    def send_request(self, topic: str | bytes, payload: Optional[bytes], flags: int, nodeid: int,
                     fut: Optional["RPC"] = None) -> int:
        """Send a request with an empty route stack (what ``RPC`` sends); return its matchtag.

        With ``fut`` a matchtag is taken and ``fut`` awaits the responses to it; without,
        the matchtag is 0 (FLUX_RPC_NORESPONSE).  ``topic`` is a str, or bytes already
        checked (flux.util.encode_topic); ``payload`` is wire bytes or None, never empty.

        On a plain stream connection the bytes come from a template kept per topic
        (:func:`flux.codec.request_template`): only payload, nodeid and matchtag are
        filled in, no Message is built.  A connection that takes Messages (loop://) or
        whose ``send`` was wrapped on the instance (a module's message counters) gets a
        Message through :meth:`send`.
        """
        if self.lost is not None:
            raise OSError(self.lost.errno, self.lost.strerror)
        tag = 0
        if fut is not None:
            free = self._free_tags
            if free:
                tag = heapq.heappop(free)
            else:
                tag = self._next_tag
                self._next_tag += 1
            self.rpcs[tag] = fut
        try:
            conn = self.conn
            if conn.sends_bytes and "send" not in conn.__dict__:
                key = (topic, flags, payload is not None)
                template = self._templates.get(key)
                if template is None:
                    template = self._new_template(key)
                conn.send_bytes(fill_template(template, payload, nodeid, tag))
            else:
                msg = Message()
                msg.flags = flags
                msg.topic = topic
                msg._set_payload_bytes(payload)
                msg.aux1 = nodeid
                msg.aux2 = tag
                self.send(msg)
        except OSError:  # (ProtocolError too: a field out of range)
            if tag:
                self.free_tag(tag)
            raise
        return tag

    def _new_template(self, key: tuple[str | bytes, int, bool]) -> tuple[bytes, bytes]:
        """The request template for (topic, flags, with a payload), remembered.

        It holds the handle's credentials (FLUX_HANDLE_USERID/ROLEMASK), fixed when the
        handle opens; loop:// changes them then, but never uses templates.
        """
        topic, flags, with_payload = key
        topic_b = topic.encode("utf-8", "surrogateescape") if isinstance(topic, str) else topic
        userid = self.cred_userid
        rolemask = self.cred_rolemask
        template = request_template(_REQUEST, flags, _USERID_UNKNOWN if userid is None else userid,
                                    0 if rolemask is None else rolemask, topic_b, with_payload)
        templates = self._templates
        if len(templates) >= _MAX_TEMPLATES:  # topics made up per call must not grow it forever
            templates.clear()
        templates[key] = template
        return template

    def respond(self, request: Message, errnum: int = 0, payload: Optional[bytes] = None) -> None:
        if request.flags & _NORESPONSE:
            return
        self.send(derive_response(request, errnum, payload))

    # -- receiving ----------------------------------------------------------------------

    def read(self, timeout: Optional[float]) -> list[Message]:
        """Wait up to ``timeout`` for messages; [] on timeout."""
        conn = self.conn
        try:
            if timeout is not None and timeout <= 0:
                return conn.read_nowait()
            # poll before reading: right after a send the answer is rarely
            # there yet, and a recv() failing with EAGAIN costs more than poll
            if not conn.wait_readable(timeout):
                return []
            return conn.read_nowait()
        except (ConnectionLost, ProtocolError) as exc:
            self.connection_lost(exc)
            raise OSError(self.lost.errno, self.lost.strerror) from None  # type: ignore[union-attr]  # set by connection_lost()

    def connection_lost(self, exc: OSError) -> None:
        if self.lost is not None:
            return
        errnum = exc.errno or errno.ECONNRESET
        errstr = exc.strerror or os.strerror(errno.ECONNRESET)
        self.lost = OSError(errnum, errstr)
        if self._src is not None:
            self._src.stop()
            if self.reactor is not None:
                self.reactor.forget_fd(self.conn.fileno())
        for fut in list(self.rpcs.values()):
            fut._fulfill_error(errnum, errstr)
        self.rpcs.clear()

    def _on_readable(self, revents: int) -> None:
        try:
            msgs = self.conn.read_nowait()
        except (ConnectionLost, ProtocolError) as exc:
            self.connection_lost(exc)
            if self.watchers:
                if threadstate.get_exception() is None:
                    threadstate.set_exception(OSError(self.lost.errno, self.lost.strerror))  # type: ignore[union-attr]  # set by connection_lost()
                if self.reactor is not None:
                    self.reactor.stop_error()
            return
        if self.backlog:
            self.backlog.extend(msgs)
            self._drain()
            return
        dispatch = self.dispatch
        for msg in msgs:
            dispatch(msg)

    def wait_future(self, fut: "Future", timeout: Optional[float]) -> bool:
        """Block until future state ``fut`` has a result (the hot path of get()).

        Same rules as :meth:`wait_for`, without a ``ready`` callable.
        """
        if timeout is not None or self.backlog or not fut._tag:
            return self.wait_for(lambda: fut._current is not None, fut._tag, timeout)
        tag = fut._tag
        rpcs = self.rpcs
        conn = self.conn
        backlog = self.backlog
        while fut._current is None:
            try:
                msgs = conn.read_wait()
            except (ConnectionLost, ProtocolError) as exc:
                self.connection_lost(exc)
                break
            for msg in msgs:
                if msg.aux2 == tag and msg.type == _RESPONSE and not msg.routes:
                    f = rpcs.get(tag)
                    if f is not None:
                        f._on_response(msg)
                        continue
                backlog.append(msg)
        if backlog:
            self.schedule_drain()
        return fut._current is not None

    def wait_for(self, ready: Callable[[], bool], tag: int, timeout: Optional[float]) -> bool:
        """Block until ``ready()``; messages for others go to the backlog.

        ``tag`` is the matchtag of the awaited RPC (0 if none): its responses
        are delivered directly, everything else is kept for later.
        """
        import time

        if ready():
            return True
        rpcs = self.rpcs
        if self.backlog and tag:
            self._drain_for(tag)
            if ready():
                return True
        remaining = None if timeout is None or timeout < 0 else float(timeout)
        deadline = None if remaining is None else time.monotonic() + remaining
        while not ready():
            if deadline is not None:
                # the first pass always reads (a 0 timeout polls the socket once)
                if remaining is None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
            try:
                msgs = self.read(remaining)
            except OSError:
                break
            for msg in msgs:
                if tag and msg.type == _RESPONSE and msg.aux2 == tag and not msg.routes:
                    fut = rpcs.get(tag)
                    if fut is not None:
                        fut._on_response(msg)
                        continue
                self.backlog.append(msg)
            if deadline is not None:
                remaining = None
        if self.backlog:
            self.schedule_drain()
        return ready()

    def _drain_for(self, tag: int) -> None:
        """Deliver the backlogged responses for matchtag ``tag`` to its RPC."""
        fut = self.rpcs.get(tag)
        if fut is None or not tag:
            return
        keep: deque[Message] = deque()
        for msg in self.backlog:
            if msg.type == _RESPONSE and msg.aux2 == tag and not msg.routes and self.rpcs.get(tag) is fut:
                fut._on_response(msg)
            else:
                keep.append(msg)
        self.backlog = keep

    def recv_match(
        self, accept: Callable[[Message], bool], timeout: Optional[float] = None
    ) -> Optional[Message]:
        """Take the first message ``accept`` likes; requeue the others in order."""
        import time

        backlog = self.backlog
        for i, msg in enumerate(backlog):
            if accept(msg):
                del backlog[i]
                return msg
        remaining = None if timeout is None or timeout < 0 else float(timeout)
        deadline = None if remaining is None else time.monotonic() + remaining
        while True:
            msgs = self.read(remaining)
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if not msgs and remaining <= 0:
                    return None
                remaining = max(remaining, 0.0)
            for i, msg in enumerate(msgs):
                if accept(msg):
                    backlog.extend(msgs[i + 1 :])
                    if backlog:
                        self.schedule_drain()
                    return msg
                backlog.append(msg)

    # -- dispatch ------------------------------------------------------------------------

    def add_watcher(self, w: "MessageWatcher") -> None:
        self.watchers.append(w)
        if w._matcher.exact is not None and w.type_mask & _REQUEST:
            self.exact.setdefault(w._matcher.exact, []).append(w)
        self.add_user()

    def remove_watcher(self, w: "MessageWatcher") -> None:
        if w in self.watchers:
            self.watchers.remove(w)
            key = w._matcher.exact or ""
            lst = self.exact.get(key)
            if lst and w in lst:
                lst.remove(w)
                if not lst:
                    del self.exact[key]
            self.drop_user()

    def dispatch(self, msg: Message) -> None:
        mtype = msg.type
        if mtype == _RESPONSE:
            if not msg.routes:
                fut = self.rpcs.get(msg.aux2)
                if fut is not None:
                    fut._on_response(msg)
                    return
            for w in reversed(self.watchers):
                if w.type_mask & _RESPONSE and w._accepts(msg):
                    if msg.rolemask & w.allow:
                        w._deliver(msg)
                    return
            return
        if mtype == _REQUEST:
            handler = None
            lst = self.exact.get(msg._topic)  # type: ignore[arg-type]  # a request always has a topic
            if lst:
                handler = lst[-1]
            else:
                for w in reversed(self.watchers):
                    if w.type_mask & _REQUEST and w._accepts(msg):
                        handler = w
                        break
            if handler is None:
                if not msg.flags & _NORESPONSE:
                    text = f"Unknown service method '{msg._topic}'"
                    self._respond_quietly(msg, errno.ENOSYS, text)
                return
            if not msg.rolemask & handler.allow:
                if not msg.flags & _NORESPONSE:
                    self._respond_quietly(msg, errno.EPERM, "Request requires owner credentials")
                return
            handler._deliver(msg)
            return
        if mtype == _EVENT:
            for w in list(self.watchers):
                if w.type_mask & _EVENT and w._accepts(msg) and msg.rolemask & w.allow:
                    w._deliver(msg)
            return
        for w in reversed(self.watchers):  # control messages
            if w.type_mask & mtype and w._accepts(msg):
                w._deliver(msg)
                return

    def _respond_quietly(self, msg: Message, errnum: int, text: str) -> None:
        try:
            self.respond(msg, errnum, text.encode() + b"\0")
        except OSError:
            pass

    def close(self) -> None:
        if self.reactor is not None:
            try:
                self.reactor.forget_fd(self.conn.fileno())
            except (OSError, ValueError):
                pass
        self.conn.close()

"""``flux.core.handle.Flux``: a connection to a Flux instance.

Same constructor, methods, defaults and exceptions as flux-core's Python
bindings, so scripts written for flux-core run unchanged.  Handles are not
thread-safe: each thread opens its own.  Exception and reactor state are per
thread, kept in :mod:`flux.core.threadstate` (class attribute ``tls``).

Payloads the caller gives (``rpc``, ``respond``, ``event_send``) are encoded
as flux-core's bindings do (``json.dumps``); the requests that flux-core's
handle builds in C (``attr.get``/``attr.set``, ``event.subscribe``,
``service.add``...) carry libflux's compact JSON.
"""

from __future__ import annotations

import errno
import os
import sys
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

    from flux.core.aio import EventStream
    from flux.core.watchers import (
        CheckWatcher,
        FDWatcher,
        IdleWatcher,
        MessageWatcher,
        PrepareWatcher,
        SignalWatcher,
        TimerWatcher,
    )
    from flux.rpc import RPC

from flux.constants import (
    FLUX_MATCHTAG_NONE,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGTYPE_ANY,
    FLUX_MSGTYPE_EVENT,
    FLUX_NODEID_ANY,
    FLUX_O_NONBLOCK,
    FLUX_O_TEST_NOSUB,
)
from flux.core import threadstate
from flux.core.connection import connect
from flux.core.dispatch import HandleCore
from flux.core.reactor import Reactor
from flux.core.topics import TopicMatcher
from flux.message import Message, compact_json, payload_bytes
from flux.util import encode_topic
from flux.wrapper import MissingFunction, implicit_attribute, strip_prefix

__all__ = ["Flux"]

_DEFAULT_URI = "local:///run/flux/local"
_RPC: Any = None  # flux.rpc.RPC, imported on first use


def _check_topic(topic: Any) -> str:
    """A topic as str, validated as flux-core does (see flux.util.encode_topic)."""
    if type(topic) is str:
        return topic
    return encode_topic(topic).decode("utf-8", "surrogateescape")


def _resolve_pathlike(uri: str) -> str:
    """``/`` is the root instance, each ``..`` climbs one parent (via parent-uri)."""
    parts = uri.split("/")
    if uri.startswith("/"):
        if uri.strip("/") != "":
            raise OSError(errno.EINVAL, f"invalid path-like URI '{uri}'")
        climb = -1  # all the way up
    else:
        climb = 0
        for part in parts:
            if part in (".", ""):
                continue
            if part == "..":
                climb += 1
            else:
                raise OSError(errno.EINVAL, f"invalid path-like URI '{uri}'")
    current = os.environ.get("FLUX_URI")
    if not current:
        raise OSError(errno.ENOENT, "FLUX_URI is not set")
    while climb != 0:
        h = Flux(current)
        try:
            level = int(h.attr_get("instance-level"))
            if level == 0:
                break
            current = h.attr_get("parent-uri")
        finally:
            h._close()
        climb -= 1
    return current



class _InReactor:
    """What ``Flux.in_reactor()`` returns (a class: ``contextlib`` costs a start-up import)."""

    __slots__ = ("enter", "exit")

    def __init__(self, enter: Callable[[], None], exit: Callable[[], None]) -> None:
        self.enter = enter
        self.exit = exit

    def __enter__(self) -> None:
        self.enter()

    def __exit__(self, *exc: object) -> None:
        self.exit()

class Flux:
    """A Flux handle: ``Flux(url=None, flags=0, handle=None)``.

    ``url`` defaults to ``$FLUX_URI``.  ``handle`` wraps an existing handle
    core (what ``Future.get_flux()`` uses) instead of opening a connection.
    """

    tls = threadstate.tls
    _core: HandleCore  # declared: mypy cannot infer it across the handle-clone branch of __init__
    handle: HandleCore

    def __init__(self, url: Optional[str] = None, flags: int = 0, handle: Any = None) -> None:
        self._active_watchers: set[Any] = set()
        self.aux_txn: Any = None
        self._cached_config: Any = None
        if handle is not None:
            if isinstance(handle, Flux):
                handle = handle._core
            if not isinstance(handle, HandleCore):
                raise TypeError("handle must be a flux handle")
            self._core = handle
            self.handle = handle
            self._owns_conn = False  # a clone (e.g. get_flux()) never closes it
            return
        if isinstance(url, bytes):
            url = url.decode()
        uri = url if url else os.environ.get("FLUX_URI") or _DEFAULT_URI
        try:
            if uri.startswith(".") or uri.startswith("/"):
                uri = _resolve_pathlike(uri)
            conn = connect(uri)
        except OSError as exc:
            detail = exc.strerror or os.strerror(exc.errno or errno.ECONNREFUSED)
            raise OSError(exc.errno or errno.ECONNREFUSED, f"Unable to connect to Flux: {detail}") from None
        self._core = HandleCore(conn, flags)
        prime = getattr(conn, "prime_handle", None)
        if prime is not None:  # loop:// sets up its handle (flux.core.loopback)
            prime(self._core)
        self.handle = self._core
        self._owns_conn = True

    # -- per-thread state: kept in flux.core.threadstate (below this layer) ---------------------

    set_exception = staticmethod(threadstate.set_exception)
    tls_exception = staticmethod(threadstate.get_exception)
    raise_if_exception = staticmethod(threadstate.raise_if_exception)
    reactor_running = staticmethod(threadstate.reactor_running)
    reactor_enter = staticmethod(threadstate.reactor_enter)
    reactor_exit = staticmethod(threadstate.reactor_exit)

    @classmethod
    def in_reactor(cls) -> _InReactor:
        """``with h.in_reactor():`` the thread counts as inside the reactor."""
        return _InReactor(cls.reactor_enter, cls.reactor_exit)

    # -- life cycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Manual closing is refused: the handle closes when it is collected."""
        raise RuntimeError("Flux handles cannot be closed manually; they close when deleted")

    def _close(self) -> None:
        if self._owns_conn:
            self._core.close()

    def __enter__(self) -> "Flux":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._close()

    def __repr__(self) -> str:
        return f"<flux.core.Flux object at {id(self):#x}>"

    # -- watchers ----------------------------------------------------------------------------

    def add_watcher(self, watcher: Any) -> Any:
        """Keep a reference to ``watcher`` so it is not garbage collected; return it."""
        self._active_watchers.add(watcher)
        return watcher

    def del_watcher(self, watcher: Any) -> None:
        """Drop the reference taken by :meth:`add_watcher`."""
        self._active_watchers.discard(watcher)

    def msg_watcher_create(
        self,
        callback: Callable[..., Any],
        type_mask: int = FLUX_MSGTYPE_ANY,
        topic_glob: Optional[str | bytes] = "*",
        args: Any = None,
        match_tag: int = FLUX_MATCHTAG_NONE,
        rolemask: Optional[int] = None,
    ) -> MessageWatcher:
        from flux.core.watchers import MessageWatcher

        return MessageWatcher(self, type_mask, callback, topic_glob, match_tag, rolemask, args)

    def timer_watcher_create(self, after: float, callback: Callable[..., Any], repeat: float = 0.0,
                             args: Any = None) -> TimerWatcher:
        from flux.core.watchers import TimerWatcher

        return TimerWatcher(self, after, callback, repeat=repeat, args=args)

    def fd_watcher_create(self, fd_int: int, callback: Callable[..., Any],
                          events: Optional[int] = None, args: Any = None) -> FDWatcher:
        from flux.core.watchers import FDWatcher

        return FDWatcher(self, fd_int, events, callback, args=args)

    def signal_watcher_create(self, signum: int, callback: Callable[..., Any], args: Any = None) -> SignalWatcher:
        from flux.core.watchers import SignalWatcher

        return SignalWatcher(self, signum, callback, args=args)

    def prepare_watcher_create(self, callback: Callable[..., Any], args: Any = None) -> PrepareWatcher:
        from flux.core.watchers import PrepareWatcher

        return PrepareWatcher(self, callback, args=args)

    def check_watcher_create(self, callback: Callable[..., Any], args: Any = None) -> CheckWatcher:
        from flux.core.watchers import CheckWatcher

        return CheckWatcher(self, callback, args=args)

    def idle_watcher_create(self, callback: Optional[Callable[..., Any]] = None, args: Any = None) -> IdleWatcher:
        from flux.core.watchers import IdleWatcher

        return IdleWatcher(self, callback, args=args)

    # -- reactor ------------------------------------------------------------------------------

    def get_reactor(self) -> Reactor:
        return self._core.get_reactor()

    def reactor_run(self, reactor: Optional[Reactor] = None, flags: int = 0) -> int:
        """Run the reactor until no watcher or pending RPC is left, or stopped.

        An exception raised in a callback stops the reactor and is re-raised
        here; Ctrl-C raises KeyboardInterrupt.
        """
        reactor = reactor or self._core.get_reactor()
        core = self._core
        if core.backlog and core.users > 0:
            core.schedule_drain()
        threadstate.reactor_enter()
        try:
            rc = reactor.run(flags)
        finally:
            threadstate.reactor_exit()
        threadstate.raise_if_exception()
        return rc

    def reactor_stop(self, reactor: Optional[Reactor] = None) -> None:
        (reactor or self._core.get_reactor()).stop()

    def reactor_stop_error(self, reactor: Optional[Reactor] = None) -> None:
        (reactor or self._core.get_reactor()).stop_error()

    def reactor_incref(self, reactor: Optional[Reactor] = None) -> None:
        (reactor or self._core.get_reactor())._refcount += 1

    def reactor_decref(self, reactor: Optional[Reactor] = None) -> None:
        (reactor or self._core.get_reactor())._refcount -= 1

    # -- messages -----------------------------------------------------------------------------

    def send(self, message: Message, flags: int = 0) -> int:
        """Send a pre-built message."""
        if not isinstance(message, Message):
            raise TypeError("send() needs a flux.message.Message")
        self._core.send(message)
        return 0

    def recv(
        self,
        type_mask: int = FLUX_MSGTYPE_ANY,
        match_tag: int = FLUX_MATCHTAG_NONE,
        topic_glob: Optional[str | bytes] = None,
        flags: int = 0,
    ) -> Optional[Message]:
        """Receive the next matching message; others are kept for later."""
        matcher = TopicMatcher(topic_glob)

        def accept(msg: Message) -> bool:
            if not msg.type & type_mask:
                return False
            if match_tag != FLUX_MATCHTAG_NONE and msg.aux2 != match_tag:
                return False
            return matcher(msg._topic)

        timeout = 0.0 if flags & FLUX_O_NONBLOCK else None
        msg = self._core.recv_match(accept, timeout)
        if msg is None and flags & FLUX_O_NONBLOCK:
            raise OSError(errno.EWOULDBLOCK, os.strerror(errno.EWOULDBLOCK))
        return msg

    def respond(self, message: Message, payload: Any = None) -> int:
        """Respond to a request (payload: None, str, bytes or JSON-able)."""
        self._core.respond(message, 0, payload_bytes(payload))
        return 0

    def respond_error(self, message: Message, errnum: int, errstr: Optional[str] = None) -> int:
        """Respond with an error; errnum 0 becomes EINVAL."""
        text = None
        if errstr is not None:
            if isinstance(errstr, bytes):
                errstr = errstr.decode("utf-8", "replace")
            text = str(errstr).encode("utf-8", "surrogateescape") + b"\0"
        self._core.respond(message, errnum or errno.EINVAL, text)
        return 0

    def request_encode(self, topic: str | bytes, payload: Any = None) -> Message:
        msg = Message()
        msg.topic = _check_topic(topic)
        msg._set_payload_bytes(payload_bytes(payload))
        msg.flags |= FLUX_MSGFLAG_ROUTE
        return msg

    def rpc(self, topic: str | bytes, payload: Any = None, nodeid: int = FLUX_NODEID_ANY, flags: int = 0) -> RPC:
        """Send a request now; return the :class:`flux.rpc.RPC` future of its response."""
        global _RPC
        if _RPC is None:
            from flux.rpc import RPC as _RPC
        future: RPC = _RPC(self, topic, payload, nodeid, flags)
        return future

    # -- events -------------------------------------------------------------------------------

    def event_create(self, topic: str | bytes, payload: Any = None) -> Message:
        """A new event message (str payload verbatim, other types as JSON)."""
        return Message.from_event_encode(_check_topic(topic), payload)

    def event_send(self, topic: str | bytes, payload: Any = None) -> int:
        """Create an event and send it (the broker publishes it)."""
        return self.send(self.event_create(topic, payload))

    def event_subscribe(self, topic: str | bytes) -> int:
        """Subscribe to events whose topic starts with ``topic``.

        With the FLUX_O_TEST_NOSUB open flag this does nothing (e.g. on loop://).
        """
        topic = _check_topic(topic)
        if self._core.flags & FLUX_O_TEST_NOSUB:
            return 0
        self.rpc("event.subscribe", compact_json({"topic": topic})).get()
        return 0

    def event_unsubscribe(self, topic: str | bytes) -> int:
        topic = _check_topic(topic)
        if self._core.flags & FLUX_O_TEST_NOSUB:
            return 0
        self.rpc("event.unsubscribe", compact_json({"topic": topic})).get()
        return 0

    def event_recv(self, topic: Optional[str | bytes] = None) -> Optional[Message]:
        """Block until the next event (matching the ``topic`` glob) arrives."""
        return self.recv(type_mask=FLUX_MSGTYPE_EVENT, topic_glob=topic)

    def events(self, *topics: str) -> EventStream:
        """An async iterator over events on these topic prefixes (asyncio)."""
        from flux.core.aio import EventStream

        return EventStream(self, topics)

    # -- logging -------------------------------------------------------------------------------

    def log(self, level: int, fstring: str | bytes) -> None:
        """Send ``fstring`` to the broker's log at syslog ``level``.

        The text is never treated as a format string.
        """
        from flux.core.logging import log_records

        if isinstance(fstring, bytes):
            fstring = fstring.decode("utf-8", "replace")
        for record in log_records(self, int(level), str(fstring)):
            msg = Message()
            msg.topic = "log.append"
            msg.flags |= FLUX_MSGFLAG_ROUTE
            msg.payload_bytes = record
            self._core.send(msg)

    # -- attributes -----------------------------------------------------------------------------

    def attr_get(self, name: str) -> str:
        """The value of broker attribute ``name``; ENOENT if it has none."""
        if not isinstance(name, (str, bytes)):
            raise ValueError("attribute name must be a str")
        if isinstance(name, bytes):
            name = name.decode()
        cache = self._core.attr_cache
        cached = cache.get(name)
        if cached is not None:
            return cached
        resp = self.rpc("attr.get", compact_json({"name": name})).get()
        value: str = resp["value"]
        if resp.get("flags", 0) & 1:
            cache[name] = value
        return value

    def attr_set(self, attr: str, value: str) -> None:
        if not isinstance(attr, str) or not isinstance(value, str):
            raise ValueError("attribute name and value must be str")
        self.rpc("attr.set", compact_json({"name": attr, "value": value})).get()
        self._core.attr_cache.pop(attr, None)

    def attr_remove(self, attr: str) -> None:
        if not isinstance(attr, str):
            raise ValueError("attribute name must be a str")
        self.rpc("attr.rm", {"name": attr}).get()
        self._core.attr_cache.pop(attr, None)

    def get_rank(self, rank: Any = None) -> int:
        """The broker's rank; also stored in ``rank[0]`` when given (``flux_get_rank(h, &rank)``)."""
        core = self._core
        if core.rank is None:
            core.rank = int(self.attr_get("rank"))
        if rank is not None:
            rank[0] = core.rank
        return core.rank

    def get_size(self, size: Any = None) -> int:
        """The instance size; also stored in ``size[0]`` when given (``flux_get_size(h, &size)``)."""
        value = int(self.attr_get("size"))
        if size is not None:
            size[0] = value
        return value

    # -- config ---------------------------------------------------------------------------------

    def conf_get(self, key: Optional[str] = None, default: Any = None, update: bool = False) -> Any:
        """The instance config (fetched once with ``config.get``), or one dotted key of it."""
        core = self._core
        if core.conf is None or update:
            try:
                core.conf = self.rpc("config.get").get() or {}
            except OSError as exc:
                if exc.errno != errno.ENOSYS:
                    raise
                core.conf = {}
        conf = core.conf
        if key is None:
            return conf
        for part in key.split("."):
            if not isinstance(conf, dict) or part not in conf:
                return default
            conf = conf[part]
        return conf

    # -- services ---------------------------------------------------------------------------------

    def service_register(self, name: str) -> RPC:
        """Ask the broker to route requests for ``name.*`` to this handle."""
        return self.rpc("service.add", compact_json({"service": name}))

    def service_unregister(self, name: str) -> RPC:
        return self.rpc("service.remove", compact_json({"service": name}))

    # -- aux (module runtime) -------------------------------------------------------------------------

    def aux_set(self, key: str, value: Any) -> None:
        self._core.aux[key] = value

    def aux_get(self, key: str) -> Any:
        return self._core.aux.get(key)

    def fatal_error(self, text: str) -> None:
        sys.stderr.write(f"fatal error: {text}\n")
        os._exit(1)

    def incref(self) -> None:
        """flux-core's reference counting; nothing to do in Python."""

    # -- libflux's names (flux-core's handle is a wrapper of the C library) ---------------------

    def flux_attr_get(self, name: str) -> bytes:
        """The C function returns a ``char *``, which flux-core hands back as bytes."""
        return self.attr_get(name).encode("utf-8", "surrogateescape")

    def __getattr__(self, name: str) -> Any:
        """libflux's names that flux-core's handle answers besides its Python methods.

        ``flux_X`` is method ``X`` (``h.flux_send``, ``h.flux_reactor_run``,
        ``h.flux_get_size``); ``FLUX_X`` and ``X`` name the constant
        ``FLUX_X``; the functions of the message, message handler and future
        objects take that object first (``h.msg_handler_allow_rolemask(w.handle,
        mask)``, ``h.future_get(f, NULL)``, ``h.future_create(NULL, NULL)``).
        Anything else is a :class:`flux.wrapper.MissingFunction`, which raises
        MissingFunctionError when called, as in flux-core.
        """
        found = strip_prefix(self, name, ("flux_",))  # FLUX_ names only constants
        if found is not None:
            return found
        if name[:1] != "_":
            from flux import constants

            value = getattr(constants, name if name.startswith("FLUX_") else "FLUX_" + name, None)
            if isinstance(value, int):
                return value
            c_name = name[5:] if name.startswith("flux_") else name
            for prefix, owner, create in _C_OBJECTS:
                if c_name.startswith(prefix):
                    function = c_name[len(prefix):]
                    if function == "create" and create is not None:
                        return create
                    return _object_function(owner, function, name)
        return implicit_attribute(self, name, _PREFIXES)


_PREFIXES = ("flux_", "FLUX_")


def _new_future(init_cb: Any = None, arg: Any = None) -> Any:
    """``flux_future_create(init, arg)``: an empty future (``Future(h.future_create(NULL, NULL))``)."""
    from flux.future import Future

    return Future()


# libflux objects whose functions (``flux_<object>_<function>(object, ...)``)
# flux-core's handle answers: name prefix -> where that object's functions are
# (the object itself, or its ``pimpl``), and what ``<object>_create`` makes.
# Longest prefix first.
_C_OBJECTS = (
    ("msg_handler_", "", None),
    ("msg_", "pimpl", Message),
    ("future_", "pimpl", _new_future),
)


def _object_function(owner: str, function: str, name: str) -> Callable[..., Any]:
    """``h.<object>_<function>(obj, *args)``: ``function`` of ``obj`` (or of ``obj.pimpl``)."""

    def call(obj: Any, *args: Any) -> Any:
        target = getattr(obj, owner) if owner else obj
        method = getattr(target, function, None)
        if method is None:
            return MissingFunction(name, _PREFIXES)(obj, *args)
        return method(*args)

    return call


threadstate.register_handle_class(Flux)

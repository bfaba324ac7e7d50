"""The Flux message (RFC 3) as users of flux-core's Python bindings see it.

A :class:`Message` holds the fields of the PROTO frame plus topic, payload and
route stack.  It knows nothing about bytes on a wire: :mod:`flux.codec` turns
messages into frames and back.

Internally the payload is kept exactly as it travels (``bytes``, including the
trailing NUL that libflux puts after string and JSON payloads), so relaying a
message never re-serializes it.
"""

# No ``from __future__ import annotations`` here: importing __future__ costs ~0.2 ms of every
# ``flux module load``; annotations naming typing-only names are quoted instead.

import errno as _errno
import os
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional

from flux.constants import (
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_PAYLOAD,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGFLAG_TOPIC,
    FLUX_MSGTYPE_CONTROL,
    FLUX_MSGTYPE_EVENT,
    FLUX_MSGTYPE_REQUEST,
    FLUX_MSGTYPE_RESPONSE,
    FLUX_NODEID_ANY,
    FLUX_USERID_UNKNOWN,
)

__all__ = ["Message", "msg_typestr", "encode_json", "compact_json", "MessageWatcher"]

_TYPE_STR = {
    FLUX_MSGTYPE_REQUEST: "request",
    FLUX_MSGTYPE_RESPONSE: "response",
    FLUX_MSGTYPE_EVENT: "event",
    FLUX_MSGTYPE_CONTROL: "control",
}

# Two JSON spellings travel: libflux (jansson, in C: the broker, its commands,
# the module runtime) writes compact JSON (``{"a":1}``), while flux-core's
# Python bindings encode what Python code hands them with ``json.dumps``
# (``{"a": 1}``), and code compares ``payload_str`` with ``json.dumps(...)``.
# Both keep non-ASCII text as UTF-8.
#
# The json package is imported on first use only: it pulls in ``re``
# (milliseconds), and short commands such as ``flux module load`` use this
# module without ever decoding JSON.  Encoding needs only the C accelerator
# ``_json``.  The C encoder and scanner are called directly: the
# ``json.dumps``/``json.loads`` wrappers build a new encoder per call and add
# Python-level frames that cost as much as a small payload's parsing.
#
# ``_encode_text``, ``_dumps_text`` and ``_decode_text`` start as loaders that
# replace themselves (module globals) on their first call, so after that a
# payload pays nothing for the laziness.


def _json_default(obj: "Any") -> "Any":
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _text_encoder(item_sep: "str", key_sep: "str") -> "Any":
    """A function ``obj -> str`` writing JSON with these separators, non-ASCII kept."""
    try:
        from _json import encode_basestring, make_encoder
    except ImportError:  # pragma: no cover - non-CPython: the json package's encoder
        import json

        return json.JSONEncoder(separators=(item_sep, key_sep), ensure_ascii=False).encode
    # One encoder serves every call, so it keeps no circular-reference
    # ``markers`` dict (a shared one would leak entries when an encode fails
    # and give false "circular" errors across threads).  A circular structure
    # still fails cleanly: the C encoder's recursion guard trips.
    c_encode = make_encoder(None, _json_default, encode_basestring, None, key_sep, item_sep,
                            False, False, True)
    join = "".join

    def encode_text(obj: "Any") -> "str":
        if isinstance(obj, str):
            return encode_basestring(obj)
        try:
            return join(c_encode(obj, 0))
        except RecursionError:
            raise ValueError("Circular reference detected") from None

    return encode_text


def _encode_text(obj: "Any") -> "str":
    """Compact JSON text, as libflux writes it (this first call binds the encoder)."""
    global _encode_text
    _encode_text = _text_encoder(",", ":")
    return _encode_text(obj)


def _dumps_text(obj: "Any") -> "str":
    """``json.dumps(obj, ensure_ascii=False)`` (this first call binds the encoder)."""
    global _dumps_text
    _dumps_text = _text_encoder(", ", ": ")
    return _dumps_text(obj)


def _decode_text(text: "str") -> "Any":
    """``json.loads`` for text that may end with libflux's NUL terminator (this first call binds the decoder)."""
    global _decode_text
    import json

    decoder = json.JSONDecoder()
    scan = decoder.scan_once  # type: ignore[attr-defined]  # set by JSONDecoder.__init__; typeshed omits it
    decode = decoder.decode

    def decode_text(text: "str") -> "Any":
        try:
            obj, end = scan(text, 0)
        except StopIteration:
            return decode(text.rstrip("\0"))  # raises the usual ValueError
        size = len(text)
        if end == size or (end == size - 1 and text[end] == "\0"):
            return obj
        return decode(text[:-1] if text.endswith("\0") else text)

    _decode_text = decode_text
    return decode_text(text)


def encode_json(obj: "Any") -> "bytes":
    """Serialize ``obj`` the way libflux does: compact JSON plus one NUL.

    For what flux-core writes in C (the broker, its commands, the module runtime).
    """
    return _encode_text(obj).encode("utf-8", "surrogateescape") + b"\0"


def compact_json(obj: "Any") -> "str":
    """``obj`` as compact JSON text (libflux's spelling), to hand to an API taking a str payload."""
    return _encode_text(obj)


def payload_bytes(payload: "Any") -> "Optional[bytes]":
    """Turn a payload given to the Python API into wire bytes, as flux-core's bindings do.

    ``None`` means no payload; ``str`` is sent verbatim (NUL-terminated);
    ``bytes`` are sent as they are (raw); anything else is encoded with
    ``json.dumps`` (non-ASCII kept), so ``payload_str`` equals ``json.dumps(obj)``.
    """
    if type(payload) is not dict:  # a dict, the usual payload, skips these checks
        if payload is None:
            return None
        if isinstance(payload, str):
            return payload.encode("utf-8", "surrogateescape") + b"\0"
        if isinstance(payload, (bytes, bytearray, memoryview)):
            return bytes(payload) or None
        return _dumps_text(payload).encode("utf-8", "surrogateescape") + b"\0"
    chunks = _dumps_chunks
    if chunks is None:
        chunks = _bind_dumps_chunks()
    try:  # _dumps_text written out for a dict (an RPC's payload: one call less)
        return "".join(chunks(payload, 0)).encode("utf-8", "surrogateescape") + b"\0"
    except RecursionError:
        raise ValueError("Circular reference detected") from None


#: the C encoder behind _dumps_text (``json.dumps`` spelling), bound on first use
_dumps_chunks: "Any" = None


def _bind_dumps_chunks() -> "Any":
    global _dumps_chunks
    try:
        from _json import encode_basestring, make_encoder
    except ImportError:  # pragma: no cover - non-CPython: one chunk from _dumps_text
        _dumps_chunks = lambda obj, _level: (_dumps_text(obj),)  # noqa: E731
    else:
        _dumps_chunks = make_encoder(None, _json_default, encode_basestring, None, ": ", ", ",
                                     False, False, True)
    return _dumps_chunks


def msg_typestr(msg_type: "int") -> "str":
    """Name of a message type: "request", "response", "event" or "control"."""
    return _TYPE_STR.get(msg_type, "unknown")


def _field_view(field: "str", doc: "str") -> "Any":
    """A read/write property that is another name for the wire field ``field``."""

    def get(msg: "Message") -> "int":
        value: int = getattr(msg, field)
        return value

    def set_(msg: "Message", value: "int") -> "None":
        setattr(msg, field, value)

    return property(get, set_, doc=doc)


class Message:
    """A Flux message.  ``Message()`` is a request with no credentials set.

    Wire fields: ``type``, ``flags``, ``userid``, ``rolemask``, ``aux1``
    (nodeid / errnum / sequence / control type) and ``aux2`` (matchtag /
    control status), ``routes`` (first pushed first; ``routes[-1]`` is the
    most recent hop, frame 0 on the wire).
    """

    __slots__ = (
        "type",
        "flags",
        "userid",
        "rolemask",
        "aux1",
        "aux2",
        "routes",
        "_topic",
        "_topic_b",
        "_payload",
        "__weakref__",
    )

    type: "int"
    flags: "int"
    userid: "int"
    rolemask: "int"
    aux1: "int"
    aux2: "int"
    routes: "list[str]"
    _topic: "Optional[str]"
    _topic_b: "Optional[bytes]"
    _payload: "Optional[bytes]"

    def __init__(
        self, type_id: "int" = FLUX_MSGTYPE_REQUEST, handle: "Any" = None
    ) -> "None":
        if type_id not in _TYPE_STR:
            raise OSError(_errno.EINVAL, "invalid message type")
        self.type = type_id
        self.flags = 0
        self.userid = FLUX_USERID_UNKNOWN
        self.rolemask = 0
        self.aux1 = FLUX_NODEID_ANY if type_id == FLUX_MSGTYPE_REQUEST else 0
        self.aux2 = 0
        self.routes = []
        self._topic = None
        self._topic_b = None
        self._payload = None

    # -- construction helpers -------------------------------------------------

    @classmethod
    def from_event_encode(cls, topic: "str | bytes", payload: "Any" = None) -> "Message":
        """An event message with ``topic`` and ``payload`` (str verbatim, else ``json.dumps``)."""
        msg = cls(FLUX_MSGTYPE_EVENT)
        msg.flags = FLUX_MSGFLAG_ROUTE
        msg.topic = topic
        msg._set_payload_bytes(payload_bytes(payload))
        return msg

    def copy(self, payload: "bool" = True) -> "Message":
        """A copy of this message; without its payload if ``payload`` is False."""
        new = Message.__new__(Message)
        new.type = self.type
        new.flags = self.flags
        new.userid = self.userid
        new.rolemask = self.rolemask
        new.aux1 = self.aux1
        new.aux2 = self.aux2
        new.routes = list(self.routes)
        new._topic = self._topic
        new._topic_b = self._topic_b
        if payload:
            new._payload = self._payload
        else:
            new._payload = None
            new.flags &= ~FLUX_MSGFLAG_PAYLOAD
        return new

    # -- type -----------------------------------------------------------------

    @property
    def type_str(self) -> "str":
        return _TYPE_STR.get(self.type, "unknown")

    def set_type(self, type_id: "int") -> "None":
        """Change the type like libflux: a new response gets errnum 0."""
        if type_id not in _TYPE_STR:
            raise OSError(_errno.EINVAL, "invalid message type")
        if type_id == FLUX_MSGTYPE_RESPONSE:
            self.aux1 = 0
        elif type_id == FLUX_MSGTYPE_REQUEST and self.type != type_id:
            self.aux1 = FLUX_NODEID_ANY
        self.type = type_id

    # -- named views of aux1/aux2 (libflux names them by message type) -----------

    nodeid = _field_view("aux1", "Request: the destination rank.")
    errnum = _field_view("aux1", "Response: the error number (0: success).")
    seq = _field_view("aux1", "Event: the sequence number.")
    sequence = seq
    matchtag = _field_view("aux2", "Request/response: the matchtag.")

    # -- flags ------------------------------------------------------------------

    def has_flag(self, flag: "int") -> "bool":
        return bool(self.flags & flag)

    def set_flag(self, flag: "int", on: "bool" = True) -> "None":
        if on:
            if flag & FLUX_MSGFLAG_NORESPONSE:
                self.flags &= ~FLUX_MSGFLAG_STREAMING
            if flag & FLUX_MSGFLAG_STREAMING:
                self.flags &= ~FLUX_MSGFLAG_NORESPONSE
            self.flags |= flag
        else:
            self.flags &= ~flag

    @property
    def noresponse(self) -> "bool":
        return bool(self.flags & FLUX_MSGFLAG_NORESPONSE)

    @property
    def streaming(self) -> "bool":
        return bool(self.flags & FLUX_MSGFLAG_STREAMING)

    # -- route stack --------------------------------------------------------------

    def route_enable(self) -> "None":
        self.flags |= FLUX_MSGFLAG_ROUTE

    def route_disable(self) -> "None":
        self.flags &= ~FLUX_MSGFLAG_ROUTE
        self.routes = []

    def route_push(self, route_id: "str") -> "None":
        """Push a hop (it becomes frame 0 on the wire)."""
        self.flags |= FLUX_MSGFLAG_ROUTE
        self.routes.append(route_id)

    def route_pop(self) -> "Optional[str]":
        """Pop the most recent hop, or None when the stack is empty."""
        return self.routes.pop() if self.routes else None

    @property
    def route_first(self) -> "Optional[str]":
        """The original sender (the first hop pushed)."""
        return self.routes[0] if self.routes else None

    @property
    def route_last(self) -> "Optional[str]":
        """The most recent hop."""
        return self.routes[-1] if self.routes else None

    def route_count(self) -> "int":
        """Number of hops, or -1 when the ROUTE flag is off (as libflux)."""
        if not self.flags & FLUX_MSGFLAG_ROUTE:
            return -1
        return len(self.routes)

    def route_string(self) -> "str":
        """Hops first to last, each cut to 8 characters, joined with ``!``."""
        return "!".join(r[:8] for r in self.routes)

    # -- topic ------------------------------------------------------------------

    @property
    def topic(self) -> "Optional[str]":
        return self._topic

    @topic.setter
    def topic(self, value: "Optional[str | bytes]") -> "None":
        if value is None:
            self._topic = self._topic_b = None
            self.flags &= ~FLUX_MSGFLAG_TOPIC
            return
        if isinstance(value, (bytes, bytearray)):
            self._topic_b = bytes(value)
            self._topic = self._topic_b.decode("utf-8", "surrogateescape")
        elif isinstance(value, str):
            self._topic = value
            self._topic_b = value.encode("utf-8", "surrogateescape")
        else:
            raise TypeError("topic must be a str or bytes")
        self.flags |= FLUX_MSGFLAG_TOPIC

    # -- payload ----------------------------------------------------------------

    def _set_payload_bytes(self, data: "Optional[bytes]") -> "None":
        if data:
            self._payload = data
            self.flags |= FLUX_MSGFLAG_PAYLOAD
        else:
            self._payload = None
            self.flags &= ~FLUX_MSGFLAG_PAYLOAD

    @property
    def payload_bytes(self) -> "Optional[bytes]":
        """The payload exactly as on the wire (with its NUL, if any)."""
        return self._payload

    @payload_bytes.setter
    def payload_bytes(self, data: "Optional[bytes]") -> "None":
        self._set_payload_bytes(bytes(data) if data else None)

    @property
    def raw_payload(self) -> "Optional[bytes]":
        """The payload without a string terminator (raw data as sent)."""
        data = self._payload
        if data and data[-1] == 0:
            return data[:-1]
        return data

    @property
    def payload_str(self) -> "Optional[str]":
        data = self._payload
        if data is None:
            return None
        if data[-1] == 0:
            data = data[:-1]
        return data.decode("utf-8", "surrogateescape")

    @payload_str.setter
    def payload_str(self, value: "Optional[str | bytes]") -> "None":
        if value is None:
            self._set_payload_bytes(None)
        elif isinstance(value, (bytes, bytearray)):
            self._set_payload_bytes(bytes(value) + b"\0")
        else:
            self._set_payload_bytes(value.encode("utf-8", "surrogateescape") + b"\0")

    @property
    def payload(self) -> "Any":
        data = self._payload
        if data is None:
            return None
        return _decode_text(data.decode("utf-8", "surrogateescape"))

    @payload.setter
    def payload(self, value: "Any") -> "None":
        """As in flux-core: a str is set verbatim, other objects as ``json.dumps(value)``."""
        self._set_payload_bytes(payload_bytes(value))

    def payload_json(self) -> "Any":
        """Decode the payload as a JSON object, or raise OSError(EPROTO).

        This is the check libflux applies to a request or response that must
        carry a JSON object.
        """
        data = self._payload
        if not data or data[-1] != 0:
            raise OSError(_errno.EPROTO, os.strerror(_errno.EPROTO))
        try:
            obj = _decode_text(data.decode("utf-8"))
        except ValueError:
            raise OSError(_errno.EPROTO, os.strerror(_errno.EPROTO)) from None
        if not isinstance(obj, dict):
            raise OSError(_errno.EPROTO, os.strerror(_errno.EPROTO))
        return obj

    # -- decode (flux-core API) -------------------------------------------------

    def decode(self) -> "tuple[int, Optional[str], Optional[str]]":
        """Return ``(type, topic, payload_str)``; an error response raises OSError."""
        if self.type == FLUX_MSGTYPE_RESPONSE and self.aux1 != 0:
            text = self.payload_str or os.strerror(self.aux1)
            raise OSError(self.aux1, text)
        return self.type, self._topic, self.payload_str

    # -- misc ---------------------------------------------------------------------

    @property
    def handle(self) -> "Message":
        """flux-core exposes a raw C pointer here; pureflux has none."""
        return self

    @property
    def pimpl(self) -> "Any":
        """The libflux message functions, named without ``flux_msg_`` (see :mod:`flux.message_pimpl`)."""
        from flux.message_pimpl import MessagePimpl

        return MessagePimpl(self)

    # -- context manager: flux-core destroys the message on exit ---------------------

    def __enter__(self) -> "Message":
        return self

    def __exit__(self, *exc: "object") -> "None":
        """Destroy the message, as flux-core does: using it afterwards raises ValueError."""
        cls = type(self)
        if cls in _DESTROYED_CLASSES.values():
            return
        self._payload = None
        self.routes = []
        destroyed = _DESTROYED_CLASSES.get(cls)
        if destroyed is None:
            destroyed = _DESTROYED_CLASSES[cls] = _destroyed_class(cls)
        self.__class__ = destroyed

    def __repr__(self) -> "str":
        return (
            f"<flux.Message {self.type_str} topic={self._topic!r} flags={self.flags:#x} "
            f"userid={self.userid} rolemask={self.rolemask:#x} aux1={self.aux1} "
            f"aux2={self.aux2} routes={self.routes} payload={self._payload!r}>"
        )

    def __eq__(self, other: "object") -> "bool":
        if not isinstance(other, Message):
            return NotImplemented
        return (
            self.type == other.type
            and self.flags == other.flags
            and self.userid == other.userid
            and self.rolemask == other.rolemask
            and self.aux1 == other.aux1
            and self.aux2 == other.aux2
            and self.routes == other.routes
            and self._topic_b == other._topic_b
            and self._payload == other._payload
        )

    __hash__ = None  # type: ignore[assignment]  # mutable and compared by value: unhashable


# -- destroyed messages ---------------------------------------------------------------
#
# A destroyed message (after ``with msg:``) changes class to one whose every
# field and method raises ValueError, as flux-core's do once their C message
# is gone.  Live messages pay nothing for this.

_DESTROYED_CLASSES: "dict[type, type]" = {}


def _destroyed_class(cls: "type") -> "type":
    """A subclass of ``cls`` (same layout, so instances may switch to it) refusing all use."""
    from flux.wrapper import refuse as _refuse

    refused_field = property(_refuse, _refuse, _refuse)
    namespace: "dict[str, Any]" = {
        "__slots__": (),
        "__repr__": lambda self: f"<flux.Message (destroyed) at {id(self):#x}>",
        "__eq__": object.__eq__,
        "__hash__": object.__hash__,
        "handle": property(lambda self: None),
    }
    for name in dir(cls):
        if name.startswith("__") or name in namespace or name == "pimpl":
            continue  # pimpl stays: its functions meet the refusals below
        static = next((k.__dict__[name] for k in cls.__mro__ if name in k.__dict__), None)
        if isinstance(static, (classmethod, staticmethod)):
            namespace[name] = staticmethod(getattr(cls, name))  # from_event_encode() still works
        else:
            namespace[name] = _refuse if callable(static) else refused_field
    return type(f"Destroyed{cls.__name__}", (cls,), namespace)


def __getattr__(name: "str") -> "Any":
    # MessageWatcher lives with the other watchers; flux-core users import it
    # from here.  Resolved lazily so this module stays free of I/O code.
    if name == "MessageWatcher":
        from flux.core.watchers import MessageWatcher

        return MessageWatcher
    raise AttributeError(f"module 'flux.message' has no attribute {name!r}")

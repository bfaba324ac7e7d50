"""``msg.pimpl``: the libflux message functions (``flux_msg_*``) that flux-core exposes.

flux-core's :class:`~flux.message.Message` wraps a C message, and its
``pimpl`` attribute calls the C functions with the prefix removed:
``msg.pimpl.set_rolemask(FLUX_ROLE_USER)`` is ``flux_msg_set_rolemask(msg,
FLUX_ROLE_USER)``.  Code uses it to forge credentials (an owner lowering its
rolemask to test a service's access check) and to read fields.

The C getters write through an out-pointer (``ffi.new("uint32_t [1]")``).
These take any one-element mutable sequence instead (a list, or what the
``ffi.new`` of :mod:`flux.brokermod` returns), fill element 0, and also
return the value.  Strings go out as bytes (a C ``char *``, read with
``ffi.string``) and are returned as str.  Failures raise OSError with the C
function's errno, worded like flux-core's (``"EPROTO: Protocol error"``);
names libflux does not have raise :class:`flux.wrapper.MissingFunctionError`
when called.
"""

from __future__ import annotations

import errno as _errno
import os

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional, TypeVar

    _V = TypeVar("_V")

from flux.constants import (
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_PRIVATE,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGTYPE_CONTROL,
    FLUX_MSGTYPE_EVENT,
    FLUX_MSGTYPE_REQUEST,
    FLUX_MSGTYPE_RESPONSE,
    FLUX_NODEID_UPSTREAM,
    FLUX_ROLE_LOCAL,
    FLUX_ROLE_OWNER,
    FLUX_ROLE_USER,
    FLUX_USERID_UNKNOWN,
)
from flux.wrapper import implicit_attribute

if TYPE_CHECKING:  # pragma: no cover
    from flux.message import Message

__all__ = ["MessagePimpl"]

_PREFIXES = ("flux_msg_", "FLUX_MSG")

# the message flags libflux lets flux_msg_set_flag()/clear_flag() change
_VALID_FLAGS = 0xFF


def _fail(errnum: int) -> OSError:
    """The OSError flux-core's wrapper raises for a C function failing with ``errnum``."""
    name = _errno.errorcode.get(errnum, f"Errno{errnum}")
    return OSError(errnum, f"{name}: {os.strerror(errnum)}")


def _give(out: Any, value: _V) -> _V:
    """Store ``value`` through the out-pointer ``out`` (if any) and return it."""
    if out is not None:
        out[0] = value
    return value


def _c_string(text: Optional[str]) -> Optional[bytes]:
    return None if text is None else text.encode("utf-8", "surrogateescape")


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "surrogateescape")
    if not isinstance(value, str):
        raise TypeError(f"expected str or bytes, not {type(value).__name__}")
    return value


class MessagePimpl:
    """The ``flux_msg_*`` functions of one message (``msg.pimpl``)."""

    __slots__ = ("_msg",)

    def __init__(self, msg: "Message") -> None:
        self._msg = msg

    @property
    def handle(self) -> Any:
        """The message itself (flux-core: the C pointer; None once destroyed)."""
        return self._msg.handle

    def __getattr__(self, name: str) -> Any:
        from flux import constants

        if name[:1] != "_":  # libflux's constants: FLUX_X, or FLUX_MSGX spelled X
            value = getattr(constants, name if name.startswith("FLUX_") else "FLUX_MSG" + name, None)
            if isinstance(value, int):
                return value
        return implicit_attribute(self, name, _PREFIXES)

    # -- life cycle ------------------------------------------------------------------

    def __enter__(self) -> "MessagePimpl":
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def destroy(self) -> None:
        """Destroy the message: using it afterwards raises ValueError (as in flux-core)."""
        self._msg.__exit__(None, None, None)

    def incref(self) -> "Message":
        return self._msg

    def decref(self) -> None:
        """Python's garbage collector counts references."""

    def copy(self, payload: bool = True) -> "Message":
        return self._msg.copy(payload)

    # -- type and flags ----------------------------------------------------------------

    def set_type(self, type_id: int) -> int:
        try:
            self._msg.set_type(type_id)
        except OSError:
            raise _fail(_errno.EINVAL) from None
        return 0

    def get_type(self, type_out: Any = None) -> int:
        return _give(type_out, self._msg.type)

    def has_flag(self, flag: int) -> bool:
        return bool(self._msg.flags & flag)

    def set_flag(self, flag: int) -> int:
        if not flag or flag & ~_VALID_FLAGS:
            raise _fail(_errno.EINVAL)
        self._msg.flags |= flag
        return 0

    def clear_flag(self, flag: int) -> int:
        if not flag or flag & ~_VALID_FLAGS:
            raise _fail(_errno.EINVAL)
        self._msg.flags &= ~flag
        return 0

    def set_private(self) -> int:
        self._msg.flags |= FLUX_MSGFLAG_PRIVATE
        return 0

    def is_private(self) -> bool:
        return bool(self._msg.flags & FLUX_MSGFLAG_PRIVATE)

    def set_streaming(self) -> int:
        self._msg.set_flag(FLUX_MSGFLAG_STREAMING)
        return 0

    def is_streaming(self) -> bool:
        return bool(self._msg.flags & FLUX_MSGFLAG_STREAMING)

    def set_noresponse(self) -> int:
        self._msg.set_flag(FLUX_MSGFLAG_NORESPONSE)
        return 0

    def is_noresponse(self) -> bool:
        return bool(self._msg.flags & FLUX_MSGFLAG_NORESPONSE)

    # -- topic and payload ---------------------------------------------------------------

    def set_topic(self, topic: Optional[str | bytes]) -> int:
        """Set (None: remove) the topic; a control message has none (EINVAL)."""
        if self._msg.type == FLUX_MSGTYPE_CONTROL:
            raise _fail(_errno.EINVAL)
        self._msg.topic = topic
        return 0

    def get_topic(self, topic_out: Any = None) -> str:
        """The topic; EPROTO when the message has none."""
        topic = self._msg.topic
        if topic is None:
            raise _fail(_errno.EPROTO)
        _give(topic_out, _c_string(topic))
        return topic

    def has_payload(self) -> bool:
        return self._msg.payload_bytes is not None

    def set_payload(self, buf: Optional[bytes], size: Optional[int] = None) -> int:
        """Set the payload to ``buf`` (its first ``size`` bytes), as is; None or empty removes it."""
        data = None
        if buf is not None:
            data = bytes(buf) if isinstance(buf, (bytes, bytearray)) else _text(buf).encode()
            if size is not None:
                data = data[:size]
        self._msg.payload_bytes = data
        return 0

    def get_payload(self, buf_out: Any = None, size_out: Any = None) -> bytes:
        """The payload bytes as on the wire; EPROTO when there is none."""
        data = self._msg.payload_bytes
        if data is None:
            raise _fail(_errno.EPROTO)
        _give(size_out, len(data))
        return _give(buf_out, data)

    def set_string(self, text: Optional[str | bytes]) -> int:
        """A NUL-terminated string payload (None removes the payload)."""
        self._msg.payload_str = text
        return 0

    def get_string(self, string_out: Any = None) -> Optional[str]:
        """The string payload, or None when there is no payload; EPROTO if not NUL-terminated."""
        data = self._msg.payload_bytes
        if data is None:
            _give(string_out, None)
            return None
        if data[-1] != 0:
            raise _fail(_errno.EPROTO)
        _give(string_out, data[:-1])
        return data[:-1].decode("utf-8", "surrogateescape")

    # -- credentials ------------------------------------------------------------------------

    def set_userid(self, userid: int) -> int:
        self._msg.userid = int(userid)
        return 0

    def get_userid(self, userid_out: Any = None) -> int:
        return _give(userid_out, self._msg.userid)

    def set_rolemask(self, rolemask: int) -> int:
        self._msg.rolemask = int(rolemask)
        return 0

    def get_rolemask(self, rolemask_out: Any = None) -> int:
        return _give(rolemask_out, self._msg.rolemask)

    def authorize(self, userid: int) -> int:
        """0 if the sender is the owner, or a user whose userid is ``userid``; else EPERM."""
        msg = self._msg
        if msg.rolemask & FLUX_ROLE_OWNER:
            return 0
        if msg.rolemask & FLUX_ROLE_USER and msg.userid != FLUX_USERID_UNKNOWN and msg.userid == userid:
            return 0
        raise _fail(_errno.EPERM)

    def is_local(self) -> bool:
        return bool(self._msg.rolemask & FLUX_ROLE_LOCAL)

    # -- per-type fields: libflux refuses them on the other message types ------------------

    def _check_type(self, types: tuple[int, ...], errnum: int) -> None:
        if self._msg.type not in types:
            raise _fail(errnum)

    def set_nodeid(self, nodeid: int) -> int:
        if nodeid == FLUX_NODEID_UPSTREAM:
            raise _fail(_errno.EINVAL)
        self._check_type((FLUX_MSGTYPE_REQUEST,), _errno.EINVAL)
        self._msg.aux1 = int(nodeid)
        return 0

    def get_nodeid(self, nodeid_out: Any = None) -> int:
        self._check_type((FLUX_MSGTYPE_REQUEST,), _errno.EPROTO)
        return _give(nodeid_out, self._msg.aux1)

    def set_errnum(self, errnum: int) -> int:
        self._check_type((FLUX_MSGTYPE_RESPONSE,), _errno.EINVAL)
        self._msg.aux1 = int(errnum)
        return 0

    def get_errnum(self, errnum_out: Any = None) -> int:
        self._check_type((FLUX_MSGTYPE_RESPONSE,), _errno.EPROTO)
        return _give(errnum_out, self._msg.aux1)

    def set_seq(self, seq: int) -> int:
        self._check_type((FLUX_MSGTYPE_EVENT,), _errno.EINVAL)
        self._msg.aux1 = int(seq)
        return 0

    def get_seq(self, seq_out: Any = None) -> int:
        self._check_type((FLUX_MSGTYPE_EVENT,), _errno.EPROTO)
        return _give(seq_out, self._msg.aux1)

    def set_matchtag(self, matchtag: int) -> int:
        self._check_type((FLUX_MSGTYPE_REQUEST, FLUX_MSGTYPE_RESPONSE), _errno.EINVAL)
        self._msg.aux2 = int(matchtag)
        return 0

    def get_matchtag(self, matchtag_out: Any = None) -> int:
        self._check_type((FLUX_MSGTYPE_REQUEST, FLUX_MSGTYPE_RESPONSE), _errno.EPROTO)
        return _give(matchtag_out, self._msg.aux2)

    def cmp_matchtag(self, matchtag: int) -> bool:
        return self._msg.type in (FLUX_MSGTYPE_REQUEST, FLUX_MSGTYPE_RESPONSE) and self._msg.aux2 == matchtag

    # -- route stack ----------------------------------------------------------------------------

    def route_enable(self) -> None:
        self._msg.route_enable()

    def route_disable(self) -> None:
        self._msg.route_disable()

    def route_clear(self) -> None:
        if self._msg.flags & FLUX_MSGFLAG_ROUTE:
            self._msg.routes = []

    def _check_route(self) -> None:
        if not self._msg.flags & FLUX_MSGFLAG_ROUTE:
            raise _fail(_errno.EPROTO)

    def route_push(self, route_id: str | bytes) -> int:
        if route_id is None:
            raise _fail(_errno.EINVAL)
        self._check_route()
        self._msg.route_push(_text(route_id))
        return 0

    def route_delete_last(self) -> int:
        self._check_route()
        self._msg.route_pop()
        return 0

    def route_first(self) -> Optional[bytes]:
        """The first hop (a C string: bytes), or None."""
        msg = self._msg
        return _c_string(msg.route_first) if msg.flags & FLUX_MSGFLAG_ROUTE else None

    def route_last(self) -> Optional[bytes]:
        """The most recent hop (a C string: bytes), or None."""
        msg = self._msg
        return _c_string(msg.route_last) if msg.flags & FLUX_MSGFLAG_ROUTE else None

    def route_count(self) -> int:
        self._check_route()
        return len(self._msg.routes)

    def route_string(self) -> bytes:
        """Hops first to last, each cut to 8 characters, joined with ``!`` (a C string: bytes)."""
        self._check_route()
        return self._msg.route_string().encode("utf-8", "surrogateescape")

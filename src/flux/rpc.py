"""``flux.rpc.RPC``: a request sent at once, and the future of its response(s)."""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, AsyncIterator, Optional

from flux.constants import (
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGFLAG_TOPIC,
    FLUX_MSGFLAG_UPSTREAM,
    FLUX_MSGTYPE_REQUEST,
    FLUX_NODEID_ANY,
    FLUX_NODEID_UPSTREAM,
    FLUX_RPC_NORESPONSE,
    FLUX_RPC_STREAMING,
    FLUX_USERID_UNKNOWN,
)
from flux.future import Future
from flux.message import Message, payload_bytes
from flux.util import encode_topic
from flux.wrapper import NULL_HANDLE

if TYPE_CHECKING:  # pragma: no cover
    from flux.core.handle import Flux

__all__ = ["RPC"]

_new_message = Message.__new__
_BASE_FLAGS = FLUX_MSGFLAG_TOPIC | FLUX_MSGFLAG_ROUTE


class RPC(Future):
    """Send ``topic``/``payload`` to ``nodeid`` now; the future of the response."""

    def __init__(
        self,
        flux_handle: "Flux",
        topic: str | bytes,
        payload: Any = None,
        nodeid: int = FLUX_NODEID_ANY,
        flags: int = 0,
    ) -> None:
        self._s = self
        core = flux_handle._core
        self._core = core  # the rest of the state starts at the class defaults
        self.flux_handle = flux_handle
        topic_b = topic.encode("utf-8", "surrogateescape") if type(topic) is str else encode_topic(topic)
        msg = _new_message(Message)
        msg.type = FLUX_MSGTYPE_REQUEST
        msg.flags = _BASE_FLAGS
        msg.userid = FLUX_USERID_UNKNOWN
        msg.rolemask = 0
        msg.routes = []
        msg._topic_b = topic_b
        msg._topic = topic if isinstance(topic, str) else topic_b.decode("utf-8", "surrogateescape")
        msg._payload = None
        if payload is not None:
            msg._set_payload_bytes(payload_bytes(payload))
        if nodeid == FLUX_NODEID_UPSTREAM:
            msg.flags |= FLUX_MSGFLAG_UPSTREAM
            nodeid = flux_handle.get_rank()
        msg.aux1 = nodeid
        self._nodeid = nodeid
        self._streaming = bool(flags & FLUX_RPC_STREAMING)
        if flags & FLUX_RPC_NORESPONSE:
            msg.flags |= FLUX_MSGFLAG_NORESPONSE
            msg.aux2 = 0
            core.send(msg)
            self._done = True
            self._current = (0, None, None)
            return
        if self._streaming:
            msg.flags |= FLUX_MSGFLAG_STREAMING
        tag = core.alloc_tag()
        msg.aux2 = tag
        self._tag = tag
        core.rpcs[tag] = self
        try:
            core.send(msg)
        except OSError:
            core.free_tag(tag)
            raise

    def _on_response(self, msg: Message) -> None:
        errnum = msg.aux1
        if errnum:
            text = msg.payload_str if msg._payload else None
            self._push((errnum, msg, text))
            self._s._core.free_tag(self._tag)  # type: ignore[union-attr]  # an RPC awaiting a response has a core
            self._finish()
            return
        self._push((0, msg, None))
        if not self._streaming:
            self._s._core.free_tag(self._tag)  # type: ignore[union-attr]  # an RPC awaiting a response has a core
            self._finish()

    def get_str(self) -> Optional[str]:
        """The response payload as text, or None when it has none."""
        msg = self._result()[1]
        return msg.payload_str if msg is not None else None

    def get(self) -> Any:
        """The response payload decoded from JSON, or None when it has none."""
        result = self._s._current
        if result is None or result[0]:
            result = self._result()
        msg = result[1]
        if msg is None or msg._payload is None:
            return None
        return msg.payload

    def get_raw(self) -> Optional[bytes]:
        """The response payload exactly as received, as libflux's ``flux_rpc_get_raw``
        gives it (a binary blob may end in a zero byte: nothing is stripped)."""
        msg = self._result()[1]
        return msg.payload_bytes if msg is not None else None

    def get_message(self) -> Optional[Message]:
        msg: Optional[Message] = self._result()[1]
        return msg

    def get_matchtag(self) -> int:
        return self._tag

    def get_nodeid(self) -> int:
        return self._nodeid

    # -- asyncio -----------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Any]:
        if self._destroyed:  # looked up on the class: _destroy()'s refusals do not reach it
            raise ValueError(NULL_HANDLE)
        from flux.core.aio import iterate_stream

        return iterate_stream(self)

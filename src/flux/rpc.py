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
    FLUX_NODEID_ANY,
    FLUX_NODEID_UPSTREAM,
    FLUX_RPC_NORESPONSE,
    FLUX_RPC_STREAMING,
)
from flux.future import Future
from heapq import heappush as _heappush

import flux.message as _message
from flux.message import Message, payload_bytes
from flux.util import encode_topic
from flux.wrapper import NULL_HANDLE

if TYPE_CHECKING:  # pragma: no cover
    from flux.core.handle import Flux

__all__ = ["RPC"]

_Future_wait = Future._wait

_BASE_FLAGS = FLUX_MSGFLAG_TOPIC | FLUX_MSGFLAG_ROUTE


class RPC(Future):
    """Send ``topic``/``payload`` to ``nodeid`` now; the future of the response."""

    _streaming = False

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
        if type(topic) is not str:
            topic = encode_topic(topic)  # checked (and kept as bytes: the wire form)
        payload_b = None if payload is None else payload_bytes(payload)
        mflags = _BASE_FLAGS
        if nodeid == FLUX_NODEID_UPSTREAM:
            mflags |= FLUX_MSGFLAG_UPSTREAM
            nodeid = flux_handle.get_rank()
        self._nodeid = nodeid
        if flags:
            if flags & FLUX_RPC_STREAMING:
                self._streaming = True
            if flags & FLUX_RPC_NORESPONSE:
                core.send_request(topic, payload_b, mflags | FLUX_MSGFLAG_NORESPONSE, nodeid)
                self._done = True
                self._current = (0, None, None)
                return
            if flags & FLUX_RPC_STREAMING:
                mflags |= FLUX_MSGFLAG_STREAMING
        self._tag = core.send_request(topic, payload_b, mflags, nodeid, self)

    def _on_response(self, msg: Message) -> None:
        errnum = msg.aux1
        if not errnum and self._cb is None and self._current is None and not self._listeners \
                and not self._streaming:
            # the usual answer, to a future nobody watches (a plain get(); only then()
            # sets a timer or counts the future as a reactor user): what _push +
            # _finish do, with nothing to notify or to release
            self._current = (0, msg, None)
            self._done = True
            core = self._core
            tag = self._tag
            core.rpcs.pop(tag, None)  # type: ignore[union-attr]  # core.free_tag(tag), written out
            _heappush(core._free_tags, tag)  # type: ignore[union-attr]
            return
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
        result = self._current  # an RPC holds its own state (``_s`` is self)
        if result is None:
            core = self._core
            if core is not None and core.lost is None and self._tag and type(self)._wait is _Future_wait:
                core.wait_future(self, None)  # what Future._wait does here, one call less
            else:
                self._wait(None)
            result = self._current
        if result is None or result[0]:
            result = self._result()  # raises the error (or waits, for a subclass's _wait)
        msg = result[1]
        if msg is None:
            return None
        data = msg._payload
        if data is None:
            return None
        return _message._decode_text(data.decode("utf-8", "surrogateescape"))

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

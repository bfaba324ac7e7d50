"""Watching keys: flux-core's ``WatchImplementation`` and ``KVSWatchFuture``.

A watch is a streaming lookup (``kvs-watch.lookup``): one response with the
current value, then one per change, until it is cancelled, which the server
confirms with ENODATA, the stream's end.  ``get()`` returns each value and
None at the end; ``async for value in watch`` yields the values until then.
"""

from __future__ import annotations

import errno
from abc import ABC, abstractmethod

from flux.constants import (
    FLUX_KVS_WAITCREATE,
    FLUX_KVS_WATCH,
    FLUX_KVS_WATCH_APPEND,
    FLUX_KVS_WATCH_FULL,
    FLUX_KVS_WATCH_UNIQ,
)
from flux.future import Future, FuturePimpl
from flux.kvs.errors import error
from flux.kvs.lookups import LookupFuture, decode_value, lookup

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, AsyncIterator, Optional

    from flux.core.handle import Flux

__all__ = ["WatchImplementation", "KVSWatchFuture", "kvs_watch_async"]


class WatchImplementation(Future, ABC):
    """A streaming watch: subclasses say how to read a response and how to cancel.

    ``watch_get(future)`` and ``watch_cancel(future)`` get ``self.pimpl``, as
    in flux-core.  An uncancelled watch still streaming is cancelled when the
    object is collected.
    """

    needs_cancel = False
    _ended = False  # the stream's ENODATA has been read

    def __init__(self, future_handle: Any) -> None:
        super().__init__(future_handle)
        self.needs_cancel = True

    def __del__(self) -> None:
        s = self.__dict__.get("_s")
        if self.needs_cancel is not False and s is not None and not s._done:
            try:
                self.cancel()
            except Exception:  # the handle may be gone already
                pass

    @abstractmethod
    def watch_get(self, future: Any) -> Any:
        """The value of the current response."""

    @abstractmethod
    def watch_cancel(self, future: Any) -> None:
        """Ask the server to end the stream."""

    def get(self, autoreset: bool = True) -> Any:
        """Wait for the next value and return it; None once the stream has ended.

        Resets the future (so the next call waits for the next value) unless
        ``autoreset`` is False.  Other errors are raised with the server's text.
        """
        try:
            self.wait_for()
            ret = self.watch_get(self.pimpl)
        except OSError as exc:
            if exc.errno == errno.ENODATA:
                self.needs_cancel = False
                self._ended = True
                return None
            self.raise_if_handle_exception()
            text = self.error_string()
            if text is not None:
                exc.strerror = text
            raise
        if autoreset is True:
            self.reset()
        return ret

    def cancel(self, stop: bool = False) -> None:
        """Ask the server to end the stream; with ``stop``, run no more callbacks."""
        self.watch_cancel(self.pimpl)
        self.needs_cancel = False
        if stop:
            self.stop()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._values()

    async def _values(self) -> AsyncIterator[Any]:
        while True:
            value = await self
            if value is None and self._ended:
                return
            yield value


def _lookup_of(future: Any) -> LookupFuture:
    """The lookup behind ``future`` (a watch future, or its ``pimpl``)."""
    if isinstance(future, FuturePimpl):
        future = future._f
    state = future._s
    if not isinstance(state, LookupFuture):
        raise error(errno.EINVAL)
    return state


class KVSWatchFuture(WatchImplementation):
    """What :func:`kvs_watch_async` returns; also ``KVSWatchFuture(lookup(h, key, WATCH))``."""

    def watch_get(self, future: Any) -> Any:
        """The value, decoded as ``flux.kvs.get`` decodes it."""
        return decode_value(_lookup_of(future).get_value())

    def watch_cancel(self, future: Any) -> None:
        """``kvs-watch.cancel`` for this stream."""
        _lookup_of(future).cancel()


def kvs_watch_async(flux_handle: "Flux", key: str, namespace: Optional[str] = None,
                    waitcreate: bool = False, uniq: bool = False, full: bool = False,
                    append: bool = False) -> KVSWatchFuture:
    """Watch ``key``: its value now, then at each change.

    ``waitcreate``: wait for a missing key instead of failing with ENOENT;
    ``uniq``: skip changes that leave the value the same; ``full``: also
    report changes made through a parent (a removed parent is ENOENT);
    ``append`` (pureflux's addition): only the data appended each time.
    """
    flags = FLUX_KVS_WATCH
    if waitcreate:
        flags |= FLUX_KVS_WAITCREATE
    if uniq:
        flags |= FLUX_KVS_WATCH_UNIQ
    if full:
        flags |= FLUX_KVS_WATCH_FULL
    if append:
        flags |= FLUX_KVS_WATCH_APPEND
    return KVSWatchFuture(lookup(flux_handle, key, flags, namespace))

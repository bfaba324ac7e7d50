"""asyncio support (flux-core has none): ``await h.rpc(...)``, async streams and events.

* ``await h.rpc(topic, payload)`` returns what ``.get()`` would.
* ``async for resp in h.rpc(topic, payload, flags=FLUX_RPC_STREAMING)`` yields
  each response payload (decoded JSON, or the text when it is not JSON); the
  stream's ENODATA ends the loop.
* ``async for msg in h.events("topic.")`` yields event messages.
* :func:`attach` runs the handle's reactor watchers (timers, message
  watchers, RPC continuations) on the running asyncio loop.

The handle's socket is read from the asyncio loop with ``add_reader`` while
something awaits it; messages are dispatched exactly as the Flux reactor
would dispatch them.
"""

from __future__ import annotations

import asyncio
import errno
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, AsyncIterator, Callable, Optional

from flux.constants import FLUX_MSGTYPE_EVENT, FLUX_REACTOR_NOWAIT
from flux.core import threadstate
from flux.message import compact_json  # as flux_event_subscribe() writes it

if TYPE_CHECKING:  # pragma: no cover
    from flux.core.dispatch import HandleCore
    from flux.core.handle import Flux
    from flux.future import Future
    from flux.message import Message
    from flux.rpc import RPC

__all__ = ["attach", "await_future", "iterate_stream", "EventStream"]


class _Driver:
    """Reads one handle's connection from an asyncio loop."""

    def __init__(self, core: "HandleCore", loop: asyncio.AbstractEventLoop) -> None:
        self.core = core
        self.loop = loop
        self.holds = 0
        self.reading = False
        self.active = True
        # matchtag -> awaits of it: their responses are taken out of the backlog
        # (where a blocking call leaves what it read for others) as they arrive
        self.awaited: dict[int, int] = {}

    def call_soon(self, func: Callable[[], None]) -> None:
        self.loop.call_soon(func)

    def attach(self) -> None:
        self._update()

    def hold(self, tag: int = 0) -> None:
        self.holds += 1
        if tag:
            self.awaited[tag] = self.awaited.get(tag, 0) + 1
        self._update()

    def release(self, tag: int = 0) -> None:
        # The reader stays registered: the next await usually follows at
        # once, and an unwanted wake-up removes it (see _on_readable).
        self.holds -= 1
        if tag:
            count = self.awaited.pop(tag) - 1
            if count:
                self.awaited[tag] = count

    def _update(self) -> None:
        want = (self.holds > 0 or self.core.users > 0) and self.core.lost is None and not self.core.conn.closed
        if want and not self.reading:
            self.loop.add_reader(self.core.conn.fileno(), self._on_readable)
            self.reading = True
        elif not want and self.reading:
            self.loop.remove_reader(self.core.conn.fileno())
            self.reading = False

    def _on_readable(self) -> None:
        if self.holds <= 0 and self.core.users <= 0:
            self._update()  # nobody waits here: leave the data to the blocking API
            return
        core = self.core
        core._on_readable(0)
        if core.backlog and self.awaited:
            # with messages backlogged, new ones queue behind them until the
            # reactor runs: deliver the awaited responses now
            for tag in list(self.awaited):
                core._drain_for(tag)
        if core.lost is not None:
            self._update()


def _driver(core: "HandleCore") -> _Driver:
    loop = asyncio.get_running_loop()
    drv: Optional[_Driver] = core.aio_loop
    if drv is None or drv.loop is not loop or loop.is_closed():
        if drv is not None and drv.reading:
            try:
                drv.loop.remove_reader(core.conn.fileno())
            except Exception:
                pass
        drv = _Driver(core, loop)
        core.aio_loop = drv
    return drv


async def _wait_ready(fut: "Future") -> None:
    s = fut._s
    if s._current is not None:
        return
    core = s._core
    if core is None:
        raise OSError(errno.EINVAL, "future has no handle to wait on")
    drv = _driver(core)
    waiter = drv.loop.create_future()

    def wake() -> None:
        if not waiter.done():
            waiter.set_result(None)

    s._add_listener(wake)
    drv.hold(s._tag)
    try:
        if core.backlog:
            core._drain_for(s._tag)
        if core.lost is not None and s._current is None:
            raise OSError(core.lost.errno, core.lost.strerror)
        if s._current is None:
            await waiter
    finally:
        s._remove_listener(wake)
        drv.release(s._tag)


async def await_future(fut: "Future") -> Any:
    """Wait for ``fut`` without blocking the asyncio loop; return ``fut.get()``."""
    await _wait_ready(fut)
    return fut.get()


async def iterate_stream(rpc: "RPC") -> AsyncIterator[Any]:
    """Yield each response of a streaming RPC; ENODATA ends the stream."""
    while True:
        await _wait_ready(rpc)
        try:
            value = rpc.get()
        except OSError as exc:
            if exc.errno == errno.ENODATA:
                return
            raise
        except ValueError:  # a text payload, e.g. a log.dmesg record
            value = rpc.get_str()
        yield value
        rpc.reset()


class EventStream:
    """``async for msg in h.events("prefix.")``: subscribe, yield, unsubscribe on close."""

    def __init__(self, h: "Flux", topics: tuple[str, ...]) -> None:
        self.h = h
        self.topics = topics or ("",)
        self._queue: Optional[asyncio.Queue[Message]] = None
        self._watcher: Any = None

    def __aiter__(self) -> "EventStream":
        return self

    async def _open(self) -> None:
        self._queue = asyncio.Queue()
        for topic in self.topics:
            await self.h.rpc("event.subscribe", compact_json({"topic": topic}))
        queue = self._queue
        topics = self.topics

        def on_event(h: Any, w: Any, msg: "Message", arg: Any) -> None:
            topic = msg.topic or ""
            if any(topic.startswith(t) for t in topics):
                queue.put_nowait(msg)

        self._watcher = self.h.msg_watcher_create(on_event, FLUX_MSGTYPE_EVENT)
        _driver(self.h._core)
        self._watcher.start()

    async def __anext__(self) -> "Message":
        if self._queue is None:
            await self._open()
        assert self._queue is not None
        drv = _driver(self.h._core)
        drv.hold()
        try:
            return await self._queue.get()
        finally:
            drv.release()

    async def aclose(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher.destroy()
            self._watcher = None
            for topic in self.topics:
                try:
                    await self.h.rpc("event.unsubscribe", compact_json({"topic": topic}))
                except OSError:
                    pass

    async def __aenter__(self) -> "EventStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


def attach(h: "Flux", loop: Optional[asyncio.AbstractEventLoop] = None) -> Callable[[], None]:
    """Run ``h``'s reactor (timers, watchers, continuations) on an asyncio loop.

    Returns a function that detaches it again.  Call from within the loop
    (or pass ``loop``).
    """
    loop = loop or asyncio.get_running_loop()
    reactor = h.get_reactor()
    state: dict[str, Any] = {"timer": None, "closed": False}

    def run_once() -> None:
        if state["closed"]:
            return
        threadstate.reactor_enter()
        try:
            reactor.run(FLUX_REACTOR_NOWAIT)
        finally:
            threadstate.reactor_exit()
        reschedule()

    def reschedule() -> None:
        if state["timer"] is not None:
            state["timer"].cancel()
            state["timer"] = None
        if reactor._soon or reactor._idle:
            state["timer"] = loop.call_soon(run_once)
            return
        deadline = reactor.next_deadline()
        if deadline is not None:
            import time

            delay = max(0.0, deadline - time.monotonic())
            state["timer"] = loop.call_later(delay, run_once)

    loop.add_reader(reactor.fileno(), run_once)
    loop.call_soon(run_once)

    def detach() -> None:
        state["closed"] = True
        if state["timer"] is not None:
            state["timer"].cancel()
        loop.remove_reader(reactor.fileno())

    return detach

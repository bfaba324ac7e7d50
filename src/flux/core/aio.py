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

Why it is built this way (docs/architecture.md "Waiting strategy", asyncio): an
awaiting task sleeps on a :class:`_Waiter`, a minimal future that the reader
callback completes *and* resumes the task from, once every message it read has
been dispatched -- one loop pass per answer, where an asyncio future costs two
(its done callbacks always go through ``call_soon``).  And before a task goes
to sleep it may poll the handle's socket briefly (:meth:`_Driver.poll_answer`),
under the very policy of the synchronous call (connection.py: only after a
quick answer, at most ``FLUX_HANDLE_SPIN_US``, yielding the CPU), and only
while the loop has nothing else ready and no timer falls due in the window.
The answer then costs no process wake-up: the task reads it itself if the loop
ran a pass less than a window ago, else the loop's own ``select`` finds it at
once.
"""

from __future__ import annotations

import asyncio
import errno
import select
import time
import types
from collections import deque
from threading import get_ident as _get_ident
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, AsyncIterator, Callable, Generator, Optional

from flux.codec import ProtocolError
from flux.constants import FLUX_MSGTYPE_EVENT, FLUX_MSGTYPE_RESPONSE, FLUX_REACTOR_NOWAIT
from flux.core import connection as _connection
from flux.core.connection import ConnectionLost
from flux.core import threadstate
from flux.message import compact_json  # as flux_event_subscribe() writes it

if TYPE_CHECKING:  # pragma: no cover
    from flux.core.dispatch import HandleCore
    from flux.core.handle import Flux
    from flux.future import Future
    from flux.message import Message
    from flux.rpc import RPC

__all__ = ["attach", "await_future", "result_of", "iterate_stream", "EventStream"]

_RESPONSE = FLUX_MSGTYPE_RESPONSE
_monotonic = time.monotonic  # the clock of asyncio's BaseEventLoop.time()
try:
    from os import sched_yield as _sched_yield
except ImportError:  # pragma: no cover - not on every platform
    def _sched_yield() -> None:
        pass


class _Waiter:
    """What a task awaiting the handle sleeps on.

    An asyncio Task accepts any object with the members below in place of a
    future (``_asyncio_future_blocking``, ``_loop`` (or ``get_loop()``, a call
    more), ``add_done_callback``, ``result``, ``cancel``).  Unlike an ``asyncio.Future``, this one resumes
    its task directly from the driver's reader callback (see
    :meth:`_Driver._on_readable`) instead of scheduling it for the next pass.
    """

    # the state an await sets is only ``_drv``: the rest starts at these class defaults
    _asyncio_future_blocking = False
    _cb: Any = None
    _ctx: Any = None
    _done = False
    _cancel_msg: Any = None  # a CancelledError once cancelled
    _more: Optional[list[tuple[Any, Any]]] = None

    def __init__(self, drv: "_Driver") -> None:  # (awaits make theirs with _new_waiter)
        self._drv = drv
        self._loop = drv.loop

    def done(self) -> bool:
        return self._done

    def cancelled(self) -> bool:
        return self._cancel_msg is not None

    def add_done_callback(self, fn: Callable[[Any], Any], *, context: Any = None) -> None:
        if context is None:
            import contextvars

            context = contextvars.copy_context()
        if self._done:
            self._drv.loop.call_soon(fn, self, context=context)
        elif self._cb is None:
            self._cb = fn
            self._ctx = context
        else:  # a task adds one; anyone else gets asyncio's usual scheduling
            if self._more is None:
                self._more = []
            self._more.append((fn, context))

    def remove_done_callback(self, fn: Callable[[Any], Any]) -> int:
        n = 0
        if self._cb is not None and self._cb == fn:
            self._cb = self._ctx = None
            n += 1
        if self._more:
            keep = [pair for pair in self._more if pair[0] != fn]
            n += len(self._more) - len(keep)
            self._more = keep
        return n

    def result(self) -> None:
        if self._cancel_msg is not None:
            raise self._cancel_msg
        return None

    def exception(self) -> Optional[BaseException]:
        if self._cancel_msg is not None:
            raise self._cancel_msg
        return None

    def cancel(self, msg: Any = None) -> bool:
        if self._done:
            return False
        self._cancel_msg = asyncio.CancelledError() if msg is None else asyncio.CancelledError(msg)
        self._finish(direct=False)
        return True

    def set(self) -> None:
        """Mark done: the awaited future has a result (a future listener)."""
        if self._done:
            return
        drv = self._drv
        if drv.in_reader and self._cb is not None and self._more is None:  # the usual case
            self._done = True
            drv.wakes.append(self)
        else:
            self._finish(direct=drv.in_reader)

    def _finish(self, direct: bool) -> None:
        self._done = True
        loop = self._drv.loop
        if self._cb is not None:
            if direct:  # resumed by the reader callback once it has dispatched all it read
                self._drv.wakes.append(self)
            else:
                cb, self._cb = self._cb, None
                loop.call_soon(cb, self, context=self._ctx)
        if self._more:  # in the order they were added, as asyncio runs them
            for fn, ctx in self._more:
                loop.call_soon(fn, self, context=ctx)
            self._more = None

    def _resume(self) -> None:
        cb, self._cb = self._cb, None
        if cb is not None:
            self._ctx.run(cb, self)


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
        #: inside the reader callback: completed waiters are resumed when it has
        #: dispatched everything it read (in order), not from the middle of it
        self.in_reader = False
        self.wakes: list[_Waiter] = []
        #: the last await was answered within QUICK_SECONDS: the next may poll
        self.quick = True
        # what the poll needs of the loop: its ready queue and timer heap
        # (BaseEventLoop's); other loops (uvloop...) have none: no poll there
        ready = getattr(loop, "_ready", None)
        scheduled = getattr(loop, "_scheduled", None)
        self.can_poll = type(ready) is deque and type(scheduled) is list
        self._poller: Any = None
        #: when the loop last ran a pass for this handle (a reader callback, a
        #: task resumed): an await may read its answer itself, without handing
        #: control back, only within a spin window of that (see poll_answer)
        self.pass_at = 0.0
        self._backlog_soon = False

    def call_soon(self, func: Callable[[], None]) -> None:
        self.loop.call_soon(func)

    def attach(self) -> None:
        self._update()

    def hold(self, tag: int = 0) -> None:
        self.holds += 1
        if tag:
            self.awaited[tag] = self.awaited.get(tag, 0) + 1
        if not self.reading:
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
        core = self.core
        if self.holds <= 0 and core.users <= 0:
            self._update()  # nobody waits here: leave the data to the blocking API
            return
        self.in_reader = True
        self.pass_at = _monotonic()
        try:
            core._on_readable(0)
            if core.backlog and self.awaited:
                # with messages backlogged, new ones queue behind them until the
                # reactor runs: deliver the awaited responses now
                for tag in list(self.awaited):
                    core._drain_for(tag)
            if core.lost is not None:
                self._update()
        finally:
            self.in_reader = False
            if self.wakes:
                self._resume_waiters()

    def _resume_waiters(self) -> None:
        """Resume the tasks whose waiters completed in this reader callback."""
        wakes = self.wakes
        if len(wakes) == 1:  # the usual case, _resume() inlined
            w = wakes.pop()
            cb = w._cb
            if cb is not None:
                w._cb = None
                w._ctx.run(cb, w)
            return
        self.wakes = []
        for i, w in enumerate(wakes):
            try:
                w._resume()
            except BaseException:
                for rest in wakes[i + 1:]:  # e.g. KeyboardInterrupt: the others still run
                    rest._finish(direct=False)
                raise

    def spin_deadline(self) -> float:
        """Until when an await may poll the socket before sleeping (0: not at all).

        The synchronous call's policy (connection.py): a window of
        SPIN_SECONDS, only after an answer that came within QUICK_SECONDS
        (``FLUX_SPIN_POLICY=always``: always); and, the loop being shared, only
        while it has no callback ready to run and no timer due sooner.
        """
        window = _connection.SPIN_SECONDS
        if window <= 0 or not self.can_poll or not (self.quick or not _connection._ADAPTIVE):
            return 0.0
        loop: Any = self.loop
        if loop._ready or loop._stopping:
            return 0.0
        end = _monotonic() + window
        scheduled = loop._scheduled
        if scheduled:
            when: float = scheduled[0]._when
            if when < end:
                return when  # may already be past: then no poll
        return end

    def poll_until(self, end: float) -> bool:
        """Poll the handle's socket (yielding the CPU) until it is readable or ``end``;
        stop early if another thread hands the loop a callback (``call_soon_threadsafe``)."""
        poller = self._poller
        if poller is None:
            poller = self._poller = select.poll()
            poller.register(self.core.conn.fileno(), select.POLLIN)
        poll = poller.poll
        ready = getattr(self.loop, "_ready", ())  # (a deque: the same object all along)
        yield_cpu = _connection._YIELD
        while True:
            if poll(0):
                return True
            if _monotonic() >= end or ready:
                return False
            if yield_cpu:
                _sched_yield()

    def poll_answer(self, tag: int) -> bool:
        """Poll for the answer to ``tag`` before sleeping; True if it was read here.

        When the socket turns readable within the spin window, the answer is
        read right here, as the synchronous call reads it (responses to
        ``tag`` delivered, anything else kept in the backlog in order and
        dispatched from the loop), provided the loop ran a pass less than a
        window ago: a task never keeps the loop from its other work longer
        than that.  Otherwise the loop's own ``select`` finds the data at once
        (no wake-up) and the reader callback dispatches it.
        """
        end = self.spin_deadline()
        if not end or not self.poll_until(end):
            return False
        self.quick = True
        if self.core.backlog or _monotonic() - self.pass_at >= _connection.SPIN_SECONDS:
            return False
        self._read_answer(tag)
        return True

    def _read_answer(self, tag: int) -> None:
        core = self.core
        try:
            msgs = core.conn.read_nowait()
        except (ConnectionLost, ProtocolError) as exc:
            core.connection_lost(exc)
            self._update()
            return
        rpcs = core.rpcs
        backlog = core.backlog
        for msg in msgs:
            if msg.aux2 == tag and msg.type == _RESPONSE and not msg.routes:
                fut = rpcs.get(tag)
                if fut is not None:
                    fut._on_response(msg)
                    continue
            backlog.append(msg)
        if backlog and not self._backlog_soon:
            self._backlog_soon = True
            self.loop.call_soon(self._dispatch_backlog)

    def _dispatch_backlog(self) -> None:
        """What the reader callback would have done with what an await read for others:
        the awaited responses first, then, in order, the rest (with no watcher or
        continuation to keep them for, as the reader dispatches them: a future
        fulfilled, an event dropped, a request answered ENOSYS)."""
        self._backlog_soon = False
        core = self.core
        self.in_reader = True
        try:
            for tag in list(self.awaited):
                core._drain_for(tag)
            backlog = core.backlog  # (_drain_for replaces it)
            if backlog:
                if core.users > 0:
                    core._drain()
                else:
                    dispatch = core.dispatch
                    while backlog:
                        dispatch(backlog.popleft())
        finally:
            self.in_reader = False
            if self.wakes:
                self._resume_waiters()


_new_waiter = object.__new__


def _driver(core: "HandleCore") -> _Driver:
    drv: Optional[_Driver] = core.aio_loop
    if drv is not None and drv.can_poll and drv.loop._thread_id == _get_ident():  # type: ignore[attr-defined]
        # a BaseEventLoop running in this thread is the running loop: no need to ask
        # asyncio, whose get_running_loop() makes a getpid() system call each time
        return drv
    loop = asyncio.get_running_loop()
    if drv is None or drv.loop is not loop or loop.is_closed():
        if drv is not None and drv.reading:
            try:
                drv.loop.remove_reader(core.conn.fileno())
            except Exception:
                pass
        drv = _Driver(core, loop)
        core.aio_loop = drv
    return drv


def result_of(fut: "Future", result: bool = True) -> Generator[Any, None, Any]:
    """Wait (as a task, without blocking the loop) until ``fut`` has a result;
    return ``fut.get()`` (if ``result``).

    What ``Future.__await__`` returns: a plain generator, not a coroutine, so
    an already fulfilled future costs no coroutine object and no loop pass.
    """
    s = fut._s
    if s._current is None:
        core = s._core
        if core is None:
            raise OSError(errno.EINVAL, "future has no handle to wait on")
        drv = _driver(core)
        tag = s._tag
        drv.hold(tag)
        loop = drv.loop
        try:
            if core.backlog:
                core._drain_for(tag)
            while s._current is None:
                if core.lost is not None:
                    raise OSError(core.lost.errno, core.lost.strerror)
                start = _monotonic()
                # an answer to a request: poll for it as the synchronous call would
                if tag and _connection.SPIN_SECONDS > 0 and drv.poll_answer(tag):
                    continue
                w = _new_waiter(_Waiter)
                w._drv = drv
                w._loop = loop
                listener = w.set
                listeners = s._listeners  # (Future._add_listener/_remove_listener, inlined)
                if listeners is None:
                    listeners = s._listeners = []
                listeners.append(listener)
                try:
                    w._asyncio_future_blocking = True
                    yield w
                finally:
                    listeners.remove(listener)
                now = _monotonic()
                drv.pass_at = now
                if tag:
                    drv.quick = now - start < _connection.QUICK_SECONDS
        finally:
            drv.release(tag)
    return fut.get() if result else None


class _Ready:
    """``await _Ready(fut)``: wait until ``fut`` has a result (no ``get()``)."""

    __slots__ = ("fut",)

    def __init__(self, fut: "Future") -> None:
        self.fut = fut

    def __await__(self) -> Generator[Any, None, Any]:
        return result_of(self.fut, False)


async def await_future(fut: "Future") -> Any:
    """Wait for ``fut`` without blocking the asyncio loop; return ``fut.get()``."""
    await _Ready(fut)
    return fut.get()


async def iterate_stream(rpc: "RPC") -> AsyncIterator[Any]:
    """Yield each response of a streaming RPC; ENODATA ends the stream."""
    s = rpc._s
    while True:
        if s._current is None:
            await _Ready(rpc)
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
        self._queue: Optional[deque[Message]] = None
        self._watcher: Any = None
        self._waiters: list[_Waiter] = []

    def __aiter__(self) -> "EventStream":
        return self

    async def _open(self) -> None:
        queue: deque[Message] = deque()
        self._queue = queue
        for topic in self.topics:
            await self.h.rpc("event.subscribe", compact_json({"topic": topic}))
        topics = self.topics
        waiters = self._waiters

        def on_event(h: Any, w: Any, msg: "Message", arg: Any) -> None:
            topic = msg.topic or ""
            if any(topic.startswith(t) for t in topics):
                queue.append(msg)
                for waiter in waiters:
                    waiter.set()

        self._watcher = self.h.msg_watcher_create(on_event, FLUX_MSGTYPE_EVENT)
        _driver(self.h._core)
        self._watcher.start()

    def __anext__(self) -> Any:
        return self._next()

    @types.coroutine
    def _next(self) -> Generator[Any, None, "Message"]:
        if self._queue is None:
            yield from self._open().__await__()
        queue = self._queue
        assert queue is not None
        if queue:
            return queue.popleft()
        drv = _driver(self.h._core)
        drv.hold()
        waiters = self._waiters
        try:
            while not queue:
                w = _Waiter(drv)
                waiters.append(w)
                try:
                    w._asyncio_future_blocking = True
                    yield w
                finally:
                    waiters.remove(w)
        finally:
            drv.release()
        return queue.popleft()

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

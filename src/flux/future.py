"""Futures: results that arrive later, with flux-core's ``flux_future_t`` semantics.

A future holds a FIFO of results.  ``get()`` blocks until the first is there;
``then(cb)`` calls ``cb(future, *args, **kwargs)`` from the reactor once per
result, the next one only after ``reset()``.  Errors are
``OSError(errno, text)``.  ``Future(other)`` wraps the same result state.
"""

from __future__ import annotations

import errno as _errno
import os
from collections import deque
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

from flux.core import threadstate
from flux.wrapper import NULL_HANDLE, MissingFunction, implicit_attribute, refuse as _refuse

if TYPE_CHECKING:  # pragma: no cover
    from flux.core.dispatch import HandleCore
    from flux.core.handle import Flux

__all__ = ["Future", "WaitAllFuture", "FutureExt"]

# Futures with a pending continuation, kept alive without user references
# (``h.rpc(...).then(cb)`` must survive ``gc.collect()``).
_PENDING: set["Future"] = set()


def _strerror(errnum: int) -> str:
    return os.strerror(errnum)


# The methods a destroyed future refuses (``stop()`` stays harmless, as in flux-core).
_REFUSED = ("get", "get_str", "get_raw", "get_message", "get_matchtag", "get_nodeid",
            "then", "wait_for", "is_ready", "reset", "error_string", "get_flux", "set_flux",
            "get_reactor", "fulfill", "fulfill_error", "incref", "push",
            "raise_if_handle_exception")


#: how many queued results one reactor pass hands a future's callback in a row
INVOKE_BURST = 64


class Future:
    """A flux future.  Most users get one from :meth:`flux.Flux.rpc`."""

    # State lives on the object itself; ``_s`` points at the object that owns
    # it (``self`` unless this wraps another future).
    _s: "Future"

    # Defaults for the state :meth:`_init_state` sets, as class attributes so
    # that a new RPC only assigns what differs (RPC creation is a hot path).
    # ``_queue`` and ``_listeners`` are created on first use.
    _core: Optional["HandleCore"] = None
    _current: Optional[tuple[int, Any, Optional[str]]] = None
    _queue: Optional[deque[tuple[int, Any, Optional[str]]]] = None
    _cb: Optional[Callable[..., Any]] = None
    _cb_args: tuple[Any, ...] = ()
    _cb_kwargs: dict[str, Any] = {}  # replaced, never mutated
    _owner: Optional["Future"] = None
    _stopped = False
    _done = False
    _counted = False
    _timer: Any = None
    _invoke_pending = False
    _invoking = False  # its callback is running (from _invoke)
    _listeners: Optional[list[Callable[[], None]]] = None
    _flux: Optional["Flux"] = None
    _tag = 0
    _destroyed = False
    _wrappers = 0  # live Future(other) objects sharing this state

    def __init__(self, future_handle: Any = None, prefixes: Any = None, pimpl_t: Any = None) -> None:
        if isinstance(future_handle, Future):
            self._s = future_handle._s
            self._s._wrappers += 1
            return
        self._s = self
        self._init_state(None)

    def _init_state(self, core: Optional["HandleCore"]) -> None:
        self._core = core
        self._current: Optional[tuple[int, Any, Optional[str]]] = None
        self._queue = deque()
        self._cb: Optional[Callable[..., Any]] = None
        self._cb_args: tuple[Any, ...] = ()
        self._cb_kwargs: dict[str, Any] = {}
        self._owner: Optional[Future] = None
        self._stopped = False
        self._done = False
        self._counted = False
        self._timer: Any = None
        self._invoke_pending = False
        self._listeners = []
        self._flux: Optional["Flux"] = None
        self._tag = 0

    # -- fulfilment ------------------------------------------------------------------

    def _push(self, result: tuple[int, Any, Optional[str]]) -> None:
        s = self._s
        if s._current is None:
            s._current = result
            if s._cb is not None or s._timer is not None:
                s._notify()
        else:
            queue = s._queue
            if queue is None:
                queue = s._queue = deque()
            queue.append(result)
        if s._listeners:
            for listener in list(s._listeners):
                listener()

    def _add_listener(self, listener: Callable[[], None]) -> None:
        s = self._s
        if s._listeners is None:
            s._listeners = []
        s._listeners.append(listener)

    def _remove_listener(self, listener: Callable[[], None]) -> None:
        listeners = self._s._listeners
        if listeners and listener in listeners:
            listeners.remove(listener)

    def _notify(self) -> None:
        s = self._s
        if s._timer is not None:
            s._timer.stop()
            s._timer = None
        if s._cb is not None and not s._stopped and not s._invoke_pending:
            s._invoke_pending = True
            if s._invoking:  # its callback reset it onto a queued result: _invoke goes on
                return
            core = s._core
            if core is not None:
                core.schedule(s._invoke)
            else:  # no handle: nothing to schedule on, call now
                s._invoke()

    def _invoke(self) -> None:
        """Run the callback on the current result; while the callback takes its result
        and resets onto a queued one, run it again, up to :data:`INVOKE_BURST` times
        before the reactor runs (a stream read in one go -- a job's output, a
        watched eventlog -- cost a reactor pass and a poll per message)."""
        s = self._s
        s._invoke_pending = False
        if s._stopped or s._cb is None or s._current is None:
            return
        owner = s._owner or s
        burst = INVOKE_BURST
        s._invoking = True
        try:
            while True:
                s._cb(owner, *s._cb_args, **s._cb_kwargs)
                if not s._invoke_pending:  # no queued result became current
                    break
                burst -= 1
                if not burst:  # the rest after the reactor's next pass
                    core = s._core
                    if core is not None:
                        core.schedule(s._invoke)
                        return
                s._invoke_pending = False
                if s._stopped or s._cb is None or s._current is None:
                    break
        except BaseException as exc:  # noqa: BLE001 - re-raised from reactor_run
            threadstate.set_exception(exc)
            s._stopped = True
            s._release()
            if s._core is not None and s._core.reactor is not None:
                s._core.reactor.stop_error()
            return
        finally:
            s._invoking = False
        if s._done and not s._queue:
            s._release()

    def _release(self) -> None:
        s = self._s
        if s._counted:
            s._counted = False
            if s._core is not None:
                s._core.drop_user()
        if s._owner is not None:
            _PENDING.discard(s._owner)
        _PENDING.discard(s)

    def _finish(self) -> None:
        """No more results will come (the stream or RPC is over)."""
        s = self._s
        s._done = True
        if s._counted:
            s._counted = False
            if s._core is not None:
                s._core.drop_user()
        if s._cb is None or s._stopped:
            _PENDING.discard(s)

    def _fulfill_error(self, errnum: int, errstr: Optional[str] = None) -> None:
        self._push((errnum or _errno.EINVAL, None, errstr))
        self._finish()

    def fulfill_error(self, errnum: int = _errno.ENOENT, errstr: Optional[str] = None) -> None:
        """Fulfil the future with an error."""
        self._push((errnum or _errno.EINVAL, None, errstr))

    # -- waiting ------------------------------------------------------------------------

    def _wait(self, timeout: Optional[float]) -> bool:
        s = self._s
        if s._current is not None:
            return True
        core = s._core
        if core is None:
            return False
        if core.lost is not None and s._tag:
            return s._current is not None
        return core.wait_future(s, timeout)

    def wait_for(self, timeout: float = -1.0) -> "Future":
        """Wait up to ``timeout`` seconds (-1: forever, 0: poll).

        Raises ``OSError(ETIMEDOUT)`` and leaves the future pending when the
        time runs out; returns the future.
        """
        t = None if timeout is None or timeout < 0 else float(timeout)
        if not self._wait(t):
            raise OSError(_errno.ETIMEDOUT, _strerror(_errno.ETIMEDOUT))
        return self

    def _result(self) -> tuple[int, Any, Optional[str]]:
        s = self._s
        if s._current is None:
            s._wait(None)
            if s._current is None:
                core = s._core
                if core is not None and core.lost is not None:
                    raise OSError(core.lost.errno, core.lost.strerror)
                raise OSError(_errno.EDEADLK, "future can never be fulfilled")
        result = s._current
        if result[0]:
            threadstate.raise_if_exception()
            raise OSError(result[0], result[2] or _strerror(result[0]))
        return result

    def get(self) -> Any:
        """Wait for the result; raise OSError on error.  Returns None."""
        self._result()
        return None

    def is_ready(self) -> bool:
        return self._s._current is not None

    def reset(self) -> None:
        """Forget the current result; the next queued one (if any) becomes current."""
        s = self._s
        s._current = None
        if s._queue:
            s._current = s._queue.popleft()
            s._notify()
        elif s._done and not s._invoke_pending:
            s._release()

    def then(self, callback: Callable[..., Any], *args: Any, timeout: float = -1.0, **kwargs: Any) -> "Future":
        """Call ``callback(future, *args, **kwargs)`` from the reactor when ready.

        One continuation at a time, as in flux-core: EEXIST while the one
        registered waits for a result (its first, or the next after
        ``reset()``); once it has run on the current result, a new one
        replaces it (and runs on that result again).
        """
        s = self._s
        if s._cb is not None and (s._current is None or s._invoke_pending):
            raise OSError(_errno.EEXIST, "then callback already exists for this future")
        if callback is None:
            raise ValueError("Callback cannot be None")
        s._cb = callback
        s._cb_args = args
        s._cb_kwargs = kwargs
        s._owner = self
        if not s._done and s._tag and s._core is not None and not s._counted:
            s._counted = True
            s._core.add_user()
        _PENDING.add(self)
        if timeout is not None and timeout >= 0 and s._current is None and s._core is not None:
            from flux.core.reactor import Source

            reactor = s._core.get_reactor()
            timer = Source(reactor, "timer", lambda revents: s._on_timeout())
            timer.deadline = reactor.now_update() + timeout
            timer.set_ref(False) if s._counted else None
            timer.start()
            s._timer = timer
        if s._current is not None:
            s._notify()
        elif s._done:
            _PENDING.discard(self)
        return self

    def _on_timeout(self) -> None:
        s = self._s
        s._timer = None
        if s._current is None:
            s._push((_errno.ETIMEDOUT, None, None))

    def stop(self) -> None:
        """Suppress further callbacks (used to silence a stream)."""
        s = self._s
        s._stopped = True
        if s._timer is not None:
            s._timer.stop()
            s._timer = None
        s._release()

    def error_string(self) -> Optional[str]:
        s = self._s
        result = s._current
        if result is None or not result[0]:
            return None
        return result[2] or _strerror(result[0])

    def get_flux(self) -> Optional["Flux"]:
        """A new Flux object for this future's handle (None if it has none)."""
        s = self._s
        if s._core is None:
            return None
        flux_handle: Flux = threadstate.wrap_core(s._core)
        return flux_handle

    def set_flux(self, flux_handle: "Flux") -> None:
        self._s._core = flux_handle._core
        self._s._flux = flux_handle

    def get_reactor(self) -> Any:
        s = self._s
        return s._core.get_reactor() if s._core is not None else None

    def incref(self) -> None:
        """flux-core's reference counting; Python's garbage collector does this here."""

    def raise_if_handle_exception(self) -> None:
        threadstate.raise_if_exception()

    # -- context manager: flux-core destroys the future on exit ------------------------

    def __enter__(self) -> "Future":
        return self

    def __exit__(self, *exc: object) -> None:
        self._destroy()

    def _destroy(self) -> None:
        """Make this object unusable, as flux-core's destroyed future is.

        Its methods then raise ValueError (instance attributes shadow them,
        so live futures pay nothing on their hot paths).  The shared state is
        torn down once no ``Future(other)`` wrapper of it is left (flux-core
        counts references): no continuation runs any more, a pending timeout
        is cancelled, the reactor is no longer kept running by it, and late
        responses are dropped (their matchtag is not reused).
        """
        if self._destroyed:
            return
        self._destroyed = True
        cls = type(self)
        for name in _REFUSED:
            if hasattr(cls, name):
                setattr(self, name, _refuse)
        s = self._s
        if s is not self:
            s._wrappers -= 1
            if not s._destroyed:
                return
        if s._wrappers > 0:
            return
        s._stopped = True
        if s._timer is not None:
            s._timer.stop()
            s._timer = None
        core = s._core
        if s._tag and core is not None and core.rpcs.get(s._tag) is s:
            del core.rpcs[s._tag]
        s._release()

    @property
    def pimpl(self) -> "FuturePimpl":
        """libflux's future functions, named without ``flux_future_`` (``f.pimpl.fulfill(NULL, NULL)``)."""
        return FuturePimpl(self)

    # -- asyncio -------------------------------------------------------------------------

    def __await__(self) -> Any:
        if self._destroyed:
            raise ValueError(NULL_HANDLE)
        from flux.core.aio import result_of

        return result_of(self)  # a generator: no coroutine object per await


class WaitAllFuture(Future):
    """Ready when every pushed child is ready; an error if one of them failed.

    As in flux-core, ``children`` given to the constructor are only stored in
    the ``children`` list: :meth:`push` is what makes one count (and appends
    it to that list).  The children are looked at once the future is waited
    for (``get``, ``wait_for``, ``then``), so all of them must be pushed by
    then; with none pushed, it is fulfilled at once.
    """

    def __init__(self, children: Optional[list[Future]] = None) -> None:
        super().__init__()
        # the very list given (push() appends to it), as flux-core keeps it
        self.children: list[Future] = children if children is not None else []
        self._pushed: dict[str, Future] = {}
        self._anon_seq = 0
        self._armed = False  # waited for: flux-core's composite init has run

    def push(self, child: Future, name: Optional[str] = None) -> None:
        """Add ``child`` under ``name`` (default: "0", "1", ...); EEXIST if the name is taken."""
        if name is None:
            name = str(self._anon_seq)
            self._anon_seq += 1
        if name in self._pushed:
            raise OSError(_errno.EEXIST, "EEXIST: File exists")
        self._pushed[name] = child
        if self._core is None and child._s._core is not None:
            self._core = child._s._core
        self.children.append(child)
        child._add_listener(self._check)
        self._check()

    def _check(self) -> None:
        if self._current is not None or not self._armed:
            return
        children = self._pushed.values()
        if not all(c.is_ready() for c in children):
            return
        errnum = 0
        for child in children:
            result = child._s._current
            if result is not None and result[0]:
                errnum = result[0]
        self._push((errnum, None, None))
        self._finish()

    def _wait(self, timeout: Optional[float]) -> bool:
        self._armed = True
        for child in list(self._pushed.values()):
            if not child._wait(timeout):
                return False
        self._check()
        return self._current is not None

    def then(self, callback: Callable[..., Any], *args: Any, timeout: float = -1.0, **kwargs: Any) -> "Future":
        super().then(callback, *args, timeout=timeout, **kwargs)
        self._armed = True
        self._check()
        return self


class FutureExt(Future):
    """A future fulfilled from Python code; ``init_cb`` runs on first use."""

    def __init__(self, init_cb: Callable[..., Any], *args: Any, flux_handle: Optional["Flux"] = None,
                 **kwargs: Any) -> None:
        super().__init__()
        self._init_cb = init_cb
        self._init_args = args
        self._init_kwargs = kwargs
        self._init_done = False
        if flux_handle is not None:
            self.set_flux(flux_handle)

    def _run_init(self) -> None:
        if not self._init_done:
            self._init_done = True
            try:
                self._init_cb(self, *self._init_args, **self._init_kwargs)
            except BaseException as exc:  # noqa: BLE001
                threadstate.set_exception(exc)
                raise

    def then(self, callback: Callable[..., Any], *args: Any, timeout: float = -1.0, **kwargs: Any) -> "Future":
        super().then(callback, *args, timeout=timeout, **kwargs)
        self._run_init()
        return self

    def _wait(self, timeout: Optional[float]) -> bool:
        self._run_init()
        if self._current is not None:
            return True
        core = self._core
        if core is None:
            return False
        import time

        reactor = core.get_reactor()
        deadline = None if timeout is None else time.monotonic() + timeout
        from flux.constants import FLUX_REACTOR_ONCE

        while self._current is None:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            if reactor.active_count <= 0 and not reactor._soon:
                return False
            reactor.run(FLUX_REACTOR_ONCE)
        return True

    def __await__(self) -> Any:
        self._run_init()  # ``await`` is a first use too: start the work init_cb does
        return super().__await__()

    def fulfill(self, result: Any = None) -> None:
        """Add a result (any JSON-serialisable value); may be called repeatedly."""
        self._push((0, result, None))

    def get(self) -> Any:
        return self._result()[1]


class FuturePimpl:
    """``future.pimpl``: the ``flux_future_*`` functions flux-core's bindings expose.

    For code written against the C functions (``h.future_get(f, NULL)``,
    ``f.pimpl.fulfill(NULL, NULL)``): getters take an optional out-array and
    return the value; other names raise MissingFunctionError when called.
    """

    __slots__ = ("_f",)

    def __init__(self, future: Future) -> None:
        self._f = future

    def _future(self) -> Future:
        if self._f._destroyed:
            raise ValueError(NULL_HANDLE)
        return self._f

    @property
    def handle(self) -> Optional[Future]:
        """The future (flux-core: the C pointer; None once destroyed)."""
        return None if self._f._destroyed else self._f

    def __getattr__(self, name: str) -> Any:
        return implicit_attribute(self, name, ("flux_future_", "flux_rpc_"))

    def __enter__(self) -> "FuturePimpl":
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def destroy(self) -> None:
        self._f._destroy()

    def fulfill(self, result: Any = None, free: Any = None) -> None:
        """Fulfil with ``result`` (``free`` is C's destructor, not needed here)."""
        self._future()._push((0, result, None))

    def fulfill_error(self, errnum: int = _errno.ENOENT, errstr: Any = None) -> None:
        if isinstance(errstr, bytes):
            errstr = errstr.decode("utf-8", "replace")
        self._future()._push((errnum or _errno.EINVAL, None, errstr))

    def get(self, result_out: Any = None) -> int:
        """Wait for the result: 0 (the result in ``result_out[0]``), or OSError."""
        result = self._future()._result()
        if result_out is not None:
            result_out[0] = result[1]
        return 0

    def wait_for(self, timeout: float = -1.0) -> int:
        self._future().wait_for(timeout)
        return 0

    def is_ready(self) -> bool:
        return self._future().is_ready()

    def reset(self) -> None:
        self._future().reset()

    def error_string(self) -> Optional[bytes]:
        text = self._future().error_string()
        return None if text is None else text.encode("utf-8", "surrogateescape")

    def get_flux(self) -> Any:
        return self._future().get_flux()

    def set_flux(self, flux_handle: "Flux") -> None:
        self._future().set_flux(flux_handle)

    def get_reactor(self) -> Any:
        return self._future().get_reactor()

    def incref(self) -> None:
        """Python's garbage collector counts references."""

    def decref(self) -> None:
        """Python's garbage collector counts references."""

    # an RPC's pimpl answers the flux_rpc_* functions too (flux-core's journal uses this one)
    def get_matchtag(self) -> int:
        future = self._future()
        if not hasattr(type(future), "get_matchtag"):
            return MissingFunction("get_matchtag", ("flux_future_", "flux_rpc_"))()
        matchtag: int = future.get_matchtag()  # type: ignore[attr-defined]  # an RPC: checked just above
        return matchtag

    def get_nodeid(self) -> int:
        future = self._future()
        if not hasattr(type(future), "get_nodeid"):
            return MissingFunction("get_nodeid", ("flux_future_", "flux_rpc_"))()
        nodeid: int = future.get_nodeid()  # type: ignore[attr-defined]  # an RPC: checked just above
        return nodeid

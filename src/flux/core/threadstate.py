"""Per-thread client state: the exception a callback raised, and how deep this thread is in a reactor.

flux-core keeps both per thread and exposes them as ``Flux`` class methods.
They live here, below futures, watchers and dispatch, so that those layers
reach them without importing the handle that sits above them; ``Flux``
delegates to this module.

The handle class registers itself here too (:func:`register_handle_class`), so
that code below it (``Future.get_flux()``) can wrap a handle core in a
``Flux`` without importing :mod:`flux.core.handle`.
"""

from __future__ import annotations

import threading
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional

__all__ = [
    "tls",
    "set_exception",
    "get_exception",
    "raise_if_exception",
    "reactor_enter",
    "reactor_exit",
    "reactor_running",
    "register_handle_class",
    "wrap_core",
]

#: ``Flux.tls``: ``exception`` and ``reactor_depth`` of the calling thread.
tls = threading.local()

_handle_class: Any = None


def _state() -> Any:
    state = tls
    if not hasattr(state, "reactor_depth"):
        state.reactor_depth = 0
        state.exception = None
    return state


def set_exception(exception: Optional[BaseException]) -> Optional[BaseException]:
    """Store an exception for this thread; return the previous one."""
    state = _state()
    previous: Optional[BaseException] = state.exception
    state.exception = exception
    return previous


def get_exception() -> Optional[BaseException]:
    exception: Optional[BaseException] = _state().exception
    return exception


def raise_if_exception() -> None:
    """Re-raise (and clear) this thread's stored exception, if any."""
    state = _state()
    exc = state.exception
    if exc is not None:
        state.exception = None
        raise exc from None


def reactor_enter() -> None:
    _state().reactor_depth += 1


def reactor_exit() -> None:
    _state().reactor_depth -= 1


def reactor_running() -> bool:
    """True if this thread is running a Flux reactor."""
    depth: int = _state().reactor_depth
    return depth > 0


def register_handle_class(cls: Any) -> None:
    """Called once by :mod:`flux.core.handle` with the ``Flux`` class."""
    global _handle_class
    _handle_class = cls


def wrap_core(core: Any) -> Any:
    """A new ``Flux`` object around handle core ``core`` (what ``Future.get_flux()`` returns).

    A core only exists once a ``Flux`` was opened, so the class is registered
    by then.
    """
    return _handle_class(handle=core)

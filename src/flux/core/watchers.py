"""Reactor watchers with flux-core's Python classes and callback signatures.

Watchers are created stopped.  ``start()``/``stop()`` (or ``with``) control
them; the handle keeps a strong reference until ``destroy()``, so a started
watcher fires even when the user kept no reference.  An exception raised in a
callback is stored for the thread and stops the reactor with an error;
``reactor_run()`` re-raises it.
"""

from __future__ import annotations

import errno
import signal as _signal
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

from flux.constants import (
    FLUX_MATCHTAG_NONE,
    FLUX_MSGTYPE_ANY,
    FLUX_POLLERR,
    FLUX_POLLIN,
    FLUX_POLLOUT,
    FLUX_ROLE_OWNER,
)
from flux.core.reactor import Source
from flux.core.topics import TopicMatcher

if TYPE_CHECKING:  # pragma: no cover
    from flux.core.handle import Flux
    from flux.message import Message

__all__ = [
    "Watcher",
    "TimerWatcher",
    "FDWatcher",
    "SignalWatcher",
    "PrepareWatcher",
    "CheckWatcher",
    "IdleWatcher",
    "MessageWatcher",
]


def _callback_failed(flux_handle: "Flux", exc: BaseException) -> None:
    type(flux_handle).set_exception(exc)
    flux_handle.reactor_stop_error()


def _no_callback(*args: Any) -> None:
    """An idle watcher created without a callback only keeps the loop from blocking."""


class Watcher:
    """Base class: a reactor source owned by a Flux handle."""

    _src: Optional[Source]
    callback: Callable[..., Any]
    args: Any

    def __init__(self, flux_handle: "Flux", handle: Any = None) -> None:
        self.flux_handle = flux_handle
        self.handle = handle
        self._src = None
        flux_handle.add_watcher(self)

    def _make_source(self, kind: str) -> Source:
        reactor = self.flux_handle.get_reactor()
        src = Source(reactor, kind, self._fire)
        self._src = src
        self.handle = src
        return src

    def _fire(self, arg: Any) -> None:
        """``callback(h, watcher, arg, args)``: ``arg`` is the revents, signal number or message.

        An exception stops the reactor; ``reactor_run()`` re-raises it.
        """
        try:
            self.callback(self.flux_handle, self, arg, self.args)
        except BaseException as exc:  # noqa: BLE001
            _callback_failed(self.flux_handle, exc)

    def start(self) -> "Watcher":
        if self._src is not None:
            self._src.start()
        return self

    def stop(self) -> "Watcher":
        if self._src is not None:
            self._src.stop()
        return self

    def ref(self) -> "Watcher":
        if self._src is not None:
            self._src.set_ref(True)
        return self

    def unref(self) -> "Watcher":
        if self._src is not None:
            self._src.set_ref(False)
        return self

    def is_active(self) -> bool:
        return self._src is not None and self._src.active

    def destroy(self) -> None:
        if self._src is not None:
            self._src.stop()
        self.flux_handle.del_watcher(self)

    def __enter__(self) -> "Watcher":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __del__(self) -> None:
        src = getattr(self, "_src", None)
        if src is not None and src.active:
            try:
                src.stop()
            except Exception:
                pass


class TimerWatcher(Watcher):
    """Fires ``after`` seconds from start, then every ``repeat`` seconds if > 0."""

    def __init__(
        self,
        flux_handle: "Flux",
        after: float,
        callback: Callable[..., Any],
        repeat: float = 0,
        args: Any = None,
    ) -> None:
        if after < 0 or repeat < 0:
            raise OSError(errno.EINVAL, "timer after/repeat must not be negative")
        super().__init__(flux_handle)
        self.after = after
        self.repeat = repeat
        self.callback = callback
        self.args = args
        # the times the timer is armed with: ``reset()`` changes these, not the
        # attributes above (flux-core keeps them in the C watcher)
        self._after = float(after)
        self._repeat = float(repeat)
        self._make_source("timer")

    def start(self) -> "TimerWatcher":
        src = self._src
        assert src is not None
        if not src.active:
            src.deadline = src.reactor.now_update() + self._after
            src.repeat = self._repeat
            src.start()
        return self

    def reset(self, after: Optional[float] = None, repeat: Optional[float] = None) -> None:
        """Re-arm from scratch, even if running, and start.

        ``after``/``repeat`` default to the values given at creation (as in
        flux-core, not to those of an earlier reset); the ``after`` and
        ``repeat`` attributes keep the creation values.
        """
        after = self.after if after is None else after
        repeat = self.repeat if repeat is None else repeat
        if after < 0 or repeat < 0:
            raise OSError(errno.EINVAL, "timer after/repeat must not be negative")
        self._after = float(after)
        self._repeat = float(repeat)
        self.stop()
        self.start()


class FDWatcher(Watcher):
    """Fires when ``fd_int`` is ready for ``events`` (FLUX_POLLIN/POLLOUT/POLLERR)."""

    def __init__(
        self,
        flux_handle: "Flux",
        fd_int: int,
        events: Optional[int],
        callback: Callable[..., Any],
        args: Any = None,
    ) -> None:
        super().__init__(flux_handle)
        if events is None:  # flux-core's handle method supplies this default
            events = FLUX_POLLIN | FLUX_POLLOUT | FLUX_POLLERR
        self.fd_int = fd_int
        self.fd = int(fd_int)
        self.events = events
        self.callback = callback
        self.args = args
        src = self._make_source("fd")
        src.fd = self.fd
        src.events = events

    def _fire(self, revents: int) -> None:
        try:
            self.callback(self.flux_handle, self, self.fd, revents, self.args)
        except BaseException as exc:  # noqa: BLE001
            _callback_failed(self.flux_handle, exc)


class SignalWatcher(Watcher):
    """Fires when the process receives ``signal_int`` (main thread only)."""

    def __init__(
        self,
        flux_handle: "Flux",
        signal_int: int,
        callback: Callable[..., Any],
        args: Any = None,
    ) -> None:
        if not isinstance(signal_int, int) or signal_int < 1 or signal_int >= _signal.NSIG:
            raise OSError(errno.EINVAL, f"invalid signal number {signal_int}")
        super().__init__(flux_handle)
        self.signal_int = signal_int
        self.signum = int(signal_int)
        self.callback = callback
        self.args = args
        self._make_source("signal").signum = self.signum  # fired with the signal number


class _PhaseWatcher(Watcher):
    _kind = ""

    def __init__(self, flux_handle: "Flux", callback: Optional[Callable[..., Any]] = None, args: Any = None) -> None:
        super().__init__(flux_handle)
        self.callback = callback if callback is not None else _no_callback
        self.args = args
        self._make_source(self._kind)


class PrepareWatcher(_PhaseWatcher):
    """Runs once per loop iteration, before the reactor polls."""

    _kind = "prepare"

    def __init__(self, flux_handle: "Flux", callback: Callable[..., Any], args: Any = None) -> None:
        super().__init__(flux_handle, callback, args)


class CheckWatcher(_PhaseWatcher):
    """Runs once per loop iteration, after the reactor polled."""

    _kind = "check"

    def __init__(self, flux_handle: "Flux", callback: Callable[..., Any], args: Any = None) -> None:
        super().__init__(flux_handle, callback, args)


class IdleWatcher(_PhaseWatcher):
    """Runs when nothing else is pending; keeps the loop from blocking."""

    _kind = "idle"


class MessageWatcher(Watcher):
    """Calls ``callback(h, watcher, msg, args)`` for matching messages.

    ``topic_glob`` is a shell glob (``*`` matches all).  Requests whose
    rolemask shares no bit with the allowed roles (owner, plus ``rolemask``)
    are answered EPERM.
    """

    def __init__(
        self,
        flux_handle: "Flux",
        type_mask: int,
        callback: Callable[..., Any],
        topic_glob: Optional[str | bytes] = "*",
        match_tag: int = FLUX_MATCHTAG_NONE,
        rolemask: Optional[int] = None,
        args: Any = None,
    ) -> None:
        matcher = TopicMatcher(topic_glob)
        super().__init__(flux_handle)
        self.type_mask = type_mask if type_mask is not None else FLUX_MSGTYPE_ANY
        self.callback = callback
        self.topic_glob = matcher.pattern
        self.match_tag = match_tag
        self.allow = FLUX_ROLE_OWNER | (rolemask or 0)
        self.args = args
        self._matcher = matcher
        self._started = False
        # flux-core's ``handle`` is the C message handler, which its handle's
        # ``msg_handler_*`` functions take: here the watcher is its own.
        self.handle = self

    def allow_rolemask(self, rolemask: int) -> None:
        self.allow |= rolemask

    def deny_rolemask(self, rolemask: int) -> None:
        self.allow &= ~rolemask | FLUX_ROLE_OWNER

    def _accepts(self, msg: "Message") -> bool:
        if self.match_tag != FLUX_MATCHTAG_NONE and msg.aux2 != self.match_tag:
            return False
        return self._matcher(msg._topic)

    # dispatch delivers a message by calling the watcher's callback directly
    _deliver = Watcher._fire

    def start(self) -> None:  # type: ignore[override]  # None, as flux-core's MessageWatcher
        if not self._started:
            self._started = True
            self.flux_handle._core.get_reactor()
            self.flux_handle._core.add_watcher(self)

    def stop(self) -> None:  # type: ignore[override]  # None, as flux-core's MessageWatcher
        if self._started:
            self._started = False
            self.flux_handle._core.remove_watcher(self)

    def is_active(self) -> bool:
        return self._started

    def destroy(self) -> None:
        self.stop()
        self.flux_handle.del_watcher(self)

    def __del__(self) -> None:
        pass

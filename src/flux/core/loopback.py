"""``loop://``: a handle with no broker, whose sent messages come back to itself.

flux-core's loop connector, used to test code without an instance: a request
sent on the handle reaches the handle's own message watchers (or gets the
automatic ENOSYS), a response completes the handle's own RPC, an event reaches
its event watchers (there is no broker, so no subscription is needed).

Facts kept from flux-core: each looped message is a copy; its credentials are
filled in when unset (userid = this process's uid, rolemask = OWNER; the
``FLUX_HANDLE_USERID``/``FLUX_HANDLE_ROLEMASK`` environment variables change
these defaults); the attribute cache holds ``rank`` = "0" and ``size`` = "1",
so ``get_rank()`` works; other attributes have no broker to answer them.

Nothing can arrive while the process is blocked, so a blocking wait on an
empty queue (a ``get()`` whose answer needs the reactor, ``recv()`` with
nothing sent) fails with EDEADLK instead of hanging as flux-core's does.
"""

from __future__ import annotations

import errno
import os
import select
from collections import deque

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

    from flux.core.dispatch import HandleCore

from flux.constants import FLUX_ROLE_NONE, FLUX_ROLE_OWNER, FLUX_USERID_UNKNOWN
from flux.core.connection import Connection
from flux.message import Message

__all__ = ["LoopConnection"]

# What a loop:// handle's attribute cache starts with (flux-core fakes these two).
CACHED_ATTRS = {"rank": "0", "size": "1"}


class LoopConnection(Connection):
    """The transport interface of :class:`~flux.core.connection.Connection` over a queue.

    It subclasses Connection for its type only (no socket, no codec).  A pipe
    holds one byte while the queue is not empty, so the reactor (and an
    asyncio loop) can watch :meth:`fileno` like a socket.
    """

    sends_bytes = False  # it queues Messages: send_request builds one

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.closed = False
        self.eof = False
        #: credentials given to looped messages that have none (flux-core's
        #: "flux::testing_userid" / "flux::testing_rolemask" options)
        self.userid = os.getuid()
        self.rolemask = FLUX_ROLE_OWNER
        self._queue: deque[Message] = deque()
        self._rfd, self._wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._fd = self._rfd
        self._poll = select.poll()
        self._poll.register(self._rfd, select.POLLIN)

    def prime_handle(self, core: "HandleCore") -> None:
        """Set up a new handle on this connection as flux-core's loop connector does.

        The environment's test credentials become this connector's defaults
        (filled in only when a message has none) instead of overriding them.
        """
        core.attr_cache.update(CACHED_ATTRS)
        if core.cred_userid is not None:
            self.userid = core.cred_userid
            core.cred_userid = None
        if core.cred_rolemask is not None:
            self.rolemask = core.cred_rolemask
            core.cred_rolemask = None

    def send(self, msg: Message) -> None:
        if self.closed:
            raise OSError(errno.ECONNRESET, os.strerror(errno.ECONNRESET))
        copy = msg.copy()
        if copy.userid == FLUX_USERID_UNKNOWN:
            copy.userid = self.userid
        if copy.rolemask == FLUX_ROLE_NONE:
            copy.rolemask = self.rolemask
        queue = self._queue
        queue.append(copy)
        if len(queue) == 1:
            os.write(self._wfd, b"\0")

    def read_nowait(self) -> list[Message]:
        """Every looped message not yet read (the queue empties)."""
        queue = self._queue
        if not queue:
            return []
        msgs = list(queue)
        queue.clear()
        os.read(self._rfd, 1)
        return msgs

    def read_wait(self) -> list[Message]:
        msgs = self.read_nowait()
        if not msgs:
            raise OSError(errno.EDEADLK, "nothing can arrive on loop:// while blocked")
        return msgs

    def wait_readable(self, timeout: Optional[float], spin: bool = True) -> bool:
        if self._queue:
            return True
        if timeout is None or timeout < 0:
            raise OSError(errno.EDEADLK, "nothing can arrive on loop:// while blocked")
        return bool(self._poll.poll(max(0, int(timeout * 1000 + 0.999))))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._queue.clear()
            os.close(self._rfd)
            os.close(self._wfd)

    def __del__(self) -> None:
        # a socket closes itself when collected; the pipe's descriptors must be closed here
        if hasattr(self, "_wfd"):
            self.close()

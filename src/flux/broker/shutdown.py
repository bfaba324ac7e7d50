"""The ``shutdown`` service: ``flux shutdown`` asks rank 0 to leave run.

``shutdown.start`` (owner), payload ``{"loglevel": N}`` (optional):

- refused with EINVAL "shutdown is already in progress" while a streaming
  request is being served, "shutdown cannot be initiated in state S" outside
  run, "shutdown may only be initiated on rank 0" on any other rank (the
  texts of flux-core's ``shutdown.c``/``state_machine_shutdown``);
- otherwise the shutdown begins (the initial program gets SIGHUP, or the
  machine posts ``shutdown`` if there is none).  Without the STREAMING flag
  the request is answered at once (``flux shutdown --background``).  With it,
  every log record of the instance at or below ``loglevel`` (LOG_ERR if not
  given) is sent as ``{"log": "APP.SEV[RANK]: TEXT\\n"}`` while the instance
  shuts down, and the stream ends with ENODATA when rank 0 reaches goodbye.

On rank 0 the goodbye state then waits for the client to go away
(``shutdown.disconnect``), so that it has read the whole stream before the
broker exits, at most :data:`GOODBYE_TIMEOUT` seconds (flux-core's).
"""

from __future__ import annotations

import errno
from typing import Any, Callable, Optional

from flux.constants import FLUX_MSGFLAG_STREAMING
from flux.message import Message
from flux.severity import LOG_ERR
from flux.severity import name as severity_name

from .log import Log, record_fields
from .router import RequestError, Router, from_sender
from .state_machine import GOODBYE, RUN, StateMachine

__all__ = ["GOODBYE_TIMEOUT", "Shutdown", "log_line"]

#: how long rank 0 waits in goodbye for the ``flux shutdown`` client to go away
GOODBYE_TIMEOUT = 60.0


def log_line(record: bytes, loglevel: int) -> Optional[str]:
    """A log record as ``flux shutdown`` prints it (``APP.SEV[RANK]: TEXT`` and a
    newline), or None if it is above ``loglevel`` or cannot be parsed."""
    fields = record_fields(record)
    if fields is None:
        return None
    severity, _, hostname, appname, text = fields
    if severity > loglevel:
        return None
    digits = ""
    for ch in hostname:  # the rank, as strtoul reads it: leading digits, else 0
        if not ch.isdigit():
            break
        digits += ch
    return f"{appname}.{severity_name(severity)}[{int(digits or '0')}]: {text}\n"


class Shutdown:
    """The service on every rank; ``begin`` starts the shutdown (once)."""

    def __init__(self, router: Router, loop: Any, log: Log, sm: StateMachine, rank: int,
                 begin: Callable[[], None]) -> None:
        self.router = router
        self.loop = loop
        self.log = log
        self.sm = sm
        self.rank = rank
        self.begin = begin
        self.begun = False
        #: the streaming request being served (until its client disconnects)
        self.request: Optional[Message] = None
        self.loglevel = LOG_ERR
        self.ended = False  # ENODATA sent, waiting for the disconnect
        self._timer: Any = None
        svc = router.builtin("shutdown")
        svc.method("start", self._start)
        svc.method("disconnect", self._disconnect)
        if rank == 0:
            self._goodbye_action = sm.actions[GOODBYE]
            sm.actions[GOODBYE] = self._goodbye

    # -- service methods -------------------------------------------------------------------

    def _start(self, msg: Message) -> None:
        if self.request is not None:
            raise RequestError(errno.EINVAL, "shutdown is already in progress")
        if self.sm.state != RUN:
            raise RequestError(errno.EINVAL,
                               f"shutdown cannot be initiated in state {self.sm.state_name}")
        if self.rank != 0:
            raise RequestError(errno.EINVAL, "shutdown may only be initiated on rank 0")
        if msg.flags & FLUX_MSGFLAG_STREAMING:
            self.loglevel = self._requested_level(msg)
            self.request = msg
            self.ended = False
            self.log.taps.append(self._forward)
        else:
            self.router.respond(msg)
        if not self.begun:  # a second request while run ends: the program is already told
            self.begun = True
            self.begin()

    @staticmethod
    def _requested_level(msg: Message) -> int:
        try:
            obj = msg.payload_json() if msg.payload_bytes else {}
        except OSError:
            obj = {}
        value = obj.get("loglevel") if isinstance(obj, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return LOG_ERR

    def _disconnect(self, msg: Message) -> None:
        if self.request is not None and from_sender(self.request, msg):
            self._forget()
            if self.sm.state == GOODBYE:
                self._goodbye_done()

    # -- the stream --------------------------------------------------------------------------

    def _forward(self, record: bytes) -> None:
        if self.request is None or self.ended:
            return
        line = log_line(record, self.loglevel)
        if line is not None:
            self.router.respond(self.request, {"log": line})

    def _forget(self) -> None:
        self.request = None
        if self._forward in self.log.taps:
            self.log.taps.remove(self._forward)

    # -- rank 0's goodbye ---------------------------------------------------------------------

    def _goodbye(self) -> None:
        if self.request is None:
            self._goodbye_action()
            return
        self.ended = True
        if self._forward in self.log.taps:
            self.log.taps.remove(self._forward)
        self.router.respond_error(self.request, errno.ENODATA)
        self._timer = self.loop.call_later(GOODBYE_TIMEOUT, self._goodbye_timeout)

    def _goodbye_timeout(self) -> None:
        self._timer = None
        if self.sm.state == GOODBYE and self.request is not None:
            self.log.log(LOG_ERR, f"goodbye timeout after {GOODBYE_TIMEOUT:.1f}s")
            self._forget()
            self._goodbye_action()

    def _goodbye_done(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._goodbye_action()

"""The broker state machine: a broker's life in flux-core's states and events.

States, in order (the index is flux-core's enum value, which
``state-machine.monitor`` reports): load-builtins, join, config-sync, init,
quorum, run, cleanup, shutdown, finalize, goodbye, unload-builtins, exit.

:data:`TRANSITIONS` is flux-core's table, ``(state, event) -> next state``;
an event with no entry for the current state is ignored (logged at debug
level, as flux-core does).  Entering a state runs its *action*.  A size-1
broker has nothing to wait for in most states, so their actions post at once
the event that says so (``parent-none``, ``quorum-full``, ``children-none``,
...); a tree of brokers replaces those entries of :attr:`StateMachine.actions`
with ones that wait for the parent or the children.  The states that run
something start it and post its completion later: init runs rc1, run starts
the initial program (rc2, owned by the broker), cleanup runs the ``cleanup``
commands, finalize runs rc3 (see runat.py).

Events are queued and handled one per loop pass, as in flux-core, so an action
never re-enters the machine.  At start-up, before the loop runs, the events
the first actions post are handled at once, up to run: the first client request
the loop serves finds the broker in run (or in init while rc1 runs).

Services (payloads as flux-core's ``state_machine.c``):

- ``state-machine.get`` (user): ``{"state": NAME, "duration": SECONDS}``, the
  time spent in the current state (``flux uptime`` prints it).
- ``state-machine.monitor`` (owner): request ``{"final"?: STATE}``; each
  response is ``{"state": STATE}`` (an integer).  Without the STREAMING flag
  the current state is answered once; with it, every change up to ``final``
  (default exit), then ENODATA.  A state already past ``final`` gets ENODATA.
- ``state-machine.wait`` (user): answered (no payload) once the broker is in
  run; ENOENT "broker has surpassed RUN state" if it is past run.
- ``state-machine.post`` (owner): ``{"event": s, "error"?: b}`` sent with
  NORESPONSE (otherwise EPROTO); how other parts of a broker tree report events.
- ``state-machine.disconnect``: forget the sender's monitor and wait requests.
"""

from __future__ import annotations

import errno
import time
from typing import Any, Callable, Optional

from flux.constants import (
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_ROLE_USER,
)
from flux.fsd import format_duration
from flux.message import Message
from flux.severity import LOG_DEBUG, LOG_INFO

from .router import RequestError, Router, from_sender

__all__ = ["STATES", "TRANSITIONS", "StateMachine", "state_index"]

STATES = ("load-builtins", "join", "config-sync", "init", "quorum", "run", "cleanup",
          "shutdown", "finalize", "goodbye", "unload-builtins", "exit")
(LOAD_BUILTINS, JOIN, CONFIG_SYNC, INIT, QUORUM, RUN, CLEANUP, SHUTDOWN, FINALIZE,
 GOODBYE, UNLOAD_BUILTINS, EXIT) = range(len(STATES))

#: flux-core's transition table.  Left out: ``rc1-ignorefail`` (recovery mode,
#: which pureflux does not have) and ``rc2-none`` (run -> run: no change).
TRANSITIONS: dict[tuple[int, str], int] = {
    (LOAD_BUILTINS, "builtins-success"): JOIN,
    (LOAD_BUILTINS, "builtins-fail"): UNLOAD_BUILTINS,
    (JOIN, "parent-ready"): CONFIG_SYNC,
    (JOIN, "parent-none"): CONFIG_SYNC,
    (JOIN, "parent-fail"): SHUTDOWN,
    (CONFIG_SYNC, "sync-success"): INIT,
    (CONFIG_SYNC, "sync-none"): INIT,
    (CONFIG_SYNC, "sync-fail"): SHUTDOWN,
    (INIT, "rc1-success"): QUORUM,
    (INIT, "rc1-none"): QUORUM,
    (INIT, "rc1-fail"): SHUTDOWN,
    (INIT, "panic"): SHUTDOWN,
    (QUORUM, "quorum-full"): RUN,
    (QUORUM, "quorum-fail"): SHUTDOWN,
    (QUORUM, "panic"): SHUTDOWN,
    (RUN, "rc2-success"): CLEANUP,
    (RUN, "rc2-fail"): CLEANUP,
    (RUN, "shutdown"): CLEANUP,
    (RUN, "parent-fail"): CLEANUP,
    (RUN, "panic"): SHUTDOWN,
    (CLEANUP, "cleanup-success"): SHUTDOWN,
    (CLEANUP, "cleanup-none"): SHUTDOWN,
    (CLEANUP, "cleanup-fail"): SHUTDOWN,
    (SHUTDOWN, "children-complete"): FINALIZE,
    (SHUTDOWN, "children-none"): FINALIZE,
    (FINALIZE, "rc3-success"): GOODBYE,
    (FINALIZE, "rc3-none"): GOODBYE,
    (FINALIZE, "rc3-fail"): GOODBYE,
    (GOODBYE, "goodbye"): UNLOAD_BUILTINS,
    (UNLOAD_BUILTINS, "builtins-done"): EXIT,
    (UNLOAD_BUILTINS, "builtins-unload-fail"): EXIT,
}

# The runat phases the machine runs: state -> (phase name, event if undefined).
_PHASES = {INIT: ("rc1", "rc1-none"), CLEANUP: ("cleanup", "cleanup-none"),
           FINALIZE: ("rc3", "rc3-none")}

Action = Callable[[], None]
Log = Callable[[int, str], None]


def state_index(name: str) -> int:
    """The number of a state name (ValueError if unknown)."""
    return STATES.index(name)


class StateMachine:
    """One broker's state, its transitions and actions, and the service.

    ``loop`` needs ``call_soon(cb)`` and ``stop()``; ``runat`` needs
    ``is_defined(name)``, ``start(name, done)`` (``done(name, rc)``) and
    ``abort(name)``; ``start_program`` (or None: no initial program) starts
    rc2, whose end the broker reports with :meth:`post` (``rc2-success`` /
    ``rc2-fail``).
    """

    def __init__(self, router: Router, loop: Any, log: Log, runat: Any,
                 start_program: Optional[Action] = None, hostname: str = "",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.router = router
        self.loop = loop
        self.log = log
        self.runat = runat
        self.start_program = start_program
        self.hostname = hostname
        self.clock = clock
        self.state = LOAD_BUILTINS
        self.t_start = clock()
        self.started = False
        #: first failure of rc1/cleanup/rc3 (or a posted error): the broker's exit code
        #: when the initial program itself succeeded.
        self.exit_rc = 0
        self.events: list[str] = []
        self._scheduled = False
        self.monitors: list[Message] = []
        self.waiters: list[Message] = []
        self.actions: dict[int, Action] = {
            LOAD_BUILTINS: lambda: self.post("builtins-success"),  # no builtin modules here
            JOIN: lambda: self.post("parent-none"),  # rank 0: no parent to join
            CONFIG_SYNC: lambda: self.post("sync-none"),  # rank 0: the config is ours
            INIT: self._run_phase,
            QUORUM: self._quorum,
            RUN: self._run,
            CLEANUP: self._run_phase,
            SHUTDOWN: lambda: self.post("children-none"),  # no TBON children
            FINALIZE: self._run_phase,
            GOODBYE: lambda: self.post("goodbye"),  # rank 0: nobody to say goodbye to
            UNLOAD_BUILTINS: lambda: self.post("builtins-done"),
            EXIT: self.loop.stop,
        }
        svc = router.builtin("state-machine")
        svc.method("get", self._get, FLUX_ROLE_USER)
        svc.method("wait", self._wait, FLUX_ROLE_USER)
        svc.method("monitor", self._monitor)
        svc.method("post", self._post)
        svc.method("disconnect", self._disconnect)

    @property
    def state_name(self) -> str:
        return STATES[self.state]

    # -- driving ------------------------------------------------------------------

    def kickoff(self) -> None:
        """Enter load-builtins and go as far as nothing needs waiting for (call
        once, just before the loop runs)."""
        if self.started:
            return
        self.started = True
        self.t_start = self.clock()
        self._enter(LOAD_BUILTINS)
        # up to run; what would leave run goes through the loop (whose stop() in
        # exit only works once it runs)
        events = self.events
        while events and (self.state < RUN or (self.state, events[0]) not in TRANSITIONS):
            self._process(events.pop(0))

    def post(self, event: str) -> None:
        """Queue ``event``; it is handled on a later loop pass."""
        self.events.append(event)
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self._next_event)

    def _next_event(self) -> None:
        self._scheduled = False
        if not self.events:
            return
        event = self.events.pop(0)
        if self.events:
            self._scheduled = True
            self.loop.call_soon(self._next_event)
        self._process(event)

    def _process(self, event: str) -> None:
        current = self.state
        nxt = TRANSITIONS.get((current, event))
        if nxt is None:
            self.log(LOG_DEBUG, f"{event}: ignored in {STATES[current]}")
            return
        now = self.clock()
        self.log(LOG_INFO, f"{event}: {STATES[current]}->{STATES[nxt]} "
                           f"{format_duration(now - self.t_start)}")
        self.t_start = now
        self._enter(nxt)

    def _enter(self, state: int) -> None:
        self.state = state
        self.actions[state]()
        self._update_monitors()
        self._update_waiters()

    def kill(self, signum: int) -> None:
        """A terminating signal while no initial program runs: cut the current
        phase short (flux-core aborts rc1/cleanup/rc3 with SIGHUP, or posts
        ``shutdown`` in run); states that end on their own ignore it."""
        state = self.state
        if state == RUN:
            self.post("shutdown")
        elif state == JOIN:
            self.post("parent-fail")
        elif state == CONFIG_SYNC:
            self.post("sync-fail")
        elif state == QUORUM:
            self.post("quorum-fail")
        elif state in _PHASES:
            if self.runat.is_defined(_PHASES[state][0]):
                self.runat.abort(_PHASES[state][0])
        else:
            self.log(LOG_INFO, f"ignored signal {signum} in {STATES[state]}")

    # -- actions ------------------------------------------------------------------------

    def _run_phase(self) -> None:
        name, none_event = _PHASES[self.state]
        if self.runat.is_defined(name):
            self.runat.start(name, self._phase_done)
        else:
            self.post(none_event)

    def _phase_done(self, name: str, rc: int) -> None:
        """flux-core's rule: rc1's failure is the exit code; later phases' only
        if nothing failed before."""
        if rc != 0 and (name == "rc1" or self.exit_rc == 0):
            self.exit_rc = rc
        self.post(f"{name}-success" if rc == 0 else f"{name}-fail")

    def _quorum(self) -> None:
        if self.hostname:
            self.log(LOG_INFO, f"online: {self.hostname} (ranks 0)")
        self.post("quorum-full")  # size 1: this broker is the whole quorum

    def _run(self) -> None:
        if self.start_program is not None:
            self.start_program()
        else:
            self.post("rc2-none")

    # -- monitor / wait ---------------------------------------------------------------------

    def _update_monitors(self) -> None:
        if self.monitors:
            self.monitors = [m for m in self.monitors if self._monitor_one(m)]

    def _update_waiters(self) -> None:
        if self.waiters:
            self.waiters = [m for m in self.waiters if not self._wait_one(m)]

    def _monitor_one(self, msg: Message) -> bool:
        """Answer one monitor request; True while it wants more."""
        final = EXIT
        if msg.payload_bytes:
            try:
                value = msg.payload_json().get("final")
            except OSError:
                value = None
            if isinstance(value, int) and not isinstance(value, bool):
                final = value
        respond, state = self.router.respond, self.state
        if state > final:
            self.router.respond_error(msg, errno.ENODATA)
            return False
        respond(msg, {"state": state})
        if not msg.flags & FLUX_MSGFLAG_STREAMING:
            return False
        if state == final:
            self.router.respond_error(msg, errno.ENODATA)
            return False
        return True

    def _wait_one(self, msg: Message) -> bool:
        """Answer one wait request if the broker is in run or past it."""
        if self.state < RUN:
            return False
        if self.state == RUN:
            self.router.respond(msg)
        else:
            self.router.respond_error(msg, errno.ENOENT, "broker has surpassed RUN state")
        return True

    # -- service methods ------------------------------------------------------------------------

    def _get(self, msg: Message) -> None:
        self.router.respond(msg, {"state": self.state_name,
                                  "duration": self.clock() - self.t_start})

    def _monitor(self, msg: Message) -> None:
        if self._monitor_one(msg):
            self.monitors.append(msg)

    def _wait(self, msg: Message) -> None:
        if not self._wait_one(msg):
            self.waiters.append(msg)

    def _post(self, msg: Message) -> None:
        obj = msg.payload_json()
        event = obj.get("event")
        error = obj.get("error", False)
        if not isinstance(event, str) or not isinstance(error, bool):
            raise RequestError(errno.EPROTO)
        if not msg.flags & FLUX_MSGFLAG_NORESPONSE:
            raise RequestError(errno.EPROTO)
        self.post(event)
        if error:
            self.exit_rc = 1

    def _disconnect(self, msg: Message) -> None:
        self.monitors = [m for m in self.monitors if not from_sender(m, msg)]
        self.waiters = [m for m in self.waiters if not from_sender(m, msg)]

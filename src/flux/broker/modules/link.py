"""One module's link: the broker's end of a module process, and the module protocol.

The link is a peer link over the module's socketpair (socketlink.py) and a
router peer:

- requests the module sends get its uuid M pushed (``[M]``) and, having no
  credentials of their own, the owner's (OWNER|LOCAL); ``event.subscribe``,
  ``service.add`` and friends are answered by the link, as for clients;
- requests for the module's services arrive with the broker uuid pushed
  (``[X, C, B]``) and stay in flight until answered, so that if the process
  dies every requester gets an error at once;
- events reach the module when they match one of its subscriptions.

The module protocol is flux-core's (PROTOCOL.md "Python broker module life
cycle"): the broker sends the handshake byte and the ``welcome`` request;
``module.status`` 1 (RUNNING) answers the pending ``module.load``; 2
(FINALIZING) is acknowledged and new requests get ENOSYS; 3 (EXITED)
carries the errnum.  The link then waits for its socket to close and its
process to be reaped, in either order, before it answers ``module.remove``
and is forgotten; an error exit that nobody asked for is logged as "NAME
module runtime failure" (LOG_CRIT) and the broker keeps running.

All of that is one state table (TRANSITIONS) and one method that changes
state (:meth:`ModuleLink.advance`), which runs each state's entry action.
"""

from __future__ import annotations

import errno
from ..uuids import uuid4
from typing import TYPE_CHECKING, Any, Optional

from flux.codec import encode_stream
from flux.constants import (
    FLUX_MODSTATE_EXITED,
    FLUX_MODSTATE_FINALIZING,
    FLUX_MODSTATE_INIT,
    FLUX_MODSTATE_RUNNING,
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGTYPE_REQUEST,
    FLUX_ROLE_LOCAL,
    FLUX_ROLE_OWNER,
)
from flux.message import Message, encode_json
from flux.severity import LOG_CRIT, LOG_DEBUG, LOG_ERR

from ..router import RequestError
from ..socketlink import SocketLink

if TYPE_CHECKING:  # pragma: no cover
    import socket

    from .spawn import ModuleProcess
    from .table import ModuleTable

__all__ = ["ModuleLink", "INIT", "RUNNING", "FINALIZING", "EXITED", "CLOSED", "GONE",
           "TRANSITIONS"]

# -- the life cycle ------------------------------------------------------------------------

#: flux-core's module states, as the module reports them with ``module.status``
INIT = FLUX_MODSTATE_INIT  # welcome sent, the module is initializing
RUNNING = FLUX_MODSTATE_RUNNING  # serving; the module.load request was answered
FINALIZING = FLUX_MODSTATE_FINALIZING  # shutting down: new requests get ENOSYS
EXITED = FLUX_MODSTATE_EXITED  # reported its exit status, about to close
#: the link's own: the process must be gone before the module is
CLOSED = 4  # the socket closed (requests in flight failed); the process is not reaped yet
GONE = 5  # socket closed and process reaped: load/remove answered, the module forgotten

#: The only state changes there are.  A module may skip RUNNING (it failed to
#: initialize) or FINALIZING; the socket may close at any time (a crash); a
#: process reaped before its socket closed passes through CLOSED at once.
TRANSITIONS: dict[int, frozenset[int]] = {
    INIT: frozenset((RUNNING, FINALIZING, EXITED, CLOSED)),
    RUNNING: frozenset((FINALIZING, EXITED, CLOSED)),
    FINALIZING: frozenset((EXITED, CLOSED)),
    EXITED: frozenset((CLOSED,)),
    CLOSED: frozenset((GONE,)),
    GONE: frozenset(),
}

REAP_GRACE = 5.0  # seconds between a module's EOF and SIGKILL if its process lingers

_ROUTE = FLUX_MSGFLAG_ROUTE
_NORESPONSE = FLUX_MSGFLAG_NORESPONSE
_REQUEST = FLUX_MSGTYPE_REQUEST
_OWNER_LOCAL = FLUX_ROLE_OWNER | FLUX_ROLE_LOCAL


class ModuleLink(SocketLink):
    """One module process: its socket, its life-cycle state, what waits for its exit."""

    __slots__ = ("table", "name", "path", "args", "process", "watch", "kill_timer", "state",
                 "load_req", "remove_reqs", "exit_expected", "exit_report", "hops")

    def __init__(self, table: ModuleTable, name: str, path: str, args: list[str],
                 sock: socket.socket, process: ModuleProcess) -> None:
        owner = table.owner
        uuid = uuid4()
        super().__init__(uuid, table.router, table.events, table.loop, sock,
                         owner, _OWNER_LOCAL, False, (owner, _OWNER_LOCAL), uuid)
        self.table = table
        self.name = name
        self.path = path
        self.args = args
        self.services.add(name)
        self.hops = (self.hop,)  # what its requests get pushed: [M]
        self.traced = table.tracer.requests  # the open module.trace requests (shared list)
        self.process = process
        self.watch = table.loop.watch_child(process.pid, self.reap) if process.pid else None
        self.kill_timer: Any = None
        self.state = INIT
        self.load_req: Optional[Message] = None  # answered at RUNNING (or at the exit)
        self.remove_reqs: list[Message] = []  # answered when GONE
        self.exit_expected = False  # asked to unload: an error exit is no runtime failure
        self.exit_report: Optional[tuple[int, Optional[str]]] = None  # EXITED's (errnum, errstr)

    # -- messages from the module -------------------------------------------------------------

    def forward_request(self, msg: Message) -> None:
        """Push ``[M]`` and route it."""
        msg.routes.append(self.hop)
        msg.flags |= _ROUTE
        self.router.request(msg)

    def request_hops(self, topic: str, nodeid: int, flags: int) -> Optional[tuple[str, ...]]:
        """``[M]`` for a request relayed on its bytes (as :meth:`forward_request`)."""
        return self.hops

    def trace(self, prefix: str, msg: Message) -> None:
        self.table.tracer.trace(prefix, self.name, msg)

    # -- the module protocol --------------------------------------------------------------------

    def _broker_request(self, topic: str, noresponse: bool = True) -> Message:
        """A request from the broker itself (route ``[B]``, owner credentials)."""
        m = Message(_REQUEST)
        m.topic = topic
        m.flags |= _ROUTE
        if noresponse:
            m.flags |= _NORESPONSE
        m.routes = [self.router.uuid]
        m.userid = self.userid
        m.rolemask = _OWNER_LOCAL
        m.aux2 = 0
        return m

    def welcome(self, attrs: dict[str, str], conf: dict[str, Any]) -> None:
        """The handshake byte and the ``welcome`` request (never answered)."""
        w = self._broker_request("welcome", noresponse=False)
        w.payload_bytes = encode_json({"args": self.args, "attrs": attrs, "conf": conf,
                                       "name": self.name, "uuid": self.uuid})
        self.write(b"\x00" + encode_stream(w))
        self.tx -= 1  # the welcome is not counted, as in flux-core

    def report(self, obj: dict[str, Any]) -> None:
        """``module.status`` from the module: RUNNING, FINALIZING or EXITED (+ errnum)."""
        status = obj.get("status")
        if not isinstance(status, int):
            raise RequestError(errno.EPROTO)
        if status == EXITED:
            if self.exit_report is None:
                errnum = obj.get("errnum", 0)
                errstr = obj.get("errstr")
                self.exit_report = (errnum if isinstance(errnum, int) else errno.EINVAL,
                                    errstr if isinstance(errstr, str) else None)
        elif status not in (RUNNING, FINALIZING):
            raise RequestError(errno.EINVAL, f"invalid module status {status}")
        self.advance(status)

    def unload(self, req: Optional[Message], cancel: bool = False) -> None:
        """Ask the module to shut down (``cancel``: kill it); ``req`` is answered when it is GONE."""
        if req is not None:
            self.remove_reqs.append(req)
        if cancel:
            self.exit_expected = True
            self.process.kill()
            return
        if self.exit_expected:
            return
        self.exit_expected = True
        if self.state < FINALIZING:
            self.write(encode_stream(self._broker_request(f"{self.name}.shutdown")))

    def config_reload(self, conf: dict[str, Any]) -> None:
        """Give a running module the instance's new config (``NAME.config-reload``)."""
        if self.state != RUNNING:
            return
        m = self._broker_request(f"{self.name}.config-reload")
        m.payload_bytes = encode_json(conf)  # the broker is C in flux-core: compact JSON
        self.write(encode_stream(m))

    def info(self, now: float) -> dict[str, Any]:
        """This module's entry in ``module.list``."""
        return {
            "name": self.name,
            "path": self.path,
            "idle": int(now - self.last_rx),
            "status": min(self.state, EXITED),
            "services": sorted(s for s in self.services if s != self.name),
            "sendqueue": len(self.out),
            "recvqueue": 0,
            "pid": self.process.pid,
        }

    # -- changing state ---------------------------------------------------------------------------

    def advance(self, new: int) -> bool:
        """Move to state ``new`` if TRANSITIONS allows it, and run its entry action."""
        old = self.state
        if new not in TRANSITIONS[old]:
            return False
        self.state = new
        if new == RUNNING:
            if self.load_req is not None:
                req, self.load_req = self.load_req, None
                self.router.respond(req)
        elif new in (FINALIZING, EXITED):
            if old < FINALIZING:
                self.router.refuse_peer(self, errno.ENOSYS, f"{self.name} module is unloading")
        elif new == CLOSED:
            self._closed()
        elif new == GONE:
            self._gone()
        return True

    def _closed(self) -> None:
        """Entry to CLOSED: release everything the peer held; fail what is in flight."""
        self.close_transport()
        self.release()
        if self.exit_report is not None:
            self.fail_inflight(errno.ENOSYS, f"{self.name} module has exited")
        else:
            self.fail_inflight(errno.ECONNRESET, f"{self.name} module terminated unexpectedly")

    def _gone(self) -> None:
        """Entry to GONE: answer load/remove, log a failure nobody asked for, be forgotten."""
        self._stop_watching()
        self.table.forget(self)
        errnum, errstr = self.outcome()
        router = self.router
        if self.load_req is not None:
            req, self.load_req = self.load_req, None
            if errnum:
                router.respond_error(req, errnum, errstr)
            else:
                router.respond(req)
        elif errnum and not self.exit_expected:
            if self.exit_report is None:
                self.table.log(LOG_ERR, f"{self.name}: {errstr}")
            self.table.log(LOG_CRIT, f"{self.name} module runtime failure")
        elif self.exit_report is None:
            self.table.log(LOG_DEBUG, f"{self.name}: module exited")
        for req in self.remove_reqs:
            router.respond(req)
        self.remove_reqs = []

    def outcome(self) -> tuple[int, Optional[str]]:
        """(errnum, errstr) of the exit: as reported, else from the process status."""
        if self.exit_report is not None:
            return self.exit_report
        status = self.process.status
        if status is not None and status < 0:
            return errno.ECONNRESET, f"module process killed by signal {-status}"
        if status:
            return errno.ECONNRESET, f"module process exited with status {status}"
        return errno.ECONNRESET, "module process exited before finalizing"

    # -- the end of the socket and of the process -------------------------------------------------

    def lost(self, reason: Optional[str]) -> None:
        """The socket closed (or the module sent garbage: ``reason``, and it is killed)."""
        if reason:
            self.table.log(LOG_ERR, f"{self.name}: {reason}")
            self.process.kill()
        if not self.advance(CLOSED):
            return
        self.reap()
        if self.state != GONE:
            self.kill_timer = self.loop.call_later(REAP_GRACE, self._linger)

    def reap(self) -> None:
        """Collect the process if it has exited; then the module is GONE."""
        if self.state == GONE or not self.process.poll():
            return
        if self.state != CLOSED:
            # a process cannot talk once gone (a leaked fd may keep the socket open)
            self.advance(CLOSED)
        self.advance(GONE)

    def _linger(self) -> None:
        if self.state != GONE:
            self.table.log(LOG_ERR, f"{self.name}: module process did not exit; killing it")
            self.process.kill()

    def _stop_watching(self) -> None:
        if self.watch is not None:
            self.watch.close()
            self.watch = None
        if self.kill_timer is not None:
            self.kill_timer.cancel()
            self.kill_timer = None

    def kill_and_reap(self, timeout: float) -> None:
        """The broker is exiting and its loop has stopped: kill, reap within ``timeout``, forget."""
        self.unload(None, cancel=True)
        self.process.wait(timeout)
        self.reap()

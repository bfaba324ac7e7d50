"""Broker side of Python broker modules: processes, links, the ``module`` service.

Each loaded module is a child process joined to the broker by a socketpair
(stream framing, ``FLUX_MODULE_URI=fd://N`` in the child).  The broker end is
a :class:`ModuleLink`, a router peer (see router.py):

- requests the module sends get its uuid M pushed (``[M]``) and its
  credentials filled in as the owner's, then go through the router;
- requests for the module's services arrive with the broker uuid pushed
  (``[X, C, B]``); the link remembers each one until it is answered, so that
  if the process dies every requester gets an error at once;
- responses addressed to the module (route ``[M]``) have M popped;
- events reach the module when they match one of its ``event.subscribe``
  prefixes (flux-core serves that RPC in the broker's ``event`` service).

Processes are created with ``os.fork()``: the broker is single-threaded and
has the module runtime imported, so a module starts in about a millisecond.
``-S module.exec=1`` (or ``flux module load --exec``, or
``FLUX_MODULE_EXEC=1`` in the broker's environment) runs
``flux module-python-exec PATH`` in a fresh interpreter instead; both run
:func:`flux.core.module_exec.main`.

Life cycle (flux-core's, PROTOCOL.md): the broker sends the handshake byte
and the ``welcome`` request; ``module.status`` 1 (RUNNING) answers the
pending ``module.load``; 2 (FINALIZING) is acknowledged and mutes the link
(new requests get ENOSYS); 3 (EXITED) carries the errnum.  The module is
forgotten once its socket reached EOF and its process was reaped; an error
exit that nobody asked for is logged as "NAME module runtime failure"
(LOG_CRIT) and the broker keeps running.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import sys
import time
import uuid as uuidlib
from typing import Any, Optional

from flux.codec import ProtocolError, StreamDecoder, encode_stream
from flux.constants import (
    FLUX_MODSTATE_EXITED,
    FLUX_MODSTATE_FINALIZING,
    FLUX_MODSTATE_INIT,
    FLUX_MODSTATE_RUNNING,
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGFLAG_ROUTE,
    FLUX_MSGFLAG_STREAMING,
    FLUX_MSGTYPE_EVENT,
    FLUX_MSGTYPE_REQUEST,
    FLUX_MSGTYPE_RESPONSE,
    FLUX_ROLE_ALL,
    FLUX_ROLE_LOCAL,
    FLUX_ROLE_OWNER,
    FLUX_ROLE_USER,
    FLUX_USERID_UNKNOWN,
)
from flux.message import Message, encode_json

from .loop import EV_ERR, EV_IN, RECV_SIZE, QueuedOutput, is_writable, recv_some
from .events import subscribe, unsubscribe
from .module_trace import ModuleTracer
from .router import RequestError

__all__ = ["ModuleManager", "ModuleLink", "find_module"]

LOG_CRIT, LOG_ERR, LOG_INFO, LOG_DEBUG = 2, 3, 6, 7
_RECV_SIZE = RECV_SIZE
_ROUTE = FLUX_MSGFLAG_ROUTE
_NORESPONSE = FLUX_MSGFLAG_NORESPONSE
_STREAMING = FLUX_MSGFLAG_STREAMING
_REQUEST = FLUX_MSGTYPE_REQUEST
_RESPONSE = FLUX_MSGTYPE_RESPONSE
_EVENT = FLUX_MSGTYPE_EVENT
_UNKNOWN = FLUX_USERID_UNKNOWN
_OWNER_LOCAL = FLUX_ROLE_OWNER | FLUX_ROLE_LOCAL
_TRUE = ("1", "true", "yes", "on")
REAP_GRACE = 5.0  # seconds between a module's EOF and SIGKILL if it lingers
STATE_LETTERS = "IRFX"


def find_module(name: str, search_path: str) -> Optional[str]:
    """``NAME.py`` (or NAME itself if it ends in .py) on a colon-separated path."""
    fname = name if name.endswith(".py") else f"{name}.py"
    for directory in search_path.split(":"):
        if not directory:
            continue
        cand = os.path.join(directory, fname)
        if os.path.isfile(cand):
            return os.path.abspath(cand)
    return None


class ModuleLink(QueuedOutput):
    """One module process: socket, state, subscriptions, requests in flight."""

    def __init__(self, manager: "ModuleManager", name: str, path: str, args: list[str]) -> None:
        self.manager = manager
        self.name = name
        self.path = path
        self.args = args
        self.uuid = str(uuidlib.uuid4())
        self.state = FLUX_MODSTATE_INIT
        self.sock: Optional[socket.socket] = None
        self.fd = -1
        self.pid = 0
        self.popen: Any = None
        self.pidfd: Optional[int] = None
        self.poll_timer: Any = None
        self.kill_timer: Any = None
        self.decoder = StreamDecoder()
        self.out: list[Any] = []
        self.outlen = 0
        self.writing = False
        self.subs: dict[str, int] = {}
        self.services: set[str] = {name}
        self.traced = manager.tracer.requests  # module.trace: non-empty while someone traces
        self.inflight: dict[tuple, Message] = {}
        self.load_req: Optional[Message] = None
        self.remove_reqs: list[Message] = []
        self.removing = False
        self.cancelled = False
        self.exited = False
        self.errnum = 0
        self.errstr: Optional[str] = None
        self.eof = False
        self.reaped = False
        self.wait_status: Optional[int] = None
        self.finished = False
        self.last_rx = time.monotonic()
        self.rx = 0
        self.tx = 0

    # -- output -------------------------------------------------------------------

    def send(self, msg: Message) -> None:
        """Router peer: a request for one of our services, or a response for us."""
        if self.traced:
            self.manager.tracer.trace("rx", self.name, msg)
        if msg.type == _RESPONSE:
            routes = msg.routes
            if routes and routes[-1] == self.uuid:
                routes.pop()
            msg.flags |= _ROUTE
            self.write(encode_stream(msg))
            return
        if self.eof or self.state >= FLUX_MODSTATE_FINALIZING:
            self.manager.router.respond_error(msg, errno.ENOSYS,
                                              f"{self.name} module is unloading")
            return
        if not msg.flags & _NORESPONSE:
            self.inflight[(tuple(msg.routes), msg.aux2)] = msg
        elif msg.topic is not None and msg.topic.endswith(".disconnect") and self.inflight:
            sender = msg.route_first
            for key in [k for k in self.inflight if k[0] and k[0][0] == sender]:
                del self.inflight[key]
        self.write(encode_stream(msg))

    def write(self, data: bytes) -> None:
        if self.eof or self.sock is None:
            return
        self.out.append(data)
        self.outlen += len(data)
        self.tx += 1
        self.manager.loop.mark_dirty(self)

    def flush(self) -> None:
        if self.eof or not self.out or self.sock is None:
            return
        if not self.send_queued(self.manager.loop):
            self.on_eof()

    # -- input ----------------------------------------------------------------------

    def on_io(self, events: int) -> None:
        if self.writing and is_writable(events):
            self.flush()
            if self.eof:
                return
        if not events & (EV_IN | EV_ERR):
            return
        sock = self.sock
        if sock is None:
            return
        for _ in range(4):
            try:
                data = recv_some(sock)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self.on_eof()
                return
            try:
                msgs = self.decoder.feed(data)
            except ProtocolError as exc:
                self.manager.log(LOG_ERR, f"{self.name}: protocol error: {exc.detail}")
                self.on_eof()
                self.kill()
                return
            self.last_rx = time.monotonic()
            for msg in msgs:
                self.receive(msg)
                if self.eof:
                    return
            if len(data) < _RECV_SIZE:
                return

    def receive(self, msg: Message) -> None:
        """A message from the module process."""
        if self.traced:
            self.manager.tracer.trace("tx", self.name, msg)
        self.rx += 1
        mtype = msg.type
        if msg.userid == _UNKNOWN:
            msg.userid = self.manager.owner
        if not msg.rolemask:
            msg.rolemask = _OWNER_LOCAL
        router = self.manager.router
        if mtype == _REQUEST:
            msg.routes.append(self.uuid)
            msg.flags |= _ROUTE
            router.request(msg)
        elif mtype == _RESPONSE:
            if self.inflight:
                key = (tuple(msg.routes), msg.aux2)
                if key in self.inflight and (msg.aux1 or not msg.flags & _STREAMING):
                    del self.inflight[key]
            router.response(msg)
        elif mtype == _EVENT:
            msg.routes.append(self.uuid)
            msg.flags |= _ROUTE
            router.event(msg)

    # -- end of life -------------------------------------------------------------------

    def on_eof(self) -> None:
        """The socket closed: fail what is in flight, release services, await the reap."""
        if self.eof:
            return
        self.eof = True
        mgr = self.manager
        if self.sock is not None:
            mgr.loop.remove(self.fd)
            try:
                self.sock.close()
            except OSError:
                pass
        self.out = []
        self.outlen = 0
        mgr.router.remove_peer(self)
        mgr.by_uuid.pop(self.uuid, None)
        self.subs.clear()
        mgr.subscribers.discard(self)
        if self.inflight:
            if self.exited:
                errnum, text = errno.ENOSYS, f"{self.name} module has exited"
            else:
                errnum, text = errno.ECONNRESET, f"{self.name} module terminated unexpectedly"
            pending = list(self.inflight.values())
            self.inflight.clear()
            for req in pending:
                mgr.router.respond_error(req, errnum, text)
        if self.reaped:
            self.finish()
        else:
            self.reap()
            if not self.reaped:
                self.kill_timer = mgr.loop.call_later(REAP_GRACE, self._linger)

    def _linger(self) -> None:
        if not self.reaped:
            self.manager.log(LOG_ERR, f"{self.name}: module process did not exit; killing it")
            self.kill()

    def kill(self) -> None:
        if self.pid and not self.reaped:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def reap(self) -> None:
        """Collect the process status if it has exited (non-blocking)."""
        if self.reaped or not self.pid:
            return
        status: Optional[int]
        if self.popen is not None:
            rc = self.popen.poll()
            if rc is None:
                return
            status = rc
        else:
            try:
                pid, wstatus = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pid, wstatus = self.pid, 0
            if pid == 0:
                return
            status = os.waitstatus_to_exitcode(wstatus)
        self.reaped = True
        self.wait_status = status
        mgr = self.manager
        if self.pidfd is not None:
            mgr.loop.remove(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = None
        if self.poll_timer is not None:
            self.poll_timer.cancel()
            self.poll_timer = None
        if self.kill_timer is not None:
            self.kill_timer.cancel()
            self.kill_timer = None
        if self.eof:
            self.finish()
        else:
            self.on_eof()  # a process cannot talk once gone (a leaked fd may keep the socket open)

    def finish(self) -> None:
        """Socket closed and process reaped: answer load/remove, log failures, forget."""
        if self.finished:
            return
        self.finished = True
        mgr = self.manager
        if mgr.modules.get(self.name) is self:
            del mgr.modules[self.name]
        prev = self.state
        self.state = FLUX_MODSTATE_EXITED
        if self.exited:
            errnum, errstr = self.errnum, self.errstr
        else:
            errnum = errno.ECONNRESET
            st = self.wait_status
            if st is not None and st < 0:
                errstr = f"module process killed by signal {-st}"
            elif st:
                errstr = f"module process exited with status {st}"
            else:
                errstr = "module process exited before finalizing"
        if self.load_req is not None:
            req, self.load_req = self.load_req, None
            if errnum:
                mgr.router.respond_error(req, errnum, errstr)
            else:
                mgr.router.respond(req)
        elif errnum and not (self.removing or self.cancelled):
            if not self.exited:
                mgr.log(LOG_ERR, f"{self.name}: {errstr}")
            mgr.log(LOG_CRIT, f"{self.name} module runtime failure")
        elif prev != FLUX_MODSTATE_EXITED:
            mgr.log(LOG_DEBUG, f"{self.name}: module exited")
        for req in self.remove_reqs:
            mgr.router.respond(req)
        self.remove_reqs = []


class ModuleManager:
    """Module table, process management, and the ``module`` service."""

    def __init__(self, broker: Any) -> None:
        self.broker = broker
        self.loop = broker.loop
        self.router = broker.router
        self.attrs = broker.attrs
        self.owner = broker.owner
        self.environ: dict[str, str] = getattr(broker, "environ", os.environ)
        self.modules: dict[str, ModuleLink] = {}
        self.by_uuid: dict[str, ModuleLink] = {}
        self.subscribers: set[ModuleLink] = set()
        self._preloaded = False
        if "module.exec" not in self.attrs:
            self.attrs.add("module.exec", "0")
        svc = self.router.builtin("module")
        svc.method("load", self._load)
        svc.method("remove", self._remove)
        svc.method("list", self._list, FLUX_ROLE_USER)
        svc.method("status", self._status)
        self.tracer = ModuleTracer(self.router)  # module.trace (module_trace.py)
        self.tracer.register(svc)
        svc.method("disconnect", self.tracer.disconnect, FLUX_ROLE_ALL)
        # flux-core serves event.subscribe/unsubscribe for modules in the
        # broker's "event" service (clients are answered by the connector)
        ev = self.router.services.get("event")
        if ev is None:
            ev = self.router.builtin("event")
        ev.method("subscribe", self._subscribe)
        ev.method("unsubscribe", self._unsubscribe)
        # modules may register extra services like clients do
        if "service" not in self.router.services:
            sv = self.router.builtin("service")
            sv.method("add", self._service_add)
            sv.method("remove", self._service_remove)
        events = getattr(broker, "events", None)
        if events is not None and self not in events.sinks:
            events.sinks.append(self)

    # -- helpers ------------------------------------------------------------------------

    def log(self, level: int, text: str) -> None:
        log = getattr(self.broker, "log", None)
        if log is not None:
            log.log(level, text)

    def _sender(self, msg: Message) -> ModuleLink:
        link = self.by_uuid.get(msg.route_first or "")
        if link is None:
            raise RequestError(errno.EPROTO, "this request is only for modules")
        return link

    def _lookup(self, name: str) -> Optional[ModuleLink]:
        link = self.modules.get(name)
        if link is not None:
            return link
        for link in self.modules.values():  # the name may also be the path
            if link.path == name:
                return link
        return None

    # -- module.load -----------------------------------------------------------------------

    def _load(self, msg: Message) -> None:
        obj = msg.payload_json()
        path = obj.get("path")
        args = obj.get("args") or []
        name = obj.get("name")
        use_exec = obj.get("exec", False)
        if (not isinstance(path, str) or not path or not isinstance(args, list)
                or not all(isinstance(a, str) for a in args)
                or (name is not None and not isinstance(name, str))):
            raise RequestError(errno.EPROTO)
        if "/" not in path:
            found = find_module(path, self.environ.get("FLUX_MODULE_PATH", ""))
            if found is None:
                raise RequestError(errno.ENOENT, f"{path}: module not found in FLUX_MODULE_PATH")
            path = found
        else:
            path = os.path.abspath(path)
            if not os.path.isfile(path):
                raise RequestError(errno.ENOENT, f"{path}: No such file or directory")
        if not path.endswith(".py"):
            raise RequestError(errno.EINVAL, f"{os.path.basename(path)}: only Python (.py) modules are supported")
        if not name:
            name = os.path.basename(path)[:-3]
        if not name or "." in name:
            raise RequestError(errno.EINVAL, f"invalid module name {name!r}")
        if name in self.modules or name in self.router.services:
            raise RequestError(errno.EEXIST)
        if not use_exec:
            use_exec = (self.attrs.get("module.exec") or "0").lower() in _TRUE or \
                self.environ.get("FLUX_MODULE_EXEC", "").lower() in _TRUE
        link = ModuleLink(self, name, path, args)
        self.router.service_add(name, link)
        self.router.add_peer(link)
        self.modules[name] = link
        self.by_uuid[link.uuid] = link
        try:
            self._spawn(link, bool(use_exec))
        except OSError as exc:
            self.router.remove_peer(link)
            self.modules.pop(name, None)
            self.by_uuid.pop(link.uuid, None)
            raise RequestError(exc.errno or errno.EINVAL, f"{name}: {exc.strerror or exc}") from None
        link.load_req = msg
        link.write(b"\x00" + encode_stream(self._welcome(link)))
        link.tx -= 1

    def _welcome(self, link: ModuleLink) -> Message:
        attrs = self.attrs
        immutable = {}
        values = getattr(attrs, "_values", {})
        flags = getattr(attrs, "_flags", {})
        for key, value in values.items():
            if flags.get(key, 0) & 1:
                immutable[key] = value
        conf = getattr(self.broker, "conf", None)
        if not isinstance(conf, dict):
            conf = {}
        w = Message(_REQUEST)
        w.topic = "welcome"
        w.payload_bytes = encode_json({"args": link.args, "attrs": immutable, "conf": conf,
                                       "name": link.name, "uuid": link.uuid})
        w.flags |= _ROUTE
        w.routes = [self.router.uuid]
        w.userid = self.owner
        w.rolemask = _OWNER_LOCAL
        w.aux2 = 0
        return w

    # -- processes --------------------------------------------------------------------------

    def _preload(self) -> None:
        """Import what a module process needs, once, before the first fork."""
        if self._preloaded:
            return
        self._preloaded = True
        import importlib.util  # noqa: F401
        import resource  # noqa: F401
        import traceback  # noqa: F401

        import flux.brokermod  # noqa: F401
        import flux.core.handle  # noqa: F401
        import flux.core.module_exec  # noqa: F401
        import flux.core.watchers  # noqa: F401
        import flux.future  # noqa: F401
        import flux.rpc  # noqa: F401
        try:
            import ctypes  # noqa: F401  (parent-death signal, process name)

            self._libc = ctypes.CDLL(None, use_errno=True)
        except Exception:  # noqa: BLE001
            self._libc = None

    def _spawn(self, link: ModuleLink, use_exec: bool) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if use_exec:
                self._spawn_exec(link, child)
            else:
                self._spawn_fork(link, parent, child)
        except OSError:
            parent.close()
            child.close()
            raise
        child.close()
        parent.setblocking(False)
        link.sock = parent
        link.fd = parent.fileno()
        self.loop.add_reader(link.fd, link.on_io)
        try:
            link.pidfd = os.pidfd_open(link.pid)
            self.loop.add_reader(link.pidfd, lambda events, lk=link: lk.reap())
        except (AttributeError, OSError):
            link.poll_timer = self.loop.call_later(0.05, link.reap, interval=0.05)

    def _spawn_exec(self, link: ModuleLink, child: socket.socket) -> None:
        import subprocess

        fd = child.fileno()
        env = dict(self.environ)
        env["FLUX_MODULE_URI"] = f"fd://{fd}"
        exe_dir = os.path.dirname(os.path.abspath(sys.executable))
        flux_cmd = os.path.join(exe_dir, "flux")
        if os.access(flux_cmd, os.X_OK):
            cmd = [flux_cmd, "module-python-exec", link.path]
        else:
            cmd = [sys.executable, "-m", "flux.cmd.main", "module-python-exec", link.path]
        kwargs: dict[str, Any] = {}
        if sys.version_info >= (3, 11):
            kwargs["process_group"] = 0
        link.popen = subprocess.Popen(cmd, env=env, pass_fds=(fd,), close_fds=True, **kwargs)
        link.pid = link.popen.pid

    def _spawn_fork(self, link: ModuleLink, parent: socket.socket, child: socket.socket) -> None:
        self._preload()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        pid = os.fork()
        if pid == 0:  # the module process
            code = 127
            try:
                code = self._child(link, child.fileno())
            except BaseException:  # noqa: BLE001
                try:
                    import traceback

                    traceback.print_exc()
                except Exception:  # noqa: BLE001
                    pass
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                except Exception:  # noqa: BLE001
                    pass
                os._exit(code)
        link.pid = pid

    def _child(self, link: ModuleLink, fd: int) -> int:
        """In the forked child: become a clean module process and run the module."""
        from flux.proctitle import set_proctitle

        set_proctitle(link.name, f"flux-module {link.name}")  # not the broker's "flux start ..."
        try:
            os.setpgid(0, 0)  # a terminal's Ctrl-C is the broker's business
        except OSError:
            pass
        try:
            signal.set_wakeup_fd(-1)
        except (ValueError, OSError):
            pass
        for signum in range(1, signal.NSIG):
            if signum in (signal.SIGKILL, signal.SIGSTOP):
                continue
            try:
                if signum == signal.SIGINT:
                    signal.signal(signum, signal.default_int_handler)
                elif signum == signal.SIGPIPE:
                    signal.signal(signum, signal.SIG_IGN)  # as in a fresh Python
                elif signal.getsignal(signum) not in (signal.SIG_DFL, None):
                    signal.signal(signum, signal.SIG_DFL)
            except (OSError, ValueError, RuntimeError):
                pass
        libc = getattr(self, "_libc", None)
        if libc is not None:
            try:
                libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
            except Exception:  # noqa: BLE001
                pass
        os.closerange(3, fd)
        os.closerange(fd + 1, 1 << 16)
        os.environ["FLUX_MODULE_URI"] = f"fd://{fd}"
        from flux.core import module_exec

        return module_exec.main([link.path])

    # -- module.status -------------------------------------------------------------------------

    def _status(self, msg: Message) -> None:
        link = self._sender(msg)
        obj = msg.payload_json()
        status = obj.get("status")
        if not isinstance(status, int):
            raise RequestError(errno.EPROTO)
        if status == FLUX_MODSTATE_RUNNING:
            if link.state == FLUX_MODSTATE_INIT:
                link.state = FLUX_MODSTATE_RUNNING
                if link.load_req is not None:
                    req, link.load_req = link.load_req, None
                    self.router.respond(req)
        elif status == FLUX_MODSTATE_FINALIZING:
            link.state = FLUX_MODSTATE_FINALIZING
        elif status == FLUX_MODSTATE_EXITED:
            link.state = FLUX_MODSTATE_EXITED
            link.exited = True
            errnum = obj.get("errnum", 0)
            link.errnum = errnum if isinstance(errnum, int) else errno.EINVAL
            errstr = obj.get("errstr")
            link.errstr = errstr if isinstance(errstr, str) else None
        else:
            raise RequestError(errno.EINVAL, f"invalid module status {status}")
        self.router.respond(msg)

    # -- module.remove --------------------------------------------------------------------------

    def _remove(self, msg: Message) -> None:
        obj = msg.payload_json()
        name = obj.get("name")
        cancel = obj.get("cancel", False)
        if not isinstance(name, str):
            raise RequestError(errno.EPROTO)
        link = self._lookup(name)
        if link is None or link.finished:
            raise RequestError(errno.ENOENT)
        link.remove_reqs.append(msg)
        if cancel:
            link.cancelled = True
            link.kill()
            return
        if not link.removing:
            link.removing = True
            if link.state < FLUX_MODSTATE_FINALIZING and not link.eof:
                link.write(encode_stream(self._shutdown_msg(link)))

    def _shutdown_msg(self, link: ModuleLink) -> Message:
        m = Message(_REQUEST)
        m.topic = f"{link.name}.shutdown"
        m.flags |= _ROUTE | _NORESPONSE
        m.routes = [self.router.uuid]
        m.userid = self.owner
        m.rolemask = _OWNER_LOCAL
        m.aux2 = 0
        return m

    def config_changed(self, conf: dict) -> None:
        """Give every running module the new config (``NAME.config-reload``)."""
        for link in self.modules.values():
            if link.state != FLUX_MODSTATE_RUNNING or link.eof:
                continue
            m = self._shutdown_msg(link)
            m.topic = f"{link.name}.config-reload"
            m.payload = conf
            link.write(encode_stream(m))

    # -- module.list -----------------------------------------------------------------------------

    def _list(self, msg: Message) -> None:
        now = time.monotonic()
        mods = []
        for link in self.modules.values():
            mods.append({
                "name": link.name,
                "path": link.path,
                "idle": int(now - link.last_rx),
                "status": link.state,
                "services": sorted(s for s in link.services if s != link.name),
                "sendqueue": len(link.out),
                "recvqueue": 0,
                "pid": link.pid,
            })
        self.router.respond(msg, {"mods": mods})

    # -- events ------------------------------------------------------------------------------------

    def _subscribe(self, msg: Message) -> None:
        link = self._sender(msg)
        topic = msg.payload_json().get("topic")
        if not isinstance(topic, str):
            raise RequestError(errno.EPROTO)
        subscribe(link.subs, topic)
        self.subscribers.add(link)
        self.router.respond(msg)

    def _unsubscribe(self, msg: Message) -> None:
        link = self._sender(msg)
        topic = msg.payload_json().get("topic")
        if not isinstance(topic, str):
            raise RequestError(errno.EPROTO)
        if unsubscribe(link.subs, topic):
            self.subscribers.discard(link)
        self.router.respond(msg)

    def send_event(self, msg: Message) -> None:
        """Event sink: deliver to every module with a matching subscription."""
        if not self.subscribers:
            return
        topic = msg.topic or ""
        data = None
        for link in tuple(self.subscribers):
            for prefix in link.subs:
                if topic.startswith(prefix):
                    break
            else:
                continue
            if data is None:
                msg.flags |= _ROUTE
                data = encode_stream(msg)
            if link.traced:
                self.tracer.trace("rx", link.name, msg)
            link.write(data)

    # -- services registered by modules ------------------------------------------------------------

    def _service_add(self, msg: Message) -> None:
        link = self._sender(msg)
        name = msg.payload_json().get("service")
        if not isinstance(name, str):
            raise RequestError(errno.EPROTO)
        self.router.service_add(name, link)
        link.services.add(name)
        self.router.respond(msg)

    def _service_remove(self, msg: Message) -> None:
        link = self._sender(msg)
        name = msg.payload_json().get("service")
        if not isinstance(name, str):
            raise RequestError(errno.EPROTO)
        self.router.service_remove(name, link)
        link.services.discard(name)
        self.router.respond(msg)

    # -- broker shutdown -----------------------------------------------------------------------------

    def close(self, timeout: float = 2.0) -> None:
        """Unload every module (shutdown, then SIGKILL after ``timeout``), reap them all.

        Runs after the broker's loop has stopped, so it serves the module
        sockets itself: it acknowledges FINALIZING and answers other requests
        ENOSYS until each module closed its socket.
        """
        import select

        links = [lk for lk in self.modules.values() if not lk.finished]
        if not links:
            return
        for link in links:
            link.removing = True
            if not link.eof and link.sock is not None:
                if link.state < FLUX_MODSTATE_FINALIZING:
                    link.out.append(encode_stream(self._shutdown_msg(link)))
                self._blocking_flush(link)
        deadline = time.monotonic() + timeout
        while True:
            live = [lk for lk in links if not lk.eof and lk.sock is not None]
            remaining = deadline - time.monotonic()
            if not live or remaining <= 0:
                break
            try:
                ready, _, _ = select.select([lk.sock for lk in live], [], [], min(remaining, 0.5))
            except (OSError, ValueError):
                break
            for sock in ready:
                link = next(lk for lk in live if lk.sock is sock)
                self._drain_at_close(link)
        for link in links:
            if not link.eof:
                link.kill()
                self._close_link_quietly(link)
        end = time.monotonic() + timeout
        for link in links:
            if link.reaped or not link.pid:
                continue
            if link.popen is not None:
                try:
                    link.popen.wait(timeout=max(0.1, end - time.monotonic()))
                except Exception:  # noqa: BLE001
                    link.kill()
                    link.popen.wait()
            else:
                while True:
                    try:
                        pid, _ = os.waitpid(link.pid, os.WNOHANG)
                    except ChildProcessError:
                        break
                    if pid:
                        break
                    if time.monotonic() > end:
                        link.kill()
                        try:
                            os.waitpid(link.pid, 0)
                        except ChildProcessError:
                            pass
                        break
                    time.sleep(0.005)
            link.reaped = True
            if link.pidfd is not None:
                try:
                    os.close(link.pidfd)
                except OSError:
                    pass
                link.pidfd = None
        self.modules.clear()
        self.by_uuid.clear()
        self.subscribers.clear()

    def _blocking_flush(self, link: ModuleLink) -> None:
        if not link.out or link.sock is None:
            return
        data = b"".join(bytes(x) for x in link.out)
        link.out = []
        try:
            link.sock.setblocking(True)
            link.sock.settimeout(1.0)
            link.sock.sendall(data)
        except OSError:
            pass
        finally:
            try:
                link.sock.setblocking(False)
            except OSError:
                pass

    def _drain_at_close(self, link: ModuleLink) -> None:
        try:
            data = link.sock.recv(_RECV_SIZE)  # type: ignore[union-attr]
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close_link_quietly(link)
            return
        try:
            msgs = link.decoder.feed(data)
        except ProtocolError:
            link.kill()
            self._close_link_quietly(link)
            return
        for msg in msgs:
            if msg.type != _REQUEST or msg.flags & _NORESPONSE:
                continue
            r = Message(_RESPONSE)
            r.flags = _ROUTE
            r.topic = msg.topic
            r.aux2 = msg.aux2
            r.userid = self.owner
            r.rolemask = _OWNER_LOCAL
            if msg.topic != "module.status":
                r.aux1 = errno.ENOSYS
            link.out.append(encode_stream(r))
        self._blocking_flush(link)

    def _close_link_quietly(self, link: ModuleLink) -> None:
        link.eof = True
        if link.sock is not None:
            try:
                self.loop.remove(link.fd)
            except Exception:  # noqa: BLE001
                pass
            try:
                link.sock.close()
            except OSError:
                pass

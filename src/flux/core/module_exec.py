"""The Python broker module runtime: what runs inside a module process.

``main([PATH])`` is ``flux module-python-exec PATH``.  The broker normally
forks a process that calls it directly (its modules are already imported);
with the exec form (``-S module.exec=1``) a fresh ``flux module-python-exec``
runs it.  Both follow flux-core's module life cycle on ``$FLUX_MODULE_URI``
(``fd://N``, one end of a socketpair):

1. receive the ``welcome`` request (args, immutable attributes, config, name,
   uuid) and never answer it; cache attributes and config in the handle;
2. subscribe ``<name>.stats-clear`` and register the default methods
   (ping, stats-get, stats-clear, debug, rusage, config-reload,
   config-update, shutdown);
3. report RUNNING (``module.status {"status":1}``, no response) on the first
   reactor iteration, or earlier if the module calls ``set_running()``;
4. import PATH, find its entry point, call ``mod_main(h, *args)``;
5. map the outcome to an errno (OSError -> its errno, ValueError -> EINVAL,
   anything else -> ECONNRESET with a traceback), then finalize:
   ``module.status {"status":2}`` as an RPC (10 s), ENOSYS for requests
   still queued, ``module.status {"status":3,"errnum":E}``.

pureflux adds an optional ``"errstr"`` to the EXITED status so ``flux module
load`` can print why initialization failed; brokers that do not know the key
ignore it.
"""

from __future__ import annotations

import errno
import os
import sys
import time

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from types import ModuleType
    from typing import Callable, Iterable, Optional

    from flux.core.connection import Connection
    from flux.core.handle import Flux

from flux.constants import (
    FLUX_MODSTATE_EXITED,
    FLUX_MODSTATE_FINALIZING,
    FLUX_MODSTATE_RUNNING,
    FLUX_MSGFLAG_NORESPONSE,
    FLUX_MSGTYPE_EVENT,
    FLUX_MSGTYPE_REQUEST,
    FLUX_ROLE_ALL,
    FLUX_ROLE_USER,
    FLUX_RPC_NORESPONSE,
)
from flux.core.connection import SPIN_STREAK
from flux.core.default_methods import ping_reply, rusage_reply
from flux.proctitle import set_proctitle
from flux.severity import LOG_ERR
from flux.message import compact_json  # the runtime is C in flux-core: compact JSON

__all__ = ["main", "initialize", "register_handlers", "finalize", "load_file", "USAGE"]

USAGE = "Usage: flux module-python-exec PATH"
PROG = "flux-module-python-exec"
FINALIZE_TIMEOUT = 10.0

_TYPES = {1: "request", 2: "response", 4: "event", 8: "control"}


def _err(text: str) -> None:
    try:
        sys.stderr.write(f"{PROG}: {text}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


# -- 1. welcome ----------------------------------------------------------------------


def initialize(h):
    """Receive the welcome and set up the handle; returns (name, uuid, args)."""
    msg = h.recv(type_mask=FLUX_MSGTYPE_REQUEST, topic_glob="welcome")
    obj = msg.payload_json() if msg is not None else None
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        raise OSError(errno.EPROTO, "malformed welcome message")
    core = h._core
    name = obj["name"]
    uuid = obj.get("uuid") or ""
    attrs = obj.get("attrs") or {}
    if isinstance(attrs, dict):
        core.attr_cache.update({k: v for k, v in attrs.items() if isinstance(v, str)})
        rank = attrs.get("rank")
        if isinstance(rank, str) and rank.isdigit():
            core.rank = int(rank)
    conf = obj.get("conf")
    core.conf = conf if isinstance(conf, dict) else {}
    core.aux["flux::name"] = name
    core.aux["flux::uuid"] = uuid
    core.aux["flux::log_appname"] = name
    core.aux.setdefault("flux::debug_flags", 0)
    args = obj.get("args") or []
    # flux-core joins the args with spaces and the loader splits them again
    args = " ".join(str(a) for a in args).split()
    return name, uuid, args


# -- 2./3. default methods and RUNNING ------------------------------------------------------


class _Stats:
    """Message counters behind ``NAME.stats-get`` (hooked into the connection)."""

    def __init__(self, conn: Connection) -> None:
        self.tx = {1: 0, 2: 0, 4: 0, 8: 0}
        self.rx = {1: 0, 2: 0, 4: 0, 8: 0}
        tx = self.tx
        rx = self.rx
        send = conn.send
        read_nowait = conn.read_nowait

        def counting_send(msg):
            send(msg)
            tx[msg.type] = tx.get(msg.type, 0) + 1

        self.last_rx = 0.0
        # arrivals in a row that came within ``quick`` s of the one before (_start_spin)
        self.streak = 0
        self.quick = 0.0
        clock = time.monotonic

        def counting_read():
            msgs = read_nowait()
            if msgs:
                now = clock()
                if now - self.last_rx < self.quick:
                    self.streak += 1
                else:
                    self.streak = 0
                self.last_rx = now
                for m in msgs:
                    rx[m.type] = rx.get(m.type, 0) + 1
            return msgs

        # wrapped on this one instance, so the connection's code stays free of counters
        conn.send = counting_send  # type: ignore[method-assign]
        conn.read_nowait = counting_read  # type: ignore[method-assign]

    def clear(self) -> None:
        for d in (self.tx, self.rx):
            for k in d:
                d[k] = 0

    def get(self) -> dict:
        return {
            "tx": {_TYPES[k]: self.tx.get(k, 0) for k in (1, 2, 4, 8)},
            "rx": {_TYPES[k]: self.rx.get(k, 0) for k in (1, 2, 4, 8)},
        }


def _make_set_running(h):
    state = {"sent": False}

    def set_running() -> None:
        if state["sent"]:
            return
        state["sent"] = True
        try:
            h.rpc("module.status", compact_json({"status": FLUX_MODSTATE_RUNNING}),
                  flags=FLUX_RPC_NORESPONSE)
        except OSError:
            pass

    return set_running


def register_handlers(h: Flux, name: str, uuid: str) -> Callable[[], None]:
    """Default methods, the stats-clear subscription, the one-shot RUNNING report."""
    core = h._core
    stats = _Stats(core.conn)
    core.aux["flux::stats"] = stats
    set_running = _make_set_running(h)
    core.aux["flux::set_running"] = set_running

    def ping(h, w, msg, arg):
        try:
            h.respond(msg, compact_json(ping_reply(msg, uuid, h.get_rank())))
        except OSError as exc:
            h.respond_error(msg, exc.errno, None)

    def stats_get(h, w, msg, arg):
        h.respond(msg, compact_json(stats.get()))

    def stats_clear(h, w, msg, arg):
        stats.clear()
        if msg.type == FLUX_MSGTYPE_REQUEST:
            h.respond(msg)

    def debug(h, w, msg, arg):
        try:
            obj = msg.payload_json()
            op = obj["op"]
            value = obj["flags"]
        except (OSError, KeyError, TypeError):
            h.respond_error(msg, errno.EPROTO, None)
            return
        if not isinstance(value, int) or isinstance(value, bool):
            h.respond_error(msg, errno.EPROTO, None)
            return
        flags = core.aux.get("flux::debug_flags") or 0
        if op == "setbit":
            flags |= value
        elif op == "clrbit":
            flags &= ~value
        elif op == "set":
            flags = value
        elif op == "clr":
            flags = 0
        else:
            h.respond_error(msg, errno.EPROTO, f"unknown debug op {op!r}")
            return
        core.aux["flux::debug_flags"] = flags
        h.respond(msg, compact_json({"flags": flags}))

    def rusage(h, w, msg, arg):
        try:
            h.respond(msg, compact_json(rusage_reply(msg)))
        except OSError as exc:
            h.respond_error(msg, exc.errno, None)
        except ValueError as exc:
            h.respond_error(msg, errno.EINVAL, str(exc))

    def config_update(h, w, msg, arg):
        try:
            conf = msg.payload_json() if msg.payload_bytes else {}
        except OSError:
            h.respond_error(msg, errno.EPROTO, None)
            return
        if not isinstance(conf, dict):
            h.respond_error(msg, errno.EPROTO, None)
            return
        core.conf = conf
        h._cached_config = None
        h.respond(msg)

    def shutdown(h, w, msg, arg):
        h.reactor_stop()

    table = [
        ("ping", ping, FLUX_ROLE_USER, FLUX_MSGTYPE_REQUEST),
        ("stats-get", stats_get, FLUX_ROLE_ALL, FLUX_MSGTYPE_REQUEST),
        ("stats-clear", stats_clear, None, FLUX_MSGTYPE_REQUEST),
        ("stats-clear", stats_clear, None, FLUX_MSGTYPE_EVENT),
        ("debug", debug, None, FLUX_MSGTYPE_REQUEST),
        ("rusage", rusage, FLUX_ROLE_USER, FLUX_MSGTYPE_REQUEST),
        ("config-reload", config_update, None, FLUX_MSGTYPE_REQUEST),
        ("config-update", config_update, None, FLUX_MSGTYPE_REQUEST),
        ("shutdown", shutdown, None, FLUX_MSGTYPE_REQUEST),
    ]
    watchers = []
    for method, cb, roles, mtype in table:
        w = h.msg_watcher_create(cb, mtype, f"{name}.{method}", rolemask=roles)
        w.start()
        watchers.append(w)
    core.aux["flux::default_watchers"] = watchers
    # sent now, answered while the module starts (saves a round trip at load)
    core.aux["flux::stats_clear_sub"] = h.rpc("event.subscribe",
                                              compact_json({"topic": f"{name}.stats-clear"}))

    def on_prepare(h, w, revents, arg):
        w.stop()
        w.destroy()
        set_running()

    p = h.prepare_watcher_create(on_prepare)
    p.start()
    core.aux["flux::running_watcher"] = p
    _start_spin(h, stats)
    return set_running


def _start_spin(h: Flux, stats: _Stats) -> None:
    """Poll without sleeping for SPIN_US after traffic, like the broker does.

    A request usually brings another one (or the reply to the module's own
    RPC) within tens of microseconds, and waking a sleeping process costs
    about as much.  While the window is open an idle watcher keeps the
    reactor polling with a zero timeout (yielding the CPU on every empty
    pass); afterwards the module blocks in the kernel and uses no CPU.
    ``FLUX_MODULE_SPIN_US=0`` disables it.  As in the broker's loop, the
    window opens only while traffic is heavy (SPIN_STREAK quick arrivals in a
    row) unless ``FLUX_SPIN_POLICY=always``.
    """
    try:
        spin = float(os.environ.get("FLUX_MODULE_SPIN_US", "150")) / 1e6
    except ValueError:
        spin = 0.0
    if spin <= 0:
        return
    stats.quick = spin
    need = 0 if os.environ.get("FLUX_SPIN_POLICY", "adaptive") == "always" else SPIN_STREAK
    clock = time.monotonic
    yield_cpu = getattr(os, "sched_yield", lambda: None)

    def on_idle(h, w, revents, arg):
        yield_cpu()

    idle = h.idle_watcher_create(on_idle)
    idle.unref()
    state = {"on": False}

    def on_prepare(h, w, revents, arg):
        if stats.streak >= need and clock() - stats.last_rx < spin:
            if not state["on"]:
                state["on"] = True
                idle.start()
        elif state["on"]:
            state["on"] = False
            idle.stop()

    p = h.prepare_watcher_create(on_prepare)
    p.unref()
    p.start()
    h._core.aux["flux::spin_watchers"] = (idle, p)


# -- 4. the module file --------------------------------------------------------------------


def load_file(path: str) -> ModuleType:
    """Import the module file at ``path`` as a fresh module object."""
    import importlib.util

    stem = os.path.splitext(os.path.basename(path))[0] or "module"
    modname = stem if stem.isidentifier() and stem not in sys.modules else f"flux_module_{abs(hash(path))}"
    spec = importlib.util.spec_from_file_location(modname, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path}: not a Python module file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(modname, None)
        raise
    return module


# -- 5. finalize -------------------------------------------------------------------------------


def finalize(h: Flux, errnum: int, errstr: Optional[str] = None) -> None:
    """FINALIZING (wait for the ack), ENOSYS for queued requests, EXITED."""
    core = h._core
    if core.lost is not None:
        return
    try:
        f = h.rpc("module.status", compact_json({"status": FLUX_MODSTATE_FINALIZING}))
        f.wait_for(FINALIZE_TIMEOUT)
        f.get()
    except OSError:
        if core.lost is not None:
            return
    pending = list(core.backlog)
    core.backlog.clear()
    try:
        while True:
            more = core.conn.read_nowait()
            if not more:
                break
            pending.extend(more)
    except OSError:
        return
    for msg in pending:
        if msg.type == FLUX_MSGTYPE_REQUEST and not msg.flags & FLUX_MSGFLAG_NORESPONSE:
            try:
                h.respond_error(msg, errno.ENOSYS, None)
            except OSError:
                return
    payload: dict = {"status": FLUX_MODSTATE_EXITED, "errnum": int(errnum)}
    if errnum and errstr:
        payload["errstr"] = str(errstr)[:200]
    try:
        h.rpc("module.status", compact_json(payload), flags=FLUX_RPC_NORESPONSE)
    except OSError:
        pass


def _log(h: Flux, level: int, text: str) -> bool:
    try:
        h.log(level, text)
        return True
    except Exception:  # noqa: BLE001 - the link may be gone
        return False


def _stderr_echoed(h: Flux, level: int) -> bool:
    """True if the broker prints a record of ``level`` on its stderr itself."""
    try:
        return level <= int(h.attr_get("log-stderr-level"))
    except (OSError, ValueError, KeyError, TypeError):
        return False


def run_module(h: Flux, path: str, name: str, args: list[str]) -> tuple[int, Optional[str]]:
    """Import, resolve and call the entry point; returns (errnum, errstr)."""
    from flux.brokermod import resolve_entry_point

    try:
        module = load_file(path)
        entry = resolve_entry_point(module)
        entry(h, *args)
    except SystemExit as exc:
        if exc.code in (None, 0):
            return 0, None
        text = f"exited with status {exc.code}"
        _report(h, name, text)
        return errno.ECONNRESET, text
    except ValueError as exc:
        text = str(exc) or "Invalid argument"
        _report(h, name, text)
        return errno.EINVAL, text
    except OSError as exc:
        code = exc.errno or errno.ECONNRESET
        text = exc.strerror or str(exc) or os.strerror(code)
        _report(h, name, text)
        return code, text
    except BaseException as exc:  # noqa: BLE001 - any failure ends the module
        import traceback

        tb = traceback.format_exc()
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if not (_log(h, LOG_ERR, f"{name}: {tb}") and _stderr_echoed(h, LOG_ERR)):
            sys.stderr.write(tb)
            sys.stderr.flush()
        return errno.ECONNRESET, text
    return 0, None


def _report(h: Flux, name: str, text: str) -> None:
    if not (_log(h, LOG_ERR, f"{name}: {text}") and _stderr_echoed(h, LOG_ERR)):
        _err(f"{name}: {text}")


def main(argv: Iterable[str]) -> int:
    """``flux module-python-exec PATH``; returns the process exit code."""
    argv = list(argv)
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        _err(USAGE)
        return 1
    path = argv[0]
    uri = os.environ.get("FLUX_MODULE_URI")
    if not uri:
        _err("FLUX_MODULE_URI is not set (this command is run by the broker)")
        return 1
    from flux.core.handle import Flux

    try:
        h = Flux(uri)
        name, uuid, args = initialize(h)
    except OSError as exc:
        _err(f"{path}: {exc.strerror or exc}")
        return 1
    set_proctitle(name)  # what ps and top show: the module, not the interpreter
    sys.argv = [path, *args]
    try:
        register_handlers(h, name, uuid)
    except OSError as exc:
        _err(f"{name}: {exc.strerror or exc}")
        return 1
    errnum, errstr = run_module(h, path, name, args)
    finalize(h, errnum, errstr)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    return 1 if errnum else 0

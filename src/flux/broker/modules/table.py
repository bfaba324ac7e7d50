"""The module table and the ``module`` service (load, remove, list, status).

``module.load`` finds the file (a path, or ``NAME`` on ``FLUX_MODULE_PATH``),
starts its process (spawn.py) and links it (link.py); it is answered when
the module reports RUNNING, or fails with the module's error if it exits
first.  ``module.remove`` asks the module to shut down (``cancel``: kills
it) and is answered once the module is gone.  ``module.status`` is the
module's own report, handed to its link; ``module.trace`` is served by
module_trace.py, fed by the links.  When the broker exits,
:meth:`ModuleTable.shutdown` unloads every module on the broker's loop.
"""

from __future__ import annotations

import errno
import os
import time
from typing import TYPE_CHECKING, Any, Callable, Optional

from flux.constants import FLUX_ROLE_USER
from flux.message import Message

from ..module_trace import ModuleTracer
from ..router import RequestError
from .link import ModuleLink
from .spawn import Spawner

if TYPE_CHECKING:  # pragma: no cover
    from ..attrs import Attrs
    from ..events import Events
    from ..loop import Loop, Timer
    from ..router import Router

__all__ = ["ModuleTable", "find_module"]

_TRUE = ("1", "true", "yes", "on")
SHUTDOWN_GRACE = 2.0  # s a module has to exit when the broker does, before SIGKILL


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


class ModuleTable:
    """The loaded modules, by name and by uuid, and the ``module`` service."""

    def __init__(self, loop: Loop, router: Router, events: Events, attrs: Attrs, owner: int,
                 environ: dict[str, str], conf: Callable[[], dict[str, Any]],
                 log: Optional[Callable[[int, str], None]] = None,
                 spawner: Optional[Spawner] = None) -> None:
        self.loop = loop
        self.router = router
        self.events = events
        self.attrs = attrs
        self.owner = owner
        self.environ = environ
        self.conf = conf  # the instance's config as it is now
        self.log = log or (lambda level, text: None)
        self.spawner = spawner or Spawner(environ)
        self.modules: dict[str, ModuleLink] = {}
        self.by_uuid: dict[str, ModuleLink] = {}
        # broker exit: called once the table is empty (see shutdown)
        self._on_empty: Optional[Callable[[], None]] = None
        self._shutdown_timers: list[Timer] = []
        self.closing = False
        if "module.exec" not in attrs:
            attrs.add("module.exec", "0")
        svc = router.builtin("module")
        svc.method("load", self._load)
        svc.method("remove", self._remove)
        svc.method("list", self._list, FLUX_ROLE_USER)
        svc.method("status", self._status)
        self.tracer = ModuleTracer(router)  # module.trace (module_trace.py)
        self.tracer.register(svc)
        svc.method("disconnect", self.tracer.disconnect)

    # -- the table --------------------------------------------------------------------

    def lookup(self, name: str) -> Optional[ModuleLink]:
        """The module called ``name``, or loaded from the path ``name``."""
        link = self.modules.get(name)
        if link is not None:
            return link
        for link in self.modules.values():
            if link.path == name:
                return link
        return None

    def forget(self, link: ModuleLink) -> None:
        """A module is gone (its link's last state change)."""
        if self.modules.get(link.name) is link:
            del self.modules[link.name]
        self.by_uuid.pop(link.uuid, None)
        if self._on_empty is not None and not self.modules:
            self._emptied()

    def _sender(self, msg: Message) -> ModuleLink:
        link = self.by_uuid.get(msg.route_first or "")
        if link is None:
            raise RequestError(errno.EPROTO, "this request is only for modules")
        return link

    # -- module.load ----------------------------------------------------------------------

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
        if self.closing:
            raise RequestError(errno.EAGAIN, "the broker is shutting down")
        path = self._resolve(path)
        if not name:
            name = os.path.basename(path)[:-3]
        if not name or "." in name:
            raise RequestError(errno.EINVAL, f"invalid module name {name!r}")
        if name in self.modules or name in self.router.services:
            raise RequestError(errno.EEXIST)
        if not use_exec:
            use_exec = (self.attrs.get("module.exec") or "0").lower() in _TRUE or \
                self.environ.get("FLUX_MODULE_EXEC", "").lower() in _TRUE
        try:
            sock, process = self.spawner.start(name, path, bool(use_exec))
        except OSError as exc:
            raise RequestError(exc.errno or errno.EINVAL, f"{name}: {exc.strerror or exc}") from None
        link = ModuleLink(self, name, path, args, sock, process)
        self.router.service_add(name, link)
        self.router.add_peer(link)
        self.modules[name] = link
        self.by_uuid[link.uuid] = link
        link.load_req = msg
        conf = self.conf()
        link.welcome(self.attrs.immutable(), conf if isinstance(conf, dict) else {})

    def _resolve(self, path: str) -> str:
        """The module file's absolute path: ENOENT if missing, EINVAL if not Python."""
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
            raise RequestError(errno.EINVAL,
                               f"{os.path.basename(path)}: only Python (.py) modules are supported")
        return path

    # -- module.remove, module.status, module.list -------------------------------------------

    def _remove(self, msg: Message) -> None:
        obj = msg.payload_json()
        name = obj.get("name")
        cancel = obj.get("cancel", False)
        if not isinstance(name, str):
            raise RequestError(errno.EPROTO)
        link = self.lookup(name)
        if link is None:
            raise RequestError(errno.ENOENT)
        link.unload(msg, cancel=bool(cancel))

    def _status(self, msg: Message) -> None:
        self._sender(msg).report(msg.payload_json())
        self.router.respond(msg)

    def _list(self, msg: Message) -> None:
        now = time.monotonic()
        self.router.respond(msg, {"mods": [link.info(now) for link in self.modules.values()]})

    def config_changed(self, conf: dict[str, Any]) -> None:
        """Give every running module the new config (``NAME.config-reload``)."""
        for link in self.modules.values():
            link.config_reload(conf)

    # -- broker exit -------------------------------------------------------------------------

    def shutdown(self, done: Callable[[], None], grace: float = SHUTDOWN_GRACE) -> None:
        """Unload every module on the broker's loop, then call ``done()`` once.

        Each module is asked to shut down as by ``flux module remove``; those
        still running after ``grace`` s are killed, and ``done`` runs when the
        table is empty (at the latest ``grace`` s after the kill).  Asked
        again while waiting: kill them all now.
        """
        if self.closing:
            self.kill_all()
            return
        self.closing = True
        self._on_empty = done
        if not self.modules:
            self._emptied()
            return
        for link in list(self.modules.values()):
            link.unload(None)
        self._shutdown_timers = [self.loop.call_later(grace, self.kill_all),
                                 self.loop.call_later(2 * grace, self._emptied)]

    def kill_all(self) -> None:
        """SIGKILL every module (each is forgotten once reaped)."""
        for link in list(self.modules.values()):
            link.unload(None, cancel=True)

    def _emptied(self) -> None:
        done, self._on_empty = self._on_empty, None
        for timer in self._shutdown_timers:
            timer.cancel()
        self._shutdown_timers = []
        if done is not None:
            done()

    def close(self, timeout: float = SHUTDOWN_GRACE) -> None:
        """After the loop stopped: kill and reap whatever is left (normally nothing)."""
        self.closing = True
        for link in list(self.modules.values()):
            link.kill_and_reap(timeout)
        self.modules.clear()
        self.by_uuid.clear()

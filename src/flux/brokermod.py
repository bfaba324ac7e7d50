"""Python broker modules: ``BrokerModule``, its handler decorators, ``BrokerLogger``.

A broker module is a ``.py`` file loaded with ``flux module load``.  It runs in
its own process (see :mod:`flux.core.module_exec`) connected to the broker by
a socketpair, and defines either ``mod_main(h, *args)`` or exactly one
:class:`BrokerModule` subclass::

    from flux.brokermod import BrokerModule, request_handler

    class Echo(BrokerModule):
        @request_handler("echo", allow_guest=True)
        def echo(self, msg):
            self.handle.respond(msg, msg.payload)

The public names are flux-core's, so module files written for flux-core load
unchanged.

``ffi`` and ``lib``: flux-core reaches libflux through cffi objects of these
names, and its tests replace them with mocks.  Here they are small pure-Python
shims with the few members this module uses (``ffi.NULL``, ``ffi.cast``,
``ffi.string``; ``ffi.new`` makes the out-arrays that ``msg.pimpl`` getters
fill; ``lib.flux_aux_get``, ``lib.flux_module_set_running``,
``lib.flux_module_debug_test``, ``lib.FLUX_ROLE_OWNER``,
``lib.FLUX_ROLE_USER``).  Every access goes through them at call time, so a
test that patches ``flux.brokermod.ffi``/``lib`` sees its mocks used.
"""

from __future__ import annotations

import errno as _errno

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from types import ModuleType
    from typing import Any, Callable, TypeVar

    from flux.core.handle import Flux
    from flux.core.watchers import MessageWatcher
    from flux.message import Message

    _F = TypeVar("_F", bound=Callable[..., Any])

from flux import severity
from flux.constants import (
    FLUX_MSGTYPE_EVENT,
    FLUX_MSGTYPE_REQUEST,
    FLUX_ROLE_OWNER,
    FLUX_ROLE_USER,
)
from flux.severity import (
    LOG_ALERT,
    LOG_CRIT,
    LOG_DEBUG,
    LOG_EMERG,
    LOG_ERR,
    LOG_INFO,
    LOG_NOTICE,
    LOG_WARNING,
)

__all__ = [
    "BrokerLogger",
    "BrokerModule",
    "event_handler",
    "request_handler",
    "resolve_entry_point",
]

DEBUG_FLAGS_KEY = "flux::debug_flags"


# -- cffi stand-ins -------------------------------------------------------------------


class _FFI:
    """The part of a cffi ``FFI`` object that this module uses."""

    NULL = None

    @staticmethod
    def cast(ctype: str, value: Any) -> Any:
        return value

    @staticmethod
    def string(value: Any) -> bytes:
        if isinstance(value, str):
            return value.encode("utf-8", "surrogateescape")
        return bytes(value)

    @staticmethod
    def new(ctype: str, init: Any = None) -> list[Any]:
        """An out-array for a C getter: ``new("uint32_t [1]")`` -> ``[0]``, ``new("char *[1]")`` -> ``[NULL]``.

        ``TYPE [N]`` gives N elements, ``TYPE *`` one; pointer elements start
        NULL, others 0.  ``init`` (a value or a list of them) fills it.
        """
        text = ctype.strip()
        count = 1
        if text.endswith("]"):
            text, _, size = text[:-1].rpartition("[")
            count = int(size) if size.strip() else len(init or ())
        elif text.endswith("*"):
            text = text[:-1]
        out = [_FFI.NULL if "*" in text else 0] * count
        if init is not None:
            values = list(init) if isinstance(init, (list, tuple)) else [init]
            out[:len(values)] = values
        return out


def _core(handle: Any) -> Any:
    """The handle core (``Flux.handle``) behind a Flux object or a core."""
    return getattr(handle, "_core", handle)


def _key(key: str | bytes) -> str:
    return key.decode() if isinstance(key, bytes) else key


class _Lib:
    """The libflux functions and constants this module uses."""

    FLUX_ROLE_OWNER = FLUX_ROLE_OWNER
    FLUX_ROLE_USER = FLUX_ROLE_USER

    @staticmethod
    def flux_aux_get(handle: Any, key: str | bytes) -> Any:
        """The aux item, or NULL (also for something that is not a handle, as libflux)."""
        aux = getattr(_core(handle), "aux", None)
        value = aux.get(_key(key)) if isinstance(aux, dict) else None
        return _FFI.NULL if value is None else value

    @staticmethod
    def flux_aux_set(handle: Any, key: str | bytes, value: Any, destroy: Any = None) -> int:
        _core(handle).aux[_key(key)] = value
        return 0

    @staticmethod
    def flux_module_set_running(handle: Any) -> int:
        hook = _core(handle).aux.get("flux::set_running")
        if hook is None:
            raise OSError(_errno.EINVAL, "set_running: not a broker module handle")
        hook()
        return 0

    @staticmethod
    def flux_module_debug_test(handle: Any, flag: int, clear: bool) -> bool:
        aux = _core(handle).aux
        flags = aux.get(DEBUG_FLAGS_KEY) or 0
        isset = bool(flags & flag)
        if isset and clear:
            aux[DEBUG_FLAGS_KEY] = flags & ~flag
        return isset


ffi = _FFI()
lib = _Lib()


# -- logging ----------------------------------------------------------------------------


def _at_level(level: int, name: str) -> Callable[[BrokerLogger, str], None]:
    """A ``BrokerLogger`` method that logs its message at ``level`` (``logger.info(msg)``...)."""

    def log(self: BrokerLogger, msg: str) -> None:
        self(level, msg)

    log.__name__ = log.__qualname__ = name
    log.__doc__ = f"Log ``msg`` at {name}."
    return log


class BrokerLogger:
    """Log to the broker (``flux dmesg``) with syslog severities.

    ``level`` is the threshold: messages with a priority numerically greater
    (less severe) are dropped here.  The default passes everything, leaving
    the filtering to the broker's own log level, as for C modules.
    """

    #: name -> priority, the syslog spellings (flux.severity is the one table)
    LEVEL_NAMES = {name: level for level, name in enumerate(severity.NAMES)}

    def __init__(self, h: Flux) -> None:
        self._h = h
        self._level = LOG_DEBUG

    @property
    def level(self) -> int:
        """The threshold as an int syslog priority (0 = emerg ... 7 = debug)."""
        return self._level

    @level.setter
    def level(self, value: int | str) -> None:
        self._level = self._parse_level(value)

    @property
    def level_name(self) -> str:
        """The threshold's name; a number outside 0-7 is named by itself ("99")."""
        return severity.name(self._level)

    @staticmethod
    def _parse_level(value: Any) -> int:
        """A name (or alias, or digit string) of a severity, or anything ``int()`` takes.

        Any integer is kept as it is, as flux-core does: the threshold is only
        compared with message priorities, so 99 passes everything and -1 nothing.
        """
        if isinstance(value, str):
            level = severity.parse(value)
            if level < 0:
                names = ", ".join(severity.NAMES)
                raise ValueError(f"invalid log level {value!r} (expected one of {names} or 0-7)")
            return level
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ValueError(f"invalid log level {value!r}") from None

    def __call__(self, level: int, msg: str) -> None:
        if level <= self._level:
            self._h.log(level, msg)

    debug = _at_level(LOG_DEBUG, "debug")
    info = _at_level(LOG_INFO, "info")
    notice = _at_level(LOG_NOTICE, "notice")
    warning = _at_level(LOG_WARNING, "warning")
    error = _at_level(LOG_ERR, "error")
    critical = _at_level(LOG_CRIT, "critical")
    alert = _at_level(LOG_ALERT, "alert")
    emerg = _at_level(LOG_EMERG, "emerg")


# -- decorators --------------------------------------------------------------------------


def request_handler(
    topic: str | bytes, prefix: bool = True, allow_guest: bool = False
) -> Callable[[_F], _F]:
    """Register the decorated method for requests to ``<name>.<topic>``.

    ``prefix=False`` uses ``topic`` as is; ``allow_guest=True`` also accepts
    requests from users other than the instance owner (FLUX_ROLE_USER).
    """

    def decorator(func: _F) -> _F:
        func._flux_handler = {  # type: ignore[attr-defined]  # the tag _register_handlers looks for
            "msgtype": FLUX_MSGTYPE_REQUEST,
            "topic": topic,
            "prefix": prefix,
            "allow_guest": allow_guest,
        }
        return func

    return decorator


def event_handler(topic: str | bytes, prefix: bool = True) -> Callable[[_F], _F]:
    """Register the decorated method for events ``<name>.<topic>`` (subscribed automatically)."""

    def decorator(func: _F) -> _F:
        func._flux_handler = {  # type: ignore[attr-defined]  # the tag _register_handlers looks for
            "msgtype": FLUX_MSGTYPE_EVENT,
            "topic": topic,
            "prefix": prefix,
        }
        return func

    return decorator


# -- the base class -------------------------------------------------------------------------


class BrokerModule:
    """Base class for Python broker modules.

    ``BrokerModule(h, *args)`` looks up the module name the broker assigned,
    registers every method tagged by :func:`request_handler` or
    :func:`event_handler` (subscribing to the events), and creates
    ``self.log``.  :meth:`run` runs the reactor until :meth:`stop`,
    :meth:`stop_error`, or ``flux module remove``.
    """

    def __init__(self, h: Flux, *args: Any) -> None:
        self._h = h
        self._args = tuple(args)
        self._error = False
        # flux-core tests the *cast* pointer against NULL (its tests mock
        # ffi.cast to return NULL), and names a module without one "unknown"
        name_p = ffi.cast("char *", lib.flux_aux_get(h.handle, b"flux::name"))
        self._name = ffi.string(name_p).decode() if name_p != ffi.NULL else "unknown"
        self.log = BrokerLogger(h)
        self._watchers: list[MessageWatcher] = []
        self._register_handlers()

    def _register_handlers(self) -> None:
        cls = type(self)
        seen = set()
        for klass in cls.__mro__:
            for attr, func in vars(klass).items():
                if attr in seen:
                    continue
                seen.add(attr)
                info = getattr(func, "_flux_handler", None)
                if not isinstance(info, dict) or not callable(func):
                    continue
                topic = info["topic"]
                if isinstance(topic, bytes):
                    topic = topic.decode()
                if info.get("prefix", True):
                    topic = f"{self._name}.{topic}"
                msgtype = info["msgtype"]
                rolemask = None
                if msgtype == FLUX_MSGTYPE_EVENT:
                    self._h.event_subscribe(topic)
                elif info.get("allow_guest"):
                    rolemask = lib.FLUX_ROLE_OWNER | lib.FLUX_ROLE_USER
                method = getattr(self, attr)
                watcher = self._h.msg_watcher_create(
                    _dispatcher(method), msgtype, topic, rolemask=rolemask
                )
                watcher.start()
                self._watchers.append(watcher)

    @property
    def handle(self) -> Flux:
        """The underlying ``flux.Flux`` handle."""
        return self._h

    @property
    def name(self) -> str:
        """The module name as assigned by the broker."""
        return self._name

    @property
    def args(self) -> tuple[Any, ...]:
        """Tuple of module arguments passed at load time."""
        return self._args

    def set_running(self) -> None:
        """Tell the broker the module is running (``flux module load`` returns)."""
        lib.flux_module_set_running(self._h.handle)

    def debug_test(self, flag: int, clear: bool = False) -> bool:
        """True if debug bit(s) ``flag`` are set (by ``flux module debug``); optionally clear them."""
        return bool(lib.flux_module_debug_test(self._h.handle, flag, clear))

    def stop(self) -> None:
        """Stop the reactor: :meth:`run` returns normally."""
        self._h.reactor_stop()

    def stop_error(self) -> None:
        """Stop the reactor with an error: :meth:`run` raises OSError."""
        self._error = True
        self._h.reactor_stop_error()

    def run(self) -> int:
        """Run the reactor until stopped.

        Raises OSError if the reactor stopped with an error (:meth:`stop_error`);
        an exception raised by a handler propagates as is.
        """
        rc = self._h.reactor_run()
        if rc < 0 or self._error:
            self._error = False
            # flux-core's exception: no errno (the loader reports ECONNRESET)
            raise OSError("reactor exited with error")
        return rc


def _dispatcher(method: Callable[[Message], Any]) -> Callable[..., None]:
    def callback(h: Flux, watcher: MessageWatcher, msg: Message, args: Any) -> None:
        method(msg)

    return callback


def resolve_entry_point(module: ModuleType) -> Callable[..., Any]:
    """The callable ``entry(h, *args)`` of a loaded module file.

    ``mod_main`` if defined; else the one BrokerModule subclass defined in the
    module's namespace, wrapped as ``Cls(h, *args).run()``; ValueError if
    there are several subclasses or none.
    """
    mod_main: Callable[..., Any] | None = getattr(module, "mod_main", None)
    if mod_main is not None:
        return mod_main
    classes = []
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, BrokerModule)
            and value is not BrokerModule
            and value not in classes
        ):
            classes.append(value)
    if len(classes) == 1:
        cls = classes[0]
        return lambda h, *args: cls(h, *args).run()
    if classes:
        names = ", ".join(c.__name__ for c in classes)  # in namespace order, as flux-core
        raise ValueError(f"multiple BrokerModule subclasses found ({names}); define mod_main()")
    raise ValueError("no mod_main() or BrokerModule subclass found")

"""Broker attributes: the one registry of names and the ``attr`` service.

Every value is a string.  As in flux-core, only registered names exist: the
registry below holds flux-core 0.88's attribute names (exact or fnmatch
patterns) with their flags, plus the few that pureflux adds.  The flags decide
everything: a READONLY name may not be set on the command line, an existing
attribute may be updated with attr.set only if RUNTIME (or with ``force``),
and an IMMUTABLE one never changes once set (attr.get reports it with flags=1
so that clients may cache it).  Names flux-core registers that pureflux does
not act on yet are simply stored.  A runtime attribute may carry a setter that
validates and applies a new value (e.g. the log's stderr level).
"""

from __future__ import annotations

import errno
import os
import re
from fnmatch import fnmatchcase
from typing import Callable, Optional

from flux.constants import FLUX_ROLE_ALL
from flux.message import Message

from .router import RequestError, Router

__all__ = ["Attrs", "IMMUTABLE", "READONLY", "RUNTIME", "CONFIG", "REGISTRY", "registered", "check_cmdline",
           "parse_fsd"]

IMMUTABLE = 0x01  # never changes once set; the only flag attr.get puts on the wire
READONLY = 0x02  # may not be set on the command line
RUNTIME = 0x04  # attr.set may update it without "force"
CONFIG = 0x08  # would override the TOML config (unused, as in flux-core)

# flux-core 0.88's registered attributes (its broker's attribute table), in its order:
# the first matching entry gives the flags.  test-rd.* is left out: flux-core hands
# its updates to a "testrd.setattr" service that pureflux does not provide.
FLUX_CORE_ATTRS: tuple[tuple[str, int], ...] = (
    # general
    ("rank", READONLY | IMMUTABLE),
    ("size", READONLY | IMMUTABLE),
    ("version", READONLY),
    ("rundir", 0),
    ("rundir-cleanup", IMMUTABLE),
    ("statedir", 0),
    ("statedir-cleanup", IMMUTABLE),
    ("security.owner", READONLY | IMMUTABLE),
    ("local-uri", IMMUTABLE),
    ("parent-uri", READONLY | IMMUTABLE),
    ("instance-level", READONLY | IMMUTABLE),
    ("jobid", READONLY | IMMUTABLE),
    ("jobid-path", READONLY | IMMUTABLE),
    ("parent-kvs-namespace", READONLY | IMMUTABLE),
    ("hostlist", IMMUTABLE),
    ("hostname", IMMUTABLE),
    ("broker.mapping", READONLY | IMMUTABLE),
    ("broker.critical-ranks", IMMUTABLE),
    ("broker.boot-method", IMMUTABLE),
    ("broker.pid", READONLY | IMMUTABLE),
    ("broker.quorum", IMMUTABLE),
    ("broker.quorum-warn", IMMUTABLE),
    ("broker.shutdown-warn", IMMUTABLE),
    ("broker.shutdown-timeout", IMMUTABLE),
    ("broker.cleanup-timeout", 0),
    ("broker.unload-builtins-timeout", 0),
    ("broker.rc1_path", 0),
    ("broker.rc3_path", 0),
    ("broker.rc2_none", 0),
    ("broker.rc2_pgrp", 0),
    ("broker.exit-restart", RUNTIME),
    ("broker.module-nopanic", RUNTIME),
    ("broker.starttime", READONLY | IMMUTABLE),
    ("broker.sd-notify", 0),
    ("broker.sd-stop-timeout", IMMUTABLE),
    ("broker.exit-norestart", 0),
    ("broker.recovery-mode", 0),
    ("broker.uuid", READONLY | IMMUTABLE),
    ("conf.shell_initrc", RUNTIME),
    ("conf.shell_pluginpath", RUNTIME),
    ("config.path", IMMUTABLE),
    # tree based overlay network
    ("tbon.topo", CONFIG),
    ("tbon.fanout", 0),
    ("tbon.descendants", READONLY),
    ("tbon.level", READONLY),
    ("tbon.maxlevel", READONLY),
    ("tbon.endpoint", READONLY),
    ("tbon.parent-endpoint", READONLY),
    ("tbon.zmqdebug", CONFIG),
    ("tbon.zmq_io_threads", CONFIG),
    ("tbon.child_rcvhwm", CONFIG),
    ("tbon.prefertcp", 0),
    ("tbon.interface-hint", RUNTIME | CONFIG | IMMUTABLE),
    ("tbon.torpid_min", CONFIG),
    ("tbon.torpid_max", CONFIG),
    ("tbon.tcp_user_timeout", CONFIG),
    ("tbon.connect_timeout", CONFIG),
    # logging
    ("log-ring-size", IMMUTABLE),
    ("log-forward-level", IMMUTABLE),
    ("log-critical-level", IMMUTABLE),
    ("log-filename", 0),
    ("log-syslog-enable", IMMUTABLE),
    ("log-syslog-level", IMMUTABLE),
    ("log-stderr-mode", IMMUTABLE),
    ("log-stderr-level", RUNTIME),
    ("log-level", IMMUTABLE),
    # content
    ("content.backing-module", 0),
    ("content.hash", IMMUTABLE),
    ("content.dump", RUNTIME),
    ("content.restore", RUNTIME),
    # cron
    ("cron.directory", 0),
    # for testing
    ("test.*", RUNTIME),
    ("test-ro.*", READONLY),
    ("test-nr.*", 0),
    ("test-im.*", IMMUTABLE),
    # misc
    ("vendor.*", RUNTIME | IMMUTABLE),
    ("tbon.fanout", 0),  # legacy name of tbon.topo
)

# pureflux's own attributes (not in flux-core's table).
PUREFLUX_ATTRS: tuple[tuple[str, int], ...] = (
    ("broker.spin-us", IMMUTABLE),  # the broker loop's poll-before-sleep (µs)
    ("broker.message-max", IMMUTABLE),  # the largest message a client may send (bytes)
    ("heartbeat.period", RUNTIME),  # heartbeat.pulse period (flux-core: a module's config)
    ("content.blob-size-limit", IMMUTABLE),  # content.store's limit (flux-core: a module option)
    ("module.exec", RUNTIME),  # "1": load Python modules in a fresh interpreter
    ("access.allow-guest-user", IMMUTABLE),  # -S wins over the config's [access]
    ("access.allow-root-owner", IMMUTABLE),
)

REGISTRY = FLUX_CORE_ATTRS + PUREFLUX_ATTRS

_EXACT = {name: flags for name, flags in REGISTRY if not any(c in name for c in "*?[")}
_PATTERNS = tuple((name, flags) for name, flags in REGISTRY if name not in _EXACT)


def registered(name: str) -> Optional[int]:
    """The registry's flags for ``name`` (exact name or pattern), None if unregistered."""
    flags = _EXACT.get(name)
    if flags is None:
        for pattern, pattern_flags in _PATTERNS:
            if fnmatchcase(name, pattern):
                return pattern_flags
    return flags


Setter = Callable[[str], None]

_FSD = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|m|h|d)?\s*$")
_FSD_UNIT = {None: 1.0, "s": 1.0, "ms": 1e-3, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_fsd(text: str) -> float:
    """Flux Standard Duration ("2s", "0.5", "100ms", "1m", "1h", "1d") -> seconds."""
    m = _FSD.match(text)
    if not m:
        raise ValueError(f"invalid duration {text!r}")
    return float(m.group(1)) * _FSD_UNIT[m.group(2)]


def check_cmdline(name: str) -> None:
    """Raise ValueError (flux-core's text) unless ``-S name=...`` is allowed."""
    flags = registered(name)
    if flags is None:
        raise ValueError("unknown attribute")
    if flags & READONLY:
        raise ValueError("attribute may not be set on the command line")


class Attrs:
    """Name -> (value, flags, setter); the flags come from the registry."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._flags: dict[str, int] = {}
        self._setters: dict[str, Setter] = {}

    def add(self, name: str, value: str, setter: Optional[Setter] = None) -> None:
        """Set a registered attribute's initial value (the broker's own, or ``-S``)."""
        flags = registered(name)
        if flags is None:
            raise ValueError(f"{name}: unregistered attribute")
        self._values[name] = value
        self._flags[name] = flags
        if setter is not None:
            self._setters[name] = setter

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        return self._values.get(name, default)

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def names(self) -> list[str]:
        return sorted(self._values)

    def immutable(self) -> dict[str, str]:
        """The attributes that never change (what a module's welcome carries)."""
        return {name: value for name, value in self._values.items()
                if self._flags[name] & IMMUTABLE}

    def set_cmdline(self, name: str, value: str) -> None:
        """Apply ``-S name=value`` once the broker has added its own attributes.

        The command line gives initial values, so neither RUNTIME nor IMMUTABLE
        stops it, but a setter still validates; an immutable value the broker
        computed itself cannot be replaced (EPERM, as flux-core's broker would
        find when it set it after the command line).  Raises ValueError.
        """
        check_cmdline(name)
        if name not in self._values:
            self.add(name, value)
            return
        setter = self._setters.get(name)
        if setter is not None:
            setter(value)
        elif self._flags[name] & IMMUTABLE:
            raise ValueError(os.strerror(errno.EPERM))
        self._values[name] = value

    def update(self, name: str, value: str, force: bool = False) -> None:
        """attr.set: create a registered attribute or update an existing one.

        Raises RequestError with flux-core's errnos and texts: an unregistered
        name is ENOENT, an update of a non-RUNTIME attribute without ``force``
        is EINVAL, an update of an immutable one is EPERM.  A setter validates.
        """
        flags = registered(name)
        if flags is None:
            raise RequestError(errno.ENOENT, "unknown attribute")
        if name not in self._values:
            self._values[name] = value
            self._flags[name] = flags
            return
        if not force and not flags & RUNTIME:
            raise RequestError(errno.EINVAL, "attribute may not be updated")
        if self._flags[name] & IMMUTABLE:
            raise RequestError(errno.EPERM)
        setter = self._setters.get(name)
        if setter is not None:
            try:
                setter(value)
            except ValueError as exc:
                raise RequestError(errno.EINVAL, str(exc)[:79]) from None
        self._values[name] = value

    def remove(self, name: str) -> None:
        """Remove an attribute; as in flux-core, removing one that is not there succeeds.

        Immutable ones are EPERM (flux-core); so are those with a setter, which
        the broker keeps reading (pureflux's own guard).
        """
        if name not in self._values:
            return
        if self._flags[name] & IMMUTABLE:
            raise RequestError(errno.EPERM)
        if name in self._setters:
            raise RequestError(errno.EPERM, "attribute may not be removed")
        del self._values[name]
        del self._flags[name]

    # -- the attr service ---------------------------------------------------------

    def register(self, router: Router) -> None:
        svc = router.builtin("attr")
        svc.method("get", self._get, FLUX_ROLE_ALL)
        svc.method("list", self._list, FLUX_ROLE_ALL)
        svc.method("set", self._set)
        svc.method("rm", self._rm)
        self._router = router

    @staticmethod
    def _str(obj: dict, key: str) -> str:
        value = obj.get(key)
        if not isinstance(value, str):
            raise RequestError(errno.EPROTO)
        return value

    def _get(self, msg: Message) -> None:
        name = self._str(msg.payload_json(), "name")
        value = self._values.get(name)
        if value is None:
            raise RequestError(errno.ENOENT)
        self._router.respond(msg, {"value": value, "flags": self._flags[name] & IMMUTABLE})

    def _list(self, msg: Message) -> None:
        self._router.respond(msg, {"names": self.names()})

    def _set(self, msg: Message) -> None:
        obj = msg.payload_json()
        force = obj.get("force", False)
        if not isinstance(force, bool):
            raise RequestError(errno.EPROTO)
        self.update(self._str(obj, "name"), self._str(obj, "value"), force)
        self._router.respond(msg)

    def _rm(self, msg: Message) -> None:
        self.remove(self._str(msg.payload_json(), "name"))
        self._router.respond(msg)

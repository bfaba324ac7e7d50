"""Broker attributes: the ``attr`` service (attr.get/list/set/rm).

Every value is a string.  Immutable attributes (rank, size, uris, ...) may be
set only on the command line before start-up and are reported with flags=1
so that clients may cache them.  Runtime attributes may carry a setter that
validates and applies a new value (e.g. resizing the log ring).
"""

from __future__ import annotations

import errno
import re
from typing import Callable, Optional

from flux.constants import FLUX_ROLE_ALL
from flux.message import Message

from .router import RequestError, Router

__all__ = ["Attrs", "IMMUTABLE", "parse_fsd", "CMDLINE_FORBIDDEN"]

IMMUTABLE = 1

# Computed by the broker itself: a -S for these is refused.
CMDLINE_FORBIDDEN = frozenset(("rank", "size", "version", "broker.pid", "broker.uuid",
                               "security.owner", "instance-level"))

Setter = Callable[[str], None]

_FSD = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|m|h|d)?\s*$")
_FSD_UNIT = {None: 1.0, "s": 1.0, "ms": 1e-3, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_fsd(text: str) -> float:
    """Flux Standard Duration ("2s", "0.5", "100ms", "1m", "1h", "1d") -> seconds."""
    m = _FSD.match(text)
    if not m:
        raise ValueError(f"invalid duration {text!r}")
    return float(m.group(1)) * _FSD_UNIT[m.group(2)]


class Attrs:
    """Name -> (value, flags, setter)."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._flags: dict[str, int] = {}
        self._setters: dict[str, Setter] = {}

    def add(self, name: str, value: str, immutable: bool = False,
            setter: Optional[Setter] = None) -> None:
        self._values[name] = value
        self._flags[name] = IMMUTABLE if immutable else 0
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

    def update(self, name: str, value: str) -> None:
        """Change a runtime attribute (the setter validates; raises RequestError)."""
        if name not in self._values:
            raise RequestError(errno.ENOENT, "unknown attribute")
        if self._flags[name] & IMMUTABLE:
            raise RequestError(errno.EPERM, "attribute may not be updated")
        setter = self._setters.get(name)
        if setter is not None:
            try:
                setter(value)
            except ValueError as exc:
                raise RequestError(errno.EINVAL, str(exc)[:79]) from None
        self._values[name] = value

    def remove(self, name: str) -> None:
        if name not in self._values:
            raise RequestError(errno.ENOENT)
        if self._flags[name] & IMMUTABLE or name in self._setters:
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
        self._router.respond(msg, {"value": value, "flags": self._flags[name]})

    def _list(self, msg: Message) -> None:
        self._router.respond(msg, {"names": self.names()})

    def _set(self, msg: Message) -> None:
        obj = msg.payload_json()
        self.update(self._str(obj, "name"), self._str(obj, "value"))
        self._router.respond(msg)

    def _rm(self, msg: Message) -> None:
        self.remove(self._str(msg.payload_json(), "name"))
        self._router.respond(msg)

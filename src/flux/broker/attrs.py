"""Broker attributes: the ``attr`` service (attr.get/list/set/rm).

Every value is a string.  Immutable attributes (rank, size, uris, ...) may be
set only on the command line before start-up and are reported with flags=1
so that clients may cache them.  Runtime attributes may carry a setter that
validates and applies a new value (e.g. resizing the log ring).  As in
flux-core, the owner may create attributes of the testing families
(``test.*`` and friends) at run time; other unknown names are ENOENT.
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
# Not on the wire: an update of the attribute needs attr.set's "force" (flux-core's
# attributes without its ATTR_RUNTIME flag).
FORCE_TO_UPDATE = 0x100

# The names flux-core's broker lets attr.set create (its attribute table's testing
# families, matched by prefix), with their flags.  (test-rd.*, whose updates
# flux-core redirects to a "testrd.setattr" service, is not provided.)
CREATABLE = (
    ("test.", 0),
    ("test-nr.", FORCE_TO_UPDATE),
    ("test-ro.", FORCE_TO_UPDATE),
    ("test-im.", IMMUTABLE | FORCE_TO_UPDATE),
)

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

    def immutable(self) -> dict[str, str]:
        """The attributes that never change (what a module's welcome carries)."""
        return {name: value for name, value in self._values.items()
                if self._flags[name] & IMMUTABLE}

    def update(self, name: str, value: str, force: bool = False) -> None:
        """Change a runtime attribute, or create one of the CREATABLE families.

        The setter validates; raises RequestError with flux-core's errnos: an
        unknown name is ENOENT, an update that needs ``force`` is EINVAL, and a
        forced update of an immutable attribute is EPERM.
        """
        flags = self._flags.get(name)
        if flags is None:
            for prefix, family_flags in CREATABLE:
                if name.startswith(prefix):
                    self._values[name] = value
                    self._flags[name] = family_flags
                    return
            raise RequestError(errno.ENOENT, "unknown attribute")
        if flags & (IMMUTABLE | FORCE_TO_UPDATE) and not force:
            raise RequestError(errno.EINVAL, "attribute may not be updated")
        if flags & IMMUTABLE:
            raise RequestError(errno.EPERM)
        setter = self._setters.get(name)
        if setter is not None:
            try:
                setter(value)
            except ValueError as exc:
                raise RequestError(errno.EINVAL, str(exc)[:79]) from None
        self._values[name] = value

    def remove(self, name: str) -> None:
        """Remove an attribute; as in flux-core, removing one that is not there succeeds."""
        if name not in self._values:
            return
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

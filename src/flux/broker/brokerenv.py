"""``broker.getenv`` / ``broker.setenv``: read and change the broker's environment.

flux-core's rc1 (``flux modprobe``) asks the broker for variables its own
environment lacks (the broker hides an enclosing job's from rc scripts) and
sets variables that the initial program and rc3 must inherit.  In pureflux the
broker's environment is the dict its children are started with (initial
program, rc scripts, exec'd modules), so that is the dict these methods read
and change.  Both are owner-only, payloads as flux-core's ``broker.c``:

- ``broker.getenv`` ``{"names": [s, ...]}`` -> ``{"env": {name: value}}``, only
  the names that are set (non-strings are skipped); EPROTO without ``names``.
- ``broker.setenv`` ``{"env": {name: s|null}}`` -> no payload; null unsets.
  EPROTO (and nothing changed) if ``env`` is not an object, a name is empty or
  contains ``=``, or a value is neither a string nor null.
"""

from __future__ import annotations

import errno

from flux.message import Message

from .router import BuiltinService, RequestError, Router

__all__ = ["BrokerEnv"]


class BrokerEnv:
    """The two methods, added to the broker's ``broker`` service."""

    def __init__(self, router: Router, service: BuiltinService, environ: dict[str, str]) -> None:
        self.router = router
        self.environ = environ
        service.method("getenv", self._getenv)
        service.method("setenv", self._setenv)

    def _getenv(self, msg: Message) -> None:
        obj = msg.payload_json()
        if "names" not in obj:
            raise RequestError(errno.EPROTO)
        names = obj["names"]
        env: dict[str, str] = {}
        if isinstance(names, list):
            for name in names:
                if isinstance(name, str) and name in self.environ:
                    env[name] = self.environ[name]
        self.router.respond(msg, {"env": env})

    def _setenv(self, msg: Message) -> None:
        env = msg.payload_json().get("env")
        if not isinstance(env, dict):
            raise RequestError(errno.EPROTO)
        for name, value in env.items():
            if not name or "=" in name or "\0" in name:
                raise RequestError(errno.EPROTO)
            if value is not None and (not isinstance(value, str) or "\0" in value):
                raise RequestError(errno.EPROTO)
        for name, value in env.items():
            if value is None:
                self.environ.pop(name, None)
            else:
                self.environ[name] = value
        self.router.respond(msg)

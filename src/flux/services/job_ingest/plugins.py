"""The validator plugins a submission goes through, chosen by ``[ingest.validator]``.

flux-core's job-ingest runs ``flux job-validator`` with the plugins the configuration
names (``plugins``, default ``["jobspec"]``; ``disable = true`` skips validation).  Here
the plugins run inside the broker:

- ``jobspec``: flux-core's own jobspec checks, with its texts (``validator.py``);
- ``schema``: RFC 25's JSON schema for jobspec version 1, through jsonschema
  (``jobspec.py``), stricter than flux-core's checks (it refuses, for example, a node
  marked ``exclusive``, which flux-core's builder writes): for sites that want
  submissions held to the RFC.  pureflux's own, not flux-core's.

A name that is not a plugin makes every submission fail with a line that says so, as
flux-core's validator fails every submission when a plugin cannot be loaded (with a
less helpful "worker unexpectedly exited").
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

__all__ = ["InvalidJobspec", "Validation", "from_conf"]

#: the plugins, in the order ``flux job-validator --list-plugins`` would show them
KNOWN = ("jobspec", "schema")


class InvalidJobspec(ValueError):
    """A submission a plugin refuses (or a configuration that names no such plugin);
    ``str()`` is the text its submitter sees."""


def _jobspec(jobspec: dict) -> None:
    from .validator import InvalidJobspec as Refused, check

    try:
        check(jobspec)
    except Refused as exc:
        raise InvalidJobspec(str(exc)) from None


def _schema(jobspec: dict) -> None:
    from .jobspec import JobspecError, validate

    try:
        validate(jobspec)
    except JobspecError as exc:
        raise InvalidJobspec(str(exc)) from None


_PLUGINS: dict[str, Callable[[dict], None]] = {"jobspec": _jobspec, "schema": _schema}


class Validation:
    """The checks one configuration asks for; ``check(jobspec)`` raises
    :class:`InvalidJobspec`."""

    __slots__ = ("checks", "error")

    def __init__(self, names: list[str], disabled: bool) -> None:
        self.checks: list[Callable[[dict], None]] = []
        self.error: Optional[str] = None
        if disabled:
            return
        for name in names:
            plugin = _PLUGINS.get(name)
            if plugin is None:
                self.error = (f"validator plugin '{name}' is not available "
                              f"(plugins: {', '.join(KNOWN)})")
                return
            self.checks.append(plugin)

    def check(self, jobspec: dict) -> None:
        if self.error is not None:
            raise InvalidJobspec(self.error)
        for plugin in self.checks:
            plugin(jobspec)


#: the default: flux-core's jobspec plugin alone
DEFAULT = Validation(["jobspec"], False)


def from_conf(conf: Any) -> Validation:
    """The validation ``[ingest.validator]`` of ``conf`` asks for (the default when the
    table is absent); a malformed table is reported as a configuration error."""
    ingest = conf.get("ingest") if isinstance(conf, dict) else None
    table = ingest.get("validator") if isinstance(ingest, dict) else None
    if table is None:
        return DEFAULT
    if not isinstance(table, dict):
        return _broken("[ingest.validator] must be a table")
    names = table.get("plugins", ["jobspec"])
    disabled = table.get("disable", False)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return _broken("[ingest.validator] plugins must be an array of plugin names")
    if not isinstance(disabled, bool):
        return _broken("[ingest.validator] disable must be true or false")
    return Validation(names, disabled)


def _broken(text: str) -> Validation:
    v = Validation([], True)
    v.error = text
    return v

"""The client side: handle, reactor, watchers and transports.

Submodules load on first attribute access, so ``import flux`` followed by
``flux.core.handle.Flux`` works (as in flux-core, whose package imports the
handle eagerly) without making ``import flux`` expensive.
"""

from __future__ import annotations

import importlib
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

_SUBMODULES = ("handle", "watchers", "reactor", "dispatch", "connection", "aio", "logging",
               "module_exec", "threadstate", "topics")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
            raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Test helpers for code that runs on pureflux: real instances in temporary directories.

``flux.testing.start_instance(size=..., attrs=..., config=...)`` is a context
manager yielding an :class:`~flux.testing.instance.Instance`; the pytest
plugin (``flux.testing.pytest_plugin``, registered through the ``pytest11``
entry point) wraps it in the ``flux_instance``, ``flux_instance_factory``,
``flux_handle`` and ``flux_loop`` fixtures.  Names load on first use, so the
plugin costs nothing in test runs that do not use it.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from .instance import Instance, InstanceError, start_instance

__all__ = ["Instance", "InstanceError", "start_instance"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from . import instance

        return getattr(instance, name)
    raise AttributeError(f"module 'flux.testing' has no attribute {name!r}")

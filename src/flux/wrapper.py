"""flux-core's implicit C-function names, and the errors its wrappers raise.

flux-core reaches libflux through cffi wrapper objects: an attribute they do
not define is looked up as a C function, first under its own name, then with
each of the object's prefixes put in front (the handle's ``h.get_size``
finds ``flux_get_size``; ``msg.pimpl.set_userid`` finds
``flux_msg_set_userid``).  pureflux has no C library: its objects implement
those functions as methods named without the prefix, and
:func:`implicit_attribute` answers the other spellings.

A name that matches nothing is not an AttributeError, as in flux-core: it is
a callable that raises :class:`MissingFunctionError` when called.  Python's
special names (``__x__``) and private names (``_x``, so that internal
attribute checks keep working) raise AttributeError.
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, NoReturn, Optional

__all__ = [
    "NULL_HANDLE",
    "refuse",
    "MissingFunctionError",
    "WrongNumArguments",
    "InvalidArguments",
    "MissingFunction",
    "implicit_attribute",
    "strip_prefix",
]


#: The ValueError text flux-core gives when an object whose C handle was
#: destroyed (``with obj:`` exited) is used.
NULL_HANDLE = "Attempting to call a cached, bound method that requires a handle with a NULL handle"


def refuse(*args: Any, **kwargs: Any) -> Any:
    """What every method of a destroyed object (future, message) does: flux-core's ValueError."""
    raise ValueError(NULL_HANDLE)


class MissingFunctionError(Exception):
    """A call of a libflux function that does not exist (or is not provided)."""

    def __init__(self, name: str, c_name: str, name_list: list[str], arguments: Any) -> None:
        super().__init__(
            f"no such function: {name}{tuple(arguments)!r} "
            f"(looked up as: {', '.join(name_list)}; likely meant: {c_name})"
        )


class WrongNumArguments(ValueError):
    """flux-core's error for a wrapped C function called with a wrong argument count."""


class InvalidArguments(ValueError):
    """flux-core's error for a wrapped C function called with arguments of wrong types."""


class MissingFunction:
    """What an unknown name resolves to: calling it raises MissingFunctionError."""

    def __init__(self, name: str, prefixes: tuple[str, ...]) -> None:
        self.name = name
        self.prefixes = prefixes

    def __call__(self, *args: Any) -> NoReturn:
        name = self.name
        c_name = name
        if self.prefixes and not any(name.startswith(p) for p in self.prefixes):
            c_name = self.prefixes[0] + name
        raise MissingFunctionError(name, c_name, [p + name for p in self.prefixes], args)

    def __repr__(self) -> str:
        return f"<missing libflux function {self.name!r}>"


def implicit_attribute(obj: Any, name: str, prefixes: tuple[str, ...]) -> Any:
    """What flux-core's wrapper ``obj`` answers for ``name`` it does not define.

    Called from ``__getattr__``: ``name`` with one of the lower-case
    ``prefixes`` (function names; upper-case ones name constants) stripped, if
    ``obj`` defines that; else a :class:`MissingFunction`.
    """
    if name[:1] == "_":
        raise AttributeError(f"{type(obj).__name__!r} object has no attribute {name!r}")
    found = strip_prefix(obj, name, tuple(p for p in prefixes if p.islower()))
    if found is not None:
        return found
    return MissingFunction(name, prefixes)


def strip_prefix(obj: Any, name: str, prefixes: tuple[str, ...]) -> Optional[Any]:
    """``obj``'s own attribute for ``name`` without one of ``prefixes``, or None."""
    for prefix in prefixes:
        if name.startswith(prefix) and name[len(prefix):len(prefix) + 1] not in ("", "_"):
            try:
                # not getattr(): that would come back to obj's __getattr__
                return object.__getattribute__(obj, name[len(prefix):])
            except AttributeError:
                pass
    return None

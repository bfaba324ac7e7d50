"""Conventions shared by the ``flux`` subcommands.

flux-core's commands report failures as one line, ``flux-CMD: WHAT: STRERROR``,
and exit with status 1.  :func:`die` and :func:`open_handle` keep pureflux's
commands the same.
"""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, NoReturn, Optional


def die(prog: str, text: str, code: int = 1) -> NoReturn:
    """Print ``prog: text`` on stderr and exit with ``code``."""
    print(f"{prog}: {text}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def oserror_text(exc: OSError) -> str:
    """The text flux-core would print for an OSError: the service's text or strerror."""
    if exc.strerror:
        return str(exc.strerror)
    if exc.errno:
        import os

        return os.strerror(exc.errno)
    return str(exc)


def open_handle(prog: str, uri: Optional[str] = None) -> Any:
    """Open a handle on the enclosing instance, or die with one clear line."""
    import flux

    try:
        return flux.Flux(uri)
    except OSError as exc:
        die(prog, oserror_text(exc))

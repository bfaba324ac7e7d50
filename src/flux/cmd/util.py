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


def resolve_target(prog: str, target: str, failure: str) -> str:
    """TARGET -> URI as flux-core's ``uri_resolve``: a ``local://`` or ``ssh://`` URI
    as is (``local:///PATH`` with ``FLUX_URI_RESOLVE_LOCAL``), anything else (a jobid,
    a jobid path, ``pid:``...) as ``flux uri`` resolves it; if it cannot, its error
    (``flux-uri: ERROR: ...``) then ``prog: failure`` on stderr, exit 1."""
    import os

    from flux.uri import FluxURIResolver
    from flux.uri.uri import URI

    parsed = URI(target)
    if parsed.scheme in ("ssh", "local") and "://" in target:
        if os.environ.get("FLUX_URI_RESOLVE_LOCAL"):
            return "local://" + "/" + parsed.path.lstrip("/")
        return target
    try:
        return str(FluxURIResolver().resolve(target))
    except Exception as exc:  # noqa: BLE001 - flux uri's one-line error, then ours
        text = getattr(exc, "strerror", None) or str(exc)
        print(f"flux-uri: ERROR: {text}", file=sys.stderr, flush=True)
        die(prog, failure)

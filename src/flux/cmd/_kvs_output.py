"""How ``flux kvs`` writes: values as bytes on stdout, failures as flux-core words them.

flux-core's ``flux-kvs`` dies with ``flux-kvs: WHAT: strerror(errno)``
(log_err_exit) or ``flux-kvs: TEXT`` (log_msg_exit), exit status 1.  The
strerror is always the C library's text for the errno, even when the
server explained its error (the C getters keep only the errno), so an
OSError from :mod:`flux.kvs` is reported by its errno.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, NoReturn

PROG = "flux-kvs"


def write(data: bytes | str) -> None:
    """Bytes (or text) on stdout, unchanged."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    sys.stdout.buffer.write(data)


def flush() -> None:
    sys.stdout.flush()


def errno_of(exc: BaseException) -> int:
    import errno

    return getattr(exc, "errno", None) or errno.EINVAL


def err_text(what: str, errnum: int) -> str:
    return f"{PROG}: {what}: {os.strerror(errnum)}"


def err_exit(what: str, exc_or_errno: BaseException | int) -> NoReturn:
    """``flux-kvs: WHAT: strerror`` and exit 1 (flux-core's log_err_exit)."""
    errnum = exc_or_errno if isinstance(exc_or_errno, int) else errno_of(exc_or_errno)
    msg_exit_raw(err_text(what, errnum))


def msg(text: str) -> None:
    """``flux-kvs: TEXT`` (log_msg)."""
    _stderr(f"{PROG}: {text}")


def msg_exit(text: str) -> NoReturn:
    """``flux-kvs: TEXT`` and exit 1 (log_msg_exit)."""
    msg_exit_raw(f"{PROG}: {text}")


def msg_exit_raw(line: str) -> NoReturn:
    _stderr(line)
    raise SystemExit(1)


def _stderr(line: str) -> None:
    try:
        sys.stdout.flush()
    except (BrokenPipeError, OSError):
        pass
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def open_handle() -> Any:
    """A handle on the enclosing instance, or ``flux-kvs: flux_open: ...`` and exit 1."""
    import flux

    try:
        return flux.Flux()
    except OSError as exc:
        err_exit("flux_open", exc)

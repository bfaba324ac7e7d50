"""The errors ``flux.kvs`` raises: OSError carrying flux-core's errno and text.

flux-core's KVS functions go through its C wrappers, which turn a failed call
into ``OSError(errnum, "ENOENT: No such file or directory")``.  pureflux
raises the same for its own argument checks and for server errors that came
without a text; a server that explains its error gets its text shown.
"""

from __future__ import annotations

import errno as _errno
import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from flux.future import Future

__all__ = ["error", "wait_result"]


def error(errnum: int) -> OSError:
    """``OSError(errnum, "ENAME: strerror")``, as flux-core's wrappers word a failed call."""
    name = _errno.errorcode.get(errnum, f"Errno{errnum}")
    return OSError(errnum, f"{name}: {os.strerror(errnum)}")


def wait_result(fut: "Future") -> "tuple[int, Any, Any]":
    """Wait for ``fut``'s current result; raise its error as a libkvs getter shows it.

    The server's error text if it sent one, else flux-core's wrapper wording.
    """
    s = fut._s
    result = s._current
    if result is not None and not result[0]:
        return result
    try:
        return fut._result()
    except OSError:
        result = s._current
        if result is not None and result[0] and not result[2]:
            raise error(result[0]) from None
        raise

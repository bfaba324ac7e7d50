"""One read from a non-blocking pipe, as every pipe watcher of pureflux does it.

Watchers (the broker's shell launcher and rc runner, the job shell's tasks,
``flux job attach``'s stdin) are called when a pipe is readable; what they need
is "some bytes", "end of stream" or "nothing after all" (a spurious wakeup).
A read error ends the stream as EOF does: the writer is gone either way.
"""

from __future__ import annotations

import os

__all__ = ["read_ready"]

#: at most this much per wakeup, so one busy pipe cannot starve the loop
CHUNK = 65536


def read_ready(fd: int) -> bytes | None:
    """Bytes read from ``fd``; ``b""`` at end of stream or on error; None if none yet."""
    try:
        return os.read(fd, CHUNK)
    except BlockingIOError:
        return None
    except OSError:
        return b""

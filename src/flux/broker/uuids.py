"""Random (version 4) UUID strings for broker and connection identities.

The same strings ``str(uuid.uuid4())`` gives, without importing :mod:`uuid`:
it imports :mod:`platform` and asks the kernel for its name, ~2 ms of every
broker's start-up for something the broker needs a few times.
"""

from __future__ import annotations

import os

__all__ = ["uuid4"]


def uuid4() -> str:
    """A new random UUID, RFC 4122 version 4, in its usual 8-4-4-4-12 form."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # the RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

"""Running test code as a second user (the guest), for the credential tests (needs root)."""

from __future__ import annotations

import json
import os
from typing import Any, Callable

GUEST_UID = 65534


def run_as_guest(work: Callable[[], Any], uid: int = GUEST_UID) -> Any:
    """Fork, become ``uid`` (group too), run ``work()`` and return its JSON-able result.

    An exception in the child comes back as ``[["exc", repr(exc)]]`` so the test
    shows it instead of hanging or passing vacuously."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            os.setgid(uid)
            os.setuid(uid)
            os.write(w, json.dumps(work()).encode())
            code = 0
        except BaseException as exc:  # noqa: BLE001
            os.write(w, json.dumps([["exc", repr(exc)]]).encode())
        finally:
            os._exit(code)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)

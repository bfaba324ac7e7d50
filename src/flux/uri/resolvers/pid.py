"""``pid:PID``: the ``FLUX_URI`` in a local process's environment.

For a broker (whose own environment names its parent, if anything), the
URI is read from its first child, which the broker started in its instance.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePath

from flux.uri.uri import URIResolverPlugin, URIResolverURI


def _first_child(pid: str) -> str:
    """The first child of ``pid``: /proc/PID/task/*/children, else a scan of /proc."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        tasks = []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                first = f.read().split(" ")[0]
        except OSError:
            continue
        if first:
            return first
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or entry == pid:
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        match = re.match(r"^[0-9]+ \(.*\) \w+ ([0-9]+)", stat)
        if match and match.group(1) == pid:
            return entry
    raise ValueError(f"PID {pid} is a flux-broker and no child found")


def _is_broker(pid: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    # flux-core's broker is the flux-broker program; pureflux's runs as `flux broker`
    words = [os.path.basename(a) for a in argv if a]
    if any(w == b"flux-broker" for w in words):
        return True
    return b"broker" in words[:4] and any(w == b"flux" for w in words[:3])


class URIResolver(URIResolverPlugin):
    """Resolves ``pid:`` targets from /proc."""

    def describe(self) -> str:
        return "Get FLUX_URI for a given local PID"

    def resolve(self, uri: URIResolverURI) -> str:
        parts = PurePath(uri.path).parts
        if not parts or not parts[0].isdigit():
            raise ValueError(f"{uri.path} is not a valid PID")
        pid = parts[0]
        if not os.path.exists(f"/proc/{pid}"):
            raise ValueError(f"PID {pid} not found")
        if _is_broker(pid):
            pid = _first_child(pid)
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError as exc:
            raise ValueError(f"PID {pid}: {exc.strerror}") from None
        for entry in environ:
            name, eq, value = entry.partition(b"=")
            if eq and name == b"FLUX_URI":
                return value.decode("utf-8", "surrogateescape")
        raise ValueError(f"PID {pid} doesn't seem to have a FLUX_URI")

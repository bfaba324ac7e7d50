"""RFC 5424-style log records as ``flux_log`` writes them for ``log.append``.

``<PRI>1 TIMESTAMP HOSTNAME APPNAME PROCID - - MESSAGE`` with PRI =
severity * 8 (flux-core's stdlog convention), a UTC timestamp with
microseconds, the rank as hostname, and no NUL terminator.
"""

from __future__ import annotations

import os
import sys
import time
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

APPNAME_MAX = 48


def appname_default() -> str:
    """The program's name, as C's ``program_invocation_short_name``.

    Under ``python -c`` or ``python -m`` that is the interpreter's name.
    """
    name = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
    if not name:
        argv0 = getattr(sys, "orig_argv", None) or [sys.executable or "python"]
        name = argv0[0]
    return os.path.basename(name)[:APPNAME_MAX] or "python"


def timestamp(now: float | None = None) -> str:
    now = time.time() if now is None else now
    secs = int(now)
    usec = int((now - secs) * 1e6)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{usec:06d}Z"


def format_record(severity: int, hostname: str, appname: str, procid: int, text: str,
                  now: float | None = None) -> bytes:
    pri = (severity & 7) << 3
    line = f"<{pri}>1 {timestamp(now)} {hostname} {appname} {procid} - - {text}"
    return line.encode("utf-8", "replace")


def log_records(h: Any, level: int, text: str, appname: str | None = None) -> list[bytes]:
    """The records ``h.log(level, text)`` sends: one per line of ``text``.

    ``appname`` defaults to the handle's (``flux::log_appname``), else the program's name.
    """
    core = h._core
    hostname = core.aux.get("flux::log_hostname")
    if hostname is None:
        try:
            hostname = str(h.get_rank())
        except OSError:
            hostname = "-"
        core.aux["flux::log_hostname"] = hostname
    if appname is None:
        appname = core.aux.get("flux::log_appname") or appname_default()
    text = text.rstrip("\r\n")
    lines = text.split("\n") if text else [""]
    pid = os.getpid()
    now = time.time()
    return [format_record(level, hostname, appname, pid, line.rstrip("\r"), now) for line in lines]

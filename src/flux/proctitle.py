"""Name this process in ``ps`` and ``top`` (Linux; a no-op elsewhere or on failure).

A broker module process is forked from the broker, so it shows the broker's
command line (``flux start sh -c ...``) and name; several identical "flux
start" lines in ``ps`` help nobody.  Two things name a process:

- ``/proc/self/comm`` (``ps`` without ``-f``, ``top``, ``pgrep``): at most
  15 bytes, what ``prctl(PR_SET_NAME)`` sets; writing the file does the same.
  flux-core's ``flux.proctitle.set_proctitle(name)`` sets this, and module
  processes use the module's name, as flux-core's do.
- the argument area ``/proc/self/cmdline`` shows (``ps -f``, ``ps aux``,
  ``top -c``): the kernel reports the bytes between ``arg_start`` and
  ``arg_end`` of the process (``/proc/self/stat`` fields 48-49), so the title
  is written over those bytes, padded with NULs, through ``/proc/self/mem``.
  It can only be as long as the original command line (the broker's is always
  longer than ``flux-module NAME``).  Python keeps its own copy of argv, so
  ``sys.argv`` is not affected.

Both are plain file writes: no ``ctypes``, whose import (~2.5 ms) would sit on
the critical path of every ``flux module load``.

Why not the ``setproctitle`` package: it does the second part more thoroughly
(it can move the environment to make room for a longer title), but it is a C
extension; pureflux stays pure Python, and a module's title is short.
"""

from __future__ import annotations

import sys

__all__ = ["set_proctitle"]

_PR_SET_NAME = 15


def set_proctitle(name: str, cmdline: str | None = None) -> None:
    """Set the process name (``comm``, truncated to 15 bytes) to ``name``, and if
    ``cmdline`` is given, what ``ps -f`` shows as the command line."""
    if not sys.platform.startswith("linux"):
        return
    try:
        with open("/proc/self/comm", "wb") as f:
            f.write(name.encode()[:15])
        if cmdline is not None:
            _set_cmdline(cmdline.encode())
    except OSError:  # cosmetic: never fail the caller
        pass


def _set_cmdline(title: bytes) -> None:
    """Overwrite this process's argument area with ``title`` (NUL padded)."""
    with open("/proc/self/stat", "rb") as f:
        stat = f.read()
    fields = stat[stat.rindex(b")") + 2:].split()  # fields[0] is field 3 (state)
    start, end = int(fields[48 - 3]), int(fields[49 - 3])
    size = end - start
    if not 0 < size < (1 << 20):
        return
    with open("/proc/self/cmdline", "rb") as f:
        current = f.read()
    with open("/proc/self/mem", "r+b", buffering=0) as mem:
        mem.seek(start)
        # write only where the kernel says the arguments are, and only if they are there
        if mem.read(size) != current[:size]:
            return
        mem.seek(start)
        mem.write(title[:size - 1].ljust(size, b"\0"))

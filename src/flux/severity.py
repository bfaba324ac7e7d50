"""The one table of log severities (syslog's, as Flux uses them: RFC 5424 levels 0-7).

Everything that names, parses or compares a severity (the broker's log, module
logging, ``flux logger``, ``flux dmesg``) uses this table, so the names cannot drift.
"""

from __future__ import annotations

LOG_EMERG = 0
LOG_ALERT = 1
LOG_CRIT = 2
LOG_ERR = 3
LOG_WARNING = 4
LOG_NOTICE = 5
LOG_INFO = 6
LOG_DEBUG = 7

#: Index = level: ``NAMES[3] == "err"``.
NAMES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")

#: Other spellings users type (flux-core's logger and Python's logging accept them).
ALIASES = {"emergency": LOG_EMERG, "panic": LOG_EMERG, "critical": LOG_CRIT, "error": LOG_ERR,
           "warn": LOG_WARNING}


def name(level: int) -> str:
    """The name of a level; a level outside 0-7 is named by its number, as flux-core does."""
    return NAMES[level] if 0 <= level < len(NAMES) else str(level)


def parse(text: str) -> int:
    """A level from a name, an alias or a number 0-7; -1 when ``text`` is none of them."""
    key = text.strip().lower()
    if key in NAMES:
        return NAMES.index(key)
    if key in ALIASES:
        return ALIASES[key]
    if key.isdigit() and int(key) < len(NAMES):
        return int(key)
    return -1

"""``flux logger [--severity=LEVEL] [--appname=NAME] MESSAGE...``: append to the broker log.

The message (the arguments joined by spaces, or standard input when there
are none) is sent as ``log.append`` records, one per line, with appname
``logger`` and severity ``notice`` unless told otherwise.  Like flux-core
(``FLUX_LOG_CHECK``) the request asks for a reply, so errors are reported.
"""

from __future__ import annotations

SUMMARY = "Create a Flux log entry"

PROG = "flux-logger"

SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
APPNAME_MAX = 48


def severity_from_string(text: str) -> int:
    """Severity name (emerg..debug, also ``warn``/``error``) or number 0-7; -1 if invalid."""
    t = text.strip().lower()
    if t.isdigit():
        n = int(t)
        return n if 0 <= n <= 7 else -1
    aliases = {"warn": "warning", "error": "err", "panic": "emerg"}
    t = aliases.get(t, t)
    return SEVERITIES.index(t) if t in SEVERITIES else -1


def main(argv: list[str]) -> int:
    import os
    import sys

    from ._optparse import REQUIRED, Option, Parser
    from .util import die, oserror_text, open_handle

    parser = Parser(PROG, "[--severity LEVEL] [--appname NAME] message ...", [
        Option("s", "severity", REQUIRED, "LEVEL", "Set the severity (default: notice)"),
        Option("n", "appname", REQUIRED, "NAME", "Set the application name (default: logger)"),
        Option("t", "tag", REQUIRED, "NAME", "Same as --appname", dest="appname"),
    ])
    opts, args = parser.parse(argv)
    severity = 5
    if opts.has("severity"):
        severity = severity_from_string(opts.severity)
        if severity < 0:
            die(PROG, "invalid severity: Use emerg|alert|crit|err|warning|notice|info|debug")
    appname = opts.get("appname") or "logger"
    appname = appname.replace(" ", "_")[:APPNAME_MAX]
    if args:
        message = " ".join(args)
    else:
        message = sys.stdin.read()

    from flux.core.logging import format_record

    h = open_handle(PROG)
    try:
        hostname = str(h.get_rank())
    except OSError:
        hostname = "-"
    text = message.rstrip("\r\n")
    lines = text.split("\n") if text else [""]
    pid = os.getpid()
    futures = []
    for line in lines:
        record = format_record(severity, hostname, appname, pid, line.rstrip("\r"))
        futures.append(h.rpc("log.append", record))
    for f in futures:
        try:
            f.get()
        except OSError as exc:
            die(PROG, f"flux_log: {oserror_text(exc)}")
    return 0

"""``flux logger [--severity=LEVEL] [--appname=NAME] MESSAGE...``: append to the broker log.

The message (the arguments joined by spaces, or standard input when there
are none) is sent as ``log.append`` records, one per line, with appname
``logger`` and severity ``notice`` unless told otherwise.  Like flux-core
(``FLUX_LOG_CHECK``) the request asks for a reply, so errors are reported.
"""

from __future__ import annotations

SUMMARY = "Create a Flux log entry"

PROG = "flux-logger"

# Spellings flux.severity knows that this command has never accepted.
NOT_ACCEPTED = ("emergency", "critical")


def severity_from_string(text: str) -> int:
    """Severity name (emerg..debug, also ``warn``/``error``/``panic``) or number 0-7; -1 if invalid."""
    from flux import severity

    return -1 if text.strip().lower() in NOT_ACCEPTED else severity.parse(text)


def main(argv: list[str]) -> int:
    import sys

    from flux import severity
    from flux.core.logging import APPNAME_MAX, log_records

    from ._optparse import REQUIRED, Option, Parser
    from .util import die, oserror_text, open_handle

    parser = Parser(PROG, "[--severity LEVEL] [--appname NAME] message ...", [
        Option("s", "severity", REQUIRED, "LEVEL", "Set the severity (default: notice)"),
        Option("n", "appname", REQUIRED, "NAME", "Set the application name (default: logger)"),
        Option("t", "tag", REQUIRED, "NAME", "Same as --appname", dest="appname"),
    ])
    opts, args = parser.parse(argv)
    level = severity.LOG_NOTICE
    if opts.has("severity"):
        level = severity_from_string(opts.severity)
        if level < 0:
            die(PROG, f"invalid severity: Use {'|'.join(severity.NAMES)}")
    appname = opts.get("appname") or "logger"
    appname = appname.replace(" ", "_")[:APPNAME_MAX]
    if args:
        message = " ".join(args)
    else:
        message = sys.stdin.read()

    h = open_handle(PROG)
    futures = [h.rpc("log.append", record) for record in log_records(h, level, message, appname)]
    for f in futures:
        try:
            f.get()
        except OSError as exc:
            die(PROG, f"flux_log: {oserror_text(exc)}")
    return 0

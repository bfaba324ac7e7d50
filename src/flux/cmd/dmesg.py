"""``flux dmesg [OPTIONS]``: print or clear the broker's log ring buffer.

Records come from the streaming ``log.dmesg`` RPC (``{"follow","nobacklog"}``),
one RFC 5424-style record per response, ending with ENODATA; ``--clear``
sends ``log.clear``.  Each record prints as
``TIMESTAMP APPNAME.SEVERITY[RANK]: MESSAGE``; ``--human`` replaces the
timestamp by ``[MonDD HH:MM]`` at each new minute and ``[  +S.UUUUUU]``
(seconds since that line) within it.
"""

from __future__ import annotations

import sys
from collections import namedtuple

from flux import severity

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional

SUMMARY = "Print or control log ring buffer"

PROG = "flux-dmesg"

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# ANSI colors, used with --color
YELLOW, GREEN, BOLD, RED, BLUE, REVERSE, RESET = (
    "\033[33m", "\033[32m", "\033[1m", "\033[31m", "\033[34m", "\033[7m", "\033[0m")
SEVERITY_COLOR = {severity.LOG_EMERG: REVERSE + RED, severity.LOG_ALERT: REVERSE + RED,
                  severity.LOG_CRIT: BOLD + RED, severity.LOG_ERR: RED, severity.LOG_WARNING: BOLD,
                  severity.LOG_DEBUG: BLUE}


def _options() -> Any:
    from ._optparse import OPTIONAL, Option

    return [
        Option("C", "clear", help="Clear the ring buffer"),
        Option("c", "read-clear", help="Clear the ring buffer contents after printing"),
        Option("f", "follow", help="Track new entries as are logged"),
        Option("n", "new", help="Show only new log messages"),
        Option("H", "human", help="Human readable output"),
        Option("d", "delta", help="With --human, show timestamp delta between messages"),
        Option("L", "color", OPTIONAL, "WHEN",
               "Colorize output when supported; WHEN can be 'always' "
               "(default if omitted), 'never', or 'auto' (default)."),
    ]


class Record(namedtuple("Record", "pri timestamp hostname appname procid message")):
    """One log record, as :func:`decode_record` parses it."""

    __slots__ = ()

    @property
    def severity(self) -> int:
        return self.pri >> 3


def decode_record(text: str) -> Optional[Record]:
    """Parse ``<PRI>1 TIMESTAMP HOSTNAME APPNAME PROCID MSGID SD MSG``; None if malformed."""
    if not text.startswith("<"):
        return None
    end = text.find(">", 1, 5)
    if end < 0 or not text[1:end].isdigit():
        return None
    pri = int(text[1:end])
    fields = text[end + 1:].split(" ", 7)
    if len(fields) < 7 or fields[0] != "1":
        return None
    _, timestamp, hostname, appname, procid, _msgid, _sd = fields[:7]
    message = fields[7] if len(fields) > 7 else ""
    return Record(pri, timestamp, hostname, appname, procid, message)


def parse_timestamp(ts: str) -> Optional[tuple[float, int]]:
    """(epoch seconds, microseconds) of ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``, or None."""
    import calendar
    import time

    if not ts.endswith("Z"):
        return None
    base, _, frac = ts[:-1].partition(".")
    try:
        tm = time.strptime(base, "%Y-%m-%dT%H:%M:%S")
        usec = int((frac + "000000")[:6]) if frac else 0
    except ValueError:
        return None
    return calendar.timegm(tm), usec


class Printer:
    def __init__(self, human: bool, delta: bool, color: bool) -> None:
        self.human = human
        self.delta = delta
        self.color = color
        self.last_minute: Optional[tuple[int, ...]] = None
        self.last_time = 0.0

    def c(self, code: str) -> str:
        return code if self.color else ""

    def iso_timestamp(self, rec: Record) -> str:
        import time

        parsed = parse_timestamp(rec.timestamp)
        if parsed is not None:
            secs, usec = parsed
            tm = time.localtime(secs)
            off = tm.tm_gmtoff or 0
            if off != 0:
                sign = "+" if off > 0 else "-"
                off = abs(off)
                tz = f"{sign}{off // 3600:02d}:{off % 3600 // 60:02d}"
                text = time.strftime("%Y-%m-%dT%H:%M:%S", tm) + f".{usec:06d}{tz}"
                return f"{self.c(GREEN)}{text}{self.c(RESET)} "
        return f"{self.c(GREEN)}{rec.timestamp}{self.c(RESET)} "

    def human_timestamp(self, rec: Record) -> str:
        import time

        parsed = parse_timestamp(rec.timestamp)
        if parsed is None:
            return f"{self.c(GREEN)}[{rec.timestamp}]{self.c(RESET)} "
        secs, usec = parsed
        now = secs + usec / 1e6
        tm = time.localtime(secs)
        minute = (tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min)
        if minute == self.last_minute:
            dt = now - self.last_time
            if self.delta:
                self.last_time = now
            return f"{self.c(GREEN)}[{dt:+11.6f}]{self.c(RESET)} "
        self.last_minute = minute
        self.last_time = now
        return (f"{self.c(BOLD + GREEN)}[{MONTHS[tm.tm_mon - 1]}{tm.tm_mday:02d} "
                f"{tm.tm_hour:02d}:{tm.tm_min:02d}]{self.c(RESET)} ")

    def line(self, text: str) -> str:
        rec = decode_record(text)
        if rec is None:
            return text
        digits = ""
        for ch in rec.hostname:  # strtoul: leading digits, else 0
            if not ch.isdigit():
                break
            digits += ch
        rank = int(digits) if digits else 0
        sev = rec.severity
        sevname = severity.name(sev)
        stamp = self.human_timestamp(rec) if self.human else self.iso_timestamp(rec)
        return (f"{stamp}{self.c(YELLOW)}{rec.appname}.{sevname}[{rank}]{self.c(RESET)}: "
                f"{self.c(SEVERITY_COLOR.get(sev, ''))}{rec.message}"
                f"{self.c(RESET) if SEVERITY_COLOR.get(sev) else ''}")


def main(argv: list[str]) -> int:
    from flux.constants import FLUX_RPC_STREAMING
    from flux.message import compact_json  # flux-core's command is C: compact JSON

    from ._optparse import Parser
    from .util import die, oserror_text, open_handle

    parser = Parser("flux dmesg", "[OPTIONS...]", _options(),
                    doc="Print or control log ring buffer")
    opts, args = parser.parse(argv)
    if args:
        die(PROG, "flux-dmesg accepts no free arguments")
    when = opts.get("color") if opts.has("color") else "auto"
    if when is None or when == "always":
        color = True
    elif when == "never":
        color = False
    elif when == "auto":
        color = sys.stdout.isatty()
    else:
        die(PROG, f"Invalid argument to --color: '{when}'")
    if opts.has("delta") and not opts.has("human"):
        die(PROG, "--delta can only be used with --human")

    h = open_handle(PROG)
    if not opts.has("clear"):
        printer = Printer(opts.has("human"), opts.has("delta"), color)
        f = h.rpc("log.dmesg", compact_json({"follow": opts.has("follow"), "nobacklog": opts.has("new")}),
                  flags=FLUX_RPC_STREAMING)
        out = sys.stdout
        while True:
            try:
                text = f.get_str()
            except OSError as exc:
                if exc.errno == 61:  # ENODATA: end of the stream
                    break
                die(PROG, f"log.dmesg: {oserror_text(exc)}")
            out.write(printer.line((text or "").rstrip("\0")) + "\n")
            out.flush()
            f.reset()
    if opts.has("clear") or opts.has("read_clear"):
        try:
            h.rpc("log.clear").get()
        except OSError as exc:
            die(PROG, f"log.clear: {oserror_text(exc)}")
    return 0

"""Eventlog entries as flux-core's commands print them (its libeventlog formatter).

Shared by the commands that show RFC 18 eventlogs (``flux kvs eventlog``,
and ``flux job eventlog`` to come), so their lines stay identical to
flux-core's: ``TIMESTAMP NAME key=value...`` with the timestamp raw
(``%lf``), ISO 8601 in local time, as an offset from the first event, or
"human" (``[MonDD HH:MM]`` at each new minute, then ``[ +S.UUUUUU]`` since
that line); or each entry as its RFC 18 JSON.  Optional ANSI colors.
"""

from __future__ import annotations

from flux import eventlog

TYPE_CHECKING = False

GREEN, YELLOW, BLUE, MAGENTA, GRAY = "\x1b[32m", "\x1b[33m", "\x1b[34m", "\x1b[35m", "\x1b[37m"
BOLD, RED, RESET = "\x1b[1m", "\x1b[31m", "\x1b[0m"

COLOR_NAME = YELLOW
COLOR_TIME = GREEN
COLOR_TIMEBREAK = BOLD + GREEN
COLOR_KEY = BLUE
COLOR_VALUE = MAGENTA
COLOR_VALUE_NUM = GRAY
COLOR_EXCEPTION = BOLD + RED

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

TIMESTAMP_FORMATS = {"raw": "raw", "human": "human", "reltime": "human", "iso": "iso",
                     "offset": "offset"}


class EventlogFormatter:
    """One formatter per output stream: "human" and "offset" remember earlier entries."""

    def __init__(self) -> None:
        self.endl = "\n"
        self.unformatted = False
        self.color = False
        self.ts_format = "raw"
        self.t0 = 0.0
        self.last_minute: tuple[int, ...] | None = None
        self.last_ts = 0.0

    def set_color(self, color: bool) -> None:
        self.color = bool(color)

    def set_no_newline(self) -> None:
        self.endl = ""

    def set_format(self, name: str) -> None:
        """``text`` or ``json`` (RFC 18 form); ValueError otherwise."""
        lowered = name.lower()
        if lowered not in ("text", "json"):
            raise ValueError(f"invalid format {name!r}")
        self.unformatted = lowered == "json"

    def set_timestamp_format(self, name: str) -> None:
        """``raw``, ``iso``, ``offset``, ``human`` (or ``reltime``); ValueError otherwise."""
        try:
            self.ts_format = TIMESTAMP_FORMATS[name.lower()]
        except KeyError:
            raise ValueError(f"invalid timestamp format {name!r}") from None

    def update_t0(self, timestamp: float) -> None:
        """The first timestamp seen is the origin of "offset" timestamps."""
        if self.t0 == 0.0:
            self.t0 = timestamp

    def reset(self) -> None:
        self.t0 = 0.0
        self.last_ts = 0.0
        self.last_minute = None

    # -- pieces --------------------------------------------------------------------------

    def _paint(self, color: str, text: str) -> str:
        return f"{color}{text}{RESET}" if self.color else text

    def _human(self, timestamp: float) -> str:
        import time

        try:
            if timestamp < 0:
                raise ValueError
            tm = time.localtime(int(timestamp))
        except (ValueError, OverflowError, OSError):
            return self._paint(COLOR_TIME, "[%+11.6f]" % timestamp)
        minute = (tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min)
        if minute == self.last_minute:
            return self._paint(COLOR_TIME, "[%+11.6f]" % (timestamp - self.last_ts))
        self.last_ts = timestamp
        self.last_minute = minute
        return self._paint(COLOR_TIMEBREAK, "[%s%02d %02d:%02d]" % (
            MONTHS[tm.tm_mon - 1], tm.tm_mday, tm.tm_hour, tm.tm_min))

    @staticmethod
    def _iso(timestamp: float) -> str:
        import time

        sec = int(timestamp)
        usec = int((timestamp - sec) * 1e6)
        tm = time.localtime(sec)
        tz = time.strftime("%z", tm)
        if tz == "+0000":
            tz = "Z"
        elif len(tz) == 5 and tz[0] in "+-":
            tz = f"{tz[:3]}:{tz[3:]}"
        return "%s.%06d%s" % (time.strftime("%Y-%m-%dT%H:%M:%S", tm), usec, tz)

    def timestamp_text(self, timestamp: float) -> str:
        if self.ts_format == "human":
            return self._human(timestamp)
        if self.ts_format == "iso":
            return self._paint(COLOR_TIME, self._iso(timestamp))
        if self.ts_format == "offset":
            self.update_t0(timestamp)
            timestamp -= self.t0
        return self._paint(COLOR_TIME, "%f" % timestamp)

    def _context_text(self, context: dict) -> str:
        dumps = eventlog.dumps
        if not self.color:  # the usual case (a pipe, a file): no paint to choose
            return "".join([f" {key}={dumps(value)}" for key, value in context.items()])
        parts = []
        for key, value in context.items():
            is_num = isinstance(value, (int, float)) and not isinstance(value, bool)
            parts.append(" " + self._paint(COLOR_KEY, key) + "="
                         + self._paint(COLOR_VALUE_NUM if is_num else COLOR_VALUE,
                                       eventlog.dumps(value)))
        return "".join(parts)

    def format(self, entry: dict) -> str:
        """The text of one entry, end of line included; ValueError if it is not a valid entry."""
        try:
            timestamp, name, context = eventlog.entry_parse(entry)
        except OSError as exc:
            raise ValueError(f"eventlog_entry_parse: {exc.strerror}") from None
        if self.unformatted:
            return eventlog.dumps(entry) + self.endl
        color = (COLOR_EXCEPTION if name == "exception" else COLOR_NAME)
        text = f"{self.timestamp_text(timestamp)} {self._paint(color, name)}"
        if context:
            text += self._context_text(context)
        return text + self.endl

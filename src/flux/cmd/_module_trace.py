"""``flux module trace [OPTIONS] [NAME...]``: print the messages broker modules exchange.

One streaming ``module.trace`` request (see flux/broker/module_trace.py); each
record prints as flux-core's command prints it::

    2026-11-23T14:30:49.235 kvs rx > kvs.ping [63]
    2026-11-23T14:30:49.236 kvs tx < kvs.ping [130] success

time (milliseconds; ``--human``: ``[MonDD HH:MM]`` at each new minute, then
``[+SS.UUUUUU]`` seconds into that minute), module name (right-aligned to the
longest NAME given), ``rx`` (to the module) or ``tx`` (from it), the type
(``>`` request, ``<`` response, ``e`` event, ``c`` control), topic, payload
size; a response adds ``success`` or its errno's name (``ENOENT``).  With
``--full`` the JSON payload (indented) or the error text follows on the next
lines.  Runs until SIGINT/SIGTERM (exit 0).
"""

from __future__ import annotations

import os
import sys
TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, NoReturn

PROG = "flux-module"

USAGE = """Usage: flux-module trace [OPTIONS] [module module...]
Trace module messages
  -f, --full                 Show JSON message payload, if any
  -T, --topic=GLOB           Filter output by message topic glob
  -t, --type=TYPE,...        Filter output by message type (request, response, event, control)
  -L, --color[=WHEN]         Colorize output when supported; WHEN can be 'always'
                             (default if omitted), 'never', or 'auto' (default).
  -H, --human                Human readable output
  -d, --delta                With --human, show timestamp delta between messages"""

TYPES = {"request": 1, "response": 2, "event": 4, "control": 8}
TYPE_CHARS = ((1, ">"), (2, "<"), (4, "e"), (8, "c"))
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# flux-core's colors: by message type, the time, a new minute, a failed response
COLORS = {4: "\x1b[33m", 1: "\x1b[01;34m", 2: "\x1b[36m", 8: "\x1b[1m", "time": "\x1b[32m",
          "timebreak": "\x1b[1m\x1b[32m", "fail": "\x1b[1m\x1b[31m"}
RESET = "\x1b[0m"
ENODATA, EPROTO = 61, 71


class Options:
    """What the command line asked for."""

    def __init__(self) -> None:
        self.full = self.human = self.delta = False
        self.glob = "*"
        self.typemask = 0x0F  # FLUX_MSGTYPE_ANY
        self.when = "never" if os.environ.get("NO_COLOR") else "auto"
        self.names: list[str] = []


def _die(text: str) -> NoReturn:
    from .util import die

    die(PROG, text)


def parse_options(argv: list[str], usage: str, die: Callable[[str], NoReturn], short: str,
                  long: str, on_value: Callable[[Options, str], None]
                  ) -> tuple[Options, list[str]]:
    """The options flux-core's trace commands share (``-f -H -d -L -t``, ``--type`` may repeat
    and takes comma-separated words), plus one that takes a value (``short``/``long``:
    ``-T/--topic`` here, ``-r/--rank`` for ``flux overlay trace``), handed to ``on_value`` as
    it comes; the arguments left over.  Errors go to ``die`` in the order they are met."""
    opts = Options()
    typed = False
    args: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        key, eq, value = arg.partition("=")
        if arg in ("-h", "--help"):
            print(usage)
            raise SystemExit(0)
        if arg in ("-f", "--full"):
            opts.full = True
        elif arg in ("-H", "--human"):
            opts.human = True
        elif arg in ("-d", "--delta"):
            opts.delta = True
        elif arg in ("-L", "--color"):
            opts.when = "always"
        elif key == "--color":
            opts.when = value
        elif arg.startswith("-L"):
            opts.when = arg[2:]
        elif key in (long, "--type") or arg[:2] in (short, "-t"):
            name = key if key.startswith("--") else (long if arg[:2] == short else "--type")
            if not key.startswith("--"):
                value, eq = arg[2:], "=" if arg[2:] else ""
            if not eq:
                if i >= len(argv):
                    die(f"option '{name}' requires an argument")
                value = argv[i]
                i += 1
            if name == long:
                on_value(opts, value)
                continue
            if not typed:
                opts.typemask, typed = 0, True
            for word in value.split(","):
                if word not in TYPES:
                    die("valid types: request, response, event, control")
                opts.typemask |= TYPES[word]
        elif arg.startswith("-") and arg != "-":
            die(f"unrecognized option {arg!r}\n{usage}")
        else:
            args.append(arg)
    return opts, args


def check_options(opts: Options, die: Callable[[str], NoReturn]) -> None:
    """The checks made once every option is read (flux-core's order)."""
    if opts.delta and not opts.human:
        die("--delta can only be used with --human")
    if opts.when not in ("always", "never", "auto"):
        die(f"Invalid argument to --color: '{opts.when}'")


def parse(argv: list[str]) -> Options:
    """flux-core's options: ``-T/--topic`` and the shared ones (``parse_options``)."""
    opts, names = parse_options(argv, USAGE, _die, "-T", "--topic",
                                lambda opts, glob: setattr(opts, "glob", glob))
    opts.names = names
    check_options(opts, _die)
    return opts


def print_stream(f: "Any", printer: "Printer", die: "Callable[[str], NoReturn]") -> "NoReturn":
    """Print each record of a trace stream (``module.trace``, ``overlay.trace``) as it
    comes, until the stream fails (its error, or EPROTO for a record we cannot read)."""
    from .util import oserror_text

    out = sys.stdout
    while True:
        try:
            line = printer.format(f.get())
        except OSError as exc:
            die(oserror_text(exc))
        except (KeyError, TypeError, ValueError):
            die(os.strerror(EPROTO))
        out.write(line + "\n")
        out.flush()
        f.reset()


def encode_size(size: int) -> str:
    """``1536`` -> ``"1.5K"`` (flux-core's encode_size: 8 significant digits)."""
    value, unit = float(size), 0
    while value >= 1024:
        value /= 1024
        unit += 1
    return f"{value:.8g}{('', 'K', 'M', 'G', 'T', 'P', 'E')[unit]}"


class Printer:
    """Formats records; remembers the minute shown last (``--human``)."""

    def __init__(self, opts: Options, color: bool) -> None:
        self.opts = opts
        self.color = color
        self.width = max((len(n) for n in opts.names), default=0)
        self.last = 0.0

    def c(self, key: object) -> str:
        return COLORS.get(key, "") if self.color else ""

    def stamp(self, ts: float) -> str:
        """flux-core's: the human form ends with a space of its own (two before the text)."""
        import time

        reset = RESET if self.color else ""
        if not self.opts.human:
            secs = int(ts)
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(secs))
            return f"{self.c('time')}{text}.{int(1e3 * (ts - secs)):03d}{reset}"
        if int(ts / 60) == int(self.last / 60):
            import math

            return f"{self.c('time')}[{ts - self.last + math.fmod(self.last, 60.0):+11.6f}]{reset} "
        tm = time.localtime(ts)
        self.last = ts
        return (f"{self.c('timebreak')}[{MONTHS[tm.tm_mon - 1]}{tm.tm_mday:02d} "
                f"{tm.tm_hour:02d}:{tm.tm_min:02d}]{reset} ")

    def lead(self, rec: dict) -> str:
        """What comes before the type: the module, right-aligned, and rx/tx."""
        return f"{rec['name'] or '':>{self.width}} {rec['prefix']}"

    def format(self, rec: dict) -> str:
        """One record (a ``module.trace`` response) as output lines."""
        import errno
        import json

        mtype = rec["type"]
        errnum = rec.get("errnum", 0)
        char = next((ch for bit, ch in TYPE_CHARS if mtype & bit), "?")
        text = f"{self.lead(rec)} {char} {rec['topic']} [{encode_size(rec['payload_size'])}]"
        if mtype == 2 and errnum == 0:
            text += " success"
        elif mtype == 2:
            text += f" {errno.errorcode.get(errnum, f'errno {errnum}')}"
        extra = None
        if errnum > 0:
            extra = rec.get("errstr") or None
        elif rec.get("payload") is not None:
            extra = json.dumps(rec["payload"], indent=2, ensure_ascii=False)
        kind = "fail" if mtype == 2 and errnum > 0 else mtype
        reset = RESET if self.color else ""
        body = f"{text}\n{extra}" if extra else text
        return f"{self.stamp(float(rec['timestamp']))} {self.c(kind)}{body}{reset}"


def main(argv: list[str]) -> int:
    import signal

    from flux.constants import FLUX_RPC_STREAMING
    from flux.message import compact_json  # flux-core's command is C: compact JSON

    from .util import open_handle

    opts = parse(argv)
    color = opts.when == "always" or (opts.when == "auto" and sys.stdout.isatty())
    printer = Printer(opts, color)
    h = open_handle(PROG)
    f = h.rpc("module.trace", compact_json({"typemask": opts.typemask, "topic_glob": opts.glob,
                                            "names": opts.names, "full": opts.full}),
              flags=FLUX_RPC_STREAMING)

    def bye(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGINT, bye)
    signal.signal(signal.SIGTERM, bye)
    print_stream(f, printer, _die)

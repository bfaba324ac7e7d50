"""``flux overlay trace [OPTIONS] [TOPIC-GLOB]``: print the messages a broker's overlay
exchanges with its peers, as flux-core's command prints them::

    2026-12-02T14:30:49.235 tx 1 > kvs.lookup [63]
    2026-12-02T14:30:49.236 rx 1 < kvs.lookup [130] success
    2026-12-02T14:30:49.300 tx * e heartbeat.pulse [15]

time, ``rx``/``tx``, the peer rank (``*``: an event to every child), then type,
topic, size and a response's outcome as ``flux module trace`` (``_module_trace.py``,
whose printer this borrows).  One streaming ``overlay.trace`` request to this broker
(``-r RANK`` keeps only that peer's messages); runs until SIGINT/SIGTERM (exit 0).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import NoReturn

from ._module_trace import Options, Printer, check_options, parse_options, print_stream

PROG = "flux-overlay"

USAGE = """Usage: flux-overlay trace [OPTIONS] [topic-glob]
Trace overlay messages
  -r, --rank=NODEID          Filter output by peer rank
  -f, --full                 Show JSON message payload, if any
  -t, --type=TYPE,...        Filter output by message type (request, response, event, control)
  -L, --color[=WHEN]         Colorize output when supported; WHEN can be 'always'
                             (default if omitted), 'never', or 'auto' (default).
  -H, --human                Human readable output
  -d, --delta                With --human, show timestamp delta between messages"""

_ANY = 0xFFFFFFFF  # FLUX_NODEID_ANY, as flux-core's command sends it


class _PeerPrinter(Printer):
    def lead(self, rec: dict) -> str:
        rank = rec.get("rank", -1)
        return f"{rec['prefix']} {'*' if rank < 0 else rank}"


def _die(text: str) -> "NoReturn":
    from .util import die

    die(PROG, text)


def parse(argv: list[str]) -> tuple[Options, int]:
    """flux-core's options: ``-r/--rank`` and those ``flux module trace`` has (``-T`` aside:
    the topic glob is the argument here)."""
    rank = [_ANY]

    def set_rank(opts: Options, value: str) -> None:
        try:
            rank[0] = int(value)
        except ValueError:
            _die("option '--rank' requires an integer argument")

    opts, args = parse_options(argv, USAGE, _die, "-r", "--rank", set_rank)
    if len(args) > 1:
        print(USAGE, file=sys.stderr)
        raise SystemExit(1)
    if args:
        opts.glob = args[0]
    check_options(opts, _die)
    return opts, rank[0]


def main(argv: list[str]) -> int:
    import signal

    from flux.constants import FLUX_RPC_STREAMING
    from flux.message import compact_json  # flux-core's command is C: compact JSON

    from .util import open_handle

    opts, rank = parse(argv)
    color = opts.when == "always" or (opts.when == "auto" and sys.stdout.isatty())
    printer = _PeerPrinter(opts, color)
    h = open_handle(PROG)
    # flux-core packs the nodeid with "s:i": FLUX_NODEID_ANY arrives as -1
    f = h.rpc("overlay.trace", compact_json({"typemask": opts.typemask,
                                             "topic_glob": opts.glob,
                                             "nodeid": -1 if rank == _ANY else rank,
                                             "full": opts.full}),
              flags=FLUX_RPC_STREAMING)

    # as flux-core's command: a signal ends it (exit 128+N), no traceback
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    print_stream(f, printer, _die)

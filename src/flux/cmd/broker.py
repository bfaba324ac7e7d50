"""``flux broker [-S NAME=VALUE]... [COMMAND [ARG...]]``: the broker process."""

from __future__ import annotations

SUMMARY = "Run a Flux broker (normally started by 'flux start')"

USAGE = """Usage: flux broker [OPTIONS] [COMMAND [ARG...]]
Run a size-1 Flux instance broker.  With COMMAND, run it as the initial
program and exit with its status; without, serve until 'flux shutdown' or
SIGTERM/SIGINT.
  -S, --setattr=NAME=VALUE   set a broker attribute (repeatable)
  -c, --config-path=PATH     read the config from a TOML file or a directory of them
  -v, --verbose[=LEVEL]      print the broker's log on stderr: 1 info, 2 debug"""


def main(argv: list[str]) -> int:
    from flux.broker.broker import Broker, BrokerError, parse_setattr

    from ._brokeropts import parse
    from .util import die

    items, command = parse(argv, "flux-broker", USAGE)
    try:
        broker = Broker(parse_setattr(items), command or None)
    except BrokerError as exc:
        die("flux-broker", str(exc))
    try:
        return broker.run()
    except BrokerError as exc:
        die("flux-broker", str(exc))

"""``flux start [OPTIONS] [COMMAND [ARG...]]``: run a Flux instance.

A size-1 instance runs its broker inside this process (no second interpreter
to start, no PMI): the broker binds ``local://<rundir>/local-0`` before the
initial program starts, runs COMMAND (default: an interactive ``$SHELL``)
with FLUX_URI set, shuts down when it exits and returns its exit status.
"""

from __future__ import annotations

import os

SUMMARY = "Bootstrap a Flux instance and run a command in it"

USAGE = """Usage: flux start [OPTIONS] [COMMAND [ARG...]]
Start a Flux instance, run COMMAND in it (default: $SHELL), then shut it
down and exit with COMMAND's exit status.
  -S, --setattr=NAME=VALUE   set a broker attribute (repeatable)
  -c, --config-path=PATH     read the config from a TOML file or a directory of them
  -o, --broker-opts=OPTS     pass options to the broker (-S forms only)
      --test-rundir=DIR      use DIR as the run directory (kept afterwards)
      --test-size=N          instance size (only 1 is supported)
  -v, --verbose              print the broker's informational log on stderr"""


def main(argv: list[str]) -> int:
    from flux.broker.broker import Broker, BrokerError, parse_setattr

    from ._brokeropts import parse
    from .util import die

    rundir: str | None = None
    verbose_log = False
    broker_words: list[str] = []

    def set_rundir(value: str) -> None:
        nonlocal rundir
        rundir = value

    def set_size(value: str) -> None:
        if value.strip() != "1":
            die("flux-start", f"--test-size={value}: only size 1 is supported")

    def broker_opts(value: str) -> None:
        broker_words.extend(value.split())

    def verbose() -> None:
        nonlocal verbose_log
        verbose_log = True

    items, command = parse(
        argv, "flux-start", USAGE,
        extra={"--test-rundir": set_rundir, "--test-size": set_size,
               "-o": broker_opts, "--broker-opts": broker_opts},
        flags={"-v": verbose, "--verbose": verbose},
    )
    if broker_words:
        extra_items, rest = parse(broker_words, "flux-start", USAGE)
        if rest:
            die("flux-start", f"unsupported broker option {rest[0]!r}")
        items = extra_items + items
    try:
        setattrs = parse_setattr(items)
    except BrokerError as exc:
        die("flux-start", str(exc))
    if verbose_log:
        setattrs.setdefault("log-stderr-level", "6")
    if rundir is not None:
        rundir = os.path.abspath(rundir)
        if not os.path.isdir(rundir):
            die("flux-start", f"--test-rundir {rundir}: No such file or directory")
        setattrs["rundir"] = rundir
    interactive = not command
    if not command:
        command = [os.environ.get("SHELL") or "/bin/sh"]
    try:
        broker = Broker(setattrs, command, interactive_shell=interactive)
        return broker.run()
    except BrokerError as exc:  # flux-core's flux start execs the broker, which prints these
        die("flux-broker", str(exc))

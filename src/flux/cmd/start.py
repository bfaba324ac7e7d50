"""``flux start [OPTIONS] [COMMAND [ARG...]]``: run a Flux instance.

A size-1 instance runs its broker inside this process (no second interpreter
to start, no PMI): the broker binds ``local://<rundir>/local-0`` before the
initial program starts, runs COMMAND (default: an interactive ``$SHELL``)
with FLUX_URI set, shuts down when it exits and returns its exit status.

``--test-size=N`` (N > 1) starts N broker processes on this machine instead,
bootstrapped by a PMI-1 server in this process (``_start_test.py``).
"""

from __future__ import annotations

import os
TYPE_CHECKING = False  # typing is not imported before rank 0's early fork (_start_test)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Callable, Optional

SUMMARY = "Bootstrap a Flux instance and run a command in it"

USAGE = """Usage: flux start [OPTIONS] [COMMAND [ARG...]]
Start a Flux instance, run COMMAND in it (default: $SHELL), then shut it
down and exit with COMMAND's exit status.
  -S, --setattr=NAME=VALUE   set a broker attribute (repeatable)
  -c, --config-path=PATH     read the config from a TOML file or a directory of them
  -o, --broker-opts=OPTS     add comma-separated broker options, e.g. -o,-Sname=value
  -s, --test-size=N          start a test instance of N brokers on this machine
      --test-hosts=HOSTLIST  set fake hostnames for the brokers
      --test-exit-timeout=FSD  after a broker exits, kill the others after FSD (20s)
      --test-exit-mode=any|leader  which broker's exit starts that timer (any)
      --test-rundir=DIR      use DIR as the run directory (kept afterwards)
      --test-rundir-cleanup  remove --test-rundir DIR at the end
      --test-pmi-clique=single|per-broker|none|TASKMAP  PMI_process_mapping (single)
  -v, --verbose[=LEVEL]      show the broker command lines (2: and the PMI exchange)
  -X, --noexec               start nothing (with -v: only show the command lines)"""


def main(argv: list[str]) -> int:
    import gc

    # The broker's modules create ~17000 objects that live as long as the process:
    # without this the collector walks them a few times during the imports (~10% of
    # their cost).  Turned back on before a broker runs (in _start, or in each
    # forked one), and in any case on the way out.
    gc.disable()
    try:
        return _start(argv)
    finally:
        gc.enable()


def _start(argv: list[str]) -> int:
    import gc

    from flux.broker.setattr_items import split_setattr

    from ._brokeropts import parse
    from .util import die

    rundir: str | None = None
    verbose_level = 0
    no_exec = False
    broker_words: list[str] = []

    def set_rundir(value: str) -> None:
        nonlocal rundir
        rundir = value

    size = 1
    test_opts: dict[str, str] = {}

    def set_size(value: str) -> None:
        nonlocal size
        try:
            size = int(value)
        except ValueError:
            size = -1
        if size <= 0:
            die("flux-start", "--test-size argument must be > 0")
        test_opts["test-size"] = value

    def test_opt(name: str) -> Callable[[str], None]:
        def setter(value: str) -> None:
            test_opts[name] = value
        return setter

    def rundir_cleanup() -> None:
        test_opts["test-rundir-cleanup"] = ""

    def broker_opts(value: str) -> None:
        # comma-separated, as flux-core's: -o,-Sname=value,-Sother=value
        broker_words.extend(word for word in value.split(",") if word)

    def verbose(level: int) -> None:
        nonlocal verbose_level
        verbose_level = level

    def noexec() -> None:
        nonlocal no_exec
        no_exec = True

    items, command = parse(
        argv, "flux-start", USAGE,
        extra={"--test-rundir": set_rundir, "--test-size": set_size, "-s": set_size,
               "--test-hosts": test_opt("test-hosts"),
               "--test-exit-timeout": test_opt("test-exit-timeout"),
               "--test-pmi-clique": test_opt("test-pmi-clique"),
               "--test-exit-mode": test_opt("test-exit-mode"),
               "-o": broker_opts, "--broker-opts": broker_opts},
        flags={"-X": noexec, "--noexec": noexec, "--test-rundir-cleanup": rundir_cleanup},
        verbosity=verbose,
    )
    if "test-size" not in test_opts:
        for name in test_opts:
            die("flux-start", f"--{name} only works with --test-size")
    if broker_words:
        extra_items, rest = parse(broker_words, "flux-start", USAGE)
        if rest:
            die("flux-start", f"unsupported broker option {rest[0]!r}")
        items = extra_items + items
    try:
        setattrs = split_setattr(items)
    except ValueError as exc:
        die("flux-start", str(exc))
    if rundir is not None:
        rundir = os.path.abspath(rundir)
        if not os.path.isdir(rundir):
            die("flux-start", f"--test-rundir {rundir}: No such file or directory")
        setattrs["rundir"] = rundir
    interactive = not command
    if not command:
        command = [os.environ.get("SHELL") or "/bin/sh"]
    if size > 1:  # nothing of the broker imported yet: see _start_test.TestInstance.run
        return _test_instance(size, command, items, rundir, test_opts, verbose_level, no_exec)
    if verbose_level:  # the broker runs in this process: the command line it stands for
        import sys

        line = " ".join([sys.argv[0], "broker"] + [f"--setattr={i}" for i in items] + command)
        print(f"flux-start: {line}", file=sys.stderr, flush=True)
    if no_exec:
        return 0
    from flux.broker.broker import Broker, BrokerError

    gc.freeze()
    gc.enable()
    try:
        broker = Broker(setattrs, command, interactive_shell=interactive)
        return broker.run()
    except BrokerError as exc:  # flux-core's flux start execs the broker, which prints these
        die("flux-broker", str(exc))


def _test_instance(size: int, command: list[str], items: list[str], rundir: Optional[str],
                   opts: dict[str, str], verbose: int, no_exec: bool = False) -> int:
    """N brokers under a PMI server in this process (``--test-size=N``, N > 1)."""
    from . import main

    main.quick_exit()  # the brokers are child processes: nothing here needs the normal exit
    from ._optparse import parse_duration
    from ._resource_sets import hostlist_decode
    from ._start_test import DEFAULT_EXIT_TIMEOUT, TestInstance, process_mapping
    from .util import die

    hosts = None
    if "test-hosts" in opts:
        try:
            hosts = hostlist_decode(opts["test-hosts"])
        except ValueError:
            die("flux-start", "could not decode --test-hosts hostlist")
        if len(hosts) != size:
            die("flux-start", "--test-hosts hostlist has incorrect size")
    timeout = DEFAULT_EXIT_TIMEOUT
    if "test-exit-timeout" in opts:
        try:
            timeout = parse_duration(opts["test-exit-timeout"])
        except ValueError:
            die("flux-start", f"invalid duration {opts['test-exit-timeout']!r}")
    exit_mode = opts.get("test-exit-mode", "any")
    if exit_mode not in ("any", "leader"):
        die("flux-start", f"unknown --test-exit-mode: {exit_mode}")
    clique = opts.get("test-pmi-clique", "single")
    try:
        process_mapping(clique, size)
    except ValueError as exc:
        die("flux-start", str(exc))
    args = [f"--setattr={item}" for item in items]
    return TestInstance(size, command, args, rundir, hosts, timeout, clique,
                        cleanup_rundir="test-rundir-cleanup" in opts,
                        verbose=verbose, exit_mode=exit_mode, no_exec=no_exec).run()

"""``flux alloc``: run a new Flux instance as a job and attach to it (flux-core 0.88's).
COMMAND is the instance's initial program (default: an interactive shell); the command
attaches as ``flux job attach`` and exits with the job's exit code.  ``--bg`` waits
until the instance is ready (its ``uri`` memo, then the instance's ``state-machine.wait``)
and prints the job's id instead.  Not here: a pty (flux-core gives an interactive job a
pty when stdin is a terminal; here standard input is forwarded as a pipe)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    import argparse
    from typing import Any

SUMMARY = "Allocate a new Flux instance for interactive use"

PROG = "flux-alloc"


def _parser() -> argparse.ArgumentParser:
    import argparse

    from . import _batch_alloc

    p = _batch_alloc.parser(PROG, "flux alloc [OPTIONS...] [COMMAND] [ARGS...]")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="Increase verbosity on stderr (multiple use OK)")
    p.add_argument("--bg", action="store_true",
                   help="Wait for new instance to start, but do not attach to it.")
    p.add_argument("COMMAND", nargs=argparse.REMAINDER,
                   help="Set the initial COMMAND of new Flux instance.(default is an "
                        "interactive shell)")
    return p


def _jobspec(args: Any) -> Any:
    from flux.job.Jobspec import JobspecV1

    from . import _batch_alloc

    _batch_alloc.init_common(args)
    if args.COMMAND and args.COMMAND[0] == "--":
        args.COMMAND.pop(0)
    if args.bg and not args.COMMAND:  # no initial program unless one is given
        args.broker_opts = (args.broker_opts or []) + ["-Sbroker.rc2_none=1"]
    elif not args.COMMAND:
        import os
        import sys

        # flux-core's broker refuses to run its interactive shell without a terminal
        if not sys.stdin.isatty():
            raise ValueError("stdin is not a tty - can't run interactive shell")
        args.COMMAND = [os.environ.get("SHELL") or "/bin/bash", "-i"]
    jobspec = JobspecV1.from_nest_command(command=args.COMMAND, name=args.job_name,
                                          **_batch_alloc.nest_options(args))
    return _batch_alloc.finish_jobspec(jobspec, args)


def _log(jobid: Any, ts: float, text: str) -> None:
    import sys

    print(f"{jobid}: {ts:6.3f}s: {text}", file=sys.stderr, flush=True)


def _background(h: Any, jobid: Any, verbose: int) -> int:
    """Wait for the instance's ``uri`` memo and for it to be ready; print the id."""
    import time

    import flux
    from flux.job.event import event_watch

    from ._job_cli import warn

    t0 = time.time()
    if verbose:
        _log(jobid, 0.0, "waiting for resources")
    for event in event_watch(h, jobid):
        if verbose and event.name == "alloc":
            _log(jobid, time.time() - t0, "resources allocated")
        if event.name == "memo" and "uri" in (event.context or {}):
            if verbose:
                _log(jobid, time.time() - t0, "waiting for instance")
            uri = event.context["uri"]
            if uri.startswith("ssh://"):  # this machine: its local socket
                uri = "local://" + uri[len("ssh://"):].partition("/")[1] \
                    + uri[len("ssh://"):].partition("/")[2]
            try:
                with flux.Flux(uri) as child:
                    child.rpc("state-machine.wait").get()
            except OSError as exc:
                raise OSError(f"{jobid}: instance startup failed: {exc}") from None
            if verbose:
                _log(jobid, time.time() - t0, "ready")
            print(jobid, flush=True)
            return 0
        if event.name == "clean":
            break
    warn(PROG, f"{jobid}: unexpectedly exited")
    return 1


def main(argv: list[str]) -> int:
    from ._job_cli import run

    def body() -> int:
        import sys

        import flux

        from . import _batch_alloc
        from ._job_attach import Attach

        args = _parser().parse_args(argv)
        jobspec = _jobspec(args)
        if args.dry_run:
            print(jobspec.dumps())
            return 0
        with flux.Flux() as h:
            jobid = _batch_alloc.submit(h, jobspec, args)
            if args.bg:
                return _background(h, jobid, args.verbose)
            if args.verbose > 0:
                print("jobid:", jobid, file=sys.stderr, flush=True)
            return Attach(h, int(jobid)).run()

    return run(PROG, body)

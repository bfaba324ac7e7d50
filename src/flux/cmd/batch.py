"""``flux batch``: submit a script as the initial program of a new Flux instance run as
a job (flux-core 0.88's).  The script is read from a file or stdin, or ``--wrap``ped
from the arguments (``#!/bin/sh``); its RFC 36 ``#flux:`` directives are options applied
before the command line's.  Output goes to ``flux-{{id}}.out`` unless ``--output``.
Prints the job's id."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    import argparse
    from typing import Any

SUMMARY = "Submit a batch script to Flux"

PROG = "flux-batch"


def _parser() -> argparse.ArgumentParser:
    import argparse

    from . import _batch_alloc

    p = _batch_alloc.parser(PROG, "flux batch [OPTIONS...] [SCRIPT] [ARGS...]")
    p.add_argument("--wrap", action="store_true",
                   help="Wrap arguments or stdin in a /bin/sh script")
    p.add_argument("SCRIPT", nargs=argparse.REMAINDER,
                   help="Batch script and arguments to submit")
    return p


def _read_script(p: argparse.ArgumentParser, argv: list[str],
                 args: Any) -> tuple[str, Any]:
    """The script text and the options (its directives first, then the command line)."""
    import sys

    from flux.job.directives import DirectiveParser

    if args.SCRIPT and args.SCRIPT[0] == "--":
        args.SCRIPT.pop(0)
    if args.SCRIPT and args.wrap:
        return " ".join(args.SCRIPT) + "\n", args
    name = args.SCRIPT[0] if args.SCRIPT else "stdin"
    try:
        if args.SCRIPT:
            with open(args.SCRIPT[0], encoding="utf-8") as f:
                lines = f.read()
        else:
            lines = sys.stdin.read()
        parsed = DirectiveParser(lines.splitlines(keepends=True))
    except UnicodeError:
        raise ValueError(f"{name} does not appear to be a script, "
                         "or failed to encode as utf-8") from None
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    new = None
    for item in parsed.directives:
        if item.action == "SETARGS":
            try:
                new = p.parse_args(item.args, namespace=new)
            except SystemExit:
                print(f"flux-batch: ERROR: argument parsing failed at {name} line "
                      f"{item.lineno}", file=sys.stderr)
                raise SystemExit(2) from None
    args = p.parse_args(argv, namespace=new)
    if args.SCRIPT and args.SCRIPT[0] == "--":
        args.SCRIPT.pop(0)
    return parsed.script, args


def _jobspec(script: str, args: Any) -> Any:
    from flux.job.Jobspec import JobspecV1

    from . import _batch_alloc

    _batch_alloc.init_common(args)
    if args.wrap:
        script = f"#!/bin/sh\n{script}"
    if args.job_name is None:
        args.job_name = args.SCRIPT[0] if args.SCRIPT else "batch"
    jobspec = JobspecV1.from_batch_command(
        script=script, jobname=args.job_name, args=args.SCRIPT[1:],
        input=args.input, output=args.output if args.output is not None else "flux-{{id}}.out",
        error=args.error, label_io=args.label_io, **_batch_alloc.nest_options(args))
    return _batch_alloc.finish_jobspec(jobspec, args)


def main(argv: list[str]) -> int:
    from ._job_cli import run

    def body() -> int:
        import flux

        from . import _batch_alloc

        p = _parser()
        args = p.parse_args(argv)
        script, args = _read_script(p, argv, args)
        jobspec = _jobspec(script, args)
        if args.dry_run:
            print(jobspec.dumps())
            return 0
        with flux.Flux() as h:
            jobid = _batch_alloc.submit(h, jobspec, args)
        if not args.quiet:
            print(jobid, flush=True)
        return 0

    return run(PROG, body)

"""``flux run``: ``flux submit``'s options, then attach to the job as ``flux job attach``
does (in this process; flux-core execs ``flux-job attach``), exiting with the job's exit
code.  ``-v`` prints ``jobid: ID`` on stderr, ``-vv`` the job's events, ``-vvv`` its exec
events too; ``--input=IDSET`` sends stdin to those task ranks only (a file name is the
job's input file, as with ``flux submit``)."""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    import argparse

SUMMARY = "Run a job interactively"

PROG = "flux-run"


def main(argv: list[str]) -> int:
    from ._job_cli import posix_split, run
    from ._job_submit_options import run_parser

    parser = run_parser(PROG)
    options, command = posix_split(parser, argv)
    args = parser.parse_args(options)
    args.command = command
    return run(PROG, lambda: _run(args))


def _stdin_ranks(args: argparse.Namespace) -> str:
    """``--input`` as an idset of task ranks ("all" if not one); a file stays in args."""
    if args.input is None:
        return "all"
    from flux.idset import IDset

    try:
        ranks = IDset(args.input)
    except ValueError:
        return "all"
    args.input = None
    return str(ranks)


def _run(args: argparse.Namespace) -> int:
    import sys

    import flux
    from flux.job.submit import submit_async

    from ._job_jobspec import jobspec_from_args
    from ._job_submit_bulk import submit_flags, urgency_value

    stdin_ranks = _stdin_ranks(args)
    jobspec = jobspec_from_args(args)
    if args.dry_run:
        print(jobspec.dumps())
        return 0
    flags = submit_flags(args)
    with flux.Flux() as h:
        jobid = submit_async(h, jobspec.dumps(), urgency=urgency_value(args.urgency),
                             **flags).get_id()
        if args.verbose > 0:
            print("jobid:", jobid, file=sys.stderr, flush=True)
        # imported once the job is submitted: it runs meanwhile
        from ._job_attach import Attach

        return Attach(h, int(jobid), label_io=args.label_io,
                      show_events=args.verbose > 1, show_exec=args.verbose > 2,
                      wait_event=args.wait_event or "clean",
                      stdin_ranks=stdin_ranks).run()

"""``flux submit``: submit a job and print its id (f58), as flux-core 0.88's.

The jobspec is built from the options (``_job_jobspec``); ``--dry-run`` prints
it instead of submitting.  ``--cc``/``--bcc IDSET`` submits one copy per id;
``--wait``/``--wait-event=NAME`` then follows every job and exits with the
largest exit code among them (``_job_submit_bulk``, ``_job_watch``).
"""

from __future__ import annotations

SUMMARY = "Submit a job to a Flux instance"

PROG = "flux-submit"


def main(argv: list[str]) -> int:
    from ._job_cli import posix_split, run
    from ._job_submit_options import submit_parser

    def body() -> int:
        parser = submit_parser(PROG)
        options, command = posix_split(parser, argv)
        args = parser.parse_args(options)  # --begin-time's errors are CLIMain's
        args.command = command
        return _submit(args)

    return run(PROG, body)


def _submit(args: object) -> int:
    from ._job_submit_bulk import BulkSubmitter

    submitter = BulkSubmitter(args)  # type: ignore[arg-type]
    try:
        submitter.submit_with_cc(args)
    finally:
        status = submitter.finish()
    return status

"""``flux jobs``: list jobs, as flux-core 0.88's (its options, formats, filters and JSON).

One ``job-list.list`` query (or ``job-list.list-id`` per id given) for the
attributes the format needs; by default the current user's pending and
running jobs, newest first.  ``-a`` adds inactive jobs, ``-A`` every user's,
``-f`` picks states and results, ``-o`` a format (see ``_job_outputformat``)
or a named one (``-o help``), ``--json`` the records as flux-core prints them.
Not offered: ``--since``, ``-i/--include``, recursion (``-R``, ``-L``,
``--recurse-all``, ``--threads``) and ``--stats``/``--stats-only``.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    import argparse
    from typing import Any

SUMMARY = "List jobs submitted to Flux"

PROG = "flux-jobs"


def _actions() -> dict[str, type]:
    """flux-core's argparse actions: filters note that a filter was given."""
    import argparse

    class Filter(argparse.Action):
        def __call__(self, parser: Any, ns: Any, values: Any, option_string: Any = None) -> None:
            setattr(ns, self.dest, values)
            ns.filtered = True

    class FilterSetUpdate(argparse.Action):
        def __call__(self, parser: Any, ns: Any, values: Any, option_string: Any = None) -> None:
            ns.filtered = True
            getattr(ns, self.dest).update(values.split(","))

    class FilterUser(argparse.Action):
        def __call__(self, parser: Any, ns: Any, values: Any, option_string: Any = None) -> None:
            ns.filtered = True
            ns.filtereduser = True
            setattr(ns, self.dest, values)

    class FilterTrue(argparse.Action):
        def __init__(self, option_strings: Any, dest: str, **kwargs: Any) -> None:
            super().__init__(option_strings=option_strings, dest=dest, nargs=0, const=True,
                             default=False, help=kwargs.get("help"))

        def __call__(self, parser: Any, ns: Any, values: Any, option_string: Any = None) -> None:
            setattr(ns, self.dest, self.const)
            ns.filtered = True

    class Color(argparse.Action):
        def __init__(self, option_strings: Any, dest: str, **kwargs: Any) -> None:
            import os

            default = "never" if os.environ.get("NO_COLOR") else "auto"
            super().__init__(option_strings, dest, nargs="?", default=default,
                             metavar="WHEN",
                             help="Use color; WHEN can be 'never', 'always' or 'auto' "
                                  "(default)")

        def __call__(self, parser: Any, ns: Any, values: Any, option_string: Any = None) -> None:
            if values is None:
                values = "always"
            if values not in ("auto", "always", "never"):
                parser.error(f"Invalid argument to --color: '{values}'")
            setattr(ns, self.dest, values)

    return {"filter": Filter, "set": FilterSetUpdate, "user": FilterUser,
            "true": FilterTrue, "color": Color}


def _jobid(text: str) -> int:
    from flux.job.JobID import JobID

    try:
        return JobID(text)
    except (OSError, TypeError):
        raise ValueError(text) from None


_jobid.__name__ = "JobID"  # argparse names the type in its message, as flux-core's


def parse_args(argv: list[str]) -> argparse.Namespace:
    import argparse
    import os

    from ._job_cli import parser as make_parser

    act = _actions()
    p = make_parser(PROG)
    p.add_argument("-a", action=act["true"], help="List jobs in all states")
    p.add_argument("-A", action=act["true"], help="List all jobs for all users")
    p.add_argument("-c", "--count", action=act["filter"], type=int, metavar="N", default=1000,
                   help="Limit output to N jobs (default 1000)")
    p.add_argument("-f", "--filter", action=act["set"], metavar="STATE|RESULT", default=set(),
                   help="List jobs with specific job state or result")
    p.add_argument("-n", "--no-header", action="store_true",
                   help="Suppress printing of header line")
    p.add_argument("--suppress-header", action="store_true", dest="no_header",
                   help=argparse.SUPPRESS)
    p.add_argument("-u", "--user", action=act["user"], type=str, metavar="[USERNAME|UID]",
                   default=str(os.getuid()),
                   help='Limit output to specific username or userid (Specify "all" for '
                        "all users)")
    p.add_argument("--name", action=act["filter"], type=str, metavar="JOB-NAME",
                   help="Limit output to specific job name")
    p.add_argument("-q", "--queue", action=act["set"], default=set(), metavar="QUEUE,...",
                   help="Limit output to specific queue or queues")
    p.add_argument("-o", "--format", type=str, default="default", metavar="FORMAT",
                   help="Specify output format using Python's string format syntax  or a "
                        "defined format by name (use 'help' to get a list of names)")
    p.add_argument("--sort", type=str, default="", metavar="KEY,...",
                   help="Specify sort order")
    p.add_argument("-w", "--width", type=int, default=-1, const=0, metavar="N", nargs="?",
                   help="Truncate output at width N. If N=0 (default if N omitted) and "
                        "stdout is connected to a terminal, use terminal width")
    p.add_argument("--json", action="store_true",
                   help="Output jobs in JSON instead of formatted output")
    p.add_argument("--color", action=act["color"])
    p.add_argument("jobids", metavar="JOBID", type=_jobid, nargs="*",
                   help="Limit output to specific Job IDs")
    p.set_defaults(filtered=False, filtereduser=False)
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    from ._job_cli import run

    args = parse_args(argv)
    return run(PROG, lambda: _main(args))


def _color_on(when: str) -> bool:
    if when == "always":
        return True
    if when == "never":
        return False
    return sys.stdout.isatty()


def _fetch(args: argparse.Namespace, fields: list[str]) -> tuple[list, bool]:
    import flux
    from flux.job.list import JobList

    from ._job_cli import warn
    from ._job_jobs_format import fields_to_attrs

    attrs = fields_to_attrs(fields)
    if _color_on(args.color):
        attrs.update(fields_to_attrs(["result", "annotations"]))
    if args.json:
        args.no_header = True
        attrs.add("all")
    if args.A:
        args.user = str(0xFFFFFFFF)  # FLUX_USERID_UNKNOWN: every user
    if args.a:
        if args.filter:
            warn(PROG, "Both -a and --filter specified, ignoring -a")
        else:
            args.filter.update(["pending", "running", "inactive"])
    if not args.filter:
        args.filter = {"pending", "running"}
    query = JobList(flux.Flux(), ids=args.jobids, attrs=attrs, filters=args.filter,
                    user=args.user,
                    max_entries=args.count + 1 if args.count > 0 else args.count,
                    name=args.name, queue=args.queue)
    jobs = query.jobs()
    truncated = args.count > 0 and len(jobs) > args.count
    if truncated:
        jobs = jobs[:-1]
    for error in query.errors:
        print(error, file=sys.stderr)
    return jobs, truncated


_RESULT_COLORS = {"COMPLETED": "\033[01;32m", "FAILED": "\033[01;31m",
                  "CANCELED": "\033[37m", "TIMEOUT": "\033[01;31m"}


def _main(args: argparse.Namespace) -> int:
    import json

    from ._job_cli import warn
    from ._job_jobs_format import format_string, job_format

    if args.jobids and args.filtered:
        warn(PROG, "Filtering options ignored with jobid list")
    fmt = format_string(args.format)
    try:
        formatter = job_format(fmt)
    except ValueError as err:
        raise ValueError("Error in user format: " + str(err)) from None
    if args.sort:
        formatter.set_sort_keys(args.sort)
    jobs, truncated = _fetch(args, formatter.fields)
    if args.jobids and not jobs:
        return 1
    sformatter = job_format(formatter.filter(jobs, no_header=args.no_header))
    if not args.no_header:
        print(sformatter.header(width=args.width))
    if args.json:
        result = [job.to_dict() for job in jobs]
        if args.jobids and len(args.jobids) == 1:
            if result:
                print(json.dumps(result[0]))
        else:
            print(json.dumps({"jobs": result}))
    else:
        color = _color_on(args.color)
        painted: list[bool] = []

        def pre(job: Any) -> None:
            code = ""
            if color:
                code = _RESULT_COLORS.get(job.result, "") if job.result else ""
                if not job.result and job.uri:
                    code = "\033[01;34m"
            sys.stdout.write(code)
            painted.append(bool(code) or (color and bool(job.result)))

        def post(job: Any) -> None:
            if painted and painted.pop():
                sys.stdout.write("\033[0;0m")

        sformatter.print_items(jobs, no_header=True, width=args.width, pre=pre, post=post)
    if not args.no_header and truncated:
        print(f"warning: output truncated at {args.count} jobs.", file=sys.stderr)
        print("Use --count to increase returned results or use filters to alter results.",
              file=sys.stderr)
    return 0

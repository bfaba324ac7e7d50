"""``flux pgrep``: list jobs whose name matches a pattern or whose id is in a range.

As flux-core 0.88's (``flux pkill`` shares it): EXPRESSION is a regular
expression searched in job names (``name:`` prefix optional) and/or an id
range ``ID1..ID2``; only one pattern.  Jobs come from one ``job-list.list``
(pending and running of this user unless ``-a``, ``-A``, ``-u``, ``-f``,
``-q``), at most ``--max-entries`` searched and ``-c`` shown.  Exit status 1
when no job matches, 2 for a bad expression.  The default format (the id
alone) prints no header.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    import argparse
    from typing import Any

SUMMARY = "List jobs by name or id range"

PROG = "flux-pgrep"

#: name -> (description, format): flux-core 0.88's flux-pgrep formats
FORMATS = {
    "default": ("Default flux-pgrep format string", "{id.f58}"),
    "full": ("full flux-pgrep format string",
             ("{id.f58:>12} ?:{queue:<8.8} +:{username:<8} {name:<10.10+} "
              "{status_abbrev:>2.2} {ntasks:>6} {nnodes:>6h} "
              "{contextual_time!F:>8h} {contextual_info}")),
    "long": ("Extended flux-pgrep format string",
             ("{id.f58:>12} ?:{queue:<8.8} +:{username:<8} {name:<10.10+} "
              "{status:>9.9} {ntasks:>6} {nnodes:>6h} "
              "{t_submit!d:%b%d %R::>12} {t_remaining!F:>12h} "
              "{contextual_time!F:>8h} {contextual_info}")),
    "deps": ("Show job urgency, priority, and dependencies",
             ("{id.f58:>12} ?:{queue:<8.8} {name:<10.10+} {urgency:<3} "
              "{priority:<12} {state:<8.8} {dependencies}")),
}


def parse_args(prog: str, argv: list[str]) -> argparse.Namespace:
    import argparse
    import os

    from ._job_cli import parser as make_parser

    class SetUpdate(argparse.Action):
        def __call__(self, parser: Any, ns: Any, values: Any, option_string: Any = None) -> None:
            getattr(ns, self.dest).update(values.split(","))

    pgrep = prog == "flux-pgrep"
    p = make_parser(prog)
    p.add_argument("-a", action="store_true",
                   help="Target jobs in all states" if pgrep else argparse.SUPPRESS)
    p.add_argument("-A", action="store_true", help="Target all users")
    p.add_argument("-u", "--user", type=str, metavar="[USERNAME|UID]", default=str(os.getuid()),
                   help='Limit output to specific username or userid (Specify "all" for all '
                        "users)")
    p.add_argument("-f", "--filter", action=SetUpdate, metavar="STATE|RESULT", default=set(),
                   help="List jobs with specific job state or result")
    p.add_argument("-q", "--queue", action=SetUpdate, metavar="QUEUE,...", default=set(),
                   help="Limit output to specific queue or queues")
    p.add_argument("-c", "--count", type=int, metavar="N", default=99999,
                   help="Limit output to the first N matches")
    p.add_argument("--max-entries", type=int, metavar="N", default=1000,
                   help="Limit number of searched jobs to N entries (default: 1000)")
    if pgrep:
        p.add_argument("-n", "--no-header", action="store_true",
                       help="Suppress printing of header line")
        p.add_argument("-o", "--format", type=str, default="default", metavar="FORMAT",
                       help="Specify output format using Python's string format syntax  or "
                            "a defined format by name (use 'help' to get a list of names)")
    else:
        p.add_argument("--wait", action="store_true",
                       help="Wait for jobs to finish after cancel")
    p.add_argument("expression", metavar="EXPRESSION", type=str, nargs="+",
                   help="job name pattern or id range")
    return p.parse_args(argv)


class JobPgrep:
    """The matching rule of the EXPRESSION words: a name regex and/or an id range."""

    def __init__(self, words: list[str]) -> None:
        import re

        from flux.job.JobID import JobID

        self.regex: Any = None
        self.jobids: list[int] = []
        for word in words:
            if ":" not in word and ".." in word:
                try:
                    self.jobids = [JobID(x) for x in word.split("..")]
                    continue
                except (ValueError, TypeError, OSError):
                    pass
            if self.regex:
                raise ValueError("Only one pattern can be provided")
            if word.startswith("name:"):
                word = word[5:]
            self.regex = re.compile(word)

    def match(self, job: Any) -> bool:
        if self.regex and not self.regex.search(job.name):
            return False
        if self.jobids and (job.id > self.jobids[1] or job.id < self.jobids[0]):
            return False
        return True


def log(prog: str, text: str, level: str = "") -> None:
    print(f"{prog}: {level}{text}", file=sys.stderr, flush=True)


def select_jobs(prog: str, args: argparse.Namespace, handle: Any) -> list:
    """The matching jobs (exits 2 on a bad expression)."""
    import re
    from itertools import islice

    from flux.job.list import JobList

    try:
        pgrep = JobPgrep(args.expression)
    except (ValueError, SyntaxError, TypeError, re.error) as exc:
        log(prog, f"expression error: {exc}", "ERROR: ")
        raise SystemExit(2) from None
    if args.A:
        args.user = "all"
    if args.a:
        args.filter.update(["pending", "running", "inactive"])
    if not args.filter:
        args.filter = {"pending", "running"}
    query = JobList(handle, filters=args.filter, user=args.user,
                    max_entries=args.max_entries, queue=args.queue or None)
    jobs = query.jobs()
    for error in query.errors:
        print(error, file=sys.stderr)
    return list(islice(filter(pgrep.match, jobs), args.count))


def main(argv: list[str]) -> int:
    from ._job_cli import run

    args = parse_args(PROG, argv)
    return run(PROG, lambda: _main(args))


def _main(args: argparse.Namespace) -> int:
    import flux

    from ._job_jobs_format import format_string, job_format

    fmt = format_string(args.format, FORMATS, tool="flux-pgrep")
    try:
        formatter = job_format(fmt)
    except ValueError as err:
        raise ValueError("Error in user format: " + str(err)) from None
    jobs = select_jobs(PROG, args, flux.Flux())
    if not jobs:
        return 1
    sformatter = job_format(formatter.filter(jobs, no_header=args.no_header))
    if args.format == "default" and fmt == FORMATS["default"][1]:
        args.no_header = True
    sformatter.print_items(jobs, no_header=args.no_header)
    return 0

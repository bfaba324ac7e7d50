"""``flux jobs``: list jobs, as flux-core 0.88's (its options, formats, filters and JSON).

One ``job-list.list`` query (or ``job-list.list-id`` per id given) for the
attributes the format needs; by default the current user's pending and
running jobs, newest first.  ``-a`` adds inactive jobs, ``-A`` every user's,
``-f`` picks states and results, ``-o`` a format (see ``_job_outputformat``)
or a named one (``-o help``), ``--json`` the records as flux-core prints them.
``--since`` adds inactive jobs that ended after a time, ``-i`` jobs that ran
on some ranks or hosts, ``--stats``/``--stats-only`` the counts of
``job-list.job-stats``.  ``-R`` descends into jobs that are Flux instances of
this user (running, with a URI), as flux-core's does.
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
    p.add_argument("--since", action=act["filter"], type=str, metavar="WHEN", default=0.0,
                   help="Include jobs that have become inactive since WHEN. (implies -a if "
                        "no other --filter option is specified)")
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
    p.add_argument("-i", "--include", type=str, metavar="HOSTS|RANKS",
                   help="Limit output to jobs that were allocated to the specified HOSTS or "
                        "RANKS provided as a hostlist or idset.")
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
    p.add_argument("-R", "--recursive", action="store_true", help="List jobs recursively")
    p.add_argument("-L", "--level", type=int, metavar="N", default=9999,
                   help="With --recursive, only descend N levels")
    p.add_argument("--recurse-all", action="store_true",
                   help="With --recursive, attempt to recurse all jobs, not just jobs of "
                        "current user")
    p.add_argument("--threads", type=int, metavar="N", help="Set max number of worker threads")
    p.add_argument("--stats", action="store_true", help="Print job statistics before header")
    p.add_argument("--stats-only", action="store_true",
                   help="Print job statistics only and exit. Exits with non-zero status if "
                        "there are no active jobs. Allows usage like: 'while flux jobs "
                        "--stats-only; do sleep 1; done'")
    p.add_argument("--from-stdin", action="store_true", help=argparse.SUPPRESS)
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


def _since(text: Any) -> float:
    """``--since=WHEN``: a date, an offset (``-1h``) or a timestamp, in the past."""
    from ._job_jobspec import parse_datetime

    try:
        since = float(parse_datetime(str(text)).timestamp())
    except ValueError:
        since = float(text)
    if since > parse_datetime("now").timestamp():
        _error(f"--since={text} appears to be in the future")
        raise SystemExit(1)
    return since


def _include(text: str) -> dict:
    """``-i``: an idset of ranks, else a hostlist (both sent in their encoded form)."""
    from flux.idset import IDset

    try:
        return {"ranks": [IDset(text).encode()]}
    except ValueError:
        from flux.hostlist import Hostlist

        try:
            return {"hostlist": [Hostlist(text).encode()]}
        except ValueError:
            raise ValueError(f"-i/--include: invalid targets: {text}") from None


def _error(text: str) -> None:
    print(f"{PROG}: ERROR: {text}", file=sys.stderr, flush=True)


def _from_stdin() -> tuple[list, bool]:
    """Hidden ``--from-stdin``: jobs as JSON objects, one per line (for tests)."""
    import json

    from flux.job.info import JobInfo

    jobs = []
    for lineno, line in enumerate(sys.stdin, start=1):
        try:
            jobs.append(JobInfo(json.loads(line)))
        except ValueError as err:
            _error(f"JSON input error: line {lineno}: {err}")
            raise SystemExit(1) from None
    return jobs, False


def _fetch(args: argparse.Namespace, fields: list[str], handle: Any = None) -> tuple[list, bool]:
    import flux
    from flux.job.list import JobList

    from ._job_cli import warn
    from ._job_jobs_format import fields_to_attrs

    if handle is None:
        handle = flux.Flux()
    attrs = fields_to_attrs(fields)
    if _color_on(args.color):
        attrs.update(fields_to_attrs(["result", "annotations"]))
    if args.recursive:
        attrs.update(fields_to_attrs(["annotations", "status", "userid"]))
    if args.json:
        args.no_header = True
        attrs.add("all")
    if args.A:
        args.user = str(0xFFFFFFFF)  # FLUX_USERID_UNKNOWN: every user
    since = 0.0
    if args.since:
        if not args.filter:
            args.a = True
        since = _since(args.since)
    if args.a:
        if args.filter:
            warn(PROG, "Both -a and --filter specified, ignoring -a")
        else:
            args.filter.update(["pending", "running", "inactive"])
    if not args.filter:
        args.filter = {"pending", "running"}
    constraint = None
    if args.include:
        constraint = _include(args.include)
        if not args.filtereduser:
            args.user = str(0xFFFFFFFF)
    query = JobList(handle, ids=args.jobids, attrs=attrs, filters=args.filter,
                    user=args.user,
                    max_entries=args.count + 1 if args.count > 0 else args.count,
                    since=since, name=args.name, queue=args.queue, constraint=constraint)
    jobs = query.jobs()
    truncated = args.count > 0 and len(jobs) > args.count
    if truncated:
        jobs = jobs[:-1]
    for error in query.errors:
        print(error, file=sys.stderr)
    return jobs, truncated


def job_stats(handle: Any, queues: Any = None) -> dict:
    """``job-list.job-stats`` counts as flux-core's JobStats reports them (for some queues)."""
    resp = handle.rpc("job-list.job-stats", {}).get()
    names = ("depend", "priority", "sched", "run", "cleanup", "inactive", "total")
    extra = ("successful", "failed", "timeout", "canceled", "inactive_purged")

    def counts(entry: dict) -> dict:
        found = {name: entry["job_states"][name] for name in names}
        found.update({name: entry[name] for name in extra})
        return found

    if queues:
        by_name = {entry["name"]: entry for entry in resp.get("queues", [])}
        stats = dict.fromkeys(names + extra, 0)
        for queue in queues:
            if queue not in by_name:
                raise ValueError(f"no stats available for queue {queue}")
            for key, value in counts(by_name[queue]).items():
                stats[key] += value
    else:
        stats = counts(resp)
    stats["pending"] = stats["depend"] + stats["priority"] + stats["sched"]
    stats["running"] = stats["run"] + stats["cleanup"]
    stats["active"] = stats["total"] - stats["inactive"]
    stats["failed"] += stats["timeout"] + stats["canceled"]
    return stats


def _is_user_instance(job: Any, args: argparse.Namespace) -> bool:
    import os

    return bool(job.uri) and job.status_abbrev == "R" and (
        args.recurse_all or job.userid == os.getuid())


_RESULT_COLORS = {"COMPLETED": "\033[01;32m", "FAILED": "\033[01;31m",
                  "CANCELED": "\033[37m", "TIMEOUT": "\033[01;31m"}


def _main(args: argparse.Namespace) -> int:
    import json

    from ._job_cli import warn
    from ._job_jobs_format import format_string, job_format

    if args.json and (args.stats or args.stats_only):
        _error("--json incompatible with --stats or --stats-only")
        return 1
    if args.jobids and args.filtered and not args.recursive:
        warn(PROG, "Filtering options ignored with jobid list")
    if args.recurse_all:
        args.recursive = True
    fmt = format_string(args.format)
    try:
        formatter = job_format(fmt)
    except ValueError as err:
        raise ValueError("Error in user format: " + str(err)) from None
    if args.stats or args.stats_only:
        import flux

        try:
            stats = job_stats(flux.Flux(), queues=args.queue)
        except ValueError as err:
            _error(f"error retrieving job stats: {err}")
            return 1
        print(f"{stats['running']} running, {stats['successful']} completed, "
              f"{stats['failed']} failed, {stats['pending']} pending, "
              f"{stats['inactive_purged']} inactive purged", flush=True)
        if args.stats_only:
            return 0 if stats["active"] else 1
    if args.sort:
        formatter.set_sort_keys(args.sort)
    if args.from_stdin:
        jobs, truncated = _from_stdin()
    else:
        jobs, truncated = _fetch(args, formatter.fields)
    if args.jobids and not jobs:
        return 1
    sformatter = job_format(formatter.filter(jobs, no_header=args.no_header))
    if not args.no_header:
        print(sformatter.header(width=args.width))
    result = _print_jobs(jobs, args, sformatter)
    if args.json:
        if args.jobids and len(args.jobids) == 1:
            if result:
                print(json.dumps(result[0]))
        else:
            print(json.dumps({"jobs": result}))
    if not args.no_header and truncated:
        print(f"warning: output truncated at {args.count} jobs.", file=sys.stderr)
        print("Use --count to increase returned results or use filters to alter results.",
              file=sys.stderr)
    return 0


def _print_jobs(jobs: list, args: argparse.Namespace, formatter: Any, path: str = "",
                level: int = 0) -> list:
    """Print (or collect as JSON) ``jobs``, then, with -R, the jobs of each child instance."""
    color = _color_on(args.color)
    children: list = []
    result: list = []
    by_id: dict = {}
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
        if args.recursive and _is_user_instance(job, args):
            children.append(job)

    if args.json:
        for job in jobs:
            record = job.to_dict()
            result.append(record)
            by_id[job.id] = record
            if args.recursive and _is_user_instance(job, args):
                children.append(job)
    else:
        formatter.print_items(jobs, no_header=True, width=args.width, pre=pre, post=post)
    if not args.recursive or args.level == level:
        return result
    args.jobids = None
    prefix = f"{path}/" if path else ""
    for child in children:
        jobs, stats = _child_jobs(child, args, formatter.fields)
        if args.json:
            by_id[child.id]["jobs"] = [x.to_dict() for x in jobs]
            continue
        thispath = f"{prefix}{child.id.f58}"
        print(f"\n{thispath}:")
        if stats:
            print(f"{stats['running']} running, {stats['successful']} completed, "
                  f"{stats['failed']} failed, {stats['pending']} pending")
        _print_jobs(jobs, args, formatter, path=thispath, level=level + 1)
    return result


def _child_jobs(job: Any, args: argparse.Namespace, fields: list[str]) -> tuple[list, Any]:
    """The jobs of the instance ``job`` runs (none if it cannot be reached)."""
    import flux

    try:
        handle = flux.Flux(str(job.uri))
        jobs, _ = _fetch(args, fields, handle=handle)
        stats = job_stats(handle) if args.stats else None
    except OSError:
        return [], None
    return jobs, stats

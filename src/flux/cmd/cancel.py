"""``flux cancel``: cancel jobs by id, or all of a user's jobs in some states.

As flux-core 0.88's: ids are cancelled one RPC each (``job-manager.raise``
of type ``cancel``), failures reported ``flux-cancel: ERROR: ID: TEXT`` with
exit status 1.  ``--all``, ``--user`` or ``--states`` (which imply ``--all``)
send one ``job-manager.raiseall`` and report what it matched;
``-n/--dry-run`` only counts.
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    import argparse

SUMMARY = "Cancel one or more jobs"

PROG = "flux-cancel"

_STATES = {"depend": 2, "priority": 4, "sched": 8, "run": 16,
           "pending": 14, "running": 48, "active": 62}


def main(argv: list[str]) -> int:
    from ._job_cli import parser as make_parser
    from ._job_cli import run

    p = make_parser(PROG, usage="flux cancel [OPTIONS] [JOBID...]",
                    description="Cancel pending or running jobs with an optional "
                                "exception note.")
    p.add_argument("--all", action="store_true", help="Target all jobs")
    p.add_argument("-n", "--dry-run", "--dry", action="store_true", help="Do not cancel any jobs")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="Suppress output when no jobs match")
    p.add_argument("-u", "--user", type=str, metavar="USER",
                   help="Set target user or 'all' (instance owner only)")
    p.add_argument("-S", "--states", "--state", action="append",
                   help="List of job states to target (default=active)")
    p.add_argument("-m", "--message", type=str, metavar="NOTE",
                   help="Set optional cancel exception note")
    p.add_argument("jobids", metavar="JOBID...", type=_jobid, nargs="*",
                   help="jobids to cancel")
    args = p.parse_args(argv)
    if args.user or args.states:
        args.all = True
    return run(PROG, lambda: _main(args))


def _jobid(text: str) -> int:
    """A job id in any encoding; argparse reports a bad one by this function's name."""
    from flux.job.JobID import JobID

    try:
        return JobID(text)
    except (OSError, TypeError):
        raise ValueError(text) from None


_jobid.__name__ = "JobID"  # flux-core's message: "invalid JobID value: 'xx'"


def _log(text: str) -> None:
    import sys

    print(f"{PROG}: {text}", file=sys.stderr, flush=True)


def _main(args: argparse.Namespace) -> int:
    if args.jobids and args.all:
        _log("ERROR: Do not specify a list of jobids with --all,--user,--states options")
        return 1
    if args.all:
        return _cancel_all(args)
    return _cancel(args)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _cancel(args: argparse.Namespace) -> int:
    import flux
    from flux.job.kill import cancel_async

    if not args.jobids:
        raise ValueError("No target jobs were provided")
    if args.dry_run:
        _log(f"Would cancel {_plural(len(args.jobids), 'job')}")
        return 0
    h = flux.Flux()
    futures = {jobid: cancel_async(h, jobid, args.message) for jobid in args.jobids}
    errors = 0
    for jobid, future in futures.items():
        try:
            future.get()
        except OSError as exc:
            errors += 1
            _log(f"ERROR: {jobid}: {exc.strerror}")
    return 1 if errors else 0


def _userid(user: str | None) -> int:
    import os
    import pwd

    if user is None:
        return os.getuid()
    if user == "all":
        return 0xFFFFFFFF  # FLUX_USERID_UNKNOWN: every user
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        try:
            return int(user)
        except ValueError:
            raise ValueError(f"Invalid user {user} specified") from None


def _cancel_all(args: argparse.Namespace) -> int:
    import flux

    statemask = 0
    if args.states:
        for state in ",".join(args.states).split(","):
            try:
                statemask |= _STATES[state.lower()]
            except KeyError:
                raise ValueError(f"Invalid state {state} specified") from None
    else:
        statemask = _STATES["pending"] | _STATES["running"]
    payload = {"dry_run": args.dry_run, "userid": _userid(args.user), "states": statemask,
               "severity": 0, "type": "cancel"}
    if args.message is not None:
        payload["note"] = args.message
    resp = flux.Flux().rpc("job-manager.raiseall", payload).get()
    count, errors = resp["count"], resp["errors"]
    if count > 0:
        if args.dry_run:
            _log(f"Would cancel {_plural(count, 'job')}")
        else:
            _log(f"Canceled {_plural(count, 'job')} ({_plural(errors, 'error')})")
    elif not args.quiet:
        _log("Matched 0 jobs")
    return 0

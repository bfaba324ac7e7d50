"""``flux queue``: list, status, enable, disable, start, stop, drain and idle, as flux-core
0.88's (RFC 33 queues through ``job-manager.queue-*``, ``drain``, ``idle`` and
``alloc-query``).  Errors print ``flux-queue: ERROR: TEXT``, exit status 1.
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    import argparse
    from typing import Any, Optional

    import flux

SUMMARY = "Manage the job queue"

PROG = "flux-queue"


class QueueCommandError(Exception):
    """A failure reported as ``flux-queue: ERROR: TEXT``."""


def _rpc(handle: flux.Flux, what: str, topic: str, payload: Any = None,
         timeout: float = -1.0) -> Any:
    """``topic``'s answer; a failure as flux-core's ``WHAT: error text``."""
    import errno

    future = handle.rpc(topic, payload, nodeid=0)
    try:
        if timeout >= 0:
            future.wait_for(timeout)
        return future.get()
    except OSError as exc:
        if exc.errno == errno.ETIMEDOUT and timeout >= 0:
            raise QueueCommandError(f"{what}: timeout") from None
        raise QueueCommandError(f"{what}: {future.error_string()}") from None


# -- status, enable, disable, start, stop ------------------------------------------------

def _print_enable(name: Optional[str], status: dict) -> None:
    prefix = f"{name}: " if name else ""
    if status["enable"]:
        print(f"{prefix}Job submission is enabled")
    else:
        print(f"{prefix}Job submission is disabled: {status.get('disable_reason')}")


def _print_start(name: Optional[str], status: dict) -> None:
    prefix = f"{name}: " if name else ""
    if status["start"]:
        print(f"{prefix}Scheduling is started")
    elif "stop_reason" in status:
        print(f"{prefix}Scheduling is stopped: {status['stop_reason']}")
    else:
        print(f"{prefix}Scheduling is stopped")


def _print_both(name: Optional[str], status: dict) -> None:
    _print_enable(name, status)
    _print_start(name, status)


def _status_one(handle: flux.Flux, name: Optional[str]) -> dict:
    return _rpc(handle, "status", "job-manager.queue-status", {"name": name} if name else {})


def _statuses(handle: flux.Flux, queue: Optional[str], verbose: bool) -> list[tuple]:
    names = _rpc(handle, "list", "job-manager.queue-list")["queues"]
    if queue and not verbose:
        return [(queue, _status_one(handle, queue))]
    if names:
        return [(name, _status_one(handle, name)) for name in names]
    return [(queue, _status_one(handle, None))]


def _show(handle: flux.Flux, args: argparse.Namespace, printer: Any) -> None:
    for name, status in _statuses(handle, args.queue, args.verbose):
        printer(name, status)


def _alloc_query(handle: flux.Flux) -> None:
    query = _rpc(handle, "alloc-query", "job-manager.alloc-query")
    print(f"{query['queue_length']} alloc requests queued")
    print(f"{query['alloc_pending']} alloc requests pending to scheduler")
    print(f"{query['running']} running jobs")


def _status(args: argparse.Namespace) -> None:
    import flux

    handle = flux.Flux()
    _show(handle, args, _print_both)
    if args.verbose:
        _alloc_query(handle)


def _enable_rpc(handle: flux.Flux, args: argparse.Namespace, enable: bool,
                reason: Optional[str] = None) -> None:
    payload: dict = {"enable": enable, "all": args.all}
    if args.queue:
        payload["name"] = args.queue
    if reason:
        payload["reason"] = reason
    _rpc(handle, "enable", "job-manager.queue-enable", payload)


def _enable(args: argparse.Namespace) -> None:
    import flux

    handle = flux.Flux()
    _enable_rpc(handle, args, True)
    if not args.quiet:
        _show(handle, args, _print_enable)


def _disable(args: argparse.Namespace) -> None:
    import flux

    handle = flux.Flux()
    _enable_rpc(handle, args, False, args.message or "disabled by administrator")
    if not args.quiet:
        _show(handle, args, _print_enable)


def _start_rpc(handle: flux.Flux, args: argparse.Namespace, start: bool,
               reason: Optional[str] = None) -> None:
    if not args.queue and not args.all:
        if _rpc(handle, "list", "job-manager.queue-list")["queues"]:
            raise QueueCommandError("Named queues are defined. Specify queues or use --all.")
    payload: dict = {"start": start, "all": args.all,
                     "nocheckpoint": bool(getattr(args, "nocheckpoint", False))}
    if args.queue:
        payload["name"] = args.queue
    if reason:
        payload["reason"] = reason
    _rpc(handle, "start", "job-manager.queue-start", payload)


def _start_or_stop(args: argparse.Namespace, start: bool) -> None:
    import flux

    handle = flux.Flux()
    _start_rpc(handle, args, start, None if start else args.message)
    if not args.quiet:
        _show(handle, args, _print_start)
        if args.verbose:
            _alloc_query(handle)


def _start(args: argparse.Namespace) -> None:
    _start_or_stop(args, True)


def _stop(args: argparse.Namespace) -> None:
    _start_or_stop(args, False)


# -- drain, idle ---------------------------------------------------------------------------

def _drain(args: argparse.Namespace) -> None:
    import flux

    _rpc(flux.Flux(), "drain", "job-manager.drain", timeout=args.timeout)


def _idle(args: argparse.Namespace) -> None:
    import flux

    pending = _rpc(flux.Flux(), "idle", "job-manager.idle", timeout=args.timeout)["pending"]
    if not args.quiet or pending > 0:
        print(f"{pending} jobs")


# -- list ----------------------------------------------------------------------------------

def _list(args: argparse.Namespace) -> None:
    import flux

    from ._queue_list import print_list

    print_list(flux.Flux(), args)


# -- parsing -------------------------------------------------------------------------------

def _duration(text: str) -> float:
    import argparse

    from flux.job.Jobspec import parse_fsd

    try:
        return parse_fsd(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid Flux standard duration '{text}'") from None


def _parser() -> argparse.ArgumentParser:
    import argparse

    from ._job_cli import parser as make_parser

    p = make_parser(PROG)
    subs = p.add_subparsers(title="subcommands", description="", dest="subcommand")
    subs.required = True

    lister = subs.add_parser("list", allow_abbrev=False)
    lister.add_argument("-q", "--queue", action="append", default=[], metavar="QUEUE,...",
                        help="Include only specified queues in output")
    lister.add_argument("-o", "--format", default="default",
                        help="Specify output format using Python's string format syntax "
                             "or a defined format by name (use 'help' to get a list of names)")
    lister.add_argument("-n", "--no-header", action="store_true", help="Suppress header output")
    lister.set_defaults(func=_list)

    funcs = {"status": _status, "enable": _enable, "disable": _disable,
             "start": _start, "stop": _stop}
    for command, func in funcs.items():
        sub = subs.add_parser(command, allow_abbrev=False)
        sub.add_argument("-q", "--queue", dest="old_queue", metavar="NAME",
                         help=argparse.SUPPRESS)
        if command != "status":
            sub.add_argument("-a", "--all", action="store_true",
                             help="Force command to apply to all queues if none specified")
            sub.add_argument("--quiet", action="store_true", help="Display only errors")
        sub.add_argument("-v", "--verbose", action="store_true",
                         help="Display more detail about internal job manager state")
        if command in ("stop", "disable"):
            verb = "stopped" if command == "stop" else "disabled"
            sub.add_argument("--nocheckpoint", action="store_true",
                             help=f"Do not checkpoint that the queue has been {verb}")
            sub.add_argument("-m", "--message", metavar="REASON",
                             help=f"Add reason that a queue is {verb}")
        sub.add_argument("queue", metavar="QUEUE", nargs="?", help=f"Queue to {command}")
        sub.set_defaults(func=func)

    for command, func in (("drain", _drain), ("idle", _idle)):
        sub = subs.add_parser(command, allow_abbrev=False)
        sub.add_argument("-t", "--timeout", type=_duration, metavar="DURATION", default=-1.0,
                         help="timeout after DURATION")
        if command == "idle":
            sub.add_argument("--quiet", action="store_true",
                             help="Only display pending job count if nonzero")
        sub.set_defaults(func=func)
    return p


def main(argv: list[str]) -> int:
    from ._job_cli import run

    args = _parser().parse_args(argv)

    def body() -> None:
        old = getattr(args, "old_queue", None)
        if old is not None:
            if args.queue is not None:
                raise ValueError("Conflicting queues specified as "
                                 f"--queue={old} and {args.queue}")
            args.queue = old
        args.func(args)

    return run(PROG, body)

"""``flux resource``: list, info, status, drain, undrain, R, reload and eventlog, as
flux-core 0.88's.

The parsers take flux-core's options; the work is in ``_resource_list`` (the
scheduler's view), ``_resource_status`` (node states, drained nodes),
``_resource_R`` (R, reload), ``_resource_eventlog`` (the resource journal),
``_resource_queue`` (``-q/--queue``) and here (``resource.drain``/``resource.undrain``).  Errors print
``flux-resource: ERROR: TEXT`` with exit status 1; a drain refused because a
target is already drained prints ``[Errno 17] ...`` and a hint, as flux-core's.
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    import argparse

SUMMARY = "List and manage resources"

PROG = "flux-resource"

_FORMAT_HELP = ("Specify output format using Python's string format syntax or a "
                "defined format by name (use 'help' to get a list of names)")
_INCLUDE_HELP = ("Include only specified targets in output set. TARGETS may be "
                 "provided as an idset or hostlist.")
_QUEUE_HELP = "Include only specified queues in output"


def _parser() -> argparse.ArgumentParser:
    import argparse

    from ._job_cli import parser as make_parser

    p = make_parser(PROG)
    subs = p.add_subparsers(title="subcommands", dest="subcommand")
    subs.required = True

    def sub(name: str) -> argparse.ArgumentParser:
        return subs.add_parser(name, allow_abbrev=False)

    drain = sub("drain")
    drain.add_argument("-f", "--force", action="count", default=0,
                       help="Force overwrite of existing drain reason. Specify twice "
                            "to also update drain timestamp.")
    drain.add_argument("-u", "--update", action="store_true",
                       help="Update only. Do not return an error if one or more targets "
                            "are already drained. Do not overwrite any existing drain "
                            "reason.")
    drain.add_argument("-i", "--include", metavar="TARGETS", help=_INCLUDE_HELP)
    drain.add_argument("-q", "--queue", action="append", default=[], metavar="QUEUE,...",
                       help=_QUEUE_HELP)
    drain.add_argument("-o", "--format", default="default",
                       help="Specify output format using Python's string format syntax "
                            "or a defined format by name (only used when no drain "
                            "targets specified)")
    drain.add_argument("-n", "--no-header", action="store_true",
                       help="Suppress header output")
    drain.add_argument("targets", nargs="?", help="List of targets to drain (IDSET or HOSTLIST)")
    drain.add_argument("reason", nargs=argparse.REMAINDER, help="Reason")
    drain.set_defaults(func=_drain)

    undrain = sub("undrain")
    undrain.add_argument("-u", "--update", action="store_true",
                         help="Update only. Do not return an error if one or more targets "
                              "are not drained. Do not overwrite any existing undrain "
                              "reason.")
    undrain.add_argument("-f", "--force", action="count", default=0,
                         help="Force overwrite of existing undrain reason. Specify twice "
                              "to also update undrain timestamp.")
    undrain.add_argument("targets", help="List of targets to resume (IDSET or HOSTLIST)")
    undrain.add_argument("reason", nargs=argparse.REMAINDER, help="Reason")
    undrain.set_defaults(func=_undrain)

    status = sub("status")
    status.add_argument("-o", "--format", default="default", help=_FORMAT_HELP)
    status.add_argument("-s", "--states", metavar="STATE,...",
                        help="Output resources in given states")
    status.add_argument("-i", "--include", metavar="TARGETS", help=_INCLUDE_HELP)
    status.add_argument("-q", "--queue", action="append", default=[], metavar="QUEUE,...",
                        help=_QUEUE_HELP)
    status.add_argument("-n", "--no-header", action="store_true",
                        help="Suppress header output")
    status.add_argument("--skip-empty", action="store_true",
                        help="Skip empty lines of output even with --states")
    status.set_defaults(func=_status)

    lister = sub("list")
    lister.add_argument("-o", "--format", default="default", help=_FORMAT_HELP)
    lister.add_argument("-s", "--states", metavar="STATE,...", default="free,allocated,down",
                        help="Output resources in given states")
    lister.add_argument("-i", "--include", metavar="TARGETS", help=_INCLUDE_HELP)
    lister.add_argument("-q", "--queue", action="append", default=[], metavar="QUEUE,...",
                        help=_QUEUE_HELP)
    lister.add_argument("--skip-empty", action="store_true",
                        help="Skip empty lines. This is the default with -i, --include.")
    lister.add_argument("--no-skip-empty", action="store_true",
                        help="Do not skip empty lines, even with --include.")
    lister.add_argument("-n", "--no-header", action="store_true",
                        help="Suppress header output")
    lister.set_defaults(func=_list)

    info = sub("info")
    info.add_argument("-s", "--states", metavar="STATE,...",
                      help="Show output only for resources in given states")
    info.add_argument("-i", "--include", metavar="TARGETS", help=_INCLUDE_HELP)
    info.add_argument("-q", "--queue", action="append", default=[], metavar="QUEUE,...",
                      help=_QUEUE_HELP)
    info.set_defaults(func=_info)

    reload = sub("reload")
    reload.add_argument("path", help="path to R or hwloc <rank>.xml dir")
    reload.add_argument("-x", "--xml", action="store_true",
                        help="interpret path as XML dir instead of R")
    reload.add_argument("-f", "--force", action="store_true",
                        help="allow resources to contain invalid ranks")
    reload.set_defaults(func=_reload)

    emit = sub("R")
    emit.add_argument("-s", "--states", metavar="STATE,...", default="all",
                      help="Emit R for resources in given states")
    emit.add_argument("-i", "--include", metavar="TARGETS", help=_INCLUDE_HELP)
    emit.add_argument("-q", "--queue", action="append", default=[], metavar="QUEUE,...",
                      help=_QUEUE_HELP)
    emit.set_defaults(func=_emit_R)

    log = sub("eventlog")
    log.add_argument("-f", "--format", default="text", metavar="FORMAT",
                     choices=["text", "json"], help="Specify output format: text, json")
    log.add_argument("-T", "--time-format", default="raw", metavar="FORMAT",
                     choices=["raw", "iso", "offset", "human", "reltime"],
                     help="Specify time format: raw, iso, offset, human")
    log.add_argument("-H", "--human", action="store_true", help="Display human-readable output.")
    log.add_argument("-L", "--color", nargs="?", const="always", metavar="WHEN",
                     choices=["always", "never", "auto"],
                     help="Colorize output; WHEN can be 'never', 'always', or 'auto' "
                          "(default)")
    log.add_argument("-F", "--follow", action="store_true",
                     help="Display new events as they are posted")
    log.add_argument("-t", "--timeout", metavar="TIME",
                     help="With --follow or --wait, timeout after TIME has elapsed")
    log.add_argument("-w", "--wait", metavar="EVENT", help="Display events until EVENT is posted")
    log.add_argument("-m", "--match-context", action="append", default=[], metavar="KEY=VAL",
                     help="With --wait, match KEY=VAL in context of EVENT")
    log.add_argument("-i", "--include", metavar="TARGETS",
                     help="Only display events that include TARGETS (hosts or ranks)")
    log.set_defaults(func=_eventlog)
    return p


def _reload(args: argparse.Namespace) -> int:
    from ._resource_R import reload_main

    return reload_main(args)


def _emit_R(args: argparse.Namespace) -> int:
    from ._resource_R import R_main

    return R_main(args)


def _eventlog(args: argparse.Namespace) -> int:
    from ._resource_eventlog import eventlog_main

    return eventlog_main(args)


def main(argv: list[str]) -> int:
    from ._job_cli import run

    args = _parser().parse_args(argv)
    return run(PROG, lambda: args.func(args))


def _list(args: argparse.Namespace) -> int:
    from ._resource_list import list_main

    return list_main(args)


def _info(args: argparse.Namespace) -> int:
    from ._resource_list import info_main

    return info_main(args)


def _status(args: argparse.Namespace) -> int:
    from ._resource_status import status_main

    return status_main(args)


def _mode_payload(args: argparse.Namespace) -> dict | None:
    """targets, mode (from -u / -f / -ff) and reason; None if -u and -f are both given."""
    from ._resource_log import error

    if args.update and args.force:
        error("Only one of --force and --update may be specified")
        return None
    payload: dict = {"targets": args.targets}
    if args.update:
        payload["mode"] = "update"
    elif args.force == 1:
        payload["mode"] = "overwrite"
    elif args.force >= 2:
        payload["mode"] = "force-overwrite"
    if args.reason:
        payload["reason"] = " ".join(args.reason)
    return payload


def _drain(args: argparse.Namespace) -> int:
    """Drain targets; with none, list the drained nodes."""
    import errno

    import flux

    from ._resource_log import error, info

    if args.targets is None:
        from ._resource_status import drain_list_main

        return drain_list_main(args)
    payload = _mode_payload(args)
    if payload is None:
        return 1
    try:
        flux.Flux().rpc("resource.drain", payload, nodeid=0).get()
    except OSError as exc:
        error(str(exc))
        if exc.errno == errno.EEXIST:
            info("Use --force to overwrite existing drain reason")
        return 1
    return 0


def _undrain(args: argparse.Namespace) -> int:
    import flux

    payload = _mode_payload(args)
    if payload is None:
        return 1
    flux.Flux().rpc("resource.undrain", payload, nodeid=0).get()
    return 0

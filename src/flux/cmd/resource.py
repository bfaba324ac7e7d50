"""``flux resource``: list, info, status, drain and undrain, as flux-core 0.88's.

The parsers take flux-core's options; the work is in ``_resource_list`` (the
scheduler's view), ``_resource_status`` (node states, drained nodes) and here
(``resource.drain``/``resource.undrain``).  Errors print
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
    info.set_defaults(func=_info)
    return p


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

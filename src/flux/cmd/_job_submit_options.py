"""The submission commands' options: flux-core 0.88's names, metavars, defaults and help.

flux-core builds ``submit``, ``bulksubmit`` and ``run`` from the same pieces,
so are they here: ``add_common_options`` (every submission command),
``add_resource_options`` (per-task and per-resource counts, ``--taskmap``,
``-v``) and ``add_bulk_options`` (``--cc``/``--bcc``, the waits, the log files,
``--progress``).  ``submission_parser`` puts the three together; ``flux run``
adds its own options to it.  Not offered: ``--watch`` (it needs job output,
which jobs do not produce yet), ``--list-plugins`` (no CLI plugins).
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    import argparse


def _rule_action(prefix: str) -> type:
    """``--env-remove``/``--env-file`` join ``--env``'s rules, in command-line order."""
    import argparse

    class RuleAction(argparse.Action):
        def __call__(self, parser: object, namespace: object, values: object,
                     option_string: object = None) -> None:
            rules = getattr(namespace, "env", None) or []
            rules.append(prefix + str(values))
            namespace.env = rules  # type: ignore[attr-defined]

    return RuleAction


def _begin_time_action() -> type:
    """``--begin-time`` adds a ``begin-time:TIMESTAMP`` dependency (flux-core's way)."""
    import argparse

    class BeginTimeAction(argparse.Action):
        def __call__(self, parser: object, namespace: object, values: object,
                     option_string: object = None) -> None:
            from ._job_jobspec import parse_datetime

            uri = "begin-time:" + str(parse_datetime(str(values)).timestamp())
            items = getattr(namespace, "dependency", None) or []
            items.append(uri)
            namespace.dependency = items  # type: ignore[attr-defined]

    return BeginTimeAction


def add_common_options(p: argparse.ArgumentParser) -> None:
    """Options of every submission command (flux-core's ``MiniCmd``)."""
    import argparse

    add = p.add_argument
    add("--help", action="help", help="Show this help message and exit")
    add("-B", "--bank", type=str, metavar="BANK", help="Submit a job to a specific named bank")
    add("-q", "--queue", type=str, metavar="NAME", help="Submit a job to a specific named queue")
    add("-t", "--time-limit", type=str, metavar="MIN|FSD",
        help="Time limit in minutes when no units provided, otherwise in Flux standard "
             "duration, e.g. 30s, 2d, 1.5h")
    add("--urgency", metavar="N", default="16",
        help="Set job urgency (0-31), hold=0, default=16, expedite=31")
    add("--job-name", type=str, metavar="NAME", help="Set an optional name for job to NAME")
    add("-o", "--setopt", action="append", metavar="OPT",
        help="Set shell option OPT. An optional value is supported with OPT=VAL "
             "(default VAL=1) (multiple use OK)")
    add("-S", "--setattr", action="append", metavar="ATTR",
        help="Set job attribute ATTR. An optional value is supported with ATTR=VAL "
             "(default VAL=1). If ATTR starts with ^, then VAL is a file containing valid "
             "JSON which will be used as the value of the attribute. (multiple use OK)")
    add("--add-file", action="append", metavar="[NAME=]PATH",
        help="Add a file at PATH with optional NAME to jobspec (multiple use OK)")
    add("--dependency", action="append", metavar="URI",
        help="Set an RFC 26 dependency URI for this job")
    add("--requires", action="append", metavar="CONSTRAINT",
        help="Specify job constraints in RFC 35 syntax")
    add("--require", action="append", dest="requires", help=argparse.SUPPRESS)
    add("--begin-time", action=_begin_time_action(), metavar="+FSD|TIME",
        help="Set minimum start time as offset in FSD (e.g. +1h) or an absolute TIME "
             '(e.g. "3pm") for job')
    add("--env", action="append", metavar="RULE",
        help="Control how environment variables are exported (multiple use OK)")
    add("--env-remove", action=_rule_action("-"), metavar="PATTERN",
        help="Remove environment variables matching PATTERN (multiple use OK)")
    add("--env-file", action=_rule_action("^"), metavar="FILE",
        help="Read a set of environment rules from FILE. (multiple use OK)")
    add("--rlimit", action="append", metavar="RULE",
        help="Control how soft resource limits are propagated to the job")
    add("--input", type=str, metavar="FILENAME",
        help="Redirect job stdin from FILENAME, bypassing KVS")
    add("--output", type=str, metavar="FILENAME",
        help="Redirect job stdout to FILENAME, bypassing KVS")
    add("--error", type=str, metavar="FILENAME",
        help="Redirect job stderr to FILENAME, bypassing KVS")
    add("-u", "--unbuffered", action="store_true", help="Disable buffering of input and output")
    add("-l", "--label-io", action="store_true", help="Add rank labels to stdout, stderr lines")
    add("--cwd", metavar="DIRECTORY", help="Set job working directory")
    add("--flags", action="append", metavar="FLAGS",
        help="Set comma separated list of job submission flags. Possible flags:  debug, "
             "waitable, novalidate")
    add("--signal", metavar="[SIG][@TIME]",
        help="Schedule delivery of signal SIG at a defined TIME before job expiration. "
             "Default SIG is SIGUSR1, default TIME is 60s.")
    add("--dry-run", "--dry", action="store_true",
        help="Don't actually submit job, just emit jobspec")
    add("--quiet", action="store_true", help="Do not print jobid to stdout on submission")


def add_resource_options(p: argparse.ArgumentParser) -> None:
    """Resource counts, ``--taskmap`` and ``-v`` (flux-core's ``SubmitBaseCmd``)."""
    p.add_argument("--taskmap", type=str, metavar="URI",
                   help="Select the scheme for mapping task ids to nodes as a URI "
                        "(i.e. SCHEME[:VALUE]). Value options include block, cyclic, "
                        "cyclic:N, or manual:TASKMAP (default: block)")
    group = p.add_argument_group("Common resource options")
    group.add_argument("-N", "--nodes", metavar="N", help="Number of nodes to allocate")
    group.add_argument("-x", "--exclusive", action="store_true",
                       help="With -N, --nodes, allocate nodes exclusively")
    group = p.add_argument_group(
        "Per task options", "The following options allow per-task specification of "
        "resources, and should not be combined with per-resource options.")
    group.add_argument("-n", "--ntasks", metavar="N", help="Number of tasks to start")
    group.add_argument("-c", "--cores-per-task", metavar="N",
                       help="Number of cores to allocate per task")
    group.add_argument("-g", "--gpus-per-task", metavar="N",
                       help="Number of GPUs to allocate per task")
    group = p.add_argument_group(
        "Per resource options", "The following options allow per-resource specification "
        "of tasks, and should not be used with per-task options above")
    group.add_argument("--cores", metavar="N", help="Request a total number of cores")
    group.add_argument("--tasks-per-node", metavar="N", help="Force number of tasks per node")
    group.add_argument("--tasks-per-core", metavar="N", help="Force number of tasks per core")
    group.add_argument("--gpus-per-node", metavar="N",
                       help="Request a number of GPUs per node with --nodes")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="Increase verbosity on stderr (multiple use OK)")


def add_bulk_options(p: argparse.ArgumentParser) -> None:
    """Copies, waits, log files and progress (flux-core's ``SubmitBulkCmd``)."""
    add = p.add_argument
    add("--cc", metavar="IDSET", default=None,
        help="Replicate job for each ID in IDSET. (FLUX_JOB_CC=ID will be set for each job "
             "submitted)")
    add("--bcc", metavar="IDSET", default=None, help="Like --cc, but FLUX_JOB_CC is not set")
    add("--wait-event", metavar="NAME", dest="wait",
        help="Wait for event NAME for all jobs after submission")
    add("--wait", action="store_const", const="clean",
        help="Wait for all jobs to complete after submission (same as --wait-event=clean)")
    add("--log", metavar="FILE",
        help="Print program log messages (e.g. submitted jobid) to FILE instead of terminal")
    add("--log-stderr", metavar="FILE",
        help="Separate stderr messages into FILE instead of terminal or logfile destination")
    add("--progress", action="store_true",
        help="Show progress of job submission or completion (with --wait)")
    add("--jps", action="store_true", help="With --progress, show job throughput")


def submission_parser(prog: str, usage: str | None = None) -> argparse.ArgumentParser:
    """A parser with every option ``flux submit`` has (but not its COMMAND)."""
    from ._job_cli import parser as make_parser

    name = prog.replace("-", " ", 1)
    p = make_parser(prog, usage=usage or f"{name} [OPTIONS...] COMMAND [ARGS...]",
                    add_help=False)  # flux-core's submission commands have --help, not -h
    p.prog = name
    add_common_options(p)
    add_resource_options(p)
    add_bulk_options(p)
    p.set_defaults(watch=False)
    return p


def run_parser(prog: str) -> argparse.ArgumentParser:
    """The parser of ``flux run``: submit's options but the bulk ones (flux-core's
    ``SubmitBaseCmd``), ``--wait-event`` for the attach, then COMMAND."""
    import argparse

    from ._job_cli import parser as make_parser

    name = prog.replace("-", " ", 1)
    p = make_parser(prog, usage=f"{name} [OPTIONS...] COMMAND [ARGS...]", add_help=False)
    p.prog = name
    add_common_options(p)
    add_resource_options(p)
    p.add_argument("--wait-event", metavar="NAME",
                   help="Pass --wait-event=NAME to flux-job attach")
    p.add_argument("command", nargs=argparse.REMAINDER, help="Job command and arguments")
    p.set_defaults(watch=False)
    return p


def submit_parser(prog: str) -> argparse.ArgumentParser:
    """The parser of ``flux submit [OPTIONS...] COMMAND [ARGS...]``."""
    import argparse

    p = submission_parser(prog)
    p.add_argument("command", nargs=argparse.REMAINDER, help="Job command and arguments")
    return p

"""``flux job SUBCOMMAND``: one job's id, urgency, signals, exceptions, end and eventlog.

flux-core 0.88's ``flux job`` is a C program: its usage lines, option tables
and errors (``flux-job: TEXT``, exit status 1) are kept here, parsed as its
liboptparse does (:mod:`flux.cmd._kvs_options`).  Offered: ``id``,
``urgency``, ``raise``, ``kill``, ``wait``, ``status``, ``eventlog``,
``wait-event`` and ``info`` (the last four in ``_job_eventlog.py``: they
read the job through the ``job-info`` service), and ``raiseall``,
``killall``, ``stats``, ``namespace``, ``memo``, ``timeleft``, ``last``
(``_job_manage.py``).  flux-core 0.88 has no ``flux job cancel`` (``flux
cancel`` replaced it), so neither has pureflux.
"""

from __future__ import annotations

import sys

from ._kvs_options import OPTIONAL, REQUIRED, Command, Opt

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, NoReturn

    from ._kvs_options import Args

SUMMARY = "Job housekeeping utilities"

PROG = "flux-job"

_FORMAT = Opt("f", "format", "Specify output format: text, json", REQUIRED, "FORMAT")
_TIME_FORMAT = Opt("T", "time-format", "Specify time format: raw, iso, offset", REQUIRED,
                   "FORMAT")
_HUMAN = Opt("H", "human", "Display human-readable output. See also --color, --format, "
             "and --time-format.")
_COLOR = Opt("L", "color", "Colorize output when supported; WHEN can be 'always' "
             "(default if omitted), 'never', or 'auto' (default).", OPTIONAL, "WHEN",
             short_optional=True)
_PATH = Opt("p", "path", "Specify alternate eventlog name or path suffix "
            "(e.g. \"exec\", \"output\", \"guest.exec.eventlog\")", REQUIRED, "PATH")

#: name -> (usage, description, options, "module:function"), in flux-core's order
SUBCOMMANDS: dict[str, tuple[str | None, str, list[Opt], str]] = {
    "urgency": ("[OPTIONS] id urgency", "Set job urgency (0-31, HOLD, EXPEDITE, DEFAULT)", [
        Opt("v", "verbose", "Output old urgency value on success"),
    ], "job:cmd_urgency"),
    "raise": ("[OPTIONS] ids... [--] [message ...]", "Raise exception on one or more jobs", [
        Opt("s", "severity", "Set exception severity [0-7] (default=0)", REQUIRED, "N"),
        Opt("t", "type", "Set exception type (default=cancel)", REQUIRED, "TYPE"),
        Opt("m", "message", "Set exception note", REQUIRED, "NOTE"),
    ], "job:cmd_raise"),
    "raiseall": ("OPTIONS type [message ...]", "Raise an exception on multiple jobs.", [
        Opt("s", "severity", "Set exception severity [0-7] (0 is fatal, default=7)",
            REQUIRED, "N"),
        Opt("u", "user", "Set target user or 'all' (instance owner only)", REQUIRED, "USER"),
        Opt("S", "states", "Set target job states (default=ACTIVE)", REQUIRED, "STATES"),
        Opt("f", "force", "Confirm the command"),
    ], "_job_manage:cmd_raiseall"),
    "kill": ("[OPTIONS] ids...", "Send signal to one or more running jobs", [
        Opt("s", "signal", "Send signal SIG (default SIGTERM)", REQUIRED, "SIG"),
    ], "job:cmd_kill"),
    "killall": ("[OPTIONS]", "Send signal to multiple running jobs", [
        Opt("s", "signal", "Send signal SIG (default SIGTERM)", REQUIRED, "SIG"),
        Opt("u", "user", "Set target user or 'all' (instance owner only)", REQUIRED, "USER"),
        Opt("f", "force", "Confirm the command"),
    ], "_job_manage:cmd_killall"),
    "status": ("id [id...]", "Wait for job(s) to complete and exit with largest exit code", [
        Opt("v", "verbose", "Increase verbosity"),
        Opt("e", "exception-exit-code", "Set the default exit code for any jobs that "
            "terminate solely due to an exception (e.g. canceled jobs or jobs rejected by "
            "the scheduler) to N [default=1]", REQUIRED, "N"),
        Opt("j", "json", "Dump job result information gleaned from eventlog to stdout"),
    ], "_job_eventlog:cmd_status"),
    "id": ("[OPTIONS] [id ...]", "Convert jobid(s) to another form", [
        Opt("t", "to", "Convert jobid to specified form", REQUIRED,
            "dec|kvs|hex|dothex|words|f58"),
    ], "job:cmd_id"),
    "eventlog": ("[OPTIONS] id", "Display eventlog for a job", [
        _FORMAT, _TIME_FORMAT, _HUMAN, _COLOR,
        Opt("F", "follow", "Follow events until job is inactive."),
        _PATH,
    ], "_job_eventlog:cmd_eventlog"),
    "wait-event": ("[OPTIONS] id event", "Wait for an event ", [
        _FORMAT, _TIME_FORMAT, _HUMAN,
        Opt("t", "timeout", "timeout after DURATION", REQUIRED, "DURATION"),
        Opt("m", "match-context", "match key=val in context", REQUIRED, "KEY=VAL"),
        Opt("c", "count", "required number of matches (default 1)", REQUIRED, "COUNT"),
        Opt("q", "quiet", "Do not output matched event"),
        Opt("v", "verbose", "Output all events before matched event"),
        _COLOR, _PATH,
        Opt("W", "waitcreate", "If path does not exist, wait for its creation"),
    ], "_job_eventlog:cmd_wait_event"),
    "attach": ("[OPTIONS] id", "Interactively attach to job", [
        Opt("E", "show-events", "Show job events on stderr"),
        Opt("X", "show-exec", "Show exec events on stderr"),
        Opt("", "show-status", "Show job status line while pending"),
        Opt("w", "wait-event", "Wait for event NAME before detaching from eventlog "
            "(default=finish)", REQUIRED, "NAME"),
        Opt("l", "label-io", "Label output by rank"),
        Opt("v", "verbose", "Increase verbosity"),
        Opt("q", "quiet", "Suppress warnings written to stderr from flux-job"),
        Opt("r", "read-only", "Disable reading stdin and capturing signals"),
        Opt("u", "unbuffered", "Disable buffering of stdin"),
        Opt("i", "stdin-ranks", "Send standard input to only RANKS (default: all)",
            REQUIRED, "RANKS"),
    ], "job:cmd_attach"),
    "info": ("id key", "Display info for a job", [
        Opt("o", "original", "For key \"jobspec\", return the original submitted jobspec"),
        Opt("b", "base", "For key \"jobspec\" or \"R\", return base version (do not "
            "apply jobspec-update or resource-update events)"),
    ], "_job_eventlog:cmd_info"),
    "stats": (None, "Get current job stats", [], "_job_manage:cmd_stats"),
    "namespace": ("[id ...]", "Convert job ids to job guest kvs namespace names", [],
                  "_job_manage:cmd_namespace"),
    "submit": ("[OPTIONS] [jobspec]", "Run job", [
        Opt("u", "urgency", "Set job urgency (0-31), hold=0, default=16, expedite=31",
            REQUIRED, "N"),
        Opt("f", "flags", "Set submit comma-separated flags (e.g. debug, waitable)",
            REQUIRED),
    ], "_job_submit_file:cmd_submit"),
    "wait": ("[--all] [id]", "Wait for job(s) to complete.", [
        Opt("a", "all", "Wait for all (waitable) jobs"),
        Opt("v", "verbose", "Emit a line of output for all jobs, not just failing ones"),
    ], "job:cmd_wait"),
    "memo": ("[--volatile] id key=value [key=value, ...]", "Post an RFC 21 memo to a job", [
        Opt("", "volatile", "Memo will not appear in eventlog (will be lost on restart)"),
    ], "_job_manage:cmd_memo"),
    "timeleft": ("[JOBID]", "Find remaining runtime for job or enclosing instance", [
        Opt("H", "human", "Output in Flux Standard Duration instead of seconds."),
    ], "_job_manage:cmd_timeleft"),
    "last": ("SLICE", "List my most recently submitted job id(s)", [],
             "_job_manage:cmd_last"),
    "purge": ("[--age-limit=FSD] [--num-limit=N] [--batch=COUNT] [--force] [ID ...]",
              "Purge the oldest inactive jobs", [
        Opt("-age-limit", "age-limit", "Purge jobs that became inactive beyond age-limit.",
            REQUIRED, "FSD"),
        Opt("-num-limit", "num-limit", "Purge oldest inactive jobs until COUNT are left.",
            REQUIRED, "COUNT"),
        Opt("f", "force", "Perform the irreversible purge."),
        Opt("-batch", "batch", "Limit number of jobs per request (default 50).", REQUIRED,
            "COUNT"),
    ], "_job_purge:cmd_purge"),
}


def usage_exit() -> NoReturn:
    """``flux job`` alone or with an unknown subcommand: the list of subcommands, exit 1."""
    top = Command(PROG, "[OPTIONS] COMMAND ARGS")
    text = top.usage_text() + "\nCommon commands from flux-job:\n"
    text += "".join(f"   {name:<15} {entry[1]}\n" for name, entry in SUBCOMMANDS.items())
    sys.stdout.flush()
    sys.stderr.write(text)
    raise SystemExit(1)


def main(argv: list[str]) -> int:
    top = Command(PROG, "[OPTIONS] COMMAND ARGS", on_help=usage_exit)
    args = top.parse([PROG, *argv])
    if not args.args or args.args[0] not in SUBCOMMANDS:
        usage_exit()
    name = args.args[0]
    usage, doc, options, target = SUBCOMMANDS[name]
    command = Command(f"{PROG} {name}", usage, doc, options)
    module, _, function = target.partition(":")
    mod = __import__(f"flux.cmd.{module}", fromlist=[function])
    return int(getattr(mod, function)(command.parse(args.args)) or 0)


# -- helpers shared by the subcommands (also by _job_eventlog) ----------------------------

def fatal(text: str) -> NoReturn:
    """flux-core's ``log_msg_exit``: ``flux-job: TEXT``, exit 1."""
    sys.stdout.flush()
    print(f"{PROG}: {text}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def log(text: str) -> None:
    """flux-core's ``log_msg``: ``flux-job: TEXT``."""
    sys.stdout.flush()
    print(f"{PROG}: {text}", file=sys.stderr, flush=True)


def usage_fail(args: Args) -> NoReturn:
    args.command.print_usage()
    raise SystemExit(1)


def parse_jobid(text: str) -> int:
    """A job id in any encoding, or ``error parsing jobid: "TEXT"``."""
    from flux.job.JobID import id_parse

    try:
        return id_parse(text)
    except (OSError, ValueError, TypeError):
        fatal(f'error parsing jobid: "{text}"')


def future_error(exc: OSError) -> str:
    """flux-core's ``future_strerror``: the service's text, else strerror(errno)."""
    from .util import oserror_text

    return oserror_text(exc)


def open_handle() -> Any:
    from .util import open_handle as _open

    return _open(PROG)


# -- id ------------------------------------------------------------------------------------

def cmd_id(args: Args) -> int:
    from flux.job.JobID import id_encode, id_parse

    to = args.get_str("to", "dec") or "dec"
    rc = 1  # no id at all is a failure

    def convert(text: str) -> None:
        try:
            jobid = id_parse(text)
        except (OSError, ValueError, TypeError):
            fatal(f"{text}: malformed input")
        try:
            out = id_encode(jobid, to)
        except OSError as exc:
            if exc.errno == 71:  # EPROTO: no such encoding
                fatal(f"Unknown to={to}")
            fatal(f"Unable to encode id {text} to {to}")
        print(out)

    sources = args.args or (line.strip() for line in sys.stdin)
    for text in sources:
        convert(text)
        rc = 0
    return rc


# -- urgency -------------------------------------------------------------------------------

_URGENCY_NAMES = {"hold": 0, "expedite": 31, "default": 16}


def cmd_urgency(args: Args) -> int:
    if len(args.args) != 2:
        usage_fail(args)
    h = open_handle()
    jobid_text, text = args.args[0], args.args[1]
    jobid = parse_jobid(jobid_text)
    urgency = _URGENCY_NAMES.get(text.lower())
    if urgency is None:
        if not text.isdigit():
            fatal(f'error parsing urgency: "{text}"')
        urgency = int(text)
    try:
        old = h.rpc("job-manager.urgency", {"id": jobid, "urgency": urgency}).get()
        old = old["old_urgency"]
    except OSError as exc:
        fatal(f"{jobid_text}: {future_error(exc)}")
    if args.hasopt("verbose"):
        if old == 0:
            print("old urgency: job held", file=sys.stderr)
        elif old == 31:
            print("old urgency: job expedited", file=sys.stderr)
        else:
            print(f"old urgency: {old}", file=sys.stderr)
    return 0


# -- raise, kill ---------------------------------------------------------------------------

def _ids_and_rest(words: list[str], note_allowed: bool) -> tuple[list[tuple[str, int]], list[str]]:
    """Leading words that are job ids, then the rest (a note, when allowed)."""
    from flux.job.JobID import id_parse

    ids = []
    i = 0
    while i < len(words):
        try:
            ids.append((words[i], id_parse(words[i])))
        except (OSError, ValueError, TypeError):
            break
        i += 1
    rest = words[i:]
    if rest and not note_allowed:
        fatal(f"invalid jobid: {rest[0]}")
    if rest and rest[0] == "--":
        rest = rest[1:]
    return ids, rest


def _wait_all(prefix: str, futures: list[tuple[str, Any]]) -> int:
    """Each request's answer; failures are ``flux-job: PREFIX ID: TEXT``, status 1."""
    rc = 0
    for text, future in futures:
        try:
            future.get()
        except OSError as exc:
            log(f"{prefix} {text}: {future_error(exc)}")
            rc = 1
    return rc


def cmd_raise(args: Args) -> int:
    from flux.job.kill import job_raise_async

    if len(args.args) < 1:
        usage_fail(args)
    severity = args.get_int("severity", 0)
    exc_type = args.get_str("type", "cancel") or "cancel"
    ids, rest = _ids_and_rest(args.args, note_allowed=True)
    note = " ".join(rest) if rest else None
    message = args.get_str("message")
    if args.hasopt("message"):
        if note:
            fatal("Do not set note on command line and with --message")
        note = message
    h = open_handle()
    futures = [(text, job_raise_async(h, jobid, exc_type, severity, note))
               for text, jobid in ids]
    return _wait_all("raise", futures)


def signal_number(name: str) -> int:
    """flux-core's ``sigutil_signum``: ``15``, ``TERM`` or ``SIGTERM``; -1 if none."""
    import signal

    if name.isdigit():
        number = int(name)
        return number if 0 < number < signal.NSIG else -1
    full = name if name.startswith("SIG") else f"SIG{name}"
    value = getattr(signal.Signals, full, None) if full.isupper() else None
    return int(value) if value is not None else -1


def cmd_kill(args: Args) -> int:
    from flux.job.kill import kill_async

    if len(args.args) < 1:
        usage_fail(args)
    ids, _ = _ids_and_rest(args.args, note_allowed=False)
    name = args.get_str("signal", "SIGTERM") or "SIGTERM"
    signum = signal_number(name)
    if signum < 0:
        fatal(f"kill: Invalid signal {name}")
    h = open_handle()
    futures = [(text, kill_async(h, jobid, signum)) for text, jobid in ids]
    return _wait_all("kill", futures)


# -- wait ----------------------------------------------------------------------------------

_ECHILD = 10


def cmd_wait(args: Args) -> int:
    from flux.job.JobID import JobID

    if len(args.args) > 1:
        usage_fail(args)
    jobid = None
    if len(args.args) == 1:
        jobid = parse_jobid(args.args[0])
        if args.hasopt("all"):
            import os

            fatal(f"jobid not supported with --all: {os.strerror(0)}")
    h = open_handle()
    if args.hasopt("all"):
        rc = 0
        while True:
            try:
                resp = h.rpc("job-manager.wait", {"id": -1}).get()
            except OSError as exc:
                if exc.errno == _ECHILD:
                    return rc
                fatal(f"flux_job_wait_get_status: {future_error(exc)}")
            done = JobID(resp["id"])
            if not resp.get("success"):
                print(f"{done.f58}: {resp.get('errstr', '')}", file=sys.stderr, flush=True)
                rc = 1
            elif args.hasopt("verbose"):
                print(f"{done.f58}: job completed successfully", file=sys.stderr, flush=True)
    try:
        resp = h.rpc("job-manager.wait", {"id": -1 if jobid is None else jobid}).get()
    except OSError as exc:
        log(future_error(exc))
        return 2 if exc.errno == _ECHILD else 1
    if jobid is None:
        print(JobID(resp["id"]).f58, flush=True)
    if not resp.get("success"):
        fatal(resp.get("errstr", ""))
    return 0


def cmd_attach(args: Args) -> int:
    """``flux job attach ID``: the work is in ``_job_attach.py``."""
    import flux

    from ._job_attach import Attach

    if len(args.args) != 1:
        usage_fail(args)
    jobid = parse_jobid(args.args[0])
    ranks = args.get_str("stdin-ranks", "all") or "all"
    if ranks != "all":
        from flux.idset import IDset

        try:
            IDset(ranks)
        except ValueError:
            fatal(f"Invalid value '{ranks}' for --stdin-ranks")
    with flux.Flux() as h:
        return Attach(h, jobid, label_io=args.hasopt("label-io"),
                      show_events=args.hasopt("show-events"),
                      show_exec=args.hasopt("show-exec"),
                      wait_event=args.get_str("wait-event", "clean") or "clean",
                      read_only=args.hasopt("read-only"), quiet=args.hasopt("quiet"),
                      verbose=args.hasopt("verbose"), stdin_ranks=ranks).run()

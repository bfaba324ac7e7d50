"""``flux job`` subcommands that act on many jobs or on the instance's records.

flux-core 0.88's ``raiseall`` and ``killall`` (a dry run unless ``-f``,
``job-manager.raiseall``/``killall``), ``namespace`` (a job's guest KVS
namespace name), ``stats`` (``job-list.job-stats`` as JSON), ``timeleft``,
``last`` (``job-manager.history.get``) and ``memo`` (``job-manager.memo``).
Texts and exit codes are flux-job's (``flux-job: TEXT``, exit status 1).
"""

from __future__ import annotations

import os
import sys

from .job import fatal, log, open_handle, parse_jobid, signal_number, usage_fail

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from ._kvs_options import Args

_STATES = {"new": 1, "depend": 2, "priority": 4, "sched": 8, "run": 16, "cleanup": 32,
           "inactive": 64, "pending": 14, "running": 48, "active": 62}
_USERID_ALL = 0xFFFFFFFF


def _userid(args: Args) -> int:
    import pwd

    text = args.get_str("user") or ""
    if text == "all":
        return _USERID_ALL
    try:
        return pwd.getpwnam(text).pw_uid
    except KeyError:
        pass
    if not text[:1].isdigit() or not text.isdigit():
        fatal(f"unknown user {text}")
    return int(text)


def _states(args: Args) -> int:
    mask = 0
    for state in (args.get_str("states") or "").split(","):
        if not state:
            continue
        if state.lower() not in _STATES:
            fatal(f"error parsing --states: {state} is unknown")
        mask |= _STATES[state.lower()]
    if mask == 0:
        fatal("no states specified")
    return mask


def _report(count: int, dry_run: bool, done: str) -> None:
    if count > 0 and dry_run:
        log(f"Command matched {count} jobs (-f to confirm)")
    elif count > 0:
        log(done)
    else:
        log("Command matched 0 jobs")


def cmd_raiseall(args: Args) -> int:
    from .job import future_error

    if not args.args:
        usage_fail(args)
    severity = args.get_int("severity", 7)
    exc_type = args.args[0]
    note = " ".join(args.args[1:]) if len(args.args) > 1 else ""
    states = 62
    if args.hasopt("states"):
        states = _states(args)
        if states & 64:
            fatal("Exceptions cannot be raised on inactive jobs")
    userid = _userid(args) if args.hasopt("user") else os.getuid()
    dry_run = not args.hasopt("force")
    h = open_handle()
    try:
        resp = h.rpc("job-manager.raiseall", {
            "dry_run": dry_run, "userid": userid, "states": states, "severity": severity,
            "type": exc_type, "note": note}).get()
    except OSError as exc:
        fatal(f"raiseall: {future_error(exc)}")
    count, errors = resp["count"], resp["errors"]
    _report(count, dry_run, f"Raised exception on {count} jobs ({errors} errors)")
    return 0


def cmd_killall(args: Args) -> int:
    import signal

    from .job import future_error

    if args.args:
        usage_fail(args)
    name = args.get_str("signal", "SIGTERM") or "SIGTERM"
    signum = signal_number(name)
    if signum < 0:
        fatal(f"killall: Invalid signal {name}")
    userid = _userid(args) if args.hasopt("user") else os.getuid()
    dry_run = not args.hasopt("force")
    h = open_handle()
    try:
        resp = h.rpc("job-manager.killall", {"dry_run": dry_run, "userid": userid,
                                             "signum": signum}).get()
    except OSError as exc:
        fatal(f"killall: {future_error(exc)}")
    count, errors = resp["count"], resp["errors"]
    _report(count, dry_run, f"{signal.strsignal(signum)} {count} jobs ({errors} errors)")
    return 0


def cmd_namespace(args: Args) -> int:
    sources = args.args or (line.strip() for line in sys.stdin)
    for text in sources:
        print(f"job-{parse_jobid(text)}")
    return 0


def cmd_stats(args: Args) -> int:
    from .job import future_error

    h = open_handle()
    try:
        text = h.rpc("job-list.job-stats").get_str()
    except OSError as exc:
        fatal(f"stats: {future_error(exc)}")
    print(text)
    return 0


def cmd_timeleft(args: Args) -> int:
    import math

    from flux.job.timeleft import timeleft

    if len(args.args) > 1:
        usage_fail(args)
    h = open_handle()
    if args.args:
        os.environ["FLUX_JOB_ID"] = args.args[0]
    try:
        left = timeleft(h)
    except (OSError, ValueError) as exc:
        from .job import future_error

        fatal(future_error(exc) if isinstance(exc, OSError) else str(exc))
    if args.hasopt("human"):
        from flux.fsd import format_duration

        print(format_duration(left))
    else:
        if math.isinf(left):
            seconds = 0xFFFFFFFF
        else:
            seconds = math.floor(left)
            if seconds == 0 and left > 0:
                seconds = 1
        print(seconds)
    return 0


def cmd_last(args: Args) -> int:
    from flux.job.JobID import JobID

    from .job import future_error

    words = list(args.args)
    slice_text = "[:1]"
    if words:
        slice_text = words.pop(0)
        if "[" not in slice_text:
            try:
                slice_text = f"[:{int(slice_text, 10)}]"
            except ValueError:
                usage_fail(args)
    if words:
        usage_fail(args)
    h = open_handle()
    try:
        jobs = h.rpc("job-manager.history.get", {"slice": slice_text}).get()["jobs"]
    except OSError as exc:
        fatal(future_error(exc))
    if not jobs:
        fatal("job history is empty")
    for jobid in jobs:
        print(JobID(jobid).f58)
    return 0


def _set_path(memo: dict | None, key: str, value: object) -> dict:
    """jpath_set_new: ``a.b.c`` makes nested objects."""
    memo = {} if memo is None else memo
    node = memo
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value
    return memo


def cmd_memo(args: Args) -> int:
    import json

    from .job import future_error

    if len(args.args) < 2:
        usage_fail(args)
    h = open_handle()
    jobid = parse_jobid(args.args[0])
    memo: dict | None = None
    for keyval in args.args[1:]:
        key, eq, text = keyval.partition("=")
        if not eq:
            fatal(f"memo: no value for key={keyval}")
        if text == "-":
            text = sys.stdin.read()
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        memo = _set_path(memo, key, value)
    try:
        h.rpc("job-manager.memo", {"id": jobid, "volatile": args.hasopt("volatile"),
                                   "memo": memo}).get()
    except OSError as exc:
        fatal(f"memo: {future_error(exc)}")
    return 0

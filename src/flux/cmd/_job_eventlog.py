"""``flux job eventlog``, ``wait-event``, ``status`` and ``info``: reading a job through job-info.

As flux-core 0.88's: ``eventlog`` is one ``job-info.lookup`` of the eventlog
(``exec``, ``output``, ``input`` name the guest eventlogs), printed with the
shared eventlog formatter; ``wait-event`` (and ``eventlog --follow``) watch
it with ``job-info.eventlog-watch``; ``status`` waits for each job's result
(its eventlog up to ``clean``) and exits with the largest exit code;
``info`` prints one key of the job (``jobspec`` and ``R`` with their updates
applied unless ``--base``; ``--original`` unwraps J).
"""

from __future__ import annotations

import sys

from .job import fatal, future_error, log, open_handle, parse_jobid, usage_fail

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from ._eventlog_format import EventlogFormatter
    from ._kvs_options import Args

_SHORT_PATHS = {"exec": "guest.exec.eventlog", "output": "guest.output",
                "input": "guest.input"}

_ENOENT, _ENODATA, _ETIMEDOUT = 2, 61, 110
_WAITCREATE = 1
_LOOKUP_CURRENT = 2


def _strerror(exc: OSError) -> str:
    """flux-core's ``log_err_exit``: strerror(errno), not the service's text."""
    import os

    return os.strerror(exc.errno) if exc.errno else str(exc)


def _formatter(args: Args) -> EventlogFormatter:
    from ._eventlog_format import EventlogFormatter

    fmt = args.get_str("format", "text") or "text"
    time_format = args.get_str("time-format", "raw") or "raw"
    color = args.get_color("color")
    if args.hasopt("human"):
        fmt, time_format = "text", "human"
    evf = EventlogFormatter()
    try:
        evf.set_format(fmt)
    except ValueError:
        fatal(f"invalid format type '{fmt}'")
    try:
        evf.set_timestamp_format(time_format)
    except ValueError:
        fatal(f"invalid time-format type '{time_format}'")
    evf.set_color(color)
    return evf


def _print_entry(evf: EventlogFormatter, entry: dict) -> None:
    try:
        sys.stdout.write(evf.format(entry))
    except ValueError as exc:
        log(f"failed to print eventlog entry: {exc}")
    sys.stdout.flush()


def _not_found(jobid_text: str, path: str) -> None:
    if path == "eventlog":
        fatal(f"job {jobid_text} not found")
    fatal(f"eventlog path {path} not found")


def cmd_eventlog(args: Args) -> int:
    from flux import eventlog

    h = open_handle()
    if len(args.args) != 1:
        usage_fail(args)
    jobid_text = args.args[0]
    path_arg = args.get_str("path", "eventlog") or "eventlog"
    if args.hasopt("follow"):
        return _wait_event(args, jobid_text, "clean", path_arg, None, 1, -1.0,
                           waitcreate=True, verbose=True, quiet=False)
    jobid = parse_jobid(jobid_text)
    path = _SHORT_PATHS.get(path_arg, path_arg)
    evf = _formatter(args)
    try:
        resp = h.rpc("job-info.lookup", {"id": jobid, "keys": [path], "flags": 0}).get()
    except OSError as exc:
        if exc.errno == _ENOENT:
            _not_found(jobid_text, path)
        fatal(f"flux_job_eventlog_lookup_get: {_strerror(exc)}")
    try:
        entries = eventlog.decode(resp[path])
    except (OSError, ValueError, KeyError, TypeError):
        fatal("eventlog_decode: Protocol error")
    for entry in entries:
        _print_entry(evf, entry)
    return 0


def cmd_wait_event(args: Args) -> int:
    if len(args.args) != 2:
        usage_fail(args)
    return _wait_event(args, args.args[0], args.args[1],
                       args.get_str("path", "eventlog") or "eventlog",
                       args.get_str("match-context"), args.get_int("count", 1),
                       args.get_duration("timeout", -1.0),
                       waitcreate=args.hasopt("waitcreate"), verbose=args.hasopt("verbose"),
                       quiet=args.hasopt("quiet"))


def _context_matches(context: Any, key: str, value: str) -> bool:
    from flux.message import compact_json

    if not isinstance(context, dict) or key not in context:
        return False
    found = context[key]
    return compact_json(found) == value or (isinstance(found, str) and found == value)


def _wait_event(args: Args, jobid_text: str, name: str, path_arg: str,
                match_context: str | None, count: int, timeout: float,
                waitcreate: bool, verbose: bool, quiet: bool) -> int:
    """Watch the eventlog until the ``count``-th ``name`` (matching ``KEY=VAL`` if given)."""
    import json

    from flux.constants import FLUX_RPC_STREAMING

    jobid = parse_jobid(jobid_text)
    path = _SHORT_PATHS.get(path_arg, path_arg)
    if count <= 0:
        fatal("count must be > 0")
    evf = _formatter(args)
    key = value = None
    if match_context is not None:
        key, eq, value = match_context.partition("=")
        if not eq:
            fatal("must specify a context test as key=value")
    h = open_handle()
    future = h.rpc("job-info.eventlog-watch",
                   {"id": jobid, "path": path, "flags": _WAITCREATE if waitcreate else 0},
                   flags=FLUX_RPC_STREAMING)
    matches = 0
    while True:
        try:
            resp = future.get() if timeout < 0 else future.wait_for(timeout).get()
        except OSError as exc:
            if exc.errno == _ENOENT:
                _not_found(jobid_text, path)
            if exc.errno == _ETIMEDOUT:
                fatal(f"wait-event timeout on event '{name}'")
            if exc.errno == _ENODATA:
                fatal(f"event '{name}' never received")
            fatal(f"flux_job_event_watch_get: {_strerror(exc)}")
        try:
            entry = json.loads(resp["event"])
            stamp, ev_name = entry["timestamp"], entry["name"]
        except (KeyError, TypeError, ValueError):
            fatal("eventlog_entry_decode: Protocol error")
        evf.update_t0(stamp)
        hit = ev_name == name and (key is None or _context_matches(entry.get("context"),
                                                                   key, value or ""))
        if hit:
            matches += 1
        if hit and matches == count:
            if not quiet:
                _print_entry(evf, entry)
            h.rpc("job-info.eventlog-watch-cancel", {"matchtag": future.get_matchtag()},
                  flags=1)  # FLUX_RPC_NORESPONSE
            return 0
        if verbose:
            _print_entry(evf, entry)
        future.reset()


def _exit_code(status: int) -> int:
    import os

    if status < 0:
        return 0
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def cmd_status(args: Args) -> int:
    import json
    import os

    from flux.job.wait import result_async

    ids = args.args
    if not ids:
        usage_fail(args)
    h = open_handle()
    exception_exit_code = args.get_int("exception-exit-code", 1)
    verbose = args.found.get("verbose", 0)
    futures = [result_async(h, parse_jobid(text)) for text in ids]
    if verbose and len(ids) > 1:
        log(f"fetching status for {len(ids)} jobs")
    results = []
    for text, future in zip(ids, futures):
        try:
            results.append(future.get_dict())
        except OSError as exc:
            if exc.errno == _ENOENT:
                fatal(f"{text}: No such job")
            fatal(f"{text}: flux_job_wait_status_get: {_strerror(exc)}")
    if verbose and len(ids) > 1:
        log("all done.")
    rc = 0
    for text, res in zip(ids, results):
        if args.hasopt("json"):
            print(json.dumps(res, separators=(",", ":")), flush=True)
        status = res.get("waitstatus", -1)
        code = _exit_code(status)
        rc = max(rc, code)
        exception = res.get("exception_occurred", False)
        severity = res.get("exception_severity", 0)
        if exception and severity == 0:
            rc = max(rc, exception_exit_code)
        if verbose:
            if status >= 0 and os.WIFSIGNALED(status):
                log(f"{text}: job shell died by signal {os.WTERMSIG(status)}")
            elif verbose > 1 or code != 0:
                if exception and severity == 0:
                    log(f"{text}: exception type={res.get('exception_type')}")
                else:
                    log(f"{text}: exited with exit code {code}")
    return rc


_INFO_USAGE = """Usage: flux job info id key
some useful keys are:
  J                    - signed jobspec
  R                    - allocated resources
  eventlog             - primary job eventlog
  jobspec              - job specification
  guest.exec.eventlog  - execution eventlog
  guest.input          - job input log
  guest.output         - job output log
Use flux job info -h to list available options
"""


def cmd_info(args: Args) -> int:
    if len(args.args) != 2:
        sys.stderr.write(_INFO_USAGE)
        return 1
    jobid = parse_jobid(args.args[0])
    key = args.args[1]
    h = open_handle()
    original = args.hasopt("original") and key == "jobspec"
    flags = 0
    if not original and not args.hasopt("base") and key in ("R", "jobspec"):
        flags = _LOOKUP_CURRENT
    lookup = "J" if original else key
    try:
        value = h.rpc("job-info.lookup", {"id": jobid, "keys": [lookup], "flags": flags}).get()
        value = value[lookup]
    except OSError as exc:
        fatal(future_error(exc))
    if original:
        from flux.services.job_ingest.sign_none import unwrap

        try:
            value = unwrap(value)[0].decode("utf-8")
        except (OSError, ValueError) as exc:
            fatal(f"Failed to unwrap J to get jobspec: {exc}")
    print(value if isinstance(value, str) else _compact(value))
    return 0


def _compact(value: Any) -> str:
    from flux.message import compact_json

    return compact_json(value)

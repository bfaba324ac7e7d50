"""A jobspec from ``flux submit``'s options, the same document flux-core 0.88 builds.

The resources come from ``JobspecV1.from_command`` (per-task options); then, in
flux-core's order: the environment (``--env`` rules over this process's
environment), the resource limits (all but a few, filtered by ``--rlimit``),
``--signal``, ``--taskmap``, ``--dependency``, ``--setopt``, the time limit,
``--setattr`` and ``--add-file``.  Errors are ValueErrors with flux-core's text.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

# Limits flux-core does not hand to a job unless asked (--rlimit=NAME).
_RLIMITS_KEPT_BACK = ("memlock", "ofile", "msgqueue", "nice", "rtprio", "rttime", "sigpending")

_INT_OPTIONS = ("ntasks", "nodes", "cores", "cores_per_task", "gpus_per_task",
                "tasks_per_node", "tasks_per_core", "gpus_per_node")


def _int_options(args: Any) -> dict:
    """The count options as ints (strings on the command line, so bulksubmit can template them)."""
    counts = {}
    for name in _INT_OPTIONS:
        value = getattr(args, name, None)
        if value:
            try:
                value = int(value)
            except ValueError:
                raise ValueError(f"--{name.replace('_', '-')}: invalid int value '{value}'") from None
        counts[name] = value
    return counts


def _per_resource(counts: dict) -> tuple[str | None, int | None]:
    """``--tasks-per-node`` or ``--tasks-per-core`` (not both) as (type, count)."""
    if counts["tasks_per_node"] is not None and counts["tasks_per_core"] is not None:
        raise ValueError("Do not specify both the number of tasks per node and per core")
    if counts["tasks_per_node"] is not None:
        if counts["tasks_per_node"] < 1:
            raise ValueError("--tasks-per-node must be >= 1")
        return "node", counts["tasks_per_node"]
    if counts["tasks_per_core"] is not None:
        if counts["tasks_per_core"] < 1:
            raise ValueError("--tasks-per-core must be >= 1")
        return "core", counts["tasks_per_core"]
    return None, None


def jobspec_from_args(args: Any) -> Any:
    """The jobspec ``flux submit`` would send for ``args`` (its command included)."""
    from flux.job.Jobspec import JobspecV1

    command = list(args.command)
    if not command:
        raise ValueError("job command and arguments are missing")
    if command[0] == "--":
        command.pop(0)
    time_limit = args.time_limit
    if time_limit is not None:
        try:
            time_limit = float(time_limit) * 60  # bare numbers are minutes
        except ValueError:
            pass
    stdin = None
    if args.input is not None:
        from ._job_cli import idset_decode

        try:
            idset_decode(args.input)
        except ValueError:
            stdin = args.input  # a file; an idset is for the attaching command
    counts = _int_options(args)
    per_type, per_count = _per_resource(counts)
    if counts["gpus_per_node"] and not counts["nodes"]:
        raise ValueError("--gpus-per-node requires --nodes")
    common = dict(cwd=args.cwd if args.cwd is not None else os.getcwd(),
                  name=args.job_name, input=stdin, output=args.output, error=args.error,
                  label_io=args.label_io, unbuffered=args.unbuffered, queue=args.queue,
                  bank=args.bank)
    nodes, exclusive = counts["nodes"], args.exclusive
    if per_type is not None or counts["gpus_per_node"] is not None or counts["cores"] is not None:
        if (counts["ntasks"] is not None or counts["cores_per_task"] is not None
                or counts["gpus_per_task"]):
            raise ValueError("Per-resource options can't be used with per-task options. "
                             "(See --help for details)")
        if nodes and counts["cores"] is None:
            exclusive = True
        jobspec = JobspecV1.per_resource(
            command, ncores=counts["cores"], nnodes=nodes, per_resource_type=per_type,
            per_resource_count=per_count, gpus_per_node=counts["gpus_per_node"],
            exclusive=exclusive, **common)
    else:
        ntasks = counts["ntasks"]
        if not ntasks and nodes:
            ntasks, exclusive = nodes, True
        jobspec = JobspecV1.from_command(
            command, num_tasks=ntasks or 1, cores_per_task=counts["cores_per_task"] or 1,
            gpus_per_task=counts["gpus_per_task"], num_nodes=nodes, exclusive=exclusive,
            **common)
    return apply_common_options(jobspec, args, time_limit)


def apply_common_options(jobspec: Any, args: Any, time_limit: Any) -> Any:
    """What every submission command adds to the jobspec its resources made, in
    flux-core's order (``flux batch``/``flux alloc`` share it with ``flux submit``)."""
    environ, expand = filtered_environment(args.env)
    jobspec.environment = environ
    if expand:
        jobspec.setattr_shell_option("env-expand", expand)
    rlimits = filtered_rlimits(args.rlimit)
    if rlimits:
        jobspec.setattr_shell_option("rlimit", rlimits)
    if args.signal:
        jobspec.setattr_shell_option("signal", signal_option(args.signal))
    if getattr(args, "taskmap", None) is not None:
        jobspec.setattr_shell_option("taskmap", uri_entry(args.taskmap, "taskmap"))
    if args.dependency is not None:
        jobspec.setattr("system.dependencies",
                        [uri_entry(uri, "dependency") for uri in args.dependency])
    requires = getattr(args, "requires", None)
    if requires is not None:
        from ._job_constraint import ConstraintSyntaxError, parse_constraint

        query = " ".join(requires)
        try:
            jobspec.setattr("system.constraints", parse_constraint(query))
        except ConstraintSyntaxError as exc:
            raise ValueError(f"--requires='{query}': {exc}") from None
    for keyval in args.setopt or ():
        jobspec.setattr_shell_option(*keyval_parse("--setopt", keyval))
    if time_limit is not None:
        jobspec.duration = duration_decode(time_limit)
    for keyval in args.setattr or ():
        key, value = keyval_parse("--setattr", keyval)
        if key.startswith("."):
            key = "attributes" + key
        elif not key.startswith(("attributes.", "user.", "system.")):
            key = "system." + key
        jobspec.setattr(key, value)
    for arg in args.add_file or ():
        add_file(jobspec, arg)
    return jobspec


def duration_decode(value: Any) -> float:
    """Seconds from a number or a Flux standard duration."""
    if isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except ValueError:
        pass
    from flux.job.Jobspec import parse_fsd

    return parse_fsd(value)


def signal_decode(value: Any) -> int:
    """A signal number from ``10``, ``SIGUSR1`` or ``USR1``."""
    import signal

    if isinstance(value, int):
        return value
    try:
        return int(value)
    except ValueError:
        pass
    for name in (value, f"SIG{value}"):
        number = getattr(signal, name, None)
        if isinstance(number, int):
            return number
    raise ValueError(f"signal '{value}' is invalid")


def signal_option(arg: str) -> dict:
    """``--signal=[SIG][@TIME]``: SIGUSR1 and 60s unless given."""
    sig, _, when = arg.partition("@")
    try:
        signum = signal_decode(sig or 10)
        if signum <= 0:
            raise ValueError("signal must be > 0")
    except ValueError as exc:
        raise ValueError(f"--signal={arg}: {exc}") from None
    try:
        timeleft = duration_decode(when or 60)
    except ValueError as exc:
        raise ValueError(f"--signal={arg}: {exc}") from None
    return {"signum": signum, "timeleft": timeleft}


def uri_entry(uri: str, what: str) -> dict:
    """An RFC 26 entry (``scheme``, ``value``, query keys) from ``SCHEME:VALUE[?K=V]``."""
    import sys
    from urllib.parse import parse_qs

    if ":" not in uri:
        uri += ":"
    scheme, _, rest = uri.partition(":")
    value, _, query = rest.partition("?")
    if not scheme or not scheme[0].isalpha() or not all(
            c.isalnum() or c in "+-." for c in scheme):
        raise ValueError(f'Invalid {what} URI "{uri}"')
    if what == "dependency" and scheme == "after":
        print("dependency scheme 'after' is deprecated, use 'afterstart'", file=sys.stderr)
    entry: dict = {"scheme": scheme.lower(), "value": value}
    for key, values in parse_qs(query).items():
        converted = [_number(v) for v in values]
        entry[key] = converted if len(converted) > 1 else converted[0]
    return entry


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def keyval_parse(label: str, keyval: str) -> tuple[str, Any]:
    """``KEY[=VALUE]`` (VALUE JSON if it parses, default 1); ``^KEY=FILE`` reads JSON."""
    import json

    key, eq, text = keyval.partition("=")
    value: Any = text if eq else 1
    if key.startswith("^"):
        key = key.lstrip("^")
        with open(value) as stream:
            try:
                return key, json.load(stream)
            except (json.JSONDecodeError, TypeError) as exc:
                raise ValueError(f"{label}: {value}: {exc}") from exc
    if eq:
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, TypeError):
            pass
    return key, value


def _matching(mapping: dict, pattern: str, keep_matches: bool) -> dict:
    """Entries of ``mapping`` whose key matches (or not) a glob, or ``/REGEX/``."""
    if not pattern.startswith("/") and not any(c in pattern for c in "*?["):
        # a plain name (the rlimits every submission leaves out): no pattern to compile
        return {k: v for k, v in mapping.items() if (k == pattern) == keep_matches}
    import fnmatch
    import re

    if pattern.startswith("/"):
        regex = re.compile(pattern[1:].rstrip("/"))
    else:
        regex = re.compile(fnmatch.translate(pattern))
    return {k: v for k, v in mapping.items() if bool(regex.match(k)) == keep_matches}


def filtered_environment(rules: list[str] | None,
                         environ: dict | None = None) -> tuple[dict, dict]:
    """The job's environment and its ``env-expand`` templates after ``--env`` rules.

    ``-PATTERN`` removes, ``^FILE`` reads more rules, ``VAR`` imports matching
    variables, ``VAR=VALUE`` sets (``$VAR`` expanded from what is built so far,
    then from this process); values with ``{{`` are left to the job shell.
    """
    expand: dict = {}
    env = dict(os.environ) if environ is None else environ
    for rule in rules or ():
        if rule.startswith("-"):
            env = _matching(env, rule[1:], keep_matches=False)
        elif rule.startswith("^"):
            try:
                with open(os.path.expanduser(rule[1:])) as stream:
                    lines = [line.strip() for line in stream]
            except OSError as exc:
                raise ValueError(f"--env: {exc}") from None
            env, more = filtered_environment(lines, env)
            expand.update(more)
        else:
            var, eq, value = rule.partition("=")
            if not eq:
                for key, val in _matching(dict(os.environ), var, keep_matches=True).items():
                    env.setdefault(key, val)
            elif "{{" in value:
                expand[var] = value
            else:
                from collections import ChainMap
                from string import Template

                try:
                    env[var] = Template(value).substitute(ChainMap(env, dict(os.environ)))
                except ValueError:
                    raise ValueError(f"--env: Unable to substitute {rule}") from None
                except KeyError as exc:
                    raise ValueError(f"--env: Variable {exc} not found in {rule}") from None
    return env, expand


def _rlimits(pattern: str) -> dict:
    import resource

    if pattern == "*":  # every submission's: no pattern to compile
        names = [name for name in resource.__dict__ if name.startswith("RLIMIT_")]
    else:
        import fnmatch

        names = fnmatch.filter(resource.__dict__.keys(), f"RLIMIT_{pattern}".upper())
    found = {}
    for name in names:
        found[name[7:].lower()] = resource.getrlimit(getattr(resource, name))[0]
    if not found:
        raise ValueError(f'No corresponding rlimit matching "{pattern}"')
    return found


def filtered_rlimits(user_rules: list[str] | None) -> dict:
    """The soft limits handed to the job: all but a few, then ``--rlimit`` rules in order."""
    import resource

    rules = [f"-{name}" for name in _RLIMITS_KEPT_BACK]
    for arg in user_rules or ():
        rules.extend(arg.split(","))
    limits = _rlimits("*")
    for rule in rules:
        if rule.startswith("-"):
            limits = _matching(limits, rule[1:].lower(), keep_matches=False)
            continue
        name, eq, text = rule.partition("=")
        if not eq:
            limits.update(_rlimits(name.lower()))
            continue
        if not hasattr(resource, f"RLIMIT_{name}".upper()):
            raise ValueError(f'Invalid rlimit "{name}"')
        if text in ("unlimited", "infinity", "inf"):
            limits[name.lower()] = resource.RLIM_INFINITY
        else:
            try:
                limits[name.lower()] = int(text)
            except ValueError:
                raise ValueError(f"Invalid value in {name}={text}") from None
    return limits


def add_file(jobspec: Any, arg: str) -> None:
    """``--add-file=[NAME[:PERMS]=]PATH`` or ``NAME=TEXT`` (text when it has newlines)."""
    perms = None
    name, _, data = arg.replace("\\n", "\n").partition("=")
    if not data:
        if "\n" in name:
            raise ValueError("--add-file: file name missing")
        data, name = name, os.path.basename(name)
    else:
        base, _, permtext = name.partition(":")
        try:
            perms = int(permtext, base=8)
            name = base
        except ValueError:
            pass
    try:
        jobspec.add_file(name, data, perms=perms)
    except (TypeError, ValueError, OSError) as exc:
        raise ValueError(f"--add-file={arg}: {exc}") from None


def parse_datetime(text: str, now: Any = None) -> Any:
    """A datetime from ``now``, ``+FSD``/``-FSD`` (offsets) or a date and time.

    flux-core reads the last form with the ``parsedatetime`` package; here
    the common spellings are understood: ISO 8601 (``2026-12-02 15:00``),
    ``[today|tomorrow] HH:MM[:SS][am|pm]`` and ``[today|tomorrow] Nam|Npm``.
    """
    import re
    from datetime import datetime, timedelta

    if now is None:
        now = datetime.now().astimezone()
    if text == "now":
        return now
    if text.startswith(("+", "-")):
        offset = duration_decode(text[1:])
        sign = 1 if text[0] == "+" else -1
        return datetime.fromtimestamp(now.timestamp() + sign * offset).astimezone()
    try:
        return datetime.fromisoformat(text).astimezone()
    except ValueError:
        pass
    match = re.fullmatch(r"\s*(?:(today|tomorrow)\s*)?(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?"
                         r"\s*(am|pm)?\s*", text.lower())
    if match is None or (match[3] is None and match[5] is None):
        raise ValueError(f'Invalid datetime: "{text}"')
    day, hour, minute, second, half = match.groups()
    hour = int(hour)
    if half and not 1 <= hour <= 12:
        raise ValueError(f'Invalid datetime: "{text}"')
    if half:
        hour = hour % 12 + (12 if half == "pm" else 0)
    try:
        when = now.replace(hour=hour, minute=int(minute or 0), second=int(second or 0),
                           microsecond=0)
    except ValueError:
        raise ValueError(f'Invalid datetime: "{text}"') from None
    if day == "tomorrow":
        when += timedelta(days=1)
    return when

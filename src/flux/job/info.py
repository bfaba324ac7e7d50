"""``JobInfo``: one job as job-list describes it, with the values ``flux jobs`` shows.

flux-core's class: the job-list record's keys become attributes (with
defaults for those not yet known), and derived ones are computed once on
first use: ``state``/``result``/``status`` names (libjob's tables: long, or
short with ``fmt="S"``), their emoji, ``username``, ``runtime``,
``returncode``, ``contextual_info``, ``inactive_reason``; ``to_dict()``.
``job_fields_to_attrs`` says which job-list attributes a set of ``flux jobs``
fields needs.  Not here yet: ``JobInfoFormat`` and ``get_instance_info`` (they
need flux-core's ``OutputFormat`` and resource listing).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import namedtuple
from itertools import chain

from flux.constants import (
    FLUX_JOB_RESULT_CANCELED,
    FLUX_JOB_RESULT_FAILED,
    FLUX_JOB_STATE_PENDING,
    FLUX_JOB_STATE_RUNNING,
)
from flux.job.JobID import JobID

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable
    from typing import Any

__all__ = [
    "AnnotationsInfo",
    "DependencyList",
    "EmptyObject",
    "ExceptionInfo",
    "InfoList",
    "JobInfo",
    "get_username",
    "resulttoemoji",
    "resulttostr",
    "statetoemoji",
    "statetostr",
    "statustoemoji",
    "statustostr",
]

# value -> (long, short) as libjob names them; other values are "(unknown)"/"?"
_STATES = {1: ("NEW", "N"), 2: ("DEPEND", "D"), 4: ("PRIORITY", "P"), 8: ("SCHED", "S"),
           16: ("RUN", "R"), 32: ("CLEANUP", "C"), 64: ("INACTIVE", "I"),
           14: ("PENDING", "PD"), 48: ("RUNNING", "RU"), 62: ("ACTIVE", "A")}
_RESULTS = {1: ("COMPLETED", "CD"), 2: ("FAILED", "F"), 4: ("CANCELED", "CA"),
            8: ("TIMEOUT", "TO")}
_UNKNOWN = ("(unknown)", "?")

_STATE_EMOJI = {"N": "\U0001f381", "D": "\U0001f6d1", "P": "\U0001f6a6", "S": "\U0001f4c5",
                "R": "\U0001f3c3", "C": "\U0001f5d1", "I": "\U0001f480"}
_RESULT_EMOJI = {"CD": ("\U0001f600", ":-)"), "F": ("\U0001f4a9", ":'-("),
                 "CA": ("\U0001f4a5", "%-|"), "TO": ("\u231b", "(-_-)")}


def _name(table: dict[int, tuple[str, str]], value: int, fmt: str) -> str:
    long_name, short = table.get(value, _UNKNOWN)
    code = fmt[:1] if fmt else "L"
    if code == "S":
        return short
    if code == "s":
        return short.lower()
    if code == "l":
        return long_name.lower()
    return long_name


def _printable(text: str) -> bool:
    try:
        text.encode(sys.stdout.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def statetostr(stateid: int, fmt: str = "L") -> str:
    """A state's name: ``L`` RUN, ``l`` run, ``S`` R, ``s`` r."""
    return _name(_STATES, stateid, fmt)


def statetoemoji(stateid: int) -> str:
    short = statetostr(stateid, "S")
    emoji = _STATE_EMOJI.get(short)
    if emoji is None:  # flux-core has no emoji for these and fails; say the name instead
        return short
    return emoji if _printable(emoji) else short


def resulttostr(resultid: Any, fmt: str = "L") -> str:
    """A result's name (``""`` for no result yet)."""
    if resultid == "":
        return ""
    return _name(_RESULTS, resultid, fmt)


def resulttoemoji(resultid: Any) -> str:
    if resultid == "":
        emoji, alt = "\u3000", ""
    else:
        emoji, alt = _RESULT_EMOJI.get(resulttostr(resultid, "S"), ("?", "?"))
    return emoji if _printable(emoji) else alt


def statustostr(stateid: int, resultid: Any, fmt: str = "L") -> str:
    """The state while the job is active, its result once inactive."""
    if stateid & (FLUX_JOB_STATE_PENDING | FLUX_JOB_STATE_RUNNING):
        return statetostr(stateid, fmt)
    return resulttostr(resultid, fmt)


def statustoemoji(stateid: int, resultid: Any) -> str:
    if stateid & (FLUX_JOB_STATE_PENDING | FLUX_JOB_STATE_RUNNING):
        return statetoemoji(stateid)
    return resulttoemoji(resultid)


def get_username(userid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(userid).pw_name
    except KeyError:
        return str(userid)


def _fsd(secs: float) -> str:
    """A duration as flux-core's ``flux.util.fsd`` writes it (4 significant digits)."""
    import math

    if math.isinf(secs):
        return "inf"
    if secs < 1.0e-3:
        return "0s"
    if secs < 10.0:
        return "%.03fs" % secs
    for limit, unit, scale in ((60.0, "s", 1.0), (3600.0, "m", 60.0), (86400.0, "h", 3600.0)):
        if secs < limit:
            return "%.4g%s" % (secs / scale, unit)
    return "%.4gd" % (secs / 86400.0)


def _memoized(fget: Callable[[Any], Any]) -> property:
    """A property computed once and kept as ``_<name>`` (where JobInfo's own values live)."""
    slot = "_" + fget.__name__

    def getter(self: Any) -> Any:
        if not hasattr(self, slot):
            setattr(self, slot, fget(self))
        return getattr(self, slot)

    getter.__doc__ = fget.__doc__
    return property(getter)


class ExceptionInfo:
    """The job's most severe exception (all ``""`` when it has none)."""

    def __init__(self, occurred: Any, severity: Any, _type: Any, note: Any) -> None:
        self.occurred = occurred
        self.severity = severity
        self.type = _type
        self.note = note


class EmptyObject:
    """Stands for a missing value in format strings: every attribute and format is empty."""

    def __getattr__(self, attr: str) -> EmptyObject:
        return EmptyObject()

    def __repr__(self) -> str:
        return ""

    def __str__(self) -> str:
        return ""

    def __format__(self, spec: str) -> str:
        return "".__format__(spec.rstrip("bcdoxXeEfFgGn%"))


class AnnotationsInfo:
    """Annotations reachable as attributes (``sched.t_estimate``); missing ones are empty."""

    def __init__(self, annotationsDict: dict[str, Any]) -> None:
        self.annotationsDict = annotationsDict
        values = (AnnotationsInfo(v) if isinstance(v, dict) else v
                  for v in annotationsDict.values())
        self.atuple = namedtuple("X", annotationsDict.keys())(*values)

    def __repr__(self) -> str:
        return json.dumps(self.annotationsDict) if self.annotationsDict else ""

    def __getattr__(self, attr: str) -> Any:
        try:
            return object.__getattribute__(self.atuple, attr)
        except AttributeError:
            return EmptyObject()


class InfoList(list["Any"]):  # quoted: typing is imported for type checkers only
    """A list shown comma-separated."""

    def __str__(self) -> str:
        return ",".join(self)


class DependencyList(InfoList):
    """Dependencies, ``begin-time=T`` shown as ``begin@HH:MM`` (or with the date)."""

    def __init__(self, items: Any) -> None:
        from datetime import datetime

        shown = []
        for dep in items:
            if dep.startswith("begin-time="):
                when = datetime.fromtimestamp(float(dep.partition("=")[2])).astimezone()
                if when.date() == datetime.today().date():
                    dep = f"begin@{when:%H:%M}"
                else:
                    dep = f"begin@{when:%b%d-%H:%M}"
                if when.second > 0:
                    dep += f":{when:%S}"
            shown.append(dep)
        super().__init__(shown)


class JobInfo:
    """A job-list record (or a job's result summary) as attributes."""

    defaults: dict[str, Any] = {
        "t_depend": 0.0, "t_priority": 0.0, "t_sched": 0.0, "t_run": 0.0,
        "t_cleanup": 0.0, "t_inactive": 0.0, "duration": 0.0, "expiration": 0.0,
        "name": "", "cwd": "", "queue": "", "project": "", "bank": "", "ntasks": "",
        "ncores": "", "nnodes": "", "priority": "", "ranks": "", "nodelist": "",
        "success": "", "result": "", "waitstatus": "",
    }

    properties = ("id", "t_submit", "t_remaining", "state", "result", "username", "userid",
                  "urgency", "runtime", "status", "returncode", "dependencies")

    def __init__(self, info_resp: dict[str, Any]) -> None:
        info: dict[str, Any] = dict(self.defaults)
        info.update(info_resp)
        info["id"] = JobID(info["id"])
        if "state" in info:
            info["state_id"] = info.pop("state")
        if "result" in info:
            info["result_id"] = info.pop("result")
        info["exception"] = ExceptionInfo(info.get("exception_occurred", ""),
                                          info.get("exception_severity", ""),
                                          info.get("exception_type", ""),
                                          info.get("exception_note", ""))
        annotations = AnnotationsInfo(info.get("annotations", {}))
        info["annotations"] = annotations
        info["sched"] = annotations.sched
        info["user"] = annotations.user
        info["dependencies"] = DependencyList(info.get("dependencies", []))
        for key, value in info.items():
            setattr(self, "_" + key, value)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError
        try:
            return getattr(self, "_" + attr)
        except (KeyError, AttributeError):
            raise AttributeError(f"invalid JobInfo attribute '{attr}'") from None

    def get_runtime(self) -> float:
        t_cleanup: float = self.t_cleanup
        t_run: float = self.t_run
        if t_cleanup > 0 and t_run > 0:
            return t_cleanup - t_run
        if t_run > 0:
            return time.time() - t_run
        return 0.0

    def get_remaining_time(self) -> float:
        try:
            if str(self.status) != "RUN":
                return 0.0
            left: float = self.expiration - time.time()
        except (KeyError, AttributeError):
            return 0.0
        return max(left, 0.0)

    @_memoized
    def uri(self) -> Any:
        """The URI of the Flux instance the job runs, if it is one (annotation ``user.uri``)."""
        text = str(self.user.uri)
        return text if text else None

    @property
    def t_remaining(self) -> float:
        return self.get_remaining_time()

    @_memoized
    def state(self) -> str:
        return statetostr(self.state_id)

    @_memoized
    def state_single(self) -> str:
        return statetostr(self.state_id, fmt="S")

    @_memoized
    def state_emoji(self) -> str:
        return statetoemoji(self.state_id)

    @_memoized
    def result(self) -> str:
        return resulttostr(self.result_id)

    @_memoized
    def result_abbrev(self) -> str:
        return resulttostr(self.result_id, "S")

    @_memoized
    def result_emoji(self) -> str:
        return resulttoemoji(self.result_id)

    @_memoized
    def username(self) -> str:
        return get_username(self.userid)

    @_memoized
    def runtime(self) -> float:
        return self.get_runtime()

    @_memoized
    def status(self) -> str:
        return statustostr(self.state_id, self.result_id)

    @_memoized
    def status_abbrev(self) -> str:
        return statustostr(self.state_id, self.result_id, fmt="S")

    @_memoized
    def status_emoji(self) -> str:
        return statustoemoji(self.state_id, self.result_id)

    @_memoized
    def returncode(self) -> Any:
        """The highest exit code, minus the signal that ended the shell, -128 for a
        job canceled before running, 1 for one failed before running, ``""`` while active."""
        status = self.waitstatus
        if not isinstance(status, int):
            if self.result_id == FLUX_JOB_RESULT_CANCELED:
                return -128
            if self.result_id == FLUX_JOB_RESULT_FAILED:
                return 1
            return ""
        if os.WIFSIGNALED(status):
            return -os.WTERMSIG(status)
        if os.WIFEXITED(status):
            return os.WEXITSTATUS(status)
        return ""

    @_memoized
    def contextual_info(self) -> Any:
        """What ``flux jobs`` shows beside the state: why it waits, or where it runs."""
        state = str(self.state)
        if state == "PRIORITY":
            return "priority-wait"
        if state == "DEPEND":
            return f"depends:{self.dependencies}"
        if state == "SCHED":
            try:
                eta = self.sched.t_estimate - time.time()
            except TypeError:
                if self.urgency == 0:
                    return "held"
                if self.priority == 0:
                    return "priority-hold"
                return ""
            return "eta:now" if eta < 0 else f"eta:{_fsd(eta)}"
        return self.nodelist

    @_memoized
    def contextual_time(self) -> float:
        """The time limit while pending, the run time after."""
        limit_or_runtime: float = (self.duration if str(self.state) in ("PRIORITY", "DEPEND", "SCHED")
                                   else self.runtime)
        return limit_or_runtime

    def to_dict(self, filtered: bool = True) -> dict[str, Any]:
        """The job as a dict (``jobid`` in f58 beside ``id``); unless ``filtered`` is
        False, unset values (``""``, zero times) are left out."""
        result: dict[str, Any] = {}
        for attr in chain(self.defaults.keys(), self.properties):
            try:
                val = getattr(self, attr)
            except AttributeError:
                val = None
            if val is not None:
                result[attr] = val
        result["jobid"] = self.id.f58
        result["annotations"] = self.annotations.annotationsDict
        result["exception"] = self.exception.__dict__
        if self.uri is not None:
            result["uri"] = str(self.uri)
        if not filtered:
            return result
        for key in list(result):
            val = result[key]
            if val == "" or ((key.startswith("t_") or key in ("runtime", "expiration"))
                             and val == 0):
                del result[key]
            if key == "exception" and not val["occurred"]:
                result["exception"] = {"occurred": False}
        if self.uri is not None:
            del result["annotations"]["user"]["uri"]
            if not result["annotations"]["user"]:
                del result["annotations"]["user"]
        return result

    @_memoized
    def inactive_reason(self) -> str:
        """How an inactive job ended, in words (``""`` while active)."""
        if str(self.state) != "INACTIVE":
            return ""
        result = str(self.result)
        exc = self.exception
        if result == "CANCELED":
            if exc.occurred and exc.type == "cancel" and exc.note:
                return f"Canceled: {exc.note}"
            return "Canceled"
        if result == "FAILED":
            if exc.occurred and exc.type != "exec" and exc.severity == 0:
                note = f" note={exc.note}" if exc.note else ""
                return f"Exception: type={exc.type}{note}"
            code = self.returncode
            if code > 128:
                import signal

                try:
                    return signal.strsignal(code - 128) or f"Signaled {code - 128}"
                except ValueError:
                    return f"Signaled {code - 128}"
            if code == 126:
                return "Command invoked cannot execute"
            if code == 127:
                return "command not found"
            if code == 128:
                return "Invalid argument to exit"
            return f"Exit {code}"
        if result == "TIMEOUT":
            return "Timeout"
        return f"Exit {self.returncode}"


_EXCEPTION = ("exception_occurred", "exception_severity", "exception_type", "exception_note")
_ID_FIELDS = ("id", "id.dec", "id.hex", "id.f58", "id.f58plain", "id.emoji", "id.kvs",
              "id.words", "id.dothex")
# ``flux jobs`` field -> the job-list attributes it is computed from (the id always comes)
_FIELD_ATTRS: dict[str, tuple[Any, ...]] = {
    **{field: () for field in _ID_FIELDS},
    **{name: (name,) for name in (
        "userid", "urgency", "priority", "state", "name", "cwd", "queue", "project", "bank",
        "ntasks", "ncores", "duration", "nnodes", "ranks", "nodelist", "success",
        "waitstatus", "result", "t_submit", "t_depend", "t_priority", "t_sched", "t_run",
        "t_cleanup", "t_inactive", "annotations", "dependencies")},
    **{f"exception.{part}": (f"exception_{part}",)
       for part in ("occurred", "severity", "type", "note")},
    "username": ("userid",), "state_single": ("state",), "state_emoji": ("state",),
    "returncode": ("waitstatus", "result"), "result_abbrev": ("result",),
    "result_emoji": ("result",), "runtime": ("t_run", "t_cleanup"),
    "status": ("state", "result"), "status_abbrev": ("state", "result"),
    "status_emoji": ("state", "result"), "expiration": ("expiration", "state", "result"),
    "t_remaining": ("expiration", "state", "result"),
    "contextual_info": ("state", "dependencies", "annotations", "nodelist", "priority",
                        "urgency"),
    "contextual_time": ("state", "t_run", "t_cleanup", "duration"),
    "inactive_reason": ("state", "result", "waitstatus", *_EXCEPTION),
    "sched": ("annotations",), "user": ("annotations",), "uri": ("annotations",),
    "uri.local": ("annotations",),
}


def job_fields_to_attrs(fields: Any) -> set[Any]:
    """The job-list attributes to ask for to show ``fields``; KeyError for an unknown one."""
    attrs: set[Any] = set()
    for field in fields:
        if field.startswith(("annotations.", "sched.", "user.")):
            attrs.add("annotations")
        elif field.startswith("instance."):
            attrs.update(("annotations", "state", "result"))
        else:
            attrs.update(_FIELD_ATTRS[field])
    return attrs

"""One job as the job-manager holds it, and the RFC 21 constants it is judged by.

The numbers are flux-core's (``libjob/job.h``): states are bits so a mask
can name several (``PENDING``, ``RUNNING``), urgency 0 holds a job and 31
expedites it (RFC 30), flags are those a submission may carry.
"""

from __future__ import annotations

from collections import deque

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional

__all__ = [
    "NEW", "DEPEND", "PRIORITY", "SCHED", "RUN", "CLEANUP", "INACTIVE",
    "PENDING", "RUNNING", "ACTIVE", "STATE_NAMES",
    "FLAG_DEBUG", "FLAG_WAITABLE", "FLAG_NOVALIDATE",
    "URGENCY_MIN", "URGENCY_HOLD", "URGENCY_DEFAULT", "URGENCY_MAX", "URGENCY_EXPEDITE",
    "PRIORITY_MIN", "PRIORITY_MAX", "RESULT_COMPLETED", "RESULT_FAILED",
    "RESULT_CANCELED", "RESULT_TIMEOUT", "Job", "queue_of", "set_path",
]

NEW, DEPEND, PRIORITY, SCHED, RUN, CLEANUP, INACTIVE = 1, 2, 4, 8, 16, 32, 64
PENDING = DEPEND | PRIORITY | SCHED
RUNNING = RUN | CLEANUP
ACTIVE = PENDING | RUNNING
STATE_NAMES = {NEW: "NEW", DEPEND: "DEPEND", PRIORITY: "PRIORITY", SCHED: "SCHED",
               RUN: "RUN", CLEANUP: "CLEANUP", INACTIVE: "INACTIVE"}

FLAG_DEBUG, FLAG_WAITABLE, FLAG_NOVALIDATE = 2, 4, 8

URGENCY_MIN = URGENCY_HOLD = 0
URGENCY_DEFAULT = 16
URGENCY_MAX = URGENCY_EXPEDITE = 31
PRIORITY_MIN, PRIORITY_MAX = 0, 4294967295

RESULT_COMPLETED, RESULT_FAILED, RESULT_CANCELED, RESULT_TIMEOUT = 1, 2, 4, 8


class Job:
    """What the job-manager knows of a job: the fields its eventlog determines, plus
    where the job stands with the scheduler and the exec service."""

    __slots__ = (
        "id", "userid", "urgency", "flags", "t_submit", "jobspec", "state", "priority",
        "eventlog", "end_event", "posted", "dependencies", "queue", "hold",
        "has_resources", "R", "alloc_queued", "alloc_pending", "cancel_sent",
        "start_pending", "started", "free_posted", "depend_posted", "readonly",
        "waiter", "t_clean", "after", "annotations", "queue_name", "immutable",
    )

    def __init__(self, jobid: int, userid: int = 0, urgency: int = URGENCY_DEFAULT,
                 flags: int = 0, t_submit: float = 0.0, jobspec: Optional[dict] = None) -> None:
        self.id = jobid
        self.userid = userid
        self.urgency = urgency
        self.flags = flags
        self.t_submit = t_submit
        self.jobspec = jobspec
        self.state = NEW
        self.priority = -1
        self.eventlog: list[dict] = []
        self.end_event: Optional[dict] = None
        self.posted: set[str] = set()  # names of the events posted so far
        self.dependencies: set[str] = set()  # outstanding dependency descriptions
        self.queue: deque[tuple[dict, bool]] = deque()  # (entry, commit?) not yet applied
        self.hold = False  # events wait until the submit event is in the KVS
        self.has_resources = False
        self.R: Optional[dict] = None
        self.alloc_queued = False
        self.alloc_pending = False
        self.cancel_sent = False
        self.start_pending = False
        self.started = False
        self.free_posted = False
        self.depend_posted = False
        self.readonly = False
        self.waiter: Any = None
        self.t_clean = 0.0
        self.after: list[tuple[int, str, int]] = []  # jobs waiting on this one
        self.annotations: Optional[dict] = None  # RFC 27, from the scheduler
        self.queue_name = queue_of(jobspec)  # RFC 33: attributes.system.queue
        self.immutable = False  # set-flags immutable: only the owner may update it

    def apply_jobspec_updates(self, updates: dict) -> None:
        """A ``jobspec-update`` event's dotted keys set in (a copy of) the jobspec."""
        import copy

        self.jobspec = copy.deepcopy(self.jobspec) if self.jobspec is not None else {}
        for path, value in updates.items():
            set_path(self.jobspec, path, copy.deepcopy(value))
        self.queue_name = queue_of(self.jobspec)

    def result(self) -> int:
        """RFC 21's result, from the end event (COMPLETED only for a zero exit status)."""
        end = self.end_event
        if end is None:
            return RESULT_FAILED
        ctx = end.get("context") or {}
        if end["name"] == "finish":
            return RESULT_COMPLETED if ctx.get("status") == 0 else RESULT_FAILED
        kind = ctx.get("type")
        if kind == "cancel":
            return RESULT_CANCELED
        if kind == "timeout":
            return RESULT_TIMEOUT
        return RESULT_FAILED


def set_path(obj: dict, path: str, value: Any) -> None:
    """``obj[a][b][c] = value`` for ``path`` "a.b.c", creating objects on the way."""
    keys = path.split(".")
    for key in keys[:-1]:
        child = obj.get(key)
        if not isinstance(child, dict):
            child = obj[key] = {}
        obj = child
    obj[keys[-1]] = value


def queue_of(jobspec: Optional[dict]) -> Optional[str]:
    """The queue a jobspec names (``attributes.system.queue``), if it names one."""
    try:
        name = jobspec["attributes"]["system"]["queue"]  # type: ignore[index]
    except (KeyError, TypeError):
        return None
    return name if isinstance(name, str) else None

"""The ``job-list`` service (RFC 43): every job of the instance, kept up to date from
the job-manager's journal, listed and filtered on request.

Requests: ``job-list.list`` (``max_entries``, ``attrs``, ``since``, ``constraint``;
the older ``userid/states/results/name/queue`` form too; streaming answers one job
a response, then ENODATA), ``job-list.list-id`` (``id``, ``attrs``, ``state``:
waits until the job is known, or has reached ``state``), ``job-list.list-attrs``,
``job-list.job-stats`` (streaming: a new answer when the counts change, at most
every 0.2 s), ``job-list.stats-get`` and ``job-list.disconnect``.

The journal (``job-manager.events-journal`` with ``full``: each job's events so
far, a ``{"id": FLUX_JOBID_ANY}`` sentinel, then new events as they are posted)
is fed to :meth:`JobListService.journal`; until its sentinel arrives, requests
wait, as flux-core's module defers them.  Jobs are listed pending first (by
priority, then id), then running (most recently started first), then inactive
(most recently finished first), as flux-core orders them.
"""

from __future__ import annotations

import errno

from flux.constants import FLUX_ROLE_OWNER
from flux.services.job_list.attrs import ATTRS, AttrError, job_to_dict
from flux.services.job_list.constraint import ConstraintError, compile_constraint
from flux.services.job_list.job import (
    ACTIVE,
    CLEANUP,
    DEPEND,
    INACTIVE,
    NEW,
    PENDING,
    PRIORITY,
    RUN,
    RUNNING,
    SCHED,
    Job,
)
from flux.services.job_list.stats import JobStats

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable
    from typing import Any

    from flux.message import Message

__all__ = ["JOBID_ANY", "STATS_DELAY", "JobListService"]

JOBID_ANY = -1  # FLUX_JOBID_ANY as jansson packs it (signed)
STATS_DELAY = 0.2  # job-stats watchers hear of changes at most this often
_URGENCY_MIN, _URGENCY_MAX = 0, 31
_FLAG_REVERT, _FLAG_CONDITIONAL = 1, 2


class _Lists:
    """Pending, running and inactive jobs, each sorted when next read after a change."""

    def __init__(self) -> None:
        self.members: dict[int, dict[int, Job]] = {PENDING: {}, RUNNING: {}, INACTIVE: {}}
        self.sorted: dict[int, list[Job] | None] = {PENDING: None, RUNNING: None,
                                                     INACTIVE: None}

    def add(self, group: int, job: Job) -> None:
        self.members[group][job.id] = job
        self.sorted[group] = None

    def discard(self, group: int, job: Job) -> None:
        if self.members[group].pop(job.id, None) is not None:
            self.sorted[group] = None

    def touch(self, group: int) -> None:
        self.sorted[group] = None

    def ordered(self, group: int) -> list[Job]:
        jobs = self.sorted[group]
        if jobs is None:
            jobs = list(self.members[group].values())
            if group == PENDING:
                jobs.sort(key=lambda j: (-j.priority, j.id))
            elif group == RUNNING:
                jobs.sort(key=lambda j: -j.t_run)
            else:
                jobs.sort(key=lambda j: (-j.t_inactive, -j.id))
            self.sorted[group] = jobs
        return jobs


def _group(state: int) -> int:
    """Which list a state belongs to (NEW: none)."""
    if state & PENDING:
        return PENDING
    if state & RUNNING:
        return RUNNING
    return INACTIVE if state == INACTIVE else NEW


class JobListService:
    """Jobs by id and in listing order, the requests waiting for them (module docstring)."""

    def __init__(self, *, respond: Callable[[Message, Any], None],
                 respond_error: Callable[[Message, int, str | None], None],
                 from_sender: Callable[[Message, Message], bool],
                 job_dir_exists: Callable[[int], int],
                 call_later: Callable[[float, Callable[[], None]], Any],
                 log_error: Callable[[str], None] = lambda text: None) -> None:
        self.respond = respond
        self.respond_error = respond_error
        self.from_sender = from_sender
        #: 0 if the job's KVS directory exists, else an errno (list-id of unknown ids)
        self.job_dir_exists = job_dir_exists
        self.call_later = call_later
        self.log_error = log_error
        self.jobs: dict[int, Job] = {}
        self.lists = _Lists()
        self.stats = JobStats()
        self.initialized = False
        #: errno the journal ended with; requests then fail with ENOSYS as flux-core's do
        #: once its module has exited
        self.failed = 0
        self.deferred: list[tuple[Callable[[Message], None], Message]] = []
        self.waits: dict[int, list[tuple[Message, list, int]]] = {}
        self.stats_watchers: list[Message] = []
        self._stats_timer = False
        #: ``[access] private-mode``: guests see their own jobs only, no statistics
        self.private_mode = False

    # -- the journal ---------------------------------------------------------------------

    def journal(self, payload: dict) -> None:
        """One journal response: ``{"id", "events": [...], "jobspec"?, "R"?}``."""
        jobid = payload["id"]
        events = payload["events"]
        if type(jobid) is not int or not isinstance(events, list):
            raise ValueError("invalid journal response")
        if jobid in (JOBID_ANY, 0xFFFFFFFFFFFFFFFF):
            if not self.initialized:
                self.initialized = True
                self._requeue()
            return
        jobspec, R = payload.get("jobspec"), payload.get("R")
        for entry in events:
            self._event(jobid, entry, jobspec, R)

    def journal_ended(self, errnum: int) -> None:
        """The journal stream ended (job-list would exit): answer what waits, ENOSYS."""
        self.failed = errnum or errno.ENODATA
        self.initialized = True
        self._requeue()
        for waits in self.waits.values():
            for msg, _attrs, _state in waits:
                self.respond_error(msg, errno.ENOSYS, None)
        self.waits.clear()
        for msg in self.stats_watchers:
            self.respond_error(msg, errno.ENOSYS, None)
        self.stats_watchers.clear()

    def _event(self, jobid: int, entry: Any, jobspec: Any, R: Any) -> None:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) \
                or type(entry.get("timestamp")) not in (int, float):
            raise ValueError("invalid eventlog entry")
        name = entry["name"]
        timestamp = float(entry["timestamp"])
        context = entry.get("context")
        job = self.jobs.get(jobid)
        if job is not None and job.R is None and R is not None:
            job.R = R
        if job is not None and name == "invalidate":
            del self.jobs[jobid]
            return
        if job is None:
            if name != "submit":
                self.log_error(f"event {name}: job {jobid} not in hash")
                return
            job = self.jobs[jobid] = Job(jobid)
            if jobspec is not None:
                job.jobspec = jobspec
            if R is not None:
                job.R = R
        try:
            self._apply(job, name, timestamp, context)
        except (KeyError, TypeError, ValueError) as exc:
            self.log_error(f"{name} context invalid: job {jobid}: {exc}")

    def _apply(self, job: Job, name: str, timestamp: float, context: Any) -> None:
        if name == "submit":
            urgency, userid = context["urgency"], context["userid"]
            version = context.get("version", -1)
            if type(urgency) is not int or type(userid) is not int or type(version) is not int:
                raise TypeError("urgency, userid, version")
            job.userid, job.urgency, job.submit_version = userid, urgency, version
            job.t_submit = timestamp
        elif name == "validate":
            self._transition(job, DEPEND, timestamp)
        elif name == "depend":
            self._transition(job, PRIORITY, timestamp)
        elif name == "priority":
            priority = context["priority"]
            if type(priority) is not int:
                raise TypeError("priority")
            if job.state & PENDING and priority != job.priority:
                self.lists.touch(PENDING)
            job.priority = priority
            self._transition(job, SCHED, timestamp, _FLAG_CONDITIONAL, PRIORITY)
        elif name == "alloc":
            self._transition(job, RUN, timestamp)
        elif name == "finish":
            status = context["status"]
            if type(status) is not int:
                raise TypeError("status")
            job.wait_status = status
            if status == 0 and not (job.exception_occurred and job.exception_severity == 0):
                job.success = True
            self._transition(job, CLEANUP, timestamp)
        elif name == "clean":
            self._transition(job, INACTIVE, timestamp)
        elif name == "urgency":
            urgency = context["urgency"]
            if type(urgency) is not int or not _URGENCY_MIN <= urgency <= _URGENCY_MAX:
                raise ValueError("urgency")
            job.urgency = urgency
            self._revert(job, timestamp)
        elif name == "exception":
            kind, severity, note = context["type"], context["severity"], context["note"]
            if not isinstance(kind, str) or type(severity) is not int \
                    or not isinstance(note, str):
                raise TypeError("type, severity, note")
            if not job.exception_occurred or severity < job.exception_severity:
                job.exception_occurred = True
                job.exception_severity = severity
                job.exception_type, job.exception_note = kind, note
            if severity == 0:
                self._transition(job, CLEANUP, timestamp)
        elif name == "annotations":
            annotations = context["annotations"]
            job.annotations = annotations
        elif name == "jobspec-update":
            if not isinstance(context, dict):
                raise TypeError("context")
            if job.jobspec is not None:
                self.stats.remove_queue(job)
                job.update_jobspec(context)
                self.stats.add_queue(job)
            self._revert(job, timestamp)
        elif name == "resource-update":
            if not isinstance(context, dict):
                raise TypeError("context")
            job.update_R(context)
        elif name == "memo":
            if not isinstance(context, dict):
                raise TypeError("context")
            self._memo(job, context)
        elif name.startswith("dependency-"):
            description = context["description"]
            if not isinstance(description, str):
                raise TypeError("description")
            if name == "dependency-add":
                job.dependency_add(description)
            elif name == "dependency-remove":
                job.dependency_remove(description)
        elif name == "flux-restart":
            self._revert(job, timestamp)

    @staticmethod
    def _memo(job: Job, context: dict) -> None:
        """``memo``: merged into ``annotations.user``; null values delete keys."""
        annotations = job.annotations if job.annotations is not None else {}
        user = annotations.get("user")
        if not isinstance(user, dict):
            user = {}
        _merge(user, context)
        if user:
            annotations["user"] = user
        else:
            annotations.pop("user", None)
        job.annotations = annotations or None

    def _revert(self, job: Job, timestamp: float) -> None:
        """urgency, jobspec-update and flux-restart send a SCHED job back to PRIORITY."""
        self._transition(job, PRIORITY, timestamp, _FLAG_REVERT, SCHED)

    def _transition(self, job: Job, state: int, timestamp: float, flags: int = 0,
                    expected: int = 0) -> None:
        if not flags and state & job.states_events_mask and state not in (PRIORITY, SCHED):
            return
        job.states_events_mask |= state
        if flags & _FLAG_REVERT:
            if job.state != expected:
                return
            job.states_mask &= ~(job.state | state)
        elif flags & _FLAG_CONDITIONAL and job.state != expected:
            return
        if state == DEPEND:
            if job.jobspec is not None and not job.parse_jobspec():
                self.log_error(f"{job.id}: error parsing jobspec")
        elif state == RUN:
            if job.R is not None and not job.parse_R():
                self.log_error(f"{job.id}: error parsing R")
        elif state == INACTIVE:
            if not job.success and job.exception_occurred:
                if job.exception_type == "cancel":
                    job.result = 4  # CANCELED
                elif job.exception_type == "timeout":
                    job.result = 8  # TIMEOUT
            elif job.success:
                job.result = 1  # COMPLETED
        self._set_state(job, state, timestamp)

    def _set_state(self, job: Job, state: int, timestamp: float) -> None:
        old, new = _group(job.state), _group(state)
        self.stats.update(job, state)
        self._stats_changed()
        job.state = state
        if state == DEPEND:
            job.t_depend = timestamp
        elif state == PRIORITY:
            if job.t_priority == 0.0:
                job.t_priority = timestamp
        elif state == SCHED:
            if job.t_sched == 0.0:
                job.t_sched = timestamp
        elif state == RUN:
            job.t_run = timestamp
        elif state == CLEANUP:
            job.t_cleanup = timestamp
        elif state == INACTIVE:
            job.t_inactive = timestamp
        job.states_mask |= state
        if old != new:
            if old != NEW:
                self.lists.discard(old, job)
            self.lists.add(new, job)
        elif new == PENDING and state == SCHED:
            self.lists.touch(PENDING)
        waits = self.waits.get(job.id)
        if waits:
            self._check_waits(job, waits)

    # -- requests ------------------------------------------------------------------------

    def _ready(self, handler: Callable[[Message], None], msg: Message) -> bool:
        """False if ``msg`` must wait for the journal's backlog (it is kept)."""
        if self.failed:
            self.respond_error(msg, errno.ENOSYS, None)
            return False
        if not self.initialized:
            self.deferred.append((handler, msg))
            return False
        return True

    def _requeue(self) -> None:
        deferred, self.deferred = self.deferred, []
        for handler, msg in deferred:
            handler(msg)

    def list_jobs(self, msg: Message) -> None:
        """``job-list.list``."""
        if not self._ready(self.list_jobs, msg):
            return
        obj = msg.payload_json()
        try:
            max_entries, attrs, since, constraint = _list_request(obj)
        except _BadRequest as exc:
            self.respond_error(msg, errno.EPROTO, str(exc))
            return
        try:
            match = compile_constraint(constraint)
        except ConstraintError as exc:
            self.respond_error(msg, errno.EPROTO,
                               f"invalid payload: constraint object invalid: {exc}")
            return
        if self._restricted(msg):
            match = _own_jobs(msg.userid, match)
        jobs: list[dict] = []
        try:
            for group in (PENDING, RUNNING, INACTIVE):
                for job in self.lists.ordered(group):
                    if group == INACTIVE and job.t_inactive <= since:
                        break
                    if match(job):
                        jobs.append(job_to_dict(job, attrs))
                        if len(jobs) == max_entries:
                            break
                if len(jobs) == max_entries and max_entries:
                    break
        except AttrError as exc:
            self.respond_error(msg, errno.EINVAL, str(exc))
            return
        if msg.streaming:
            for i, job_obj in enumerate(jobs):
                self.respond(msg, {"jobs": [job_obj], "version": 1} if i == 0
                             else {"jobs": [job_obj]})
            self.respond_error(msg, errno.ENODATA, None)
        else:
            self.respond(msg, {"jobs": jobs})

    def list_id(self, msg: Message) -> None:
        """``job-list.list-id``: answered when the job is known (and in ``state``)."""
        if not self._ready(self.list_id, msg):
            return
        obj = msg.payload_json()
        jobid = obj.get("id") if isinstance(obj, dict) else None
        attrs = obj.get("attrs") if isinstance(obj, dict) else None
        state = obj.get("state", 0) if isinstance(obj, dict) else None
        if type(jobid) is not int or attrs is None or type(state) is not int:
            self.respond_error(msg, errno.EPROTO, "invalid payload: " + _missing(
                obj, (("id", int), ("attrs", None), ("state", int))))
            return
        if not isinstance(attrs, list):
            self.respond_error(msg, errno.EPROTO, "invalid payload: attrs must be an array")
            return
        if state and state & ~(ACTIVE | INACTIVE):
            self.respond_error(msg, errno.EPROTO, "invalid payload: invalid state specified")
            return
        job = self.jobs.get(jobid)
        if job is None:
            errnum = self.job_dir_exists(jobid)
            if errnum:
                self.respond_error(msg, errnum, None)
                return
        elif job.state == INACTIVE or not (
                (state and not job.states_mask & state) or job.state == NEW):
            self._answer_id(msg, job, attrs)
            return
        self.waits.setdefault(jobid, []).append((msg, attrs, state))

    def _restricted(self, msg: Message) -> bool:
        """Whether ``msg``'s sender may see its own jobs only (a guest, in private mode)."""
        return self.private_mode and not msg.rolemask & FLUX_ROLE_OWNER

    def _answer_id(self, msg: Message, job: Job, attrs: list) -> None:
        if self._restricted(msg) and job.userid != msg.userid:
            self.respond_error(msg, errno.ENOENT, None)  # as if there were no such job
            return
        try:
            self.respond(msg, {"job": job_to_dict(job, attrs)})
        except AttrError as exc:
            self.respond_error(msg, errno.EINVAL, str(exc))

    def _check_waits(self, job: Job, waits: list) -> None:
        keep = []
        for msg, attrs, state in waits:
            if not state or state & job.states_mask or job.state == INACTIVE:
                self._answer_id(msg, job, attrs)
            else:
                keep.append((msg, attrs, state))
        if keep:
            self.waits[job.id] = keep
        else:
            del self.waits[job.id]

    def list_attrs(self, msg: Message) -> None:
        """``job-list.list-attrs``: every attribute name, then "all"."""
        if self._ready(self.list_attrs, msg):
            self.respond(msg, {"attrs": [*ATTRS, "all"]})

    def job_stats(self, msg: Message) -> None:
        """``job-list.job-stats``; a streaming request hears of every change (batched)."""
        if self.failed:
            self.respond_error(msg, errno.ENOSYS, None)
            return
        if self._restricted(msg):
            self.respond_error(msg, errno.EPERM, None)
            return
        if msg.streaming:
            self.stats_watchers.append(msg)
        self.respond(msg, self.stats.encode())

    def _stats_changed(self) -> None:
        if self.stats_watchers and not self._stats_timer:
            self._stats_timer = True
            self.call_later(STATS_DELAY, self._send_stats)

    def _send_stats(self) -> None:
        self._stats_timer = False
        if self.stats_watchers:
            payload = self.stats.encode()
            for msg in self.stats_watchers:
                self.respond(msg, payload)

    def stats_get(self, msg: Message) -> None:
        """``job-list.stats-get``: list sizes and waiting requests."""
        if not self._ready(self.stats_get, msg):
            return
        if self._restricted(msg):
            self.respond_error(msg, errno.EPERM, None)
            return
        members = self.lists.members
        self.respond(msg, {
            "jobs": {"pending": len(members[PENDING]), "running": len(members[RUNNING]),
                     "inactive": len(members[INACTIVE])},
            "idsync": {"lookups": 0, "waits": len(self.waits)},
            "stats_watchers": len(self.stats_watchers)})

    def disconnect(self, msg: Message) -> None:
        """``job-list.disconnect``: the sender's job-stats watches and list-id waits end."""
        self.stats_watchers = [m for m in self.stats_watchers if not self.from_sender(m, msg)]
        for jobid in list(self.waits):
            keep = [w for w in self.waits[jobid] if not self.from_sender(w[0], msg)]
            if keep:
                self.waits[jobid] = keep
            else:
                del self.waits[jobid]
        self.deferred = [d for d in self.deferred if not self.from_sender(d[1], msg)]

    def purge(self, jobids: list) -> int:
        """``job-purge-inactive`` event: forget these inactive jobs; how many were."""
        count = 0
        for jobid in jobids:
            job = self.jobs.get(jobid) if type(jobid) is int else None
            if job is None or job.state != INACTIVE:
                continue
            self.stats.purge(job)
            self._stats_changed()
            self.lists.discard(INACTIVE, job)
            del self.jobs[jobid]
            count += 1
        return count

    def close(self) -> None:
        """At broker shutdown: what waits is answered ENOSYS."""
        for _handler, msg in self.deferred:
            self.respond_error(msg, errno.ENOSYS, None)
        self.deferred = []
        for waits in self.waits.values():
            for msg, _attrs, _state in waits:
                self.respond_error(msg, errno.ENOSYS, None)
        self.waits.clear()
        for msg in self.stats_watchers:
            self.respond_error(msg, errno.ENOSYS, None)
        self.stats_watchers = []


def _merge(target: dict, update: dict) -> None:
    """Merge ``update`` into ``target`` recursively; null deletes, emptied objects go."""
    for key, value in update.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
            if not target[key]:
                del target[key]
        elif isinstance(value, dict):
            fresh: dict = {}
            _merge(fresh, value)
            if fresh:
                target[key] = fresh
        else:
            target[key] = value


def _missing(obj: Any, fields: tuple) -> str:
    """Jansson's words for the first field a request lacks or mistypes."""
    if not isinstance(obj, dict):
        return "Expected object, got something else"
    for key, kind in fields:
        if key not in obj:
            if key == "state":
                continue
            return f"Object item not found: {key}"
        if kind is int and type(obj[key]) is not int:
            return f"Expected integer, got {_json_kind(obj[key])}"
    return "invalid payload"


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "string"
    if isinstance(value, float):
        return "real"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "integer"


class _BadRequest(Exception):
    """A request job-list refuses (EPROTO with this text)."""


def _list_request(obj: Any) -> tuple[int, list, float, Any]:
    """(max_entries, attrs, since, constraint) of a list request, the legacy fields
    turned into a constraint; _BadRequest with flux-core's text."""
    fields = (("max_entries", int), ("attrs", None))
    if not isinstance(obj, dict) or any(k not in obj for k, _ in fields) \
            or type(obj["max_entries"]) is not int:
        raise _BadRequest("invalid payload: " + _missing(obj, fields))
    max_entries, attrs = obj["max_entries"], obj["attrs"]
    since = obj.get("since", 0.0)
    if type(since) not in (int, float):
        raise _BadRequest(f"invalid payload: Expected real, got {_json_kind(since)}")
    since = float(since)
    constraint = obj.get("constraint")
    if constraint is None:
        legacy = _legacy_constraint(obj)
        if legacy is not None:
            constraint = legacy
    if max_entries < 0:
        raise _BadRequest("invalid payload: max_entries < 0 not allowed")
    if since < 0.0:
        raise _BadRequest("invalid payload: since < 0.0 not allowed")
    if not isinstance(attrs, list):
        raise _BadRequest("invalid payload: attrs must be an array")
    return max_entries, attrs, since, constraint


def _own_jobs(userid: int, match: Callable[[Job], bool]) -> Callable[[Job], bool]:
    """``match``, limited to ``userid``'s jobs (flux-core ANDs ``{"userid": [UID]}``)."""
    return lambda job: job.userid == userid and match(job)


def _legacy_constraint(obj: dict) -> dict | None:
    """The older request form (userid, states, results, name?, queue?) as a constraint."""
    userid, states, results = obj.get("userid"), obj.get("states"), obj.get("results")
    if type(userid) is not int or type(states) is not int or type(results) is not int:
        return None
    name, queue = obj.get("name"), obj.get("queue")
    if (name is not None and not isinstance(name, str)) \
            or (queue is not None and not isinstance(queue, str)):
        return None
    terms: list[dict] = []
    if userid & 0xFFFFFFFF != 0xFFFFFFFF:
        terms.append({"userid": [userid]})
    if name:
        terms.append({"name": [name]})
    if queue:
        terms.append({"queue": [queue]})
    if states:
        terms.append({"states": [states]})
    if results:
        terms.append({"results": [results]})
    return {"and": terms}

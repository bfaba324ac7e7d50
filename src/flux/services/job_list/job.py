"""One job as job-list knows it: what the journal said, and what follows from its
jobspec and R (flux-core's job-list derives the same fields, and answers them
only once they are known: ``attrs.py`` says which when)."""

from __future__ import annotations

from flux.services.job_list import ranges

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

__all__ = [
    "ACTIVE",
    "CANCELED",
    "CLEANUP",
    "COMPLETED",
    "DEPEND",
    "FAILED",
    "INACTIVE",
    "NEW",
    "PENDING",
    "PRIORITY",
    "PRIORITY_MIN",
    "RUN",
    "RUNNING",
    "SCHED",
    "TIMEOUT",
    "USERID_UNKNOWN",
    "Job",
]

# RFC 21 states (bits) and the result codes of flux-core's job.h
NEW, DEPEND, PRIORITY, SCHED, RUN, CLEANUP, INACTIVE = 1, 2, 4, 8, 16, 32, 64
PENDING = DEPEND | PRIORITY | SCHED
RUNNING = RUN | CLEANUP
ACTIVE = NEW | PENDING | RUNNING
COMPLETED, FAILED, CANCELED, TIMEOUT = 1, 2, 4, 8
PRIORITY_MIN = 0
USERID_UNKNOWN = 0xFFFFFFFF


class Job:
    """A job's listed fields; -1 / None / 0.0 mean "not known yet" as in flux-core."""

    __slots__ = (
        "R",
        "_grudges",
        "_per_core",
        "_per_node",
        "annotations",
        "bank",
        "cwd",
        "dependencies",
        "duration",
        "exception_note",
        "exception_occurred",
        "exception_severity",
        "exception_type",
        "expiration",
        "id",
        "jobspec",
        "name",
        "ncores",
        "nnodes",
        "nodelist",
        "ntasks",
        "priority",
        "project",
        "queue",
        "ranks",
        "result",
        "state",
        "states_events_mask",
        "states_mask",
        "submit_version",
        "success",
        "t_cleanup",
        "t_depend",
        "t_inactive",
        "t_priority",
        "t_run",
        "t_sched",
        "t_submit",
        "urgency",
        "userid",
        "wait_status",
    )

    def __init__(self, jobid: int) -> None:
        self.id = jobid
        self.userid = USERID_UNKNOWN
        self.urgency = -1
        # not yet prioritized jobs list after those that are
        self.priority = PRIORITY_MIN
        self.t_submit = self.t_depend = self.t_priority = self.t_sched = 0.0
        self.t_run = self.t_cleanup = self.t_inactive = 0.0
        self.state = NEW
        self.name: str | None = None
        self.queue: str | None = None
        self.cwd: str | None = None
        self.project: str | None = None
        self.bank: str | None = None
        self.ntasks = -1
        self.ncores = -1
        self.duration = -1.0
        self.nnodes = -1
        self.ranks: str | None = None
        self.nodelist: str | None = None
        self.expiration = -1.0
        self.wait_status = -1
        self.success = False
        self.exception_occurred = False
        self.exception_severity = 0
        self.exception_type: str | None = None
        self.exception_note: str | None = None
        self.result = FAILED
        self.annotations: dict | None = None
        self.dependencies: list[str] | None = None
        self.jobspec: dict | None = None
        self.R: dict | None = None
        self.states_mask = NEW
        self.states_events_mask = NEW
        self.submit_version = -1
        self._per_node = 0  # per-resource "node" count, waiting for R's node count
        self._per_core = 0  # per-resource "core" count, waiting for R's core count
        self._grudges: set[str] = set()  # dependencies ever added: never again

    def dependency_add(self, description: str) -> None:
        """``dependency-add``: listed once, never again once it has been listed."""
        if self.dependencies is None:
            self.dependencies = []
        if description not in self._grudges:
            self._grudges.add(description)
            self.dependencies.append(description)

    def dependency_remove(self, description: str) -> None:
        """``dependency-remove``: an unknown one is ignored."""
        if self.dependencies and description in self.dependencies:
            self.dependencies.remove(description)

    # -- jobspec ----------------------------------------------------------------------

    def parse_jobspec(self) -> bool:
        """Name, cwd, queue, duration and the counts from the jobspec; False if it is not
        what jobspec v1 says (the fields read before the problem keep their values)."""
        spec = self.jobspec
        try:
            if not isinstance(spec, dict):
                return False
            attrs = spec.get("attributes")
            system = attrs.get("system") if isinstance(attrs, dict) else None
            if system is not None and not isinstance(system, dict):
                return False
            jobdict = system.get("job") if system else None
            if jobdict is not None and not isinstance(jobdict, dict):
                return False
            name = jobdict.get("name") if jobdict else None
            if name is not None and not isinstance(name, str):
                return False
            if name is None:
                command = spec["tasks"][0]["command"]
                if not isinstance(command, list) or not command \
                        or not isinstance(command[0], str):
                    return False
                name = _basename(command[0])
            self.name = name
            if not isinstance(system, dict):
                return False  # duration is required
            self.cwd = self.queue = None
            cwd, queue = system.get("cwd"), system.get("queue")
            duration = system["duration"]
            project, bank = system.get("project"), system.get("bank")
            for value in (cwd, queue, project, bank):
                if value is not None and not isinstance(value, str):
                    return False
            if type(duration) not in (int, float):
                return False
            self.cwd, self.queue, self.duration = cwd, queue, float(duration)
            if project is not None:
                self.project = project
            if bank is not None:
                self.bank = bank
            counts = _counts(spec)
            if counts is None:
                return False
            nnodes, nslots, slot_size, exclusive = counts
            self.nnodes = nnodes if nnodes else -1
            if not self._parse_ntasks(spec, nnodes, nslots, slot_size):
                return False
            self.ncores = -1 if nnodes and exclusive else nslots * slot_size
            return True
        except (KeyError, IndexError, TypeError, AttributeError):
            return False

    def _parse_ntasks(self, spec: dict, nnodes: int, nslots: int, slot_size: int) -> bool:
        options = spec["attributes"]["system"].get("shell", {})
        per = None
        if isinstance(options, dict):
            options = options.get("options", {})
            if isinstance(options, dict):
                per = options.get("per-resource")
        if per is not None:
            kind, count = per.get("type") if isinstance(per, dict) else None, \
                per.get("count", 1) if isinstance(per, dict) else 0
            if not isinstance(kind, str) or type(count) is not int or count < 1:
                return False
            if kind == "node":
                if nnodes:
                    self.ntasks = nnodes * count
                else:
                    self._per_node, self.ntasks = count, -1
                return True
            if kind == "core":
                if not nnodes:
                    self.ntasks = nslots * slot_size * count
                else:
                    self._per_core, self.ntasks = count, -1
                return True
        try:
            total = spec["tasks"][0]["count"]["total"]
        except (KeyError, IndexError, TypeError):
            total = None
        self.ntasks = total if type(total) is int else nslots
        return True

    def update_jobspec(self, updates: dict) -> None:
        """A ``jobspec-update`` event: dotted keys under resources, tasks or attributes."""
        if not isinstance(self.jobspec, dict):
            return
        for key, value in updates.items():
            top = key.split(".", 1)[0]
            if top in ("resources", "tasks", "attributes"):
                _set_path(self.jobspec, key, value)
        self.parse_jobspec()

    # -- R ----------------------------------------------------------------------------

    def parse_R(self) -> bool:
        """Expiration, ranks, nodelist, node and core counts from R (RFC 20)."""
        try:
            execution = self.R["execution"]  # type: ignore[index]
            expiration = execution.get("expiration", 0.0)
            rank_cores: dict[int, int] = {}
            for entry in execution["R_lite"]:
                cores = entry.get("children", {}).get("core", "")
                ncores = len(ranges.decode(cores)) if cores else 0
                for rank in ranges.decode(entry["rank"]):
                    rank_cores[rank] = rank_cores.get(rank, 0) + ncores
            ranks = sorted(rank_cores)
            hosts: list[str] = []
            for item in execution.get("nodelist") or []:
                hosts.extend(ranges.hosts_decode(item))
        except (KeyError, TypeError, ValueError, AttributeError):
            return False
        if type(expiration) not in (int, float) or (hosts and len(hosts) != len(ranks)):
            return False
        self.expiration = float(expiration)
        self.nnodes = len(ranks)
        if self._per_node:
            self.ntasks = self.nnodes * self._per_node
        self.ranks = ranges.encode(ranks)
        self.nodelist = ranges.hosts_encode(hosts)
        self.ncores = sum(rank_cores.values())
        if self._per_core:
            self.ntasks = self.ncores * self._per_core
        return True

    def update_R(self, updates: dict) -> None:
        """A ``resource-update`` event: only ``expiration`` may change (RFC 21)."""
        if not isinstance(self.R, dict):
            return
        if "expiration" in updates:
            execution = self.R.setdefault("execution", {})
            if isinstance(execution, dict):
                execution["expiration"] = updates["expiration"]
        self.parse_R()


def _basename(path: str) -> str:
    """The command's last path component (the whole path if it ends in '/')."""
    slash = path.rfind("/")
    if slash < 0 or slash == len(path) - 1:
        return path
    return path[slash + 1:]


def _counts(spec: dict) -> tuple[int, int, int, bool] | None:
    """(nodes, slots, cores per slot, exclusive) as flux-core's jj reads a jobspec's
    resources (slots multiplied by the node count); None if it cannot tell."""
    if type(spec.get("version")) is not int or "resources" not in spec:
        return None
    found = {"node": 0, "slot": 0, "core": 0, "exclusive": False}

    def level(items: Any, factor: int) -> bool:
        if not isinstance(items, list):
            return False
        for item in items:
            if not isinstance(item, dict):
                return False
            kind, count = item.get("type"), item.get("count")
            if not isinstance(kind, str) or type(count) is not int or count <= 0:
                return False
            f = factor * count
            if kind == "node":
                found["node"] = f
                if item.get("exclusive"):
                    found["exclusive"] = True
            elif kind == "slot":
                found["slot"] = count
            elif kind == "core":
                found["core"] = count
            if "with" in item and not level(item["with"], f):
                return False
        return True

    if not level(spec["resources"], 1):
        return None
    nodes, slots, size = found["node"], found["slot"], found["core"]
    if slots <= 0 or size <= 0:
        return None
    if nodes:
        slots *= nodes
    return nodes, slots, size, bool(found["exclusive"])


def _set_path(obj: dict, path: str, value: Any) -> None:
    """Set a dotted key, creating the objects on the way (None deletes)."""
    *parents, last = path.split(".")
    for part in parents:
        child = obj.get(part)
        if not isinstance(child, dict):
            child = obj[part] = {}
        obj = child
    if value is None:
        obj.pop(last, None)
    else:
        obj[last] = value

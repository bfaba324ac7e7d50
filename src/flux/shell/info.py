"""What a job shell knows about its job: from the jobspec and R (read through
``job-info.lookup``, as flux-core's shell does) and this broker's rank."""

from __future__ import annotations

import os

from flux.shell import taskmap

__all__ = ["ShellInfo"]


def _cores_per_slot(resources: list) -> int:
    """The cores one slot of a v1 jobspec asks for (1 if it cannot be told)."""
    for res in resources:
        if not isinstance(res, dict):
            continue
        if res.get("type") == "slot":
            for child in res.get("with", ()):
                if isinstance(child, dict) and child.get("type") == "core":
                    count = child.get("count")
                    return count if isinstance(count, int) and count > 0 else 1
            return 1
        found = _cores_per_slot(res.get("with", ()))
        if found:
            return found
    return 0


def _dict(value: object) -> dict:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


class ShellInfo:
    """Ranks of the job, tasks of each, this shell's tasks, command, environment."""

    def __init__(self, jobid: int, jobspec: dict, R: dict, broker_rank: int) -> None:
        from flux.services.resource.rv1 import R_ranks

        self.jobid = jobid
        self.jobspec = jobspec
        cores, hosts = R_ranks(R)
        self.ranks = sorted(cores)
        self.hosts = hosts
        if broker_rank not in cores:
            raise ValueError(f"rank {broker_rank} is not in the job's R")
        self.broker_rank = broker_rank
        self.shell_rank = self.ranks.index(broker_rank)
        self.shell_size = len(self.ranks)
        tasks = jobspec.get("tasks")
        if not isinstance(tasks, list) or not tasks or not isinstance(tasks[0], dict):
            raise ValueError("jobspec has no tasks")
        task = tasks[0]
        command = task.get("command")
        if not isinstance(command, list) or not command \
                or not all(isinstance(a, str) for a in command):
            raise ValueError("jobspec command is not a list of strings")
        self.command: list[str] = command
        count = _dict(task.get("count"))
        per_slot, total = count.get("per_slot"), count.get("total")
        cps = max(_cores_per_slot(jobspec.get("resources") or []), 1)
        nslots = _dict(R.get("execution")).get("nslots")
        if isinstance(nslots, int) and nslots > 0:  # flux-core: R's slots first (-N: whole nodes)
            cps = max(sum(len(cores[r]) for r in self.ranks) // nslots, 1)
        slots = [max(len(cores[r]) // cps, 1) for r in self.ranks]
        attrs = _dict(jobspec.get("attributes"))
        system = _dict(attrs.get("system"))
        self.options: dict = _dict(_dict(system.get("shell")).get("options"))
        per_resource = _dict(self.options.get("per-resource"))
        per_type, per_count = per_resource.get("type"), per_resource.get("count", 1)
        if not isinstance(per_count, int) or per_count < 1:
            per_count = 1
        if per_type == "node":  # -o per-resource.type=node: COUNT tasks on each node
            self.counts = [per_count] * len(self.ranks)
        elif per_type == "core":
            self.counts = [per_count * len(cores[r]) for r in self.ranks]
        else:
            self.counts = taskmap.block_counts(
                slots, per_slot if isinstance(per_slot, int) else None,
                total if isinstance(total, int) else None)
        self.total_ntasks = sum(self.counts)
        self.taskids = list(taskmap.task_ranges(self.counts)[self.shell_rank])
        env = system.get("environment")
        self.environment: dict[str, str] = (
            {str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {})
        cwd = system.get("cwd")
        self.cwd: str | None = cwd if isinstance(cwd, str) else None
        job = _dict(system.get("job"))
        name = job.get("name")
        self.name = name if isinstance(name, str) else os.path.basename(self.command[0])

    @property
    def hostname(self) -> str:
        return self.hosts.get(self.broker_rank) or os.uname().nodename

    def option(self, path: str, default: object = None) -> object:
        """A shell option by dotted path (``output.stdout.type``)."""
        node: object = self.options
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def mustache(self, task_rank: int | None = None, localid: int | None = None) -> dict:
        """The values of the templates of flux-core's shell (see mustache.py)."""
        values = {"name": self.name, "nnodes": str(self.shell_size),
                  "ntasks": str(self.total_ntasks), "size": str(self.total_ntasks),
                  "node.id": str(self.shell_rank), "node.rank": str(self.broker_rank),
                  "node.name": self.hostname}
        if task_rank is not None:
            values["task.id"] = values["task.rank"] = str(task_rank)
        if localid is not None:
            values["task.index"] = values["task.localid"] = str(localid)
        return values

"""What the dashboard shows, read from the instance's own services with asyncio RPCs.

Each ``async`` function here asks the services a command would ask (``overlay``,
``module``, ``broker``, ``job-list``, ``job-info``, ``kvs``) and returns plain
JSON-able data for one view; nothing here knows about HTTP.  A rank that does
not answer within ``RANK_TIMEOUT`` is shown as lost rather than holding up the
whole view.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import time
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional

    from flux.core.handle import Flux

RANK_TIMEOUT = 2.0  # seconds a rank may take to answer before it is shown as lost

#: job-list attributes the jobs view needs (``all`` would also ship jobspecs and R)
JOB_ATTRS = ["userid", "urgency", "priority", "state", "result", "name", "queue",
             "ntasks", "nnodes", "ncores", "nodelist", "ranks", "t_submit", "t_depend",
             "t_run", "t_cleanup", "t_inactive", "success", "exception_occurred",
             "exception_type", "exception_note", "waitstatus", "duration",
             "expiration"]

_STATE_NAMES = {1: "NEW", 2: "DEPEND", 4: "PRIORITY", 8: "SCHED", 16: "RUN", 32: "CLEANUP",
                64: "INACTIVE"}  # RFC 21
_RESULT_NAMES = {1: "COMPLETED", 2: "FAILED", 4: "CANCELED", 8: "TIMEOUT"}


async def rpc(h: Flux, topic: str, payload: Any = None, nodeid: Optional[int] = None,
              timeout: Optional[float] = None) -> Any:
    """One RPC's decoded answer (OSError with the service's errno on failure)."""
    from flux.constants import FLUX_NODEID_ANY

    fut = h.rpc(topic, payload, nodeid=FLUX_NODEID_ANY if nodeid is None else nodeid)
    if timeout is None:
        return await fut
    return await asyncio.wait_for(awaited(fut), timeout)


async def awaited(fut: Any) -> Any:
    """``await fut`` as a coroutine (what ``asyncio.wait_for`` takes)."""
    return await fut


async def attr(h: Flux, name: str, rank: Optional[int] = None) -> Optional[str]:
    """Attribute ``name`` of ``rank`` (the local broker if None); None if unset."""
    try:
        resp = await rpc(h, "attr.get", {"name": name}, nodeid=rank, timeout=RANK_TIMEOUT)
        return resp["value"]
    except (OSError, asyncio.TimeoutError, KeyError, TypeError):
        return None


# -- the tree of brokers ------------------------------------------------------------------


class Overview:
    """Instance facts and the per-rank rows of the overlay tree.

    Immutable facts (hostnames, start times) are fetched once per rank; CPU use
    is the change of ``broker.rusage`` between two polls.
    """

    def __init__(self, h: Flux) -> None:
        self.h = h
        self.facts: dict[str, Any] = {}
        self.hosts: dict[int, Optional[str]] = {}
        self.starts: dict[int, Optional[float]] = {}
        self.cpu: dict[int, tuple[float, float]] = {}  # rank -> (monotonic, cpu seconds)
        self.local_host = socket.gethostname()

    async def instance_facts(self) -> dict[str, Any]:
        if not self.facts:
            names = ["size", "rank", "security.owner", "instance-level", "version",
                     "broker.starttime", "hostlist", "local-uri", "jobid"]
            values = await asyncio.gather(*(attr(self.h, n, 0 if n != "local-uri" else None)
                                            for n in names))
            self.facts = dict(zip(names, values))
        return self.facts

    async def get(self) -> dict[str, Any]:
        facts = await self.instance_facts()
        size = int(facts.get("size") or 1)
        try:
            state = (await rpc(self.h, "state-machine.get", nodeid=0, timeout=RANK_TIMEOUT))["state"]
        except (OSError, asyncio.TimeoutError, KeyError, TypeError):
            state = "unknown"
        tree = await self.tree(size)
        rows = await asyncio.gather(*(self.rank_row(r) for r in range(size)))
        start = _float(facts.get("broker.starttime"))
        return {"size": size, "state": state, "owner": facts.get("security.owner"),
                "level": facts.get("instance-level"), "version": facts.get("version"),
                "jobid": facts.get("jobid"), "hostlist": facts.get("hostlist"),
                "uptime": time.time() - start if start else None,
                "tree": tree, "ranks": list(rows)}

    async def tree(self, size: int) -> dict[str, Any]:
        """``overlay.topology`` of rank 0; a single broker has no overlay service."""
        if size > 1:
            try:
                return await rpc(self.h, "overlay.topology", {"rank": 0}, nodeid=0,
                                 timeout=RANK_TIMEOUT)
            except (OSError, asyncio.TimeoutError):
                pass
        return {"rank": 0, "size": size,
                "children": [{"rank": r, "size": 1, "children": []} for r in range(1, size)]}

    async def rank_row(self, rank: int) -> dict[str, Any]:
        row: dict[str, Any] = {"rank": rank}
        if rank not in self.hosts or self.hosts[rank] is None:
            self.hosts[rank] = await attr(self.h, "hostname", rank)
            self.starts[rank] = _float(await attr(self.h, "broker.starttime", rank))
        row["host"] = self.hosts[rank]
        start = self.starts.get(rank)
        row["uptime"] = time.time() - start if start else None
        try:
            health = await rpc(self.h, "overlay.health", nodeid=rank, timeout=RANK_TIMEOUT)
            row["status"] = health.get("status", "full")
        except OSError as exc:
            if exc.errno != errno.ENOSYS:  # no overlay: a single broker, always full
                row["status"] = "lost"
                return row
            row["status"] = "full"
        except asyncio.TimeoutError:
            row["status"] = "lost"
            return row
        try:
            usage = await rpc(self.h, "broker.rusage", nodeid=rank, timeout=RANK_TIMEOUT)
            now, cpu = time.monotonic(), float(usage["utime"]) + float(usage["stime"])
            prev = self.cpu.get(rank)
            self.cpu[rank] = (now, cpu)
            if prev is not None and now > prev[0]:
                row["cpu"] = round(100.0 * (cpu - prev[1]) / (now - prev[0]), 1)
            row["maxrss"] = usage.get("maxrss")
        except (OSError, asyncio.TimeoutError, KeyError, TypeError, ValueError):
            pass
        if row["host"] == self.local_host:
            row["load"] = [round(x, 2) for x in os.getloadavg()]
        return row


def _float(text: Optional[str]) -> Optional[float]:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


# -- modules and services ----------------------------------------------------------------------

_MODULE_STATES = {0: "init", 1: "running", 2: "finalizing", 3: "exited"}


async def modules(h: Flux, rank: int) -> dict[str, Any]:
    """``module.list`` of ``rank`` with each module's ``stats-get`` message counts,
    and the requests each of the broker's services has been sent."""
    resp = await rpc(h, "module.list", nodeid=rank, timeout=RANK_TIMEOUT)
    mods = resp.get("mods", [])

    async def with_stats(mod: dict[str, Any]) -> dict[str, Any]:
        entry = {"name": mod.get("name"), "idle": mod.get("idle"),
                 "state": _MODULE_STATES.get(mod.get("status", -1), str(mod.get("status"))),
                 "services": mod.get("services", []), "sendqueue": mod.get("sendqueue"),
                 "pid": mod.get("pid")}
        try:
            stats = await rpc(h, f"{mod['name']}.stats-get", nodeid=rank, timeout=RANK_TIMEOUT)
            entry["stats"] = {d: dict(stats[d]) for d in ("rx", "tx")}
        except (OSError, asyncio.TimeoutError, KeyError, TypeError, ValueError):
            entry["stats"] = None
        return entry

    rows = await asyncio.gather(*(with_stats(m) for m in mods))
    try:
        services = (await rpc(h, "broker.service-stats", nodeid=rank,
                              timeout=RANK_TIMEOUT))["requests"]
    except (OSError, asyncio.TimeoutError, KeyError, TypeError):
        services = {}
    return {"rank": rank, "modules": sorted(rows, key=lambda m: str(m["name"])),
            "services": services}


async def traffic(h: Flux, rank: int = 0) -> dict[str, Any]:
    """The counters charts are drawn from: messages through the broker by type, and
    requests per service (both totals since start; the hub turns them into rates)."""
    answers: list[Any] = list(await asyncio.gather(
        rpc(h, "broker.stats-get", nodeid=rank, timeout=RANK_TIMEOUT),
        rpc(h, "broker.service-stats", nodeid=rank, timeout=RANK_TIMEOUT),
        return_exceptions=True))
    stats, services = answers
    out: dict[str, Any] = {"messages": None, "services": {}}
    if isinstance(stats, dict):
        out["messages"] = sum(stats["rx"].values()) + sum(stats["tx"].values())
    if isinstance(services, dict):
        out["services"] = services.get("requests", {})
    return out


# -- jobs ---------------------------------------------------------------------------------------


async def jobs(h: Flux, max_entries: int = 1000) -> list[dict[str, Any]]:
    """Every user's jobs, newest first, with state and result names added."""
    from flux.job.JobID import JobID

    # no userid term in the constraint: every user's jobs
    payload = {"max_entries": max_entries, "attrs": JOB_ATTRS, "since": 0.0,
               "constraint": {"and": []}}
    resp = await rpc(h, "job-list.list", payload, timeout=10.0)
    out = []
    for job in resp.get("jobs", []):
        job["state_name"] = _STATE_NAMES.get(job.get("state", 0), str(job.get("state")))
        if "result" in job:
            job["result_name"] = _RESULT_NAMES.get(job["result"], str(job["result"]))
        job["f58"] = JobID(job["id"]).f58
        out.append(job)
    return out


async def job_detail(h: Flux, jobid: int) -> dict[str, Any]:
    """One job: its eventlog, jobspec, R and output (what is there so far)."""
    from flux.eventlog import decode as decode_eventlog
    from flux.job.JobID import JobID

    out: dict[str, Any] = {"id": jobid, "f58": JobID(jobid).f58}
    for key in ("eventlog", "jobspec", "R", "guest.exec.eventlog", "guest.output"):
        try:
            resp = await rpc(h, "job-info.lookup", {"id": jobid, "keys": [key], "flags": 0},
                             timeout=10.0)
            text = resp.get(key)
        except OSError as exc:
            if exc.errno == errno.ENOENT and key == "eventlog":
                raise
            out[key] = None
            continue
        if key in ("jobspec", "R"):
            out[key] = _json_or_text(text)
        else:
            out[key] = decode_eventlog(text) if isinstance(text, str) else None
    output = out.pop("guest.output")
    out["output"] = _output_text(output or [])
    out["exec_eventlog"] = out.pop("guest.exec.eventlog")
    return out


def _json_or_text(text: Any) -> Any:
    import json

    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _output_text(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The output eventlog's ``data`` entries as (stream, rank, text) lines."""
    from flux.ioencode import iodecode_data

    lines = []
    for entry in entries:
        if entry.get("name") != "data":
            continue
        ctx = entry.get("context", {})
        try:
            data = iodecode_data(ctx, "surrogateescape")
        except (ValueError, KeyError, TypeError):
            continue
        if data:
            lines.append({"stream": ctx.get("stream"), "rank": ctx.get("rank"),
                          "text": data.decode("utf-8", "replace")})
    return lines


# -- the KVS -----------------------------------------------------------------------------------


async def kvs_entry(h: Flux, key: str, namespace: Optional[str] = None) -> dict[str, Any]:
    """A directory's listing or a value: JSON decoded when it is JSON, an eventlog
    as its entries when every line is one."""
    from flux.constants import FLUX_KVS_READDIR
    from flux.kvs.lookups import lookup

    key = key.strip(".") or "."
    try:
        fut = lookup(h, key, FLUX_KVS_READDIR, namespace)
        await fut
        tree = fut.get_dir()
        entries = []
        for name, obj in sorted(tree["data"].items()):
            kind = obj.get("type")
            entries.append({"name": name, "type": "dir" if kind in ("dir", "dirref") else
                            "symlink" if kind == "symlink" else "value"})
        return {"key": key, "type": "dir", "entries": entries}
    except OSError as exc:
        if exc.errno != errno.ENOTDIR:
            raise
    fut = lookup(h, key, 0, namespace)
    await fut
    return {"key": key, **describe_value(fut.get_value())}


def describe_value(data: Optional[bytes]) -> dict[str, Any]:
    """How the page shows a value's bytes: JSON, an eventlog's entries, text or base64."""
    import base64
    import json

    if data is None:
        return {"type": "value", "format": "none", "value": None}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return {"type": "value", "format": "base64", "value": base64.b64encode(data).decode()}
    stripped = text.rstrip("\0")
    if stripped.endswith("\n") and stripped.startswith("{"):
        from flux.eventlog import decode as decode_eventlog

        try:
            return {"type": "value", "format": "eventlog", "value": decode_eventlog(stripped)}
        except (ValueError, OSError, TypeError, KeyError):
            pass
    try:
        return {"type": "value", "format": "json", "value": json.loads(stripped)}
    except ValueError:
        return {"type": "value", "format": "text", "value": stripped}

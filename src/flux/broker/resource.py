"""The ``resource`` service inside the broker: flux.services.resource wired to the router.

flux-core loads resource as a module in rc1; here it is part of the broker (as the KVS is,
broker/kvs.py), so an instance has its resources without a module process.  R is
committed to the KVS once the loop runs, as flux-core's module does at load.
"""

from __future__ import annotations

import errno
import json
import socket

from flux.constants import FLUX_ROLE_USER

from .internal_rpc import InternalClient
from .kvs import KVS
from .loop import Loop
from .router import Router

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

    from flux.message import Message
    from flux.services.resource.reduce import TopoReduce
    from flux.services.resource.service import ResourceService

__all__ = ["Resource", "remap_R"]

#: (method, handler name, roles beyond the owner): flux-core's resource.c table
_METHODS = (
    ("status", "status", FLUX_ROLE_USER),
    ("drain", "drain", 0),
    ("undrain", "undrain", 0),
    ("acquire-cancel", "acquire_cancel", 0),
    ("journal", "journal_request", 0),
    ("journal-cancel", "journal_cancel", 0),
    ("reload", "reload", 0),
    ("disconnect", "disconnect", FLUX_ROLE_USER),
)


class Resource:
    """Creates the service when the loop starts (discovery, then R in the KVS)."""

    def __init__(self, router: Router, loop: Loop, kvs: KVS,
                 hostname: Optional[str] = None, size: int = 1,
                 hosts: Optional[list[str]] = None,
                 parent: Optional[tuple[str, str]] = None) -> None:
        self.router = router
        #: (parent-uri, jobid) of an instance run as a job: its R is the job's
        self.parent = parent
        self.kvs = kvs
        self.hostname = hostname or socket.gethostname()
        self.size = size
        self.hosts = hosts or [self.hostname]
        self._service: Optional[ResourceService] = None
        self.reduce: Optional[TopoReduce] = None
        #: topo-reduce reports that came before start() (a busy first pass of the
        #: loop can answer hellos and read reports before its call_soon callbacks run)
        self.early: Optional[list[Any]] = []
        self.ready = True  # False while the ranks' reports are awaited
        self.when_ready: list[Callable[[], None]] = []
        self.acquires: list[Message] = []  # held until ready
        self.lost: set[int] = set()
        builtin = router.builtin("resource")
        self.builtin = builtin
        builtin.methods_of(_METHODS, lambda: self.service)
        builtin.method("acquire", self._acquire, 0)
        builtin.method("topo-reduce", self._topo_reduce, 0)
        builtin.method("get", self._get, 0)
        builtin.method("sched-status", self._sched_status, FLUX_ROLE_USER)
        self._client: Optional[InternalClient] = None
        loop.call_soon(self.start)

    @property
    def service(self) -> ResourceService:
        if self._service is None:
            from flux.services.resource.rv1 import discover_cores
            from flux.services.resource.service import ResourceService

            self._service = ResourceService(
                discover_cores(), self.hostname, self.router.respond,
                self.router.respond_error, self._commit)
        return self._service

    def _commit(self, ops: list, done: Callable[[int, Any], None]) -> None:
        self.kvs.service.commit_ops("primary", ops, 0, done)

    def start(self) -> None:
        """Discovery and resource.R, as flux-core's module at load: R from the
        configuration's ``[resource] path`` first, else R already in the KVS (from a
        statedir), else this machine's.  An instance run as a job of an enclosing
        instance (``jobid`` attribute) takes the job's R from it instead of looking
        (flux-core's ``job-info`` method), its ranks renumbered from 0."""
        from flux.services.kvs.treeobj import decode_val

        from flux import eventlog

        early, self.early = self.early, None
        if self._configured() or self._from_parent():
            return
        kvs = self.kvs.service
        try:
            stored = json.loads(decode_val(kvs.lookup_at("primary", "resource.R")))
        except (OSError, ValueError):
            stored = None
        if not isinstance(stored, dict):
            if self.size > 1:
                self._await_reports(early or [])
                return
            self.service.define()
            return
        try:
            log = eventlog.decode(decode_val(kvs.lookup_at("primary", "resource.eventlog")))
        except (OSError, ValueError):
            log = []
        self.service.define(stored, log)

    def _configured(self) -> bool:
        from flux.services.resource.rv1 import R_ranks
        from flux.services.resource.service import load_R_file

        from .conf_reader import ConfReader

        reader = ConfReader(self.router, "resource", 0)
        try:
            section = reader.get().get("resource")
        finally:
            reader.close()
        path = section.get("path") if isinstance(section, dict) else None
        if not isinstance(path, str):
            return False
        try:
            R = load_R_file(path, configured=True)
            ranks, hosts = R_ranks(R)
        except OSError as exc:
            self.router.logger.error("resource: error parsing [resource] configuration: %s",
                                     exc.strerror)
            return False
        service = self.service
        service.set_R(R, ranks, hosts)
        service.define_configured()
        return True

    def _from_parent(self) -> bool:
        if self.parent is None:
            return False
        from flux.services.resource.rv1 import R_ranks, idset_encode

        uri, jobid = self.parent
        try:
            from flux.job.JobID import id_parse

            from .client import SimpleClient

            with SimpleClient(uri, timeout=10.0) as c:
                resp = c.rpc("job-info.lookup", {"id": id_parse(jobid), "keys": ["R"],
                                                 "flags": 0})
            R = resp["R"]
            R = json.loads(R) if isinstance(R, str) else R
            R = remap_R(R)
            ranks, hosts = R_ranks(R)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.router.logger.error("resource: lookup R from enclosing instance: %s", exc)
            return False
        service = self.service
        service.set_R(R, ranks, hosts)
        # flux-core's "job-info" method (the service has no public spelling of it yet)
        service._journal("restart", {"ranks": idset_encode(set(ranks)), "online": "",
                                     "nodelist": service._nodelist(set(ranks))})
        service._put_R("job-info")
        return True

    # -- many brokers ----------------------------------------------------------------

    def _await_reports(self, early: list[Any]) -> None:
        """Hold R (and the scheduler's acquire) until every rank has reported
        (``early``: the reports that came before start())."""
        from flux.services.resource.reduce import TopoReduce
        from flux.services.resource.rv1 import discover_cores

        self.ready = False
        self.reduce = TopoReduce(self.size, discover_cores(), self._host(0), self._reduced)
        for payload in early:
            self._report(payload)
        for rank in sorted(self.lost):
            self.reduce.lost(rank, self._host(rank))

    def _host(self, rank: int) -> str:
        return self.hosts[rank] if rank < len(self.hosts) else str(rank)

    def _reduced(self, cores: dict[int, set[int]], hosts: dict[int, str]) -> None:
        from flux.services.resource.rv1 import build_R

        service = self.service
        service.set_R(build_R(cores, hosts), cores, hosts)
        service.define()
        service.set_offline(set(self.lost))
        self.ready = True
        for msg in self.acquires:
            service.acquire(msg)
        self.acquires.clear()
        for cb in self.when_ready:
            cb()
        self.when_ready.clear()

    def gate(self, cb: Callable[[], None]) -> None:
        """``cb`` once R of every rank is defined (the quorum waits on it)."""
        if self.ready:
            cb()
        else:
            self.when_ready.append(cb)

    def _topo_reduce(self, msg: Message) -> None:
        """``resource.topo-reduce`` (no response): a rank's cores and hostname."""
        if self.reduce is None:
            if self.early is not None:  # start() has not run yet
                self.early.append(msg.payload_json())
            return  # else R came from the configuration or the KVS
        self._report(msg.payload_json())

    def _report(self, payload: Any) -> None:
        assert self.reduce is not None
        try:
            self.reduce.report(payload)
        except OSError as exc:
            self.router.logger.error("resource: %s", exc.strerror)

    def _get(self, msg: Message) -> None:
        """``resource.get``: ENOENT until every rank has reported (flux-core's rank 0
        has no R before its reduction is done either)."""
        if not self.ready:
            self.router.respond_error(msg, errno.ENOENT, None)
            return
        self.service.get(msg)

    def _sched_status(self, msg: Message) -> None:
        """``resource.sched-status``: the scheduler's view, asked as the owner on a
        guest's behalf (``sched.resource-status`` itself is owner-only, as flux-core's)."""
        if self._client is None:
            self._client = InternalClient(self.router, "resource", self.router.owner)

        def answer(errnum: int, payload: Any) -> None:
            if errnum:
                self.router.respond_error(msg, errnum)
            else:
                self.router.respond(msg, payload)
        self._client.rpc("sched.resource-status", None, answer)

    def _acquire(self, msg: Message) -> None:
        if self.ready:
            self.service.acquire(msg)
        else:
            self.acquires.append(msg)

    def rank_lost(self, rank: int) -> None:
        """A broker went away (overlay): offline, or counted as reported if it never did."""
        self.lost.add(rank)
        if self.reduce is not None and not self.reduce.finished:
            self.reduce.lost(rank, self._host(rank))
        elif self.ready and self._service is not None:
            self._service.set_offline({rank})

    def rank_torpid(self, rank: int, torpid: bool) -> None:
        """A child of rank 0 stopped answering (or answers again): see set_torpid."""
        if self.ready and self._service is not None:
            self._service.set_torpid(rank, torpid)

    def close(self) -> None:
        for msg in self.acquires:
            self.router.respond_error(msg, errno.ENOSYS, None)  # as service.close()
        self.acquires.clear()
        if self._service is not None:
            self._service.close()


def remap_R(R: dict) -> dict:
    """R with its ranks renumbered from 0 in order (the enclosing instance's ranks
    mean nothing inside the job's instance), as flux-core's ``rlist_remap``."""
    import copy

    from flux.services.resource.rv1 import idset_decode, idset_encode

    R = copy.deepcopy(R)
    entries = R["execution"]["R_lite"]
    old = sorted({r for e in entries for r in idset_decode(e["rank"])})
    index = {r: i for i, r in enumerate(old)}
    for e in entries:
        e["rank"] = idset_encode({index[r] for r in idset_decode(e["rank"])})
    return R

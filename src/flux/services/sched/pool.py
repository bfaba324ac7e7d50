"""The scheduler's view of the resources: each rank's cores, which are allocated to
which job, which ranks are down; allocation as flux-core 0.88's sched-simple does it
(worst fit: ranks with the most free cores first, lowest core ids first)."""

from __future__ import annotations

from flux.services.resource.rv1 import R_ranks, build_R

from .request import ResourceRequest

__all__ = ["Pool", "Infeasible", "Insufficient", "summary"]


class Infeasible(Exception):
    """The request can never be satisfied by these resources: the job is denied."""


class Insufficient(Exception):
    """Not now: the job waits for resources to be freed."""


def _display(ids: set[int] | list[int]) -> str:
    """``[0-1]``, or ``0`` for one id: libidset's bracketed text."""
    from flux.idset import IDSET_FLAG_BRACKETS, IDSET_FLAG_RANGE, IDset

    return IDset(sorted(ids)).encode(IDSET_FLAG_BRACKETS | IDSET_FLAG_RANGE)


def summary(ranks: dict[int, set[int]]) -> str:
    """``rank0/core[0-1]``: the annotation flux-core's sched-simple gives an allocation."""
    groups: dict[frozenset, list[int]] = {}
    for rank in sorted(ranks):
        groups.setdefault(frozenset(ranks[rank]), []).append(rank)
    return " ".join(f"rank{_display(rs)}/core{_display(set(cores))}"
                    for cores, rs in sorted(groups.items(), key=lambda g: g[1][0]))


class Pool:
    """Resources from R (resource.acquire's first response); all ranks start down."""

    def __init__(self, R: dict) -> None:
        self.ranks, self.hosts = R_ranks(R)
        execution = R["execution"]
        self.starttime = float(execution.get("starttime", 0.0))
        self.expiration = float(execution.get("expiration", 0.0))
        from .constraint import rank_properties

        self.properties = rank_properties(R)
        self.allocated: dict[int, set[int]] = {r: set() for r in self.ranks}
        self.jobs: dict[int, dict[int, set[int]]] = {}
        self.down: set[int] = set(self.ranks)

    def mark(self, ranks: set[int], up: bool) -> None:
        known = ranks & set(self.ranks)
        if up:
            self.down -= known
        else:
            self.down |= known

    def _eligible(self, rr: ResourceRequest) -> set[int]:
        """The ranks the request's constraint allows (Infeasible if it is invalid)."""
        from .constraint import eligible_ranks

        try:
            return eligible_ranks(rr.constraint, set(self.ranks), self.hosts, self.properties)
        except (ValueError, OSError) as exc:
            raise Infeasible(f"invalid constraint: {exc}") from None

    def _check_feasible(self, rr: ResourceRequest) -> None:
        eligible_ranks = self._eligible(rr)
        sizes = [len(cores) for rank, cores in self.ranks.items() if rank in eligible_ranks]
        if rr.exclusive:
            need = max(rr.nnodes, 1)
            eligible = sum(1 for n in sizes if n >= rr.slot_size)
            if eligible < need:
                raise Infeasible(f"unsatisfiable request: need {need} exclusive node(s), "
                                 f"only {eligible} eligible")
            return
        if rr.nnodes > 0:
            per_node = (rr.nslots // rr.nnodes) * rr.slot_size
            eligible = sum(1 for n in sizes if n >= per_node)
            if eligible < rr.nnodes:
                raise Infeasible(f"unsatisfiable request: need {rr.nnodes} node(s) with "
                                 f"{per_node} cores each, only {eligible} eligible")
            return
        avail = sum(n // rr.slot_size for n in sizes)
        if avail < rr.nslots:
            raise Infeasible(f"unsatisfiable request: need {rr.nslots} slot(s) of "
                             f"{rr.slot_size} core(s), only {avail} such slot(s) available "
                             f"(total cores: {sum(sizes)})")

    def alloc(self, jobid: int, rr: ResourceRequest) -> tuple[dict[int, set[int]], int]:
        """(rank -> cores, nslots) now allocated to ``jobid``; Infeasible or Insufficient."""
        if rr.slot_size < 1:
            raise Infeasible("unsatisfiable request: slot size must be at least 1 core")
        candidates = []
        allowed = self._eligible(rr) if rr.constraint else None
        for rank, cores in self.ranks.items():
            if rank in self.down or (allowed is not None and rank not in allowed):
                continue
            free = cores - self.allocated[rank]
            need = len(cores) if rr.exclusive else rr.slot_size
            if len(free) >= need:
                candidates.append((rank, free))
        candidates.sort(key=lambda c: len(c[1]), reverse=True)
        chosen: dict[int, set[int]] = {}
        if rr.nnodes > 0:
            assert rr.node_count is not None
            target = rr.node_count.max
            per_node = rr.nslots // rr.nnodes
            for rank, free in candidates:
                if target is not None and len(chosen) >= target:
                    break
                if rr.exclusive:
                    if len(free) < len(self.ranks[rank]):
                        continue
                    chosen[rank] = set(free)
                elif len(free) >= per_node * rr.slot_size:
                    chosen[rank] = set(sorted(free)[:per_node * rr.slot_size])
            if len(chosen) < rr.nnodes:
                self._check_feasible(rr)
                raise Insufficient("insufficient resources")
            nslots = per_node * len(chosen)
        else:
            target = rr.slot_count.max
            nslots = 0
            for rank, free in candidates:
                if target is not None and nslots >= target:
                    break
                take = len(free) // rr.slot_size
                if target is not None:
                    take = min(take, target - nslots)
                if take > 0:
                    chosen[rank] = set(sorted(free)[:take * rr.slot_size])
                    nslots += take
            if nslots < rr.nslots:
                self._check_feasible(rr)
                raise Insufficient("insufficient resources")
        for rank, cores in chosen.items():
            self.allocated[rank] |= cores
        self.jobs[jobid] = chosen
        return chosen, nslots

    def register(self, jobid: int, R: dict) -> None:
        """A running job's R (the hello protocol): its cores are taken."""
        ranks, _ = R_ranks(R)
        for rank, cores in ranks.items():
            if rank not in self.ranks or cores - self.ranks[rank]:
                raise ValueError(f"R of job {jobid} is not within the resources")
            if cores & self.allocated[rank]:
                raise ValueError(f"R of job {jobid} overlaps another allocation")
        for rank, cores in ranks.items():
            self.allocated[rank] |= cores
        self.jobs[jobid] = ranks

    def free(self, jobid: int, R: dict | None, final: bool) -> None:
        """Return the cores of ``R`` (all the job's if None); forget the job if final."""
        held = self.jobs.get(jobid)
        if held is None:
            return
        if final or R is None:
            for rank, cores in held.items():
                self.allocated[rank] -= cores
            del self.jobs[jobid]
            return
        for rank, cores in R_ranks(R)[0].items():
            mine = held.get(rank, set()) & cores
            if mine:
                self.allocated[rank] -= mine
                held[rank] -= mine
                if not held[rank]:
                    del held[rank]
        if not held:
            del self.jobs[jobid]

    def R_of(self, ranks: dict[int, set[int]], starttime: float = 0.0,
             expiration: float = 0.0, nslots: int | None = None) -> dict:
        return build_R(ranks, {r: self.hosts[r] for r in ranks}, starttime, expiration,
                       nslots)

    def status(self) -> dict:
        """``sched.resource-status``: all, allocated and down resources as R."""
        allocated = {r: set(c) for r, c in self.allocated.items() if c}
        down = {r: set(self.ranks[r]) for r in self.down}
        return {"all": self.R_of(self.ranks, self.starttime, self.expiration),
                "allocated": self.R_of(allocated),
                "down": self.R_of(down)}

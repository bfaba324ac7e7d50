"""What a jobspec asks of the scheduler: nodes, slots, cores per slot, duration.

The walk and its error texts follow flux-core 0.88's sched-simple (its Python
ResourceRequest, itself following libjjc), so a job is denied with the same note.
"""

from __future__ import annotations

__all__ = ["Count", "ResourceRequest", "MAX_DEPTH"]

#: deeper resource nesting is refused (flux-core's limit)
MAX_DEPTH = 64


class Count:
    """An RFC 14 count: ``min`` and ``max`` (None: unbounded)."""

    __slots__ = ("min", "max")

    def __init__(self, lo: int, hi: int | None) -> None:
        self.min = lo
        self.max = hi

    @classmethod
    def parse(cls, spec: object) -> "Count":
        """An integer, ``{"min", "max", ...}`` or an RFC 45 ``"N"``/``"N-M"``/``"N+"``."""
        if isinstance(spec, bool):
            raise ValueError("invalid count")
        if isinstance(spec, int):
            if spec < 1:
                raise ValueError("count must be >= 1")
            return cls(spec, spec)
        if isinstance(spec, dict):
            lo = spec.get("min")
            hi = spec.get("max")
            if not isinstance(lo, int) or lo < 1 or (hi is not None and not isinstance(hi, int)):
                raise ValueError("invalid count")
            return cls(lo, hi)
        if isinstance(spec, str):
            text = spec.strip()
            if text.endswith("+") and text[:-1].isdigit():
                return cls(int(text[:-1]), None)
            lo, sep, hi = text.partition("-")
            if lo.isdigit() and (not sep or hi.isdigit()):
                return cls(int(lo), int(hi) if sep else int(lo))
        raise ValueError("invalid count")

    def scaled(self, factor: int) -> "Count":
        return Count(self.min * factor, None if self.max is None else self.max * factor)


class ResourceRequest:
    """One job's request: ``node_count`` (None: slots only), per-node ``slot_count``,
    ``slot_size`` cores, ``duration`` seconds (0: unlimited), ``exclusive`` nodes, and
    its RFC 31 ``constraint`` (None: any rank)."""

    __slots__ = ("node_count", "slot_count", "slot_size", "duration", "exclusive",
                 "constraint")

    def __init__(self, node_count: Count | None, slot_count: Count, slot_size: int,
                 duration: float, exclusive: bool) -> None:
        self.node_count = node_count
        self.slot_count = slot_count
        self.slot_size = slot_size
        self.duration = duration
        self.exclusive = exclusive
        self.constraint: object = None

    @property
    def nnodes(self) -> int:
        return self.node_count.min if self.node_count is not None else 0

    @property
    def nslots(self) -> int:
        if self.node_count is None:
            return self.slot_count.min
        return self.slot_count.min * self.node_count.min

    @classmethod
    def from_jobspec(cls, jobspec: object) -> "ResourceRequest":
        """ValueError (with flux-core's text) if the jobspec cannot be scheduled."""
        if not isinstance(jobspec, dict):
            raise ValueError("jobspec is not an object")
        resources = jobspec.get("resources")
        if not resources or not isinstance(resources, list):
            raise ValueError("jobspec has no resources")
        state: dict = {"nnodes": None, "nslots": None, "slot_size": None,
                       "exclusive": False, "nodefactor": 1}

        def walk(vertices: list, factor: int, depth: int) -> None:
            if depth > MAX_DEPTH:
                raise ValueError(f"jobspec resource nesting exceeds maximum depth {MAX_DEPTH}")
            for vertex in vertices:
                if not isinstance(vertex, dict):
                    raise ValueError("invalid resource vertex")
                kind = vertex.get("type", "")
                count = Count.parse(vertex.get("count", 1))
                children = vertex.get("with") or []
                if kind == "node":
                    state["nnodes"] = count
                    state["nodefactor"] = factor
                    state["exclusive"] |= bool(vertex.get("exclusive", False))
                    walk(children, factor, depth + 1)
                    continue
                if kind == "slot":
                    state["nslots"] = count
                    state["exclusive"] |= bool(vertex.get("exclusive", False))
                elif kind == "core":
                    state["slot_size"] = count.min
                walk(children, factor * count.min, depth + 1)

        walk(resources, 1, 0)
        attributes = jobspec.get("attributes")
        system = attributes.get("system") if isinstance(attributes, dict) else None
        if jobspec.get("version") == 1:
            if system is None:
                raise ValueError("getting duration: Object item not found: system")
            if system.get("duration") is None:
                raise ValueError("getting duration: Object item not found: duration")
        if state["nslots"] is None:
            raise ValueError("Unable to determine slot count")
        if state["slot_size"] is None:
            raise ValueError("Unable to determine slot size")
        node_count = state["nnodes"]
        slot_count = state["nslots"]
        if node_count is not None:
            node_count = node_count.scaled(state["nodefactor"])
        if state["exclusive"] and node_count is None:
            node_count, slot_count = slot_count, Count(1, 1)
        duration = (system or {}).get("duration") or 0.0
        if not isinstance(duration, (int, float)) or isinstance(duration, bool):
            raise ValueError("invalid duration")
        rr = cls(node_count, slot_count, state["slot_size"], float(duration),
                 state["exclusive"])
        rr.constraint = (system or {}).get("constraints")
        return rr

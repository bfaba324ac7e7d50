"""R version 1 (RFC 20) as a set of ranks, each with a hostname, core ids and gpu ids.

Behaves as flux-core 0.88's ``flux.resource.Rv1Set``: ID-level union and difference,
rank-level intersection, properties kept per rank, hostnames taken positionally from
``execution.nodelist`` (``rank<N>`` where it is missing), JSON written with
``json.dumps``'s spacing and librlist's key order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Iterable, NamedTuple, Optional

from flux.hostlist import Hostlist
from flux.idset import IDSET_FLAG_BRACKETS, IDSET_FLAG_RANGE, IDset
from flux.resource.ResourceSetImplementation import ResourceSetImplementation

__all__ = ["Rv1Set"]

_CONSTRAINT_OPS = ("properties", "hostlist", "ranks", "and", "or", "not")


class _Node(NamedTuple):
    hostname: str
    cores: frozenset
    gpus: frozenset


def _idset_text(ids: Iterable[int], brackets: bool = False) -> str:
    """``{0,1,2,5}`` -> ``0-2,5`` (``[0-2,5]`` with brackets, never around one id)."""
    flags = IDSET_FLAG_RANGE | (IDSET_FLAG_BRACKETS if brackets else 0)
    return IDset(sorted(set(ids))).encode(flags)


def _ids(text: Any) -> frozenset:
    return frozenset(IDset(text))


class Rv1Set(ResourceSetImplementation):
    """Resources per rank from R v1: a JSON string, a parsed dict, or None (empty)."""

    version = 1

    def __init__(self, arg: Any = None, keep_scheduling: bool = False) -> None:
        self._nodes: dict[int, _Node] = {}
        self._properties: dict[str, set[int]] = {}
        self._expiration = 0.0
        self._starttime = 0.0
        self._nslots = 0
        self._has_nodelist = False
        self._scheduling: Any = None
        if arg is None:
            return
        if isinstance(arg, str):
            arg = json.loads(arg)
        if not isinstance(arg, Mapping):
            raise TypeError(f"Rv1Set cannot be instantiated from {type(arg)}")
        version = arg["version"]
        if version != 1:
            raise ValueError(f"R version {version} not supported")
        if keep_scheduling:
            self._scheduling = arg.get("scheduling")
        execution = arg.get("execution", {})
        self._expiration = float(execution.get("expiration") or 0.0)
        self._starttime = float(execution.get("starttime") or 0.0)
        self._nslots = int(execution.get("nslots") or 0)
        names: list[str] = []
        for entry in execution.get("nodelist", []):
            names.extend(Hostlist(entry))
        self._has_nodelist = bool(names)
        found: list[tuple[int, frozenset, frozenset]] = []
        for entry in execution.get("R_lite", []):
            children = entry.get("children", {})
            cores = _ids(children["core"]) if "core" in children else frozenset()
            gpus = _ids(children["gpu"]) if "gpu" in children else frozenset()
            found.extend((rank, cores, gpus) for rank in IDset(entry["rank"]))
        found.sort(key=lambda item: item[0])
        for position, (rank, cores, gpus) in enumerate(found):
            host = names[position] if position < len(names) else f"rank{rank}"
            self._nodes[rank] = _Node(host, cores, gpus)
        self._properties = {name: set(IDset(ranks))
                            for name, ranks in execution.get("properties", {}).items()}

    # -- building ---------------------------------------------------------

    def _derive(self, nodes: dict[int, _Node], properties: dict[str, set[int]]) -> Rv1Set:
        """A new set sharing this one's times and nodelist flag (not nslots/scheduling)."""
        new = type(self)()
        new._nodes = nodes
        new._properties = properties
        new._expiration = self._expiration
        new._starttime = self._starttime
        new._has_nodelist = self._has_nodelist
        return new

    def _restricted(self, ranks: set[int]) -> Rv1Set:
        nodes = {r: n for r, n in self._nodes.items() if r in ranks}
        kept = set(nodes)
        props = {p: rs & kept for p, rs in self._properties.items() if rs & kept}
        return self._derive(nodes, props)

    def _merge_nodes(self, other: Rv1Set) -> set[int]:
        """ID-level union of ``other``'s nodes into this set; the ranks that were new."""
        new_ranks = set()
        for rank, node in other._nodes.items():
            mine = self._nodes.get(rank)
            if mine is None:
                self._nodes[rank] = node
                new_ranks.add(rank)
            else:
                self._nodes[rank] = mine._replace(cores=mine.cores | node.cores,
                                                  gpus=mine.gpus | node.gpus)
        self._has_nodelist = self._has_nodelist or other._has_nodelist
        return new_ranks

    # -- the ResourceSetImplementation interface --------------------------

    def dumps(self) -> str:
        """``rank[0-1]/core[0-3] rank2/core0,gpu1``: ranks grouped by identical children."""
        groups: dict[tuple[frozenset, frozenset], list[int]] = {}
        for rank, node in self._nodes.items():
            groups.setdefault((node.cores, node.gpus), []).append(rank)
        parts = []
        for (cores, gpus), ranks in sorted(groups.items(), key=lambda g: min(g[1])):
            text = f"rank{_idset_text(ranks, True)}/core{_idset_text(cores, True)}"
            if gpus:
                text += f",gpu{_idset_text(gpus, True)}"
            parts.append(text)
        return " ".join(parts)

    def encode(self) -> str:
        return json.dumps(self.to_dict())

    def to_dict(self) -> dict:
        """R v1 as a dict: R_lite entries group ranks with identical children."""
        groups: dict[tuple[frozenset, frozenset], list[int]] = {}
        for rank, node in self._nodes.items():
            groups.setdefault((node.cores, node.gpus), []).append(rank)
        R_lite = []
        for (cores, gpus), ranks in sorted(groups.items(), key=lambda g: min(g[1])):
            children = {"core": _idset_text(cores)}
            if gpus:
                children["gpu"] = _idset_text(gpus)
            R_lite.append({"rank": _idset_text(ranks), "children": children})
        execution: dict[str, Any] = {
            "R_lite": R_lite,
            "starttime": self._starttime,
            "expiration": self._expiration,
        }
        if self._nslots > 0:
            execution["nslots"] = self._nslots
        if self._has_nodelist:
            execution["nodelist"] = [str(self.nodelist())]
        if self._properties:
            execution["properties"] = {p: _idset_text(rs)
                                       for p, rs in sorted(self._properties.items()) if rs}
        result: dict[str, Any] = {"version": 1, "execution": execution}
        if self._scheduling:
            result["scheduling"] = self._scheduling
        return result

    def nodelist(self) -> Hostlist:
        return Hostlist([self._nodes[r].hostname for r in sorted(self._nodes)])

    def ranks(self) -> IDset:
        return IDset(sorted(self._nodes))

    def nnodes(self) -> int:
        return len(self._nodes)

    def count(self, name: str) -> int:
        """Cores (``"core"``) or gpus (``"gpu"``) over all ranks; 0 for other names."""
        if name == "core":
            return sum(len(n.cores) for n in self._nodes.values())
        if name == "gpu":
            return sum(len(n.gpus) for n in self._nodes.values())
        return 0

    def copy(self) -> Rv1Set:
        return self._restricted(set(self._nodes))

    def copy_ranks(self, ranks: Any) -> Rv1Set:
        return self._restricted(set(ranks if isinstance(ranks, IDset) else IDset(ranks)))

    def union(self, rset: Rv1Set) -> Rv1Set:
        new = self.copy()
        new._merge_nodes(rset)
        for prop, ranks in rset._properties.items():
            new._properties[prop] = new._properties.get(prop, set()) | ranks
        return new

    def diff(self, rset: Rv1Set) -> Rv1Set:
        """Core/gpu-level difference; ranks left with nothing are dropped."""
        nodes = {}
        for rank, node in self._nodes.items():
            theirs = rset._nodes.get(rank)
            if theirs is None:
                nodes[rank] = node
                continue
            left = node._replace(cores=node.cores - theirs.cores, gpus=node.gpus - theirs.gpus)
            if left.cores or left.gpus:
                nodes[rank] = left
        kept = set(nodes)
        props = {p: rs & kept for p, rs in self._properties.items() if rs & kept}
        return self._derive(nodes, props)

    def intersect(self, rset: Rv1Set) -> Rv1Set:
        """The ranks in both sets, with this set's children."""
        return self._restricted(set(self._nodes) & set(rset._nodes))

    def append(self, rset: Rv1Set) -> None:
        self._merge_nodes(rset)
        for prop, ranks in rset._properties.items():
            self._properties.setdefault(prop, set()).update(ranks)

    def add(self, rset: Rv1Set) -> None:
        """As append, but properties come along only for ranks new to this set."""
        new_ranks = self._merge_nodes(rset)
        for prop, ranks in rset._properties.items():
            if ranks & new_ranks:
                self._properties.setdefault(prop, set()).update(ranks & new_ranks)

    def remove_ranks(self, ranks: Any) -> Rv1Set:
        for rank in ranks if isinstance(ranks, IDset) else IDset(ranks):
            self._nodes.pop(rank, None)
            for prop_ranks in self._properties.values():
                prop_ranks.discard(rank)
        return self

    def set_property(self, name: str, ranks: Any = None) -> Rv1Set:
        """Give property ``name`` to ``ranks`` (all ranks if None); ValueError for a bad
        name or ranks outside the set."""
        if "^" in name:
            raise ValueError(f"invalid property name {name!r}: '^' is reserved for "
                             "constraint negation")
        if not name:
            raise ValueError("property name must not be empty")
        if ranks is None:
            target = set(self._nodes)
        else:
            try:
                target = set(IDset(str(ranks)))
            except Exception as exc:
                raise ValueError(f"invalid rank idset {ranks!r}: {exc}") from exc
            unknown = target - set(self._nodes)
            if unknown:
                raise ValueError(f"ranks {_idset_text(unknown)} not in resource set")
        self._properties.setdefault(name, set()).update(target)
        return self

    def get_properties(self) -> str:
        return json.dumps({p: _idset_text(rs) for p, rs in self._properties.items() if rs})

    def get_expiration(self) -> float:
        return self._expiration

    def set_expiration(self, expiration: float) -> None:
        self._expiration = float(expiration)

    def get_starttime(self) -> float:
        return self._starttime

    def set_starttime(self, starttime: float) -> None:
        self._starttime = float(starttime)

    @property
    def scheduling(self) -> Any:
        """R's opaque ``scheduling`` key (kept only with ``keep_scheduling=True``)."""
        return self._scheduling

    @scheduling.setter
    def scheduling(self, value: Any) -> None:
        self._scheduling = value

    # -- RFC 31 constraints -----------------------------------------------

    def copy_constraint(self, constraint: Any) -> Rv1Set:
        """The ranks matching an RFC 31 constraint (dict or JSON text)."""
        if isinstance(constraint, str):
            constraint = json.loads(constraint)
        return self._restricted({rank for rank, node in self._nodes.items()
                                 if self._matches(rank, node, constraint)})

    def _matches(self, rank: int, node: _Node, constraint: dict) -> bool:
        op: Optional[str] = next((o for o in _CONSTRAINT_OPS if o in constraint), None)
        if op is None:
            raise ValueError(f"unknown constraint operator(s): {list(constraint.keys())}")
        value = constraint[op]
        if op == "properties":
            for prop in value:
                if not isinstance(prop, str):
                    raise ValueError("property constraint must be a string, "
                                     f"got {type(prop).__name__}")
                negated = prop.startswith("^")
                has = rank in self._properties.get(prop[1:] if negated else prop, set())
                if has == negated:
                    return False
            return True
        if op == "hostlist":
            return node.hostname in Hostlist(value)
        if op == "ranks":
            return rank in IDset(value)
        if op == "not":
            if not isinstance(value, list) or not value:
                raise ValueError(f"'not' operand must be a non-empty list, got {value!r}")
            return not self._matches(rank, node, value[0])
        if not isinstance(value, list):
            raise ValueError(f"'{op}' operand must be a list, got {type(value).__name__}")
        results = (self._matches(rank, node, c) for c in value)
        return all(results) if op == "and" else any(results)

"""``ResourceSet``: the version-independent face of a resource set (flux-core's
``flux.resource.ResourceSet``), delegating to an implementation such as Rv1Set."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Optional

from flux.hostlist import Hostlist
from flux.idset import IDset
from flux.resource.ResourceSetImplementation import ResourceSetImplementation
from flux.resource.Rv1Set import Rv1Set

__all__ = ["ResourceSet"]


class ResourceSet:
    """A resource set from R (JSON text or dict), an implementation, or nothing (empty).

    TypeError for other arguments, ValueError for an R version other than 1, KeyError
    for a dict without ``version``, ``json.JSONDecodeError`` for bad JSON text.
    """

    def __init__(self, arg: Any = None, version: int = 1, **kwargs: Any) -> None:
        self._state: Optional[str] = None
        if isinstance(arg, ResourceSetImplementation):
            self.impl: Any = arg
            self.version = arg.version
            return
        if isinstance(arg, str):
            arg = json.loads(arg)
        if isinstance(arg, Mapping):
            version = arg["version"]
        elif arg is not None:
            raise TypeError(f"ResourceSet cannot be instantiated from {type(arg)}")
        if version != 1:
            raise ValueError(f"R version {version} not supported")
        self.version = 1
        self.impl = Rv1Set(arg, **kwargs)

    def _coerce(self, arg: Any) -> ResourceSet:
        return arg if isinstance(arg, ResourceSet) else ResourceSet(arg, version=self.version)

    def __str__(self) -> str:
        return self.dumps()

    def __and__(self, arg: Any) -> ResourceSet:
        return self.intersect(arg)

    def __sub__(self, arg: Any) -> ResourceSet:
        return self.diff(arg)

    def __or__(self, arg: Any) -> ResourceSet:
        return self.union(arg)

    def dumps(self) -> str:
        """Short form: ``rank[0-1]/core[0-3]``."""
        return str(self.impl.dumps())

    def encode(self) -> str:
        """R as JSON text."""
        return str(self.impl.encode())

    def count(self, name: str) -> int:
        """How many ``name`` (``"core"``, ``"gpu"``) the set holds."""
        return int(self.impl.count(name))

    def append(self, *args: Any) -> ResourceSet:
        for arg in args:
            self.impl.append(self._coerce(arg).impl)
        return self

    def add(self, *args: Any) -> ResourceSet:
        """Add resources not already in the set."""
        for arg in args:
            self.impl.add(self._coerce(arg).impl)
        return self

    def copy(self) -> ResourceSet:
        rset = ResourceSet(self.impl.copy())
        rset.state = self.state
        return rset

    def _run_op(self, method: str, *args: Any) -> ResourceSet:
        result = self.copy()
        for arg in args:
            result = ResourceSet(getattr(result.impl, method)(self._coerce(arg).impl))
        result.state = self.state
        return result

    def union(self, *args: Any) -> ResourceSet:
        return self._run_op("union", *args)

    def diff(self, *args: Any) -> ResourceSet:
        return self._run_op("diff", *args)

    def intersect(self, *args: Any) -> ResourceSet:
        return self._run_op("intersect", *args)

    def copy_constraint(self, constraint: Any) -> ResourceSet:
        """The resources matching an RFC 31 constraint (dict or JSON text)."""
        return ResourceSet(self.impl.copy_constraint(constraint))

    def set_property(self, name: str, ranks: Any = None) -> ResourceSet:
        """Give property ``name`` to ``ranks`` (every rank if None)."""
        if ranks is None:
            ranks = str(self.ranks)
        self.impl.set_property(name, ranks)
        return self

    def get_properties(self) -> str:
        """The RFC 20 properties object as JSON text."""
        return str(self.impl.get_properties())

    def remove_ranks(self, ranks: Any) -> ResourceSet:
        if not isinstance(ranks, IDset):
            ranks = IDset(ranks)
        self.impl.remove_ranks(ranks)
        return self

    def copy_ranks(self, ranks: Any) -> ResourceSet:
        if not isinstance(ranks, IDset):
            ranks = IDset(ranks)
        rset = ResourceSet(self.impl.copy_ranks(ranks))
        rset.state = self.state
        return rset

    def host_ranks(self, hosts: Any, ignore_nomatch: bool = False) -> list[int]:
        """The ranks of ``hosts``, in their order; FileNotFoundError for unknown hosts
        unless ``ignore_nomatch``."""
        if not isinstance(hosts, Hostlist):
            hosts = Hostlist(hosts)
        ranks = list(self.ranks)
        return [ranks[i] for i in self.nodelist.index(hosts, ignore_nomatch=ignore_nomatch)]

    @property
    def nodelist(self) -> Hostlist:
        return self.impl.nodelist()

    @property
    def state(self) -> Optional[str]:
        """A label such as ``"up"`` that ``flux resource list`` shows."""
        return self._state

    @state.setter
    def state(self, value: Optional[str]) -> None:
        self._state = value

    @property
    def ranks(self) -> IDset:
        return self.impl.ranks()

    @property
    def nnodes(self) -> int:
        return int(self.impl.nnodes())

    @property
    def ncores(self) -> int:
        return int(self.impl.count("core"))

    @property
    def ngpus(self) -> int:
        return int(self.impl.count("gpu"))

    @property
    def rlist(self) -> str:
        return str(self.impl.dumps())

    @property
    def properties(self) -> str:
        return ",".join(json.loads(self.get_properties()).keys())

    def to_dict(self) -> dict:
        return self.impl.to_dict()

    @property
    def expiration(self) -> float:
        return float(self.impl.get_expiration())

    @expiration.setter
    def expiration(self, expiration: float) -> None:
        self.impl.set_expiration(expiration)

    @property
    def starttime(self) -> float:
        return float(self.impl.get_starttime())

    @starttime.setter
    def starttime(self, starttime: float) -> None:
        self.impl.set_starttime(starttime)

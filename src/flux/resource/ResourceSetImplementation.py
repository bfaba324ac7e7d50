"""The interface a :class:`~flux.resource.ResourceSet` needs from an R version's
implementation (flux-core's ``ResourceSetImplementation`` ABC)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

__all__ = ["ResourceSetImplementation"]


class ResourceSetImplementation(ABC):
    """One R version's resource set: text forms, counts, set algebra, properties."""

    version = 0

    @abstractmethod
    def dumps(self) -> str:
        """Short human-readable form (``rank[0-1]/core[0-3]``)."""

    @abstractmethod
    def encode(self) -> str:
        """R as JSON text."""

    @abstractmethod
    def nodelist(self) -> Any:
        """Hostnames in rank order (a Hostlist)."""

    @abstractmethod
    def ranks(self) -> Any:
        """Ranks (an IDset)."""

    @abstractmethod
    def get_properties(self) -> str:
        """RFC 20 properties object as JSON text."""

    @abstractmethod
    def nnodes(self) -> int: ...

    @abstractmethod
    def count(self, name: str) -> int: ...

    @abstractmethod
    def copy(self) -> ResourceSetImplementation: ...

    @abstractmethod
    def copy_ranks(self, ranks: Any) -> ResourceSetImplementation: ...

    @abstractmethod
    def union(self, rset: Any) -> ResourceSetImplementation: ...

    @abstractmethod
    def intersect(self, rset: Any) -> ResourceSetImplementation: ...

    @abstractmethod
    def diff(self, rset: Any) -> ResourceSetImplementation: ...

    @abstractmethod
    def append(self, rset: Any) -> None: ...

    @abstractmethod
    def add(self, rset: Any) -> None: ...

    @abstractmethod
    def remove_ranks(self, ranks: Any) -> Any: ...

    @abstractmethod
    def get_expiration(self) -> float: ...

    @abstractmethod
    def set_expiration(self, expiration: float) -> None: ...

    @abstractmethod
    def get_starttime(self) -> float: ...

    @abstractmethod
    def set_starttime(self, starttime: float) -> None: ...

"""``flux.util.Deduplicator``: fold items whose formatted lines are identical (apart
from fields such as a node count that the caller combines)."""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Iterator, Optional

__all__ = ["Deduplicator"]


class Deduplicator:
    """Items appended with a line already seen (formatted by ``formatter`` without
    ``except_fields``) are passed to ``combine(existing, new)`` instead of kept.

    ``formatter`` is an OutputFormat with flux-core's
    ``copy(except_fields=, nullify_expansion=)``.
    """

    def __init__(self, formatter: Any, except_fields: Optional[list[str]] = None,
                 combine: Optional[Callable[[Any, Any], Any]] = None) -> None:
        self.formatter = formatter.copy(except_fields=except_fields, nullify_expansion=True)
        self.combine = combine
        self.hash: dict[str, Any] = {}
        self.items: list[Any] = []
        self._iter: Optional[Iterator[Any]] = None

    def __iter__(self) -> Deduplicator:
        if self._iter is None:
            self._iter = iter(self.items)
        return self

    def __next__(self) -> Any:
        assert self._iter is not None
        try:
            return next(self._iter)
        except StopIteration:  # the next iteration starts over
            self._iter = None
            raise

    def append(self, item: Any) -> None:
        key = self.formatter.format(item)
        if key in self.hash:
            if self.combine is not None:
                self.combine(self.hash[key], item)
        else:
            self.hash[key] = item
            self.items.append(item)

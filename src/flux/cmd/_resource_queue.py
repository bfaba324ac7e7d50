"""``flux resource -q/--queue QUEUE,...``: the ranks of the named queues, as flux-core's
``ranks_by_queue``: a queue's resources are those with all of its ``requires``
properties (pureflux's R carries none, so a queue that requires any has no ranks),
else all of them; an unknown queue is ``--queue: NAME: no such queue``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

__all__ = ["queue_ranks", "queue_names"]


def queue_names(values: list[str]) -> list[str]:
    """``-q`` values (repeatable, comma-separated) as one list."""
    return [name for value in values for name in value.split(",") if name]


def queue_ranks(config: Any, queues: list[str], all_ranks: set[int]) -> set[int]:
    configured = config.get("queues") if isinstance(config, dict) else None
    configured = configured if isinstance(configured, dict) else {}
    ranks: set[int] = set()
    for name in queues:
        if name not in configured:
            raise ValueError(f"--queue: {name}: no such queue")
        entry = configured[name]
        if not (isinstance(entry, dict) and "requires" in entry):
            ranks |= all_ranks
    return ranks

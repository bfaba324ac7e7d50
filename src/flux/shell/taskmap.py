"""RFC 34 task maps: which task ranks each shell (node) runs, and their compact
encoding (``[[nodeid, nnodes, ppn, repeat], ...]``) for the ``shell.start`` event."""

from __future__ import annotations

__all__ = ["block_counts", "encode", "task_ranges"]


def block_counts(slots: list[int], per_slot: int | None, total: int | None) -> list[int]:
    """Tasks per node, ``slots[i]`` slots on node i: ``per_slot`` tasks in each slot, or
    ``total`` tasks dealt out one per slot in node order, then again, until none is
    left (flux-core's block distribution)."""
    if total is None:
        return [n * (per_slot or 1) for n in slots]
    counts = [0] * len(slots)
    nslots = sum(slots)
    if nslots <= 0:
        return counts
    base, extra = divmod(total, nslots)
    i = 0
    for node, n in enumerate(slots):
        for _ in range(n):
            counts[node] += base + (1 if i < extra else 0)
            i += 1
    return counts


def task_ranges(counts: list[int]) -> list[range]:
    """The task ranks of each node (block: node 0 gets the first ones)."""
    out, first = [], 0
    for n in counts:
        out.append(range(first, first + n))
        first += n
    return out


def encode(counts: list[int]) -> dict:
    """The RFC 34 map object (version 1) of a block distribution."""
    blocks: list[list[int]] = []
    for node, ppn in enumerate(counts):
        if blocks and blocks[-1][2] == ppn and blocks[-1][3] == 1 \
                and blocks[-1][0] + blocks[-1][1] == node:
            blocks[-1][1] += 1
        else:
            blocks.append([node, 1, ppn, 1])
    return {"version": 1, "map": blocks}

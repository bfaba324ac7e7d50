"""Process mappings: PMI's ``PMI_process_mapping`` text and RFC 34's task map.

PMI writes ``(vector,(START,NNODES,PPN),...)``: NNODES nodes from node START,
PPN tasks each, blocks in task order.  RFC 34 (the ``broker.mapping``
attribute) writes the same blocks as ``[[START,NNODES,PPN,REPEAT],...]``.
"""

from __future__ import annotations

import json
import re

__all__ = ["parse_pmi", "to_pmi", "to_taskmap", "from_taskmap", "nodeid_of", "nodeids",
           "from_nodeids"]

_BLOCK = re.compile(r"\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)")


def parse_pmi(text: str) -> list[list[int]]:
    """``"(vector,(0,1,4))"`` -> ``[[0, 1, 4, 1]]`` (ValueError if malformed)."""
    text = text.strip()
    if not text.startswith("(vector,") or not text.endswith(")"):
        raise ValueError(f"not a PMI process mapping: {text!r}")
    body = text[len("(vector,"):-1]
    blocks = [[int(a), int(b), int(c), 1] for a, b, c in _BLOCK.findall(body)]
    if _BLOCK.sub("", body).strip(", ") or not blocks and body.strip():
        raise ValueError(f"not a PMI process mapping: {text!r}")
    return blocks


def to_pmi(blocks: list[list[int]]) -> str:
    """RFC 34 blocks -> PMI text (a REPEAT > 1 block is written REPEAT times)."""
    parts = []
    for start, nnodes, ppn, repeat in blocks:
        for i in range(repeat):
            parts.append(f"({start + i * nnodes},{nnodes},{ppn})")
    return "(vector," + ",".join(parts) + ")"


def to_taskmap(blocks: list[list[int]]) -> str:
    """The ``broker.mapping`` text (compact JSON)."""
    return json.dumps(blocks, separators=(",", ":"))


def from_taskmap(text: str) -> list[list[int]]:
    blocks = json.loads(text)
    if not isinstance(blocks, list) or not all(
            isinstance(b, list) and len(b) == 4 and all(isinstance(x, int) for x in b)
            for b in blocks):
        raise ValueError(f"not an RFC 34 task map: {text!r}")
    return blocks


def nodeid_of(blocks: list[list[int]], task: int) -> int:
    """The node a task (broker rank) runs on, -1 if the map does not cover it."""
    base = 0
    for start, nnodes, ppn, repeat in blocks:
        for r in range(repeat):
            count = nnodes * ppn
            if task < base + count:
                return start + r * nnodes + (task - base) // ppn
            base += count
    return -1


def _covered(blocks: list[list[int]]) -> int:
    return sum(nnodes * ppn * repeat for _, nnodes, ppn, repeat in blocks)


def nodeids(blocks: list[list[int]], size: int) -> list[int]:
    """The node of each of ``size`` tasks.  A PMI vector covering fewer tasks is
    applied cyclically, as MPICH reads it (hydra sends ``(vector,(0,1,1))``
    for any number of tasks on one node)."""
    covered = _covered(blocks)
    if covered <= 0:
        return [-1] * size
    return [nodeid_of(blocks, t % covered) for t in range(size)]


def from_nodeids(nodes: list[int]) -> list[list[int]]:
    """The RFC 34 blocks of a node-per-task list (runs of one node, then runs of
    equal runs on consecutive nodes)."""
    runs: list[list[int]] = []  # [node, count]
    for n in nodes:
        if runs and runs[-1][0] == n:
            runs[-1][1] += 1
        else:
            runs.append([n, 1])
    blocks: list[list[int]] = []
    for node, count in runs:
        last = blocks[-1] if blocks else None
        if last and last[3] == 1 and last[2] == count and last[0] + last[1] == node:
            last[1] += 1
        else:
            blocks.append([node, 1, count, 1])
    return blocks

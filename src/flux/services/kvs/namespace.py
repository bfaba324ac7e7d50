"""A KVS namespace: its root, its version, who owns it, and what waits on it.

flux-core calls this a *kvsroot*.  The root reference and sequence number
(``rootref``, ``rootseq``) move together when a transaction is applied; the
ready queue holds transactions not yet applied, in arrival order (flux-core
applies and merges them in that order); version waiters are the
``kvs.wait-version`` requests parked until ``rootseq`` reaches theirs.
"""

from __future__ import annotations

import errno

from flux.constants import FLUX_KVS_NO_MERGE, FLUX_KVS_SYNC, FLUX_ROLE_OWNER, FLUX_ROLE_USER

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from flux.message import Message

__all__ = ["PRIMARY", "Namespace", "Transaction"]

#: the namespace every instance has, owned by the instance owner, never removed
PRIMARY = "primary"

_NO_MERGE = FLUX_KVS_NO_MERGE | FLUX_KVS_SYNC  # SYNC implies NO_MERGE (it checkpoints alone)


class Transaction:
    """One ``kvs.commit`` (or a complete fence): ops to apply, requests to answer (or
    callbacks of services inside the broker)."""

    __slots__ = ("name", "ops", "flags", "requests")

    def __init__(self, name: str, ops: list, flags: int, requests: list) -> None:
        self.name = name
        self.ops = ops
        self.flags = flags
        self.requests = requests

    @property
    def mergeable(self) -> bool:
        return not self.flags & _NO_MERGE


class Namespace:
    """The state of one namespace (see the module docstring)."""

    __slots__ = ("name", "owner", "flags", "rootref", "seq", "removed", "ready", "waiters")

    def __init__(self, name: str, owner: int, rootref: str, seq: int = 0, flags: int = 0) -> None:
        self.name = name
        self.owner = owner
        self.flags = flags
        self.rootref = rootref
        self.seq = seq
        self.removed = False
        self.ready: list[Transaction] = []
        self.waiters: list[tuple[int, Message]] = []

    def check_user(self, msg: Message) -> None:
        """EPERM unless the sender is the instance owner or this namespace's owning user."""
        rolemask = msg.rolemask
        if rolemask & FLUX_ROLE_OWNER:
            return
        if rolemask & FLUX_ROLE_USER and msg.userid == self.owner:
            return
        raise OSError(errno.EPERM, "Operation not permitted")

    def next_batch(self) -> list[Transaction]:
        """The transactions to apply next: the first ready one, merged with those after it
        that can merge (same flags, neither NO_MERGE nor SYNC), up to the first that cannot
        (merging around it would reorder writes)."""
        ready = self.ready
        first = ready[0]
        batch = [first]
        if first.mergeable:
            for txn in ready[1:]:
                if not txn.mergeable or txn.flags != first.flags:
                    break
                batch.append(txn)
        return batch

    def take_waiters(self, force: bool = False) -> list[Message]:
        """The ``wait-version`` requests now satisfied (all of them if ``force``)."""
        if not self.waiters:
            return []
        done = [m for seq, m in self.waiters if force or seq <= self.seq]
        if done:
            self.waiters = [] if force else [(s, m) for s, m in self.waiters if s > self.seq]
        return done

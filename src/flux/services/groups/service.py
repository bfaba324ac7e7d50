"""Broker groups on rank 0, as flux-core 0.88's groups module answers there: named sets
of ranks (``broker.online``, ``broker.torpid``...) that the ranks below update with
``groups.update`` (no response; pureflux's ranks and flux-core's groups module alike),
that clients read with ``groups.get`` (streaming: every change), and that rank 0's own
clients join and leave.  A subtree the overlay loses leaves every group.

flux-core runs the module on every rank, each batching its subtree's updates upstream;
here only rank 0 keeps groups (the ranks between pass ``groups.update`` up unchanged,
as UPSTREAM requests without a local service go).  Sans-I/O: the wiring passes
``respond``/``respond_error``; requests are decoded here.
"""

from __future__ import annotations

import errno

from flux.constants import FLUX_MSGFLAG_STREAMING, FLUX_ROLE_LOCAL
from flux.message import Message
from flux.services.resource.rv1 import idset_decode, idset_encode

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

__all__ = ["GroupsService"]


def _name(msg: Message) -> str:
    obj = msg.payload_json()
    name = obj.get("name") if isinstance(obj, dict) else None
    if not isinstance(name, str):
        raise OSError(errno.EPROTO, "error decoding request")
    return name


class GroupsService:
    """Group membership of the whole instance (rank 0)."""

    def __init__(self, rank: int, respond: Callable[[Message, Any], None],
                 respond_error: Callable[[Message, int, Optional[str]], None]) -> None:
        self.rank = rank
        self.respond = respond
        self.respond_error = respond_error
        self.groups: dict[str, set[int]] = {}
        self.watchers: dict[str, list[Message]] = {}
        #: group name -> the request of the local client that joined it
        self.joined: dict[str, Message] = {}
        #: called with (group, ranks added, ranks removed) after each change
        self.on_change: Optional[Callable[[str, set[int], set[int]], None]] = None

    # -- membership --------------------------------------------------------------------

    def members(self, name: str) -> set[int]:
        return self.groups.setdefault(name, set())

    def apply(self, name: str, ranks: set[int], join: bool) -> None:
        """Ranks join (or leave) ``name``; its watchers hear of any change."""
        members = self.members(name)
        changed = ranks - members if join else ranks & members
        if not changed:
            return
        if join:
            members |= changed
        else:
            members -= changed
        for msg in self.watchers.get(name, []):
            self._get_respond(msg, name)
        if self.on_change is not None:
            self.on_change(name, changed if join else set(), set() if join else changed)

    def lost(self, ranks: set[int]) -> None:
        """A subtree went away (lost or offline): it leaves every group."""
        for name in list(self.groups):
            self.apply(name, ranks, False)

    # -- requests ----------------------------------------------------------------------

    def update(self, msg: Message) -> None:
        """``groups.update`` (no response): ``{"update": {NAME: [{"ranks","set"}...]}}``
        (one object in place of the list is taken too, as flux-core's batch_append)."""
        obj = msg.payload_json()
        update = obj.get("update") if isinstance(obj, dict) else None
        if not isinstance(update, dict):
            raise OSError(errno.EPROTO, "error decoding groups.update request")
        for name, ops in update.items():
            for op in ops if isinstance(ops, list) else [ops]:
                if not isinstance(op, dict) or not isinstance(op.get("ranks"), str) \
                        or not isinstance(op.get("set"), bool):
                    raise OSError(errno.EPROTO, "error decoding groups.update request")
                self.apply(name, idset_decode(op["ranks"]), op["set"])

    def get(self, msg: Message) -> None:
        """``groups.get``: ``{"members": IDSET}``; streaming, again at every change."""
        name = _name(msg)
        if self.rank != 0:
            raise OSError(errno.EPROTO, "this RPC is only available on rank 0")
        self._get_respond(msg, name)
        if msg.flags & FLUX_MSGFLAG_STREAMING:
            self.watchers.setdefault(name, []).append(msg)

    def _get_respond(self, msg: Message, name: str) -> None:
        self.respond(msg, {"members": idset_encode(self.members(name))})

    def join(self, msg: Message) -> None:
        """``groups.join``: this broker's rank joins (a local client only, once)."""
        name = _name(msg)
        if not msg.rolemask & FLUX_ROLE_LOCAL:
            raise OSError(errno.EPROTO, "groups.join is restricted to the local broker")
        if name in self.joined:
            raise OSError(errno.EEXIST, f"rank {self.rank} is already a member of {name}")
        self.joined[name] = msg.copy(payload=False)
        self.respond(msg, None)
        self.apply(name, {self.rank}, True)

    def leave(self, msg: Message) -> None:
        """``groups.leave``: this broker's rank leaves what a local client joined."""
        name = _name(msg)
        if not msg.rolemask & FLUX_ROLE_LOCAL:
            raise OSError(errno.EPROTO, "groups.leave is restricted to the local broker")
        if self.joined.pop(name, None) is None:
            raise OSError(errno.ENOENT, f"rank {self.rank} is not a member of {name}")
        self.respond(msg, None)
        self.apply(name, {self.rank}, False)

    def stats(self, msg: Message) -> None:
        """``groups.stats-get``: every group's members."""
        self.respond(msg, {"subtree": {name: idset_encode(m)
                                       for name, m in self.groups.items()}})

    def disconnect(self, msg: Message) -> None:
        """A client went away: its streams end, what it joined it leaves."""
        sender = msg.route_first
        for name, reqs in self.watchers.items():
            self.watchers[name] = [m for m in reqs if m.route_first != sender]
        for name, req in list(self.joined.items()):
            if req.route_first == sender:
                del self.joined[name]
                self.apply(name, {self.rank}, False)

    def close(self) -> None:
        """At shutdown the streams end (ENOSYS, as a module unload would)."""
        for reqs in self.watchers.values():
            for msg in reqs:
                self.respond_error(msg, errno.ENOSYS, None)
        self.watchers.clear()

"""The PMI barrier of a job of several shells: a gather up a k-ary tree of shells
(fanout 2 unless ``-o pmi-simple.exchange.k=K``) and the merged dictionary back down,
as flux-core's shell exchanges it.

Each shell serves ``<uid>-shell-<id>.pmi-exchange`` on its broker: a child shell,
once its own tasks and all of its children have entered the barrier, sends its
gathered puts (a JSON object) to its parent shell's broker; the root answers with
everything, and each shell passes that answer down to the children that asked.
One exchange at a time (a shell's tasks cannot enter a second barrier before the
first is released).
"""

from __future__ import annotations

import errno

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

__all__ = ["Exchange", "kary_parent", "kary_children"]

DEFAULT_K = 2


def kary_parent(k: int, rank: int) -> int:
    """The parent of ``rank`` in a k-ary tree rooted at 0 (-1 for the root)."""
    return -1 if rank == 0 else (rank - 1) // k


def kary_children(k: int, rank: int, size: int) -> list[int]:
    return [c for c in range(k * rank + 1, k * rank + k + 1) if c < size]


class _Session:
    __slots__ = ("entries", "requests", "local", "future", "callback", "error")

    def __init__(self) -> None:
        self.entries: dict[str, str] = {}
        self.requests: list[Any] = []
        self.local = False
        self.future: Any = None
        self.callback: Optional[Callable[[Optional[dict[str, str]]], None]] = None
        self.error = False


class Exchange:
    """``start(puts, done)`` joins this shell's puts to the exchange; ``done(entries)``
    gets everything every shell put (None if the exchange failed)."""

    def __init__(self, h: Any, service: str, shell_rank: int, broker_ranks: list[int],
                 k: int = DEFAULT_K, warn: Optional[Callable[[str], None]] = None) -> None:
        size = len(broker_ranks)
        self.h = h
        self.topic = f"{service}.pmi-exchange"
        self.rank = shell_rank
        self.k = min(k, size) if k > 0 else DEFAULT_K
        self.k = max(self.k, 1)
        parent = kary_parent(self.k, shell_rank)
        self.parent_nodeid = broker_ranks[parent] if parent >= 0 else -1
        self.child_count = len(kary_children(self.k, shell_rank, size))
        self.warn = warn or (lambda text: None)
        self.session: Optional[_Session] = None
        self.watcher: Any = None

    def register(self) -> None:
        """Watch for the children's requests (the service itself is the shell's)."""
        from flux.constants import FLUX_MSGTYPE_REQUEST

        if self.child_count:
            self.watcher = self.h.msg_watcher_create(self._request, FLUX_MSGTYPE_REQUEST,
                                                     self.topic)
            self.watcher.start()

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None

    def start(self, puts: dict[str, str],
              done: Callable[[Optional[dict[str, str]]], None]) -> None:
        ses = self.session or _Session()
        self.session = ses
        if ses.local:
            raise OSError(errno.EINPROGRESS, "PMI exchange already in progress")
        ses.local = True
        ses.callback = done
        ses.entries.update(puts)
        self._process(ses)

    def _request(self, h: Any, watcher: Any, msg: Any, args: Any) -> None:
        try:
            entries = msg.payload_json()
            if not isinstance(entries, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in entries.items()):
                raise ValueError
        except (ValueError, TypeError, AttributeError):
            self.h.respond_error(msg, errno.EPROTO, "malformed pmi-exchange request")
            return
        ses = self.session or _Session()
        self.session = ses
        if len(ses.requests) >= self.child_count:
            self.h.respond_error(msg, errno.EINPROGRESS,
                            "pmi-exchange received too many child requests")
            return
        ses.entries.update(entries)
        ses.requests.append(msg)
        self._process(ses)

    def _response(self, future: Any, ses: _Session) -> None:
        try:
            entries = future.get()
            if not isinstance(entries, dict):
                raise OSError(errno.EPROTO, "malformed pmi-exchange response")
            ses.entries.update(entries)
        except OSError as exc:
            self.warn(f"pmi-exchange request: {exc.strerror or exc}")
            ses.error = True
        self._process(ses)

    def _process(self, ses: _Session) -> None:
        if not ses.error:
            if not ses.local or len(ses.requests) < self.child_count:
                return  # waiting for this shell's tasks or for a child
            if self.parent_nodeid >= 0 and ses.future is None:
                try:
                    ses.future = self.h.rpc(self.topic, ses.entries, nodeid=self.parent_nodeid)
                    ses.future.then(self._response, ses)
                except OSError as exc:
                    self.warn(f"error sending pmi-exchange request: {exc.strerror}")
                    ses.error = True
                else:
                    return  # the parent's answer calls back here
            for msg in ses.requests:
                self.h.respond(msg, ses.entries)
            ses.requests.clear()
        for msg in ses.requests:  # on error: the children fail too
            self.h.respond_error(msg, errno.EIO, "pmi-exchange failed")
        self.session = None
        if ses.callback is not None:
            ses.callback(None if ses.error else ses.entries)

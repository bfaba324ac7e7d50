"""One namespace's watchers, indexed by the rule that says which ones a commit concerns.

flux-core's rule: after a commit, a WATCH_FULL watcher looks its key up again
whatever the commit changed (its key may be reached through a directory or a
symlink the commit replaced); any other watcher looks again only if the
commit's ``keys`` (the normalized keys of its operations) name its key
exactly.  So the non-FULL watchers sit in a dict by key, and a commit costs
one dict lookup per key it names, however many watchers there are.
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterable

    from flux.services.kvs_watch.watcher import Watcher

__all__ = ["Monitor"]


class Monitor:
    """The watchers of namespace ``name`` (dicts as ordered sets: removal is O(1))."""

    __slots__ = ("by_key", "full", "name", "watchers")

    def __init__(self, name: str) -> None:
        self.name = name
        self.watchers: dict[Watcher, None] = {}  # in arrival order
        self.by_key: dict[str, dict[Watcher, None]] = {}
        self.full: dict[Watcher, None] = {}

    def __len__(self) -> int:
        return len(self.watchers)

    def add(self, w: Watcher) -> None:
        self.watchers[w] = None
        if w.full:
            self.full[w] = None
        else:
            self.by_key.setdefault(w.key, {})[w] = None

    def remove(self, w: Watcher) -> None:
        self.watchers.pop(w, None)
        if w.full:
            self.full.pop(w, None)
            return
        same = self.by_key.get(w.key)
        if same is not None:
            same.pop(w, None)
            if not same:
                del self.by_key[w.key]

    def concerned(self, keys: Iterable[str]) -> list[Watcher]:
        """The watchers that look again after a commit that changed ``keys``."""
        found = list(self.full)
        by_key = self.by_key
        if by_key:
            for key in keys:
                same = by_key.get(key)
                if same:
                    found.extend(same)
        return found

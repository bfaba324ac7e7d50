"""Topic globs as message watchers and ``Flux.recv`` match them.

On its own so that watchers, dispatch and the handle share one matcher
without importing each other.
"""

from __future__ import annotations

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

__all__ = ["TopicMatcher"]


class TopicMatcher:
    """A topic glob: ``*`` and ``None`` match all, plain text matches exactly."""

    __slots__ = ("pattern", "exact", "_match")

    def __init__(self, pattern: Optional[str | bytes]) -> None:
        if isinstance(pattern, bytes):
            pattern = pattern.decode("utf-8", "surrogateescape")
        if pattern is not None and not isinstance(pattern, str):
            raise TypeError("topic_glob must be a str, bytes or None")
        self.pattern = pattern
        self.exact: Optional[str] = None
        self._match: Optional[Callable[[str], Any]] = None
        if pattern is None or pattern == "*":
            return
        if not any(c in pattern for c in "*?["):
            self.exact = pattern
            return
        # only a real glob pays for ``re`` (slow to import)
        import fnmatch
        import re

        self._match = re.compile(fnmatch.translate(pattern)).match

    def __call__(self, topic: Optional[str]) -> bool:
        if self.exact is not None:
            return topic == self.exact
        if self._match is None:
            return True
        return topic is not None and self._match(topic) is not None

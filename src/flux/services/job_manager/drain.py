"""``job-manager.drain`` and ``job-manager.idle`` (``flux queue drain``, ``idle``):
requests answered once no job is active, or nothing runs.
"""

from __future__ import annotations

from .base import ManagerBase

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable


class Drain(ManagerBase):
    """Drain and idle requests, answered when the jobs allow."""

    def drain_request(self, req: Any) -> None:
        """``job-manager.drain``: answered once no job is active."""
        self.drain_requests.append(req)
        self.drain_check()

    def idle_request(self, req: Any) -> None:
        """``job-manager.idle``: answered once nothing runs and no alloc is pending."""
        self.idle_requests.append(req)
        self.drain_check()

    def drain_check(self) -> None:
        if not self.drain_requests and not self.idle_requests:
            return
        if not self.active:
            for req in self.drain_requests:
                self.out.append(("respond-committed", req, None))
            self.drain_requests = []
        if self.idle_requests and not self.sent:
            running = self.running_count()
            if running == 0:
                pending = len(self.active) - running
                for req in self.idle_requests:
                    self.out.append(("respond-committed", req, {"pending": pending}))
                self.idle_requests = []

    def drain_disconnect(self, match: Callable[[Any], bool]) -> None:
        self.drain_requests = [r for r in self.drain_requests if not match(r)]
        self.idle_requests = [r for r in self.idle_requests if not match(r)]

"""``job-manager.events-journal``: every job event streamed to its listeners
(job-list follows it), after a backlog of the jobs known.
"""

from __future__ import annotations

import errno

from .base import ManagerBase, Refused
from .job import Job

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional


class Journal(ManagerBase):
    """Journal listeners and what each is sent."""

    def journal_request(self, req: Any, obj: dict) -> None:
        """``job-manager.events-journal``: the backlog, a sentinel, then every event."""
        allow, deny, full = obj.get("allow"), obj.get("deny"), obj.get("full", False)
        if allow is not None and not isinstance(allow, dict):
            raise Refused(errno.EPROTO, "job-manager.events allow should be an object")
        if deny is not None and not isinstance(deny, dict):
            raise Refused(errno.EPROTO, "job-manager.events deny should be an object")
        jobs = list(self.inactive.values()) if full else []
        jobs.extend(self.active.values())
        for job in jobs:
            events = [e for e in job.eventlog if _allowed(allow, deny, e["name"])]
            payload: dict = {"id": job.id, "events": events}
            if job.jobspec is not None:
                payload["jobspec"] = job.jobspec
            if job.R is not None:
                payload["R"] = job.R
            self.out.append(("respond", req, payload))
        # the end of the backlog: FLUX_JOBID_ANY, which jansson writes as -1
        self.out.append(("respond", req, {"id": -1, "events": []}))
        self.listeners.append((req, allow, deny))

    def journal_cancel(self, match: Callable[[Any], bool]) -> None:
        """``events-journal-cancel``: the first matching stream ends with ENODATA."""
        for index, entry in enumerate(self.listeners):
            if match(entry[0]):
                del self.listeners[index]
                self.out.append(("error", entry[0], errno.ENODATA, None))
                return

    def journal_disconnect(self, match: Callable[[Any], bool]) -> None:
        self.listeners = [entry for entry in self.listeners if not match(entry[0])]

    def _journal(self, job: Job, name: str, entry: dict) -> None:
        self.journal_events += 1
        if not self.listeners:
            return
        payload: dict = {"id": job.id, "events": [entry]}
        if name == "submit":
            payload["jobspec"] = job.jobspec
        elif name == "alloc":
            payload["R"] = job.R
        for req, allow, deny in self.listeners:
            if _allowed(allow, deny, name):
                self.out.append(("respond", req, payload))


def _allowed(allow: Optional[dict], deny: Optional[dict], name: str) -> bool:
    if allow is not None and name not in allow:
        return False
    return not (deny is not None and name in deny)

"""The exec interface (RFC 32): the exec service's hello, ``<service>.start``
requests and the responses of their streams, expiration updates.
"""

from __future__ import annotations

import errno

from . import job as J
from .base import ManagerBase, Refused
from .job import Job

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional


class ExecInterface(ManagerBase):
    """What is sent to the exec service, and its answers."""

    def exec_hello(self, obj: dict, sender: Optional[str]) -> None:
        service = obj.get("service")
        if not isinstance(service, str):
            raise Refused(errno.EPROTO)
        if self.start_topic is not None and any(j.start_pending for j in self.active.values()):
            raise Refused(errno.EINVAL)
        self.start_topic = f"{service}.start"
        self.exec_sender = sender
        for job in list(self.active.values()):
            if job.state == J.RUN:
                self._action(job)

    def exec_teardown(self) -> None:
        """The exec service went away: no start is pending any more."""
        if self.start_topic is None:
            return
        self.start_topic = None
        self.exec_sender = None
        for job in list(self.active.values()):
            if job.start_pending:
                if job.flags & J.FLAG_DEBUG:
                    self.post(job, "debug.start-lost", {"note": "exec service went away"})
                job.start_pending = False

    def _start(self, job: Job) -> None:
        if job.start_pending or self.start_topic is None:
            return
        self.out.append(("send", self.start_topic, {
            "id": job.id, "userid": job.userid, "jobspec": job.jobspec,
            "reattach": job.started, "R": job.R}))
        job.start_pending = True
        if job.flags & J.FLAG_DEBUG:
            self.post(job, "debug.start-request")

    def expiration_update_response(self, errnum: int) -> None:
        """The exec service's answer to the oldest ``<exec>.expiration``: a refusal is a
        non-fatal exec exception, as flux-core's."""
        if not self.expiration_sent:
            return
        job = self.active.get(self.expiration_sent.pop(0))
        if errnum and job is not None:
            self.raise_exception(job, "exec", 1, 0xFFFFFFFF,
                                 "failed to send expiration update to exec system: "
                                 "job termination may not coincide with expiration")

    def start_response(self, topic: Optional[str], obj: Any) -> None:
        """One response of the exec service's ``<service>.start`` stream."""
        if topic != self.start_topic:
            self.log(f"start: topic={topic} not registered")
            return
        try:
            jobid, kind, data = obj["id"], obj["type"], obj["data"]
        except (KeyError, TypeError):
            self.log("start response payload")
            return
        job = self.active.get(jobid)
        if job is None:
            self.log(f"start response: id={jobid} not active")
            return
        if kind == "start":
            if job.started:
                self.log(f"start response: id={jobid} should not get start event")
            else:
                self.post(job, "start")
        elif kind == "release":
            ranks, final = data.get("ranks"), data.get("final")
            if not isinstance(ranks, str) or not isinstance(final, bool):
                self.log("start: release response: malformed data")
                return
            if final:
                job.start_pending = False
            self.post(job, "release", {"ranks": ranks, "final": final})
        elif kind == "exception":
            severity, xtype, note = data.get("severity"), data.get("type"), data.get("note")
            if not isinstance(severity, int) or not isinstance(xtype, str):
                self.log("start: exception response: malformed data")
                return
            self.post(job, "exception", {"type": xtype, "severity": severity,
                                         "userid": self.owner, "note": note or ""})
        elif kind == "finish":
            status = data.get("status")
            if not isinstance(status, int):
                self.log("start: finish response: malformed data")
                return
            self.post(job, "finish", {"status": status})
        elif kind != "reattached":
            self.log(f"start: unknown response type={kind}")
            return
        self._sched_work()

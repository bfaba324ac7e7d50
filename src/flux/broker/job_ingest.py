"""The ``job-ingest`` service inside the broker: flux.services.job_ingest wired up.

Submissions are checked as they arrive (``Ingest.decode``); those accepted in
one loop iteration make one batch, as flux-core batches those that arrive
within its 10 ms window: one KVS commit for their ``J`` and ``jobspec``, then
one hand-over to the job-manager (a call, both being in the broker), whose
answer says which were refused.  Each request is answered ``{"id": N}`` once
its submit event is in the KVS, or with the error; a refused job's KVS
directory is removed again, as flux-core's job-ingest does.
"""

from __future__ import annotations

import errno

from flux.constants import FLUX_JOB_NOVALIDATE, FLUX_ROLE_OWNER, FLUX_ROLE_USER
from flux.message import Message
from flux.severity import LOG_ERR

from .job_manager import JobManagerService
from .kvs import KVS
from .loop import Loop
from .router import RequestError, Router

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

    from flux.services.job_ingest.ingest import Ingest, Submission
    from flux.services.job_ingest.plugins import Validation

__all__ = ["JobIngest"]


class JobIngest:
    """Registers ``job-ingest.submit``/``getinfo``; batches per loop iteration."""

    def __init__(self, router: Router, loop: Loop, kvs: KVS, job_manager: JobManagerService,
                 owner: int, rank: int, log: Callable[[int, str], Any]) -> None:
        self.router = router
        self.loop = loop
        self.kvs = kvs
        self.job_manager = job_manager
        self.owner = owner
        self.rank = rank
        self.log = log
        self._ingest: Optional[Ingest] = None
        self._batch: list[Submission] = []
        self.shutdown = False
        self._conf_reader: Any = None
        self._validation_for: Optional[tuple[Any, Validation]] = None
        svc = router.builtin("job-ingest")
        svc.method("submit", self.submit, FLUX_ROLE_USER)
        svc.method("getinfo", self.getinfo, 0)

    @property
    def ingest(self) -> Ingest:
        if self._ingest is None:
            from flux.services.job_ingest.ingest import Ingest

            self._ingest = Ingest(self.rank, self.owner,
                                  self.job_manager.core.getinfo()["max_jobid"])
        return self._ingest

    def submit(self, msg: Message) -> None:
        from flux.services.job_ingest.ingest import Refused

        if self.shutdown:
            raise RequestError(errno.ENOSYS)
        ingest = self.ingest
        conf = self._conf()
        validation = self._validation(conf)
        try:
            sub = ingest.decode(msg, msg.payload_json(), msg.userid,
                                bool(msg.rolemask & FLUX_ROLE_OWNER), validation)
        except Refused as exc:
            raise RequestError(exc.errnum, exc.text) from None
        self._apply_defaults(sub, conf, validation)
        ingest.number(sub)
        if not self._batch:
            self.loop.mark_dirty(self)
        self._batch.append(sub)

    def _conf(self) -> dict:
        """The instance configuration now (``flux config reload`` is seen at once)."""
        from .conf_reader import ConfReader

        if self._conf_reader is None:
            self._conf_reader = ConfReader(self.router, "job-ingest", self.owner)
        return self._conf_reader.get()

    def _validation(self, conf: dict) -> Validation:
        """The validator plugins ``[ingest.validator]`` names (kept while that table is
        unchanged); a configuration naming no such plugin is logged once."""
        from flux.services.job_ingest import plugins

        table = conf.get("ingest", {}).get("validator") if isinstance(
            conf.get("ingest"), dict) else None
        if self._validation_for is not None and self._validation_for[0] == table:
            return self._validation_for[1]
        validation = plugins.from_conf(conf)
        if validation.error is not None:
            self.log(LOG_ERR, f"job-ingest: {validation.error}")
        self._validation_for = (table, validation)
        return validation

    def _apply_defaults(self, sub: Submission, conf: dict, validation: Validation) -> None:
        """The configuration's jobspec defaults and queue constraints (flux-core's
        frobnicator, whose refusals carry errnum 1: EPERM); the jobspec they change is
        validated again."""
        from flux.services.job_ingest import defaults

        if not defaults.active(conf):
            return
        try:
            defaults.apply(sub.jobspec, conf)
        except ValueError as exc:
            raise RequestError(errno.EPERM, str(exc)) from None
        if not sub.flags & FLUX_JOB_NOVALIDATE:
            from flux.services.job_ingest.plugins import InvalidJobspec

            try:
                validation.check(sub.jobspec)
            except InvalidJobspec as exc:
                raise RequestError(errno.EINVAL, str(exc)) from None

    def getinfo(self, msg: Message) -> None:
        self.router.respond(msg, {"timestamp": self.ingest.fluids.save_timestamp(
            self.ingest.clock_ms())})

    def flush(self) -> None:
        """The loop's end-of-iteration call: commit the batch, then announce it."""
        batch, self._batch = self._batch, []
        if not batch:
            return
        ops = self.ingest.kvs_ops(batch)
        self.kvs.service.commit_ops("primary", ops, 0,
                                    lambda errnum, _root: self._stored(batch, errnum))

    def _stored(self, batch: list[Submission], errnum: int) -> None:
        router = self.router
        if errnum:
            for sub in batch:
                router.respond_error(sub.req, errnum, "KVS commit failed")
            return
        entries = self.ingest.manager_entries(batch)
        self.job_manager.submit_jobs(entries, lambda err, errors: self._announced(
            batch, err, errors))

    def _announced(self, batch: list[Submission], errnum: int, errors: list) -> None:
        router = self.router
        refused = {e[0]: e[1] for e in errors}
        for sub in batch:
            if errnum:
                router.respond_error(sub.req, errnum)
            elif sub.id in refused:
                router.respond_error(sub.req, errno.EINVAL, refused[sub.id])
            else:
                router.respond(sub.req, {"id": sub.id})
        if refused:
            self.kvs.service.commit_ops("primary", self.ingest.cleanup_ops(list(refused)), 0,
                                        self._cleaned)

    def _cleaned(self, errnum: int, _root: Any) -> None:
        if errnum:
            self.log(LOG_ERR, "job-ingest: KVS cleanup failure")

    def close(self) -> None:
        """Refuse new submissions; commit the batch gathered (its answers follow)."""
        self.shutdown = True
        self.flush()
        if self._conf_reader is not None:
            self._conf_reader.close()

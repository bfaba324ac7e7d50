"""The ``job-exec`` service inside the broker (test execution only for now):
flux.services.job_exec wired to the router, the loop's timers, the KVS and the
``job-exception`` events; it says hello to the job-manager when the loop starts."""

from __future__ import annotations

import time

from flux.constants import FLUX_ROLE_ALL

from .events import Events
from .internal_rpc import InternalClient
from .kvs import KVS
from .loop import Loop
from .router import Router

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

    from flux.services.job_exec.service import ExecService

__all__ = ["JobExec"]


class JobExec:
    """Registers ``job-exec.*`` and the ``job-exception`` subscription."""

    def __init__(self, router: Router, loop: Loop, events: Events, kvs: KVS, owner: int,
                 log: Callable[[int, str], Any]) -> None:
        from flux.services.job_exec.service import ExecService

        self.kvs = kvs
        self.client = InternalClient(router, "job-exec", owner)
        self.service: ExecService = ExecService(
            owner, self.client.rpc, router.respond, router.respond_error, self._post,
            loop.call_later, lambda level, text: log(level, f"job-exec: {text}"))
        builtin = router.builtin("job-exec")
        builtin.method("start", self.service.start_request, 0)
        builtin.method("disconnect", lambda msg: None, FLUX_ROLE_ALL)
        events.on("job-exception", self.service.exception_event)
        loop.call_soon(self.service.start)

    def _post(self, jobid: int, name: str, context: Optional[dict]) -> None:
        """An entry appended to the job's exec eventlog."""
        from flux import eventlog
        from flux.job.kvs import kvs_key
        from flux.services.kvs.txn import op_append

        line = eventlog.encode_entry(eventlog.entry_build(time.time(), name, context))
        key = kvs_key(jobid, "guest.exec.eventlog")
        self.kvs.service.commit_ops("primary", [op_append(key, line.encode())], 0,
                                    lambda errnum, _: None)

    def close(self) -> None:
        self.service.close()
        self.client.close()

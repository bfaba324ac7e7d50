"""The ``job-exec`` service inside the broker: flux.services.job_exec wired to the router,
the loop's timers, the KVS (each job's guest namespace ``job-<id>``, linked from
``job.<dir>.guest`` while it runs and copied there at its end, as flux-core 0.88 does),
the ``job-exception`` events and the shell launcher (job_shell_launch.py); it says hello
to the job-manager when the loop starts."""

from __future__ import annotations

import time

from flux.constants import FLUX_ROLE_USER

from .events import Events
from .internal_rpc import InternalClient
from .kvs import KVS
from .loop import Loop
from .router import Router

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

    from flux.services.job_exec.service import ExecService

    from .job_shell_launch import LocalShellLauncher
    from .job_shell_rexec import ShellLauncher

__all__ = ["JobExec"]


class _GuestNamespaces:
    """Each job's guest namespace: created at start, grafted into the primary one and
    removed at the end (the commits of one namespace apply in order)."""

    def __init__(self, kvs: KVS) -> None:
        self.kvs = kvs

    def create(self, jobid: int, userid: int) -> None:
        from flux.job.kvs import kvs_key
        from flux.services.kvs.txn import op_symlink

        name = f"job-{jobid}"
        self.kvs.service.namespace_create_internal(name, userid)
        self.kvs.service.commit_ops("primary", [op_symlink(kvs_key(jobid, "guest"), ".", name)],
                                    0, lambda errnum, _: None)

    def move(self, jobid: int, done: Callable[[], None]) -> None:
        from flux.job.kvs import kvs_key
        from flux.services.kvs.txn import op_put_treeobj

        name = f"job-{jobid}"
        service = self.kvs.service

        def flushed(errnum: int, _: Any) -> None:
            rootref = service.namespace_rootref(name)
            if rootref is None:
                done()
                return
            dirref = {"ver": 1, "type": "dirref", "data": [rootref]}
            service.commit_ops("primary", [op_put_treeobj(kvs_key(jobid, "guest"), dirref)],
                               0, grafted)

        def grafted(errnum: int, _: Any) -> None:
            service.namespace_remove_internal(name)
            done()

        # an empty commit to the guest namespace: answered after every earlier one
        service.commit_ops(name, [], 0, flushed)


def _shell_exit_timeout(conf: Any, default: float, log: Callable[[int, str], Any]) -> float:
    """``[exec] shell-exit-timeout`` (an FSD; 0 turns the timer off), flux-core's key."""
    value = conf.get("shell-exit-timeout") if isinstance(conf, dict) else None
    if value is None:
        return default
    from flux._util_duration import parse_fsd

    try:
        return parse_fsd(value) if isinstance(value, str) else float(value)
    except (ValueError, TypeError):
        from flux.severity import LOG_ERR

        log(LOG_ERR, f"job-exec: error reading config value exec.shell-exit-timeout: "
                     f"invalid duration {value!r}")
        return default


class JobExec:
    """Registers ``job-exec.*`` and the ``job-exception`` subscription."""

    def __init__(self, router: Router, loop: Loop, events: Events, kvs: KVS, owner: int,
                 log: Callable[[int, str], Any], rank: int = 0,
                 environ: Optional[dict[str, str]] = None,
                 uri: Optional[Callable[[], str]] = None,
                 hostname: Callable[[int], str] = lambda rank: str(rank),
                 size: int = 1, conf: Any = None,
                 attr: Optional[Callable[[str], Optional[str]]] = None) -> None:
        from flux.services.job_exec.service import SHELL_EXIT_TIMEOUT, ExecService

        self.kvs = kvs
        self.client = InternalClient(router, "job-exec", owner)
        self.launcher: Optional[LocalShellLauncher | ShellLauncher] = None
        if environ is not None and uri is not None:
            from .job_shell_launch import LocalShellLauncher

            local = LocalShellLauncher(loop, rank, environ, uri, attr)
            self.launcher = local
            if size > 1:  # shells of other ranks go through their rexec service
                from .job_shell_rexec import RexecShellLauncher, ShellLauncher

                self.launcher = ShellLauncher(local, RexecShellLauncher(router, owner, environ))
        self.service: ExecService = ExecService(
            owner, self.client.rpc, router.respond, router.respond_error, self._post,
            loop.call_later, lambda level, text: log(level, f"job-exec: {text}"),
            launcher=self.launcher, guest_ns=_GuestNamespaces(kvs), hostname=hostname,
            shell_exit_timeout=_shell_exit_timeout(conf, SHELL_EXIT_TIMEOUT, log))
        builtin = router.builtin("job-exec")
        builtin.method("start", self.service.start_request, 0)
        builtin.method("expiration", self.service.expiration_request, 0)
        builtin.method("shell-barrier", self.service.barrier_enter, FLUX_ROLE_USER)
        builtin.method("critical-ranks", self.service.critical_ranks_request, FLUX_ROLE_USER)
        builtin.method("disconnect", lambda msg: None)
        events.on("job-exception", self.service.exception_event)
        loop.call_soon(self.service.start)

    def _post(self, jobid: int, name: str, context: Optional[dict]) -> None:
        """An entry appended to the job's exec eventlog (in its guest namespace)."""
        from flux import eventlog
        from flux.services.kvs.txn import op_append

        line = eventlog.encode_entry(eventlog.entry_build(time.time(), name, context))
        self.kvs.service.commit_ops(f"job-{jobid}", [op_append("exec.eventlog", line.encode())],
                                    0, lambda errnum, _: None)

    def close(self) -> None:
        self.service.close()
        if self.launcher is not None:
            self.launcher.close()
        self.client.close()

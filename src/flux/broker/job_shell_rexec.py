"""Starting job shells on other brokers: ``rexec.exec`` (RFC 42) sent to the rank of
the shell, as flux-core 0.88's bulk-exec does.

Why rexec and not a job-exec helper service on every rank: ``rexec`` already runs on
every rank, its streaming responses carry exactly what job-exec needs (``started``, the
shell's own output, ``finished`` with the wait status), ``rexec.kill`` signals the
shell's process group, and a lost rank ends the stream with EHOSTUNREACH ("overlay
disconnect"), which job-exec turns into flux-core's "node failure" exception.  A
builtin ``job-exec`` service on ranks > 0 would also capture the shells' own
``job-exec.shell-barrier`` requests (a request goes to a local service first).  The price
is a Python start-up per remote shell (``python -m flux.shell``, where rank 0's shells
are forked by its fork server).

:class:`ShellLauncher` is what job-exec is given: shells of this broker's rank go to
the local launcher (``job_shell_launch.py``), the others to rexec.
"""

from __future__ import annotations

import errno
import os
import signal
import sys

from flux.ioencode import iodecode_data

from .internal_rpc import InternalClient

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Optional

    from flux.services.job_exec.shells import ShellEvents

    from .job_shell_launch import LocalShellLauncher
    from .router import Router

__all__ = ["RexecShellLauncher", "ShellLauncher"]

_STDOUT_STDERR = 3  # rexec.exec flags: stdout and stderr streamed back


class _RemoteShell:
    """One shell started through rexec on ``rank``: its pid once started, its end."""

    def __init__(self, launcher: "RexecShellLauncher", rank: int,
                 events: ShellEvents) -> None:
        self.launcher = launcher
        self.rank = rank
        self.events = events
        self.pid: Optional[int] = None
        self.signals: list[int] = []  # sent before the pid was known
        self.done = False
        self.status: Optional[int] = None

    def kill(self, signum: int) -> None:
        if self.done:
            return
        if self.pid is None:
            self.signals.append(signum)
            return
        self.launcher.client.rpc("rexec.kill", {"pid": self.pid, "signum": signum},
                                 lambda errnum, payload: None, nodeid=self.rank)

    def response(self, errnum: int, payload: Any) -> None:
        if self.done:
            return
        if errnum:
            self.done = True
            self.launcher.shells.discard(self)
            if errnum == errno.ENODATA and self.status is not None:
                self.events.exited(self.rank, self.status)
            elif self.pid is None:
                self.events.failed(self.rank, errnum, os.strerror(errnum))
            elif errnum == errno.EHOSTUNREACH:
                # the rank is gone with its shell: "node failure", and a shell killed
                self.events.failed(self.rank, errnum, os.strerror(errnum))
            else:
                self.events.exited(self.rank, self.status if self.status is not None
                                   else signal.SIGKILL)
            return
        if not isinstance(payload, dict):
            return
        kind = payload.get("type")
        if kind == "started" and isinstance(payload.get("pid"), int):
            self.pid = payload["pid"]
            for signum in self.signals:
                self.kill(signum)
            self.signals.clear()
            self.events.running(self.rank)
        elif kind == "output":
            io = payload.get("io")
            if isinstance(io, dict) and isinstance(io.get("data"), str):
                raw = iodecode_data(io)
                self.events.output(self.rank, str(io.get("stream", "stderr")), raw)
        elif kind == "finished" and isinstance(payload.get("status"), int):
            self.status = payload["status"]


class _Failed:
    def kill(self, signum: int) -> None:
        pass


class RexecShellLauncher:
    """Runs ``python -m flux.shell JOBID`` on another rank through its rexec service."""

    def __init__(self, router: Router, owner: int, environ: dict[str, str]) -> None:
        self.client = InternalClient(router, "job-exec-rexec", owner)
        self.environ = environ  # the broker's (live)
        self.shells: set[_RemoteShell] = set()

    def _env(self, jobid: int) -> dict[str, str]:
        from .runat import _blocked

        env = {k: v for k, v in self.environ.items()
               if not _blocked(k) and k != "FLUX_URI"}  # rexec sets that rank's URI
        env["FLUX_KVS_NAMESPACE"] = f"job-{jobid}"
        return env

    def launch(self, jobid: int, userid: int, rank: int, events: ShellEvents) -> Any:
        shell = _RemoteShell(self, rank, events)
        self.shells.add(shell)
        cmd = {"cwd": "/", "cmdline": [sys.executable, "-m", "flux.shell", str(jobid)],
               "env": self._env(jobid), "opts": {}, "channels": []}
        self.client.rpc("rexec.exec", {"cmd": cmd, "flags": _STDOUT_STDERR},
                        shell.response, streaming=True, nodeid=rank)
        return shell

    def close(self) -> None:
        """At broker exit: the remote shells are killed (their brokers would kill them
        when the overlay goes, but not before the tasks had outlived this instance)."""
        for shell in list(self.shells):
            shell.kill(signal.SIGKILL)
        self.shells.clear()
        self.client.close()


class ShellLauncher:
    """This rank's shells through the local fork server, the others through rexec."""

    def __init__(self, local: "LocalShellLauncher", remote: RexecShellLauncher) -> None:
        self.local = local
        self.remote = remote

    def launch(self, jobid: int, userid: int, rank: int, events: ShellEvents) -> Any:
        if rank == self.local.rank:
            return self.local.launch(jobid, userid, rank, events)
        return self.remote.launch(jobid, userid, rank, events)

    def close(self) -> None:
        self.remote.close()
        self.local.close()


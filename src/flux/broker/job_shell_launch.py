"""Starting job shells on this broker: job-exec's launcher (see
``flux.services.job_exec.shells`` for the interface).

THE place where "start a shell on rank R" happens.  Only this broker's own rank is
served here (a single-broker instance); a rank elsewhere fails with EHOSTUNREACH.  The
multi-broker version replaces this object with one that sends flux-core's
``rexec.exec`` (RFC 42) over the overlay to the broker of that rank.

The shell is ``python -m flux.shell JOBID`` (flux-core runs ``flux-shell JOBID``) in
the broker's environment plus ``FLUX_URI`` (this broker) and ``FLUX_KVS_NAMESPACE``
(the job's guest namespace), in its own process group; what it writes on its own
stdout/stderr goes to the exec eventlog as ``log`` entries.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable

    from flux.services.job_exec.shells import ShellEvents

    from .loop import ChildWatch, Loop

__all__ = ["LocalShellLauncher"]


class _LocalShell:
    """One shell process: its pipes, its exit watch."""

    def __init__(self, launcher: "LocalShellLauncher", rank: int, proc: subprocess.Popen,
                 events: ShellEvents) -> None:
        self.launcher = launcher
        self.rank = rank
        self.proc = proc
        self.events = events
        self.open: dict[int, str] = {}
        self.watch: ChildWatch | None = None
        self.status: int | None = None

    def kill(self, signum: int) -> None:
        if self.status is None:
            try:
                os.kill(self.proc.pid, signum)
            except OSError:
                pass

    def reader(self, fd: int) -> Callable[[int], None]:
        """The loop's callback for the pipe ``fd``."""
        return lambda events: self.on_output(fd)

    def on_output(self, fd: int) -> None:
        loop = self.launcher.loop
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.events.output(self.rank, self.open[fd], data)
            return
        loop.remove(fd)
        os.close(fd)
        del self.open[fd]
        self.check()

    def check(self) -> None:
        """Reap the shell; report its end once its pipes are drained too."""
        if self.status is None:
            try:
                pid, status = os.waitpid(self.proc.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = self.proc.pid, 0
            if pid == 0:
                return
            self.status = status
            self.proc.returncode = status  # reaped here: Popen must not wait again
            if self.watch is not None:
                self.watch.close()
                self.watch = None
        if self.open:
            return
        self.launcher.shells.discard(self)
        self.events.exited(self.rank, self.status)


class LocalShellLauncher:
    """Runs job shells as children of this broker (rank ``rank``)."""

    def __init__(self, loop: Loop, rank: int, environ: dict[str, str],
                 uri: Callable[[], str]) -> None:
        self.loop = loop
        self.rank = rank
        self.environ = environ  # the broker's (live)
        self.uri = uri
        self.shells: set[_LocalShell] = set()

    def _env(self, jobid: int) -> dict[str, str]:
        from flux.environment import flux_environment

        from .runat import _blocked

        env = {k: v for k, v in self.environ.items() if not _blocked(k)}
        env.update(flux_environment(env))
        env["FLUX_URI"] = self.uri()
        env["FLUX_KVS_NAMESPACE"] = f"job-{jobid}"
        return env

    def launch(self, jobid: int, userid: int, rank: int, events: ShellEvents) -> Any:
        if rank != self.rank:
            self.loop.call_soon(lambda: events.failed(
                rank, errno.EHOSTUNREACH, "No route to host"))
            return _Failed()
        kwargs: dict[str, Any] = {}
        if sys.version_info >= (3, 11):
            kwargs["process_group"] = 0
        else:  # pragma: no cover
            kwargs["preexec_fn"] = os.setpgrp
        try:
            proc = subprocess.Popen([sys.executable, "-m", "flux.shell", str(jobid)],
                                    env=self._env(jobid), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    close_fds=True, cwd="/", **kwargs)
        except OSError as exc:
            text = exc.strerror or "exec failed"
            errnum = exc.errno or errno.EINVAL
            self.loop.call_soon(lambda: events.failed(rank, errnum, text))
            return _Failed()
        shell = _LocalShell(self, rank, proc, events)
        self.shells.add(shell)
        for stream, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
            assert stream is not None
            fd = os.dup(stream.fileno())
            stream.close()
            os.set_blocking(fd, False)
            shell.open[fd] = name
            self.loop.add_reader(fd, shell.reader(fd))
        shell.watch = self.loop.watch_child(proc.pid, shell.check)
        self.loop.call_soon(lambda: events.running(rank))
        return shell

    def close(self) -> None:
        """At broker exit: no shell outlives its broker."""
        import time

        for shell in self.shells:
            shell.kill(signal.SIGTERM)  # the shell passes it on to its tasks
        deadline = time.monotonic() + 2.0
        for shell in list(self.shells):
            while shell.status is None and time.monotonic() < deadline:
                try:
                    pid, _ = os.waitpid(shell.proc.pid, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid:
                    shell.status = 0
                    break
                time.sleep(0.02)
            shell.kill(signal.SIGKILL)
            for fd in list(shell.open):
                self.loop.remove(fd)
                os.close(fd)
            shell.open.clear()
            if shell.watch is not None:
                shell.watch.close()
            try:
                os.waitpid(shell.proc.pid, 0)
            except ChildProcessError:
                pass
        self.shells.clear()


class _Failed:
    """The handle of a shell that never started."""

    def kill(self, signum: int) -> None:
        pass

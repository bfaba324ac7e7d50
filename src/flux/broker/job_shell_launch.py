"""Starting job shells on this broker: job-exec's launcher (see
``flux.services.job_exec.shells`` for the interface).

THE place where "start a shell on rank R" happens.  Only this broker's own rank is
served here (a single-broker instance); a rank elsewhere fails with EHOSTUNREACH.  The
multi-broker version replaces this object with one that sends flux-core's
``rexec.exec`` (RFC 42) over the overlay to the broker of that rank.

A shell is forked by the shell fork server (``flux.shell.forkserver``), a child of this
broker started on the first launch with the shell's code imported: a fork costs about a
millisecond where ``python -m flux.shell`` cost a Python start-up and 25 ms of imports per
job (flux-core runs ``flux-shell JOBID``, a C program).  Each shell runs in the broker's
environment plus ``FLUX_URI`` (this broker) and ``FLUX_KVS_NAMESPACE`` (the job's guest
namespace), in its own process group; what it writes on its own stdout/stderr comes back
through pipes made here and goes to the exec eventlog as ``log`` entries.  The server
reports each shell's pid and, later, its wait status.
"""

from __future__ import annotations

import array
import errno
import json
import os
import signal
import socket
import subprocess
import sys

from flux._fdread import read_ready

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Optional

    from flux.services.job_exec.shells import ShellEvents

    from .loop import Loop

__all__ = ["LocalShellLauncher", "kill_session"]

#: launch requests sent to the fork server and not yet answered, at most (bounds what
#: waits in the socket's buffer, so that a send never blocks the broker)
_IN_FLIGHT = 8
#: how long the broker waits for its shells to end at exit before SIGKILL
_EXIT_GRACE = 2.0


def kill_session(sid: int) -> int:
    """SIGKILL every process of session ``sid`` (what a dead job shell left running);
    how many.  The kernel never gives a new process the id of a session that still has
    members, so ``sid`` cannot name someone else's processes."""
    killed = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if len(fields) > 3 and int(fields[3]) == sid:
            try:
                os.kill(int(name), signal.SIGKILL)
                killed += 1
            except OSError:
                pass
    return killed


class _LocalShell:
    """One shell process: its pid once forked, its output pipes, its end."""

    def __init__(self, launcher: "LocalShellLauncher", rank: int, events: ShellEvents) -> None:
        self.launcher = launcher
        self.rank = rank
        self.events = events
        self.pid: Optional[int] = None
        self.open: dict[int, str] = {}
        self.status: Optional[int] = None
        self.signals: list[int] = []  # sent before the pid was known

    def kill(self, signum: int) -> None:
        if self.status is not None:
            return
        if self.pid is None:
            self.signals.append(signum)
            return
        try:
            os.kill(self.pid, signum)
        except OSError:
            pass

    def started(self, pid: int) -> None:
        self.pid = pid
        self.launcher.by_pid[pid] = self
        for signum in self.signals:
            self.kill(signum)
        self.signals.clear()
        self.events.running(self.rank)

    def reader(self, fd: int) -> Callable[[int], None]:
        """The loop's callback for the pipe ``fd``."""
        return lambda events: self.on_output(fd)

    def on_output(self, fd: int) -> None:
        data = read_ready(fd)
        if data is None:
            return
        if data:
            self.events.output(self.rank, self.open[fd], data)
            return
        self.close_pipe(fd)
        self.finish()

    def close_pipe(self, fd: int) -> None:
        self.launcher.loop.remove(fd)
        os.close(fd)
        del self.open[fd]

    def ended(self, status: int) -> None:
        self.status = status
        if self.pid is not None:
            self.launcher.by_pid.pop(self.pid, None)
            if os.WIFSIGNALED(status) or status == signal.SIGKILL:
                # a shell killed before it could end its tasks: they are still in its
                # session (the shell is a session leader; each task a group of its own)
                kill_session(self.pid)
        self.finish()

    def finish(self) -> None:
        """Report the shell's end once it is reaped and its pipes are drained."""
        if self.status is None or self.open:
            return
        self.launcher.shells.discard(self)
        self.events.exited(self.rank, self.status)


class _Launch:
    """A launch request waiting for the fork server."""

    __slots__ = ("tag", "shell", "packet", "fds")

    def __init__(self, tag: int, shell: _LocalShell, packet: bytes, fds: list[int]) -> None:
        self.tag = tag
        self.shell = shell
        self.packet = packet
        self.fds = fds


class LocalShellLauncher:
    """Runs job shells on this broker (rank ``rank``), forked by the shell fork server."""

    def __init__(self, loop: Loop, rank: int, environ: dict[str, str],
                 uri: Callable[[], str],
                 attr: Optional[Callable[[str], Optional[str]]] = None) -> None:
        self.loop = loop
        self.rank = rank
        #: this broker's attributes (handed to each shell: the ``SHELL_ATTRS`` it reads)
        self.attr = attr
        self.environ = environ  # the broker's (live)
        self.uri = uri
        self.shells: set[_LocalShell] = set()
        self.by_pid: dict[int, _LocalShell] = {}
        self.server: Optional[subprocess.Popen] = None
        self.server_watch: Any = None
        self.sock: Optional[socket.socket] = None
        self.ready = False
        self.queue: list[_Launch] = []  # not yet sent
        self.sent: dict[int, _Launch] = {}  # sent, by tag, waiting for a pid
        self.tag = 0
        #: (the broker's environment, the URI, the shells' environment made of them)
        self._env_for: Optional[tuple[dict[str, str], str, dict[str, str]]] = None

    def _env(self, jobid: int) -> dict[str, str]:
        uri = self.uri()
        # the same for every job until broker.setenv changes the broker's: built once, and
        # checked by a plain comparison (C speed) rather than filtered again per job
        if self._env_for is None or self._env_for[1] != uri or self._env_for[0] != self.environ:
            from flux.environment import flux_environment

            from .runat import _blocked

            env = {k: v for k, v in self.environ.items() if not _blocked(k)}
            env.update(flux_environment(env))
            env["FLUX_URI"] = uri
            self._env_for = (dict(self.environ), uri, env)
        env = dict(self._env_for[2])
        env["FLUX_KVS_NAMESPACE"] = f"job-{jobid}"
        return env

    def _attrs(self) -> dict[str, str]:
        """The values of the attributes a shell reads, as ``attr.get`` would answer."""
        from flux.shell import SHELL_ATTRS

        found: dict[str, str] = {}
        if self.attr is not None:
            for name in SHELL_ATTRS:
                value = self.attr(name)
                if value is not None:
                    found[name] = value
        return found

    def launch(self, jobid: int, userid: int, rank: int, events: ShellEvents) -> Any:
        if rank != self.rank:
            self.loop.call_soon(lambda: events.failed(
                rank, errno.EHOSTUNREACH, "No route to host"))
            return _Failed()
        try:
            if self.sock is None:
                self._start_server()
            r_out, w_out = os.pipe()
            r_err, w_err = os.pipe()
        except OSError as exc:
            text = exc.strerror or "exec failed"
            errnum = exc.errno or errno.EINVAL
            self.loop.call_soon(lambda: events.failed(rank, errnum, text))
            return _Failed()
        shell = _LocalShell(self, rank, events)
        self.shells.add(shell)
        for fd, name in ((r_out, "stdout"), (r_err, "stderr")):
            os.set_blocking(fd, False)
            shell.open[fd] = name
            self.loop.add_reader(fd, shell.reader(fd))
        self.tag += 1
        packet = json.dumps({"tag": self.tag, "jobid": jobid, "env": self._env(jobid),
                             "cwd": "/", "attrs": self._attrs()}).encode()
        self.queue.append(_Launch(self.tag, shell, packet, [w_out, w_err]))
        self._flush()
        return shell

    # -- the fork server ------------------------------------------------------------------

    def _start_server(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {k: v for k, v in self.environ.items() if k != "FLUX_URI"}
        kwargs: dict[str, Any] = {}
        if sys.version_info >= (3, 11):
            kwargs["process_group"] = 0  # signals to the broker's group are not its own
        try:
            self.server = subprocess.Popen(
                [sys.executable, "-m", "flux.shell.forkserver"], stdin=theirs.fileno(),
                env=env, close_fds=True, cwd="/", **kwargs)
        finally:
            theirs.close()
        ours.setblocking(False)
        self.sock = ours
        self.ready = False
        self.loop.add_reader(ours.fileno(), lambda events: self._on_server())
        # its exit, not only the socket's EOF: a shell forked a moment ago still holds a
        # copy of the server's end until it closes it (or forever, if it is stopped)
        self.server_watch = self.loop.watch_child(self.server.pid, self._server_check)

    def _server_check(self) -> None:
        server = self.server
        if server is not None and server.poll() is not None:
            self._server_lost()

    def _flush(self) -> None:
        """Send queued launches while the server is ready and has room."""
        sock = self.sock
        while self.ready and sock is not None and self.queue and len(self.sent) < _IN_FLIGHT:
            launch = self.queue.pop(0)
            try:
                sock.sendmsg([launch.packet], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                                array.array("i", launch.fds))])
            except OSError as exc:
                self._failed(launch, exc.errno or errno.EIO,
                             exc.strerror or "job shell fork server unreachable")
                continue
            for fd in launch.fds:
                os.close(fd)
            launch.fds = []
            self.sent[launch.tag] = launch

    def _failed(self, launch: _Launch, errnum: int, text: str) -> None:
        for fd in launch.fds:
            os.close(fd)
        launch.fds = []
        shell = launch.shell
        for fd in list(shell.open):
            shell.close_pipe(fd)
        self.shells.discard(shell)
        shell.status = 0
        shell.events.failed(shell.rank, errnum, text)

    def _on_server(self) -> None:
        sock = self.sock
        assert sock is not None
        while True:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                self._server_lost()
                return
            try:
                msg = json.loads(data)
            except ValueError:
                continue
            if msg.get("ready"):
                self.ready = True
            elif "tag" in msg:
                launch = self.sent.pop(msg["tag"], None)
                if launch is None:
                    continue
                if "pid" in msg:
                    launch.shell.started(int(msg["pid"]))
                else:
                    self._failed(launch, int(msg.get("errno") or errno.EIO),
                                 str(msg.get("error") or "fork failed"))
            elif "pid" in msg:
                shell = self.by_pid.get(int(msg["pid"]))
                if shell is not None:
                    shell.ended(int(msg["status"]))
        self._flush()

    def _server_lost(self) -> None:
        """The fork server is gone: its shells are orphans whose end it cannot report, so
        they are killed and reported killed; launches not yet answered fail; the next
        launch starts a new server."""
        self._close_server()
        for launch in list(self.sent.values()) + self.queue:
            self._failed(launch, errno.EIO, "job shell fork server exited")
        self.sent.clear()
        self.queue.clear()
        for shell in list(self.by_pid.values()):
            # SIGTERM first: a shell passes it on to its tasks (its own process groups),
            # which a SIGKILL of the shell would leave running; SIGKILL after a grace time
            shell.kill(signal.SIGTERM)
            self.loop.call_later(_EXIT_GRACE, self._orphan_killer(shell))

    def _orphan_killer(self, shell: _LocalShell) -> Callable[[], None]:
        return lambda: self._kill_orphan(shell)

    def _kill_orphan(self, shell: _LocalShell) -> None:
        if shell.status is not None or shell.pid is None:
            return
        if not shell.open:  # its pipes are closed: it has exited (its pid may be reused)
            shell.ended(signal.SIGKILL)
            return
        for kill in (os.killpg, os.kill):  # a just-forked shell may have no group yet
            try:
                kill(shell.pid, signal.SIGKILL)
            except OSError:
                pass
        shell.ended(signal.SIGKILL)

    def _close_server(self) -> None:
        if self.server_watch is not None:
            self.server_watch.close()
            self.server_watch = None
        if self.sock is not None:
            self.loop.remove(self.sock.fileno())
            self.sock.close()
            self.sock = None
        self.ready = False
        if self.server is not None:
            try:
                self.server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
            self.server = None

    def close(self) -> None:
        """At broker exit: no shell outlives its broker."""
        import select
        import time

        for launch in self.queue:
            self._failed(launch, errno.ECANCELED, "broker exiting")
        self.queue.clear()
        for shell in list(self.shells):
            shell.kill(signal.SIGTERM)  # the shell passes it on to its tasks
        deadline = time.monotonic() + _EXIT_GRACE
        sock = self.sock
        while sock is not None and self.by_pid and time.monotonic() < deadline:
            select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
            self._on_server()
            sock = self.sock
        for shell in list(self.by_pid.values()):
            shell.kill(signal.SIGKILL)
        for shell in list(self.shells):
            for fd in list(shell.open):
                shell.close_pipe(fd)
        self.shells.clear()
        self.by_pid.clear()
        self._close_server()


class _Failed:
    """The handle of a shell that never started."""

    def kill(self, signum: int) -> None:
        pass

"""Named lists of shell commands the broker runs at fixed points of its life.

flux-core's runat: the state machine runs ``rc1`` in init, ``cleanup`` in
cleanup and ``rc3`` in finalize (the initial program, flux-core's rc2, is
supervised by the broker itself).  Each list runs its commands one after the
other, each as ``$SHELL -c CMDLINE`` (``/bin/bash`` without SHELL) in its own
process group; all of them run even if one fails, and the list's exit code is
the first failure's.  Commands get the broker's environment minus the
variables of an enclosing job (flux-core's blocklist), plus the instance's own
(FLUX_URI, PATH with our ``flux`` first, ...).  Their stdout and stderr lines
go to the broker log (info and err) as ``NAME.INDEX: LINE``; each end is
logged as ``NAME.INDEX: CMDLINE Exited (rc=N) 0.1s``.

Commands are *pushed*: a new command goes to the front of its list, as in
flux-core (``runat.push`` of ``["a", "b"]`` runs b, then a).

``runat.push`` (owner) takes ``{"name": s, "commands": [s, ...]}`` and answers
with no payload.  Errors: EPROTO for a malformed request, an empty list
("commands array is empty") or an empty command ("cannot push an empty command
line"), as flux-core; ENOENT for a list this broker never runs (it has no rc2
list: its initial program is not a runat list), EINVAL for a list that has
already started (flux-core would accept the commands and never run them).
"""

from __future__ import annotations

import errno
import os
import signal
import time
from typing import TYPE_CHECKING, Any, Callable, Optional

from flux._fdread import read_ready
from flux.message import Message
from flux.parentdeath import die_with_parent
from flux.severity import LOG_ERR, LOG_INFO

from .router import RequestError, Router

if TYPE_CHECKING:  # imported where a command starts: ~5 ms of every broker's start-up
    import subprocess

__all__ = ["ENV_BLOCKLIST", "PHASES", "Runat", "exit_record", "exit_status"]

#: The lists a pureflux broker runs (state machine: init, cleanup, finalize).
PHASES = ("rc1", "cleanup", "rc3")

#: flux-core's blocklist: an enclosing job's or launcher's variables ("X_*": a prefix).
ENV_BLOCKLIST = ("FLUX_JOB_ID", "FLUX_ENCLOSING_ID", "FLUX_JOB_SIZE", "FLUX_JOB_NNODES",
                 "FLUX_JOB_TMPDIR", "FLUX_TASK_RANK", "FLUX_TASK_LOCAL_ID", "FLUX_URI",
                 "FLUX_KVS_NAMESPACE", "FLUX_PROXY_REMOTE", "PMI_*", "PMIX_*",
                 "FLUX_PMI_LIBRARY_PATH", "I_MPI_PMI_LIBRARY", "SLURM_*", "NOTIFY_SOCKET",
                 "PALS_*")

ABORT_SIGNAL = signal.SIGHUP
Log = Callable[[int, str], None]
Done = Callable[[str, int], None]



def exit_status(returncode: int) -> tuple[int, str]:
    """A ``Popen.returncode`` as flux-core reports a command's end: (rc, what), a
    signal counting as 128+N and named (``Killed``), else ``Exited``."""
    if returncode < 0:
        return 128 - returncode, signal.strsignal(-returncode) or f"signal {-returncode}"
    return returncode, "Exited"


def exit_record(label: str, cmdline: str, rc: int, what: str,
                elapsed: float) -> tuple[int, str]:
    """(severity, text) of flux-core's log line for a finished command, e.g.
    ``rc1.0: CMDLINE Exited (rc=0) 0.1s``: an error unless it succeeded."""
    return LOG_INFO if rc == 0 else LOG_ERR, f"{label}: {cmdline} {what} (rc={rc}) {elapsed:.1f}s"

class _Command:
    """One running (or finished) command: process, output buffers, timing."""

    def __init__(self, cmdline: str) -> None:
        self.cmdline = cmdline
        self.proc: Optional[subprocess.Popen] = None
        self.exit_watch: Any = None  # the loop's ChildWatch while it runs
        self.open_fds: dict[int, int] = {}  # fd -> severity of its lines
        self.partial: dict[int, bytes] = {}
        self.t_start = 0.0


class _Entry:
    """A named list: commands not yet finished (the running one first)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.commands: list[_Command] = []
        self.count = 0
        self.exit_code = 0
        self.started = False
        self.completed = False
        self.aborted = False
        self.done: Optional[Done] = None

    def index(self) -> int:
        """The running command's position in the list as first started."""
        return self.count - len(self.commands)


class Runat:
    """The named command lists and the ``runat.push`` service."""

    def __init__(self, router: Router, loop: Any, log: Log, environ: dict[str, str],
                 local_uri: str, jobid: Optional[str] = None) -> None:
        self.router = router
        self.loop = loop
        self.log = log
        self.environ = environ  # the broker's (live: broker.setenv changes it)
        self.local_uri = local_uri
        self.jobid = jobid
        self.entries: dict[str, _Entry] = {}
        router.builtin("runat").method("push", self._push)

    # -- lists ---------------------------------------------------------------------

    def push(self, name: str, cmdline: str) -> None:
        """Put ``cmdline`` at the front of list ``name`` (created if needed)."""
        entry = self.entries.get(name)
        if entry is None:
            entry = self.entries[name] = _Entry(name)
        entry.commands.insert(0, _Command(cmdline))
        entry.count += 1

    def append(self, name: str, cmdline: str) -> None:
        """Put ``cmdline`` at the end of list ``name`` (the broker's own last step)."""
        entry = self.entries.get(name)
        if entry is None:
            entry = self.entries[name] = _Entry(name)
        entry.commands.append(_Command(cmdline))
        entry.count += 1

    def is_defined(self, name: str) -> bool:
        return name in self.entries

    def is_completed(self, name: str) -> bool:
        entry = self.entries.get(name)
        return entry is not None and entry.completed

    def exit_code(self, name: str) -> int:
        entry = self.entries.get(name)
        if entry is None:
            raise KeyError(name)
        return entry.exit_code

    def start(self, name: str, done: Optional[Done] = None) -> None:
        """Run list ``name``; ``done(name, exit_code)`` is called when all ended."""
        entry = self.entries[name]
        entry.started = True
        entry.done = done
        self._start_next(entry)

    def abort(self, name: str) -> None:
        """Hang up on the running command (its process group) and skip the rest."""
        entry = self.entries.get(name)
        if entry is None:
            raise KeyError(name)
        entry.aborted = True
        if entry.commands and entry.commands[0].proc is not None:
            _killpg(entry.commands[0].proc.pid, ABORT_SIGNAL)

    def close(self) -> None:
        """Broker teardown: kill whatever still runs and reap it."""
        for entry in self.entries.values():
            for cmd in entry.commands:
                self._release(cmd)
                if cmd.proc is not None and cmd.proc.returncode is None:
                    import subprocess

                    _killpg(cmd.proc.pid, signal.SIGKILL)
                    try:
                        cmd.proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        pass
            entry.commands.clear()

    # -- running ---------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        from flux.environment import flux_environment

        env = {k: v for k, v in self.environ.items() if not _blocked(k)}
        env.update(flux_environment(env))
        env["FLUX_URI"] = self.local_uri
        if self.jobid:
            env["FLUX_ENCLOSING_ID"] = self.jobid
        return env

    def _start_next(self, entry: _Entry) -> None:
        if entry.aborted:
            entry.commands.clear()
        while entry.commands:
            cmd = entry.commands[0]
            if self._spawn(entry, cmd):
                return
            entry.commands.pop(0)  # could not start: logged, try the next one
        entry.completed = True
        if entry.done is not None:
            entry.done(entry.name, entry.exit_code)

    def _spawn(self, entry: _Entry, cmd: _Command) -> bool:
        shell = self.environ.get("SHELL") or "/bin/bash"
        kwargs: dict[str, Any] = {}
        # its own group (signalled as one), and it dies with a broker killed with SIGKILL
        preexec = die_with_parent(own_group=True)
        if preexec is not None:
            kwargs["preexec_fn"] = preexec
        else:
            kwargs["process_group"] = 0
        cmd.t_start = time.monotonic()
        import subprocess

        try:
            proc = subprocess.Popen([shell, "-c", cmd.cmdline], env=self._env(),
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, close_fds=True, **kwargs)
        except OSError as exc:
            # flux-core's exec failure: 127 if not found, else 126 (as a shell says)
            rc = 127 if exc.errno == errno.ENOENT else 126
            self._finished(entry, cmd, rc, exc.strerror or "exec failed")
            return False
        cmd.proc = proc
        for stream, severity in ((proc.stdout, LOG_INFO), (proc.stderr, LOG_ERR)):
            assert stream is not None
            fd = stream.fileno()
            os.set_blocking(fd, False)
            cmd.open_fds[fd] = severity
            self.loop.add_reader(fd, lambda events, e=entry, c=cmd, f=fd: self._on_output(e, c, f))
        cmd.exit_watch = self.loop.watch_child(proc.pid, lambda e=entry, c=cmd: self._check(e, c))
        return True

    def _on_output(self, entry: _Entry, cmd: _Command, fd: int) -> None:
        data = read_ready(fd)
        if data is None:
            return
        if data:
            buf = cmd.partial.get(fd, b"") + data
            *lines, rest = buf.split(b"\n")
            cmd.partial[fd] = rest
            for line in lines:
                self._log_line(entry, cmd, fd, line)
            return
        rest = cmd.partial.pop(fd, b"")
        if rest:
            self._log_line(entry, cmd, fd, rest)
        self.loop.remove(fd)
        del cmd.open_fds[fd]
        self._check(entry, cmd)

    def _log_line(self, entry: _Entry, cmd: _Command, fd: int, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        self.log(cmd.open_fds[fd], f"{entry.name}.{entry.index()}: {text}")

    def _check(self, entry: _Entry, cmd: _Command) -> None:
        """Complete ``cmd`` once it has exited and both of its outputs are drained."""
        proc = cmd.proc
        if proc is None or proc.poll() is None:
            return
        self._unwatch_exit(cmd)
        if cmd.open_fds:
            return
        rc, what = exit_status(proc.returncode)
        if rc == 0 and entry.aborted:
            rc = 1
            what = "aborted after exit with rc=0"
        self._finished(entry, cmd, rc, what)
        self._release(cmd)
        entry.commands.pop(0)
        self._start_next(entry)

    def _finished(self, entry: _Entry, cmd: _Command, rc: int, what: str) -> None:
        self.log(*exit_record(f"{entry.name}.{entry.index()}", cmd.cmdline, rc, what,
                              time.monotonic() - cmd.t_start))
        if rc != 0 and entry.exit_code == 0:
            entry.exit_code = rc

    def _unwatch_exit(self, cmd: _Command) -> None:
        """Stop waiting for ``cmd`` to exit."""
        if cmd.exit_watch is not None:
            cmd.exit_watch.close()
            cmd.exit_watch = None

    def _release(self, cmd: _Command) -> None:
        for fd in list(cmd.open_fds):
            self.loop.remove(fd)
        cmd.open_fds.clear()
        self._unwatch_exit(cmd)
        if cmd.proc is not None:
            for stream in (cmd.proc.stdout, cmd.proc.stderr):
                if stream is not None:
                    stream.close()

    # -- runat.push -----------------------------------------------------------------------

    def _push(self, msg: Message) -> None:
        obj = msg.payload_json()
        name = obj.get("name")
        commands = obj.get("commands")
        if not isinstance(name, str) or "commands" not in obj:
            raise RequestError(errno.EPROTO)
        if not isinstance(commands, list) or not commands:
            raise RequestError(errno.EPROTO, "commands array is empty")
        if not all(isinstance(c, str) and c for c in commands):
            raise RequestError(errno.EPROTO, "cannot push an empty command line")
        if name not in PHASES:
            raise RequestError(errno.ENOENT, f"this broker runs no {name!r} commands"[:79])
        entry = self.entries.get(name)
        if entry is not None and entry.started:
            raise RequestError(errno.EINVAL, f"{name} has already started")
        for cmdline in commands:
            self.push(name, cmdline)
        self.router.respond(msg)


def _blocked(name: str) -> bool:
    for pattern in ENV_BLOCKLIST:
        if pattern.endswith("*"):
            if name.startswith(pattern[:-1]):
                return True
        elif name == pattern:
            return True
    return False


def _killpg(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass

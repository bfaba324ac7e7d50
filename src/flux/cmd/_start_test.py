"""``flux start --test-size=N``: N brokers on this machine, bootstrapped by a
PMI-1 server inside this process, as flux-core's flux-start does it.

Each broker is ``flux broker --setattr=rundir=DIR [--setattr=hostname=H]
[-S...]`` with ``PMI_FD`` (its end of a socketpair), ``PMI_RANK`` and
``PMI_SIZE``; only rank 0 gets the initial program.  The PMI server core is
flux.pmi.server's; this file only moves its lines and watches the brokers.
Rank 0 is forked first and imports the broker itself; the other brokers are
forked from this process once it has imported what a broker needs (an
interpreter start and the imports are most of a broker's start-up: paid once
instead of N times); ``FLUX_START_EXEC=1`` execs a fresh
``flux broker`` per rank instead.  When one broker exits, the others get
``--test-exit-timeout`` (default 20 s)
to follow before they are killed (``--test-exit-mode=leader``: only rank 0's
exit starts that timer).  The exit code is the highest of the
brokers' (a signal counts as 128+N).
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
import time

from flux.pmi import mapping as pmimap
from flux.pmi.server import SimpleServer
from flux.pmi.wire import PMIProtocolError

TYPE_CHECKING = False  # typing is imported by rank 0, after its fork, not here before it
if TYPE_CHECKING:  # pragma: no cover
    import subprocess  # only where a broker is exec'd: its import delayed every fork
    from typing import Optional

__all__ = ["TestInstance", "DEFAULT_EXIT_TIMEOUT"]

DEFAULT_EXIT_TIMEOUT = 20.0


def _warn(text: str) -> None:
    print(f"flux-start: {text}", file=sys.stderr, flush=True)


def process_mapping(mode: str, size: int) -> Optional[str]:
    """``--test-pmi-clique``: single (one node), per-broker, none, or an RFC 34 task map."""
    if mode == "single":
        return pmimap.to_pmi([[0, 1, size, 1]])
    if mode == "per-broker":
        return pmimap.to_pmi([[0, size, 1, 1]])
    if mode == "none":
        return None
    try:
        return pmimap.to_pmi(pmimap.from_taskmap(mode))
    except ValueError as exc:
        raise ValueError(f"test-pmi-clique: {exc}") from None


class _Forked:
    """The part of ``subprocess.Popen`` the launcher uses, for a forked broker."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: Optional[int] = None

    def poll(self) -> Optional[int]:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = self.pid, 0
            if pid:
                self.returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) \
                    else os.WEXITSTATUS(status)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signum)

    def wait(self, timeout: Optional[float] = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                import subprocess

                raise subprocess.TimeoutExpired("flux-broker", timeout or 0)
            time.sleep(0.01)
        assert self.returncode is not None
        return self.returncode


def _preload() -> None:
    """Import every rank's modules once, before forking the brokers (a module
    imported after the fork is imported once per broker), then freeze what is
    allocated so far: the brokers' garbage collector never walks (and so never
    copies) the parent's objects."""
    import gc

    import flux.broker.broker  # noqa: F401
    import flux.broker.brokerenv  # noqa: F401
    import flux.broker.overlay.boot_pmi  # noqa: F401
    import flux.broker.overlay.overlay  # noqa: F401
    import flux.broker.overlay.states  # noqa: F401
    import flux.broker.overlay.trace  # noqa: F401
    import flux.broker.rexec  # noqa: F401
    import flux.broker.runat  # noqa: F401
    import flux.cmd.broker  # noqa: F401
    import flux.idset  # noqa: F401
    import flux.pmi.client  # noqa: F401
    import flux.services.resource.reduce  # noqa: F401

    gc.freeze()


def _preload_rank0() -> None:
    """What only rank 0 runs (KVS, content, job services, scheduler, resource).
    Rank 0 is forked before the launcher imports anything of the broker, and
    imports all of it (``_preload`` and this) on the other CPU while the launcher
    imports what the other ranks need: the import phase is the only one with a
    CPU to spare, and rank 0 shares none of the launcher's pages it would copy."""
    import hashlib  # noqa: F401
    import subprocess  # noqa: F401  (the initial program)

    import flux.broker.conf_reader  # noqa: F401
    import flux.broker.content_dump  # noqa: F401
    import flux.broker.groups  # noqa: F401
    import flux.broker.job_shell_launch  # noqa: F401
    import flux.broker.job_shell_rexec  # noqa: F401
    import flux.hostlist  # noqa: F401
    import flux.job.Jobspec  # noqa: F401
    import flux.services.content.store  # noqa: F401
    import flux.services.groups.service  # noqa: F401
    import flux.services.job_exec.service  # noqa: F401
    import flux.services.job_manager.manager  # noqa: F401
    import flux.services.kvs.service  # noqa: F401
    import flux.services.resource.service  # noqa: F401
    import flux.services.sched.constraint  # noqa: F401
    import flux.services.sched.service  # noqa: F401


class _Broker:
    __slots__ = ("rank", "proc", "sock", "buf", "status", "pidfd")

    def __init__(self, rank: int, proc: "subprocess.Popen | _Forked", sock: socket.socket) -> None:
        self.rank = rank
        self.proc = proc
        self.sock: Optional[socket.socket] = sock
        self.buf = b""
        self.status: Optional[int] = None
        self.pidfd = -1


class TestInstance:
    """The launcher: spawn, serve PMI, reap, time out, report."""

    def __init__(self, size: int, command: list[str], broker_args: list[str],
                 rundir: Optional[str], hosts: Optional[list[str]], exit_timeout: float,
                 clique: str = "single", cleanup_rundir: bool = False,
                 verbose: int = 0, exit_mode: str = "any", no_exec: bool = False) -> None:
        self.size = size
        self.command = command
        self.broker_args = broker_args
        self.hosts = hosts
        self.exit_timeout = exit_timeout
        self.exit_mode = exit_mode  # any: the first broker's exit starts the timer; leader: rank 0's
        self.fork = os.environ.get("FLUX_START_EXEC") != "1"
        self.verbose = verbose  # 1: the brokers' command lines; 2: and the PMI exchange
        self.no_exec = no_exec
        if rundir is None:
            from flux.broker.rundir import make_rundir

            tmp = os.environ.get("TMPDIR") or "/tmp"
            self.rundir = make_rundir(tmp)
            self.cleanup_rundir = True
        else:
            self.rundir = rundir
            self.cleanup_rundir = cleanup_rundir
        kvs = {}
        pm = process_mapping(clique, size)
        if pm is not None:
            kvs["PMI_process_mapping"] = pm
        self.server = SimpleServer(size, kvsname="-", kvs=kvs, on_abort=self._abort)
        self.sel = selectors.DefaultSelector()
        self.brokers: list[_Broker] = []
        self.deadline: Optional[float] = None
        self.exit_rc = 0
        self._signals: list[int] = []
        self._base_env: Optional[dict[str, str]] = None

    # -- spawning -------------------------------------------------------------------

    def _spawn(self, rank: int) -> _Broker:
        ours, theirs = socket.socketpair()
        if self._base_env is None:  # the same for every rank: built once
            from flux.environment import flux_environment

            base = dict(os.environ)
            base.update(flux_environment(base))
            self._base_env = base
        env = dict(self._base_env)
        env.update(PMI_FD=str(theirs.fileno()), PMI_RANK=str(rank), PMI_SIZE=str(self.size))
        env.pop("FLUX_URI", None)  # brokers of a new instance, not clients of an old one
        args = self._broker_argv(rank)
        self._show(rank, args)
        proc: subprocess.Popen | _Forked
        if self.fork:
            proc = self._fork(args[1:], env, ours)  # flux broker's main takes what follows
        else:
            import subprocess

            proc = subprocess.Popen([sys.executable, "-m", "flux.cmd.main"] + args, env=env,
                                    pass_fds=(theirs.fileno(),))
        theirs.close()
        ours.setblocking(False)
        broker = _Broker(rank, proc, ours)
        self.sel.register(ours, selectors.EVENT_READ, ("pmi", broker))
        try:
            broker.pidfd = os.pidfd_open(proc.pid)
            self.sel.register(broker.pidfd, selectors.EVENT_READ, ("exit", broker))
        except (AttributeError, OSError):
            broker.pidfd = -1
        return broker

    def _broker_argv(self, rank: int) -> list[str]:
        """``broker ARGS`` of ``rank``."""
        argv = ["broker", f"--setattr=rundir={self.rundir}"]
        if self.hosts:
            argv.append(f"--setattr=hostname={self.hosts[rank]}")
        argv += self.broker_args
        if rank == 0:
            argv += self.command
        return argv

    def _show(self, rank: int, argv: list[str]) -> None:
        """``-v``: the broker's command line, as ``flux broker ...``."""
        if self.verbose:
            _warn(f"{rank}: {' '.join([sys.argv[0]] + argv)}")

    def _fork(self, args: list[str], env: dict[str, str], ours: socket.socket) -> _Forked:
        """A broker in a child of this process: ``flux broker ARGS`` without an exec."""
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            return _Forked(pid)
        rc = 1
        try:  # the child: nothing of the launcher may leak into the broker
            ours.close()
            for b in self.brokers:
                if b.sock is not None:
                    b.sock.close()
                if b.pidfd >= 0:
                    os.close(b.pidfd)
            self.sel.close()
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(signum, signal.SIG_DFL)
            environ = os.environ  # made equal to env, touching only what differs
            for name in [n for n in environ if n not in env]:
                del environ[name]
            for name, value in env.items():
                if environ.get(name) != value:
                    environ[name] = value
            import gc

            if env.get("PMI_RANK") == "0":  # forked before the launcher imported the broker
                _preload()
                _preload_rank0()
            gc.enable()  # flux start turned it off for its imports
            from flux.cmd import broker

            rc = broker.main(args)
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # pragma: no cover - reported like a crash
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(rc)

    # -- PMI -------------------------------------------------------------------------

    def _pmi_ready(self, broker: _Broker) -> None:
        sock = broker.sock
        assert sock is not None
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._pmi_close(broker)
            return
        broker.buf += data
        while b"\n" in broker.buf:
            line, _, broker.buf = broker.buf.partition(b"\n")
            try:
                if self.verbose > 1:
                    print(f"{broker.rank}: C: {line.decode(errors='replace')}", file=sys.stderr)
                replies, finalized = self.server.request(broker.rank, line.decode() + "\n")
            except (PMIProtocolError, UnicodeDecodeError) as exc:
                _warn(f"{broker.rank}: PMI protocol error: {exc}")
                self._pmi_close(broker)
                return
            for rank, text in replies:
                if self.verbose > 1:
                    print(f"{rank}: S: {text.rstrip()}", file=sys.stderr)
                self._pmi_send(self.brokers[int(rank)], text)  # type: ignore[call-overload]
            if finalized:
                self._pmi_close(broker)
                return

    def _pmi_send(self, broker: _Broker, text: str) -> None:
        if broker.sock is None:
            return
        try:
            broker.sock.setblocking(True)
            broker.sock.sendall(text.encode())
            broker.sock.setblocking(False)
        except OSError:
            self._pmi_close(broker)

    def _pmi_close(self, broker: _Broker) -> None:
        if broker.sock is not None:
            self.sel.unregister(broker.sock)
            broker.sock.close()
            broker.sock = None
            self.server.clients.pop(broker.rank, None)

    def _abort(self, client: object, code: int, text: str) -> None:
        _warn(f"{client}: PMI_Abort: {text}")
        self.exit_rc = max(self.exit_rc, code or 1)
        self._kill_all(signal.SIGKILL)

    # -- running ---------------------------------------------------------------------

    def _reap(self, broker: _Broker) -> None:
        if broker.status is not None:
            return
        rc = broker.proc.poll()
        if rc is None:
            return
        if broker.pidfd >= 0:
            self.sel.unregister(broker.pidfd)
            os.close(broker.pidfd)
            broker.pidfd = -1
        self._pmi_close(broker)
        if rc < 0:
            broker.status = 128 - rc
            _warn(f"{broker.rank} (pid {broker.proc.pid}) {signal.strsignal(-rc)}")
        else:
            broker.status = rc
            if rc != 0:
                _warn(f"{broker.rank} (pid {broker.proc.pid}) exited with rc={rc}")
        self.exit_rc = max(self.exit_rc, broker.status)
        if self.deadline is None and self.exit_timeout > 0 \
                and (self.exit_mode == "any" or broker.rank == 0):
            self.deadline = time.monotonic() + self.exit_timeout

    def _kill_all(self, signum: int) -> None:
        for b in self.brokers:
            if b.status is None:
                try:
                    b.proc.send_signal(signum)
                except (ProcessLookupError, OSError):
                    pass

    def _on_signal(self, signum: int, frame: object) -> None:
        self._signals.append(signum)

    def run(self) -> int:
        if self.no_exec:  # -X: what would run, nothing started
            for rank in range(self.size):
                self._show(rank, self._broker_argv(rank))
            if self.cleanup_rundir:
                from flux.broker.rundir import remove_tree

                remove_tree(self.rundir)
            return 0
        old = {s: signal.signal(s, self._on_signal)
               for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            if self.fork:
                # Rank 0 is forked first, before this process imports the broker: it
                # imports all it needs itself on the other CPU while this one imports
                # what every other rank needs, then forks them (see _fork).
                self.brokers.append(self._spawn(0))
                _preload()
            for rank in range(len(self.brokers), self.size):
                self.brokers.append(self._spawn(rank))
            import gc

            gc.enable()  # flux start turned it off for its imports
            while any(b.status is None for b in self.brokers):
                while self._signals:
                    self._kill_all(self._signals.pop(0))
                timeout = 0.05 if any(b.pidfd < 0 for b in self.brokers) else 1.0
                if self.deadline is not None:
                    left = self.deadline - time.monotonic()
                    if left <= 0:
                        alive = [str(b.rank) for b in self.brokers if b.status is None]
                        _warn(f"exit timeout: killing rank(s) {','.join(alive)}")
                        self._kill_all(signal.SIGKILL)
                        self.deadline = time.monotonic() + 5.0
                        left = 5.0
                    timeout = min(timeout, left)
                for key, _ in self.sel.select(timeout):
                    kind, broker = key.data
                    if kind == "pmi":
                        if broker.sock is not None:
                            self._pmi_ready(broker)
                    else:
                        self._reap(broker)
                for b in self.brokers:
                    if b.status is None and b.pidfd < 0:
                        self._reap(b)
            return self.exit_rc
        finally:
            self._kill_all(signal.SIGKILL)
            for b in self.brokers:
                if b.status is None:
                    import subprocess

                    try:
                        b.proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        pass
                self._pmi_close(b)
                if b.pidfd >= 0:
                    os.close(b.pidfd)
            self.sel.close()
            for s, h in old.items():
                signal.signal(s, h)
            if self.cleanup_rundir:
                from flux.broker.rundir import remove_tree

                remove_tree(self.rundir)

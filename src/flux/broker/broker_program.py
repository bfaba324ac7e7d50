"""The initial program of rank 0: started when the state machine reaches run,
in its own process group (unless it uses the terminal) with a guardian that
kills that group if the broker dies; reaped and logged as rc2; signalled on
``flux shutdown`` or SIGINT/SIGTERM/SIGHUP, killed after ``KILL_GRACE``; its
leftovers killed and the guardian reaped at the broker's end."""

from __future__ import annotations

import errno
import os
import select
import signal
import time

from flux.parentdeath import die_with_parent, guard_group
from flux.severity import LOG_ERR, LOG_INFO

from .broker_fields import BrokerFields

TYPE_CHECKING = False  # avoids importing typing at run time (start-up cost)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["InitialProgram", "KILL_GRACE"]

KILL_GRACE = 5.0  # seconds between forwarding a signal and SIGKILL


class InitialProgram(BrokerFields):
    """The ``Broker``'s part that runs the initial program (rc2)."""

    def _program_env(self) -> dict[str, str]:
        """The initial program's environment: ours plus the instance's paths
        (PATH with our ``flux`` first, PYTHONPATH so any Python can ``import flux``)."""
        from flux.environment import flux_environment

        env = dict(self.environ)
        if self.enclosing is not None:
            # a job's instance: none of the enclosing job's variables (FLUX_KVS_NAMESPACE
            # would send our own commands to the parent's job namespace), as runat's lists
            from .runat import ENV_BLOCKLIST

            env = {k: v for k, v in env.items()
                   if not any(k == b or b.endswith("*") and k.startswith(b[:-1])
                              for b in ENV_BLOCKLIST)}
            env["FLUX_ENCLOSING_ID"] = self.enclosing[0]
        env.update(flux_environment(env))
        env["FLUX_URI"] = self.local_uri
        return env

    def _start_program(self) -> None:
        assert self.command is not None
        # Our own process group lets us signal the program and everything it
        # started; but a program that uses the terminal stays in the terminal's
        # foreground group (Ctrl-C reaches it directly there).
        own_group = not (self.interactive_shell or _isatty(0))
        kwargs: dict[str, Any] = {}
        # it dies with this broker, even one killed with SIGKILL (no orphan left): its
        # process group is killed by a guardian; a program in the terminal's group gets
        # the kernel's parent-death signal itself
        if own_group:
            kwargs["process_group"] = 0
        else:
            preexec = die_with_parent()
            if preexec is not None:
                kwargs["preexec_fn"] = preexec
        import subprocess

        self.proc_started = time.monotonic()
        try:
            self.proc = subprocess.Popen(self.command, env=self._program_env(), **kwargs)
        except OSError as exc:
            self.log.log(LOG_ERR, f"{self.command[0]}: {exc.strerror}")
            self.exit_code = 127 if exc.errno == errno.ENOENT else 126
            self.state_machine.post("rc2-fail")
            return
        self.proc_pgid = self.proc.pid if own_group else None
        if own_group:
            self.guardian = guard_group(self.proc.pid)
        self.proc_watch = self.loop.watch_child(self.proc.pid, self._reap)

    def _reap(self) -> None:
        if self.proc is None or self.proc_status is not None:
            return
        rc = self.proc.poll()
        if rc is None:
            return
        from .runat import exit_record, exit_status

        self.proc_status, what = exit_status(rc)
        # logged as flux-core logs its rc2 entry (an error unless it succeeded, so
        # flux start prints it), as runat logs rc1 and rc3
        assert self.command is not None
        self.log.log(*exit_record("rc2.0", " ".join(self.command), self.proc_status, what,
                                  time.monotonic() - self.proc_started))
        if self.proc_watch is not None:
            self.proc_watch.close()
            self.proc_watch = None
        if self.kill_timer is not None:
            self.kill_timer.cancel()
        # leftovers of the program (background jobs) go with it
        self._signal_program(signal.SIGKILL if self.stopping else signal.SIGTERM, group_only=True)
        self.exit_code = self.proc_status
        self.state_machine.post("rc2-success" if rc == 0 else "rc2-fail")

    def _signal_program(self, signum: int, group_only: bool = False) -> None:
        try:
            if self.proc_pgid is not None:
                os.killpg(self.proc_pgid, signum)
            elif not group_only and self.proc is not None and self.proc_status is None:
                self.proc.send_signal(signum)
        except (ProcessLookupError, PermissionError):
            pass

    def terminate(self, signum: int) -> None:
        """Stop the instance: signal the initial program (if any), then exit."""
        if self.proc is None or self.proc_status is not None:
            if self.modules.closing:  # asked again while modules unload: no more patience
                self.modules.kill_all()
            else:
                self.state_machine.kill(signum)  # no program (or it ended): the machine decides
            return
        if self.stopping:  # second request: no more patience
            self._signal_program(signal.SIGKILL)
            return
        self.stopping = True
        self._signal_program(signum)
        self.kill_timer = self.loop.call_later(KILL_GRACE,
                                               lambda: self._signal_program(signal.SIGKILL))

    def _on_signal(self, signum: int) -> None:
        self.log.log(LOG_INFO, f"{signal.Signals(signum).name} received")
        self.terminate(signum)

    @staticmethod
    def _reap_guardian(pid: int) -> None:
        """SIGTERM the guardian and reap it; SIGKILL if it has not ended within a
        second (it never holds up the broker's exit)."""
        pidfd = -1
        try:
            os.kill(pid, signal.SIGTERM)
            try:  # woken by its exit: a polling sleep held every broker's exit ~2 ms
                pidfd = os.pidfd_open(pid)
            except (AttributeError, OSError):
                pass
            deadline = time.monotonic() + 1.0
            while os.waitpid(pid, os.WNOHANG) == (0, 0):
                left = deadline - time.monotonic()
                if left <= 0:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    break
                if pidfd >= 0:
                    select.select([pidfd], [], [], left)
                else:
                    time.sleep(0.002)
        except (ChildProcessError, ProcessLookupError):
            pass
        finally:
            if pidfd >= 0:
                os.close(pidfd)

    def _end_program(self) -> None:
        """At the broker's end (cleanup): the program killed if it still runs, what is
        left of its group killed, the guardian reaped."""
        if self.proc is not None and self.proc_status is None:
            import subprocess

            self._signal_program(signal.SIGKILL)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self.proc_watch is not None:
            self.proc_watch.close()
            self.proc_watch = None
        if self.guardian is not None:  # what is left of the program's group goes, and it
            if self.proc_pgid is not None:
                try:
                    os.killpg(self.proc_pgid, signal.SIGKILL)
                except OSError:
                    pass
            self._reap_guardian(self.guardian)
            self.guardian = None


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False

"""Starting module processes and collecting them.

A module process is created with ``os.fork()``: the broker is single-threaded
and has the module runtime imported, so a module starts in about a
millisecond.  ``-S module.exec=1`` (or ``flux module load --exec``, or
``FLUX_MODULE_EXEC=1`` in the broker's environment) runs ``flux
module-python-exec PATH`` in a fresh interpreter instead.  Both end in
:func:`flux.core.module_exec.main` with ``FLUX_MODULE_URI=fd://N``, N being
the child's end of a socketpair.

A forked child is made to look like a fresh process before it runs the
module: named ``flux-module NAME`` in ``ps``, its own process group (a
terminal's Ctrl-C is the broker's business), default signal dispositions,
no inherited fds but its socket, and SIGKILL when the broker dies
(``prctl(PR_SET_PDEATHSIG)``).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from typing import Any, Optional

__all__ = ["Spawner", "ModuleProcess"]

_PR_SET_PDEATHSIG = 1


class ModuleProcess:
    """One started module process: signal it, reap it (``status`` once reaped)."""

    def __init__(self, pid: int, popen: Any = None) -> None:
        self.pid = pid
        self.popen = popen  # the exec form's subprocess.Popen
        self.reaped = False
        #: exit code once reaped; a negative number is the killing signal
        self.status: Optional[int] = None

    def kill(self) -> None:
        """SIGKILL, unless it is already reaped."""
        if self.pid and not self.reaped:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def poll(self) -> bool:
        """Reap the process if it has exited (never blocks); True once it is reaped."""
        if self.reaped:
            return True
        if self.popen is not None:
            status = self.popen.poll()
            if status is None:
                return False
        else:
            try:
                pid, wstatus = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pid, wstatus = self.pid, 0
            if pid == 0:
                return False
            status = os.waitstatus_to_exitcode(wstatus)
        self.reaped = True
        self.status = status
        return True

    def wait(self, timeout: float) -> None:
        """Reap within ``timeout`` s, then SIGKILL and reap (the broker is exiting)."""
        deadline = time.monotonic() + timeout
        while not self.poll():
            if time.monotonic() > deadline:
                self.kill()
                if self.popen is not None:
                    self.popen.wait()
                else:
                    try:
                        os.waitpid(self.pid, 0)
                    except ChildProcessError:
                        pass
                self.reaped = True
                return
            time.sleep(0.005)


class Spawner:
    """Creates module processes for one broker (``environ`` is the broker's environment)."""

    def __init__(self, environ: dict[str, str]) -> None:
        self.environ = environ
        self._preloaded = False
        self._libc: Any = None

    def start(self, name: str, path: str, use_exec: bool) -> tuple[socket.socket, ModuleProcess]:
        """Run module ``name`` from the file ``path``; returns the broker's end of its socketpair."""
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if use_exec:
                proc = self._exec(path, child)
            else:
                proc = self._fork(name, path, child)
        except OSError:
            parent.close()
            child.close()
            raise
        child.close()
        return parent, proc

    # -- exec form --------------------------------------------------------------------

    def _exec(self, path: str, child: socket.socket) -> ModuleProcess:
        import subprocess

        fd = child.fileno()
        env = dict(self.environ)
        env["FLUX_MODULE_URI"] = f"fd://{fd}"
        exe_dir = os.path.dirname(os.path.abspath(sys.executable))
        flux_cmd = os.path.join(exe_dir, "flux")
        if os.access(flux_cmd, os.X_OK):
            cmd = [flux_cmd, "module-python-exec", path]
        else:
            cmd = [sys.executable, "-m", "flux.cmd.main", "module-python-exec", path]
        kwargs: dict[str, Any] = {}
        if sys.version_info >= (3, 11):
            kwargs["process_group"] = 0
        popen = subprocess.Popen(cmd, env=env, pass_fds=(fd,), close_fds=True, **kwargs)
        return ModuleProcess(popen.pid, popen)

    # -- fork form ----------------------------------------------------------------------

    def _preload(self) -> None:
        """Import what a module process needs, once, before the first fork."""
        if self._preloaded:
            return
        self._preloaded = True
        import importlib.util  # noqa: F401
        import resource  # noqa: F401
        import traceback  # noqa: F401

        import flux.brokermod  # noqa: F401
        import flux.core.default_methods  # noqa: F401
        import flux.core.handle  # noqa: F401
        import flux.core.module_exec  # noqa: F401
        import flux.core.watchers  # noqa: F401
        import flux.future  # noqa: F401
        import flux.rpc  # noqa: F401
        try:
            import ctypes  # noqa: F401  (parent-death signal, process name)

            self._libc = ctypes.CDLL(None, use_errno=True)
        except Exception:  # noqa: BLE001
            self._libc = None

    def _fork(self, name: str, path: str, child: socket.socket) -> ModuleProcess:
        self._preload()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        pid = os.fork()
        if pid == 0:  # the module process
            code = 127
            try:
                code = self._child(name, path, child.fileno())
            except BaseException:  # noqa: BLE001
                try:
                    import traceback

                    traceback.print_exc()
                except Exception:  # noqa: BLE001
                    pass
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                except Exception:  # noqa: BLE001
                    pass
                os._exit(code)
        return ModuleProcess(pid)

    def _child(self, name: str, path: str, fd: int) -> int:
        """In the forked child: become a clean module process and run the module."""
        from flux.proctitle import set_proctitle

        set_proctitle(name, f"flux-module {name}")  # not the broker's "flux start ..."
        try:
            os.setpgid(0, 0)  # a terminal's Ctrl-C is the broker's business
        except OSError:
            pass
        _reset_signals()
        if self._libc is not None:
            try:
                self._libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            except Exception:  # noqa: BLE001
                pass
        os.closerange(3, fd)
        os.closerange(fd + 1, 1 << 16)
        os.environ["FLUX_MODULE_URI"] = f"fd://{fd}"
        from flux.core import module_exec

        return module_exec.main([path])


def _reset_signals() -> None:
    """Dispositions of a fresh Python: default, but SIGINT raises and SIGPIPE is ignored."""
    try:
        signal.set_wakeup_fd(-1)
    except (ValueError, OSError):
        pass
    for signum in range(1, signal.NSIG):
        if signum in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            if signum == signal.SIGINT:
                signal.signal(signum, signal.default_int_handler)
            elif signum == signal.SIGPIPE:
                signal.signal(signum, signal.SIG_IGN)
            elif signal.getsignal(signum) not in (signal.SIG_DFL, None):
                signal.signal(signum, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass

"""A real Flux instance for a test: ``flux start`` in a temporary directory, stopped at the end.

The instance's initial program writes ``$FLUX_URI`` to a file (the instance is
ready when it appears) and then waits for end of file on its standard input,
which this process holds: closing it ends the program, and ``flux start``
shuts the instance down as it does for any initial program.  A stop that
takes too long falls back to ``flux shutdown``, SIGTERM, then SIGKILL of every
process the instance started.  Everything lives in one fresh directory under
``/tmp`` (short enough for socket paths; unique, so parallel test processes
share nothing), removed at the end.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Optional, Sequence, Union

from .proctree import kill_tree, tree_of

if TYPE_CHECKING:  # pragma: no cover
    from flux.core.handle import Flux

__all__ = ["Instance", "InstanceError", "LogRecord", "start_instance", "flux_command"]

#: the program ``flux start`` runs: publish the URI, then wait for end of input
_INITIAL_PROGRAM = ('printf "%s\\n" "$FLUX_URI" > "$0.tmp" && mv "$0.tmp" "$0" '
                    '&& read _; exit 0')

_SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")

Command = Union[str, Sequence[str]]


class InstanceError(RuntimeError):
    """The instance could not start, or a command it was asked to run failed."""


def flux_command() -> str:
    """The ``flux`` command of this Python (beside ``sys.executable``), else PATH's."""
    here = os.path.join(os.path.dirname(sys.executable), "flux")
    if os.access(here, os.X_OK):
        return here
    found = shutil.which("flux")
    if found is None:
        raise InstanceError("the flux command is not installed (pip install pureflux)")
    return found


def _short_tmpdir() -> str:
    base = "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()
    path = tempfile.mkdtemp(prefix="pftest-", dir=base)
    os.chmod(path, 0o755)
    return path


class LogRecord:
    """One record of the broker's log ring (``flux dmesg``)."""

    __slots__ = ("severity", "text")

    def __init__(self, raw: str) -> None:
        raw = raw.rstrip("\0\n")
        parts = raw.split(" ", 7)
        self.severity = 5
        self.text = raw
        if len(parts) == 8 and parts[0].startswith("<") and ">" in parts[0]:
            try:
                self.severity = min(7, int(parts[0][1:parts[0].index(">")]) >> 3)
            except ValueError:
                return
            stamp, host, app, msg = parts[1], parts[2], parts[3], parts[7]
            self.text = f"{stamp} {app}.{_SEVERITIES[self.severity]}[{host}]: {msg}"

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"LogRecord({self.text!r})"


class Instance:
    """A running instance: ``uri``, ``size``, ``handle()``, ``run()``, ``load_module()``,
    ``dmesg()``.  Made by :func:`start_instance` (or the pytest fixtures)."""

    def __init__(self, size: int = 1, attrs: Optional[Mapping[str, Any]] = None,
                 config: Union[None, str, "os.PathLike[str]", Mapping[str, Any]] = None,
                 env: Optional[Mapping[str, str]] = None, start_timeout: float = 30.0) -> None:
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive integer, not {size!r}")
        self.size = size
        self.attrs = dict(attrs or {})
        self.config = config
        self.start_timeout = start_timeout
        self.flux = flux_command()
        self.tmpdir = ""
        self.rundir = ""
        self.uri = ""
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self._owner_pid = os.getpid()
        self._extra_env = dict(env or {})
        self._handles: list[Flux] = []
        self._modules: list[str] = []  # loaded by load_module, removed at stop
        self._test_modules: list[str] = []  # loaded during the current test
        self._in_test = False
        self._log_mark = 0
        self.env: dict[str, str] = {}

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> "Instance":
        """Start the instance and wait until its initial program runs."""
        self.tmpdir = _short_tmpdir()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _config_path(self) -> Optional[str]:
        if self.config is None:
            return None
        if isinstance(self.config, Mapping):
            from .toml import dumps

            confdir = os.path.join(self.tmpdir, "conf.d")
            os.mkdir(confdir)
            with open(os.path.join(confdir, "test.toml"), "w") as f:
                f.write(dumps(dict(self.config)))
            return confdir
        return os.fspath(self.config)

    def _start(self) -> None:
        self.rundir = os.path.join(self.tmpdir, "run")
        cmd = [self.flux, "start"]
        if self.size > 1:
            os.mkdir(self.rundir)
            cmd += [f"--test-size={self.size}", f"--test-rundir={self.rundir}",
                    "--test-rundir-cleanup"]
        else:
            cmd += ["-S", f"rundir={self.rundir}"]
        for name, value in self.attrs.items():
            cmd += ["-S", f"{name}={_attr_text(value)}"]
        confpath = self._config_path()
        if confpath is not None:
            cmd += ["-c", confpath]
        urifile = os.path.join(self.tmpdir, "uri")
        cmd += ["sh", "-c", _INITIAL_PROGRAM, urifile]
        env = _outside_env()
        env.update(self._extra_env)
        self.logfile = os.path.join(self.tmpdir, "flux-start.log")
        with open(self.logfile, "wb") as log:
            # a session of its own: whatever it starts can be found and killed with it
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log, stderr=log,
                                         env=env, cwd=self.tmpdir, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while not os.path.exists(urifile):
            if self.proc.poll() is not None:
                raise InstanceError(f"flux start exited with {self.proc.returncode}:\n"
                                    f"{self.output()}")
            if time.monotonic() > deadline:
                raise InstanceError(f"the instance did not start within {self.start_timeout}s:"
                                    f"\n{self.output()}")
            time.sleep(0.01)
        with open(urifile) as f:
            self.uri = f.read().strip()
        self.env = _outside_env()
        self.env.update(self._extra_env)
        self.env["FLUX_URI"] = self.uri
        bindir = os.path.dirname(self.flux)
        self.env["PATH"] = bindir + os.pathsep + self.env.get("PATH", "")

    def output(self) -> str:
        """What ``flux start`` wrote on stdout and stderr so far (the broker's log
        at err and worse, its errors)."""
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except (OSError, AttributeError):
            return ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> Optional[int]:
        """Shut the instance down and remove its directory; ``flux start``'s exit code
        (None if it never started).  Safe to call twice."""
        if os.getpid() != self._owner_pid:  # a forked child of the test process
            return None
        for h in self._handles:
            with contextlib.suppress(Exception):
                h.__exit__(None, None, None)
        self._handles.clear()
        proc, code = self.proc, None
        if proc is not None:
            code = self._shutdown(proc, timeout)
            kill_tree(proc.pid)  # anything that outlived it
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = ""
        return code

    def _shutdown(self, proc: "subprocess.Popen[bytes]", timeout: float) -> int:
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        steps = ((None, timeout), ("shutdown", timeout / 2), (signal.SIGTERM, timeout / 2))
        for step, wait in steps:
            if step == "shutdown" and proc.poll() is None:
                with contextlib.suppress(Exception):
                    self.run(["flux", "shutdown"], timeout=wait)
            elif isinstance(step, signal.Signals) and proc.poll() is None:
                with contextlib.suppress(OSError):
                    proc.send_signal(step)
            try:
                return proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        kill_tree(proc.pid)
        return proc.wait()

    def leftover_processes(self) -> set[int]:
        """Processes of this instance still alive (empty once stopped)."""
        return set() if self.proc is None else tree_of(self.proc.pid)

    def __enter__(self) -> "Instance":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<flux.testing.Instance size={self.size} uri={self.uri!r}>"

    # -- using it ---------------------------------------------------------------------------

    def handle(self) -> "Flux":
        """A new handle on the instance (closed when the instance stops)."""
        import flux

        h = flux.Flux(self.uri)
        self._handles.append(h)
        return h

    def run(self, cmd: Command, *, timeout: float = 60.0, check: bool = False,
            input: Union[None, str, bytes] = None, env: Optional[Mapping[str, str]] = None,
            text: bool = True, cwd: Optional[str] = None) -> "subprocess.CompletedProcess[Any]":
        """Run ``cmd`` (an argument list, or a string for ``sh -c``) with FLUX_URI set
        and ``flux`` first on PATH; output is captured.  On timeout the command and
        everything it started are killed and ``subprocess.TimeoutExpired`` raised."""
        args: list[str] = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        penv = dict(self.env)
        penv.update(env or {})
        proc = subprocess.Popen(args, stdin=subprocess.PIPE if input is not None
                                else subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=penv, text=text, cwd=cwd,
                                start_new_session=True)
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            out, err = proc.communicate()
            raise subprocess.TimeoutExpired(args, timeout, out, err) from None
        finally:
            if proc.poll() is None:  # interrupted: leave nothing behind
                kill_tree(proc.pid)
                proc.wait()
        result = subprocess.CompletedProcess(args, proc.returncode, out, err)
        if check:
            result.check_returncode()
        return result

    def load_module(self, path: Union[str, "os.PathLike[str]"], *args: str,
                    name: Optional[str] = None) -> str:
        """``flux module load [--name NAME] PATH ARGS...``; returns the module's name.
        The module is removed at the end of the test that loaded it (under the pytest
        plugin), else when the instance stops.  A failed load raises InstanceError
        with flux module's message."""
        path = os.fspath(path)
        if os.path.exists(path):  # a file: absolute (a bare name is looked up in FLUX_MODULE_PATH)
            path = os.path.abspath(path)
        cmd = ["flux", "module", "load"]
        if name is not None:
            cmd += ["--name", name]
        r = self.run(cmd + [path, *args], timeout=60)
        if r.returncode != 0:
            raise InstanceError(r.stderr.strip() or f"flux module load {path} failed")
        modname = name or os.path.basename(path).rsplit(".", 1)[0]
        (self._test_modules if self._in_test else self._modules).append(modname)
        return modname

    def remove_module(self, name: str) -> None:
        """``flux module remove NAME``; InstanceError if it fails."""
        r = self.run(["flux", "module", "remove", name], timeout=60)
        for lst in (self._modules, self._test_modules):
            if name in lst:
                lst.remove(name)
        if r.returncode != 0:
            raise InstanceError(r.stderr.strip() or f"flux module remove {name} failed")

    def _remove_modules(self, names: list[str]) -> list[str]:
        """Remove what is still loaded of ``names`` (newest first); the errors."""
        errors = []
        for modname in reversed(list(names)):
            try:
                self.remove_module(modname)
            except InstanceError as exc:
                if "No such file or directory" not in str(exc) and "not loaded" not in str(exc):
                    errors.append(str(exc))
        return errors

    def dmesg(self, since: int = 0) -> list[LogRecord]:
        """The broker's log ring as ``flux dmesg`` shows it (oldest first); with ``since``
        (a :meth:`log_count`), only records logged after it (those still in the ring)."""
        from flux.constants import FLUX_RPC_STREAMING

        import flux

        with flux.Flux(self.uri) as h:
            records = []
            f = h.rpc("log.dmesg", {"follow": False, "nobacklog": False},
                      flags=FLUX_RPC_STREAMING)
            while True:
                try:
                    f.wait_for(10)
                    text = f.get_str()
                except OSError as exc:
                    if exc.errno == errno.ENODATA:
                        break
                    raise
                records.append(LogRecord(text or ""))
                f.reset()
            if since:
                new = self.log_count(h) - since
                records = records[len(records) - new:] if 0 < new < len(records) else (
                    records if new > 0 else [])
        return records

    def log_count(self, h: "Optional[Flux]" = None) -> int:
        """How many records the broker has logged so far (a mark for :meth:`dmesg`)."""
        import flux

        if h is None:
            with flux.Flux(self.uri) as h2:
                return int(h2.rpc("log.stats-get").wait_for(10).get()["count"])
        return int(h.rpc("log.stats-get").wait_for(10).get()["count"])

    # -- what the pytest plugin calls around each test --------------------------------------

    @property
    def owned_here(self) -> bool:
        """Started by this process (not a forked copy of it)."""
        return os.getpid() == self._owner_pid

    def begin_test(self) -> None:
        """A test's setup starts: remember the log's position."""
        self._in_test = False
        if self.running:
            with contextlib.suppress(Exception):
                self._log_mark = self.log_count()

    def begin_test_body(self) -> None:
        """The test function runs: modules loaded from now on are removed at its end."""
        self._in_test = True

    def end_test(self) -> list[str]:
        """The test ended: remove the modules it loaded; errors removing them."""
        self._in_test = False
        mods, self._test_modules = self._test_modules, []
        return self._remove_modules(mods) if self.running else []

    def problems_since_test_began(self, worst: int = 3) -> list[LogRecord]:
        """Records at ``worst`` (LOG_ERR) or more severe logged since :meth:`begin_test`."""
        if not self.running:
            return []
        return [r for r in self.dmesg(since=self._log_mark) if r.severity <= worst]


def _attr_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _outside_env() -> dict[str, str]:
    """os.environ without the variables of an enclosing instance."""
    env = dict(os.environ)
    for name in ("FLUX_URI", "FLUX_INSTANCE_LEVEL", "FLUX_KVS_NAMESPACE", "FLUX_JOB_ID",
                 "FLUX_MODULE_URI"):
        env.pop(name, None)
    return env


@contextlib.contextmanager
def start_instance(size: int = 1, attrs: Optional[Mapping[str, Any]] = None,
                   config: Union[None, str, "os.PathLike[str]", Mapping[str, Any]] = None,
                   env: Optional[Mapping[str, str]] = None,
                   start_timeout: float = 30.0) -> Iterator[Instance]:
    """An instance of ``size`` brokers with broker attributes ``attrs`` (``-S``) and
    configuration ``config`` (a dict written as TOML, or a path), stopped on exit."""
    inst = Instance(size=size, attrs=attrs, config=config, env=env,
                    start_timeout=start_timeout).start()
    try:
        yield inst
    finally:
        inst.stop()

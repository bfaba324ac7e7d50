"""Shared fixtures: find the ``flux`` command, run a broker for a test.

``instance`` (function scope) and ``shared_instance`` (module scope) yield an
:class:`Instance`: ``.uri``, ``.rundir``, ``.env`` (os.environ copy with
FLUX_URI set), ``.proc`` and ``.run(*args, **kw)`` which runs ``flux ARGS``
inside it.  Teardown shuts the broker down and checks it is gone, its socket
and run directory removed.  ``start_instance(*setattrs)`` is the context
manager behind both, for tests that need special attributes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from proctree import kill_tree, run_tree  # noqa: E402

# pytest started as a background job of a script (``cmd &``) inherits SIGINT ignored,
# and so would every command a test runs: Python then never raises KeyboardInterrupt,
# a Ctrl-C sent to a job never reaches its tasks.  Tests expect what a terminal gives.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)



def pytest_addoption(parser: Any) -> None:
    parser.addoption("--stress", action="store_true", default=False,
                     help="run the long reliability runs too (a million fuzzed inputs, ...)")


REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
INTEROP = Path(__file__).resolve().parent / "data" / "interop"


def flux_exe() -> str:
    """The ``flux`` command of this Python (next to sys.executable), else PATH's."""
    cand = Path(sys.executable).parent / "flux"
    if cand.exists() and os.access(cand, os.X_OK):
        return str(cand)
    found = shutil.which("flux")
    if found is None:
        pytest.skip("the flux command is not installed")
    return found


def short_tmpdir() -> str:
    """A fresh directory short enough for unix socket paths (< 108 bytes)."""
    return tempfile.mkdtemp(prefix="pf-", dir="/tmp")


def base_env() -> dict[str, str]:
    """os.environ without the enclosing instance's variables."""
    env = dict(os.environ)
    for name in ("FLUX_URI", "FLUX_INSTANCE_LEVEL"):
        env.pop(name, None)
    return env


def wait_for_socket(path: str, proc: Optional[subprocess.Popen] = None,
                    timeout: float = 10.0) -> None:
    """Until a connection to ``path`` gets the handshake byte."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"broker exited with {proc.returncode}: {out}")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(1.0)
                s.connect(path)
                if s.recv(1) == b"\x00":
                    return
        except OSError:
            pass
        time.sleep(0.005)
    raise TimeoutError(f"broker socket {path} did not answer within {timeout}s")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return False


class Instance:
    """A running ``flux broker`` started for a test."""

    def __init__(self, proc: subprocess.Popen, rundir: str, tmpdir: str) -> None:
        self.proc = proc
        self.rundir = rundir
        self.tmpdir = tmpdir
        self.uri = f"local://{rundir}/local-0"
        self.path = f"{rundir}/local-0"
        self.env = base_env()
        self.env["FLUX_URI"] = self.uri
        self.flux = flux_exe()

    def run(self, *args: str, timeout: float = 30, check: bool = False,
            **kw: Any) -> subprocess.CompletedProcess:
        """``flux ARGS`` inside the instance; output captured as text."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        env = dict(self.env)
        env.update(kw.pop("env", {}) or {})
        return run_tree([self.flux, *args], env=env, timeout=timeout, check=check, **kw)

    def client(self, timeout: float = 5.0) -> Any:
        """A tests/rawclient.RawClient connected to this instance."""
        from rawclient import RawClient

        return RawClient(self.path, timeout=timeout)

    def stop(self, timeout: float = 10.0) -> int:
        """Shut down (flux shutdown, then SIGTERM, then SIGKILL); returns exit code."""
        if self.proc.poll() is None:
            try:
                self.run("shutdown", timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                kill_tree(self.proc.pid)
                self.proc.wait()
        return self.proc.returncode


@contextlib.contextmanager
def start_instance(*setattrs: str, args: tuple[str, ...] = (),
                   env: Optional[dict[str, str]] = None) -> Iterator[Instance]:
    """Run ``flux broker -S rundir=... [-S A=B ...] [ARGS]`` for the duration."""
    tmpdir = short_tmpdir()
    os.chmod(tmpdir, 0o755)
    rundir = os.path.join(tmpdir, "run")
    cmd = [flux_exe(), "broker", "-S", f"rundir={rundir}"]
    for sa in setattrs:
        cmd += ["-S", sa]
    cmd += list(args)
    penv = base_env()
    penv.update(env or {})
    # a session of its own: whatever it starts (jobs, the shell fork server) is killed
    # with it if it must be killed
    proc = subprocess.Popen(cmd, env=penv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    inst = Instance(proc, rundir, tmpdir)
    try:
        wait_for_socket(inst.path, proc)
        yield inst
    finally:
        inst.stop()
        alive = pid_alive(proc.pid)
        kill_tree(proc.pid)
        leftover = os.path.exists(rundir)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
        shutil.rmtree(tmpdir, ignore_errors=True)
        assert not alive, "broker still running after shutdown"
        assert not leftover, "broker left its run directory behind"


@pytest.fixture
def instance() -> Iterator[Instance]:
    """A fresh broker for one test."""
    with start_instance() as inst:
        yield inst


@pytest.fixture(scope="module")
def shared_instance() -> Iterator[Instance]:
    """One broker shared by the tests of a module (cheaper; tests must not break it)."""
    with start_instance() as inst:
        yield inst


@pytest.fixture
def flux_cmd() -> str:
    return flux_exe()


def interop(name: str) -> bytes:
    """Bytes of a flux-core capture in tests/data/interop."""
    return (INTEROP / f"{name}.bin").read_bytes()

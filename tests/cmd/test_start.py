"""``flux start`` / ``flux broker`` / ``flux shutdown`` run the way a user runs them."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import base_env, flux_exe, pid_alive, short_tmpdir, wait_for_socket
from proctree import kill_tree, run_tree

pytestmark = pytest.mark.timeout(40)


def flux(*args: str, timeout: float = 20, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("env", base_env())
    return run_tree([flux_exe(), *args], capture_output=True, text=True,
                    timeout=timeout, **kw)


def rundirs(tmpdir: str) -> list[str]:
    return glob.glob(os.path.join(tmpdir, "flux-*"))


@pytest.fixture
def tmpdir_env():
    d = short_tmpdir()
    env = base_env()
    env["TMPDIR"] = d
    yield d, env
    import shutil
    shutil.rmtree(d, ignore_errors=True)


def test_start_runs_command_and_returns_its_status(tmpdir_env):
    d, env = tmpdir_env
    r = flux("start", "sh", "-c", 'echo "$FLUX_URI"; exit 7', env=env)
    assert r.returncode == 7, r.stderr
    uri = r.stdout.strip()
    assert uri.startswith(f"local://{d}/flux-") and uri.endswith("/local-0")
    assert rundirs(d) == []  # cleaned up


def test_start_signal_status_and_true(tmpdir_env):
    d, env = tmpdir_env
    assert flux("start", "true", env=env).returncode == 0
    assert flux("start", "sh", "-c", "kill -TERM $$", env=env).returncode == 128 + 15
    r = flux("start", "/nonexistent/cmd", env=env)
    assert r.returncode == 127
    assert rundirs(d) == []


def test_flux_inside_instance_is_ours(tmpdir_env):
    d, env = tmpdir_env
    script = 'command -v flux; flux getattr size 2>/dev/null || true'
    r = flux("start", "sh", "-c", script, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == flux_exe()


def test_setattr_and_nested_instance(tmpdir_env):
    d, env = tmpdir_env
    code = (
        "import os, sys; sys.path.insert(0, %r)\n"
        "from rawclient import RawClient\n"
        "c = RawClient(os.environ['FLUX_URI'])\n"
        "g = lambda n: c.rpc('attr.get', {'name': n}).payload['value']\n"
        "print(g('log-ring-size'), g('instance-level'), g('parent-uri') if g('instance-level') != '0' else '-')\n"
    ) % os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    inner = [flux_exe(), "start", sys.executable, "-c", code]
    r = flux("start", "-S", "log-ring-size=77", "--setattr=log-stderr-level=4",
             sys.executable, "-c", code, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["77", "0", "-"]
    outer = ("import os, subprocess, sys; r = subprocess.run(%r); "
             "print(os.environ['FLUX_URI']); sys.exit(r.returncode)") % (inner,)
    r = flux("start", sys.executable, "-c", outer, env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    ring, level, parent = lines[0].split()
    assert level == "1" and parent == lines[1]


def test_bad_setattr_rejected(tmpdir_env):
    d, env = tmpdir_env
    r = flux("start", "-S", "rank=3", "true", env=env)
    assert r.returncode == 1 and "rank" in r.stderr
    r = flux("start", "-S", "log-level=bogus", "true", env=env)
    assert r.returncode == 1 and "log-level" in r.stderr
    assert rundirs(d) == []


def test_test_rundir_is_kept(tmpdir_env):
    d, env = tmpdir_env
    rd = os.path.join(d, "mine")
    os.mkdir(rd)
    r = flux("start", f"--test-rundir={rd}", "sh", "-c", 'echo "$FLUX_URI"', env=env)
    assert r.returncode == 0 and r.stdout.strip() == f"local://{rd}/local-0"
    assert os.path.isdir(rd) and os.listdir(rd) == []


_STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _kill_leftovers():
    """Whatever a test started in the background (its brokers and programs
    included) is killed when the test ends, passed or failed."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        kill_tree(proc.pid)
        proc.communicate(timeout=10)


def _start_bg(env: dict, *args: str, cmd: str = "start", **kw) -> subprocess.Popen:
    kw.setdefault("stdout", subprocess.PIPE)
    proc = subprocess.Popen([flux_exe(), cmd, *args], env=env, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, **kw)
    _STARTED.append(proc)
    return proc


def _wait_rundir(d: str, proc: subprocess.Popen) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = rundirs(d)
        if found and os.path.exists(os.path.join(found[0], "local-0")):
            wait_for_socket(os.path.join(found[0], "local-0"), None)
            return found[0]
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.01)
    raise TimeoutError("no rundir")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_everything(tmpdir_env, sig):
    d, env = tmpdir_env
    pidfile = os.path.join(d, "pids")
    proc = _start_bg(env, "sh", "-c", f"sleep 300 & echo $! > {pidfile}; echo $$ >> {pidfile}; wait")
    _wait_rundir(d, proc)
    deadline = time.monotonic() + 5
    while not (os.path.exists(pidfile) and len(open(pidfile).read().split()) == 2):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    pids = [int(p) for p in open(pidfile).read().split()]
    os.unlink(pidfile)
    proc.send_signal(sig)
    rc = proc.wait(timeout=15)
    assert rc == 128 + sig, proc.stderr.read()
    deadline = time.monotonic() + 5  # a killed process still has to be scheduled to die
    while [p for p in pids if pid_alive(p)] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not [p for p in pids if pid_alive(p)]
    assert rundirs(d) == []


def test_flux_shutdown_inside_and_outside(tmpdir_env):
    d, env = tmpdir_env
    # from inside the initial program: it gets SIGHUP, as flux-core's rc2, whose
    # status is the instance's (128 + 1)
    r = flux("start", "sh", "-c", "flux shutdown; sleep 30", env=env)
    assert r.returncode == 129, r.stderr
    assert rundirs(d) == []
    # from another process, against a long-running initial program
    proc = _start_bg(env, "sleep", "300")
    rd = _wait_rundir(d, proc)
    env2 = dict(env, FLUX_URI=f"local://{rd}/local-0")
    t0 = time.monotonic()
    r = flux("shutdown", env=env2)
    assert r.returncode == 0, r.stderr
    assert proc.wait(timeout=10) == 129
    assert time.monotonic() - t0 < 5
    assert rundirs(d) == []
    # outside any instance
    r = flux("shutdown", env=env)
    assert r.returncode == 1 and "flux-shutdown" in r.stderr


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs /proc children lists")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signal_exit_status_is_128_plus_signal(tmpdir_env, sig):
    """flux start sleep 60: SIGTERM -> 143, SIGINT -> 130, SIGHUP -> 129; the
    program is gone and so is the run directory."""
    d, env = tmpdir_env
    proc = _start_bg(env, "sleep", "60")
    try:
        _wait_rundir(d, proc)
        deadline = time.monotonic() + 5
        while not (kids := [p for p in _children(proc.pid)
                            if open(f"/proc/{p}/comm").read().strip() == "sleep"]):
            assert time.monotonic() < deadline, "sleep never started"
            time.sleep(0.01)
        proc.send_signal(sig)
        rc = proc.wait(timeout=15)
        assert rc == 128 + sig, (rc, proc.stderr.read())
        deadline = time.monotonic() + 2
        while pid_alive(kids[0]) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not pid_alive(kids[0]), "the initial program was left behind"
        assert rundirs(d) == []
    finally:
        if proc.poll() is None:
            kill_tree(proc.pid)
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_flux_shutdown_connection_errors_as_flux_cores(tmpdir_env):
    """flux shutdown reports a missing instance as flux-core's does (its own text, not
    the one of commands that use flux_open's): ``error connecting to Flux: STRERROR``."""
    d, env = tmpdir_env
    env = dict(env, FLUX_LOCAL_CONNECTOR_RETRY_COUNT="0")
    dead = dict(env, FLUX_URI=f"local://{d}/x")
    for e in (env, dead):
        sd = flux("shutdown", env=e)
        assert sd.returncode == 1 and sd.stdout == ""
        assert sd.stderr == "flux-shutdown: error connecting to Flux: No such file or directory\n"


# -- flux start without COMMAND: an interactive $SHELL ------------------------------------------


@pytest.mark.parametrize("shell", ["/bin/sh", None])
def test_start_without_command_runs_shell(tmpdir_env, shell):
    """The shell reads its commands from stdin; its exit status is flux start's.
    With SHELL unset the shell is /bin/sh."""
    d, env = tmpdir_env
    env = dict(env)
    if shell is None:
        env.pop("SHELL", None)
        script = 'flux getattr size; readlink /proc/$$/exe; exit 7\n'
    else:
        env["SHELL"] = shell
        script = 'flux getattr size; exit 7\n'
    r = run_tree([flux_exe(), "start"], input=script, env=env, capture_output=True,
                 text=True, timeout=20)
    assert r.returncode == 7, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "1"
    if shell is None:
        assert lines[1] == os.path.realpath("/bin/sh")
    assert rundirs(d) == []


def _pty_available() -> bool:
    try:
        import pty  # noqa: F401

        m, s = os.openpty()
    except (ImportError, OSError):
        return False
    os.close(m)
    os.close(s)
    return True


@pytest.mark.skipif(not _pty_available(), reason="no pseudo-terminal available (os.openpty failed)")
def test_interactive_shell_survives_ctrl_c(tmpdir_env):
    """On a terminal, Ctrl-C at the shell prompt does not stop the instance;
    ``exit 3`` then ends it with status 3."""
    import pty
    import select

    d, env = tmpdir_env
    env = dict(env, SHELL="/bin/sh", PS1="PF-PROMPT> ")
    exe = flux_exe()
    pid, fd = pty.fork()
    if pid == 0:  # child: session leader with the pty as controlling terminal
        try:
            os.execve(exe, [exe, "start"], env)
        finally:
            os._exit(127)
    buf = bytearray()
    mark = 0

    def read_until(pat: bytes, timeout: float = 10.0) -> bool:
        """Read until ``pat`` appears in output not yet consumed by a previous call."""
        nonlocal mark
        end = time.monotonic() + timeout
        while pat not in buf[mark:] and time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                buf.extend(data)
        found = buf.find(pat, mark)
        if found < 0:
            return False
        mark = found + len(pat)
        return True

    status = None
    try:
        assert read_until(b"PF-PROMPT> "), bytes(buf)
        os.write(fd, b"\x03")  # Ctrl-C: SIGINT to the terminal's foreground group
        assert read_until(b"PF-PROMPT> ", 5), bytes(buf)  # a new prompt: the shell lives
        time.sleep(0.2)
        # the instance is still there, and the broker never saw the SIGINT (an
        # interactive shell puts itself in the terminal's foreground group)
        os.write(fd, b"flux getattr size; flux dmesg | grep -c 'SIGINT received'\n")
        assert read_until(b"\n1\r\n0\r\n"), bytes(buf)
        assert rundirs(d) != []
        os.write(fd, b"exit 3\n")
        end = time.monotonic() + 10
        while time.monotonic() < end:
            read_until(b"\0", 0.05)  # keep draining the terminal
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(st)
                break
        assert status == 3, (status, bytes(buf))
        assert rundirs(d) == []
    finally:
        if status is None:
            kill_tree(pid)  # flux start leads the session of the terminal
            os.waitpid(pid, 0)
        os.close(fd)


def test_broker_without_command(tmpdir_env):
    d, env = tmpdir_env
    rd = os.path.join(d, "b")
    proc = _start_bg(env, "-S", f"rundir={rd}", cmd="broker", stdout=None)
    wait_for_socket(os.path.join(rd, "local-0"), proc)
    r = flux("shutdown", env=dict(env, FLUX_URI=f"local://{rd}/local-0"))
    assert r.returncode == 0, r.stderr
    assert proc.wait(timeout=10) == 0
    assert not os.path.exists(rd)


def test_startup_is_fast(tmpdir_env):
    d, env = tmpdir_env
    best = min(_timed(env) for _ in range(3))
    assert best < 2.0  # generous: a loaded CI machine; typically ~0.1 s


def _timed(env: dict) -> float:
    t0 = time.monotonic()
    assert flux("start", "true", env=env).returncode == 0
    return time.monotonic() - t0


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")
def test_idle_broker_uses_no_cpu(instance):
    with instance.client() as c:  # some traffic first: the busy-poll must end
        for i in range(100):
            c.rpc("broker.ping", {"seq": i, "pad": ""}, matchtag=i + 1)
        time.sleep(0.05)
        before = _cpu_seconds(instance.proc.pid)
        time.sleep(1.0)
        assert _cpu_seconds(instance.proc.pid) - before < 0.05


def test_programs_in_an_instance_can_import_flux(tmp_path):
    """The seed document: inside an instance PYTHONPATH lets any Python
    (here the interpreter behind the venv) ``import flux``."""
    base_python = getattr(sys, "_base_executable", None) or sys.executable
    env = base_env()
    env.pop("PYTHONPATH", None)
    proc = run_tree(
        [flux_exe(), "start", base_python, "-c",
         "import flux; print(flux.Flux().attr_get('size'))"],
        env=env, capture_output=True, text=True, timeout=60, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "1\n"


def test_broker_opts_are_comma_separated_and_attach(tmpdir_env):
    """flux-core's idiom: ``flux start -o,-Sname=value,-Sother=value``; short options
    take their value attached (``-s2``) or as the next word."""
    d, env = tmpdir_env
    show = 'flux getattr log-stderr-level; flux getattr broker.rc1_path; flux getattr size'
    r = flux("start", "-o,-Slog-stderr-level=5,-Sbroker.rc1_path=", "-s2",
             "sh", "-c", show, env=env)
    assert (r.returncode, r.stdout.split()) == (0, ["5", "2"]), r.stderr
    r = flux("start", "-o", "-Slog-stderr-level=4", "sh", "-c", "flux getattr log-stderr-level",
             env=env)
    assert (r.returncode, r.stdout.strip()) == (0, "4"), r.stderr
    r = flux("start", "-o,-Snosuch=1", "true", env=env)
    assert (r.returncode, r.stderr) == (1, "flux-broker: nosuch: unknown attribute\n")


def test_broker_verbose_option(tmpdir_env):
    """flux-core's ``flux broker -v``: its info records on its own stderr in the
    local form; ``-S`` given explicitly wins.  Also through ``flux start -o,-v``."""
    d, env = tmpdir_env
    r = flux("start", "-s2", "-o,-v", "true", env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert any(ln.startswith("<6>broker.info[0]: start: local://") for ln in lines)
    assert any(ln.startswith("<6>broker.info[1]: start: local://") for ln in lines)
    r = flux("start", "-s2", "-o,-v,-Slog-stderr-level=3", "true", env=env)
    assert (r.returncode, r.stderr) == (0, "")
    r = flux("broker", "--verbose=1", "true", env=env)
    assert r.returncode == 0 and "<6>broker.info[0]: start: local://" in r.stderr
    r = flux("broker", "--verbose=x", "true", env=env)
    assert (r.returncode, r.stderr) == (1, "flux-broker: --verbose: invalid level 'x'\n")


def test_start_verbose_and_noexec(tmpdir_env):
    """flux-core's ``flux start -v``: the broker command lines on stderr (with
    ``-vv`` also the PMI exchange, ``N: C: ...`` / ``N: S: ...``); ``-X`` starts
    nothing and leaves no run directory."""
    d, env = tmpdir_env
    r = flux("start", "-X", "-v", "true", env=env)
    assert r.returncode == 0 and r.stderr.startswith("flux-start: ") and \
        r.stderr.rstrip().endswith(" broker true"), r.stderr
    r = flux("start", "-s2", "-X", "-v", "true", env=env)
    lines = r.stderr.splitlines()
    assert r.returncode == 0 and len(lines) == 2, r.stderr
    assert lines[0].startswith("flux-start: 0: ") and lines[0].endswith(" true")
    assert lines[1].startswith("flux-start: 1: ") and " broker --setattr=rundir=" in lines[1]
    assert rundirs(d) == []
    r = flux("start", "-s2", "--verbose=2", "true", env=env)
    assert r.returncode == 0, r.stderr
    assert "0: C: cmd=init pmi_version=1 pmi_subversion=1" in r.stderr.splitlines()
    assert any(ln.startswith("1: S: cmd=barrier_out") for ln in r.stderr.splitlines())
    r = flux("start", "-v", "true", env=env)  # the broker's log is not shown
    assert (r.returncode, len(r.stderr.splitlines())) == (0, 1), r.stderr

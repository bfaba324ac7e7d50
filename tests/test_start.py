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

pytestmark = pytest.mark.timeout(40)


def flux(*args: str, timeout: float = 20, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("env", base_env())
    return subprocess.run([flux_exe(), *args], capture_output=True, text=True,
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
    ) % os.path.dirname(os.path.abspath(__file__))
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


def _start_bg(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([flux_exe(), "start", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


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
    assert rc == 128 + sig or rc == 0, proc.stderr.read()
    time.sleep(0.1)
    assert not [p for p in pids if pid_alive(p)]
    assert rundirs(d) == []


def test_flux_shutdown_inside_and_outside(tmpdir_env):
    d, env = tmpdir_env
    # from inside the initial program
    r = flux("start", "sh", "-c", "flux shutdown; sleep 30", env=env)
    assert r.returncode == 0, r.stderr
    assert rundirs(d) == []
    # from another process, against a long-running initial program
    proc = _start_bg(env, "sleep", "300")
    rd = _wait_rundir(d, proc)
    env2 = dict(env, FLUX_URI=f"local://{rd}/local-0")
    t0 = time.monotonic()
    r = flux("shutdown", env=env2)
    assert r.returncode == 0, r.stderr
    assert proc.wait(timeout=10) == 0
    assert time.monotonic() - t0 < 5
    assert rundirs(d) == []
    # outside any instance
    r = flux("shutdown", env=env)
    assert r.returncode == 1 and "flux-shutdown" in r.stderr


def test_broker_without_command(tmpdir_env):
    d, env = tmpdir_env
    rd = os.path.join(d, "b")
    proc = subprocess.Popen([flux_exe(), "broker", "-S", f"rundir={rd}"], env=env,
                            stderr=subprocess.PIPE, text=True)
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
    proc = subprocess.run(
        [flux_exe(), "start", base_python, "-c",
         "import flux; print(flux.Flux().attr_get('size'))"],
        env=env, capture_output=True, text=True, timeout=60, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "1\n"

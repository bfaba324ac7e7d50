"""A real broker's life in flux-core's states: start-up to run, the initial
program, shutdown through exit; rc1/rc3 (``broker.rc1_path``/``broker.rc3_path``),
``runat.push``, ``broker.getenv``/``broker.setenv``, state-machine.get/monitor/wait."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import time

import pytest
from conftest import base_env, flux_exe, short_tmpdir, start_instance, wait_for_socket
from proctree import kill_tree, run_tree, tree_of

pytestmark = pytest.mark.timeout(60)

STREAMING = 0x40


@pytest.fixture
def tmp():
    d = short_tmpdir()
    yield d
    import shutil

    shutil.rmtree(d, ignore_errors=True)


def start(tmpdir: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    env = base_env()
    env["TMPDIR"] = tmpdir
    return run_tree([flux_exe(), "start", *args], env=env, capture_output=True, text=True,
                    timeout=timeout)


def test_startup_walks_flux_cores_states_to_run(tmp):
    r = start(tmp, "flux", "dmesg")
    assert r.returncode == 0, r.stderr
    steps = ["builtins-success: load-builtins->join ", "parent-none: join->config-sync ",
             "sync-none: config-sync->init ", "rc1-none: init->quorum ", "online: ",
             "quorum-full: quorum->run "]
    lines = r.stdout.splitlines()
    found = [next(i for i, line in enumerate(lines) if f"broker.info[0]: {s}" in line)
             for s in steps]
    assert found == sorted(found)


def test_get_wait_and_monitor_through_shutdown():
    with start_instance() as inst:
        with inst.client() as c:
            m = c.rpc("state-machine.get")
            assert m.errnum == 0 and m.payload["state"] == "run"
            assert isinstance(m.payload["duration"], float) and m.payload["duration"] >= 0
            assert c.rpc("state-machine.wait", matchtag=2).errnum == 0
            first = c.rpc("state-machine.monitor", {"final": 11}, matchtag=3, flags=STREAMING)
            assert first.payload == {"state": 5}
            r = inst.run("shutdown", "--background")
            assert r.returncode == 0, r.stderr
            states = []
            while True:
                m = c.recv(timeout=10)
                if m.matchtag != 3:
                    continue
                if m.errnum:
                    assert m.errnum == errno.ENODATA
                    break
                states.append(m.payload["state"])
            assert states == [6, 7, 8, 9, 10, 11]
        assert inst.proc.wait(timeout=10) == 0


def test_rc1_and_rc3_run_around_the_initial_program(tmp):
    log = os.path.join(tmp, "order")
    r = start(tmp, "-S", f"broker.rc1_path=echo rc1 >>{log}",
              "-S", f"broker.rc3_path=echo rc3 >>{log}",
              "sh", "-c", f"echo program >>{log}; flux getattr broker.rc1_path")
    assert r.returncode == 0, r.stderr
    assert open(log).read().split() == ["rc1", "program", "rc3"]
    assert r.stdout.strip() == f"echo rc1 >>{log}"


def test_empty_rc_paths_disable_them(tmp):
    r = start(tmp, "-S", "broker.rc1_path=", "-S", "broker.rc3_path=",
              "sh", "-c", "flux getattr broker.rc1_path; flux getattr broker.rc3_path")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "\n\n"


def test_rc1_failure_skips_the_program_and_is_the_exit_code(tmp):
    marker = os.path.join(tmp, "ran")
    r = start(tmp, "-S", "broker.rc1_path=echo oops >&2; exit 3", "touch", marker)
    assert r.returncode == 3
    assert not os.path.exists(marker)
    assert "broker.err[0]: rc1.0: oops" in r.stderr  # rc output goes to the log (err: stderr)


def test_rc3_failure_is_the_exit_code_unless_the_program_failed(tmp):
    assert start(tmp, "-S", "broker.rc3_path=exit 5", "true").returncode == 5
    assert start(tmp, "-S", "broker.rc3_path=exit 5", "sh", "-c", "exit 2").returncode == 2


def test_runat_push_cleanup_and_setenv_reach_later_phases(tmp):
    out = os.path.join(tmp, "out")
    script = (
        "import flux\n"
        "h = flux.Flux()\n"
        "h.rpc('runat.push', {'name': 'cleanup',\n"
        f"                    'commands': ['echo cleanup $PF_VAR >>{out}']}}).get()\n"
        "h.rpc('broker.setenv', {'env': {'PF_VAR': 'set-by-rpc'}}).get()\n"
        "print(h.rpc('broker.getenv', {'names': ['PF_VAR', 'PF_NOPE']}).get())\n"
        "try:\n"
        "    h.rpc('runat.push', {'name': 'rc2', 'commands': ['true']}).get()\n"
        "except OSError as e:\n"
        "    print(e.errno)\n"
    )
    r = start(tmp, "-S", f"broker.rc3_path=echo rc3 $PF_VAR >>{out}", "flux", "python", "-c",
              script)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["{'env': {'PF_VAR': 'set-by-rpc'}}", str(errno.ENOENT)]
    assert open(out).read().splitlines() == ["cleanup set-by-rpc", "rc3 set-by-rpc"]


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode() for a in f.read().split(b"\0")[:-1]]
    except OSError:
        return []


def test_signal_during_rc1_aborts_it(tmp):
    rundir = os.path.join(tmp, "run")
    env = base_env()
    proc = subprocess.Popen([flux_exe(), "broker", "-S", f"rundir={rundir}",
                             "-S", "broker.rc1_path=sleep 30"], env=env,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for_socket(os.path.join(rundir, "local-0"), proc)
        deadline = time.monotonic() + 20  # until rc1 runs
        while not [p for p in tree_of(proc.pid) if _cmdline(p) == ["sleep", "30"]]:
            assert time.monotonic() < deadline, "rc1 never started"
            time.sleep(0.02)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 128 + signal.SIGHUP  # rc1 was hung up on
        assert time.monotonic() - t0 < 10
    finally:
        kill_tree(proc.pid)  # the broker and its rc1
        proc.wait()
        proc.stderr.close()

"""Jobs across the brokers of an instance (``flux start --test-size=N``): R lists every
rank, shells run on the ranks of R (placement proven by ``flux getattr rank`` inside the
tasks), exit codes, cancel leaves no task on any rank, and a broker killed mid-job gives
flux-core's "node failure" exception with its rank marked down."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid

import pytest

from conftest import base_env, flux_exe
from test_tbon import Tbon, _alive, tbon_instance

pytest.importorskip("zmq")


def _marker() -> str:
    """A ``sleep`` argument no other process has (GNU sleep takes fractions)."""
    return f"300.{uuid.uuid4().int % 10**9:09d}"


def _procs(marker: str) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    pids = []
    for line in out.splitlines():
        pid, _, args = line.strip().partition(" ")
        if args.strip() == f"sleep {marker}":
            pids.append(int(pid))
    return [p for p in pids if _alive(p)]


def _wait_procs(marker: str, count: int, timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        pids = _procs(marker)
        if len(pids) == count:
            return pids
        assert time.monotonic() < deadline, f"{len(pids)} tasks, not {count}"
        time.sleep(0.05)


def _run(t: Tbon, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``flux ARGS`` on rank 0 with no standard input (``flux run`` forwards its stdin)."""
    r = subprocess.run([flux_exe(), *args], env=dict(base_env(), FLUX_URI=t.uri(0)),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    if check:
        assert r.returncode == 0, f"flux {' '.join(args)} -> {r.returncode}:\n{r.stderr}"
    return r


def _submit_sleepers(t: Tbon, nnodes: int, marker: str) -> str:
    jobid = t.run("submit", f"-N{nnodes}", f"-n{nnodes}", "sleep", marker).stdout.strip()
    t.run("job", "wait-event", "-t", "30", jobid, "start", timeout=40)
    return jobid


def test_size2_R_placement_label_io_and_exit_codes():
    with tbon_instance(2) as t:
        R = json.loads(t.run("kvs", "get", "resource.R").stdout)
        ncores = len(os.sched_getaffinity(0))
        cores = "0" if ncores == 1 else f"0-{ncores - 1}"
        assert R["execution"]["R_lite"] == [{"rank": "0-1", "children": {"core": cores}}]
        assert R["execution"]["nodelist"] == [f"{t.host},{t.host}"]  # one hostlist
        lines = t.run("resource", "list", "-s", "free", "-no", "{nnodes} {ncores}").stdout
        assert lines.split() == ["2", str(2 * ncores)]
        # four tasks on two nodes: tasks 0,1 on rank 0, tasks 2,3 on rank 1 (block map)
        r = _run(t, "run", "-N2", "-n4", "--label-io", "sh", "-c",
                  'echo "$FLUX_TASK_RANK $FLUX_TASK_LOCAL_ID $($0 getattr rank) '
                  '$FLUX_JOB_NNODES"', flux_exe())
        assert sorted(r.stdout.splitlines()) == [
            "0: 0 0 0 2", "1: 1 1 0 2", "2: 2 0 1 2", "3: 3 1 1 2"]
        # -N alone: one task per node (R's nslots, as flux-core's shell counts them)
        r = _run(t, "run", "-N2", "--label-io", "sh", "-c", 'echo $($0 getattr rank)', flux_exe())
        assert sorted(r.stdout.splitlines()) == ["0: 0", "1: 1"]
        # standard input reaches the tasks of every rank (the other shells follow the
        # input eventlog the leader writes)
        env = dict(base_env(), FLUX_URI=t.uri(0))
        r = subprocess.run([flux_exe(), "run", "-N2", "-n4", "--label-io", "cat"],
                           input="hi\n", env=env, capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, r.stderr
        assert sorted(r.stdout.splitlines()) == ["0: hi", "1: hi", "2: hi", "3: hi"]
        # the highest exit code of all ranks' tasks
        r = _run(t, "run", "-N2", "-n2", "sh", "-c", "exit $((FLUX_TASK_RANK + 3))",
                  check=False)
        assert r.returncode == 4, r.stderr
        assert "task(s) exited with exit code 4" in r.stderr
        # a task killed by a signal on the remote rank
        r = _run(t, "run", "-N2", "-n2", "sh", "-c",
                  'test "$($0 getattr rank)" = 1 && kill -9 $$; true', flux_exe(),
                  check=False)
        assert r.returncode == 137, r.stderr
        # exec eventlog: the leader on rank 0 posted shell.init with both shells
        jobid = t.run("jobs", "-a", "-no", "{id}").stdout.split()[0]
        events = t.run("job", "eventlog", "-p", "exec", "-f", "json", jobid).stdout
        init = [json.loads(e) for e in events.splitlines()
                if json.loads(e)["name"] == "shell.init"]
        assert init[0]["context"]["size"] == 2 and init[0]["context"]["leader-rank"] == 0


def test_size4_cancel_kills_tasks_on_every_rank():
    with tbon_instance(4) as t:
        marker = _marker()
        jobid = _submit_sleepers(t, 4, marker)
        pids = _wait_procs(marker, 4)
        # each task's broker: the parent chain of every task leads to a different broker
        t.run("cancel", jobid)
        t.run("job", "wait-event", "-t", "30", jobid, "clean", timeout=40)
        _wait_procs(marker, 0, timeout=5)
        assert not [p for p in pids if _alive(p)]
        r = t.run("job", "attach", jobid, check=False)
        assert r.returncode == 143  # SIGTERM from the cancel


def test_size4_broker_killed_mid_job():
    with tbon_instance(4, "--test-exit-mode=leader") as t:
        marker = _marker()
        jobid = _submit_sleepers(t, 4, marker)
        _wait_procs(marker, 4)
        os.kill(t.pids[2], signal.SIGKILL)
        r = t.run("job", "wait-event", "-t", "30", jobid, "clean", timeout=40, check=False)
        assert r.returncode == 0, (r.stderr + t.run("job", "eventlog", jobid).stdout
                                   + t.run("overlay", "status").stdout)
        log = t.run("job", "eventlog", jobid).stdout
        assert f'note="node failure on {t.host} (rank 2)"' in log
        assert "exception type=\"exec\" severity=0" in log
        _wait_procs(marker, 0, timeout=10)  # nothing left on the live ranks nor rank 2
        status = t.rpc("resource.status", {})
        assert status["offline"] == "2" and status["online"] == "0-1,3"
        down = t.run("resource", "list", "-s", "down", "-no", "{nnodes}").stdout.split()
        assert down == ["1"]
        # the three nodes left still run jobs
        r = _run(t, "run", "-N3", "sh", "-c", 'echo $($0 getattr rank)', flux_exe())
        assert sorted(r.stdout.split()) == ["0", "1", "3"]
        t.pids = [p for i, p in enumerate(t.pids) if i != 2]


def _ancestors(pid: int) -> list[int]:
    chain = []
    while pid > 1:
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            break
        chain.append(pid)
    return chain


def _shell_on(t: Tbon, rank: int, jobid: str) -> int:
    """The pid of job ``jobid``'s shell under the broker of ``rank`` (forked by its fork
    server on rank 0, started by rexec elsewhere)."""
    dec = t.run("job", "id", jobid).stdout.strip()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                args = f.read().replace(b"\0", b" ").decode(errors="replace").split()
        except OSError:
            continue
        if args[-1:] == [dec] and any("flux-shell" in a or a == "flux.shell" for a in args) \
                and t.pids[rank] in _ancestors(int(name)):
            return int(name)
    raise AssertionError(f"no shell of {jobid} on rank {rank}")


def _flux_run(t: Tbon, *args: str) -> subprocess.Popen:
    return subprocess.Popen([flux_exe(), "run", *args], env=dict(base_env(), FLUX_URI=t.uri(0)),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _running_job(t: Tbon, marker: str, count: int) -> str:
    _wait_procs(marker, count)
    return t.run("jobs", "-no", "{id}").stdout.split()[0]


def _finish(run: subprocess.Popen, timeout: float = 40) -> tuple[int, str, str]:
    try:
        out, err = run.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        run.kill()
        out, err = run.communicate()
        raise AssertionError(f"flux run did not end:\n{err}") from None
    return run.returncode, out, err


def test_size2_node_lost_under_flux_run():
    """Rank 1's broker killed under ``flux run -N2``: as flux-core's job-exec, a fatal
    ``node failure`` exception, the leader shell warned, the tasks left killed (SIGTERM,
    so ``flux run`` exits 143), the job INACTIVE/FAILED, rank 0's resources free again,
    nothing left running on either rank."""
    with tbon_instance(2, "--test-exit-mode=leader") as t:
        marker = _marker()
        run = _flux_run(t, "-N2", "sh", "-c", f"echo before $FLUX_TASK_RANK; exec sleep {marker}")
        jobid = _running_job(t, marker, 2)
        os.kill(t.pids[1], signal.SIGKILL)
        code, out, err = _finish(run)
        assert code == 143, err
        assert sorted(out.splitlines()) == ["before 0", "before 1"]
        assert f"type=exec severity=0 node failure on {t.host} (rank 1)\n" in err
        assert f"flux-shell[0]:  WARN: exception: node failure on {t.host} (shell rank 1)\n" in err
        assert err.endswith("flux-job: task(s) Terminated\n"), err
        _wait_procs(marker, 0, timeout=10)
        r = t.run("jobs", "-no", "{state} {result} {returncode} {exception.note}", jobid)
        assert r.stdout.strip() == f"INACTIVE FAILED 143 node failure on {t.host} (rank 1)"
        shell_exit = [json.loads(e) for e in t.run("job", "eventlog", "-p", "exec", "-f",
                                                   "json", jobid).stdout.splitlines()]
        assert [e["context"]["wait_status"] for e in shell_exit
                if e["name"] == "shell-exit"] == [143 << 8]
        lines = t.run("resource", "list", "-no", "{state} {nnodes}").stdout.split("\n")
        assert "free 1" in lines and "allocated 0" in lines, lines
        _run(t, "run", "-N1", "true")  # the node left runs jobs
        t.pids = t.pids[:1]


def test_size2_shell_killed_on_each_rank():
    """A job shell killed with SIGKILL (flux-core's texts and results):
    - rank 1's: the leader is told (a warning), and the job ends once the exit timeout
      has passed (``-o exit-timeout=1``; 30 s by default), exit 1;
    - rank 0's (the leader): a fatal ``shell rank 0 (on HOST): Killed`` exception, the
      other shell's tasks get SIGTERM, exit 143.
    Output already written is kept; the dead shell's tasks (and the others') are gone."""
    with tbon_instance(2) as t:
        marker = _marker()
        cmd = ["sh", "-c", f"echo before $FLUX_TASK_RANK; exec sleep {marker}"]
        run = _flux_run(t, "-N2", "-o", "exit-timeout=1", *cmd)
        jobid = _running_job(t, marker, 2)
        os.kill(_shell_on(t, 1, jobid), signal.SIGKILL)
        code, out, err = _finish(run)
        assert code == 1, err
        assert sorted(out.splitlines()) == ["before 0", "before 1"]
        assert f"flux-shell[0]:  WARN: exception: shell rank 1 (on {t.host}): Killed\n" in err
        text = f"sh: shell rank 1 on host {t.host} exited and exit-timeout=1s has expired"
        assert f"flux-shell[0]: FATAL: task-exit: {text}\n" in err
        assert f"type=exec severity=0 {text}\n" in err
        assert err.endswith("flux-job: task(s) exited with exit code 1\n"), err
        _wait_procs(marker, 0, timeout=10)
        assert t.run("jobs", "-no", "{result}", jobid).stdout.strip() == "FAILED"

        run = _flux_run(t, "-N2", *cmd)
        jobid = _running_job(t, marker, 2)
        os.kill(_shell_on(t, 0, jobid), signal.SIGKILL)
        code, out, err = _finish(run)
        assert code == 143, err
        assert sorted(out.splitlines()) == ["before 0", "before 1"]
        assert f"type=exec severity=0 shell rank 0 (on {t.host}): Killed\n" in err
        assert err.endswith("flux-job: task(s) Terminated\n"), err
        _wait_procs(marker, 0, timeout=10)
        events = [json.loads(e) for e in t.run("job", "eventlog", "-p", "exec", "-f",
                                               "json", jobid).stdout.splitlines()]
        assert [e["context"] for e in events if e["name"] == "shell-exit"] == [
            {"rank": 0, "wait_status": 9, "active_ranks": "1"}]
        lines = t.run("resource", "list", "-no", "{state} {nnodes}").stdout.split("\n")
        assert "free 2" in lines, lines


def test_size2_lost_rank_that_is_not_critical():
    """``job-exec.critical-ranks`` (what a shell sends to name the shell ranks whose loss
    is fatal): with only shell rank 0 critical, losing rank 1 raises a ``node-failure``
    exception of severity 2 and the job goes on, until the leader's exit timeout (the
    lost shell counts as an exit) ends it, as flux-core's job-exec and shell do."""
    import flux

    with tbon_instance(2, "--test-exit-mode=leader") as t:
        marker = _marker()
        run = _flux_run(t, "-N2", "-o", "exit-timeout=2", "sh", "-c",
                        f"echo before $FLUX_TASK_RANK; exec sleep {marker}")
        jobid = _running_job(t, marker, 2)
        dec = int(t.run("job", "id", jobid).stdout)
        with flux.Flux(t.uri(0)) as h:
            for payload, errnum in (({"id": dec + 1, "ranks": "0"}, 2),  # ENOENT
                                    ({"id": dec, "ranks": 0}, 71),  # EPROTO
                                    ({"id": dec, "ranks": "x"}, 22)):  # EINVAL
                with pytest.raises(OSError) as info:
                    h.rpc("job-exec.critical-ranks", payload).get()
                assert info.value.errno == errnum
            h.rpc("job-exec.critical-ranks", {"id": dec, "ranks": "0"}).get()
        os.kill(t.pids[1], signal.SIGKILL)
        code, out, err = _finish(run)
        assert code == 1, err
        assert sorted(out.splitlines()) == ["before 0", "before 1"]
        assert (f"type=node-failure severity=2 node failure on {t.host} (shell rank 1)\n"
                in err)
        assert "WARN" not in err  # the exception says it: the leader is told no message
        text = f"sh: shell rank 1 on host {t.host} exited and exit-timeout=2s has expired"
        assert f"type=exec severity=0 {text}\n" in err
        _wait_procs(marker, 0, timeout=10)
        t.pids = t.pids[:1]


def test_size2_leader_waits_for_the_other_shells():
    """The leader shell exits only once every shell's tasks have ended (flux-core's
    tasks-complete): its exit timeout guards a job whose leader's tasks ended first
    (flux-core 0.88: exit 1, `sh: task rank 0 ... exited (Exit 1) and exit-timeout=...`),
    and a job whose other tasks end in time finishes normally."""
    with tbon_instance(2) as t:
        marker = _marker()
        run = _flux_run(t, "-N2", "-o", "exit-timeout=1", "sh", "-c",
                        f"test $FLUX_TASK_RANK = 1 && exec sleep {marker}")
        code, out, err = _finish(run)
        text = f"sh: task rank 0 on host {t.host} exited (Exit 1) and exit-timeout=1s has expired"
        assert code == 1, err
        assert f"flux-shell[0]: FATAL: task-exit: {text}\n" in err
        assert err.endswith("flux-job: task(s) exited with exit code 1\n"), err
        _wait_procs(marker, 0, timeout=10)
        jobid = t.run("jobs", "-a", "-no", "{id}").stdout.split()[0]
        events = [json.loads(e) for e in t.run("job", "eventlog", "-p", "exec", "-f",
                                               "json", jobid).stdout.splitlines()]
        assert [e["context"]["status"] for e in events if e["name"] == "complete"] \
            == [256]  # the exception's task status, not the other shell's SIGTERM
        r = _run(t, "run", "-N2", "-o", "exit-timeout=10", "sh", "-c",
                 'test $FLUX_TASK_RANK = 1 && sleep 1 && echo late; true')
        assert (r.returncode, r.stdout, r.stderr) == (0, "late\n", "")

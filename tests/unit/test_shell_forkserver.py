"""The job shell fork server (flux.shell.forkserver) and the broker's launcher over it
(flux.broker.job_shell_launch): a shell per launch, its pid and wait status reported, its
output through the broker's pipes, and no shell left when the server is lost."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from flux.broker.job_shell_launch import LocalShellLauncher
from flux.broker.loop import Loop
from proctree import kill_tree

pytestmark = pytest.mark.timeout(60)


class Events:
    """What the launcher tells job-exec about one shell."""

    def __init__(self) -> None:
        self.log: list[tuple] = []
        self.out = b""

    def running(self, rank: int) -> None:
        self.log.append(("running", rank))

    def output(self, rank: int, stream: str, data: bytes) -> None:
        self.out += data

    def exited(self, rank: int, status: int) -> None:
        self.log.append(("exited", rank, status))

    def failed(self, rank: int, errnum: int, text: str) -> None:
        self.log.append(("failed", rank, errnum, text))


def run_until(loop: Loop, done, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout

    def check() -> None:
        if done() or time.monotonic() > deadline:
            loop.stop()
        else:
            loop.call_later(0.01, check)

    loop.call_soon(check)
    loop.run()
    assert done(), "timed out"


@pytest.fixture
def launcher(tmp_path):
    loop = Loop()
    env = dict(os.environ)
    env.pop("FLUX_URI", None)
    la = LocalShellLauncher(loop, 0, env, lambda: f"local://{tmp_path}/nobroker")
    yield la
    la.close()
    loop.close()


def test_a_shell_without_a_broker_reports_and_exits(launcher) -> None:
    ev = Events()
    launcher.launch(1234, os.getuid(), 0, ev)
    run_until(launcher.loop, lambda: any(e[0] == "exited" for e in ev.log))
    assert ev.log[0] == ("running", 0)
    assert ev.log[-1] == ("exited", 0, 1 << 8)  # exit code 1: it could not read the job
    assert b"flux-shell: FATAL: failed to initialize shell info" in ev.out


def test_many_launches_share_one_server(launcher) -> None:
    evs = [Events() for _ in range(20)]  # more than the requests kept in flight
    for i, ev in enumerate(evs):
        launcher.launch(100 + i, os.getuid(), 0, ev)
    run_until(launcher.loop, lambda: all(ev.log and ev.log[-1][0] == "exited" for ev in evs))
    assert launcher.server is not None and launcher.server.poll() is None
    assert not launcher.shells and not launcher.by_pid


def test_another_rank_is_unreachable(launcher) -> None:
    ev = Events()
    launcher.launch(1, os.getuid(), 3, ev)
    run_until(launcher.loop, lambda: bool(ev.log))
    assert ev.log == [("failed", 3, errno.EHOSTUNREACH, "No route to host")]


def test_a_lost_server_takes_no_shell_with_it(launcher) -> None:
    """A shell whose server died cannot be reaped by the broker: it is killed and reported
    killed, and the next launch starts a new server."""
    ev = Events()
    shell = launcher.launch(1, os.getuid(), 0, ev)
    run_until(launcher.loop, lambda: shell.pid is not None)
    pid = shell.pid
    os.kill(pid, signal.SIGSTOP)  # keep it from exiting on its own
    launcher.server.kill()
    run_until(launcher.loop, lambda: any(e[0] == "exited" for e in ev.log))
    assert ev.log[-1] == ("exited", 0, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ", 1)[1][:1] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.02)
    else:
        pytest.fail("the orphaned shell is still running")
    ev2 = Events()
    launcher.launch(2, os.getuid(), 0, ev2)
    run_until(launcher.loop, lambda: any(e[0] == "exited" for e in ev2.log))


def test_the_server_ignores_bad_requests_and_exits_at_eof() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    proc = subprocess.Popen([sys.executable, "-m", "flux.shell.forkserver"],
                            stdin=theirs.fileno(), cwd="/", start_new_session=True)
    theirs.close()
    try:
        ours.settimeout(20)
        assert json.loads(ours.recv(4096)) == {"ready": True}
        ours.send(b"not json")
        ours.send(json.dumps({"tag": 1, "jobid": 1, "env": {}}).encode())  # no fds
        r, w = os.pipe()
        import array

        env = {"FLUX_URI": "local:///nonexistent", "PATH": os.environ.get("PATH", "")}
        ours.sendmsg([json.dumps({"tag": 2, "jobid": 7, "env": env}).encode()],
                     [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [w, w]))])
        os.close(w)
        reply = json.loads(ours.recv(4096))
        assert reply["tag"] == 2 and reply["pid"] > 0  # the bad ones got no answer
        end = json.loads(ours.recv(4096))
        assert end == {"pid": reply["pid"], "status": 1 << 8}
        assert b"failed to initialize shell info" in os.read(r, 65536)
        os.close(r)
    finally:
        ours.close()
        try:
            assert proc.wait(timeout=10) == 0
        finally:
            kill_tree(proc.pid)
            proc.wait()


def test_shell_environment_follows_the_brokers(launcher) -> None:
    """The shells' environment is built once and reused, but a change to the broker's
    (broker.setenv) or to its URI is in the next shell's; blocked names stay out."""
    first = launcher._env(1)
    assert first["FLUX_KVS_NAMESPACE"] == "job-1"
    assert launcher._env(2)["FLUX_KVS_NAMESPACE"] == "job-2"
    assert first["FLUX_KVS_NAMESPACE"] == "job-1"  # each job has a copy of its own
    launcher.environ["PF_TEST_VAR"] = "one"
    launcher.environ["SLURM_JOBID"] = "5"  # blocklisted: an enclosing launcher's
    env = launcher._env(3)
    assert env["PF_TEST_VAR"] == "one" and "SLURM_JOBID" not in env
    launcher.environ["PF_TEST_VAR"] = "two"
    assert launcher._env(4)["PF_TEST_VAR"] == "two"
    del launcher.environ["PF_TEST_VAR"]
    assert "PF_TEST_VAR" not in launcher._env(5)
    launcher.uri = lambda: "local:///elsewhere"
    assert launcher._env(6)["FLUX_URI"] == "local:///elsewhere"


def test_launches_carry_the_attributes_a_shell_reads(tmp_path) -> None:
    """The broker's values of SHELL_ATTRS travel with each launch (an attribute it
    does not have is left out: the shell asks, and gets ENOENT, as before)."""
    from flux.shell import SHELL_ATTRS

    values = {"rank": "0", "rundir": str(tmp_path), "instance-level": "2", "size": "1"}
    loop = Loop()
    la = LocalShellLauncher(loop, 0, {}, lambda: "local:///x", values.get)
    try:
        assert la._attrs() == {"rank": "0", "rundir": str(tmp_path), "instance-level": "2"}
        assert set(la._attrs()) <= set(SHELL_ATTRS)
        assert LocalShellLauncher(loop, 0, {}, lambda: "local:///x")._attrs() == {}
    finally:
        la.close()
        loop.close()


def test_a_shell_asks_only_for_the_attributes_it_was_not_given() -> None:
    from flux.shell.shell import _attr_value, early_requests

    class Recorder:
        def __init__(self) -> None:
            self.sent: list[tuple[str, object]] = []

        def rpc(self, topic: str, payload: object = None, *args: object) -> str:
            self.sent.append((topic, payload))
            return topic

        def service_register(self, name: str) -> str:
            return self.rpc("service.add", {"service": name})

    h = Recorder()
    early = early_requests(h, 1, {"rundir": "/run/x", "instance-level": "0"})
    assert [t for t, _ in h.sent] == ["event.subscribe", "service.add", "attr.get"]
    assert h.sent[-1][1] == {"name": "jobid-path"}
    assert _attr_value(early["rundir"]) == "/run/x"
    h = Recorder()
    early_requests(h, 1)
    assert [p["name"] for t, p in h.sent if t == "attr.get"] == ["rundir", "jobid-path",
                                                                 "instance-level"]


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def test_an_idle_server_keeps_a_spare_shell_for_the_next_launch(launcher) -> None:
    """Once no shell runs, the server forks the next one ahead; a launch is handed to it
    (its pid is the spare's), and the spare goes when the server does."""
    ev = Events()
    launcher.launch(1, os.getuid(), 0, ev)
    run_until(launcher.loop, lambda: any(e[0] == "exited" for e in ev.log))
    server = launcher.server
    deadline = time.monotonic() + 10
    while len(_children(server.pid)) != 1:
        assert time.monotonic() < deadline, "no spare shell"
        time.sleep(0.01)
    spare = _children(server.pid)[0]
    ev2 = Events()
    shell = launcher.launch(2, os.getuid(), 0, ev2)
    run_until(launcher.loop, lambda: any(e[0] == "exited" for e in ev2.log))
    assert shell.pid == spare
    assert ev2.log[-1] == ("exited", 0, 1 << 8)  # no broker there: it says so and exits
    assert b"failed to initialize shell info" in ev2.out
    deadline = time.monotonic() + 10
    while len(_children(server.pid)) != 1:  # the next spare
        assert time.monotonic() < deadline, "no spare shell"
        time.sleep(0.01)
    spare = _children(server.pid)[0]
    launcher.close()
    assert server.wait(timeout=10) == 0
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{spare}"):
        with open(f"/proc/{spare}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        assert time.monotonic() < deadline, "the spare outlived its server"
        time.sleep(0.01)

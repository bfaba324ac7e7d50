"""Instances of many brokers (``flux start --test-size=N``): bootstrap, attributes,
routing across ranks, events, logs, faults, shutdown leaving no process.

Every instance runs under ``tbon_instance``, which kills the whole process
group on any failure and checks that every broker is gone afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Iterator

import pytest

from conftest import base_env, flux_exe, short_tmpdir
from proctree import kill_marked, kill_tree, marked, run_tree

pytest.importorskip("zmq")

START_TIMEOUT = 30.0


class Tbon:
    def __init__(self, proc: subprocess.Popen, rundir: str, size: int) -> None:
        self.proc = proc
        self.rundir = rundir
        self.size = size
        self.pids: list[int] = []
        self.host = ""

    def uri(self, rank: int = 0) -> str:
        return f"local://{self.rundir}/local-{rank}"

    def run(self, *args: str, rank: int = 0, timeout: float = 20.0,
            check: bool = True) -> subprocess.CompletedProcess:
        env = base_env()
        env["FLUX_URI"] = self.uri(rank)
        r = run_tree([flux_exe(), *args], env=env, capture_output=True, text=True,
                     timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"flux {' '.join(args)} (rank {rank}) -> {r.returncode}:\n"
                                 f"{r.stdout}{r.stderr}")
        return r

    def rpc(self, topic: str, payload: dict, rank: int = 0, nodeid: int | None = None) -> dict:
        code = ("import flux, json, sys\n"
                "h = flux.Flux(sys.argv[1])\n"
                "kw = {} if sys.argv[4] == '' else {'nodeid': int(sys.argv[4])}\n"
                "print(json.dumps(h.rpc(sys.argv[2], json.loads(sys.argv[3]), **kw).get()))\n")
        r = run_tree([sys.executable, "-c", code, self.uri(rank), topic,
                      json.dumps(payload), "" if nodeid is None else str(nodeid)],
                     env=base_env(), capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is gone for our purpose
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


@contextlib.contextmanager
def tbon_instance(size: int, *opts: str) -> Iterator[Tbon]:
    """``flux start --test-size=SIZE OPTS sleep 600`` until every rank is up; then a
    SIGTERM to flux start, which must end every broker within a bounded time."""
    rundir = short_tmpdir()
    proc = subprocess.Popen([flux_exe(), "start", f"--test-size={size}",
                             f"--test-rundir={rundir}", "--test-rundir-cleanup",
                             "--test-exit-timeout=5", *opts, "sleep", "600"],
                            env=base_env(), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    inst = Tbon(proc, rundir, size)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            if os.path.exists(f"{rundir}/local-0"):
                r = inst.run("uptime", check=False, timeout=10)
                if r.returncode == 0 and "run" in r.stdout.split(",")[0]:
                    break
            assert time.monotonic() < deadline, "instance did not reach run"
            time.sleep(0.05)
        inst.pids = [int(inst.run("getattr", "broker.pid", rank=r).stdout)
                     for r in range(size)]
        inst.host = inst.run("getattr", "hostname").stdout.strip()
        yield inst
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError("flux start did not end after SIGTERM") from None
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in inst.pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [p for p in inst.pids if _alive(p)], "brokers left behind"
    finally:
        kill_tree(proc.pid)  # flux start, its brokers, their programs
        proc.wait(timeout=10)
        for p in inst.pids:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
        subprocess.run(["rm", "-rf", rundir])


def test_size2_attributes_and_hosts():
    with tbon_instance(2, "--test-hosts=node[7-8]") as t:
        for rank in range(2):
            get = lambda name: t.run("getattr", name, rank=rank).stdout.strip()  # noqa: E731
            assert get("rank") == str(rank)
            assert get("size") == "2"
            assert get("hostlist") == "node[7-8]"
            assert get("hostname") == f"node{7 + rank}"
            assert get("broker.boot-method") == "pmi"
            assert get("broker.mapping") == "[[0,1,2,1]]"
            assert get("tbon.topo") == "kary:32"
            assert get("tbon.level") == str(rank)
            assert get("tbon.maxlevel") == "1"
            assert get("tbon.descendants") == ("1" if rank == 0 else "0")
            assert get("local-uri") == t.uri(rank)
        assert t.run("getattr", "tbon.endpoint").stdout.strip() == f"ipc://{t.rundir}/tbon-0"
        assert t.run("getattr", "tbon.parent-endpoint", rank=1).stdout.strip() == \
            f"ipc://{t.rundir}/tbon-0"
        # rank 1 runs no initial program and has no KVS of its own: its requests go up
        assert t.rpc("kvs.getroot", {"namespace": "primary", "flags": 0}, rank=1)["rootref"]
        # what a flux-core broker's modules on rank 1 would ask rank 0 (mixed trees)
        got = t.rpc("resource.get", {}, rank=1, nodeid=0)
        assert got["method"] == "dynamic-discovery"
        assert got["R"]["execution"]["R_lite"][-1]["rank"] in ("1", "0-1")
        code = ("import flux, base64, sys\n"
                "h = flux.Flux(sys.argv[1])\n"
                "ops = [{'key': 'relayed', 'flags': 0, 'dirent': {'type': 'val', 'ver': 1,"
                " 'data': base64.b64encode(b'yes').decode()}}]\n"
                "h.rpc('kvs.relaycommit', {'ops': ops, 'name': 'transaction_req.1.0',"
                " 'namespace': 'primary', 'flags': 0}, nodeid=0,"
                " flags=flux.constants.FLUX_RPC_NORESPONSE)\n")
        r = run_tree([sys.executable, "-c", code, t.uri(1)], env=base_env(),
                     capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, r.stderr
        deadline = time.monotonic() + 10
        while t.run("kvs", "get", "relayed", check=False).stdout != "yes\n":
            assert time.monotonic() < deadline, "kvs.relaycommit was not applied"
            time.sleep(0.05)


def test_size4_routing_across_ranks():
    with tbon_instance(4, "-Stbon.fanout=2") as t:
        assert t.run("getattr", "tbon.maxlevel").stdout.strip() == "2"
        # 0 -> 1, 2; 1 -> 3
        out = t.run("ping", "-c", "1", "3").stdout
        assert "3!broker.ping" in out
        out = t.run("ping", "-c", "1", "2", rank=3).stdout  # up two levels, down one
        assert "2!broker.ping" in out
        assert "0!broker.ping" in t.run("ping", "-c", "1", "upstream", rank=1).stdout
        assert "1!broker.ping" in t.run("ping", "-c", "1", "--rank=1", "broker").stdout
        # the KVS lives on rank 0 only; rank 2 and 3 reach it upstream
        t.run("kvs", "put", "tbon.key=hello")
        assert t.run("kvs", "get", "tbon.key", rank=2).stdout.strip() == "hello"
        assert t.run("kvs", "get", "tbon.key", rank=3).stdout.strip() == "hello"
        t.run("kvs", "put", "tbon.other=43", rank=3)
        assert t.run("kvs", "get", "tbon.other").stdout.strip() == "43"
        # no such rank, no such service
        r = t.run("ping", "-c", "1", "9", check=False)
        assert r.returncode != 0 and "No route to host" in r.stderr
        r = t.run("ping", "-c", "1", "3!nosuchservice", rank=2, check=False)
        assert r.returncode != 0 and "Function not implemented" in r.stderr
        # log records of every rank reach rank 0's ring buffer
        t.run("logger", "record-from-rank-3", rank=3)
        deadline = time.monotonic() + 10
        while "record-from-rank-3" not in t.run("dmesg").stdout:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        line = [ln for ln in t.run("dmesg").stdout.splitlines() if "record-from-rank-3" in ln]
        assert "logger.notice[3]" in line[0]
        assert "record-from-rank-3" not in t.run("dmesg", rank=2).stdout
        # overlay RPCs
        health = t.rpc("overlay.health", {})
        assert health["rank"] == 0 and health["status"] == "full"
        assert [(c["rank"], c["status"]) for c in health["children"]] == [(1, "full"),
                                                                           (2, "full")]
        topo = t.rpc("overlay.topology", {"rank": 0})
        assert topo == {"rank": 0, "size": 4, "children": [
            {"rank": 1, "size": 2, "children": [{"rank": 3, "size": 1, "children": []}]},
            {"rank": 2, "size": 1, "children": []}]}
        assert t.rpc("overlay.stats-get", {}, nodeid=1)["child-connected"] == 1
        h = t.host
        assert t.run("overlay", "status").stdout == \
            f"0 {h}: full\n├─ 1 {h}: full\n│  └─ 3 {h}: full\n└─ 2 {h}: full\n"
        assert t.run("overlay", "parentof", "3").stdout == "1\n"
        for args, text in ((["parentof"], "RANK is required"),
                           (["parentof", "9"], "9 is not a valid rank in this instance"),
                           (["parentof", "0"], "0 has no parent"),
                           (["disconnect", "nosuch"], "TARGET must be a valid rank or hostname")):
            r = t.run("overlay", *args, check=False)
            assert (r.returncode, r.stderr) == (1, f"flux-overlay: {text}\n")
        # an administrative disconnect, as flux-core's command says and reports it
        r = t.run("overlay", "disconnect", "3")
        assert r.stderr == f"flux-overlay: asking {h} (rank 1) to disconnect child {h} (rank 3)\n"
        assert t.run("overlay", "status").stdout == (
            f"0 {h}: degraded\n├─ 1 {h}: degraded\n│  └─ 3 {h}: lost administrative "
            f"disconnect\n└─ 2 {h}: full\n")
        assert t.run("overlay", "errors").stdout == f"{h}: administrative disconnect\n"
        r = t.run("overlay", "disconnect", "3", check=False)
        assert r.returncode == 1 and r.stderr.endswith(
            "flux-overlay: overlay.disconnect-subtree: rank 3 is already lost\n")


def test_size8_events_fan_out_in_order():
    with tbon_instance(8, "-Stbon.fanout=2") as t:
        env = base_env()
        subs = []
        for rank in (7, 4, 0):
            env["FLUX_URI"] = t.uri(rank)
            subs.append(subprocess.Popen([flux_exe(), "event", "sub", "tbontest."],
                                         env=dict(env), stdout=subprocess.PIPE, text=True,
                                         start_new_session=True))
        seen: list[list[str]] = [[] for _ in subs]

        def read(proc: subprocess.Popen, into: list[str]) -> None:
            for line in proc.stdout:
                into.append(line.split()[0])

        readers = [threading.Thread(target=read, args=(p, o), daemon=True)
                   for p, o in zip(subs, seen)]
        for r in readers:
            r.start()

        def wait_all(topic: str, poke: bool) -> None:
            deadline = time.monotonic() + 30
            while not all(topic in o for o in seen):
                assert time.monotonic() < deadline, f"{topic} did not reach every subscriber"
                if poke:
                    t.run("event", "pub", topic, rank=0)
                time.sleep(0.1)

        try:
            # every subscription is in place once each has seen a probe
            wait_all("tbontest.probe", poke=True)
            t.run("event", "pub", "tbontest.a", rank=0)
            t.run("event", "pub", "tbontest.b", rank=6)  # published upstream, numbered on 0
            t.run("event", "pub", "-s", "tbontest.c", rank=3)
            t.run("event", "pub", "tbontest.d", rank=7)
            for topic in ("tbontest.a", "tbontest.b", "tbontest.c", "tbontest.d"):
                wait_all(topic, poke=False)
        finally:
            for p in subs:
                kill_tree(p.pid)
                p.wait()
            for r in readers:
                r.join(timeout=5)
        topics = [[x for x in o if x != "tbontest.probe"] for o in seen]
        assert topics[0] == topics[1] == topics[2]
        assert sorted(topics[0]) == ["tbontest.a", "tbontest.b", "tbontest.c", "tbontest.d"]
        # each rank saw the same sequence numbers, in order, without gaps
        logs = t.run("dmesg").stdout
        assert "lost events" not in logs and "duplicate event" not in logs


def test_killed_broker_subtree_unreachable_rest_goes_on():
    with tbon_instance(4, "-Stbon.fanout=2", "--test-exit-mode=leader") as t:
        os.kill(t.pids[1], signal.SIGKILL)  # rank 1 and its child, rank 3, are lost
        t0 = time.monotonic()
        deadline = t0 + 10
        while True:
            r = t.run("ping", "-c", "1", "1", check=False, timeout=10)
            if r.returncode != 0:
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert "No route to host" in r.stderr
        assert time.monotonic() - t0 < 10
        assert t.run("ping", "-c", "1", "3", check=False).returncode != 0
        assert "2!broker.ping" in t.run("ping", "-c", "1", "2").stdout
        health = t.rpc("overlay.health", {})
        assert health["status"] == "degraded"
        assert {c["rank"]: c["status"] for c in health["children"]} == {1: "lost", 2: "full"}
        assert t.run("overlay", "status").stdout == (
            "0 vm: degraded\n├─ 1 vm: lost lost connection\n│  └─ 3 vm: lost\n"
            "└─ 2 vm: full\n"
        ).replace("vm", t.host)
        assert t.run("overlay", "status", "--summary").stdout == "degraded\n"
        assert t.run("overlay", "errors").stdout == (
            f"{t.host}: lost connection\n{t.host}: lost parent\n")
        # overlay trace: what rank 0 exchanges with rank 2, as flux-core prints it
        env = base_env()
        env["FLUX_URI"] = t.uri(0)
        trace = subprocess.Popen([flux_exe(), "overlay", "trace", "-r", "2"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 start_new_session=True)
        lines: list[str] = []  # without the timestamp
        reader = threading.Thread(target=lambda: lines.extend(
            ln.rstrip("\n").split(" ", 1)[1] for ln in trace.stdout), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 20
            while "tx * e tbontrace.ev [0]" not in lines \
                    or "tx 2 > broker.ping [64]" not in lines:  # the trace may start late
                assert time.monotonic() < deadline, lines
                t.run("ping", "-c", "1", "2")
                t.run("event", "pub", "tbontrace.ev")
                time.sleep(0.2)
            trace.send_signal(signal.SIGTERM)  # as flux-core's: ends by the signal
            assert trace.wait(timeout=10) == -signal.SIGTERM
            reader.join(timeout=5)
            assert "tx 2 > broker.ping [64]" in lines
            assert any(ln.startswith("rx 2 < broker.ping [") and ln.endswith("] success")
                       for ln in lines)
            assert not [ln for ln in lines if " 1 " in ln or " 3 " in ln]  # -r 2 only
            assert trace.stderr.read() == ""
        finally:
            kill_tree(trace.pid)
            trace.wait()
            trace.stdout.close()
            trace.stderr.close()
        # rank 3 lost its parent: it shuts itself down
        deadline = time.monotonic() + 15
        while _alive(t.pids[3]):
            assert time.monotonic() < deadline, "rank 3 outlived its parent"
            time.sleep(0.05)
        t.pids = [p for i, p in enumerate(t.pids) if i not in (1, 3)]


@pytest.mark.parametrize("size", [2, 4, 8])
def test_every_item_with_2_4_8_brokers(size):
    """The issue's items once per size (kary:2): status, routing both ways to the
    deepest rank, KVS, logs, events, flux exec, a job on every rank, and a leaf
    killed; the larger tests above go into each item further."""
    with tbon_instance(size, "-Stbon.fanout=2", "--test-exit-mode=leader") as t:
        last = size - 1
        assert t.run("overlay", "status", "--summary").stdout == "full\n"
        assert len(t.run("overlay", "status").stdout.splitlines()) == size
        assert f"{last}!broker.ping" in t.run("ping", "-c", "1", str(last)).stdout
        assert "0!broker.ping" in t.run("ping", "-c", "1", "0", rank=last).stdout
        t.run("kvs", "put", f"matrix.{size}=ok", rank=last)
        assert t.run("kvs", "get", f"matrix.{size}").stdout == "ok\n"
        t.run("logger", f"matrix-log-{size}", rank=last)
        deadline = time.monotonic() + 10
        while f"matrix-log-{size}" not in t.run("dmesg").stdout:
            assert time.monotonic() < deadline, "log record did not reach rank 0"
            time.sleep(0.05)
        r = t.run("exec", "-l", "flux", "getattr", "rank")
        assert sorted(r.stdout.splitlines()) == sorted(f"{i}: {i}" for i in range(size))
        r = t.run("run", f"-N{size}", "-l", flux_exe(), "getattr", "rank", timeout=60)
        assert sorted(int(line.split(": ")[1]) for line in r.stdout.splitlines()) == \
            list(range(size))
        env = base_env()
        env["FLUX_URI"] = t.uri(last)
        sub = subprocess.Popen([flux_exe(), "event", "sub", "--count=1", "matrix.event"],
                               env=env, stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
        try:
            deadline = time.monotonic() + 20
            while sub.poll() is None:
                assert time.monotonic() < deadline, f"event did not reach rank {last}"
                t.run("event", "pub", "matrix.event")
                time.sleep(0.2)
        finally:
            kill_tree(sub.pid)
            sub.wait()
        # a leaf killed: unreachable at once, the others carry on
        os.kill(t.pids[last], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while t.run("overlay", "status", "--summary").stdout != "degraded\n":
            assert time.monotonic() < deadline, "the lost leaf was not seen"
            time.sleep(0.05)
        r = t.run("ping", "-c", "1", str(last), check=False, timeout=10)
        assert r.returncode == 1 and "No route to host" in r.stderr
        assert f"{last // 2}!broker.ping" in t.run("ping", "-c", "1", str(last // 2)).stdout
        # its parent tells rank 0's groups (the leaf is deep for 4 and 8): offline
        deadline = time.monotonic() + 10
        while t.rpc("groups.get", {"name": "broker.online"}, nodeid=0)["members"] != \
                ("0" if size == 2 else f"0-{last - 1}"):
            assert time.monotonic() < deadline, "the lost leaf stayed in broker.online"
            time.sleep(0.05)
        assert t.run("uptime").stdout.endswith(f"size {size},  1 offline\n")
        assert t.run("resource", "status", "-s", "offline", "-no", "{ranks}").stdout == \
            f"{last}\n"
        t.pids = t.pids[:last]


def test_size8_broker_killed_mid_tree_the_rest_carries_on():
    """kary:2 over 8 ranks: 0 -> 1, 2; 1 -> 3, 4; 2 -> 5, 6; 3 -> 7.  Rank 1 killed:
    1, 3, 4 and 7 are lost, requests to them fail at once, and the other half still
    pings, gets events, uses the KVS and runs jobs."""
    with tbon_instance(8, "-Stbon.fanout=2", "--test-exit-mode=leader") as t:
        # a request in flight to rank 7 (two hops below rank 1) when rank 1 dies
        env = base_env()
        env["FLUX_URI"] = t.uri(0)
        inflight = subprocess.Popen([flux_exe(), "exec", "-r", "7", "sleep", "300"], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, start_new_session=True)
        try:
            deadline = time.monotonic() + 20
            while "sleep 300" not in t.run("exec", "-r", "7", "ps", "-eo", "args").stdout:
                assert time.monotonic() < deadline, "flux exec -r 7 did not start"
                time.sleep(0.1)
            os.kill(t.pids[1], signal.SIGKILL)
            _, err = inflight.communicate(timeout=10)  # answered, not left hanging
            assert (inflight.returncode, err) == (
                68, "flux-exec: Error: rank 7: sleep: No route to host\n")
        finally:
            kill_tree(inflight.pid)
            inflight.wait()
        deadline = time.monotonic() + 10
        while t.rpc("overlay.health", {})["status"] != "degraded":
            assert time.monotonic() < deadline, "rank 0 did not see rank 1 go"
            time.sleep(0.05)
        for rank in (1, 3, 4, 7):
            t0 = time.monotonic()
            r = t.run("ping", "-c", "1", str(rank), check=False, rank=5, timeout=10)
            assert r.returncode == 1 and "No route to host" in r.stderr, r.stderr
            assert time.monotonic() - t0 < 5
        h = t.host
        assert t.run("overlay", "status").stdout == (
            f"0 {h}: degraded\n├─ 1 {h}: lost lost connection\n│  ├─ 3 {h}: lost\n"
            f"│  │  └─ 7 {h}: lost\n│  └─ 4 {h}: lost\n└─ 2 {h}: full\n"
            f"   ├─ 5 {h}: full\n   └─ 6 {h}: full\n")
        assert t.run("overlay", "status", "--down").stdout == (
            f"0 {h}: degraded\n├─ 1 {h}: lost lost connection\n│  ├─ 3 {h}: lost\n"
            f"│  │  └─ 7 {h}: lost\n│  └─ 4 {h}: lost\n")
        assert f"{h} (rank 1) failed and severed contact with 3 other nodes" \
            in t.run("dmesg").stdout
        for rank in (2, 5, 6):
            assert f"{rank}!broker.ping" in t.run("ping", "-c", "1", str(rank), rank=6).stdout
        # KVS from a leaf of the other half
        t.run("kvs", "put", "fault.key=still-here", rank=5)
        assert t.run("kvs", "get", "fault.key", rank=6).stdout == "still-here\n"
        # events still reach the leaves of the other half
        env = base_env()
        env["FLUX_URI"] = t.uri(6)
        sub = subprocess.Popen([flux_exe(), "event", "sub", "--count=1", "fault.event"],
                               env=env, stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
        try:
            deadline = time.monotonic() + 20
            while sub.poll() is None:
                assert time.monotonic() < deadline, "event did not reach rank 6"
                t.run("event", "pub", "fault.event")
                time.sleep(0.2)
            assert sub.stdout.read().startswith("fault.event")
        finally:
            kill_tree(sub.pid)
            sub.wait()
        # the lost ranks are offline for the scheduler; jobs run on the others
        r = t.run("resource", "status", "-s", "offline", "-no", "{ranks}")
        assert r.stdout.strip() == "1,3-4,7"
        r = t.run("run", "-N4", "-l", flux_exe(), "getattr", "rank", timeout=60)
        assert sorted(line.split(": ")[1] for line in r.stdout.splitlines()) == \
            ["0", "2", "5", "6"]
        t.pids = [p for i, p in enumerate(t.pids) if i in (0, 2, 5, 6)]


def test_torpid_child_reported_and_back():
    """A child that sends nothing for tbon.torpid_max (stopped) is torpid: logged as
    flux-core's overlay logs it, in overlay.monitor, torpid for ``flux resource``
    (down for the scheduler); sent SIGCONT it is responsive again."""
    # torpid_max well above a heartbeat's period (0.1 s): a loaded machine must not
    # make the ranks that run torpid
    with tbon_instance(4, "-Stbon.fanout=2", "-Stbon.torpid_min=0.1s",
                       "-Stbon.torpid_max=2s") as t:
        assert t.run("getattr", "tbon.torpid_max").stdout == "2s\n"
        # rank 3 is rank 1's child: rank 1 judges it and tells rank 0 (groups.update)
        os.kill(t.pids[3], signal.SIGSTOP)
        try:
            text = f"broker on {t.host} (rank 3) has been unresponsive for "
            deadline = time.monotonic() + 15
            while text not in t.run("dmesg").stdout:
                assert time.monotonic() < deadline, "rank 1 was not found torpid"
                time.sleep(0.1)
            code = ("import flux, json, sys\n"
                    "h = flux.Flux(sys.argv[1])\n"
                    "f = h.rpc('overlay.monitor', {}, nodeid=1,"
                    " flags=flux.constants.FLUX_RPC_STREAMING)\n"
                    "print(json.dumps(f.get()))\n")
            r = run_tree([sys.executable, "-c", code, t.uri(0)], env=base_env(),
                         capture_output=True, text=True, timeout=20)
            assert json.loads(r.stdout) == {"rank": 3, "status": "full", "torpid": True}
            deadline = time.monotonic() + 10
            while t.rpc("resource.status", {})["torpid"] != "3":
                assert time.monotonic() < deadline, "rank 0 did not hear of it"
                time.sleep(0.05)
            r = t.run("resource", "status", "-s", "torpid", "-no", "{ranks}")
            assert r.stdout.strip() == "3"
            assert t.rpc("groups.get", {"name": "broker.torpid"}, nodeid=0)["members"] == "3"
            # down for the scheduler, as flux-core's: a job that needs it waits
            r = t.run("resource", "list", "-s", "down", "-no", "{ranks}")
            assert r.stdout.strip() == "3"
            jobid = t.run("submit", "-N4", "true").stdout.strip()
            time.sleep(0.5)
            assert t.run("jobs", "-no", "{state}", jobid).stdout.strip() == "SCHED"
        finally:
            os.kill(t.pids[3], signal.SIGCONT)
        text = f"broker on {t.host} (rank 3) is responsive now"
        deadline = time.monotonic() + 15
        while text not in t.run("dmesg").stdout:
            assert time.monotonic() < deadline, "rank 1 did not come back"
            time.sleep(0.1)
        deadline = time.monotonic() + 10
        while t.rpc("resource.status", {})["torpid"] != "":
            assert time.monotonic() < deadline, "rank 3 stayed torpid for rank 0"
            time.sleep(0.05)
        t.run("job", "wait-event", "-t", "30", jobid, "clean", timeout=40)
        assert t.run("jobs", "-no", "{result}", jobid).stdout.strip() == "COMPLETED"


@pytest.mark.parametrize("size,end", [(4, "shutdown"), (8, "exit")])
def test_end_with_jobs_running_leaves_no_process(size, end):
    """``flux shutdown`` (from outside) or the end of the initial program, with a job's
    tasks on every rank: every broker, shell and task is gone once flux start returns
    (everything it started carries a mark in its environment, see proctree.marked)."""
    import uuid

    mark = f"PUREFLUX_TEST_MARK={uuid.uuid4().hex}"
    env = base_env()
    env[mark.split("=")[0]] = mark.split("=")[1]
    rundir = short_tmpdir()
    script = (f"id=$(flux submit -N{size} sleep 300) && flux job wait-event -t 60 $id start"
              " && touch started && ")
    script += "sleep 600" if end == "shutdown" else "exit 0"
    proc = subprocess.Popen([flux_exe(), "start", f"--test-size={size}", "-Stbon.fanout=2",
                             f"--test-rundir={rundir}", "--test-exit-timeout=20",
                             "sh", "-c", script],
                            env=env, cwd=rundir, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if end == "shutdown":
            deadline = time.monotonic() + 60
            while not os.path.exists(f"{rundir}/started"):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the job did not start"
                time.sleep(0.1)
            senv = base_env()
            senv["FLUX_URI"] = f"local://{rundir}/local-0"
            r = run_tree([flux_exe(), "shutdown"], env=senv, capture_output=True,
                         text=True, timeout=60)
            assert r.returncode == 0, r.stderr
        out, err = proc.communicate(timeout=90)
        assert os.path.exists(f"{rundir}/started"), err
        # flux start returns once every broker has: nothing of the instance is left
        # (a moment for processes that are exiting to be reaped by init)
        deadline = time.monotonic() + 3
        while marked(mark) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = {p: open(f"/proc/{p}/cmdline").read().replace("\0", " ")
                for p in marked(mark) if os.path.exists(f"/proc/{p}")}
        assert not left, left
        assert "Exit timeout" not in err and "Killed" not in err, err
    finally:
        kill_tree(proc.pid)
        kill_marked(mark)
        if proc.poll() is None:
            proc.wait(timeout=10)
        subprocess.run(["rm", "-rf", rundir])


@pytest.mark.parametrize("cmd,rc", [("true", 0), ("false", 1)])
def test_exit_code_and_no_process_left(cmd, rc):
    r = run_tree([flux_exe(), "start", "--test-size=3", "--test-exit-timeout=5", cmd],
                 env=base_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == rc, r.stderr
    assert "flux-start" not in r.stderr if rc == 0 else True


def test_only_rank0_runs_the_command_and_options_errors():
    r = run_tree([flux_exe(), "start", "--test-size=3", "--test-exit-timeout=5",
                  "sh", "-c", "flux getattr rank; echo ran"],
                 env=base_env(), capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout) == (0, "0\nran\n")
    for args, text in ((["--test-size=0"], "--test-size argument must be > 0"),
                       (["--test-hosts=a,b"], "--test-hosts only works with --test-size"),
                       (["--test-size=3", "--test-hosts=a,b"],
                        "--test-hosts hostlist has incorrect size")):
        r = run_tree([flux_exe(), "start", *args, "true"], env=base_env(),
                     capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and f"flux-start: {text}" in r.stderr


def test_per_broker_clique_binds_tcp():
    """With each broker on its own "node" (--test-pmi-clique=per-broker) the parent
    binds tcp:// (its default-route address) instead of ipc://."""
    r = run_tree([flux_exe(), "start", "--test-size=2", "--test-exit-timeout=5",
                  "--test-pmi-clique=per-broker", "sh", "-c",
                  "flux getattr tbon.endpoint; flux getattr broker.mapping;"
                  " flux ping -c1 1 >/dev/null && echo ok"],
                 env=base_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    endpoint, mapping, ok = r.stdout.split()
    assert endpoint.startswith("tcp://") and mapping == "[[0,2,1,1]]" and ok == "ok"


@pytest.mark.skipif(not shutil.which("mpiexec"), reason="mpich's mpiexec is not installed")
def test_mpiexec_launches_an_instance():
    """A PMI-1 launcher other than flux start (Debian's mpich: hydra): only rank 0
    runs the command, every rank joins, all exit."""
    r = run_tree(["mpiexec", "-n", "4", flux_exe(), "broker", "sh", "-c",
                  "flux getattr size; flux getattr broker.mapping;"
                  " flux overlay status --summary; flux ping -c1 3 >/dev/null && echo ok"],
                 env=base_env(), capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.split() == ["4", "[[0,1,4,1]]", "full", "ok"]


def test_flux_exec_on_ranks():
    with tbon_instance(4, "-Stbon.fanout=2") as t:
        r = t.run("exec", "-l", "flux", "getattr", "rank")
        assert sorted(r.stdout.splitlines()) == ["0: 0", "1: 1", "2: 2", "3: 3"]
        env = base_env()
        env["FLUX_URI"] = t.uri(0)
        r = run_tree([flux_exe(), "exec", "-r", "1-3", "cat"], input="in\n", env=env,
                     capture_output=True, text=True, timeout=30)
        assert (r.returncode, r.stdout) == (0, "in\nin\nin\n")
        r = t.run("exec", "-r", "2,3", "sh", "-c", 'exit $(flux getattr rank)', check=False)
        assert r.returncode == 3  # and, as flux-core's, the failures summed up by code
        assert sorted(r.stderr.splitlines()) == ["2: Exit 2", "3: Exit 3"]
        r = t.run("exec", "-r", "1-3", "sh", "-c", 'exit $(( $(flux getattr rank) % 2 ))',
                  check=False)
        assert (r.returncode, r.stderr) == (1, "[1,3]: Exit 1\n")
        r = t.run("exec", "-q", "-r", "1-3", "false", check=False)
        assert (r.returncode, r.stderr) == (1, "")
        r = t.run("exec", "-r", "3", "sh", "-c", "echo oops >&2; kill -9 $$", check=False)
        assert (r.returncode, r.stderr) == (137, "oops\n3: Killed\n")
        r = t.run("exec", "-r", "1", "/nonexistent/cmd", check=False)
        assert (r.returncode, r.stderr) == (127, "flux-exec: Error: rank 1: /nonexistent/cmd: "
                                                 "error launching process: No such file or "
                                                 "directory\n")
        r = t.run("exec", "-r", "1", "/etc/passwd", check=False)
        assert (r.returncode, r.stderr) == (126, "flux-exec: Error: rank 1: /etc/passwd: "
                                                 "error launching process: Permission denied\n")
        assert t.run("exec", "-n", "-r", "3", "pwd").stdout.strip() == os.getcwd()
        # a module on every rank, loaded through flux exec
        r = t.run("exec", "flux", "module", "list")
        assert r.returncode == 0


def test_log_stderr_modes_and_critical_level():
    """flux-core's ``log-stderr-mode``: ``leader`` (default) prints every rank's
    records on rank 0's stderr with a timestamp; ``local`` has each broker print its
    own, in the systemd form ``<6>broker.info[1]: ...``.  ``log-critical-level``
    records are printed where they are logged, in either mode."""
    env = base_env()

    def start(*opts: str) -> subprocess.CompletedProcess:
        return run_tree([flux_exe(), "start", "-s3", *opts, "sh", "-c",
                         "flux exec -r 1 flux logger -s crit crit-from-1; "
                         "flux exec -r 2 flux logger -s notice notice-from-2"],
                        env=env, capture_output=True, text=True, timeout=60)

    r = start("-o,-Slog-stderr-mode=local,-Slog-stderr-level=6")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert "<6>broker.info[1]: rc1-none: init->quorum" in "\n".join(lines)
    assert any(ln.startswith("<6>broker.info[0]: start: local://") for ln in lines)
    assert [ln for ln in lines if "logger." in ln] == \
        ["<2>logger.crit[1]: crit-from-1", "<5>logger.notice[2]: notice-from-2"]
    assert any(ln.startswith("<6>broker.info[0]: rc2.0: sh -c flux exec") for ln in lines)
    r = start("-Slog-stderr-level=5")  # leader mode: rank 0 prints all, rank 1 its crit
    assert r.returncode == 0, r.stderr
    got = sorted(ln.split(" UTC ", 1)[1][5:] for ln in r.stderr.splitlines() if "logger." in ln)
    assert got == ["logger.crit[1]: crit-from-1", "logger.crit[1]: crit-from-1",
                   "logger.notice[2]: notice-from-2"]
    r = start("-Slog-stderr-level=5", "-Slog-critical-level=1")  # crit is not critical now
    got = [ln for ln in r.stderr.splitlines() if "logger." in ln]
    assert len(got) == 2 and all(" UTC " in ln for ln in got), r.stderr
    r = run_tree([flux_exe(), "start", "-s2", "-Slog-stderr-mode=bogus", "true"], env=env,
                 capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and \
        "flux-broker: log-stderr-mode: invalid mode 'bogus' (leader or local)" in r.stderr

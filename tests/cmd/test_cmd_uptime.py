"""``flux uptime`` prints flux-core's line: time, state, uptime, owner, depth, size
(and drained/offline nodes, disabled submission, stopped scheduling when the
services that know are there)."""

from __future__ import annotations

import os
import pwd
import re
import subprocess
import time

import pytest
from conftest import base_env, flux_exe, start_instance, wait_for_socket
from proctree import kill_tree, run_tree

pytestmark = pytest.mark.timeout(60)

OWNER = pwd.getpwuid(os.getuid()).pw_name
LINE = re.compile(r"^ (\d\d:\d\d:\d\d) (\S+) (\S+),  owner (\S+),  depth (\d+),  size (\d+)(.*)$")


def test_uptime_in_run_state(shared_instance):
    time.sleep(0.3)
    r = shared_instance.run("uptime")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1
    m = LINE.match(lines[0])
    assert m, lines
    clock, state, duration, owner, depth, size, extra = m.groups()
    assert state == "run" and owner == OWNER and depth == "0" and size == "1" and extra == ""
    assert re.fullmatch(r"[0-9.]+(ms|s|m|h|d)", duration)
    assert abs(int(clock[:2]) * 3600 + int(clock[3:5]) * 60 + int(clock[6:])
               - (time.localtime().tm_hour * 3600 + time.localtime().tm_min * 60
                  + time.localtime().tm_sec)) % 86400 < 5


def test_uptime_run_duration_is_since_broker_starttime(shared_instance):
    start = float(shared_instance.run("getattr", "broker.starttime").stdout)
    assert re.fullmatch(r"\d+\.\d\d", shared_instance.run("getattr", "broker.starttime")
                        .stdout.strip())  # flux-core's %.2f
    r = shared_instance.run("uptime")
    duration = LINE.match(r.stdout.splitlines()[0]).group(3)
    value = float(re.match(r"[0-9.]+", duration).group())
    unit = duration[len(re.match(r"[0-9.]+", duration).group()):]
    seconds = value * {"ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    assert abs(seconds - (time.time() - start)) < max(2.0, 0.05 * seconds)


def test_uptime_outside_run_shows_the_state_and_time_in_it(tmp_path):
    d = tmp_path / "run"
    env = base_env()
    proc = subprocess.Popen([flux_exe(), "broker", "-S", f"rundir={d}",
                             "-S", "broker.rc1_path=sleep 30"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_for_socket(str(d / "local-0"), proc)
        time.sleep(0.3)
        r = run_tree([flux_exe(), "uptime"], env=dict(env, FLUX_URI=f"local://{d}/local-0"),
                     capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, r.stderr
        m = LINE.match(r.stdout.strip("\n"))
        assert m and m.group(2) == "init" and m.group(3).endswith("s"), r.stdout
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        finally:
            kill_tree(proc.pid)  # the broker and its rc1
            proc.wait()


def test_uptime_reports_what_resource_groups_and_job_manager_say():
    # the job-manager is the broker's own: its anonymous queue is enabled and started
    with start_instance() as inst:
        import flux

        # the broker's resource service, rank 0 drained
        flux.Flux(inst.uri).rpc("resource.drain", {"targets": "0", "reason": "x"}).get()
        # the broker's groups service: rank 0 made to leave broker.online, as a
        # parent's groups.update does for a rank it lost
        flux.Flux(inst.uri).rpc("groups.update", {"update": {"broker.online": [
            {"ranks": "0", "set": False}]}}, flags=flux.constants.FLUX_RPC_NORESPONSE)
        deadline = time.monotonic() + 10
        while flux.Flux(inst.uri).rpc("groups.get", {"name": "broker.online"}).get() \
                != {"members": ""}:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        r = inst.run("uptime")
        assert r.returncode == 0, r.stderr
        (first,) = r.stdout.splitlines()
        assert LINE.match(first).group(7) == ",  1 drained,  1 offline"


def test_uptime_outside_an_instance_fails_like_other_commands():
    from cmdhelpers import outside_env

    r = run_tree([flux_exe(), "uptime"], env=outside_env(), capture_output=True, text=True,
                 timeout=20)
    assert r.returncode == 1 and r.stderr.startswith("flux-uptime: ")

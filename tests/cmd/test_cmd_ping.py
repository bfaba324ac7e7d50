"""flux ping: output shape, options, targets and errors, run as a user would."""

from __future__ import annotations

import re

import pytest

from cmdhelpers import outside_env
from proctree import run_tree

LINE = re.compile(r"^(\d+)!(\S+)\.ping pad=(\d+)( userid=\d+ rolemask=0x[0-9a-f]+)? seq=(\d+) "
                  r"time=\d+\.\d{3} ms \(([0-9a-f]{8}(?:![0-9a-f]{8})+)\)$")

T = 15  # seconds: every command is bounded


@pytest.fixture(scope="module")
def inst(shared_instance):
    return shared_instance


def test_ping_count(inst):
    r = inst.run("ping", "-c", "2", "-i", "0.05", "broker", timeout=T)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "flux-ping any!broker"
    assert len(lines) == 3
    for seq, line in enumerate(lines[1:]):
        m = LINE.match(line)
        assert m, line
        assert m.group(1) == "0" and m.group(2) == "broker" and m.group(3) == "0"
        assert m.group(5) == str(seq)
        assert len(m.group(6).split("!")) == 3  # client!connector!broker
    # stdout is exactly flux-core's; the summary the issue asks for goes to stderr
    assert re.fullmatch(r"flux-ping: 2 requests, 2 replies, round-trip min/avg/max = "
                        r"\d+\.\d{3}/\d+\.\d{3}/\d+\.\d{3} ms\n", r.stderr), r.stderr


def test_ping_rank_pad_userid(inst):
    r = inst.run("ping", "-c", "3", "-i", "0", "-p", "100", "-u", "-r", "0", "broker", timeout=T)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "flux-ping 0!broker"
    assert len(lines) == 4
    for line in lines[1:]:
        m = LINE.match(line)
        assert m, line
        assert m.group(3) == "100"
        assert m.group(4) == " userid=%d rolemask=0x5" % __import__("os").getuid()


def test_ping_target_forms(inst):
    r = inst.run("ping", "-c", "1", "0!broker", timeout=T)
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "flux-ping 0!broker"
    r = inst.run("ping", "-c", "1", "0", timeout=T)  # bare rank: the broker
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "flux-ping 0!broker"
    r = inst.run("ping", "-c", "1", "any!broker", timeout=T)
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "flux-ping any!broker"
    host = inst.run("getattr", "hostlist", timeout=T).stdout.strip()
    r = inst.run("ping", "-c", "1", host, timeout=T)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"flux-ping {host}!broker (rank 0)"
    assert LINE.match(r.stdout.splitlines()[1])


def test_ping_interval_and_batch(inst):
    import time

    t0 = time.monotonic()
    r = inst.run("ping", "-c", "3", "-i", "0.2", "broker", timeout=T)
    elapsed = time.monotonic() - t0
    assert r.returncode == 0
    assert len(r.stdout.splitlines()) == 4
    assert elapsed >= 0.4  # sends at 0, 0.2, 0.4 s
    r = inst.run("ping", "-b", "-c", "5", "-i", "0", "broker", timeout=T)
    assert r.returncode == 0, r.stderr
    assert [LINE.match(x).group(5) for x in r.stdout.splitlines()[1:]] == ["0", "1", "2", "3", "4"]


def test_ping_unknown_service(inst):
    r = inst.run("ping", "-c", "1", "nosuch", timeout=T)
    assert r.returncode == 1
    assert r.stderr == "flux-ping: nosuch.ping: Function not implemented\n"
    assert r.stdout == "flux-ping any!nosuch\n"
    r = inst.run("ping", "-c", "1", "-r", "0", "nosuch", timeout=T)
    assert r.returncode == 1
    assert r.stderr == "flux-ping: 0!nosuch.ping: Function not implemented\n"


def test_ping_bad_usage(inst):
    for args, err in [
        (["-c", "1", "foo!broker"], "flux-ping: invalid nodeid/host: 'foo'\n"),
        (["-r", "0", "0!broker"], "flux-ping: --rank and TARGET both try to specify a nodeid\n"),
        (["-p", "-1", "broker"], "flux-ping: pad must be >= 0\n"),
        (["-c", "-1", "broker"], "flux-ping: count must be >= 0\n"),
        (["-i", "-1", "broker"], "flux-ping: interval must be >= 0\n"),
        (["-b", "broker"], "flux-ping: --batch should only be used with --count\n"),
    ]:
        r = inst.run("ping", *args, timeout=T)
        assert r.returncode == 1, args
        assert r.stderr == err, args
    r = inst.run("ping", timeout=T)
    assert r.returncode == 1 and r.stderr.startswith("Usage: flux-ping [OPTIONS] TARGET")
    r = inst.run("ping", "--bogus", "broker", timeout=T)
    assert r.returncode == 1
    assert r.stderr.splitlines()[0] == "flux-ping: unrecognized option '--bogus'"
    r = inst.run("ping", "--help", timeout=T)
    assert r.returncode == 0 and "--count=N" in r.stderr


def test_ping_default_runs_until_interrupted(inst, tmp_path):
    import signal

    from cmdhelpers import Background

    with Background(inst, tmp_path, "ping", "-i", "0.05", "broker") as bg:
        bg.wait_output(lambda s: s.count("\n") >= 4)
        rc = bg.stop(signal.SIGINT)
    assert rc != 0
    assert all(LINE.match(x) for x in bg.stdout().splitlines()[1:])


def test_ping_outside_instance(flux_cmd):

    r = run_tree([flux_cmd, "ping", "broker"], env=outside_env(), capture_output=True,
                 text=True, timeout=T)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "Unable to connect to Flux" in r.stderr
    assert r.stdout == ""

"""flux logger and flux dmesg (-C -c -n -H -d -f --color)."""

from __future__ import annotations

import re
import signal

import pytest

from cmdhelpers import Background, outside_env
from proctree import run_tree

T = 15
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"


@pytest.fixture
def inst(instance):
    instance.env["TZ"] = "UTC"
    return instance


def dmesg(inst, *args):
    r = inst.run("dmesg", *args, timeout=T)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_logger_then_dmesg(inst):
    r = inst.run("logger", "hello", "world", timeout=T)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = inst.run("logger", "--severity=err", "-n", "myapp", "it", "broke", timeout=T)
    assert r.returncode == 0, r.stderr
    assert inst.run("logger", "-s", "7", "-t", "tagged", "dbg", timeout=T).returncode == 0
    assert inst.run("logger", "-s", "warning", "w", timeout=T).returncode == 0
    assert inst.run("logger", "-s", "info", timeout=T, input="line1\nline2\n").returncode == 0
    lines = dmesg(inst)
    assert re.fullmatch(ISO + r" logger\.notice\[0\]: hello world", lines[-6]), lines[-6]
    assert re.fullmatch(ISO + r" myapp\.err\[0\]: it broke", lines[-5])
    assert re.fullmatch(ISO + r" tagged\.debug\[0\]: dbg", lines[-4])
    assert re.fullmatch(ISO + r" logger\.warning\[0\]: w", lines[-3])
    assert re.fullmatch(ISO + r" logger\.info\[0\]: line1", lines[-2])
    assert re.fullmatch(ISO + r" logger\.info\[0\]: line2", lines[-1])
    # every line of the ring has the same shape (the broker's own records too)
    for line in lines:
        assert re.fullmatch(ISO + r" \S+\.(emerg|alert|crit|err|warning|notice|info|debug)\[0\]: .*",
                            line), line


def test_logger_bad_severity(inst):
    r = inst.run("logger", "-s", "bogus", "x", timeout=T)
    assert r.returncode == 1
    assert r.stderr == ("flux-logger: invalid severity: "
                        "Use emerg|alert|crit|err|warning|notice|info|debug\n")
    r = inst.run("logger", "-s", "9", "x", timeout=T)
    assert r.returncode == 1


def test_dmesg_clear_and_read_clear(inst):
    inst.run("logger", "before-clear", timeout=T)
    r = inst.run("dmesg", "-C", timeout=T)
    assert (r.returncode, r.stdout) == (0, "")
    assert dmesg(inst) == []
    inst.run("logger", "one", timeout=T)
    inst.run("logger", "two", timeout=T)
    lines = dmesg(inst, "-c")
    assert [x.split(": ", 1)[1] for x in lines] == ["one", "two"]
    assert dmesg(inst) == []


def test_dmesg_new_only(inst):
    inst.run("logger", "old", timeout=T)
    assert dmesg(inst, "-n") == []


def test_dmesg_human(inst):
    inst.run("dmesg", "-C", timeout=T)
    for word in ("a", "b", "c"):
        inst.run("logger", word, timeout=T)
    lines = dmesg(inst, "-H")
    assert len(lines) == 3
    # a new minute shows [MonDD HH:MM]; within it [ +S.UUUUUU] relative to that line
    assert re.fullmatch(r"\[[A-Z][a-z]{2}\d\d \d\d:\d\d\] logger\.notice\[0\]: a", lines[0])
    for line, word in zip(lines[1:], "bc"):
        assert re.fullmatch(r"(\[ *\+\d+\.\d{6}\]|\[[A-Z][a-z]{2}\d\d \d\d:\d\d\]) "
                            rf"logger\.notice\[0\]: {word}", line), line
    deltas = dmesg(inst, "-H", "-d")
    assert len(deltas) == 3


def test_dmesg_human_offsets():
    """The offsets are relative to the minute's first line (without -d)."""
    from flux.cmd.dmesg import Printer

    p = Printer(human=True, delta=False, color=False)
    recs = ["<40>1 2026-11-23T14:30:46.742000Z 0 broker 1 - - first",
            "<48>1 2026-11-23T14:30:47.188173Z 0 broker 1 - - second",
            "<24>1 2026-11-23T14:30:49.235180Z 0 logger 2 - - hello world",
            "<24>1 2026-11-23T14:31:01.000000Z 0 logger 2 - - next minute"]
    import os
    import time

    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        out = [p.line(r) for r in recs]
        d = Printer(human=True, delta=True, color=False)
        outd = [d.line(r) for r in recs]
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()
    assert out == ["[Nov23 14:30] broker.notice[0]: first",
                   "[  +0.446173] broker.info[0]: second",
                   "[  +2.493180] logger.err[0]: hello world",
                   "[Nov23 14:31] logger.err[0]: next minute"]
    assert outd[2] == "[  +2.047007] logger.err[0]: hello world"
    assert Printer(False, False, False).line("garbage record") == "garbage record"


def test_dmesg_follow(inst, tmp_path):
    inst.run("logger", "backlog", timeout=T)
    with Background(inst, tmp_path, "dmesg", "-f") as bg:
        bg.wait_output(lambda s: "backlog" in s)
        assert inst.run("logger", "followed", timeout=T).returncode == 0
        bg.wait_output(lambda s: "followed" in s)
        assert bg.proc.poll() is None  # still following
        bg.stop(signal.SIGINT)
    assert bg.stderr() == ""


def test_dmesg_follow_new(inst, tmp_path):
    inst.run("logger", "not-me", timeout=T)
    with Background(inst, tmp_path, "dmesg", "-f", "-n") as bg:
        # the follower is registered once a record logged after it starts shows up
        bg.wait_output(lambda s: "tick" in s,
                       poke=lambda: inst.run("logger", "tick", timeout=T), interval=0.2)
        bg.stop()
    assert "not-me" not in bg.stdout()


def test_dmesg_color_and_errors(inst):
    inst.run("logger", "-s", "err", "colored", timeout=T)
    out = inst.run("dmesg", "--color=always", timeout=T).stdout
    assert "\033[33mlogger.err[0]\033[0m: \033[31mcolored\033[0m" in out
    assert "\033[" not in inst.run("dmesg", "--color=never", timeout=T).stdout
    assert "\033[" not in inst.run("dmesg", timeout=T).stdout  # auto, not a tty
    r = inst.run("dmesg", "--color=sometimes", timeout=T)
    assert r.returncode == 1 and r.stderr == "flux-dmesg: Invalid argument to --color: 'sometimes'\n"
    r = inst.run("dmesg", "-d", timeout=T)
    assert r.returncode == 1 and r.stderr == "flux-dmesg: --delta can only be used with --human\n"
    r = inst.run("dmesg", "extra", timeout=T)
    assert r.returncode == 1 and r.stderr == "flux-dmesg: flux-dmesg accepts no free arguments\n"


def test_log_outside_instance(flux_cmd):
    for args in (["dmesg"], ["dmesg", "-C"], ["logger", "x"]):
        r = run_tree([flux_cmd, *args], env=outside_env(), capture_output=True, text=True,
                     timeout=T)
        assert r.returncode == 1, args
        assert "Unable to connect to Flux" in r.stderr and r.stderr.count("\n") == 1

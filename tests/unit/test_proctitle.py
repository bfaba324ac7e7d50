"""flux.proctitle names a process for ps/top: comm via prctl, the argument area
for ``ps -f`` (run in a child interpreter, so pytest keeps its own title)."""

from __future__ import annotations

import sys

import pytest
from proctree import run_tree

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")

CODE = """
import sys
from flux.proctitle import set_proctitle
title = sys.argv[2] if len(sys.argv) > 2 else None
if title and title.startswith("*"):  # "*N": N x's, longer than this command line
    title = "x" * int(title[1:])
set_proctitle(sys.argv[1], title)
print(open('/proc/self/comm').read().strip())
print(repr(open('/proc/self/cmdline', 'rb').read().rstrip(b'\\0')))
print(sys.argv[1:])
"""


def run(*args: str) -> list[str]:
    r = run_tree([sys.executable, "-c", CODE, *args], capture_output=True, text=True,
                 timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_name_and_command_line():
    comm, cmdline, argv = run("job-manager-long-name", "flux-module job-manager-long-name")
    assert comm == "job-manager-lon"  # the kernel keeps 15 bytes
    assert cmdline == repr(b"flux-module job-manager-long-name")
    assert argv == "['job-manager-long-name', 'flux-module job-manager-long-name']"  # untouched


def test_name_only_keeps_the_command_line():
    comm, cmdline, _ = run("kvs")
    assert comm == "kvs"
    assert eval(cmdline).startswith(sys.executable.encode() + b"\0-c\0")  # noqa: S307


def test_title_longer_than_the_argument_area_is_cut():
    comm, cmdline, _ = run("t", "*5000")
    assert comm == "t"
    shown = eval(cmdline)  # noqa: S307 - our own repr() output
    assert 0 < len(shown) < 5000 and set(shown) == {ord("x")}

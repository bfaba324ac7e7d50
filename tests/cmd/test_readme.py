"""The README's commands and code blocks work as printed."""

from __future__ import annotations

import os
import re
import sys

import pytest

from conftest import REPO, base_env, flux_exe, start_instance
from proctree import run_tree

README = os.path.join(REPO, "README.md")


def python_blocks() -> list[str]:
    with open(README) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


def test_main_job_runs_the_example_module():
    """The README's first command: flux start sh examples/demo.sh."""
    env = base_env()
    env["PATH"] = os.path.dirname(flux_exe()) + os.pathsep + env.get("PATH", "")
    proc = run_tree([flux_exe(), "start", "sh", "examples/demo.sh"], cwd=REPO, env=env,
                    capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "echo" in proc.stdout


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_python_block(index):
    code = python_blocks()[index]
    with start_instance("heartbeat.period=0.2s") as inst:
        proc = run_tree([sys.executable, "-c", code], env=inst.env, cwd=REPO,
                        capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, f"README block {index} failed:\n{code}\n{proc.stderr}"

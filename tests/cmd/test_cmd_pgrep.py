"""``flux pgrep`` and ``flux pkill`` against a pureflux instance of their own.

Expected texts are what flux-core 0.88's commands printed against the same
kind of instance (held jobs, one finished test job).
"""

from __future__ import annotations

import re
import time

import pytest

pytestmark = pytest.mark.timeout(60)

F58 = re.compile(r"^ƒ[1-9A-HJ-NP-Za-km-z]+$")


def _submit(inst, *args: str) -> str:
    r = inst.run("submit", "--env=-*", *args)
    assert r.returncode == 0, r.stderr
    assert F58.match(r.stdout.strip())
    return r.stdout.strip()


@pytest.fixture
def inst():
    from conftest import start_instance

    with start_instance() as inst:
        yield inst


def _listed(inst, jobid: str, state: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = inst.run("jobs", "-a", "-n", "-o", "{id.f58} {state}")
        if f"{jobid} {state}" in r.stdout.splitlines():
            return
        time.sleep(0.05)
    raise AssertionError(f"{jobid} never {state}")


def test_pgrep(inst):
    done = _submit(inst, "-Ssystem.exec.test.run_duration=0.01s", "--job-name=done1", "true")
    held1 = _submit(inst, "--urgency=hold", "--job-name=held1", "true")
    held2 = _submit(inst, "--urgency=hold", "--job-name=held2", "true")
    _listed(inst, done, "INACTIVE")
    _listed(inst, held2, "SCHED")
    r = inst.run("pgrep", "held")
    assert (r.returncode, r.stdout, r.stderr) == (0, f"{held1}\n{held2}\n", "")
    assert inst.run("pgrep", "^done").stdout == ""  # pending and running only
    assert inst.run("pgrep", "-a", "d").stdout == f"{held1}\n{held2}\n{done}\n"
    assert inst.run("pgrep", "-a", "name:^done").stdout == f"{done}\n"
    assert inst.run("pgrep", "-c", "1", "held").stdout == f"{held1}\n"
    assert inst.run("pgrep", "-f", "inactive", ".").stdout == f"{done}\n"
    assert inst.run("pgrep", "-a", f"{held1}..{held2}").stdout == f"{held1}\n{held2}\n"
    assert inst.run("pgrep", "-a", f"{held1}..{held2}", "2$").stdout == f"{held2}\n"
    r = inst.run("pgrep", "-o", "{id.f58}", "held1")
    assert r.stdout == f"JOBID\n{held1}\n"
    r = inst.run("pgrep", "-o", "deps", "-n", "held1")
    assert r.stdout == f"{held1:>12} held1      0   0            SCHED    \n"
    r = inst.run("pgrep", "-o", "help", "x")
    assert r.stdout.startswith("\nConfigured flux-jobs output formats:\n\n"
                               "  default      Default flux-pgrep format string\n")
    r = inst.run("pgrep", "nomatch")
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "")
    r = inst.run("pgrep", "(")
    assert r.returncode == 2
    assert r.stderr.startswith("flux-pgrep: ERROR: expression error: missing ), unterminated")
    r = inst.run("pgrep", "a", "b")
    assert (r.returncode, r.stderr) == (
        2, "flux-pgrep: ERROR: expression error: Only one pattern can be provided\n")
    r = inst.run("pgrep", "-o", "{bogus}", ".")
    assert r.stderr == "flux-pgrep: ERROR: Error in user format: Unknown format field: bogus\n"


def test_pkill(inst):
    held1 = _submit(inst, "--urgency=hold", "--job-name=held1", "true")
    held2 = _submit(inst, "--urgency=hold", "--job-name=held2", "true")
    _listed(inst, held2, "SCHED")
    r = inst.run("pkill", "nomatch")
    assert (r.returncode, r.stderr) == (1, "")
    r = inst.run("pkill", "--wait", "held1")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "flux-pkill: INFO: Canceled 1 job\n")
    # --wait returned after the job's end: it is inactive now
    r = inst.run("jobs", "-n", "-o", "{id.f58} {result}", held1)
    assert r.stdout == f"{held1} CANCELED\n"
    r = inst.run("pkill", "-a", "held")  # held1 is inactive: its cancel fails
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert lines[-1] == "flux-pkill: INFO: Canceled 1 job"
    assert lines[0].startswith(f"flux-pkill: ERROR: {held1}: cancel: ")
    assert inst.run("pgrep", "held").returncode == 1

"""``flux batch`` and ``flux alloc``: nested instances run as jobs, bootstrapped by the
job shell's PMI, their R the job's, their URI the job's ``uri`` memo."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.timeout(180)


def _wait_done(inst, jobid: str, ok: bool = True) -> None:
    r = inst.run("job", "wait-event", "-t", "60", jobid, "clean", timeout=90)
    assert r.returncode == 0, r.stderr
    if ok:
        r = inst.run("job", "attach", jobid)
        assert r.returncode == 0, r.stderr


def test_batch_wrap_writes_the_output_file(shared_instance, tmp_path) -> None:
    r = shared_instance.run("batch", "--wrap", "flux", "run", "hostname", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    jobid = r.stdout.strip()
    assert jobid.startswith("ƒ")
    _wait_done(shared_instance, jobid)
    out = tmp_path / f"flux-{jobid}.out"
    import socket

    assert out.read_text() == socket.gethostname() + "\n"
    r = shared_instance.run("jobs", "-no", "{name} {ntasks} {result}", jobid)
    assert r.stdout.split() == ["flux", "1", "COMPLETED"]


def test_batch_script_with_directives(shared_instance, tmp_path) -> None:
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\n#flux: --job-name=dirs\n#flux: --output=out.txt\n"
                      "flux getattr size\nflux resource list -no {ncores}\necho $1\n")
    r = shared_instance.run("batch", "-n1", str(script), "arg1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    jobid = r.stdout.strip()
    _wait_done(shared_instance, jobid)
    assert (tmp_path / "out.txt").read_text().split() == ["1", "1", "arg1"]
    r = shared_instance.run("jobs", "-no", "{name}", jobid)
    assert r.stdout.strip() == "dirs"


def test_batch_bad_input(shared_instance, tmp_path) -> None:
    script = tmp_path / "nohashbang.sh"
    script.write_text("echo hi\n")
    r = shared_instance.run("batch", str(script))
    assert r.returncode == 1
    assert r.stderr.startswith("flux-batch: ERROR:") and "#!" in r.stderr
    r = shared_instance.run("batch", str(tmp_path / "missing.sh"))
    assert r.returncode == 1 and "flux-batch: ERROR:" in r.stderr
    script.write_text("#!/bin/sh\n#flux: -N\n")
    r = shared_instance.run("batch", str(script))
    assert r.returncode == 2 and "line 2" in r.stderr
    r = shared_instance.run("batch", "--dry-run", "--wrap", "true")
    js = json.loads(r.stdout)
    assert js["tasks"][0]["command"][:2] == ["flux", "broker"]
    assert js["attributes"]["system"]["shell"]["options"]["per-resource"] == {"type": "node"}


def test_alloc_command_in_the_nested_instance(shared_instance) -> None:
    r = shared_instance.run("alloc", "-n1", "flux", "getattr", "size", timeout=90)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "1\n"
    r = shared_instance.run("alloc", "-n1", "sh", "-c",
                            "flux run true && flux jobs -a -no '{name} {result}' && exit 3",
                            timeout=90)
    assert r.returncode == 3, r.stderr
    assert r.stdout == "true COMPLETED\n"


def test_alloc_bg_publishes_the_uri(shared_instance) -> None:
    r = shared_instance.run("alloc", "--bg", "-n1", timeout=90)
    assert r.returncode == 0, r.stderr
    jobid = r.stdout.strip()
    try:
        r = shared_instance.run("jobs", "-no", "{user.uri}", jobid)
        uri = r.stdout.strip()
        assert uri.startswith("ssh://") and uri.endswith("/local-0")
        local = "local://" + "/" + uri[len("ssh://"):].split("/", 1)[1]
        r = shared_instance.run("getattr", "jobid", env={"FLUX_URI": local})
        assert r.stdout.strip() == jobid
    finally:
        shared_instance.run("cancel", jobid)
    _wait_done(shared_instance, jobid, ok=False)


def test_alloc_without_command_needs_a_terminal(shared_instance) -> None:
    t0 = time.monotonic()
    r = shared_instance.run("alloc", "-n1", stdin=__import__("subprocess").DEVNULL)
    assert r.returncode == 1
    assert r.stderr == "flux-alloc: ERROR: stdin is not a tty - can't run interactive shell\n"
    assert time.monotonic() - t0 < 30

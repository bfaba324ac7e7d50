"""``flux job submit`` (a jobspec file as it is) and job-ingest's validator plugins
(``[ingest.validator]``), with flux-core 0.88's texts where it has them."""

from __future__ import annotations

import json

import pytest
from conftest import start_instance

pytestmark = pytest.mark.timeout(120)

TEST = "--setattr=system.exec.test.run_duration=1ms"


def test_job_submit_from_file_and_stdin(shared_instance, tmp_path) -> None:
    inst = shared_instance
    spec = inst.run("submit", "--dry-run", TEST, "true").stdout
    path = tmp_path / "js.json"
    path.write_text(spec)
    r = inst.run("job", "submit", str(path))
    assert r.returncode == 0 and r.stdout.startswith("ƒ"), r.stderr
    r = inst.run("job", "submit", "-u", "0", "-f", "waitable,debug", input=spec)
    assert r.returncode == 0, r.stderr
    jobid = r.stdout.strip()
    events = inst.run("job", "eventlog", jobid).stdout
    assert "urgency=0 flags=6" in events  # FLUX_JOB_DEBUG|FLUX_JOB_WAITABLE
    for args, text in [
            (("-f", "foo", str(path)), "flux-job: unknown flag: foo\n"),
            (("/nonexistent",), "flux-job: /nonexistent: No such file or directory\n"),
            (("/dev/null",), "flux-job: required jobspec is empty\n")]:
        r = inst.run("job", "submit", *args)
        assert (r.returncode, r.stderr) == (1, text), args
    r = inst.run("job", "submit", input="{}")
    assert r.returncode == 1 and r.stderr.startswith("flux-job: Missing key (")
    inst.run("cancel", "--all")


def test_run_of_a_job_without_shell_says_no_output(shared_instance) -> None:
    r = shared_instance.run("run", TEST, "true")
    assert (r.returncode, r.stderr) == (0, "flux-job: No job output found\n")


def _instance_with(tmp_path, text: str):
    confdir = tmp_path / "conf"
    confdir.mkdir(parents=True)
    (confdir / "ingest.toml").write_text(text)
    return start_instance(f"config.path={confdir}")


def test_schema_plugin_holds_jobspecs_to_rfc25(tmp_path) -> None:
    with _instance_with(tmp_path, '[ingest.validator]\nplugins = ["jobspec", "schema"]\n') as inst:
        assert inst.run("submit", TEST, "true").returncode == 0
        # flux-core's builder marks an exclusive node, which RFC 25's schema does not allow
        r = inst.run("submit", TEST, "-N1", "-x", "true")
        assert r.returncode == 1
        assert r.stderr.startswith("[Errno 22] resources[0]"), r.stderr
        spec = json.loads(inst.run("submit", "--dry-run", "true").stdout)
        spec["attributes"]["system"]["duration"] = "forever"
        r = inst.run("job", "submit", input=json.dumps(spec))
        assert r.returncode == 1 and "duration" in r.stderr
        inst.run("cancel", "--all")


def test_validation_disabled_and_unknown_plugins(tmp_path) -> None:
    with _instance_with(tmp_path, "[ingest.validator]\ndisable = true\n") as inst:
        spec = json.loads(inst.run("submit", "--dry-run", "true").stdout)
        spec["tasks"][0]["command"] = "not a list"
        r = inst.run("job", "submit", "-u", "0", input=json.dumps(spec))
        assert r.returncode == 0, r.stderr  # nothing checks it
        inst.run("cancel", "--all")
    with _instance_with(tmp_path / "b", '[ingest.validator]\nplugins = ["foo"]\n') as inst:
        r = inst.run("submit", TEST, "true")
        assert (r.returncode, r.stderr) == (
            1, "[Errno 22] validator plugin 'foo' is not available (plugins: jobspec, schema)\n")
        dmesg = inst.run("dmesg").stdout
        assert "job-ingest: validator plugin 'foo' is not available" in dmesg

"""``flux submit``, ``flux cancel`` and ``flux job`` against a pureflux instance.

Jobs are test jobs (``-S system.exec.test.run_duration=...``): the instance's
test execution service "runs" them without starting a process.  Tests share
one broker and each uses its own jobs.  Subcommands that read a job through
job-info (eventlog, wait-event, status, info) are skipped while the instance
has no job-info service.
"""

from __future__ import annotations

import errno
import re

import pytest

import flux
from flux.job.JobID import JobID

pytestmark = pytest.mark.timeout(60)

F58 = re.compile(r"^ƒ[1-9A-HJ-NP-Za-km-z]+$")
TEST_RUN = "--setattr=system.exec.test.run_duration="


def _submit(inst, *args: str) -> str:
    r = inst.run("submit", "--env=-*", *args)
    assert r.returncode == 0, r.stderr
    jobid = r.stdout.strip()
    assert F58.match(jobid), r.stdout
    return jobid


@pytest.fixture(scope="module")
def inst(shared_instance):
    with flux.Flux(shared_instance.uri) as h:
        try:
            h.rpc("job-manager.wait", {"id": 1}).get()
        except OSError as exc:
            if exc.errno == errno.ENOSYS:
                pytest.skip("no job-manager in this instance")
    return shared_instance


@pytest.fixture(scope="module")
def job_info(inst):
    with flux.Flux(inst.uri) as h:
        try:
            h.rpc("job-info.lookup", {"id": 1, "keys": ["eventlog"], "flags": 0}).get()
        except OSError as exc:
            if exc.errno == errno.ENOSYS:
                pytest.skip("no job-info in this instance yet")
    return inst


def test_submit_prints_f58_and_wait_succeeds(inst):
    jobid = _submit(inst, "--flags=waitable", TEST_RUN + "0.05s", "true")
    r = inst.run("job", "wait", jobid)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = inst.run("job", "wait", jobid)
    assert r.returncode == 2
    assert r.stderr == "flux-job: invalid job id, or job may be inactive and not waitable\n"


def test_wait_any_prints_the_id_and_wait_all(inst):
    jobid = _submit(inst, "--flags=waitable", TEST_RUN + "0.05s", "true")
    r = inst.run("job", "wait")
    assert (r.returncode, r.stdout) == (0, jobid + "\n"), r.stderr
    failing = _submit(inst, "--flags=waitable", TEST_RUN + "0.05s",
                      "--setattr=system.exec.test.wait_status=256", "false")
    ok = _submit(inst, "--flags=waitable", TEST_RUN + "0.05s", "true")
    r = inst.run("job", "wait", "--all", "-v")
    assert r.returncode == 1
    lines = sorted(r.stderr.splitlines())
    assert f"{ok}: job completed successfully" in lines
    assert any(line.startswith(f"{failing}: ") and "exit" in line for line in lines), lines
    r = inst.run("job", "wait")
    assert (r.returncode, r.stderr) == (2, "flux-job: there are no more waitable jobs\n")


def test_submit_quiet_cc_and_service_errors(inst):
    r = inst.run("submit", "--env=-*", "--quiet", TEST_RUN + "0.01s", "true")
    assert (r.returncode, r.stdout) == (0, "")
    r = inst.run("submit", "--env=-*", "--cc=1-3", TEST_RUN + "0.01s", "echo", "{cc}")
    assert r.returncode == 0 and len(r.stdout.split()) == 3
    assert all(F58.match(x) for x in r.stdout.split())
    r = inst.run("submit", "--urgency=40", "true")
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "[Errno 22] urgency range is [0:31]\n")
    r = inst.run("submit", "--urgency=x", "true")
    assert r.returncode == 1
    assert r.stderr == "flux-submit: ERROR: invalid literal for int() with base 10: 'x'\n"
    r = inst.run("submit", "--flags=bad", "true")
    assert (r.returncode, r.stderr) == (1, "flux-submit: ERROR: --flags: Unknown flag bad\n")
    r = inst.run("submit", "--bogus", "true")
    assert r.returncode == 2 and "unrecognized arguments: --bogus" in r.stderr


def test_submit_log_files(inst, tmp_path):
    log, errlog = tmp_path / "log", tmp_path / "err"
    r = inst.run("submit", "--env=-*", f"--log={log}", "--cc=1-2", TEST_RUN + "0.01s", "true")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert all(F58.match(x) for x in log.read_text().split()) and len(log.read_text().split()) == 2
    r = inst.run("submit", f"--log={log}", f"--log-stderr={errlog}", "--urgency=40", "true")
    assert (r.returncode, r.stdout, r.stderr, log.read_text()) == (1, "", "", "")
    assert errlog.read_text() == "[Errno 22] urgency range is [0:31]\n"


def test_dry_run_prints_the_jobspec(inst):
    r = inst.run("submit", "--dry-run", "--env=-*", "--rlimit=-*", "-n2", "hostname")
    assert r.returncode == 0
    assert r.stdout.startswith('{"resources": [{"type": "slot", "count": 2, "with": '
                               '[{"type": "core", "count": 1}], "label": "task"}], ')


def test_urgency_raise_kill_cancel(inst):
    held = _submit(inst, "--urgency=hold", TEST_RUN + "30s", "true")
    r = inst.run("job", "urgency", "-v", held, "HOLD")
    assert (r.returncode, r.stderr) == (0, "old urgency: job held\n"), r.stderr
    r = inst.run("job", "urgency", held, "x")
    assert (r.returncode, r.stderr) == (1, 'flux-job: error parsing urgency: "x"\n')
    assert inst.run("cancel", held).returncode == 0
    jobid = _submit(inst, TEST_RUN + "30s", "true")
    inst.run("job", "wait-event", jobid, "start")  # no-op without job-info
    r = inst.run("job", "kill", "-s", "FOO", jobid)
    assert (r.returncode, r.stderr) == (1, "flux-job: kill: Invalid signal FOO\n")
    r = inst.run("job", "raise", "-t", "test", "-s", "3", jobid, "a", "note")
    assert (r.returncode, r.stderr) == (0, "")
    r = inst.run("job", "raise", "-m", "x", jobid, "y")
    assert r.stderr == "flux-job: Do not set note on command line and with --message\n"
    r = inst.run("cancel", "-m", "bye", jobid)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = inst.run("job", "urgency", jobid, "3")
    assert (r.returncode, r.stderr) == (1, f"flux-job: {jobid}: job is inactive\n")
    r = inst.run("job", "kill", jobid)
    assert (r.returncode, r.stderr) == (1, f"flux-job: kill {jobid}: job is inactive\n")
    r = inst.run("cancel", jobid)
    assert (r.returncode, r.stderr) == (1, f"flux-cancel: ERROR: {jobid}: job is inactive\n")


def test_cancel_all_user_states_and_errors(inst):
    inst.run("cancel", "--all", "-q")
    a = _submit(inst, TEST_RUN + "30s", "true")
    _submit(inst, "--urgency=hold", TEST_RUN + "30s", "true")
    r = inst.run("cancel", "--all", "-n")
    assert (r.returncode, r.stderr) == (0, "flux-cancel: Would cancel 2 jobs\n")
    r = inst.run("cancel", "-n", a, "f1")
    assert r.stderr == "flux-cancel: Would cancel 2 jobs\n"
    r = inst.run("cancel", "-u", "all", "--states=pending")
    assert (r.returncode, r.stderr) == (0, "flux-cancel: Canceled 1 job (0 errors)\n")
    r = inst.run("cancel", "--all")
    assert r.stderr == "flux-cancel: Canceled 1 job (0 errors)\n"
    r = inst.run("cancel", "--all")
    assert r.stderr == "flux-cancel: Matched 0 jobs\n"
    assert inst.run("cancel", "--all", "-q").stderr == ""
    for args, text in [((), "flux-cancel: ERROR: No target jobs were provided\n"),
                       (("-S", "foo"), "flux-cancel: ERROR: Invalid state foo specified\n"),
                       (("--all", a), ("flux-cancel: ERROR: Do not specify a list of jobids "
                                       "with --all,--user,--states options\n")),
                       (("f1",), "flux-cancel: ERROR: ƒ1: unknown job id\n")]:
        r = inst.run("cancel", *args)
        assert (r.returncode, r.stderr) == (1, text)
    r = inst.run("cancel", "xx")
    assert r.returncode == 2 and "argument JOBID...: invalid JobID value: 'xx'" in r.stderr


def test_job_id_conversions(inst):
    r = inst.run("job", "id", "-t", "hex", "ƒ26USZbJo")
    assert r.stdout == "0x23299000000\n"
    jobid = JobID(0x23299000000)
    r = inst.run("job", "id", "--to=f58", str(int(jobid)), "0x23299000000")
    assert r.stdout == f"{jobid.f58}\n{jobid.f58}\n"
    r = inst.run("job", "id", input="ƒ4\n")
    assert r.stdout == "3\n"
    r = inst.run("job", "id", "--to=words", "1796212100891500")  # flux-core 0.88's output
    assert r.stdout == "social-prelude-italian--havana-exit-academy\n"
    r = inst.run("job", "id", "social-prelude-italian--havana-exit-academy")
    assert r.stdout == "1796212100891500\n"
    r = inst.run("job", "id", "xx")
    assert (r.returncode, r.stderr) == (1, "flux-job: xx: malformed input\n")
    r = inst.run("job", "id", "acrobat-academy-academy")
    assert (r.returncode, r.stderr) == (1, "flux-job: acrobat-academy-academy: malformed input\n")
    r = inst.run("job", "id", "-t", "bad", "1")
    assert (r.returncode, r.stderr) == (1, "flux-job: Unknown to=bad\n")
    r = inst.run("job", "id", input="")
    assert (r.returncode, r.stdout) == (1, "")


def test_usage(inst):
    r = inst.run("job")
    assert r.returncode == 1 and "Common commands from flux-job:" in r.stderr
    assert "   wait-event      Wait for an event \n" in r.stderr
    r = inst.run("job", "urgency")
    assert r.returncode == 1
    assert r.stderr.startswith("Usage: flux-job urgency [OPTIONS] id urgency\n")
    r = inst.run("job", "info", "f1")
    assert r.returncode == 1 and r.stderr.startswith("Usage: flux job info id key\n")


def test_eventlog_wait_event_status_info(job_info):
    inst = job_info
    jobid = _submit(inst, TEST_RUN + "0.05s", "true")
    r = inst.run("job", "wait-event", "-t", "10", jobid, "clean")
    assert r.returncode == 0 and r.stdout.split()[1] == "clean"
    r = inst.run("job", "eventlog", jobid)
    names = [line.split()[1] for line in r.stdout.splitlines()]
    assert names[0] == "submit" and names[-1] == "clean"
    r = inst.run("job", "eventlog", "-T", "offset", jobid)
    assert r.stdout.startswith("0.000000 submit ")
    r = inst.run("job", "status", "-v", "-v", jobid)
    assert (r.returncode, r.stderr) == (0, f"flux-job: {jobid}: exited with exit code 0\n")
    r = inst.run("job", "info", jobid, "jobspec")
    assert r.stdout.startswith('{"resources": ')
    r = inst.run("job", "eventlog", "f1")
    assert (r.returncode, r.stderr) == (1, "flux-job: job f1 not found\n")
    r = inst.run("job", "wait-event", "-t", "0.5", jobid, "nosuch")
    assert (r.returncode, r.stderr) == (1, "flux-job: event 'nosuch' never received\n")


@pytest.fixture
def jobs_instance():
    """A broker of its own: flux jobs lists every job of the instance."""
    from conftest import start_instance

    with start_instance() as inst:
        yield inst


def _wait_listed(inst, jobid: str, state: str) -> None:
    """job-list follows the job-manager's journal: wait until it shows ``state``."""
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = inst.run("jobs", "-a", "-n", "-o", "{id.f58} {state}")
        if f"{jobid} {state}" in r.stdout.splitlines():
            return
        time.sleep(0.05)
    raise AssertionError(f"{jobid} never listed as {state}: {r.stdout!r} {r.stderr!r}")


def test_flux_jobs_default_all_formats_json(jobs_instance):
    import json
    import os
    import pwd

    inst = jobs_instance
    user = pwd.getpwuid(os.getuid()).pw_name
    done = _submit(inst, "--job-name=averyveryverylongname", TEST_RUN + "0.01s", "true")
    held = _submit(inst, "--urgency=hold", "true")
    _wait_listed(inst, done, "INACTIVE")
    _wait_listed(inst, held, "SCHED")
    r = inst.run("jobs")
    width = max(8, len(user))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"       JOBID {'USER':<{width}} NAME       ST NTASKS NNODES     TIME INFO",
        f"{held:>12} {user:<{width}} true        S      1      -        - held"]
    r = inst.run("jobs", "-a", "-n", "-o", "{id.f58} {name:<10.10+} {status_abbrev} "
                 "{result} {inactive_reason}")
    assert r.stdout.splitlines() == [f"{held} true       S  ",
                                     f"{done} averyvery+ CD COMPLETED Exit 0"]
    r = inst.run("jobs", "-a", "-c", "1", "-o", "{id.f58}")
    assert r.stdout == f"JOBID\n{held}\n"
    assert r.stderr.startswith("warning: output truncated at 1 jobs.\n")
    r = inst.run("jobs", "-f", "completed", "-n", "-o", "{id.f58}")
    assert r.stdout == f"{done}\n"
    r = inst.run("jobs", "--json", done)
    record = json.loads(r.stdout)
    assert record["jobid"] == done and record["name"] == "averyveryverylongname"
    assert record["result"] == "COMPLETED" and record["exception"] == {"occurred": False}
    r = inst.run("jobs", "-a", "--json")
    assert [j["jobid"] for j in json.loads(r.stdout)["jobs"]] == [held, done]
    r = inst.run("jobs", "-a", "-o", "sort:name {name}")
    assert r.stdout == "NAME\naveryveryverylongname\ntrue\n"
    r = inst.run("jobs", "-o", "bogus")
    assert (r.returncode, r.stderr) == (
        1, "flux-jobs: ERROR: --format: No such format bogus (Did you mean '{bogus}'?)\n")
    r = inst.run("jobs", "-o", "{bogus}")
    assert r.stderr == "flux-jobs: ERROR: Error in user format: Unknown format field: bogus\n"
    r = inst.run("jobs", "ƒ1")
    assert (r.returncode, r.stdout) == (1, "")
    r = inst.run("jobs", "-o", "help")
    assert r.returncode == 0 and "  endreason    Show why each job ended\n" in r.stdout


def test_flux_jobs_since_stats_include_recursive(jobs_instance):
    import json

    inst = jobs_instance
    done = _submit(inst, TEST_RUN + "0.01s", "true")
    held = _submit(inst, "--urgency=hold", "true")
    _wait_listed(inst, done, "INACTIVE")
    _wait_listed(inst, held, "SCHED")
    r = inst.run("jobs", "--stats", "-n", "-o", "{id.f58}")
    assert r.stdout == f"0 running, 1 completed, 0 failed, 1 pending, 0 inactive purged\n{held}\n"
    r = inst.run("jobs", "--stats-only")
    assert (r.returncode, r.stdout) == (
        0, "0 running, 1 completed, 0 failed, 1 pending, 0 inactive purged\n")
    r = inst.run("jobs", "--stats", "--json")
    assert (r.returncode, r.stderr) == (
        1, "flux-jobs: ERROR: --json incompatible with --stats or --stats-only\n")
    r = inst.run("jobs", "--stats", "-q", "nosuch")
    assert (r.returncode, r.stderr) == (
        1, "flux-jobs: ERROR: error retrieving job stats: no stats available for queue nosuch\n")
    # --since implies -a and keeps jobs that ended after WHEN
    r = inst.run("jobs", "--since=-1h", "-n", "-o", "{id.f58}")
    assert r.stdout == f"{held}\n{done}\n"
    r = inst.run("jobs", "--since=+1h")
    assert (r.returncode, r.stderr) == (1, "flux-jobs: ERROR: --since=+1h appears to be in the future\n")
    r = inst.run("jobs", "-a", "-i", "0", "-n", "-o", "{id.f58}")
    assert r.stdout == f"{done}\n"
    r = inst.run("jobs", "-a", "-i", "1-3", "-n")
    assert (r.returncode, r.stdout) == (0, "")
    r = inst.run("jobs", "-a", "-i", "foo[1", "-n")
    assert r.stderr == "flux-jobs: ERROR: -i/--include: invalid targets: foo[1\n"
    # no job is an instance: -R lists the same jobs, --json without "jobs" children
    plain = inst.run("jobs", "-a", "-n", "-o", "{id.f58} {status}").stdout
    assert inst.run("jobs", "-a", "-R", "-L", "2", "-n", "-o", "{id.f58} {status}").stdout == plain
    records = json.loads(inst.run("jobs", "-a", "--recurse-all", "--json").stdout)["jobs"]
    assert [j["jobid"] for j in records] == [held, done] and all("jobs" not in j for j in records)
    # --from-stdin formats records (flux-core's test hook)
    line = json.dumps({"id": 1, "state": 8, "name": "x", "userid": 0, "t_submit": 1.0})
    r = inst.run("jobs", "--from-stdin", "-n", "-o", "{id} {name} {state}", input=line + "\n")
    assert r.stdout == "ƒ2 x SCHED\n"
    assert inst.run("cancel", held).returncode == 0


def test_raiseall_killall_namespace_stats_timeleft(jobs_instance):
    import json
    import os

    inst = jobs_instance
    held = _submit(inst, "--urgency=hold", "true")
    running = _submit(inst, TEST_RUN + "100s", "-t", "10m", "true")
    _wait_listed(inst, running, "RUN")
    for args, text in [
            (("raiseall", "test"), "flux-job: Command matched 2 jobs (-f to confirm)\n"),
            (("raiseall", "-S", "pending", "test"),
             "flux-job: Command matched 1 jobs (-f to confirm)\n"),
            (("raiseall", "-u", "all", "-S", "cleanup", "test"),
             "flux-job: Command matched 0 jobs\n"),
            (("killall",), "flux-job: Command matched 1 jobs (-f to confirm)\n"),
            (("raiseall", "-f", "-S", "sched", "test", "a", "note"),
             "flux-job: Raised exception on 1 jobs (0 errors)\n"),
            (("killall", "-f", "-s", "HUP"), "flux-job: Hangup 1 jobs (0 errors)\n")]:
        r = inst.run("job", *args)
        assert (r.returncode, r.stdout, r.stderr) == (0, "", text), args
    r = inst.run("job", "eventlog", held)
    assert r.stdout.splitlines()[-1].split(" ", 1)[1] == (
        'exception type="test" severity=7 note="a note" userid=' + str(os.getuid()))
    for args, text in [
            (("raiseall", "-S", "inactive", "test"),
             "flux-job: Exceptions cannot be raised on inactive jobs\n"),
            (("raiseall", "-S", "foo", "test"), "flux-job: error parsing --states: foo is unknown\n"),
            (("raiseall", "-u", "nosuchuser", "test"), "flux-job: unknown user nosuchuser\n"),
            (("killall", "-s", "FOO"), "flux-job: killall: Invalid signal FOO\n"),
            (("namespace", "xx"), 'flux-job: error parsing jobid: "xx"\n'),
            (("last", "x"), None), (("killall", "x"), None), (("raiseall",), None),
            (("memo", held), None), (("timeleft", "a", "b"), None)]:
        r = inst.run("job", *args)
        assert r.returncode == 1, args
        if text is None:
            assert r.stderr.startswith("Usage: flux-job "), args
        else:
            assert r.stderr == text, args
    r = inst.run("job", "namespace", held, "ƒ1")
    assert r.stdout == f"job-{int(JobID(held))}\njob-0\n"
    assert inst.run("job", "namespace", input="ƒ2\n").stdout == "job-1\n"
    stats = json.loads(inst.run("job", "stats").stdout)
    assert stats["job_states"]["run"] == 1 and stats["job_states"]["sched"] == 1
    left = int(inst.run("job", "timeleft", running).stdout)
    assert 500 < left <= 600
    assert inst.run("job", "timeleft", "-H", running).stdout.endswith("m\n")
    r = inst.run("job", "timeleft", held)
    assert (r.returncode, r.stderr) == (1, f"flux-job: job {held} has not started\n")
    r = inst.run("job", "memo", held, "novalue")
    assert (r.returncode, r.stderr) == (1, "flux-job: memo: no value for key=novalue\n")
    inst.run("cancel", "--all")


def test_job_last_as_flux_core(instance):
    """``flux job last`` over job-manager.history.get (outputs compared by hand with
    flux-core 0.88): the sender's jobs newest first, Python-style slices."""
    r = instance.run("job", "last")
    assert (r.returncode, r.stderr) == (1, "flux-job: job history is empty\n")
    ids = [instance.run("submit", "--urgency=hold", "true").stdout.strip() for _ in range(3)]
    assert instance.run("job", "last").stdout == f"{ids[2]}\n"
    assert instance.run("job", "last", "2").stdout == f"{ids[2]}\n{ids[1]}\n"
    assert instance.run("job", "last", "[::-1]").stdout == "".join(i + "\n" for i in ids)
    assert instance.run("job", "last", "[-1:]").stdout == f"{ids[0]}\n"
    for bad in ("[x]", "[1]", "[::0]", "[1:2:3:4]"):
        r = instance.run("job", "last", bad)
        assert (r.returncode, r.stderr) == (
            1, "flux-job: could not parse python-style slice expression\n"), bad
    instance.run("cancel", "--all")

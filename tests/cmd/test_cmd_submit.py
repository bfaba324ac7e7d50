"""``flux submit`` and ``flux bulksubmit``: options, jobspecs, waits and exit codes.

Expected jobspecs, ``bulksubmit: submit`` lines and error texts are what
flux-core 0.88's commands printed for the same arguments (``--dry-run`` needs
no instance).  Submissions run test jobs (``system.exec.test.*`` attributes)
in one shared instance.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from cmdhelpers import outside_env
from conftest import flux_exe
from proctree import run_tree

pytestmark = pytest.mark.timeout(60)

F58 = re.compile(r"^ƒ[1-9A-HJ-NP-Za-km-z]+$")
RUN = "-Ssystem.exec.test.run_duration=0.05s"
NOENV = ("--env=-*", "--rlimit=-*")


def _flux(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return run_tree([flux_exe(), *args], env=outside_env(), capture_output=True,
                    text=True, timeout=30, cwd="/tmp", input=input)


def _dry(*args: str) -> dict:
    r = _flux("submit", "--dry-run", *NOENV, *args)
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    return json.loads(r.stdout)


def _err(*args: str) -> str:
    r = _flux("submit", "--dry-run", *NOENV, *args)
    assert (r.returncode, r.stdout) == (1, ""), r.stdout
    return r.stderr


def _slot(count: int, cores: int, gpus: int = 0) -> dict:
    children = [{"type": "core", "count": cores}]
    if gpus:
        children.append({"type": "gpu", "count": gpus})
    return {"type": "slot", "count": count, "with": children, "label": "task"}


def test_per_resource_jobspecs():
    spec = _dry("--cores=4", "--tasks-per-node=2", "-N2", "hostname")
    assert spec["resources"] == [{"type": "node", "count": 2, "with": [_slot(1, 2)]}]
    assert spec["tasks"] == [{"command": ["hostname"], "slot": "task",
                              "count": {"per_slot": 1}}]
    assert spec["attributes"]["system"]["shell"] == {
        "options": {"per-resource": {"type": "node", "count": 2}}}
    assert _dry("--cores=4", "true")["resources"] == [_slot(4, 1)]
    spec = _dry("--tasks-per-core=2", "--cores=2", "true")
    assert spec["attributes"]["system"]["shell"]["options"]["per-resource"] == {
        "type": "core", "count": 2}
    assert _dry("-N2", "--gpus-per-node=1", "true")["resources"] == [
        {"type": "node", "count": 2, "exclusive": True, "with": [_slot(1, 1, gpus=1)]}]
    assert _dry("--tasks-per-node=2", "-N3", "true")["resources"][0]["exclusive"] is True
    assert _dry("-n4", "-N2", "-c2", "-g1", "-x", "true")["resources"] == [
        {"type": "node", "count": 2, "exclusive": True, "with": [_slot(2, 2, gpus=1)]}]
    spec = _dry("-n3", "-N2", "true")
    assert spec["resources"][0]["with"] == [_slot(2, 1)]
    assert spec["tasks"][0]["count"] == {"total": 3}


@pytest.mark.parametrize("args,text", [
    (("--cores=3", "-N2"), "number of cores must be evenly divisible by node count"),
    (("--tasks-per-core=0", "--cores=2"), "--tasks-per-core must be >= 1"),
    (("--tasks-per-core=1", "--tasks-per-node=1"),
     "Do not specify both the number of tasks per node and per core"),
    (("--gpus-per-node=1",), "--gpus-per-node requires --nodes"),
    (("--tasks-per-node=2",), "must specify node or core count with per_resource"),
    (("--cores=2", "-n2"), "Per-resource options can't be used with per-task options. "
                           "(See --help for details)"),
    (("--cores=x",), "--cores: invalid int value 'x'"),
    (("-N3", "-n2"), "node count must not be greater than task count"),
    (("--begin-time=xyz",), 'Invalid datetime: "xyz"'),
])
def test_resource_option_errors(args, text):
    assert _err(*args, "true") == f"flux-submit: ERROR: {text}\n"


@pytest.mark.parametrize("query,constraint", [
    ("host:foo[1-2] and -rank:0 or bar",
     {"or": [{"and": [{"hostlist": ["foo[1-2]"]}, {"not": [{"ranks": ["0"]}]}]},
             {"properties": ["bar"]}]}),
    ("a,b c", {"properties": ["a", "b", "c"]}),
    ("not (a | b) x", {"and": [{"not": [{"or": [{"properties": ["a"]},
                                                 {"properties": ["b"]}]}]},
                               {"properties": ["x"]}]}),
    ("(a|b)|c", {"or": [{"properties": ["a"]}, {"properties": ["b"]},
                        {"properties": ["c"]}]}),
    ("host:\"foo bar\" 'x y'", {"and": [{"hostlist": ["foo bar"]},
                                        {"properties": ["x y"]}]}),
    ("notme andy or-x", {"or": [{"properties": ["notme", "andy"]},
                                {"not": [{"properties": ["x"]}]}]}),
])
def test_requires(query, constraint):
    spec = _dry(f"--requires={query}", "true")
    assert spec["attributes"]["system"]["constraints"] == constraint
    spec = _dry("--requires=a", "--require=b", "true")
    assert spec["attributes"]["system"]["constraints"] == {"properties": ["a", "b"]}


@pytest.mark.parametrize("query,text", [
    ("(a", "Unclosed parenthesis in position 0"),
    ("host:", "Missing argument to token 'host:'"),
    ("a |", "Unexpected end of input in 'a |'"),
    ("-(a)", "Invalid token '(' at position 1"),
    ("'a", "Unclosed quote \"'\" at position 1"),
    ("a)", "Mismatched parentheses starting at position {self.lexer.last_rparens}."),
    ("x%y:1", "invalid character '%' in operator 'x%y:'"),
    ("a and and b", "Invalid token 'and' at position 6"),
])
def test_requires_errors(query, text):
    assert _err(f"--requires={query}", "true") == (
        f"flux-submit: ERROR: --requires='{query}': {text}\n")


def test_begin_time_and_common_options():
    import time

    before = time.time()
    deps = _dry("--begin-time=+1h", "--dependency=afterok:ƒ1", "true")[
        "attributes"]["system"]["dependencies"]
    assert deps[1] == {"scheme": "afterok", "value": "ƒ1"}  # command-line order
    assert deps[0]["scheme"] == "begin-time"
    assert before + 3600 <= float(deps[0]["value"]) <= time.time() + 3600
    system = _dry("-t", "5", "--job-name=foo", "-q", "batch", "-B", "bank", "--cwd=/x",
                  "--output=out", "-l", "--taskmap=cyclic:2", "true")["attributes"]["system"]
    assert (system["duration"], system["job"], system["queue"], system["bank"]) == (
        300.0, {"name": "foo"}, "batch", "bank")
    assert system["cwd"] == "/x"
    assert system["shell"]["options"]["taskmap"] == {"scheme": "cyclic", "value": "2"}
    assert system["shell"]["options"]["output"]["stdout"] == {"type": "file", "path": "out",
                                                              "label": True}


def test_cc_templates():
    r = _flux("submit", "--dry-run", *NOENV, "--cc=1-2", "--job-name={x}", "echo")
    assert (r.returncode, r.stderr) == (
        1, "flux: ERROR: Replacement key 'x' not found in '--job-name={x}'\n")
    r = _flux("submit", "--dry-run", *NOENV, "--cc=1-2", "echo", "{x}")
    assert r.stderr == "flux: ERROR: Invalid replacement string in command: '{x}'\n"
    spec = _dry("--bcc=3", "-o", "x={{cc}}", "--job-name={cc}", "echo", "{cc}")
    assert spec["tasks"][0]["command"] == ["echo", "3"]
    assert spec["attributes"]["system"]["job"] == {"name": "3"}
    assert spec["attributes"]["system"]["shell"]["options"]["x"] == "{{cc}}"
    assert "FLUX_JOB_CC" not in spec["attributes"]["system"]["environment"]


@pytest.mark.parametrize("args,lines", [
    (("echo", "{}", ":::", "a", "b", ":::", "1", "2"),
     ["echo a", "echo a", "echo b", "echo b"]),
    (("-n{1}", "--cc=1-2", "echo", "{}", "{seq}", "{seq1}", "{.%}", "{0./}", "{0.//}",
      "{0./%}", ":::", "d/a.x", ":::", "1", "2"),
     ["-n1 --cc=1-2 echo d/a.x 0 1 d/a a.x d a", "-n2 --cc=1-2 echo d/a.x 1 2 d/a a.x d a"]),
    (("--define=up=x.upper()", "echo", "{.up}", ":::", "a/b.c"), ["echo A/B.C"]),
    (("--define=sp=x.split(',')", "echo", "{.sp}", ":::", "a,b"), ["echo a b"]),
    (("echo", "{0}", "{1}", ":::", "a", "b", "c", ":::+", "x", "y"),
     ["echo a x", "echo b y", "echo c x"]),
    ((":::", "a", "b"), ["a", "b"]),
    (("--env=X={}", "--wait-event={}", "echo", ":::", "a"),
     ["--env=['X=a'] --wait-event=a echo"]),
])
def test_bulksubmit_dry_run(args, lines):
    r = _flux("bulksubmit", "--dry-run", *args)
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
    assert r.stdout.splitlines() == [f"bulksubmit: submit {line}" for line in lines]


def test_bulksubmit_inputs_and_errors(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("a,b c\nd")
    r = _flux("bulksubmit", "--dry-run", "--sep=,", "echo", "{}", "::::", str(path))
    assert r.stdout == "bulksubmit: submit echo a\nbulksubmit: submit echo b c\nd\n"
    r = _flux("bulksubmit", "--dry-run", "--sep=none", "echo", "{}", "::::", str(path))
    assert r.stdout == ("bulksubmit: submit echo a,b\nbulksubmit: submit echo c\n"
                        "bulksubmit: submit echo d\n")
    r = _flux("bulksubmit", "--dry-run", "--progress", "echo", input="x\ny\n")
    assert r.stdout == ("bulksubmit: submitting a total of 2 jobs\n"
                        "bulksubmit: submit echo\nbulksubmit: submit echo\n")
    for args, text in [
            (("echo", "::::", "/dev/null"),
             "flux-bulksubmit: ERROR: no jobs provided for bulk submission\n"),
            (("echo", "{1}", ":::", "a"),
             "flux: ERROR: Invalid replacement string in command: '{1}'\n"),
            (("-t", "{1}", "echo", ":::", "a"),
             "flux: ERROR: Invalid replacement index in -t{1}'\n"),
            (("echo", "::::", str(path), "x"),
             "flux-bulksubmit: ERROR: Multiple args not allowed after ::::\n"),
            (("echo", "::::", "/nonexistent"),
             "flux-bulksubmit: ERROR: No such file or directory: '/nonexistent'\n")]:
        r = _flux("bulksubmit", "--dry-run", *args)
        assert (r.returncode, r.stderr) == (1, text)


@pytest.fixture(scope="module")
def inst(shared_instance):
    return shared_instance


def _ids(text: str) -> list[str]:
    ids = text.split()
    assert ids and all(F58.match(x) for x in ids), text
    return ids


def test_wait_exit_codes(inst):
    r = inst.run("submit", "--wait", RUN, "true")
    assert (r.returncode, r.stderr) == (0, "")
    _ids(r.stdout)
    r = inst.run("submit", "--wait", "-v", RUN, "-Ssystem.exec.test.wait_status=768", "false")
    jobid = _ids(r.stdout)[0]
    assert r.returncode == 3
    assert re.fullmatch(rf"{jobid}: \d+\.\d{{3}}s: failed: status=768\n", r.stderr)
    r = inst.run("bulksubmit", "--wait", RUN, "-Ssystem.exec.test.wait_status={}", "false",
                 ":::", "0", "256", "9")
    assert r.returncode == 128 + 9 and len(_ids(r.stdout)) == 3
    r = inst.run("submit", "--wait", "--cores=100000", "true")
    assert r.returncode == 1
    assert r.stderr.startswith("job.exception: type=alloc severity=0 unsatisfiable request")


def test_wait_event_verbose_and_cc(inst):
    r = inst.run("submit", "--wait-event=start", "-vv", "--cc=1-2", RUN, "true")
    assert r.returncode == 0, r.stderr
    ids = _ids(r.stdout)
    for jobid in ids:
        names = [line.split()[2] for line in r.stderr.splitlines()
                 if line.startswith(f"{jobid}: ")]
        assert names[0] == "submit" and names[-1] == "start" and "finish" not in names
    r = inst.run("submit", "--wait-event=priority", "--urgency=hold", RUN, "true")
    assert r.returncode == 0
    held = _ids(r.stdout)[0]
    assert inst.run("cancel", held).returncode == 0


def test_wait_for_held_job_ends_at_cancel(inst, tmp_path):
    from cmdhelpers import Background

    with Background(inst, tmp_path, "submit", "--wait", "--urgency=hold", RUN, "true") as bg:
        jobid = bg.wait_output(lambda text: bool(text.strip())).strip()
        assert inst.run("cancel", "-m", "bye", jobid).returncode == 0
        assert bg.wait(timeout=20) == 1
        assert bg.stderr() == "job.exception: type=cancel severity=0 bye\n"


def test_bulksubmit_submits_and_logs(inst, tmp_path):
    log = tmp_path / "log"
    r = inst.run("bulksubmit", f"--log={log}", "--job-name={}", RUN, "true", ":::", "a", "b")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    ids = _ids(log.read_text())
    assert len(ids) == 2
    r = inst.run("jobs", "-a", "-n", "-o", "{id.f58} {name}", *ids)
    assert sorted(r.stdout.split("\n")[:-1]) == sorted([f"{ids[0]} a", f"{ids[1]} b"])
    r = inst.run("bulksubmit", "-v", "--urgency={}", RUN, "true", ":::", "40")
    assert r.returncode == 1
    assert r.stdout == "bulksubmit: submit --urgency=40 true\n"
    assert r.stderr == "[Errno 22] urgency range is [0:31]\n"
    r = inst.run("bulksubmit", "--quiet", "--progress", RUN, "true", ":::", "x")
    assert (r.returncode, r.stdout) == (0, "")
    assert r.stderr == "flux: WARNING: stdout is not a tty. Ignoring --progress option\n"
    assert os.path.exists(log)


@pytest.mark.parametrize("cc", ["3-3", "01", "5,1", "x"])
def test_cc_is_decoded_by_idset(cc):
    """--cc is read by flux.idset.IDset, as flux-core 0.88's flux submit reads it: texts
    libidset refuses (an empty range, a leading zero, out of order) are errors."""
    r = _flux("submit", "--dry-run", *NOENV, f"--cc={cc}", "true")
    assert (r.returncode, r.stderr) == (1, f"flux-submit: ERROR: IDset(): Invalid argument: {cc}\n")

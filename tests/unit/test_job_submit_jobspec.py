"""``flux submit``'s jobspec from its options, in-process: the documents flux-core 0.88 builds.

The expected documents were printed by flux-core 0.88's ``flux submit --dry-run``
with the same options (``--env=-*`` and ``--rlimit=-*`` keep them independent
of this machine).
"""

from __future__ import annotations

import json
import resource

import pytest

from flux.cmd._job_cli import idset_decode, posix_split
from flux.cmd._job_jobspec import (
    filtered_environment,
    filtered_rlimits,
    jobspec_from_args,
    keyval_parse,
    signal_option,
    uri_entry,
)
from flux.cmd._job_submit_options import submit_parser


def _jobspec(argv: list[str]) -> dict:
    parser = submit_parser("flux-submit")
    options, command = posix_split(parser, argv)
    args = parser.parse_args(options)
    args.command = command
    return json.loads(jobspec_from_args(args).dumps())


def test_many_options_as_flux_core(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    got = _jobspec(["--env=-*", "--rlimit=-*", "-o", "verbose", "-o", "foo=bar",
                    "--setattr=user.x=3", "-S", ".y", "--taskmap=cyclic", "--signal=@2m",
                    "--dependency=afterok:f123", "-u", "-N1", "-n2", "-g1", "-c2", "-x",
                    "hostname"])
    assert got == {
        "resources": [{"type": "node", "count": 1, "exclusive": True, "with": [
            {"type": "slot", "count": 2, "with": [{"type": "core", "count": 2},
                                                 {"type": "gpu", "count": 1}],
             "label": "task"}]}],
        "tasks": [{"command": ["hostname"], "slot": "task", "count": {"per_slot": 1}}],
        "attributes": {"system": {
            "duration": 0, "environment": {}, "cwd": str(tmp_path),
            "shell": {"options": {
                "output": {"stdout": {"buffer": {"type": "none"}},
                           "stderr": {"buffer": {"type": "none"}}, "batch-timeout": 0.05},
                "input": {"batch-timeout": 0.0},
                "signal": {"signum": 10, "timeleft": 120.0},
                "taskmap": {"scheme": "cyclic", "value": ""},
                "verbose": 1, "foo": "bar"}},
            "dependencies": [{"scheme": "afterok", "value": "f123"}]},
            "user": {"x": 3}, "y": 1},
        "version": 1}


def test_time_limit_name_io_queue_and_env_rules(monkeypatch):
    monkeypatch.setenv("FOO", "1")
    got = _jobspec(["--env=-*", "--env=FOO", "--env=BAR=$FOO:x", "--env=X={{rank}}",
                    "-t", "5", "--job-name=foo", "-q", "q", "-B", "b", "--cwd=/",
                    "--output=out", "--error=err", "-l", "a", "b"])
    system = got["attributes"]["system"]
    assert system["duration"] == 300.0
    assert system["environment"] == {"FOO": "1", "BAR": "1:x"}
    assert system["shell"]["options"]["env-expand"] == {"X": "{{rank}}"}
    assert system["job"] == {"name": "foo"} and system["queue"] == "q" and system["bank"] == "b"
    assert system["cwd"] == "/"
    assert got["tasks"][0]["command"] == ["a", "b"]


def test_options_stop_at_the_command():
    got = _jobspec(["--env=-*", "-n2", "--", "hostname", "-n", "3"])
    assert got["tasks"][0]["command"] == ["hostname", "-n", "3"]
    assert got["resources"][0]["count"] == 2


def test_nodes_alone_are_exclusive_and_fsd_limits():
    got = _jobspec(["--env=-*", "-N2", "-t", "1.5h", "true"])
    assert got["resources"][0] == {"type": "node", "count": 2, "exclusive": True, "with": [
        {"type": "slot", "count": 1, "with": [{"type": "core", "count": 1}], "label": "task"}]}
    assert got["attributes"]["system"]["duration"] == 5400.0


@pytest.mark.parametrize("argv, text", [
    ([], "job command and arguments are missing"),
    (["-n", "x", "true"], "--ntasks: invalid int value 'x'"),
    (["-N", "3", "-n", "2", "true"], "node count must not be greater than task count"),
    (["-t", "x", "true"], "invalid Flux standard duration"),
    (["--signal=XX", "true"], "--signal=XX: signal 'XX' is invalid"),
    (["--rlimit=foo=1", "true"], 'Invalid rlimit "foo"'),
    (["--env=X=$NOPE_NOT_SET", "true"], "--env: Variable 'NOPE_NOT_SET' not found in X=$NOPE_NOT_SET"),
])
def test_errors_as_flux_core(argv, text):
    with pytest.raises(ValueError) as info:
        _jobspec(argv)
    assert str(info.value) == text


def test_environment_rules():
    base = {"A": "1", "AB": "2", "C": "3"}
    assert filtered_environment(["-A*"], dict(base))[0] == {"C": "3"}
    assert filtered_environment(["-/^A$/"], dict(base))[0] == {"AB": "2", "C": "3"}
    env, expand = filtered_environment(["-A*", "D=$C-x", "E={{id}}"], dict(base))
    assert env == {"C": "3", "D": "3-x"} and expand == {"E": "{{id}}"}


def test_rlimits_keep_back_a_few_and_follow_rules():
    limits = filtered_rlimits(None)
    assert "memlock" not in limits and "nice" not in limits
    assert limits["core"] == resource.getrlimit(resource.RLIMIT_CORE)[0]
    assert filtered_rlimits(["-*,core=16"]) == {"core": 16}
    assert filtered_rlimits(["-*", "nofile=unlimited"]) == {"nofile": resource.RLIM_INFINITY}


def test_keyval_uri_signal():
    assert keyval_parse("--setattr", "a") == ("a", 1)
    assert keyval_parse("--setattr", "a=[1]") == ("a", [1])
    assert keyval_parse("--setattr", "a=x y") == ("a", "x y")
    assert uri_entry("afterok:f1?x=1&y=a&y=2.5", "dependency") == {
        "scheme": "afterok", "value": "f1", "x": 1, "y": ["a", 2.5]}
    assert uri_entry("cyclic", "taskmap") == {"scheme": "cyclic", "value": ""}
    assert signal_option("TERM@30s") == {"signum": 15, "timeleft": 30.0}


def test_idsets_and_posix_split():
    assert idset_decode("1-3,7") == [1, 2, 3, 7]
    assert idset_decode("[0,2]") == [0, 2]
    with pytest.raises(ValueError):
        idset_decode("x")
    parser = submit_parser("flux-submit")
    assert posix_split(parser, ["-n", "2", "-xN1", "--cwd", "/", "cmd", "-n", "3"]) == (
        ["-n", "2", "-xN1", "--cwd", "/"], ["cmd", "-n", "3"])

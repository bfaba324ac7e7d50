"""Jobspec v1 validation (RFC 25): the RFCs' examples, JSON and YAML input, and one-line
messages naming the path for the usual mistakes."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
from conftest import SHARED

from flux.services.job_ingest.jobspec import SCHEMA_PATH, JobspecError, parse, validate
from proctree import run_tree

RFC_DATA = SHARED / "rfc" / "data"
needs_rfc_data = pytest.mark.skipif(not RFC_DATA.is_dir(), reason="shared/rfc/data not beside the checkout")

YAML_JOBSPEC = """\
version: 1
resources:
  - type: node
    count: 4
    with:
      - type: slot
        count: 1
        label: default
        with:
          - type: core
            count: 2
tasks:
  - command: [ "app", "--flag" ]
    slot: default
    count:
      total: 5
attributes:
  system:
    duration: 3600.
    cwd: "/home/flux"
    environment:
      HOME: "/home/flux"
"""

GOOD = {
    "version": 1,
    "resources": [{"type": "slot", "count": 2, "label": "task",
                   "with": [{"type": "core", "count": 1}]}],
    "tasks": [{"command": ["hostname"], "slot": "task", "count": {"per_slot": 1}}],
    "attributes": {"system": {"duration": 0}},
}


def error_of(jobspec) -> str:
    with pytest.raises(JobspecError) as info:
        validate(jobspec)
    text = str(info.value)
    assert "\n" not in text
    assert text == f"{info.value.path}: {info.value.problem}"
    return text


def mutated(change) -> dict:
    jobspec = copy.deepcopy(GOOD)
    change(jobspec)
    return jobspec


# ------------------------------------------------------------ the RFCs' examples

def rfc_examples(spec: str) -> list[Path]:
    return sorted((RFC_DATA / spec).glob("*.yaml")) if RFC_DATA.is_dir() else []


@needs_rfc_data
@pytest.mark.parametrize("path", rfc_examples("spec_25"), ids=lambda p: p.name)
def test_rfc25_examples_are_valid(path):
    jobspec = validate(path.read_text())
    assert jobspec["version"] == 1


@needs_rfc_data
@pytest.mark.parametrize("path", rfc_examples("spec_14"), ids=lambda p: p.name)
def test_rfc14_examples_are_classified(path):
    """RFC 14 (canonical jobspec) examples: only example1 is also version 1; example2 puts
    a node inside a slot, the use cases say version 999."""
    if path.name == "example1.yaml":
        validate(path.read_text())
    elif path.name == "example2.yaml":
        assert error_of(path.read_text()) == \
            'resources[0].with[0].type: must be one of "core", "gpu" (got "node")'
    else:
        assert error_of(path.read_text()) == "version: must be 1, the only version supported (got 999)"


@needs_rfc_data
def test_shipped_schema_is_the_rfcs():
    assert Path(SCHEMA_PATH).read_bytes() == (RFC_DATA / "spec_25" / "schema.json").read_bytes()


# ------------------------------------------------------------ input forms

def test_yaml_text():
    jobspec = validate(YAML_JOBSPEC)
    assert jobspec["attributes"]["system"]["duration"] == 3600.0
    assert jobspec["tasks"][0]["command"] == ["app", "--flag"]


def test_json_text_bytes_and_dict_agree():
    text = json.dumps(GOOD)
    assert validate(text) == validate(text.encode()) == validate(GOOD) == GOOD
    assert validate(YAML_JOBSPEC.encode()) == validate(json.dumps(validate(YAML_JOBSPEC)))


def test_a_dict_is_returned_as_is():
    jobspec = copy.deepcopy(GOOD)
    assert validate(jobspec) is jobspec


@pytest.mark.parametrize("text, message", [
    ("", "jobspec: empty document"),
    ("[1, 2]", "jobspec: must be a mapping (got list)"),
    ('"version"', "jobspec: must be a mapping (got string)"),
    ("version: [1\n", ("jobspec: invalid JSON or YAML at line 2, column 1: expected ',' or ']', "
                       "but got '<stream end>'")),
    ('{"version": 1,', ("jobspec: invalid JSON or YAML at line 1, column 15: expected the node "
                        "content, but found '<stream end>'")),
    (b"\xff\xfe", "jobspec: not UTF-8 text (byte 0)"),
])
def test_unreadable_input(text, message):
    assert error_of(text) == message


def test_yaml_values_json_cannot_carry():
    text = YAML_JOBSPEC.replace('HOME: "/home/flux"', "HOME: 2024-01-01")
    assert error_of(text) == "attributes.system.environment.HOME: YAML value of type date has no JSON form"


def test_parse_checks_syntax_only():
    assert parse('{"version": 2}') == {"version": 2}
    with pytest.raises(JobspecError, match="must be a dict or JSON/YAML text"):
        parse(42)


# ------------------------------------------------------------ the usual mistakes

@pytest.mark.parametrize("change, message", [
    (lambda j: j.pop("version"), "version: required key is missing"),
    (lambda j: j.update(version=2), "version: must be 1, the only version supported (got 2)"),
    (lambda j: j.update(version="1"), "version: must be an integer (got string)"),
    (lambda j: j.update(tasks=[]), "tasks: must contain exactly one task (got none)"),
    (lambda j: j.pop("tasks"), "tasks: required key is missing"),
    (lambda j: j["tasks"].append(j["tasks"][0]), "tasks: must contain exactly one task (got 2)"),
    (lambda j: j["resources"][0].update(count=0), "resources[0].count: must be >= 1 (got 0)"),
    (lambda j: j["resources"][0]["with"][0].update(count=0),
     "resources[0].with[0].count: must be >= 1 (got 0)"),
    (lambda j: j["tasks"][0]["count"].update(per_slot=0), "tasks[0].count.per_slot: must be 1 (got 0)"),
    (lambda j: j["tasks"][0].update(count={"total": 0}), "tasks[0].count.total: must be >= 1 (got 0)"),
    (lambda j: j["attributes"]["system"].update(duration="1h"),
     "attributes.system.duration: must be a number (got string)"),
    (lambda j: j["attributes"]["system"].update(duration=-1),
     "attributes.system.duration: must be >= 0 (got -1)"),
    (lambda j: j["attributes"]["system"].update(duration=float("inf")),
     "attributes.system.duration: must be a finite number (got inf)"),
    (lambda j: j["attributes"]["system"].pop("duration"),
     "attributes.system.duration: required key is missing"),
    (lambda j: j["attributes"].pop("system"), "attributes.system: required key is missing"),
    (lambda j: j.update(attributes=None), "attributes.system: required key is missing"),
    (lambda j: j["attributes"].update(sytem={}),
     "attributes.sytem: unknown key (allowed: system, user)"),
    (lambda j: j.update(extra=1), "extra: unknown key (allowed: version, resources, tasks, attributes)"),
    (lambda j: j["resources"][0].update(type="cluster"),
     'resources[0].type: must be one of "node", "slot" (got "cluster")'),
    (lambda j: j["resources"][0].pop("label"), "resources[0].label: required key is missing"),
    (lambda j: j["resources"][0]["with"][0].update(type="memory"),
     'resources[0].with[0].type: must be one of "core", "gpu" (got "memory")'),
    (lambda j: j["resources"][0]["with"].__setitem__(0, {"type": "gpu", "count": 1}),
     "resources[0].with: a slot must contain a core (got gpu)"),
    (lambda j: j["resources"][0]["with"].append({"type": "core", "count": 1}),
     "resources[0].with: a slot lists each of core and gpu at most once (got core, core)"),
    (lambda j: j["resources"].append(j["resources"][0]), "resources: must have at most 1 entry (got 2)"),
    (lambda j: j.update(resources=[]), "resources: must not be empty"),
    (lambda j: j["tasks"][0].update(count={}),
     "tasks[0].count: must have exactly one of the keys per_slot, total (got 0)"),
    (lambda j: j["tasks"][0].update(count={"per_slot": 1, "total": 2}),
     "tasks[0].count: must have exactly one of the keys per_slot, total (got 2)"),
    (lambda j: j["tasks"][0].update(command=[]), "tasks[0].command: must not be empty"),
    (lambda j: j["tasks"][0].update(command=["ls", 1]), "tasks[0].command[1]: must be a string (got integer)"),
    (lambda j: j["tasks"][0].update(command="hostname"), "tasks[0].command: must be a list (got string)"),
])
def test_mistakes_name_their_path(change, message):
    assert error_of(mutated(change)) == message


def test_node_level_vertex_errors_reach_the_slot():
    jobspec = {**GOOD, "resources": [{"type": "node", "count": 1, "with": GOOD["resources"]}]}
    validate(jobspec)
    jobspec = copy.deepcopy(jobspec)
    jobspec["resources"][0]["with"][0]["with"][0]["count"] = 0
    assert error_of(jobspec) == "resources[0].with[0].with[0].count: must be >= 1 (got 0)"


def test_a_wrong_version_is_reported_before_other_mistakes():
    jobspec = mutated(lambda j: j.update(version=2, tasks=[{"command": 5}]))
    assert error_of(jobspec).startswith("version: ")


def test_error_is_a_value_error():
    assert issubclass(JobspecError, ValueError)


# ------------------------------------------------------------ import cost

def test_import_flux_loads_neither_jsonschema_nor_yaml():
    """``import flux`` stays light; so does importing the validator, and JSON input never
    loads PyYAML."""
    code = ("import sys, json, flux\n"
            "heavy = lambda: sorted(m for m in ('jsonschema', 'yaml') if m in sys.modules)\n"
            "print(heavy())\n"
            "from flux.services.job_ingest import jobspec\n"
            "print(heavy())\n"
            f"jobspec.validate(json.dumps({GOOD!r}))\n"
            "print(heavy())\n")
    out = run_tree([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                   check=False)
    assert out.stdout.split("\n")[:3] == ["[]", "[]", "['jsonschema']"], out.stderr

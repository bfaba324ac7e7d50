"""job-ingest's jobspec check answers what flux-core 0.88's validator answers (each text
below is what flux-core's `flux job submit` printed for the same jobspec)."""

from __future__ import annotations

import pytest

from flux.services.job_ingest.validator import InvalidJobspec, check

CORE = [{"type": "core", "count": 1}]
TASK = {"command": ["a"], "slot": "a", "count": {"per_slot": 1}}


def spec(resources=CORE, tasks=(TASK,), system=None, **extra):
    obj = {"version": 1, "resources": resources, "tasks": list(tasks),
           "attributes": {"system": {"duration": 0} if system is None else system}}
    obj.update(extra)
    return obj


def test_accepts_what_flux_core_accepts():
    check(spec())
    check(spec(resources=[], tasks=()))  # flux-core lets an empty request through
    check(spec(resources=[{"type": "slot", "count": 2, "label": "task", "with": CORE}],
               system={"duration": 1.5, "dependencies": [{"scheme": "afterok", "value": "1"}],
                       "constraints": {"and": [{"properties": ["x"]}, {"ranks": ["0-3"]}]}}))


@pytest.mark.parametrize("obj,text", [
    (spec(system={}), "attributes.system.duration is a required key"),
    (spec(version=2), "version must be 1"),
    (spec(x=1), "Extraneous key (x)"),
    ({"version": 1, "resources": [], "attributes": {}}, "Missing key (tasks)"),
    (spec(resources=[{"type": "slot", "count": 1, "with": CORE}]), "slots must have labels"),
    (spec(resources=[{"type": "core", "count": "0-3"}]),
     "resource count must be an integer for type 'core' (got 'str')"),
    (spec(resources=[{"type": "core", "count": {"min": 2, "max": 1}}]), "max must be >= min"),
    (spec(tasks=[{**TASK, "command": 5}]), "object of type 'int' has no len()"),
    (spec(tasks=[{**TASK, "command": []}]), "command array cannot have length of zero"),
    (spec(tasks=[{**TASK, "command": "a"}]), "command must be a list of strings"),
    (spec(tasks=[{**TASK, "count": {"per_resource": 1}}]), "count per_slot or total must be set"),
    (spec(system={"duration": "x"}), "attributes.system.duration must be a number"),
    (spec(system={"duration": 1, "constraints": {"foo": []}}),
     "unknown constraint operator 'foo'"),
    ({**spec(), "attributes": {"system": {"duration": 1}, "other": 1}}, "Extraneous key (other)"),
    (spec(resources=[{"type": "node", "count": 0}]), "node, slot, or core count must be > 0"),
    (spec(resources=[{"count": 1}]), "type is a required key for resources"),
    (spec(resources=[{"type": "core", "count": "1+:2:*"}]), "resource count must be an integer "
     "for type 'core' (got 'str')"),
    (spec(resources=[{"type": "core", "count": "x"}]), "count string must be a valid idset or range"),
    (spec(system={"duration": 1, "dependencies": [{"scheme": 1, "value": "x"}]}),
     "dependency scheme must be a string"),
])
def test_refusals_with_flux_core_texts(obj, text):
    with pytest.raises(InvalidJobspec) as info:
        check(obj)
    assert str(info.value) == text

# Jobspec cases printed by flux-core 0.88's flux.job (output: jobspec_flux_core.out);
# test_job_api_offline.py runs it with pureflux and compares.
import datetime, io, json, os, pathlib
os.environ.clear(); os.environ["A"] = "1"
from flux.job import Jobspec, JobspecV1, validate_jobspec

def attempt(label, fn):
    try:
        r = fn()
        if isinstance(r, Jobspec):
            r = r.dumps()
        print(label, "->", r)
    except Exception as e:
        print(label, "!!", type(e).__name__, e)

attempt("cmd", lambda: JobspecV1.from_command(["hostname"]))
attempt("cmd-full", lambda: JobspecV1.from_command(["a", "b"], num_tasks=5, num_nodes=2, cores_per_task=2, gpus_per_task=1, exclusive=True, duration="1m", cwd=pathlib.Path("/tmp"), name="x", input="i", output="o", error="e", label_io=True, unbuffered=True, queue="q", bank="b", rlimits={"nofile": 5}, env_expand={"X": "{{id}}"}))
attempt("cmd-even", lambda: JobspecV1.from_command(["a"], num_tasks=4, num_nodes=2, gpus_per_task=0))
attempt("cmd-outnone", lambda: JobspecV1.from_command(["a"], output="none", error="kvs"))
attempt("batch", lambda: JobspecV1.from_batch_command("#!/bin/sh\ntrue\n", "nm", args=["x"], conf={"a": 1}, num_nodes=1, broker_opts=["-v"]))
attempt("nest", lambda: JobspecV1.from_nest_command(["cmd"], num_slots=2))
attempt("batch-noshebang", lambda: JobspecV1.from_batch_command("true\n", "nm"))
for kw in [dict(num_tasks=0), dict(num_tasks=1.5), dict(cores_per_task=0), dict(gpus_per_task=-1), dict(num_nodes=0), dict(num_nodes=3, num_tasks=2), dict(exclusive=True), dict(environment=[]), dict(env_expand=[]), dict(rlimits=3), dict(cwd=3), dict(queue=3), dict(duration=-1), dict(duration="x"), dict(duration=[]), dict(duration=float("inf")), dict(duration="2h"), dict(duration=datetime.timedelta(minutes=2)), dict(duration="inf"), dict(duration="5ms"), dict(input=3)]:
    attempt(f"cmd {kw}", lambda: JobspecV1.from_command(["x"], **kw))
def setters():
    j = JobspecV1.from_command(["x"])
    j.stdin = "/in"; j.stderr = "/err"; j.duration = 3; j.environment = {"B": "2"}; j.setattr("user.foo", 1); j.setattr("attributes.system.z", 2); j.setattr_shell_option("verbose", 1)
    j.unbuffered = True; j.unbuffered = False
    j.add_file("f.json", {"k": 1}); j.add_file("f.txt", "a\nb\n", perms=0o644)
    print("props", j.duration, j.cwd, j.queue, j.environment, j.stdin, j.stdout, j.stderr, j.input, j.output, j.error, j.unbuffered, j.getattr("user.foo"), j.getattr("verbose") if False else "")
    print("repr", repr(j)); print("str", str(j)); print("iter", list(j)); print("walk", list(j.resource_walk())); print("counts", dict(j.resource_counts())); print("version", j.version, j.tasks, j.resources)
    return j
attempt("setters", setters)
attempt("getattr-missing", lambda: JobspecV1.from_command(["x"]).getattr("nope"))
attempt("unbuffered-bad", lambda: setattr(JobspecV1.from_command(["x"]), "unbuffered", 1))
attempt("addfile-bad", lambda: JobspecV1.from_command(["x"]).add_file("a", 3))
attempt("addfile-enc", lambda: JobspecV1.from_command(["x"]).add_file("a", "x", encoding="rot13"))
good = {"resources": [{"type": "slot", "count": 1, "label": "task", "with": [{"type": "core", "count": 1}]}], "tasks": [{"command": ["x"], "slot": "task", "count": {"per_slot": 1}}], "attributes": {"system": {"duration": 0}}, "version": 1}
def mod(path, value, drop=False):
    d = json.loads(json.dumps(good))
    *parents, last = path
    t = d
    for p in parents: t = t[p]
    if drop: del t[last]
    else: t[last] = value
    return d
cases = [("good", good), ("no-version", mod(["version"], 0, True)), ("extra", dict(good, x=1)), ("version2", mod(["version"], 2)), ("version-str", mod(["version"], "1")), ("version0", mod(["version"], 0)),
         ("res-notseq", mod(["resources"], {})), ("tasks-notseq", mod(["tasks"], 3)), ("attrs-notmap", mod(["attributes"], [])),
         ("res-notmap", mod(["resources", 0], 3)), ("res-notype", mod(["resources", 0, "type"], 0, True)), ("res-type-int", mod(["resources", 0, "type"], 3)),
         ("res-nocount", mod(["resources", 0, "count"], 0, True)), ("count-float", mod(["resources", 0, "count"], 1.5)), ("count-zero", mod(["resources", 0, "count"], 0)),
         ("count-neg-other", mod(["resources", 0, "with", 0], {"type": "memory", "count": -1})), ("count-dict", mod(["resources", 0, "count"], {"min": 1, "max": 4, "operator": "+", "operand": 1})),
         ("count-dict-nomin", mod(["resources", 0, "count"], {"max": 4})), ("count-dict-badkey", mod(["resources", 0, "count"], {"min": 1, "x": 4})), ("count-dict-max<min", mod(["resources", 0, "count"], {"min": 3, "max": 2})),
         ("count-dict-op-only", mod(["resources", 0, "count"], {"min": 1, "operator": "+"})), ("count-dict-op-bad", mod(["resources", 0, "count"], {"min": 2, "operator": "/", "operand": 2})), ("count-dict-mul1", mod(["resources", 0, "count"], {"min": 2, "operator": "*", "operand": 1})),
         ("count-dict-pow-min1", mod(["resources", 0, "count"], {"min": 1, "operator": "^", "operand": 2})), ("count-dict-strmin", mod(["resources", 0, "count"], {"min": "1"})), ("count-dict-min0", mod(["resources", 0, "count"], {"min": 0})),
         ("count-str-idset", mod(["resources", 0, "count"], "1,3-5")), ("count-str-range", mod(["resources", 0, "count"], "2-4:1:+")), ("count-str-plus", mod(["resources", 0, "count"], "2+")), ("count-str-bad", mod(["resources", 0, "count"], "abc")),
         ("count-list", mod(["resources", 0, "count"], [1])), ("label-int", mod(["resources", 0, "label"], 1)), ("excl-str", mod(["resources", 0, "exclusive"], "yes")), ("slot-nolabel", mod(["resources", 0, "label"], 0, True)),
         ("task-notmap", mod(["tasks", 0], [])), ("task-nocmd", mod(["tasks", 0, "command"], 0, True)), ("task-count-list", mod(["tasks", 0, "count"], [])), ("task-count-two", mod(["tasks", 0, "count"], {"per_slot": 1, "total": 2})),
         ("task-count-other", mod(["tasks", 0, "count"], {"x": 1})), ("task-total-str", mod(["tasks", 0, "count"], {"total": "1"})), ("task-total-0", mod(["tasks", 0, "count"], {"total": 0})), ("task-perslot-0", mod(["tasks", 0, "count"], {"per_slot": 0})),
         ("task-perres", mod(["tasks", 0, "count"], {"per_resource": 1})), ("task-slot-int", mod(["tasks", 0, "slot"], 1)), ("task-attrs", mod(["tasks", 0, "attributes"], [])), ("task-cmd-empty", mod(["tasks", 0, "command"], [])),
         ("task-cmd-str", mod(["tasks", 0, "command"], "ls")), ("task-cmd-ints", mod(["tasks", 0, "command"], [1])), ("attrs-extra", mod(["attributes", "x"], {})), ("no-system", mod(["attributes", "system"], 0, True)),
         ("system-list", mod(["attributes", "system"], [])), ("no-duration", mod(["attributes", "system", "duration"], 0, True)), ("duration-str", mod(["attributes", "system", "duration"], "1")),
         ("deps-notlist", mod(["attributes", "system", "dependencies"], 3)), ("deps-nokey", mod(["attributes", "system", "dependencies"], [{"scheme": "a"}])), ("deps-int", mod(["attributes", "system", "dependencies"], [{"scheme": 1, "value": "x"}])), ("deps-ok", mod(["attributes", "system", "dependencies"], [{"scheme": "afterok", "value": "x", "extra": 1}])),
         ("cons-notmap", mod(["attributes", "system", "constraints"], [])), ("cons-ok", mod(["attributes", "system", "constraints"], {"and": [{"properties": ["a", "^b"]}, {"not": [{"ranks": ["0-3"]}]}]})), ("cons-badop", mod(["attributes", "system", "constraints"], {"foo": []})),
         ("cons-notseq", mod(["attributes", "system", "constraints"], {"properties": 3})), ("cons-prop-char", mod(["attributes", "system", "constraints"], {"properties": ["a|b"]})), ("cons-ranks-bad", mod(["attributes", "system", "constraints"], {"ranks": ["x"]})),
         ("res-count-str-v1", mod(["resources", 0, "count"], "1-2"))]
for label, d in cases:
    attempt("validate " + label, lambda: validate_jobspec(json.dumps(d))[1].dumps())
    attempt("V1 " + label, lambda: JobspecV1(**d))
attempt("validate req1", lambda: validate_jobspec(json.dumps(mod(["version"], 2)), require_version=1))
attempt("validate obj", lambda: validate_jobspec(JobspecV1(**good))[0])
attempt("validate bytes", lambda: validate_jobspec(json.dumps(good).encode())[0])
attempt("validate none", lambda: validate_jobspec(None))
attempt("validate int", lambda: validate_jobspec(3))
attempt("validate null", lambda: validate_jobspec("null"))
attempt("yaml", lambda: JobspecV1.from_yaml_stream(io.StringIO("version: 1\nresources:\n  - type: slot\n    count: 1\n    label: task\n    with:\n      - type: core\n        count: 1\ntasks:\n  - command: [x]\n    slot: task\n    count:\n      per_slot: 1\nattributes:\n  system:\n    duration: 0\n")))
attempt("yaml-extra", lambda: JobspecV1.from_yaml_stream(json.dumps(dict(good, foo=2))))
attempt("Jobspec v2", lambda: Jobspec(**dict(good, version=2)))

# JobInfo cases printed by flux-core 0.88's flux.job (output: jobinfo_flux_core.out);
# test_job_api_offline.py runs it with pureflux and compares.  TZ=UTC, LANG=C.UTF-8, uid 0.
import json
from flux.job import JobInfo
def show(x): print(json.dumps(x, default=str, sort_keys=True))
info = JobInfo({"id": 5, "state": 8, "userid": 0, "urgency": 16, "t_submit": 1.0, "annotations": {"user": {"uri": "local:///x"}, "sched": {"reason_pending": "x"}}})
show(info.to_dict()); show(info.to_dict(filtered=False)); show([info.contextual_info, info.state_emoji, info.status_emoji, info.result_emoji])
rec = {"id": 6559891456, "userid": 0, "urgency": 16, "priority": 16, "t_submit": 1.0, "t_depend": 1.1, "t_run": 2.0, "t_cleanup": 3.0, "t_inactive": 3.3, "state": 64, "name": "true", "ntasks": 1, "ncores": 1, "duration": 0.0, "nnodes": 1, "ranks": "0", "nodelist": "node0", "success": True, "exception_occurred": False, "result": 1, "waitstatus": 0, "expiration": 0.0, "dependencies": ["begin-time=1000.5", "afterok:1"]}
i = JobInfo(rec); show(i.to_dict()); show([i.result_emoji, i.status_emoji, str(i.dependencies), i.contextual_time, i.inactive_reason])
for ws, res, exc in [(9, 2, None), (137<<8, 2, None), (126<<8, 2, None), ("", 2, ("exec", 0, "n")), ("", 2, ("oom", 0, "")), ("", 4, ("cancel", 0, "bye")), ("", 8, ("timeout", 0, "")), (0, 1, None), (128<<8, 2, None)]:
    r = dict(rec, waitstatus=ws, result=res)
    if exc: r.update(exception_occurred=True, exception_type=exc[0], exception_severity=exc[1], exception_note=exc[2])
    j = JobInfo(r); show([j.returncode, j.inactive_reason, j.status, j.result_abbrev])
for s in (1,2,4,8,16,32,64,14,48,62,3):
    j = JobInfo({"id":1,"state":s,"result":""}); show([j.state, j.state_single, j.status, j.status_abbrev])
j = JobInfo({"id":1,"state":8,"urgency":16,"priority":0}); show([j.contextual_info, j.contextual_time])
j = JobInfo({"id":1,"state":8,"urgency":16,"priority":5, "annotations": {"sched": {"t_estimate": 1.0}}}); show([j.contextual_info])
j = JobInfo({"id":1,"state":4}); show([j.contextual_info, str(j.annotations), str(j.sched.foo.bar), f"{j.user.x:>5d}|"])
j = JobInfo({"id":1,"state":2, "dependencies": ["a", "b"]}); show([j.contextual_info])
from flux.job import job_fields_to_attrs
fields = ["id", "id.dec", "id.hex", "id.f58", "id.f58plain", "id.emoji", "id.kvs", "id.words", "id.dothex", "userid", "username", "urgency", "priority", "state", "state_single", "state_emoji", "name", "cwd", "queue", "project", "bank", "ntasks", "ncores", "duration", "nnodes", "ranks", "nodelist", "success", "waitstatus", "returncode", "exception.occurred", "exception.severity", "exception.type", "exception.note", "result", "result_abbrev", "result_emoji", "t_submit", "t_depend", "t_priority", "t_sched", "t_run", "t_cleanup", "t_inactive", "runtime", "status", "status_abbrev", "status_emoji", "expiration", "t_remaining", "annotations", "dependencies", "contextual_info", "contextual_time", "inactive_reason", "sched", "user", "uri", "uri.local", "annotations.x", "sched.y", "user.z", "instance.stats"]
for f in fields:
    show([f, sorted(job_fields_to_attrs([f]))])
try:
    job_fields_to_attrs(["bogus"])
except KeyError as e:
    show(["bogus", repr(e)])

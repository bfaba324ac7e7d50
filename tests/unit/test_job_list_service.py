"""job-list's service in-process: a recorded flux-core 0.88 journal fed to it must give
flux-core's own answers; then requests and events flux-core's tests exercise."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from flux.constants import FLUX_MSGFLAG_STREAMING
from flux.message import Message
from flux.services.job_list.service import JobListService

RECORDED = Path(__file__).parent.parent / "data" / "job-list" / "fc-0.88-four-jobs.json"


class Harness:
    """The service with its answers, timers and KVS lookups captured."""

    def __init__(self, job_dirs: set | None = None) -> None:
        self.answers: list[tuple[Message, int, object]] = []
        self.timers: list = []
        self.job_dirs = job_dirs or set()
        self.service = JobListService(
            respond=lambda msg, payload: self.answers.append((msg, 0, payload)),
            respond_error=lambda msg, errnum, text: self.answers.append((msg, errnum, text)),
            from_sender=lambda req, msg: req.route_first == msg.route_first,
            job_dir_exists=lambda jobid: 0 if jobid in self.job_dirs else errno.ENOENT,
            call_later=lambda delay, fn: self.timers.append(fn))

    def request(self, method: str, payload: dict, streaming: bool = False,
                sender: str = "client") -> Message:
        msg = Message()
        msg.topic = f"job-list.{method}"
        msg.payload = payload
        msg.routes = [sender]
        if streaming:
            msg.flags |= FLUX_MSGFLAG_STREAMING
        name = "list_jobs" if method == "list" else method.replace("-", "_")
        getattr(self.service, name)(msg)
        return msg

    def answer(self, msg: Message) -> tuple[int, object]:
        found = [(e, p) for m, e, p in self.answers if m is msg]
        assert len(found) == 1, found
        return found[0]


def feed(h: Harness, journal: list) -> None:
    for resp in journal:
        h.service.journal(resp)


@pytest.fixture
def recorded() -> dict:
    return json.loads(RECORDED.read_text())


def test_answers_match_flux_core(recorded: dict) -> None:
    h = Harness()
    early = h.request("list", {"max_entries": 0, "attrs": ["all"]})
    assert h.answers == []  # waits for the journal's backlog (here: none, then live events)
    feed(h, recorded["journal"])
    assert h.answer(early) == (0, {"jobs": []})
    full = h.request("list", {"max_entries": 0, "attrs": ["all"]})
    assert h.answer(full) == (0, recorded["list"])
    msg = h.request("list", {"max_entries": 2, "attrs": ["name", "state", "result"],
                             "constraint": {"or": [{"states": ["inactive"]},
                                                   {"name": ["hostname"]}]}})
    assert h.answer(msg) == (0, recorded["list2"])
    first = recorded["list"]["jobs"][-1]["id"]
    assert h.answer(h.request("list-id", {"id": first, "attrs": ["all"]})) == \
        (0, recorded["listid"])
    assert h.answer(h.request("list-attrs", {})) == (0, recorded["attrs"])
    assert h.answer(h.request("job-stats", {})) == (0, recorded["stats"])
    assert h.answer(h.request("stats-get", {})) == (0, recorded["stats_get"])
    # the answers are byte-comparable: same key order as flux-core's
    assert json.dumps(h.answer(full)[1]) == json.dumps(recorded["list"])


def _submit(jobid: int, t: float, userid: int = 100, name: str = "app",
            queue: str | None = None, version: int = 1) -> dict:
    system: dict = {"duration": 0, "job": {"name": name}}
    if queue:
        system["queue"] = queue
    return {"id": jobid, "jobspec": {
        "version": 1, "attributes": {"system": system},
        "resources": [{"type": "slot", "count": 2, "label": "task",
                       "with": [{"type": "core", "count": 3}]}],
        "tasks": [{"command": ["app"], "slot": "task", "count": {"per_slot": 1}}]},
        "events": [{"timestamp": t, "name": "submit",
                    "context": {"userid": userid, "urgency": 16, "flags": 0,
                                "version": version}},
                   {"timestamp": t + 1, "name": "validate"}]}


def _ev(jobid: int, t: float, name: str, context: dict | None = None, **extra: object) -> dict:
    entry: dict = {"timestamp": t, "name": name}
    if context is not None:
        entry["context"] = context
    return {"id": jobid, "events": [entry], **extra}


R2 = {"version": 1, "execution": {
    "R_lite": [{"rank": "0-1", "children": {"core": "0-3"}},
               {"rank": "3", "children": {"core": "0-1"}}],
    "starttime": 5.0, "expiration": 105.0, "nodelist": ["node[0-1]", "node3"]}}


def _ready(h: Harness) -> None:
    h.service.journal({"id": -1, "events": []})


def test_derived_fields_from_jobspec_and_R() -> None:
    h = Harness()
    _ready(h)
    feed(h, [_submit(10, 1.0), _ev(10, 3, "depend"), _ev(10, 4, "priority", {"priority": 7}),
             _ev(10, 5, "alloc", {}, R=R2)])
    (err, ans) = h.answer(h.request("list-id", {"id": 10, "attrs": [
        "ntasks", "ncores", "nnodes", "ranks", "nodelist", "expiration", "priority",
        "t_run", "duration", "success"]}))
    assert err == 0
    assert ans["job"] == {"id": 10, "ntasks": 2, "ncores": 10, "nnodes": 3,
                          "ranks": "[0-1,3]", "nodelist": "node[0-1,3]",
                          "expiration": 105.0, "priority": 7, "t_run": 5,
                          "duration": 0.0}


def test_order_pending_running_inactive_and_since() -> None:
    h = Harness()
    _ready(h)
    for jobid, t in ((1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)):
        feed(h, [_submit(jobid, t), _ev(jobid, t + 2, "depend"),
                 _ev(jobid, t + 3, "priority", {"priority": 16 if jobid != 3 else 20})])
    for jobid, t in ((1, 10.0), (2, 11.0)):
        feed(h, [_ev(jobid, t, "alloc", {}, R=R2)])
    feed(h, [_ev(1, 12, "finish", {"status": 0}), _ev(1, 13, "clean")])
    ids = [j["id"] for j in h.answer(h.request(
        "list", {"max_entries": 0, "attrs": []}))[1]["jobs"]]  # type: ignore[index]
    assert ids == [3, 4, 2, 1]  # pending by priority, then running, then inactive
    ids = [j["id"] for j in h.answer(h.request(
        "list", {"max_entries": 0, "attrs": [], "since": 13.0}))[1]["jobs"]]  # type: ignore[index]
    assert ids == [3, 4, 2]
    ids = [j["id"] for j in h.answer(h.request(
        "list", {"max_entries": 2, "attrs": []}))[1]["jobs"]]  # type: ignore[index]
    assert ids == [3, 4]


def test_streaming_list_and_legacy_request() -> None:
    h = Harness()
    _ready(h)
    feed(h, [_submit(1, 1.0, userid=5), _submit(2, 2.0, userid=6, name="other")])
    msg = h.request("list", {"max_entries": 0, "attrs": ["userid"]}, streaming=True)
    got = [(e, p) for m, e, p in h.answers if m is msg]
    # both pending without a priority yet: by id
    assert got == [(0, {"jobs": [{"id": 1, "userid": 5}], "version": 1}),
                   (0, {"jobs": [{"id": 2, "userid": 6}]}), (errno.ENODATA, None)]
    legacy = h.request("list", {"max_entries": 0, "attrs": [], "userid": 5,
                                "states": 0, "results": 0})
    assert h.answer(legacy) == (0, {"jobs": [{"id": 1}]})
    legacy = h.request("list", {"max_entries": 0, "attrs": [], "userid": 0xFFFFFFFF,
                                "states": 0, "results": 0, "name": "other"})
    assert h.answer(legacy) == (0, {"jobs": [{"id": 2}]})


@pytest.mark.parametrize("payload,text", [
    ({"attrs": []}, "invalid payload: Object item not found: max_entries"),
    ({"max_entries": -1, "attrs": []}, "invalid payload: max_entries < 0 not allowed"),
    ({"max_entries": 0, "attrs": [], "since": -1.0},
     "invalid payload: since < 0.0 not allowed"),
    ({"max_entries": 0, "attrs": {}}, "invalid payload: attrs must be an array"),
    ({"max_entries": 0, "attrs": [], "constraint": {"foo": []}},
     "invalid payload: constraint object invalid: unknown constraint operator: foo"),
    ({"max_entries": 0, "attrs": [], "constraint": {"states": ["bogus"]}},
     "invalid payload: constraint object invalid: invalid states value 'bogus' specified"),
    ({"max_entries": 0, "attrs": [], "constraint": {"userid": 1}},
     "invalid payload: constraint object invalid: operator userid values not an array"),
    ({"max_entries": 0, "attrs": [], "constraint": {"t_submit": ["5"]}},
     ("invalid payload: constraint object invalid: "
      "timestamp comparison operator not specified")),
])
def test_list_errors(payload: dict, text: str) -> None:
    h = Harness()
    _ready(h)
    assert h.answer(h.request("list", payload)) == (errno.EPROTO, text)


def test_unknown_attr_is_einval() -> None:
    h = Harness()
    _ready(h)
    feed(h, [_submit(1, 1.0)])
    assert h.answer(h.request("list", {"max_entries": 0, "attrs": ["foo"]})) == \
        (errno.EINVAL, "foo is not a valid attribute")


def test_constraints() -> None:
    h = Harness()
    _ready(h)
    feed(h, [_submit(1, 1.0, userid=5, queue="batch"), _submit(2, 2.0, userid=6),
             _ev(2, 3, "exception", {"type": "cancel", "severity": 0, "note": "x"}),
             _ev(2, 4, "clean")])

    def ids(constraint: dict) -> list:
        ans = h.answer(h.request("list", {"max_entries": 0, "attrs": [],
                                          "constraint": constraint}))[1]
        return [j["id"] for j in ans["jobs"]]  # type: ignore[index]

    assert ids({"userid": [5]}) == [1]
    assert ids({"queue": ["batch"]}) == [1]
    assert ids({"results": ["canceled"]}) == [2]
    assert ids({"results": ["completed"]}) == []
    assert ids({"states": ["pending"]}) == [1]
    assert ids({"not": [{"states": ["active"]}]}) == [2]
    assert ids({"or": []}) == [1, 2]
    assert ids({"t_submit": [">=2"]}) == [2]
    assert ids({"and": [{"userid": [6]}, {"t_inactive": ["<5"]}]}) == [2]
    cancel = h.answer(h.request("list-id", {"id": 2, "attrs": [
        "result", "success", "exception_type", "exception_note", "t_cleanup"]}))[1]
    assert cancel == {"job": {"id": 2, "result": 4, "success": False,
                              "exception_type": "cancel", "exception_note": "x",
                              "t_cleanup": 3}}


def test_list_id_waits() -> None:
    h = Harness(job_dirs={7})
    _ready(h)
    assert h.answer(h.request("list-id", {"id": 8, "attrs": []})) == (errno.ENOENT, None)
    h.answers.clear()
    unknown = h.request("list-id", {"id": 7, "attrs": ["state"]})
    run = h.request("list-id", {"id": 7, "attrs": ["state"], "state": 16})
    assert h.answers == []
    feed(h, [_submit(7, 1.0)])
    assert h.answer(unknown) == (0, {"job": {"id": 7, "state": 2}})
    assert [m for m, _, _ in h.answers] == [unknown]
    feed(h, [_ev(7, 3, "exception", {"type": "cancel", "severity": 0, "note": ""}),
             _ev(7, 4, "clean")])
    # never reached RUN: answered once inactive
    assert h.answer(run) == (0, {"job": {"id": 7, "state": 64}})
    assert h.answer(h.request("list-id", {"id": 7, "attrs": [], "state": 4096})) == \
        (errno.EPROTO, "invalid payload: invalid state specified")


def test_updates_memo_dependencies_urgency() -> None:
    h = Harness()
    _ready(h)
    feed(h, [_submit(1, 1.0),
             _ev(1, 2, "dependency-add", {"description": "after:2"}),
             _ev(1, 2, "dependency-add", {"description": "after:3"}),
             _ev(1, 2, "dependency-remove", {"description": "after:2"}),
             _ev(1, 2, "dependency-add", {"description": "after:2"}),
             _ev(1, 3, "memo", {"a": 1, "b": {"c": 2}}),
             _ev(1, 3, "memo", {"a": None}),
             _ev(1, 4, "depend"), _ev(1, 5, "priority", {"priority": 16}),
             _ev(1, 6, "urgency", {"urgency": 0, "userid": 0}),
             _ev(1, 7, "jobspec-update", {"attributes.system.queue": "debug"})])
    job = h.answer(h.request("list-id", {"id": 1, "attrs": [
        "dependencies", "annotations", "urgency", "state", "queue", "t_sched"]}))[1]
    assert job == {"job": {"id": 1, "dependencies": ["after:3"],
                           "annotations": {"user": {"b": {"c": 2}}}, "urgency": 0,
                           "state": 4, "queue": "debug", "t_sched": 5}}
    stats = h.answer(h.request("job-stats", {}))[1]
    assert stats["job_states"]["priority"] == 1  # type: ignore[index]
    assert stats["queues"][0]["name"] == "debug"  # type: ignore[index]


def test_job_stats_stream_and_disconnect() -> None:
    h = Harness()
    _ready(h)
    watch = h.request("job-stats", {}, streaming=True)
    feed(h, [_submit(1, 1.0)])
    assert len(h.timers) == 1
    h.timers.pop()()
    got = [p for m, e, p in h.answers if m is watch]
    assert len(got) == 2 and got[1]["job_states"]["depend"] == 1  # type: ignore[index]
    h.request("disconnect", {})
    feed(h, [_ev(1, 2, "depend")])
    assert h.timers == []


def test_invalidate_and_purge() -> None:
    h = Harness()
    _ready(h)
    sub = _submit(1, 1.0)
    sub["events"] = sub["events"][:1]
    feed(h, [sub, _ev(1, 2, "invalidate"), _submit(2, 1.0),
             _ev(2, 3, "exception", {"type": "cancel", "severity": 0, "note": ""}),
             _ev(2, 4, "clean")])
    assert h.service.purge([2, 3]) == 1
    assert h.answer(h.request("list", {"max_entries": 0, "attrs": []}))[1] == {"jobs": []}
    stats = h.answer(h.request("job-stats", {}))[1]
    assert stats["inactive_purged"] == 1 and stats["canceled"] == 0  # type: ignore[index]


def test_journal_end_answers_waiting_requests() -> None:
    h = Harness()
    msg = h.request("list", {"max_entries": 0, "attrs": []})
    h.service.journal_ended(errno.ENOSYS)
    assert h.answer(msg) == (errno.ENOSYS, None)

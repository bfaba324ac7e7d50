"""job-list inside a real broker, fed by a stand-in job-manager (a Python broker module
answering ``job-manager.events-journal`` from what the test posts to it)."""

from __future__ import annotations

import errno
import textwrap

import pytest
from conftest import start_instance

import flux

FAKE_JM = '''
from flux.brokermod import BrokerModule, request_handler


class FakeJobManager(BrokerModule):
    """Replays what was posted, then the sentinel, then relays new posts."""

    def __init__(self, h, *args):
        super().__init__(h, *args)
        self.listeners = []
        self.posted = []

    @request_handler("events-journal")
    def journal(self, msg):
        self.listeners.append(msg)
        for payload in self.posted:
            self.handle.respond(msg, payload)
        self.handle.respond(msg, {"id": -1, "events": []})

    @request_handler("post")
    def post(self, msg):
        self.posted.append(msg.payload)
        for listener in self.listeners:
            self.handle.respond(listener, msg.payload)
        self.handle.respond(msg, {"listeners": len(self.listeners)})
'''

JOBSPEC = {"version": 1, "attributes": {"system": {"duration": 0, "cwd": "/tmp"}},
           "resources": [{"type": "slot", "count": 1, "label": "task",
                          "with": [{"type": "core", "count": 1}]}],
           "tasks": [{"command": ["/bin/hostname"], "slot": "task",
                      "count": {"per_slot": 1}}]}


def _submit(jobid: int, t: float) -> dict:
    return {"id": jobid, "jobspec": JOBSPEC, "events": [
        {"timestamp": t, "name": "submit",
         "context": {"userid": 1000, "urgency": 16, "flags": 0, "version": 1}},
        {"timestamp": t + 0.5, "name": "validate"}]}


@pytest.fixture(scope="module")
def inst(tmp_path_factory):
    d = tmp_path_factory.mktemp("jm")
    (d / "fakejm.py").write_text(textwrap.dedent(FAKE_JM))
    with start_instance() as i:
        r = i.run("module", "load", "--name", "job-manager", str(d / "fakejm.py"))
        if r.returncode != 0 and "exists" in r.stderr:
            pytest.skip("the broker has its own job-manager: see the job-manager's tests")
        assert r.returncode == 0, r.stderr
        yield i


def test_list_follows_the_journal(inst) -> None:
    h = flux.Flux(inst.uri)
    assert h.rpc("job-manager.post", _submit(100, 1.0)).get() == {"listeners": 0}
    jobs = h.rpc("job-list.list", {"max_entries": 0, "attrs": ["all"]}).get()["jobs"]
    assert jobs == [{"id": 100, "userid": 1000, "urgency": 16, "t_submit": 1.0,
                     "t_depend": 1.5, "state": 2, "name": "hostname", "cwd": "/tmp",
                     "ntasks": 1, "ncores": 1, "duration": 0.0}]
    # list-id of a job not seen yet, and not in the KVS either: ENOENT
    with pytest.raises(OSError) as exc:
        h.rpc("job-list.list-id", {"id": 200, "attrs": []}).get()
    assert exc.value.errno == errno.ENOENT
    # a wait for a state, answered when the journal brings it
    waiting = h.rpc("job-list.list-id", {"id": 100, "attrs": ["state"], "state": 4})
    assert h.rpc("job-manager.post", {"id": 100, "events": [
        {"timestamp": 2.0, "name": "depend"}]}).get() == {"listeners": 1}
    assert waiting.get() == {"job": {"id": 100, "state": 4}}
    stats = h.rpc("job-list.job-stats", {}).get()
    assert stats["job_states"]["priority"] == 1
    attrs = h.rpc("job-list.list-attrs").get()["attrs"]
    assert attrs[-1] == "all" and "dependencies" in attrs


def test_streaming_list(inst) -> None:
    h = flux.Flux(inst.uri)
    f = h.rpc("job-list.list", {"max_entries": 1, "attrs": ["state"]},
              flags=flux.constants.FLUX_RPC_STREAMING)
    assert f.get() == {"jobs": [{"id": 100, "state": 4}], "version": 1}
    f.reset()
    with pytest.raises(OSError) as exc:
        f.get()
    assert exc.value.errno == errno.ENODATA


def test_without_a_job_manager_requests_fail_enosys() -> None:
    with start_instance() as i:
        h = flux.Flux(i.uri)
        if "job-manager" in {m["name"] for m in h.rpc("module.list").get()["mods"]}:
            pytest.skip("a job-manager is loaded")
        try:
            h.rpc("job-manager.events-journal", {}).get()
        except OSError as exc:
            if exc.errno != errno.ENOSYS:
                pytest.skip("the broker has its own job-manager")
        with pytest.raises(OSError) as exc:
            h.rpc("job-list.list", {"max_entries": 0, "attrs": []}).get()
        assert exc.value.errno == errno.ENOSYS

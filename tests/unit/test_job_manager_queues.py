"""RFC 33 queues and the ingest defaults, sans I/O (flux-core 0.88's texts and states)."""

from __future__ import annotations

import pytest

from flux.services.job_ingest import defaults
from flux.services.job_manager.queues import QueueError, Queues


def test_anonymous_then_named_then_anonymous():
    events = []
    qs = Queues(lambda name, event: events.append((name, event)))
    assert qs.lookup(None).status(True) == {"enable": True, "start": True}
    assert qs.lookup(None).status(False) == {"enable": True, "start": False,
                                             "stop_reason": "Scheduler is offline"}
    with pytest.raises(QueueError, match="'x' is not a valid queue"):
        qs.lookup("x")
    qs.configure({"a": {}, "b": {"requires": ["p"]}})
    assert qs.names() == ["a", "b"] and qs.lookup("b").requires == ["p"]
    assert not qs.is_started("a") and not qs.is_started(None)
    with pytest.raises(QueueError, match="a named queue is required"):
        qs.lookup(None)
    qs.start(None)  # all named queues
    qs.disable("a", "why")
    assert qs.lookup("a").status(True) == {"enable": False, "start": True,
                                           "disable_reason": "why"}
    qs.configure({"a": {}})  # b removed, a keeps its state
    assert qs.names() == ["a"] and not qs.lookup("a").enabled
    qs.configure({})
    assert qs.names() == [] and qs.is_started(None)
    assert ("b", "remove") in events and (None, "add") in events
    with pytest.raises(QueueError, match="queue a: configuration must be a table"):
        qs.configure({"a": 1})
    with pytest.raises(QueueError, match="reason is required for disable"):
        qs.disable(None, None)


def test_save_restore_and_nocheckpoint():
    qs = Queues()
    qs.configure({"a": {}, "b": {}})
    qs.start("a")
    qs.stop("b", "kept")
    qs.start("b", nocheckpoint=True)
    saved = qs.save()
    # as flux-core: the stop is remembered, its reason went with the unsaved start
    assert saved == [{"enable": True, "start": True, "name": "a"},
                     {"enable": True, "start": False, "name": "b"}]
    other = Queues()
    other.configure({"a": {}, "b": {}, "c": {}})
    other.notify = lambda name, event: pytest.fail("no notification while restoring")
    other.restore(1, saved + [{"name": "gone", "enable": True, "start": True}])
    other.notify = lambda name, event: None
    assert other.lookup("a").started and not other.lookup("b").started
    assert other.lookup("b").status(True) == {"enable": True, "start": False}
    other.restore(1, saved, stop_on_restart=True)
    assert other.lookup("a").status(True) == {
        "enable": True, "start": False, "stop_reason": "Automatically stopped due to restart"}
    with pytest.raises(QueueError):
        other.restore(2, saved)


def _spec(**system):
    return {"version": 1, "attributes": {"system": dict(system)}}


def test_ingest_defaults_and_constraints():
    conf = {"queues": {"batch": {}, "debug": {"requires": ["debug"],
                                              "policy": {"jobspec": {"defaults": {
                                                  "system": {"duration": 60}}}}}},
            "policy": {"jobspec": {"defaults": {"system": {"queue": "batch",
                                                           "duration": "1h"}}}}}
    assert defaults.active(conf) and not defaults.active({})
    spec = _spec(duration=0)
    defaults.apply(spec, conf)
    assert spec["attributes"]["system"] == {"duration": 3600.0, "queue": "batch"}
    spec = _spec(duration=0, queue="debug", constraints={"properties": ["x"]})
    defaults.apply(spec, conf)
    assert spec["attributes"]["system"] == {"duration": 60.0, "queue": "debug",
                                            "constraints": {"properties": ["x", "debug"]}}
    spec = _spec(queue="debug", duration=5, constraints={"hostlist": ["h"]})
    defaults.apply(spec, conf)
    assert spec["attributes"]["system"]["constraints"] == {
        "and": [{"hostlist": ["h"]}, {"properties": ["debug"]}]}
    with pytest.raises(ValueError, match="Invalid queue 'nope' specified"):
        defaults.apply(_spec(queue="nope"), conf)
    with pytest.raises(ValueError, match="no queue specified"):
        defaults.apply(_spec(), {"queues": {"a": {}}})
    with pytest.raises(ValueError, match="default queue 'z' must be in \\[queues\\]"):
        defaults.apply(_spec(), {"queues": {"a": {}}, "policy": {"jobspec": {"defaults": {
            "system": {"queue": "z"}}}}})

"""Broker groups on rank 0 (services/groups): updates from below, get and its streams,
join/leave by a local client, lost subtrees, and what flux-core's requests look like."""

from __future__ import annotations

import errno

import pytest

from flux.constants import FLUX_MSGFLAG_STREAMING, FLUX_ROLE_LOCAL, FLUX_ROLE_OWNER
from flux.message import Message, encode_json
from flux.services.groups.service import GroupsService


def request(payload: dict, sender: str = "client-1", local: bool = True,
            streaming: bool = False) -> Message:
    msg = Message()
    msg.payload_bytes = encode_json(payload)
    msg.rolemask = FLUX_ROLE_OWNER | (FLUX_ROLE_LOCAL if local else 0)
    msg.routes.append(sender)
    if streaming:
        msg.flags |= FLUX_MSGFLAG_STREAMING
    return msg


@pytest.fixture
def svc():
    sent: list = []
    s = GroupsService(0, lambda m, p: sent.append((m.route_first, p)),
                      lambda m, e, t: sent.append((m.route_first, e)))
    changes: list = []
    s.on_change = lambda name, added, removed: changes.append((name, added, removed))
    s.test_sent = sent  # type: ignore[attr-defined]
    s.test_changes = changes  # type: ignore[attr-defined]
    return s


def test_updates_from_below_and_a_watching_get(svc):
    svc.get(request({"name": "broker.online"}, "watcher", streaming=True))
    assert svc.test_sent == [("watcher", {"members": ""})]
    # flux-core's groups module sends a list per group; one object is taken too
    svc.update(request({"update": {"broker.online": [{"ranks": "1-2", "set": True},
                                                     {"ranks": "5", "set": True}]}}))
    svc.update(request({"update": {"broker.online": {"ranks": "3", "set": True}}}))
    assert svc.test_sent[-1] == ("watcher", {"members": "1-3,5"})
    svc.update(request({"update": {"broker.online": [{"ranks": "2", "set": False}]}}))
    assert svc.test_sent[-1] == ("watcher", {"members": "1,3,5"})
    n = len(svc.test_sent)
    svc.update(request({"update": {"broker.online": [{"ranks": "2", "set": False}]}}))
    assert len(svc.test_sent) == n  # no change, no response
    svc.get(request({"name": "broker.online"}, "once"))
    assert svc.test_sent[-1] == ("once", {"members": "1,3,5"})
    svc.lost({3, 4, 5})
    assert svc.test_sent[-1] == ("watcher", {"members": "1"})
    assert svc.test_changes[-1] == ("broker.online", set(), {3, 5})
    svc.stats(request({}, "stats"))
    assert svc.test_sent[-1] == ("stats", {"subtree": {"broker.online": "1"}})
    svc.disconnect(request({}, "watcher"))
    svc.update(request({"update": {"broker.online": [{"ranks": "7", "set": True}]}}))
    assert svc.test_sent[-1] == ("stats", {"subtree": {"broker.online": "1"}})
    for bad in ({}, {"update": []}, {"update": {"g": [{"ranks": 1, "set": True}]}},
                {"update": {"g": [{"ranks": "1"}]}}):
        with pytest.raises(OSError) as exc:
            svc.update(request(bad))
        assert exc.value.errno == errno.EPROTO


def test_join_and_leave_local_only(svc):
    svc.join(request({"name": "mygroup"}))
    assert svc.members("mygroup") == {0}
    with pytest.raises(OSError) as exc:
        svc.join(request({"name": "mygroup"}))
    assert exc.value.errno == errno.EEXIST
    assert exc.value.strerror == "rank 0 is already a member of mygroup"
    with pytest.raises(OSError) as exc:
        svc.join(request({"name": "other"}, local=False))
    assert exc.value.errno == errno.EPROTO
    svc.leave(request({"name": "mygroup"}))
    assert svc.members("mygroup") == set()
    with pytest.raises(OSError) as exc:
        svc.leave(request({"name": "mygroup"}))
    assert exc.value.errno == errno.ENOENT
    svc.join(request({"name": "mygroup"}, "joiner"))
    svc.disconnect(request({}, "joiner"))  # the client went away: it leaves
    assert svc.members("mygroup") == set()


def test_get_checks_and_close_ends_streams():
    sent: list = []
    below = GroupsService(3, lambda m, p: sent.append(p), lambda m, e, t: sent.append(e))
    with pytest.raises(OSError) as exc:
        below.get(request({"name": "broker.online"}))
    assert exc.value.errno == errno.EPROTO
    with pytest.raises(OSError):
        below.get(request({"nom": "x"}))
    top = GroupsService(0, lambda m, p: sent.append(p), lambda m, e, t: sent.append(e))
    top.get(request({"name": "g"}, streaming=True))
    top.close()
    assert sent[-1] == errno.ENOSYS

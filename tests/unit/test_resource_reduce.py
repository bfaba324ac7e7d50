"""Every rank's cores gathered on rank 0 (services/resource/reduce.py), R's nodelist as
one compressed hostlist, and ranks going offline in the resource service."""

from __future__ import annotations

import errno

import pytest

from flux.services.resource.reduce import TopoReduce, topo_report
from flux.services.resource.rv1 import R_ranks, build_R
from flux.services.resource.service import ResourceService


def test_reports_complete_R_only_when_every_rank_is_in():
    got: list = []
    red = TopoReduce(3, {0, 1}, "n0", lambda cores, hosts: got.append((cores, hosts)))
    red.report(topo_report(2, {0, 1, 2, 3}, "n2"))
    assert not got and not red.finished
    red.report(topo_report(2, {0, 1, 2, 3}, "n2"))  # a duplicate counts once
    assert not got
    red.report(topo_report(1, {0}, "n1"))
    assert got == [({0: {0, 1}, 1: {0}, 2: {0, 1, 2, 3}}, {0: "n0", 1: "n1", 2: "n2"})]
    R = build_R(*got[0])
    assert R["execution"]["nodelist"] == ["n[0-2]"]
    assert R["execution"]["R_lite"] == [
        {"rank": "0", "children": {"core": "0-1"}}, {"rank": "1", "children": {"core": "0"}},
        {"rank": "2", "children": {"core": "0-3"}}]
    assert R_ranks(R) == got[0]


def test_a_rank_lost_before_reporting_counts_and_bad_reports_are_refused():
    got: list = []
    red = TopoReduce(2, {0, 1}, "vm", lambda cores, hosts: got.append(cores))
    with pytest.raises(OSError) as exc:
        red.report({"count": 1})
    assert exc.value.errno == errno.EPROTO
    red.lost(1, "vm")
    assert got == [{0: {0, 1}, 1: {0, 1}}] and red.missing == {1}
    red.lost(1, "vm")  # once only
    assert len(got) == 1


def test_same_hostname_twice_is_kept_as_flux_core_writes_it():
    R = build_R({0: {0}, 1: {0}}, {0: "vm", 1: "vm"})
    assert R["execution"]["nodelist"] == ["vm,vm"]
    assert R_ranks(R)[1] == {0: "vm", 1: "vm"}


def test_set_offline_tells_the_acquirer_and_status():
    from flux.message import Message

    sent: list = []
    svc = ResourceService({0}, "vm", lambda msg, p: sent.append(p),
                          lambda msg, e, t: sent.append(e), lambda ops, done: done(0, None))
    cores = {0: {0}, 1: {0}, 2: {0}}
    svc.set_R(build_R(cores, {r: "vm" for r in cores}), cores, {r: "vm" for r in cores})
    svc.define()
    acq = Message()
    acq.flags |= 0x40
    svc.acquire(acq)
    assert sent[-1]["up"] == "0-2"
    svc.set_offline({2})
    assert sent[-1] == {"down": "2"}
    svc.set_offline({2})  # already offline: nothing more
    assert sent[-1] == {"down": "2"}
    svc.status(Message())
    assert sent[-1]["offline"] == "2" and sent[-1]["online"] == "0-1"
    assert svc.journal[-1]["name"] == "offline"


def test_a_guest_with_a_forged_route_cannot_end_the_acquirer():
    """resource.disconnect and acquire-cancel end the sender's own stream only: the same
    first hop is not enough (a guest can put any route on its requests), the user must
    be the owner or the acquirer's own."""
    from flux.constants import FLUX_ROLE_LOCAL, FLUX_ROLE_OWNER, FLUX_ROLE_USER
    from flux.message import Message

    sent: list = []
    svc = ResourceService({0}, "vm", lambda msg, p: sent.append(p),
                          lambda msg, e, t: sent.append(e), lambda ops, done: done(0, None))
    svc.set_R(build_R({0: {0}}, {0: "vm"}), {0: {0}}, {0: "vm"})
    svc.define()
    acq = Message()
    acq.flags |= 0x40
    acq.routes = ["sched-uuid", "B"]
    acq.userid, acq.rolemask = 1000, FLUX_ROLE_OWNER | FLUX_ROLE_LOCAL
    svc.acquire(acq)

    def from_(userid: int, rolemask: int, topic: str) -> Message:
        msg = Message()
        msg.topic = topic
        msg.routes = ["sched-uuid", "guest-uuid", "C"]
        msg.userid, msg.rolemask = userid, rolemask
        msg.payload = {}
        return msg

    guest = FLUX_ROLE_USER | FLUX_ROLE_LOCAL
    svc.disconnect(from_(65534, guest, "resource.disconnect"))
    svc.acquire_cancel(from_(65534, guest, "resource.acquire-cancel"))
    assert svc.acquirer is acq
    svc.disconnect(from_(1000, FLUX_ROLE_OWNER | FLUX_ROLE_LOCAL, "resource.disconnect"))
    assert svc.acquirer is None

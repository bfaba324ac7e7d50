"""flux.resource: ResourceSet/Rv1Set on R v1 texts (expected values checked against
flux-core 0.88's flux.resource), and resource_list / resource_status against a
pureflux instance."""

from __future__ import annotations

import asyncio
import errno
import json

import pytest

import flux
from flux.idset import IDset
from flux.resource import ResourceSet, Rv1Set, SchedResourceList, resource_list, resource_status

pytestmark = pytest.mark.timeout(60)

R = {"version": 1,
     "execution": {"R_lite": [{"rank": "0-1", "children": {"core": "0-3"}},
                              {"rank": "2", "children": {"core": "0-1", "gpu": "0"}}],
                   "starttime": 0, "expiration": 0, "nslots": 3, "nodelist": ["n[0-2]"],
                   "properties": {"big": "0", "x": "1-2"}},
     "scheduling": {"a": 1}}
R2 = {"version": 1, "execution": {"R_lite": [{"rank": "1-3", "children": {"core": "2-5"}}],
                                  "starttime": 1, "expiration": 2}}


def lite(rset: ResourceSet) -> list:
    return rset.to_dict()["execution"]["R_lite"]


def test_resource_set_views():
    r = ResourceSet(R)
    assert str(r) == r.rlist == "rank[0-1]/core[0-3] rank2/core[0-1],gpu0"
    assert (r.nnodes, r.ncores, r.ngpus, r.count("x")) == (3, 10, 1, 0)
    assert str(r.nodelist) == "n[0-2]" and str(r.ranks) == "0-2"
    assert r.properties == "big,x" and json.loads(r.get_properties()) == {"big": "0", "x": "1-2"}
    assert r.encode() == (
        '{"version": 1, "execution": {"R_lite": [{"rank": "0-1", "children": {"core": "0-3"}}, '
        '{"rank": "2", "children": {"core": "0-1", "gpu": "0"}}], "starttime": 0.0, '
        '"expiration": 0.0, "nslots": 3, "nodelist": ["n[0-2]"], '
        '"properties": {"big": "0", "x": "1-2"}}}')
    assert "scheduling" in ResourceSet(R, keep_scheduling=True).to_dict()
    s = ResourceSet(json.dumps(R2))
    assert str(s.nodelist) == "rank[1-3]"  # no nodelist: rank<N>, as flux-core's
    assert ResourceSet(r.impl) .impl is r.impl and isinstance(r.impl, Rv1Set)
    assert (str(ResourceSet()), str(ResourceSet().ranks), str(ResourceSet().nodelist)) == ("", "", "")


def test_resource_set_algebra():
    r, s = ResourceSet(R), ResourceSet(R2)
    assert lite(r | s) == [{"rank": "0", "children": {"core": "0-3"}},
                           {"rank": "1", "children": {"core": "0-5"}},
                           {"rank": "2", "children": {"core": "0-5", "gpu": "0"}},
                           {"rank": "3", "children": {"core": "2-5"}}]
    assert lite(r - s) == [{"rank": "0", "children": {"core": "0-3"}},
                           {"rank": "1", "children": {"core": "0-1"}},
                           {"rank": "2", "children": {"core": "0-1", "gpu": "0"}}]
    assert str(r & s) == "rank1/core[0-3] rank2/core[0-1],gpu0"  # rank-level, r's children
    assert str(s - r) == "rank1/core[4-5] rank[2-3]/core[2-5]"
    copy = r.copy().remove_ranks("0")
    assert str(copy.ranks) == "1-2" and str(r.ranks) == "0-2"
    assert json.loads(r.copy().remove_ranks(1).get_properties()) == {"big": "0", "x": "2"}
    assert str(r.copy_ranks("1-2")) == "rank1/core[0-3] rank2/core[0-1],gpu0"
    assert r.host_ranks("n2,n0") == [2, 0]
    with pytest.raises(FileNotFoundError):
        r.host_ranks("n9")


def test_properties_and_constraints():
    r = ResourceSet(R)
    assert json.loads(r.copy().set_property("y", "1").get_properties())["y"] == "1"
    assert json.loads(r.copy().set_property("z").get_properties())["z"] == "0-2"
    with pytest.raises(ValueError, match="ranks 7 not in resource set"):
        r.copy().set_property("y", "7")
    with pytest.raises(ValueError, match="reserved"):
        r.copy().set_property("^y")
    assert str(r.copy_constraint({"properties": ["x"]})) == "rank1/core[0-3] rank2/core[0-1],gpu0"
    assert str(r.copy_constraint('{"hostlist": ["n[0,2]"]}')) == \
        "rank0/core[0-3] rank2/core[0-1],gpu0"
    assert str(r.copy_constraint({"not": [{"ranks": ["1"]}]})) == \
        "rank0/core[0-3] rank2/core[0-1],gpu0"
    assert str(r.copy_constraint({"or": [{"ranks": ["0"]}, {"properties": ["^x", "big"]}]})) == \
        "rank0/core[0-3]"
    with pytest.raises(ValueError, match="unknown constraint"):
        r.copy_constraint({"foo": 1})


def test_resource_set_errors():
    with pytest.raises(TypeError):
        ResourceSet(5)
    with pytest.raises(ValueError, match="R version 2 not supported"):
        ResourceSet({"version": 2})
    with pytest.raises(KeyError):
        ResourceSet({})
    with pytest.raises(json.JSONDecodeError):
        ResourceSet("{")


@pytest.fixture(scope="module")
def h(shared_instance):
    with flux.Flux(shared_instance.uri) as handle:
        yield handle


def _R(h) -> dict:
    return h.rpc("resource.status", nodeid=0).get()["R"]


def test_resource_list_against_instance(h):
    R = _R(h)
    ncores = ResourceSet(R).ncores
    rlist = resource_list(h).get()
    assert isinstance(rlist, SchedResourceList)
    assert rlist.all.ncores == ncores and rlist.all.nnodes == 1
    assert str(rlist.all.nodelist) == h.attr_get("hostlist")
    assert (rlist.down.nnodes, rlist.allocated.nnodes) == (0, 0)
    assert rlist.up.ncores == ncores and rlist.free.ncores == ncores
    assert (rlist.all.state, rlist.up.state, rlist["free"].state) == ("all", "up", "free")
    rlist.filter("0")
    assert rlist.all.nnodes == 1
    rlist.filter("nosuchhost")
    assert rlist.all.nnodes == 0


def test_resource_list_then_and_await(h):
    results = []

    def done(future):
        results.append(future.get())
        future.get_flux().reactor_stop()

    resource_list(h).then(done)
    h.reactor_run()
    assert results and results[0].all.nnodes == 1

    async def main():
        return await resource_list(h)

    rlist = asyncio.run(asyncio.wait_for(main(), 10))
    assert rlist.all.nnodes == 1


def test_resource_list_error_and_fallback(h, monkeypatch):
    # ENOSYS from the first topic falls back to sched.resource-status, as flux-core's
    monkeypatch.setenv("FLUX_RESOURCE_LIST_RPC", "nosuch.service")
    assert resource_list(h).get().all.nnodes == 1
    # any other error is the future's
    monkeypatch.setenv("FLUX_RESOURCE_LIST_RPC", "kvs.lookup")
    with pytest.raises(OSError) as exc:
        resource_list(h).get()
    assert exc.value.errno not in (None, errno.ENOSYS)


def test_resource_status_against_instance(h):
    status = resource_status(h).get()
    assert str(status.all) == "0" and str(status.online) == "0"
    assert str(status.avail) == "0" and str(status.offline) == ""
    assert str(status.nodelist) == h.attr_get("hostlist")
    assert status.get_drain_info(0) is None
    with pytest.raises(ValueError):
        status.get_drain_info(5)
    status.filter("nosuchhost")
    assert str(status.all) == ""


def test_resource_status_sees_drain(instance):
    with flux.Flux(instance.uri) as h:
        assert instance.run("resource", "drain", "0", "testing").returncode == 0
        status = resource_status(h).get()
        assert str(status.drained) == "0" and str(status.avail) == ""
        info = status.get_drain_info(0)
        assert info.reason == "testing" and str(info.ranks) == "0" and info.timestamp > 0
        assert status["drained"] == IDset("0")
